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
  run = {"tune.run", "run"},
  TuneError = {"tune.run", "TuneError"},
  TrialRunner = {"tune.runner"},
  Experiment = {"tune.experiment"},
  ExperimentAnalysis = {"tune.analysis", "ExperimentAnalysis"},
  Callback = {"tune.callback", "Callback"},
  LoggerCallback = {"tune.callback", "LoggerCallback"},
  JsonLoggerCallback = {"tune.callback", "JsonLoggerCallback"},
  CSVLoggerCallback = {"tune.callback", "CSVLoggerCallback"},
  CLIReporter = {"tune.reporter", "CLIReporter"},
  ProgressReporter = {"tune.reporter", "ProgressReporter"},
  schedulers = {"tune.schedulers"},
  search = {"tune.search"},
  stopper = {"tune.stopper"},
  command = {"tune.command", "command"},
  bundles = {"tune.bundles", "bundles"},
  launch = {"tune.bundles", "launch"},
  wait_all = {"tune.bundles", "wait_all"},
  lua_argv = {"tune.bundles", "lua_argv"},
  -- Search space
  uniform = {"tune.search.sample", "uniform"},
  quniform = {"tune.search.sample", "quniform"},
  loguniform = {"tune.search.sample", "loguniform"},
  qloguniform = {"tune.search.sample", "qloguniform"},
  randn = {"tune.search.sample", "randn"},
  qrandn = {"tune.search.sample", "qrandn"},
  randint = {"tune.search.sample", "randint"},
  qrandint = {"tune.search.sample", "qrandint"},
  lograndint = {"tune.search.sample", "lograndint"},
  qlograndint = {"tune.search.sample", "qlograndint"},
  choice = {"tune.search.sample", "choice"},
  sample_from = {"tune.search.sample", "sample_from"},
  grid_search = {"tune.search.sample", "grid_search"},
  Trainable = {"tune.trainable", "Trainable"},
  Trial = {"tune.trial", "Trial"},
  Checkpoint = {"tune.checkpoint", "Checkpoint"},
  CheckpointStorage = {"tune.checkpoint", "CheckpointStorage"},
  TrialExecutor = {"tune.executor", "TrialExecutor"},
  SimulatedExecutor = {"tune.sim_executor", "SimulatedExecutor"},
  ExecutorEventType = {"tune.executor", "ExecutorEventType"},
  PlacementGroupFactory = {"tune.placement", "PlacementGroupFactory"},
  Resources = {"tune.placement", "Resources"},
}

--- tune.create_scheduler(name, opts), tune.create_searcher(name, opts)
function tune.create_scheduler(name, opts) return require("tune.schedulers").create_scheduler(name, opts) end
function tune.create_searcher(name, opts) return require("tune.search").create_searcher(name, opts) end

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
