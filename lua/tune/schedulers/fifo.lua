--- FIFOScheduler: trials run in the order they were added; every result
--- means CONTINUE (Ray's FIFOScheduler).
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local util = require("tune.util")

local FIFOScheduler = TrialScheduler:extend(nil, "FIFOScheduler")

--- FIFOScheduler() takes no options of its own: `metric` and `mode` are
--- kept as the base class keeps them; anything else is an error (Ray's
--- raises TypeError for an unknown keyword, through create_scheduler too).
local OPTIONS = {metric = true, mode = true}

function FIFOScheduler:__init(opts)
  TrialScheduler.__init(self, util.check_options("FIFOScheduler", opts, OPTIONS, 3))
end

function FIFOScheduler:debug_string()
  return "Using FIFO scheduling algorithm."
end

return FIFOScheduler
