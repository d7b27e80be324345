--- The `tune` module: the public API. It re-exports; each part lives in
--- its own file under lua/tune/ and is loaded on first use, so a worker
--- that only runs a trainable loads little.
local core = require("tune.core")
local registry = require("tune.registry")
local session = require("tune.session")

local tune = {}

tune.core = core
tune.null = core.null
tune.array = core.array
tune.version = core.version

tune.register_trainable = registry.register_trainable
tune.report = session.report
tune.get_checkpoint = session.get_checkpoint
tune.get_trial_id = session.get_trial_id
tune.get_trial_dir = session.get_trial_dir
tune.get_trial_info = session.get_trial_info

--- tune.sleep(seconds): sleeps without spinning.
function tune.sleep(s)
  if type(s) ~= "number" then error("tune.sleep expects a number of seconds", 2) end
  core.sleep(s)
end

-- name = {module, field}
local lazy = {
  Trainable = {"tune.trainable", "Trainable"},
  Trial = {"tune.trial", "Trial"},
  Checkpoint = {"tune.checkpoint", "Checkpoint"},
  CheckpointStorage = {"tune.checkpoint", "CheckpointStorage"},
  TrialExecutor = {"tune.executor", "TrialExecutor"},
  ExecutorEventType = {"tune.executor", "ExecutorEventType"},
  PlacementGroupFactory = {"tune.placement", "PlacementGroupFactory"},
  Resources = {"tune.placement", "Resources"},
}

setmetatable(tune, {
  __index = function(t, k)
    local where = lazy[k]
    if not where then return nil end
    local v = require(where[1])
    if where[2] then v = v[where[2]] end
    rawset(t, k, v)
    return v
  end,
})

return tune
