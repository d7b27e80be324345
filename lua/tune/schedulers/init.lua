--- tune.schedulers: schedulers by class, and create_scheduler(name, opts).
local M = {}

local lazy = {
  TrialScheduler = "tune.schedulers.trial_scheduler",
  FIFOScheduler = "tune.schedulers.fifo",
  MedianStoppingRule = "tune.schedulers.median_stopping",
  AsyncHyperBandScheduler = "tune.schedulers.async_hyperband",
  ASHAScheduler = "tune.schedulers.async_hyperband",
  HyperBandScheduler = "tune.schedulers.hyperband",
  PopulationBasedTraining = "tune.schedulers.pbt",
  PopulationBasedTrainingReplay = "tune.schedulers.pbt_replay",
  ResourceChangingScheduler = "tune.schedulers.resource_changing",
  DistributeResources = "tune.schedulers.resource_changing",
  DistributeResourcesToTopJob = "tune.schedulers.resource_changing",
}

--- Ray's string keys for tune.create_scheduler.
M.SCHEDULERS = {
  fifo = "FIFOScheduler",
  median_stopping_rule = "MedianStoppingRule",
  async_hyperband = "AsyncHyperBandScheduler",
  asha = "ASHAScheduler",
  hyperband = "HyperBandScheduler",
  pbt = "PopulationBasedTraining",
  pbt_replay = "PopulationBasedTrainingReplay",
  resource_changing = "ResourceChangingScheduler",
}

setmetatable(M, {
  __index = function(t, k)
    local mod = lazy[k]
    if not mod then return nil end
    -- A module returns its class, or a table of classes keyed by name.
    local v = require(mod)
    if type(v) == "table" and rawget(v, k) ~= nil then v = rawget(v, k) end
    rawset(t, k, v)
    return v
  end,
})

--- Registers a scheduler class under a module (used by scheduler files
--- that add themselves).
function M._register(name, module, key)
  lazy[name] = module
  if key then M.SCHEDULERS[key] = name end
end

--- create_scheduler("asha", {...}) as Ray's.
function M.create_scheduler(name, opts)
  if type(name) ~= "string" then error("create_scheduler: the name must be a string", 2) end
  local cls = M.SCHEDULERS[name:lower()]
  if not cls then
    local keys = {}
    for k in pairs(M.SCHEDULERS) do keys[#keys + 1] = k end
    table.sort(keys)
    error(string.format("unknown scheduler %q (one of: %s)", name, table.concat(keys, ", ")), 2)
  end
  return M[cls](opts)
end

return M
