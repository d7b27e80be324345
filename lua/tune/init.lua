--- The `tune` module: the public API. It re-exports; each part lives in
--- its own file under lua/tune/ and is loaded on first use, so a worker
--- that only runs a trainable loads little.
local core = require("tune.core")
local registry = require("tune.worker.registry")
local session = require("tune.worker.session")

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
tune.get_trial_name = session.get_trial_name
tune.get_trial_info = session.get_trial_info

--- tune.sleep(seconds): sleeps without spinning.
function tune.sleep(s)
  if type(s) ~= "number" or s ~= s then
    -- (A string "0.5" was shown as 0.5, as if it were the number.)
    error("tune.sleep expects a number of seconds, got " .. require("tune.util").show_got(s), 2)
  end
  core.sleep(s)
end

-- name = {module, field}
local lazy = {
  run = {"tune.experiment.run", "run"},
  TuneError = {"tune.experiment.results", "TuneError"},
  TrialRunner = {"tune.experiment.runner"},
  Experiment = {"tune.experiment"},
  ExperimentAnalysis = {"tune.analysis", "ExperimentAnalysis"},
  Callback = {"tune.experiment.callback", "Callback"},
  LoggerCallback = {"tune.experiment.callback", "LoggerCallback"},
  JsonLoggerCallback = {"tune.experiment.callback", "JsonLoggerCallback"},
  CSVLoggerCallback = {"tune.experiment.callback", "CSVLoggerCallback"},
  TBXLoggerCallback = {"tune.tensorboard", "TBXLoggerCallback"},
  CLIReporter = {"tune.reporter", "CLIReporter"},
  ProgressReporter = {"tune.reporter", "ProgressReporter"},
  schedulers = {"tune.schedulers"},
  search = {"tune.search"},
  stopper = {"tune.stopper"},
  command = {"tune.worker.command", "command"},
  bundles = {"tune.worker.bundles", "bundles"},
  launch = {"tune.worker.bundles", "launch"},
  wait_all = {"tune.worker.bundles", "wait_all"},
  lua_argv = {"tune.worker.bundles", "lua_argv"},
  with_parameters = {"tune.worker.with_parameters", "with_parameters"},
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
  Trainable = {"tune.worker.trainable", "Trainable"},
  Trial = {"tune.experiment.trial", "Trial"},
  Checkpoint = {"tune.executor.checkpoint", "Checkpoint"},
  CheckpointStorage = {"tune.executor.checkpoint", "CheckpointStorage"},
  TrialExecutor = {"tune.executor", "TrialExecutor"},
  SimulatedExecutor = {"tune.executor.sim", "SimulatedExecutor"},
  ExecutorEventType = {"tune.executor", "ExecutorEventType"},
  PlacementGroupFactory = {"tune.executor.placement", "PlacementGroupFactory"},
  Resources = {"tune.executor.placement", "Resources"},
}

--- tune.create_scheduler(name, opts), tune.create_searcher(name, opts)
function tune.create_scheduler(...) return require("tune.schedulers").create_scheduler(...) end
function tune.create_searcher(...) return require("tune.search").create_searcher(...) end

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
