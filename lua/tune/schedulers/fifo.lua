--- FIFOScheduler: trials run in the order they were added; every result
--- means CONTINUE (Ray's FIFOScheduler).
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local FIFOScheduler = TrialScheduler:extend(nil, "FIFOScheduler")

function FIFOScheduler:debug_string()
  return "Using FIFO scheduling algorithm."
end

return FIFOScheduler
