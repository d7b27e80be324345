--- tune.run(trainable, opts) -> ExperimentAnalysis: Ray Tune's tune.run
--- (docs/reference/run.md lists every option). The options are checked by
--- options.lua, the experiment is put together by assemble.lua, and this
--- file runs it to the end. In a worker process that is re-running the
--- experiment file, tune.run does not run an experiment: the call that
--- made the trial becomes the worker's loop and never returns.
local assemble = require("tune.experiment.assemble")
local core = require("tune.core")
local options = require("tune.experiment.options")
local placement = require("tune.executor.placement")
local plugin = require("tune.experiment.plugin")
local registry = require("tune.worker.registry")
local results = require("tune.experiment.results")
local util = require("tune.util")

local M = {}

--- Every option with its default (options.lua).
M.OPTIONS = options.OPTIONS

--- A TuneError: what tune.run raises when trials failed (results.lua owns it).
M.TuneError = results.TuneError
local tune_error = results.tune_error

--- This driver's calls, with the experiment directory of each (a worker
--- re-running the file loads them for the calls before its own) and how
--- each that raised ended (the worker's call raises it too).
local proc = require("tune.process")

local function cli_options()
  local cli = package.loaded["tune.cli"]
  return cli and cli.options or {}, cli
end

--- A name for an unregistered function: the caller's local variable that
--- holds it (`local function train ... tune.run(train)` -> "train").
local function local_name(value, level)
  -- A tail call (`return tune.run(f)`) leaves no caller at that level:
  -- the top of a coroutine has none above it.
  if not debug.getinfo(level + 1, "l") then return nil end
  for i = 1, 250 do
    local name, v = debug.getlocal(level + 1, i)
    if name == nil then break end
    if v == value and name:sub(1, 1) ~= "(" then return name end
  end
  return nil
end

--- The experiment directories and errors of this driver's first n calls,
--- for a worker that meets those calls again.
local function earlier_runs(n)
  local previous, errors = {}, {}
  for i = 1, n do
    previous[i] = proc.dirs[i] or ""
    errors[i] = proc.errors[i] or false
  end
  return core.array(previous), core.array(errors)
end

--- How many tune.run calls this driver made (a registration records it).
function M.calls() return proc.runs end

--- A registered trainable's loader. Registered in the experiment file
--- after some tune.run calls, the worker runs those calls again on its way
--- to the registration: they return (or raise) what they did here.
local function registered_loader(e, script)
  local loader = registry.loader(e)
  local n = rawget(e, "runs_before") or 0
  if n == 0 or not loader.script or not script or loader.script ~= registry.from_start(script) then return loader end
  local copy = {}
  for k, v in pairs(loader) do copy[k] = v end
  copy.previous_runs, copy.previous_errors = earlier_runs(n)
  return copy
end

--- How workers find the trainable, and its name. A function no worker
--- could find gets no loader but the reason (the simulator needs none).
local function resolve_trainable(run, level)
  local _, cli = cli_options()
  local script = cli and cli.script
  if not script then script = registry.script_of_arg(level + 1, registry.callable(run) or run) end
  if type(run) == "string" then
    local e = registry.get(run)
    -- Only the simulator runs a name nothing is registered as (it runs no
    -- trainable); any other backend refuses it before writing anything.
    if not e then return run, run, nil, string.format("tune.run: no trainable registered as %q", run) end
    return e.trainable, run, registered_loader(e, script), not e.builtin and not e.origin and string.format(
      "tune.run: the worker cannot find trainable %q: it was registered by code run from no file (lua5.4 -e, "
      .. "stdin, a C host's string); register it in a module or in the experiment file", run) or nil
  end
  local e = registry.kind_of(run) ~= "command" and registry.find(run)
  if e then return e.trainable, e.name, registered_loader(e, script) end
  -- A callable table is a function: the worker makes the same one of it.
  local original = run
  run = registry.callable(run) or run
  local kind = registry.kind_of(run)
  if not kind then
    error("tune.run: expected a trainable (a function, a tune.Trainable class, a tune.command or a registered name), got "
      .. registry.what_is(run), level + 1)
  end
  if kind == "command" then
    return run, run.name or "command", {command = run:spec()}
  end
  -- Not registered: the worker runs the experiment file again, up to this
  -- tune.run call (SPEC "Process model").
  local name = (kind == "class" and rawget(run, "__name") ~= "Trainable" and rawget(run, "__name"))
    or registry.wrapper_name(run) or local_name(original, level + 1) or "trainable"
  local outer = registry.enclosing_run()
  if outer then
    -- Made from a callback, a stopper or another plug-in of a run still
    -- going: the worker re-running the file returns from that run's call
    -- and never reaches this one (each trial failed saying so).
    return run, name, nil, string.format("tune.run: the worker cannot find this trainable: this call runs inside "
      .. "tune.run call #%d (from one of its callbacks, stoppers or other plug-ins), where a worker that runs the "
      .. "file again never comes; register it with tune.register_trainable(name, fn), or call tune.run after "
      .. "call #%d returns", outer, outer)
  end
  if not script then
    return run, name, nil, "tune.run: the worker cannot find this trainable: register it with "
      .. "tune.register_trainable(name, fn) in a module, or run the experiment from its file (`tunelua file.lua`, "
      .. "`lua5.4 file.lua`, or a C host that sets arg[0] to the file, as lua5.4 does)"
  end
  local args = registry.start_args()
  local previous, errors = earlier_runs(proc.runs - 1)
  -- The worker runs the file from where it started (a chdir in the file
  -- before this call is made again there), and arg[0] is relative to that.
  return run, name, {script = registry.from_start(script), args = args, cwd = proc.start_cwd or core.getcwd(),
    run_index = proc.runs, name = name, previous_runs = previous, previous_errors = errors}
end

--- The worker side: the Nth tune.run call serves the trial; earlier ones
--- return the analysis of their (finished) experiment when there is one.
local function worker_run(worker, run, opts)
  local mode = worker.worker_mode()
  if not mode or not mode.loading then
    -- The trainable's own call: it got an empty analysis, no experiment run.
    error("tune.run: called by a trainable, which runs in a worker process: an experiment runs only from the "
      .. "experiment file (the driver); a search inside a trial is not supported", 2)
  end
  mode.runs = mode.runs + 1
  if mode.run_index == mode.runs then
    local trainable = registry.callable(run) or run
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
  if dir == "" then
    -- The driver refused this call (it made no experiment): so does the
    -- worker, or a script that catches the refusal would take another
    -- branch here than it took there.
    local ok, why = pcall(options.check, opts, {})
    if not ok and options.refusal_message(why) then error(options.refusal_message(why), 3) end
    error("tune.run: this call was refused in the driver", 3)
  end
  local ok, a = false, nil
  if dir then
    ok, a = pcall(require("tune.analysis").ExperimentAnalysis, dir, {default_metric = opts.metric, default_mode = opts.mode})
  end
  -- It raised in the driver (failed trials, a plug-in's error): it raises
  -- here too, or a script that catches it would take another branch.
  local raised = mode.previous_errors and mode.previous_errors[mode.runs]
  if type(raised) == "table" and type(raised.m) == "string" then
    if not raised.t then error(raised.m, 0) end
    local failed = {}
    for _, t in ipairs(ok and a.trials or {}) do
      if t.status ~= "TERMINATED" then failed[#failed + 1] = t end
    end
    error(tune_error(raised.m, failed), 0)
  end
  if ok then return a end
  return setmetatable({trials = {}, worker_stub = true}, {__index = function(_, k)
    error("the analysis of an earlier tune.run is not available in this worker (" .. tostring(k) .. ")", 2)
  end})
end

--- The progress reporter's three hooks, through the plug-in adapter.
local function make_report(reporter, runner, o)
  if not reporter or o.verbose < 1 then return function() end end
  return function(done)
    if plugin.must("reporter", reporter, "should_report", "boolean", runner.trials, done) then
      plugin.must("reporter", reporter, "report", nil, runner.trials, done, runner:debug_strings())
    end
  end
end

--- Steps the runner until it is finished or a signal came; then saves the
--- experiment, stops every worker and ends the callbacks. Returns the
--- signal's name when interrupted; raises what the loop raised.
local function execute(ctx, opts, o, kind)
  local runner, ex = ctx.runner, ctx.executor
  if ex:has_gpus() and not (o.resources_per_trial
      and (placement.to_pgf(o.resources_per_trial, 2):required_resources().GPU or 0) > 0)
      and kind ~= "class" and o.verbose >= 1 then
    io.stderr:write("tunelua warning: GPUs were detected, but no trial uses any: set resources_per_trial = {gpu = 1}\n")
  end
  -- Signals: the first SIGINT or SIGUSR1 saves the experiment and stops.
  local disable_sigint = opts.disable_sigint_handler
  if disable_sigint == nil then disable_sigint = o.disable_sigint end
  ex:install_signals(not disable_sigint)
  local reporter = options.get(opts, "progress_reporter")
  if o.verbose >= 1 and not reporter then reporter = require("tune.reporter").detect_reporter() end
  local report = make_report(reporter, runner, o)
  local interrupted
  -- The collector runs in generational mode: a run holds every trial for
  -- its whole length and makes short-lived tables for each result, so
  -- minor collections that skip the old trials cost less time and leave a
  -- smaller peak than full incremental cycles (docs/benchmarks.md). The
  -- pause is 150 (Lua's default is 200): after a major collection that
  -- freed little (the trials held keep growing) the generational mode
  -- waits that long for the next, and so does the incremental mode a
  -- callback may switch to. The embedder's mode and pause are back
  -- afterwards.
  local pause = collectgarbage("setpause", 150)
  local gc_mode = collectgarbage("generational")
  local set_up = false
  local ok, err = pcall(function()
    -- The plug-ins' setup fails like the loop: a run refused before its
    -- first trial leaves nothing on disk.
    runner.callbacks:setup({stop = o.stop, num_samples = o.num_samples, time_budget_s = o.time_budget_s,
      experiment_dir = ctx.experiment_dir, total_num_samples = ctx.search_alg.total_samples})
    set_up = true
    if reporter then
      plugin.must("reporter", reporter, "setup", nil, {start_time = core.now(),
        total_samples = ctx.search_alg.total_samples, metric = o.metric, mode = o.mode, verbose = o.verbose})
    end
    while not runner:is_finished() do
      local sig = core.signal_pending()
      if sig then
        interrupted = sig
        break
      end
      runner:_step()
      report(false)
    end
    -- fail_fast = "raise" and a resumed trial that can never run: no step came to raise it.
    if runner._fail_fast_error then error(runner._fail_fast_error, 0) end
    if not interrupted then runner:settle_logs() end
  end)
  interrupted = interrupted or core.signal_pending()
  if ctx.unclock then ctx.unclock() end
  if ok and (interrupted == "SIGUSR1" or interrupted == "SIGTERM") then
    -- The job is about to end: running trials checkpoint first.
    local wait = o.signal_checkpoint_s or 60
    local c_ok, c_err = pcall(runner.checkpoint_running, runner, wait)
    if not c_ok then io.stderr:write("tunelua warning: checkpointing the running trials failed: ", tostring(c_err), "\n") end
  end
  pcall(runner.drop_premade_logdirs, runner)
  -- Refused before its first trial (persistence's Store:hold): nothing of
  -- it is written.
  local refused = not ok and runner.store ~= nil and runner.store:holding()
  if refused then runner.store:drop_held() end
  -- Its commit (an fsync) overlaps the final report and the workers' exit;
  -- it is on disk before on_experiment_end.
  local ck_ok, ck_err = true, nil
  if not refused then ck_ok, ck_err = pcall(runner.checkpoint, runner, true, true) end
  if not ck_ok then require("tune.experiment.persistence").snapshot_failed(ck_err) end
  if ok then
    -- The experiment is saved and whole: a final report that fails is said, not raised.
    local rok, rerr = pcall(report, true)
    if not rok then io.stderr:write("tunelua warning: the final report failed: ", tostring(rerr), "\n") end
  end
  -- Interrupted: the state is saved; a trainable that ignores stop must
  -- not keep the driver (TUNE_INTERRUPT_CLEANUP_S, 5 s by default).
  runner:cleanup(interrupted and (o.interrupt_cleanup_s or 5) or nil)
  -- The rows of the trials cleanup stopped are on disk before the
  -- callbacks hear the experiment ended.
  if ex.flush_logs then pcall(ex.flush_logs, ex) end
  ex:uninstall_signals()
  if runner.store then runner.store:settle() end
  -- The experiment is over and saved: a callback failing here is said,
  -- not raised (the run's outcome stands).
  local end_ok, end_err = true, nil
  if set_up then
    end_ok, end_err = pcall(runner.callbacks.call, runner.callbacks, "on_experiment_end", runner.trials,
      {interrupted = interrupted ~= nil})
  end
  if not end_ok then io.stderr:write("tunelua warning: ", tostring(end_err):match("^[^\n]*"), "\n") end
  if ctx.own_executor then ex:close() end
  if runner.store then runner.store:close() end
  if refused then ctx.remove_made_dirs() end
  collectgarbage(gc_mode)
  collectgarbage("setpause", pause)
  if not ok then
    -- fail_fast = "raise": the trial's failure, marked for the CLI (which
    -- exits 2 with its first line, docs/reference/cli.md).
    if o.fail_fast == "raise" and type(err) == "table" and err.tune_error then err.fail_fast = true end
    error(err, 0)
  end
  return interrupted
end

--- After the loop: the interrupted run's exit, the failed trials' error,
--- or the analysis.
local function finish(ctx, opts, o, interrupted, level)
  local runner, experiment_dir = ctx.runner, ctx.experiment_dir
  if interrupted then
    -- A name made up for this run (dated) is not the next run's: it is said.
    local cli = cli_options()
    local named = cli.name ~= nil or options.get(opts, "name") ~= nil
    local name = runner.experiment_info.name
    local shell = name:find("^[%w_.,=+:@%-]+$") and name or ("'" .. name:gsub("'", "'\\''") .. "'")
    io.stderr:write(string.format("tunelua: %s received: the experiment was saved in %s; "
      .. "continue it with --resume%s (or resume = true%s)\n", interrupted, experiment_dir,
      named and "" or (" --name " .. shell), named and "" or string.format(", name = %q", name)))
    -- Inside another run (from its callback), that one stops and saves
    -- too before the CLI exits.
    local _, cli_mod = cli_options()
    if cli_mod and not ctx.outer then
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
    if options.get(opts, "raise_on_failed_trial") then error(tune_error(msg, incomplete), level + 1) end
    io.stderr:write("tunelua: ", msg, "\n")
  end
  -- The trials are at hand: the analysis needs only the experiment's header.
  local persistence = require("tune.experiment.persistence")
  local records, stats = runner:records()
  local header = {format = persistence.FORMAT, version = persistence.VERSION, name = runner.experiment_info.name,
    experiment_dir = experiment_dir, metric = runner.metric, mode = runner.mode, runner = records, stats = stats}
  local analysis = require("tune.analysis").ExperimentAnalysis(header, {
    trials = runner.trials, default_metric = o.metric, default_mode = o.mode})
  analysis.interrupted = interrupted ~= nil
  analysis.experiment_dir = experiment_dir
  return analysis
end

--- tune.run(run_or_experiment, opts)
function M.run(run, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("tune.run: the options must be a table", 2) end
  proc.runs = proc.runs + 1
  if proc.worker then return worker_run(require("tune.worker"), run, opts) end
  local cli = cli_options()
  local ok, o = pcall(options.check, opts, cli)
  if not ok then error(options.refusal_message(o) or o, options.refusal_message(o) and 2 or 0) end
  local trainable, trainable_name, loader, unfindable = resolve_trainable(run, 2)
  local t = {trainable = trainable, name = trainable_name, loader = loader, unfindable = unfindable,
    kind = registry.kind_of(trainable), earlier = proc.dirs}
  local built, ctx = pcall(assemble.build, opts, o, cli, t, proc.runs)
  if not built then error(options.refusal_message(ctx) or ctx, options.refusal_message(ctx) and 2 or 0) end
  local index = proc.runs
  proc.dirs[index] = ctx.experiment_dir
  M.last_runner = ctx.runner
  local running = {index = index, co = coroutine.running()}
  ctx.outer = registry.enclosing_run()
  table.insert(proc.running, running)
  local done, analysis = pcall(function()
    return finish(ctx, opts, o, execute(ctx, opts, o, t.kind), 2)
  end)
  for i = #proc.running, 1, -1 do
    if proc.running[i] == running then table.remove(proc.running, i) end
  end
  if not done then
    local e = analysis
    local is_tune = type(e) == "table" and e.tune_error == true
    proc.errors[index] = {m = is_tune and e.msg or results.failure_message(e), t = is_tune or nil}
    -- A refusal found while the loop ran (a class's resources): at the
    -- user's line, as the ones found before it.
    if options.refusal_message(e) then error(options.refusal_message(e), 2) end
    error(e, 0)
  end
  return analysis
end

return M
