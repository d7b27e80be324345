--- Builds the parts of one tune.run experiment from its checked options (options.lua): the scheduler
--- and search algorithm with tune.run's metric and mode, the experiment directory, the executor, the
--- Experiment, the callbacks and the TrialRunner, resumed or fresh. What it refuses raises a refusal
--- (options.refuse) before anything is written.
local callback = require("tune.experiment.callback")
local core = require("tune.core")
local options = require("tune.experiment.options")
local persistence = require("tune.experiment.persistence")
local placement = require("tune.executor.placement")
local plugin = require("tune.experiment.plugin")
local registry = require("tune.worker.registry")
local trial_mod = require("tune.experiment.trial")
local util = require("tune.util")

local M = {}
local opt, refuse, refusing = options.get, options.refuse, options.refusing
local backend_name, check_backend_options = options.backend_name, options.check_backend_options

local function make_scheduler(opts)
  local schedulers = require("tune.schedulers")
  local scheduler = opt(opts, "scheduler")
  if type(scheduler) == "string" then scheduler = refusing(schedulers.create_scheduler, scheduler) end
  return scheduler or schedulers.FIFOScheduler()
end

--- The search algorithm: tune.run's search_alg (a name, a Searcher wrapped
--- in a SearchGenerator, or a SearchAlgorithm) or a BasicVariantGenerator.
--- The topmost directory of `path` (itself included) that does not exist,
--- or nil when it does: what a mkdir_p of it would make first.
local function first_missing(path)
  local top
  local p = path
  while p and p ~= "" and p ~= "/" and not core.stat(p) do
    top = p
    p = p:match("^(.*)/[^/]*$")
  end
  return top
end

--- Removes the empty directories from `path` up to `top` (what a mkdir_p
--- made when first_missing(path) was `top`), stopping at one not empty.
local function remove_made_dirs(path, top)
  if not top then return end
  local p = path
  while p and #p >= #top and os.remove(p) do
    if p == top then break end
    p = p:match("^(.*)/[^/]*$")
  end
end

local function make_search_alg(opts, o)
  local search = require("tune.search")
  local search_alg = opt(opts, "search_alg")
  local mct = o.max_concurrent
  if type(search_alg) == "string" then
    -- "random" and "variant_generator" name the default generator: it
    -- takes max_concurrent_trials as the default does.
    local generator = search.SEARCHERS[search_alg:lower()] == "BasicVariantGenerator"
    search_alg = refusing(search.create_searcher, search_alg,
      {seed = opts.seed, max_concurrent = generator and mct or nil})
  end
  local is_searcher = type(search_alg) == "table" and search_alg.suggest ~= nil
  if not search_alg then
    return search.BasicVariantGenerator{max_concurrent = mct or 0, seed = o.seed}, false
  end
  if not is_searcher then return search_alg, false end
  local n = o.num_samples
  if require("tune.class").is_instance(search_alg, search.Repeater) and n ~= math.huge and n % search_alg.repeats ~= 0 then
    -- Ray's _warn_num_samples, word for word.
    io.stderr:write("tunelua warning: `num_samples` is now expected to be the total number of trials, including the "
      .. "repeat trials. For example, set num_samples=15 if you intend to obtain 3 search algorithm suggestions and "
      .. "repeat each suggestion 5 times. Any leftover trials (num_samples mod repeat) will be ignored.\n")
  end
  if mct then
    if require("tune.class").is_instance(search_alg, search.ConcurrencyLimiter) then
      if search_alg.max_concurrent ~= mct then
        refuse(string.format("You have specified `max_concurrent_trials=%d`, but the `search_alg` is already a "
          .. "`ConcurrencyLimiter` with `max_concurrent=%d`. FIX THIS by setting `max_concurrent_trials=None`.",
          mct, search_alg.max_concurrent))
      end
    else
      search_alg = search.ConcurrencyLimiter(search_alg, {max_concurrent = mct})
    end
  end
  return search.SearchGenerator(search_alg, {seed = o.seed}), true
end

--- tune.run's metric, mode and config go to the search algorithm and the
--- scheduler, with the seed's refusals when they had their own.
local function set_search_properties(search_alg, scheduler, o, opts)
  local metric, mode, config = o.metric, o.mode, o.config
  if next(config) ~= nil then
    local took = plugin.must("search algorithm", search_alg, "set_search_properties", nil, metric, mode, config)
    if not took and require("tune.search.variant_generator").has_unresolved_values(config) then
      refuse("You passed a `config` parameter to `tune.run()` with unresolved parameters, but the search "
        .. "algorithm was already instantiated with a search space. Make sure that `config` does not contain "
        .. "any more parameter definitions - include them in the search algorithm's search space if necessary.")
    end
  elseif metric or mode then
    plugin.must("search algorithm", search_alg, "set_search_properties", nil, metric, mode, config)
  end
  local ok, took = plugin.call("scheduler", scheduler, "set_search_properties", nil, metric, mode)
  if not ok then refuse(took) end
  -- Ray raises this in tune.run, before the checks of the first trial below
  -- (a mode given twice is that, not a scheduler without a metric).
  if took == false then
    refuse("You passed a `metric` or `mode` argument to `tune.run()`, but the scheduler you are using was "
      .. "already instantiated with their own `metric` and `mode` parameters. Either remove the arguments "
      .. "from your scheduler or from your call to `tune.run()`")
  end
  -- Ray's check at a ranking scheduler's first trial, made before anything is (median stopping needs no mode).
  if type(scheduler) == "table" and scheduler.requires_metric and (scheduler.metric == nil
      or (scheduler.mode == nil and scheduler.requires_mode ~= false)) then
    refuse(string.format("%s has been instantiated without a valid `metric` (%s) or `mode` (%s) parameter. Either "
      .. "pass these parameters when instantiating the scheduler, or pass them as parameters to `tune.run()`",
      tostring(scheduler.__name), tostring(scheduler.metric), tostring(scheduler.mode)))
  end
  -- PBT and its kind take no searcher (Ray's check at the first trial).
  local rok, why = plugin.call("scheduler", scheduler, "search_alg_refusal", nil, search_alg)
  if rok and type(why) == "string" then refuse(why) end
  -- A CLIReporter with its own metric or mode refuses tune.run's (Ray's check in its setup).
  local reporter = opt(opts, "progress_reporter")
  if type(reporter) == "table" and ((rawget(reporter, "_metric") and metric) or (rawget(reporter, "_mode") and mode)) then
    refuse("You passed a `metric` or `mode` argument to `tune.run()`, but the reporter you are using was "
      .. "already instantiated with their own `metric` and `mode` parameters. Either remove the arguments "
      .. "from your reporter or from your call to `tune.run()`")
  end
end

--- local_dir must be (or be creatable as) a writable directory: checked
--- here, before anything is created, rather than failing at the first write.
local function check_local_dir(dir)
  local p = dir
  while true do
    local kind = core.stat(p)
    if kind == "directory" then
      local ok, why = core.writable(p)
      if not ok then refuse("tune.run: local_dir " .. dir .. " cannot be written: " .. tostring(why)) end
      return
    elseif kind ~= nil then
      refuse("tune.run: local_dir " .. dir .. ": " .. p .. " is not a directory")
    end
    local parent = p:match("^(.*)/[^/]*$")
    if parent == nil or parent == p then return end
    p = parent == "" and "/" or parent
  end
end

--- Where the experiment goes: local_dir/name, and whether it resumes.
local function place(opts, o, cli, trainable_name, run_count, earlier)
  local local_dir = util.expanduser(cli.local_dir or opt(opts, "local_dir") or trial_mod.default_local_dir())
  local name, dated = opt(opts, "name"), false
  if name == nil then
    -- The default name: an earlier tune.run of this driver that got the
    -- same one (the same trainable within the same second, or without the
    -- date) leaves it to that run: this one gets <name>_<N>.
    name = require("tune.experiment").default_name(trainable_name)
    dated = name ~= trainable_name -- a new name each run: a resume must be given it
    local dir = util.join(util.abspath(local_dir), name)
    for i = 1, run_count - 1 do
      if earlier[i] == dir then name = name .. "_" .. run_count break end
    end
  end
  if cli.name then
    -- --name names the file's experiment; a file that runs several gets
    -- <name>, <name>_2, <name>_3, ... (docs/reference/cli.md).
    name = run_count == 1 and cli.name or (cli.name .. "_" .. run_count)
  end
  options.check_dir_name(cli.name and "--name" or "name", name, not cli.name and opt(opts, "name") == nil and trainable_name)
  check_local_dir(util.abspath(local_dir))
  local experiment_dir = util.join(util.abspath(local_dir), name)
  local kind = core.stat(experiment_dir) -- (a file there failed the runner's mkdir, inside the library)
  if kind and kind ~= "directory" then refuse("tune.run: the experiment directory " .. experiment_dir .. " is not a directory") end
  local resume = o.resume
  if resume == "AUTO" then resume = persistence.exists(experiment_dir) and "LOCAL" or false end
  if resume and not persistence.exists(experiment_dir) then
    refuse("tune.run: resume was asked for, but " .. experiment_dir .. " holds no experiment" .. ((dated and not cli.name)
      and " (its default name has this run's date: to resume, give the experiment's name with name or --name)" or ""))
  end
  return local_dir, name, experiment_dir, resume
end

--- The executor: tune.run's trial_executor, or a TrialExecutor of our own
--- (Ray: reuse_actors defaults on for function trainables).
--- The simulator for backend = "sim": tune.run's `sim` option holds its
--- curve (or replay) and time_per_iteration; the command line's --replay
--- wins over the file's replay (its curve stays, for configs not recorded),
--- and --num-cpus, --num-gpus and --resources over the table's node.
local function make_sim(opts, common, cli)
  local sim = opt(opts, "sim")
  if sim ~= nil and type(sim) ~= "table" then refuse("tune.run: sim must be a table, got " .. type(sim)) end
  sim = sim or {}
  if cli.replay then
    local copy = {}
    for k, v in pairs(sim) do copy[k] = v end
    copy.replay = cli.replay
    sim = copy
  end
  if sim.curve == nil and sim.replay == nil then
    refuse("tune.run: backend = \"sim\" needs sim = {curve = function(config, iteration, trial)} or "
      .. "sim = {replay = <a finished experiment directory>}: the simulator has nothing to report otherwise")
  end
  local args, node = {}, require("tune.executor.node")
  for k, v in pairs(common) do args[k] = v end
  for k, v in pairs(sim) do if k ~= "num_cpus" and k ~= "num_gpus" and k ~= "resources" then args[k] = v end end
  node.override(node.override(args, sim), cli)
  -- The simulated node is not this machine: 1 CPU unless told (docs/reference/run.md).
  if not node.key(args.resources, "CPU") then args.num_cpus = args.num_cpus or 1 end
  return refusing(require("tune.executor.sim").SimulatedExecutor, args)
end

local function make_executor(opts, o, cli, t, scheduler)
  local kind = t.kind
  local ex = opt(opts, "trial_executor")
  local backend = backend_name(opts, cli)
  if ex then
    if t.unfindable and ex.backend ~= "sim" then refuse(t.unfindable) end
    if ex.is_closed and ex:is_closed() then refuse("tune.run: trial_executor was closed (ex:close()): make a new one") end
    return ex, false
  end
  local reuse = opts.reuse_actors
  if reuse == nil then
    local pgf = o.resources_per_trial and placement.to_pgf(o.resources_per_trial, 2)
    local gpus = pgf and (pgf:required_resources().GPU or 0) > 0
    reuse = kind == "function" and not gpus and not scheduler._requires_restart
  elseif reuse and scheduler._requires_restart then -- Ray's check at its first choice, made before anything is
    refuse(plugin.name(scheduler) .. " cannot be used with `reuse_actors=True`. FIX THIS by setting `reuse_actors=False` in `tune.run()`.")
  end
  local buffer_length
  if scheduler.supports_buffered_results == false then
    if os.getenv("TUNE_RESULT_BUFFER_LENGTH") and os.getenv("TUNE_RESULT_BUFFER_LENGTH") ~= "" then
      io.stderr:write("tunelua warning: the scheduler does not support buffered results: "
        .. "TUNE_RESULT_BUFFER_LENGTH is ignored and the buffer length is 1\n")
    end
    buffer_length = 1
  end
  local common = {
    reuse_actors = reuse,
    result_buffer_length = buffer_length,
    num_cpus = opts.num_cpus, num_gpus = opts.num_gpus, resources = opts.resources,
  }
  require("tune.executor.node").override(common, cli)
  if backend == "sim" then return make_sim(opts, common, cli), true end
  if t.unfindable then refuse(t.unfindable) end
  common.backend = backend
  local slurm = opt(opts, "slurm")
  if slurm ~= nil then
    if type(slurm) ~= "table" then refuse("tune.run: slurm must be a table of options, got " .. type(slurm)) end
    common.backend_options = slurm
  end
  return refusing(require("tune.executor").TrialExecutor, common), true
end

--- Trials kept pending (Ray's _get_max_pending_trials): the variable
--- TUNE_MAX_PENDING_TRIALS_PG (checked with the options), else 1 with a
--- searcher, else max(16, 1.1 x the cluster's CPUs).
local function max_pending(ex, is_searcher, o)
  return o.max_pending_trials or is_searcher and 1 or math.max(16, math.floor((ex:resources().CPU or 1) * 1.1))
end

--- The user's callbacks, the default loggers, progress lines, events.
local function make_callbacks(opts, o, events, dashboard)
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
  if o.verbose >= 2 then
    local Progress = require("tune.reporter.trial_progress").TrialProgressCallback
    callbacks[#callbacks + 1] = Progress{verbose = o.verbose, metric = o.metric}
  end
  if events then callbacks[#callbacks + 1] = events end
  if dashboard then callbacks[#callbacks + 1] = dashboard end
  return callbacks
end

--- Everything the experiment needs. `t` describes the trainable
--- ({trainable, name, loader, kind}); `run_count` is this tune.run call's
--- number in the driver. Returns a context table for run.lua.
function M.build(opts, o, cli, t, run_count)
  local scheduler = make_scheduler(opts)
  local search_alg, is_searcher = make_search_alg(opts, o)
  -- --events: its file opened before the experiment's directory is made.
  local events
  if cli.events then
    local ok, cb = pcall(callback.EventStreamCallback, cli.events)
    if not ok then refuse("tune.run: --events: " .. tostring(cb):gsub("^[^:]+:%d+: ", "")) end
    events = cb
  end
  set_search_properties(search_alg, scheduler, o, opts)
  local local_dir, name, experiment_dir, resume = place(opts, o, cli, t.name, run_count, t.earlier or {})
  check_backend_options(opts, cli, experiment_dir)
  -- A trial's worker runs the script again: each earlier tune.run of it
  -- returns the analysis it reads from its directory, which must still
  -- be that run's.
  local earlier = type(t.loader) == "table" and t.loader.previous_runs or {}
  for i, d in ipairs(earlier) do
    if d == experiment_dir then
      refuse(string.format("tune.run: this run's experiment directory %s is tune.run number %d's of this script: "
        .. "its trials' workers run the script again and read that run's analysis from there; give this run "
        .. "its own name", experiment_dir, i))
    end
  end
  local dashboard
  if o.dashboard then
    local err
    dashboard, err = require("tune.dashboard").start(o.dashboard, experiment_dir,
      {name = name, metric = o.metric, mode = o.mode, events_on_stdout = events ~= nil and events.target == "-"})
    if not dashboard then refuse("tune.run: dashboard: " .. tostring(err)) end
  end
  -- What of the experiment's path this run makes, from the top: a run
  -- refused before its first trial removes it again (remove_made_dirs).
  local made_top = first_missing(experiment_dir)
  local ex, own_executor = make_executor(opts, o, cli, t, scheduler)
  -- The dashboard reads result.json from disk: the rows the engine groups
  -- are written each time it publishes.
  if dashboard and ex.flush_logs then dashboard.flush_logs = function() ex:flush_logs() end end
  if ex.check_dir then
    -- Workers elsewhere must see the experiment's files (Slurm).
    local dir = util.abspath(local_dir)
    local made, err = core.mkdir_p(dir)
    if not made then
      if own_executor then ex:cleanup() ex:close() end
      refuse("tune.run: local_dir " .. dir .. " cannot be made: " .. tostring(err))
    end
    local ok, why = ex:check_dir(dir)
    if not ok then
      if own_executor then ex:cleanup() ex:close() end
      refuse("tune.run: " .. tostring(why))
    end
  end
  -- The simulator runs no trainable: a function no worker could find is fine.
  local loader = t.loader or {simulated = t.name}
  local experiment = require("tune.experiment"){
    name = name, run = t.trainable, trainable_name = t.name, loader = loader,
    resettable = registry.resettable(t.trainable), config = o.config, num_samples = o.num_samples,
    local_dir = local_dir, experiment_dir = experiment_dir, stopping_criterion = o.stopping_criterion,
    resources_per_trial = o.resources_per_trial, checkpoint_freq = opt(opts, "checkpoint_freq"),
    checkpoint_at_end = opt(opts, "checkpoint_at_end"), keep_checkpoints_num = opt(opts, "keep_checkpoints_num"),
    checkpoint_score_attr = opt(opts, "checkpoint_score_attr"), max_failures = o.max_failures,
    restore = opt(opts, "restore") and util.abspath(util.expanduser(opt(opts, "restore"))), trial_name_creator = opt(opts, "trial_name_creator"),
    trial_dirname_creator = opt(opts, "trial_dirname_creator"), log_to_file = o.log_to_file,
    experiment_id = util.random_hex(32),
  }
  local runner = require("tune.experiment.runner"){
    search_alg = search_alg, scheduler = scheduler, trial_executor = ex, stopper = o.stopper,
    callbacks = make_callbacks(opts, o, events, dashboard), metric = o.metric, mode = o.mode, experiment_dir = experiment_dir,
    checkpoint_period = o.checkpoint_period,
    fail_fast = o.fail_fast, max_pending_trials = max_pending(ex, is_searcher, o),
    experiment_info = {name = name, start_time = core.time()}, background_snapshots = true,
  }
  -- The search algorithm gets the experiment either way; a resume then
  -- restores how far it got (and trials it makes again are recognised).
  refusing(search_alg.add_configurations, search_alg, {experiment})
  -- One driver per experiment (Store:lock), before anything is written.
  local locked, why = runner.store:lock()
  local raised, resumed, err = true, true, nil
  if locked and resume then raised, resumed, err = pcall(runner.resume, runner, resume, loader, o.resources_per_trial) end
  if not (locked and raised and resumed) then
    -- Refused: the lock, the executor and what this run made go.
    runner.store:unlock()
    if own_executor then ex:cleanup() ex:close() end
    remove_made_dirs(experiment_dir, made_top)
    if not raised then error(resumed, 0) end
    refuse("tune.run: " .. (locked and ("cannot resume: " .. tostring(err)) or why))
  end
  if not resume then
    -- A first snapshot before any trial exists: a resume always finds the
    -- search algorithm's starting state (its seed, its trial id prefix).
    -- It, and the archive of an experiment found here, are held until the
    -- first trial is journaled: a run refused before (a sample_from or a
    -- callback's setup that fails) leaves the directory as it was.
    runner.store:hold(persistence.exists(experiment_dir))
    local ok, err = pcall(runner.checkpoint, runner, true)
    if not ok then
      -- A plug-in's save failing: nothing of the run stays on disk.
      runner.store:drop_held()
      runner.store:close()
      remove_made_dirs(experiment_dir, made_top)
      if own_executor then ex:cleanup() ex:close() end
      error(err, 0)
    end
  end
  -- On the simulator the time budget and TimeoutStoppers count virtual
  -- seconds (docs/reference/executor.md), for this run only.
  local unclock = ex.virtual_clock and o.stopper and (ex.use_virtual_clock
    or require("tune.stopper").use_executor_clock)(ex, o.stopper) or nil
  return {runner = runner, executor = ex, own_executor = own_executor, experiment_dir = experiment_dir,
    remove_made_dirs = function() remove_made_dirs(experiment_dir, made_top) end,
    search_alg = search_alg, scheduler = scheduler, unclock = unclock}
end

return M
