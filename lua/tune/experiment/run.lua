--- tune.run(trainable, opts) -> ExperimentAnalysis: Ray Tune's tune.run
--- (docs/reference/run.md lists every option). In a worker process that is
--- re-running the experiment file, tune.run does not run an experiment: the
--- call that made the trial becomes the worker's loop and never returns.
local callback = require("tune.experiment.callback")
local core = require("tune.core")
local plugin = require("tune.experiment.plugin")
local persistence = require("tune.experiment.persistence")
local placement = require("tune.executor.placement")
local registry = require("tune.worker.registry")
local trial_mod = require("tune.experiment.trial")
local util = require("tune.util")

local M = {}

--- Every option, with its default (nil when none). One source for the
--- validation, the "did you mean" message and docs/reference/run.md.
M.OPTIONS = {
  name = false, metric = false, mode = false, stop = false, time_budget_s = false, config = false,
  resources_per_trial = false, num_samples = 1, local_dir = false, search_alg = false,
  scheduler = false, keep_checkpoints_num = false, checkpoint_score_attr = false,
  checkpoint_freq = 0, checkpoint_at_end = false, verbose = 3, progress_reporter = false,
  log_to_file = false, trial_name_creator = false, trial_dirname_creator = false,
  max_failures = 0, fail_fast = false, restore = false, resume = false, reuse_actors = false,
  trial_executor = false, raise_on_failed_trial = true, callbacks = false,
  max_concurrent_trials = false, seed = false,
  -- Executor settings (each also read from its TUNE_* variable).
  num_cpus = false, num_gpus = false, resources = false,
  global_checkpoint_s = false, disable_sigint_handler = false,
}

--- A TuneError: what tune.run raises when trials failed (the CLI exits 1).
local TuneError = {}
TuneError.__index = TuneError
TuneError.__tostring = function(e) return e.msg end
M.TuneError = TuneError

local function tune_error(msg, trials)
  return setmetatable({msg = msg, trials = trials, tune_error = true}, TuneError)
end

local run_count = 0
--- Experiment directory of each tune.run call of this driver, in order:
--- a worker re-running the file loads them for the calls before its own.
local run_dirs = {}

local function cli_options()
  local cli = package.loaded["tune.cli"]
  return cli and cli.options or {}, cli
end

--- A name for an unregistered function: the caller's local variable that
--- holds it (`local function train ... tune.run(train)` -> "train").
local function local_name(value, level)
  for i = 1, 250 do
    local name, v = debug.getlocal(level + 1, i)
    if name == nil then break end
    if v == value and name:sub(1, 1) ~= "(" then return name end
  end
  return nil
end

--- How workers find the trainable, and its name.
local function resolve_trainable(run, level)
  if type(run) == "string" then
    local e = registry.get(run)
    if not e then error(string.format("tune.run: no trainable registered as %q", run), level + 1) end
    return e.trainable, run, registry.loader(e)
  end
  local kind = registry.kind_of(run)
  if not kind then
    error("tune.run: expected a trainable (a function, a tune.Trainable class, a tune.command or a registered name), got "
      .. type(run), level + 1)
  end
  if kind == "command" then
    return run, run.name or "command", {command = run:spec()}
  end
  local e = registry.find(run)
  if e then return run, e.name, registry.loader(e) end
  -- Not registered: the worker runs the experiment file again, up to this
  -- tune.run call (SPEC "Process model").
  local _, cli = cli_options()
  local script = cli and cli.script
  if not script and arg and type(arg[0]) == "string" and arg[0]:match("%.lua$") then script = arg[0] end
  if not script then
    error("tune.run: the worker cannot find this trainable: register it with tune.register_trainable(name, fn) "
      .. "in a module, or run the experiment with `tunelua file.lua`", level + 1)
  end
  local name = (kind == "class" and rawget(run, "__name") ~= "Trainable" and rawget(run, "__name"))
    or local_name(run, level + 1) or "trainable"
  local args = {}
  local a = cli and cli.args or arg or {}
  for i = 1, #a do args[i] = a[i] end
  local previous = {}
  for i = 1, run_count - 1 do previous[i] = run_dirs[i] or "" end
  return run, name, {script = util.abspath(script), args = args, cwd = core.getcwd(), run_index = run_count, name = name,
    previous_runs = core.array(previous)}
end

local function opt(opts, k) return util.with_default(opts, M.OPTIONS, k) end

--- The worker side: the Nth tune.run call serves the trial; earlier ones
--- return the analysis of their (finished) experiment when there is one.
local function worker_run(worker, run, opts)
  local mode = worker.worker_mode()
  mode.runs = mode.runs + 1
  if mode.run_index == mode.runs then
    local trainable = run
    if type(run) == "string" then
      local e = registry.get(run)
      if not e then error("tune.run: no trainable registered as " .. run, 3) end
      trainable = e.trainable
    end
    worker.serve_from_run(trainable) -- never returns
  end
  -- An earlier experiment of the file: it finished in the driver before this
  -- worker's trial began, so its analysis is read from its directory.
  local dir = mode.previous and mode.previous[mode.runs]
  if dir and dir ~= "" then
    local ok, a = pcall(require("tune.analysis").ExperimentAnalysis, dir,
      {default_metric = opts.metric, default_mode = opts.mode})
    if ok then return a end
  end
  return setmetatable({trials = {}, worker_stub = true}, {__index = function(_, k)
    error("the analysis of an earlier tune.run is not available in this worker (" .. tostring(k) .. ")", 2)
  end})
end

--- tune.run(run_or_experiment, opts)
function M.run(run, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("tune.run: the options must be a table", 2) end
  run_count = run_count + 1
  local worker = package.loaded["tune.worker"]
  if worker and worker.worker_mode() then return worker_run(worker, run, opts) end
  util.check_options("tune.run", opts, M.OPTIONS, 2)
  local cli = cli_options()

  -- Validation (the seed's tune.run).
  local mode = opt(opts, "mode")
  if mode ~= nil and mode ~= "min" and mode ~= "max" then
    error("The `mode` parameter passed to `tune.run()` has to be one of ['min', 'max']", 2)
  end
  local metric = opt(opts, "metric")
  if metric ~= nil and type(metric) ~= "string" then error("tune.run: metric must be a string", 2) end
  local fail_fast = opt(opts, "fail_fast") or false
  local max_failures = opt(opts, "max_failures")
  if fail_fast and max_failures ~= 0 then error("max_failures must be 0 if fail_fast=True.", 2) end
  if fail_fast ~= false and fail_fast ~= true and fail_fast ~= "raise" then
    error("tune.run: fail_fast must be true, false or \"raise\"", 2)
  end
  local mct = opt(opts, "max_concurrent_trials")
  if mct ~= nil and (type(mct) ~= "number" or mct < 0) then
    error("`max_concurrent_trials` must be greater or equal than 1, got " .. tostring(mct) .. ".", 2)
  end
  if mct == 0 then mct = nil end
  local num_samples = opt(opts, "num_samples")
  if num_samples == -1 then num_samples = math.huge end
  if type(num_samples) ~= "number" or num_samples < 1
      or (num_samples ~= math.huge and num_samples ~= math.floor(num_samples)) then
    error("tune.run: num_samples must be a positive integer or -1, got " .. tostring(num_samples), 2)
  end
  local verbose = cli.verbose or opt(opts, "verbose")
  local config = opt(opts, "config") or {}

  local trainable, trainable_name, loader = resolve_trainable(run, 2)
  local kind = registry.kind_of(trainable)

  -- Scheduler, searcher, stopper.
  local schedulers = require("tune.schedulers")
  local scheduler = opt(opts, "scheduler")
  local function at_caller(fn, ...)
    local ok, v = pcall(fn, ...)
    if not ok then error("tune.run: " .. tostring(v):gsub("^[^:]+:%d+: ", ""), 3) end
    return v
  end
  if type(scheduler) == "string" then scheduler = at_caller(schedulers.create_scheduler, scheduler) end
  scheduler = scheduler or schedulers.FIFOScheduler()
  local search = require("tune.search")
  local search_alg = opt(opts, "search_alg")
  if type(search_alg) == "string" then
    search_alg = at_caller(search.create_searcher, search_alg, {seed = opts.seed})
  end
  local Searcher = search.Searcher
  local is_searcher = type(search_alg) == "table" and search_alg.suggest ~= nil
  if not search_alg then
    search_alg = search.BasicVariantGenerator{max_concurrent = mct or 0, seed = opt(opts, "seed")}
  elseif is_searcher then
    if mct then
      if require("tune.class").is_instance(search_alg, search.ConcurrencyLimiter) then
        if search_alg.max_concurrent ~= mct then
          error(string.format("You have specified `max_concurrent_trials=%d`, but the `search_alg` is already a "
            .. "`ConcurrencyLimiter` with `max_concurrent=%d`. FIX THIS by setting `max_concurrent_trials=None`.",
            mct, search_alg.max_concurrent), 2)
        end
      else
        search_alg = search.ConcurrencyLimiter(search_alg, {max_concurrent = mct})
      end
    end
    search_alg = search.SearchGenerator(search_alg, {seed = opt(opts, "seed")})
  end
  if next(config) ~= nil then
    local took = search_alg:set_search_properties(metric, mode, config)
    if not took and require("tune.search.variant_generator").has_unresolved_values(config) then
      error("You passed a `config` parameter to `tune.run()` with unresolved parameters, but the search "
        .. "algorithm was already instantiated with a search space. Make sure that `config` does not contain "
        .. "any more parameter definitions - include them in the search algorithm's search space if necessary.", 2)
    end
  elseif metric or mode then
    search_alg:set_search_properties(metric, mode, config)
  end
  do
    local ok, took = plugin.call("scheduler", scheduler, "set_search_properties", nil, metric, mode)
    if not ok then error(took, 2) end
    if took == false then
      error("You passed a `metric` or `mode` argument to `tune.run()`, but the scheduler you are using was "
        .. "already instantiated with their own `metric` and `mode` parameters. Either remove the arguments "
        .. "from your scheduler or from your call to `tune.run()`", 2)
    end
  end
  local stopper_mod = require("tune.stopper")
  local stop = opt(opts, "stop")
  local stopping_criterion = {}
  if type(stop) == "table" and stop[1] == nil and not stopper_mod.is_stopper(stop)
      and getmetatable(stop) == nil and stop.stop_all == nil then
    -- A table of thresholds: Ray's trial stopping criteria.
    for k, v in pairs(stop) do
      if type(k) ~= "string" or type(v) ~= "number" then
        error("tune.run: stop: a threshold table maps result keys to numbers (key " .. tostring(k) .. ")", 2)
      end
      stopping_criterion[k] = v
    end
  end
  local budget = opt(opts, "time_budget_s")
  if budget ~= nil and (type(budget) ~= "number" and type(budget) ~= "table") then
    error("tune.run: time_budget_s must be a number of seconds", 2)
  end
  local ok_stop, stopper = pcall(stopper_mod.from_option, stop, budget)
  if not ok_stop then error("tune.run: stop: " .. tostring(stopper):gsub("^[^:]*:%d+: ", ""), 2) end

  -- Where it goes.
  local local_dir = util.expanduser(cli.local_dir or opt(opts, "local_dir") or trial_mod.default_local_dir())
  local name = opt(opts, "name") or require("tune.experiment").default_name(trainable_name)
  if cli.name then
    -- --name names the file's experiment; a file that runs several gets
    -- <name>, <name>_2, <name>_3, ... (docs/reference/cli.md).
    name = run_count == 1 and cli.name or (cli.name .. "_" .. run_count)
  end
  if name:find("/", 1, true) then error("tune.run: the experiment name must not contain '/'", 2) end
  local experiment_dir = util.join(util.abspath(local_dir), name)
  run_dirs[run_count] = experiment_dir
  local resume = cli.resume
  if resume == nil then resume = opt(opts, "resume") end
  if resume == true then resume = "LOCAL" end
  if resume and resume ~= "LOCAL" and resume ~= "AUTO" and resume ~= "ERRORED_ONLY" then
    error("tune.run: resume must be true, \"LOCAL\", \"AUTO\" or \"ERRORED_ONLY\", got " .. tostring(resume), 2)
  end
  if resume == "AUTO" then resume = persistence.exists(experiment_dir) and "LOCAL" or false end
  if resume and not persistence.exists(experiment_dir) then
    error("tune.run: resume was asked for, but " .. experiment_dir .. " holds no experiment", 2)
  end

  -- Logs.
  local log_to_file = opt(opts, "log_to_file")
  if log_to_file == true then log_to_file = {"stdout", "stderr"}
  elseif type(log_to_file) == "string" then log_to_file = {log_to_file, log_to_file}
  elseif log_to_file == false or log_to_file == nil then log_to_file = nil
  elseif type(log_to_file) ~= "table" or #log_to_file ~= 2 or type(log_to_file[1]) ~= "string"
      or type(log_to_file[2]) ~= "string" then
    error("tune.run: log_to_file must be true, a file name or a pair {stdout, stderr}", 2)
  end

  -- The executor (Ray: reuse_actors defaults on for function trainables).
  local resources_per_trial = opt(opts, "resources_per_trial")
  local reuse = opts.reuse_actors
  if reuse == nil then
    local pgf = resources_per_trial and placement.to_pgf(resources_per_trial, 2)
    local gpus = pgf and (pgf:required_resources().GPU or 0) > 0
    reuse = kind == "function" and not gpus and not scheduler._requires_restart
  end
  local buffer_length
  if scheduler.supports_buffered_results == false then
    if os.getenv("TUNE_RESULT_BUFFER_LENGTH") and os.getenv("TUNE_RESULT_BUFFER_LENGTH") ~= "" then
      io.stderr:write("tunelua warning: the scheduler does not support buffered results: "
        .. "TUNE_RESULT_BUFFER_LENGTH is ignored and the buffer length is 1\n")
    end
    buffer_length = 1
  end
  local ex = opt(opts, "trial_executor")
  local own_executor = false
  if not ex then
    ex = require("tune.executor").TrialExecutor{
      reuse_actors = reuse,
      result_buffer_length = buffer_length,
      num_cpus = cli.num_cpus or opts.num_cpus,
      num_gpus = cli.num_gpus or opts.num_gpus,
      resources = cli.resources or opts.resources,
    }
    own_executor = true
  end
  local max_pending = util.env_number("TUNE_MAX_PENDING_TRIALS_PG")
  if not max_pending and not own_executor and ex.options and ex.options.max_pending_trials_pg then
    max_pending = ex.options.max_pending_trials_pg
  end
  if not max_pending then
    local total = ex:resources()
    max_pending = is_searcher and 1 or math.max(16, math.floor((total.CPU or 1) * 1.1))
  end

  local Experiment = require("tune.experiment")
  local experiment_id = util.random_hex(32)
  local experiment = Experiment{
    name = name, run = trainable, trainable_name = trainable_name, loader = loader,
    resettable = registry.resettable(trainable), config = config, num_samples = num_samples,
    local_dir = local_dir, experiment_dir = experiment_dir, stopping_criterion = stopping_criterion,
    resources_per_trial = resources_per_trial, checkpoint_freq = opt(opts, "checkpoint_freq"),
    checkpoint_at_end = opt(opts, "checkpoint_at_end"), keep_checkpoints_num = opt(opts, "keep_checkpoints_num"),
    checkpoint_score_attr = opt(opts, "checkpoint_score_attr"), max_failures = max_failures,
    restore = opt(opts, "restore"), trial_name_creator = opt(opts, "trial_name_creator"),
    trial_dirname_creator = opt(opts, "trial_dirname_creator"), log_to_file = log_to_file,
    experiment_id = experiment_id,
  }

  -- Callbacks: the user's, the default loggers, progress lines, events.
  local callbacks = {}
  local has_logger = false
  for _, cb in ipairs(opt(opts, "callbacks") or {}) do
    callbacks[#callbacks + 1] = cb
    if cb._c_logger then has_logger = true end
  end
  if not has_logger then
    callbacks[#callbacks + 1] = callback.JsonLoggerCallback()
    callbacks[#callbacks + 1] = callback.CSVLoggerCallback()
  end
  if verbose >= 2 then callbacks[#callbacks + 1] = callback.TrialProgressCallback{verbose = verbose, metric = metric} end
  if cli.events then callbacks[#callbacks + 1] = callback.EventStreamCallback(cli.events) end

  local runner = require("tune.experiment.runner"){
    search_alg = search_alg, scheduler = scheduler, trial_executor = ex, stopper = stopper,
    callbacks = callbacks, metric = metric, mode = mode, experiment_dir = experiment_dir,
    checkpoint_period = util.option(opts, "global_checkpoint_s", "TUNE_GLOBAL_CHECKPOINT_S", 10),
    fail_fast = fail_fast, max_pending_trials = max_pending,
    experiment_info = {name = name, start_time = core.time()},
  }
  M.last_runner = runner
  -- The search algorithm gets the experiment either way; a resume then
  -- restores how far it got (and trials it makes again are recognised).
  at_caller(search_alg.add_configurations, search_alg, {experiment})
  if resume then
    local ok, err = runner:resume(resume)
    if not ok then
      if own_executor then ex:cleanup() ex:close() end
      error("tune.run: cannot resume: " .. tostring(err), 2)
    end
  else
    if persistence.exists(experiment_dir) then persistence.archive(experiment_dir) end
    -- A first snapshot before any trial exists: a resume always finds the
    -- search algorithm's starting state (its seed, its trial id prefix).
    runner:checkpoint(true)
  end
  runner.callbacks:call("setup", {stop = stop, num_samples = num_samples, experiment_dir = experiment_dir,
    total_num_samples = search_alg.total_samples})

  if ex:has_gpus() and not (resources_per_trial and (placement.to_pgf(resources_per_trial, 2):required_resources().GPU or 0) > 0)
      and kind ~= "class" and verbose >= 1 then
    io.stderr:write("tunelua warning: GPUs were detected, but no trial uses any: set resources_per_trial = {gpu = 1}\n")
  end

  -- Signals: the first SIGINT or SIGUSR1 saves the experiment and stops.
  local disable_sigint = opts.disable_sigint_handler
  if disable_sigint == nil then disable_sigint = os.getenv("TUNE_DISABLE_SIGINT_HANDLER") == "1" end
  ex:install_signals(not disable_sigint)

  local reporter = opt(opts, "progress_reporter")
  if verbose >= 1 and not reporter then reporter = require("tune.reporter").detect_reporter() end
  if reporter then
    local ok, err = plugin.call("reporter", reporter, "setup", nil, {start_time = core.now(),
      total_samples = search_alg.total_samples, metric = metric, mode = mode, verbose = verbose})
    if not ok then error(err, 2) end
  end
  local function report(done)
    if not reporter or verbose < 1 then return end
    local ok, should = plugin.call("reporter", reporter, "should_report", "boolean", runner.trials, done)
    if not ok then error(should, 0) end
    if should then
      local ok2, err = plugin.call("reporter", reporter, "report", nil, runner.trials, done, runner:debug_string())
      if not ok2 then error(err, 0) end
    end
  end

  local interrupted
  local ok, err = pcall(function()
    while not runner:is_finished() do
      local sig = core.signal_pending()
      if sig then
        interrupted = sig
        break
      end
      runner:step()
      report(false)
    end
  end)
  interrupted = interrupted or core.signal_pending()
  local ck_ok, ck_err = pcall(runner.checkpoint, runner, true)
  if not ck_ok then io.stderr:write("tunelua warning: experiment checkpoint failed: ", tostring(ck_err), "\n") end
  if ok then pcall(report, true) end
  runner:cleanup()
  core.signals_uninstall()
  pcall(runner.callbacks.call, runner.callbacks, "on_experiment_end", runner.trials, {interrupted = interrupted ~= nil})
  if own_executor then ex:close() end
  if not ok then error(err, 0) end

  if interrupted then
    io.stderr:write(string.format("tunelua: %s received: the experiment was saved in %s; "
      .. "continue it with --resume (or resume = true)\n", interrupted, experiment_dir))
    local _, cli_mod = cli_options()
    if cli_mod then
      io.stdout:flush()
      os.exit(130, true)
    end
  end

  local incomplete = {}
  for _, t in ipairs(runner.trials) do
    if t.status ~= "TERMINATED" then incomplete[#incomplete + 1] = t end
  end
  if #incomplete > 0 and not interrupted then
    local names = {}
    for i, t in ipairs(incomplete) do
      if i > 10 then names[#names + 1] = "..." break end
      local why = t.error_msg and t.error_msg:match("^[^\n]*") or nil
      if why and #why > 300 then why = why:sub(1, 300) .. "..." end
      names[#names + 1] = tostring(t) .. " (" .. t.status .. (why and (": " .. why) or "") .. ")"
    end
    local msg = "Trials did not complete: " .. table.concat(names, ", ")
    if opt(opts, "raise_on_failed_trial") then error(tune_error(msg, incomplete), 2) end
    io.stderr:write("tunelua: ", msg, "\n")
  end
  local analysis = require("tune.analysis").ExperimentAnalysis(runner.checkpoint_file or experiment_dir, {
    trials = runner.trials, default_metric = metric, default_mode = mode})
  analysis.interrupted = interrupted ~= nil
  analysis.experiment_dir = experiment_dir
  return analysis
end

return M
