--- tune.run's options: the list with defaults (one source for the
--- validation, the "did you mean" message and docs/reference/run.md), and
--- their checking and normalisation. A refused option raises a refusal
--- that tune.run re-raises at the user's line; nothing is created or
--- written before every option has been checked.
local core = require("tune.core")
local util = require("tune.util")

local M = {}

--- Every option, with its default (false when none).
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
  num_cpus = false, num_gpus = false, resources = false, backend = false, sim = false, slurm = false,
  global_checkpoint_s = false, disable_sigint_handler = false, dashboard = false,
}

local refusal = require("tune.experiment.refusal")
--- Raises a refusal (tune.experiment.refusal): reported at the user's line.
M.refuse = refusal.refuse
--- The message of a refusal, or nil for any other error.
M.refusal_message = refusal.message

--- Calls fn(...); an error it raises becomes a refusal "tune.run: <msg>"
--- (without the position inside the library).
function M.refusing(fn, ...)
  local ok, v = pcall(fn, ...)
  if not ok then
    if M.refusal_message(v) then error(v, 0) end
    M.refuse("tune.run: " .. tostring(v):gsub("^[^:]+:%d+: ", ""))
  end
  return v
end
local function opt(opts, k) return util.with_default(opts, M.OPTIONS, k) end
M.get = opt

--- A value in a refusal: a string quoted, anything else with its type.
local function show(v) return type(v) == "string" and string.format("%q", v) or tostring(v) .. " (" .. type(v) .. ")" end

local function check_log_to_file(v)
  if v == true then return {"stdout", "stderr"} end
  if v == false or v == nil then return nil end
  if type(v) == "string" then v = {v, v} end
  if type(v) ~= "table" or #v ~= 2 or type(v[1]) ~= "string" or type(v[2]) ~= "string" then
    M.refuse("tune.run: log_to_file must be true, a file name or a pair {stdout, stderr}")
  end
  for _, name in ipairs(v) do
    -- A file's name: not empty, not a directory, no NUL.
    if name == "" or name:sub(-1) == "/" or name:find("\0", 1, true) or name == "." or name == ".." then
      M.refuse(("tune.run: log_to_file: %s is not a file's name"):format(show(name)))
    end
  end
  return v
end

local function check_resume(cli, opts)
  local resume = cli.resume
  if resume == nil then resume = opt(opts, "resume") end
  if resume == true then resume = "LOCAL" end
  if resume and resume ~= "LOCAL" and resume ~= "AUTO" and resume ~= "ERRORED_ONLY" then
    M.refuse("tune.run: resume must be true, \"LOCAL\", \"AUTO\" or \"ERRORED_ONLY\", got " .. show(resume))
  end
  return resume
end

--- Thresholds of a `stop` table (Ray's trial stopping criteria), or {}.
local function stopping_criterion(stop)
  local stopper_mod = require("tune.stopper")
  local out = {}
  if type(stop) == "table" and stop[1] == nil and not stopper_mod.is_stopper(stop)
      and getmetatable(stop) == nil and stop.stop_all == nil then
    for k, v in pairs(stop) do
      if type(k) ~= "string" or type(v) ~= "number" then
        M.refuse("tune.run: stop: a threshold table maps result keys to numbers (key " .. tostring(k) .. ")")
      end
      -- No result reaches a NaN threshold: the trial would never stop.
      if v ~= v then M.refuse("tune.run: stop: the threshold of " .. k .. " is NaN") end
      out[k] = v
    end
  end
  return out
end

local function check_stop(opts)
  local stop = opt(opts, "stop")
  local criterion = stopping_criterion(stop)
  local budget = opt(opts, "time_budget_s")
  if budget ~= nil and (type(budget) ~= "number" and type(budget) ~= "table") then
    M.refuse("tune.run: time_budget_s must be a number of seconds")
  end
  local ok, stopper = pcall(require("tune.stopper").from_option, stop, budget)
  if not ok then M.refuse("tune.run: stop: " .. tostring(stopper):gsub("^[^:]*:%d+: ", "")) end
  return stop, criterion, stopper, budget
end

--- Refuses option `k` unless `pred(v)` holds for its value (nil passes):
--- "tune.run: <k> must be <expected>, got <value>".
local function expect(opts, k, expected, pred)
  local v = opt(opts, k)
  if v ~= nil and not pred(v) then M.refuse(("tune.run: %s must be %s, got %s"):format(k, expected, show(v))) end
  return v
end

local function is_int(v) return math.type(v) == "integer" or (type(v) == "number" and math.tointeger(v) ~= nil) end
local function is_bool(v) return type(v) == "boolean" end
local function is_string(v) return type(v) == "string" end
local function is_function(v) return type(v) == "function" or (type(v) == "table" and getmetatable(v) ~= nil
  and getmetatable(v).__call ~= nil) end

--- A name that becomes one directory under local_dir: not empty, "." or
--- "..", no "/" or NUL (C would cut the path there), UTF-8 (paths travel as
--- JSON text), at most 255 bytes; `from`: the trainable's name it was made of.
function M.check_dir_name(what, v, from)
  if from then what = ("the experiment's default name (made of the trainable's name %s: give name =)"):format(show(from)) end
  if type(v) ~= "string" then M.refuse(("tune.run: %s must be a string, got %s"):format(what, show(v))) end
  if v == "" or v == "." or v == ".." then
    M.refuse(("tune.run: %s must name a directory under local_dir, got %s"):format(what, show(v)))
  end
  if v:find("/", 1, true) then M.refuse("tune.run: the experiment name must not contain '/'") end
  if v:find("\0", 1, true) then M.refuse(("tune.run: %s must not contain a NUL character"):format(what)) end
  if not utf8.len(v) then M.refuse(("tune.run: %s must be UTF-8 text, got %s"):format(what, show(v))) end
  if #v > 255 then M.refuse(("tune.run: %s is too long for a directory's name (%d bytes, at most 255)"):format(what, #v)) end
end

--- The config's literal values, which trials get as JSON (util.not_plain,
--- the one check of every maker of configs).
local function check_config_values(config)
  local why, where = util.not_plain(config)
  if why then
    M.refuse(("tune.run: config%s: %s cannot be given to a trial (its config is plain data%s)"):format(where, why,
      why == "a function" and "; tune.sample_from(fn) computes a value from a function" or ""))
  end
end

--- The options' types, before anything is built: each refusal names the
--- option, what was given and what was expected.
local function check_types(opts)
  local name = opt(opts, "name")
  if name ~= nil then M.check_dir_name("name", name) end
  local config = opt(opts, "config")
  if config ~= nil and type(config) ~= "table" then
    M.refuse("tune.run: config must be a table (the search space), got " .. show(config))
  elseif require("tune.search.sample").is_domain(config) then
    -- (A trial's config was the value drawn: a number.)
    M.refuse("tune.run: config must be a table of parameters (the search space), got " .. tostring(config)
      .. ": name it, config = {x = ...}")
  end
  if type(config) == "table" then check_config_values(config) end
  local verbose = opt(opts, "verbose")
  if not (is_int(verbose) and verbose >= 0 and verbose <= 3) then
    M.refuse("tune.run: verbose must be 0, 1, 2 or 3, got " .. show(verbose))
  end
  local ld = expect(opts, "local_dir", "a directory path (string)", is_string)
  if ld and (ld == "" or ld:find("\0", 1, true) or not utf8.len(ld)) then
    M.refuse("tune.run: local_dir must be a directory path (UTF-8 text), got " .. show(ld))
  end
  expect(opts, "checkpoint_freq", "a non-negative integer", function(v) return is_int(v) and v >= 0 end)
  expect(opts, "keep_checkpoints_num", "a positive integer or nil", function(v) return is_int(v) and v >= 1 end)
  expect(opts, "checkpoint_score_attr", "a result key (string)", is_string)
  expect(opts, "checkpoint_at_end", "true or false", is_bool)
  expect(opts, "max_failures", "an integer (-1: retry without limit)", function(v) return is_int(v) and v >= -1 end)
  expect(opts, "reuse_actors", "true or false", is_bool)
  expect(opts, "raise_on_failed_trial", "true or false", is_bool)
  expect(opts, "disable_sigint_handler", "true or false", is_bool)
  expect(opts, "trial_name_creator", "a function of the trial", is_function)
  expect(opts, "trial_dirname_creator", "a function of the trial", is_function)
  expect(opts, "resources_per_trial", "a table of resources", function(v) return type(v) == "table" end)
  local callbacks = expect(opts, "callbacks", "a list of callbacks", function(v) return type(v) == "table" end)
  if callbacks ~= nil and (next(callbacks) ~= nil or getmetatable(callbacks) ~= nil) and rawget(callbacks, 1) == nil then
    -- One callback (or the tune module) where a list goes: it was ignored.
    M.refuse("tune.run: callbacks must be a list of callbacks, got a table that is not a list (one callback? "
      .. "put it in a list: callbacks = {cb})")
  end
  local is_class, hooks = require("tune.class").is_class, require("tune.experiment.callback").HOOKS
  for i, cb in ipairs(callbacks or {}) do
    if type(cb) ~= "table" then
      M.refuse(("tune.run: callbacks[%d] must be a callback (a table of hooks, e.g. a tune.Callback), got %s"):format(i,
        show(cb)))
    elseif is_class(cb) then
      M.refuse(("tune.run: callbacks[%d] is the class %s, not an instance: call it (%s())"):format(i, cb.__name,
        cb.__name))
    end
    local hook, f = require("tune.experiment.plugin").uncallable(cb, hooks)
    if hook then M.refuse(("tune.run: callbacks[%d].%s must be a method (a function), got %s"):format(i, hook, show(f))) end
  end
  expect(opts, "scheduler", "a trial scheduler (a table of hooks, e.g. tune.schedulers.ASHAScheduler{}) or a "
    .. "scheduler's name", function(v) return type(v) == "table" or type(v) == "string" end)
  for _, k in ipairs({"scheduler", "search_alg", "stop", "progress_reporter", "trial_executor", "resources_per_trial"}) do
    local v = opt(opts, k)
    if is_class(v) then
      M.refuse(("tune.run: %s is the class %s, not an instance: call it (%s{...})"):format(k, v.__name, v.__name))
    end
  end
  local search_alg = opt(opts, "search_alg")
  if search_alg ~= nil and type(search_alg) ~= "string"
      and (type(search_alg) ~= "table" or (search_alg.suggest == nil and search_alg.next_trial == nil)) then
    M.refuse("tune.run: search_alg must be a searcher (with suggest, e.g. tune.search.TPESearch{}), a search "
      .. "algorithm (with next_trial, e.g. tune.search.BasicVariantGenerator{}) or a searcher's name, got "
      .. (type(search_alg) == "table" and "a table with neither suggest nor next_trial" or show(search_alg)))
  end
  local unusable = require("tune.reporter").unusable(opt(opts, "progress_reporter"), show)
  if unusable then M.refuse("tune.run: progress_reporter" .. unusable) end
  local restore = expect(opts, "restore", "a checkpoint's path (string)", is_string)
  if restore ~= nil and core.stat(util.expanduser(restore)) == nil then -- "~/..." as Ray's expanduser
    M.refuse(("tune.run: restore: the checkpoint %s does not exist"):format(show(restore)))
  end
  if restore ~= nil and core.stat(util.expanduser(restore) .. "/.tune_metadata.json") ~= "file" then
    -- Any other path was taken and ignored: the trial started from scratch.
    M.refuse(("tune.run: restore: %s is not a checkpoint (a checkpoint_NNNNNN directory a trial saved, which "
      .. "holds .tune_metadata.json)"):format(show(restore)))
  end
  expect(opts, "trial_executor", "a TrialExecutor (tune.TrialExecutor{...} or tune.SimulatedExecutor{...})",
    function(v) return type(v) == "table" and v.start_trial ~= nil and v.get_next_executor_event ~= nil end)
  expect(opts, "num_cpus", "a non-negative number", function(v) return type(v) == "number" and v >= 0 end)
  expect(opts, "num_gpus", "a non-negative number", function(v) return type(v) == "number" and v >= 0 end)
  expect(opts, "global_checkpoint_s", "a non-negative number of seconds", function(v) return type(v) == "number" and v >= 0 end)
  expect(opts, "seed", "an integer", is_int)
end

--- Checks tune.run's options (the seed's validations) and returns them
--- normalised: {mode, metric, fail_fast, max_failures, max_concurrent,
--- num_samples, verbose, config, stop, stopping_criterion, stopper,
--- resume, log_to_file, ...}. `cli` holds the command line's overrides.
function M.check(opts, cli)
  local known, why = pcall(util.check_options, "tune.run", opts, M.OPTIONS)
  if not known then M.refuse((tostring(why):gsub("^[^:]+:%d+: ", ""))) end
  check_types(opts)
  if cli.verbose ~= nil and not (is_int(cli.verbose) and cli.verbose >= 0 and cli.verbose <= 3) then
    M.refuse("tunelua: -v/--verbose must be 0, 1, 2 or 3, got " .. show(cli.verbose))
  end
  local o = {}
  o.mode = opt(opts, "mode")
  if o.mode ~= nil and o.mode ~= "min" and o.mode ~= "max" then
    M.refuse("The `mode` parameter passed to `tune.run()` has to be one of ['min', 'max']")
  end
  o.metric = opt(opts, "metric")
  if o.metric ~= nil and type(o.metric) ~= "string" then M.refuse("tune.run: metric must be a string") end
  if o.metric and o.metric:find("\0", 1, true) then M.refuse("tune.run: metric must not contain a NUL character") end
  o.fail_fast = opt(opts, "fail_fast") or false
  o.max_failures = opt(opts, "max_failures")
  if o.fail_fast and o.max_failures ~= 0 then M.refuse("max_failures must be 0 if fail_fast=True.") end
  if o.fail_fast ~= false and o.fail_fast ~= true and o.fail_fast ~= "raise" then
    M.refuse("tune.run: fail_fast must be true, false or \"raise\"")
  end
  local mct = opt(opts, "max_concurrent_trials")
  if mct ~= nil and not is_int(mct) then
    M.refuse(string.format("tune.run: max_concurrent_trials must be an integer (0 or nil: no limit), got %s (%s)",
      type(mct) == "string" and string.format("%q", mct) or tostring(mct), type(mct)))
  end
  if mct ~= nil and mct < 0 then
    M.refuse("`max_concurrent_trials` must be greater or equal than 1, got " .. tostring(mct) .. ".")
  end
  if mct == 0 then mct = nil end
  o.max_concurrent = mct
  local num_samples = opt(opts, "num_samples")
  if num_samples == -1 then num_samples = math.huge end
  if type(num_samples) ~= "number" or num_samples < 1
      or (num_samples ~= math.huge and num_samples ~= math.floor(num_samples)) then
    M.refuse("tune.run: num_samples must be a positive integer or -1, got " .. show(opt(opts, "num_samples")))
  end
  o.num_samples = num_samples
  -- (2.0 passed the check, and the reporter's setup refused it.)
  o.verbose = math.tointeger(cli.verbose or opt(opts, "verbose"))
  o.config = opt(opts, "config") or {}
  o.stop, o.stopping_criterion, o.stopper, o.time_budget_s = check_stop(opts)
  o.resume = check_resume(cli, opts)
  o.log_to_file = check_log_to_file(opt(opts, "log_to_file"))
  o.seed = opt(opts, "seed")
  require("tune.experiment.env").read(opts, o, {dated_subdir = not (cli.name or opt(opts, "name")),
    compact_report = o.verbose >= 1 and not opt(opts, "progress_reporter")})
  o.resources_per_trial = opt(opts, "resources_per_trial")
  if o.resources_per_trial ~= nil then
    -- The factory as the engine will take it (its C checks included).
    local ok, err = pcall(function() return require("tune.executor.placement").to_pgf(o.resources_per_trial, 1):handle() end)
    if not ok then
      local msg = tostring(err):gsub("^[^:]+:%d+: ", "")
      if msg:sub(1, 19) ~= "resources_per_trial" then msg = "resources_per_trial: " .. msg end
      M.refuse("tune.run: " .. msg)
    end
  end
  -- The file's option, checked, then the flags over its fields.
  local dashboard = require("tune.dashboard")
  local dok, d = pcall(dashboard.check, opt(opts, "dashboard"))
  if dok and cli.dashboard then
    local merged = {}
    for k, v in pairs(d or {}) do merged[k] = v end
    for k, v in pairs(cli.dashboard) do merged[k] = v end
    dok, d = pcall(dashboard.check, merged)
  end
  if not dok then M.refuse("tune.run: " .. tostring(d)) end
  o.dashboard = d
  return o
end

--- The backend tune.run asks for: --backend, else the option, else
--- TUNE_BACKEND, else "local".
function M.backend_name(opts, cli)
  local name = cli.backend or opt(opts, "backend")
  if name ~= nil and type(name) ~= "string" then
    M.refuse("tune.run: backend must be a string (" .. core.backend_names() .. "), got " .. type(name))
  end
  if name == nil then name = require("tune.executor").backend_name({}) end
  local known = false
  for b in core.backend_names():gmatch("[^, ]+") do known = known or b == name end
  if not known then M.refuse("tune.run: unknown backend '" .. name .. "' (known: " .. core.backend_names() .. ")") end
  return name
end

--- The recording a replay reads is never written: a replay whose
--- experiment directory is the recording's (or holds it, or lies in it)
--- would archive its state and add the simulated trials to it. `from`
--- names where the replay was asked for.
local function check_replay_target(replay, from, experiment_dir)
  if type(replay) ~= "string" or replay == "" then return end
  local rec = replay
  -- (A file that is no experiment state is refused as such by the simulator.)
  if core.stat(rec) == "file" and not require("tune.analysis.state").load_sources(rec) then return end
  if core.stat(rec) == "file" then rec = rec:match("^(.*)/[^/]*$") or "." end
  rec = util.real_path(rec)
  local exp = util.real_path(experiment_dir)
  if util.within(exp, rec) or util.within(rec, exp) then
    M.refuse(string.format("tune.run: %s %s: the replay's experiment directory %s %s the recording it replays, "
      .. "which is never modified: give the replay its own directory with --name (e.g. --name %s_replay) or "
      .. "--local-dir (or the name and local_dir options)", from, replay, experiment_dir,
      exp == rec and "is" or (util.within(exp, rec) and "lies inside" or "holds"), experiment_dir:match("([^/]*)/*$")))
  end
end

--- Options of another backend than the one that runs are refused rather
--- than ignored; and the recording a replay reads is never written.
function M.check_backend_options(opts, cli, experiment_dir)
  local ex, sim, slurm = opt(opts, "trial_executor"), opt(opts, "sim"), opt(opts, "slurm")
  if ex then
    if cli.replay then
      M.refuse("tune.run: --replay builds the simulator, but this run gives its own trial_executor")
    end
    if cli.backend then
      M.refuse("tune.run: --backend " .. cli.backend .. " builds the executor, but this run gives its own "
        .. "trial_executor (which has its backend)")
    end
    if opt(opts, "backend") ~= nil then
      M.refuse("tune.run: give either trial_executor or backend, not both (the executor has its backend)")
    end
    if sim ~= nil then M.refuse("tune.run: sim options given, but this run gives its own trial_executor") end
    if slurm ~= nil then M.refuse("tune.run: slurm options given, but this run gives its own trial_executor") end
    if type(ex.replay) == "string" then check_replay_target(ex.replay, "the trial_executor's replay", experiment_dir) end
    return
  end
  local backend = M.backend_name(opts, cli)
  if sim ~= nil and backend ~= "sim" then M.refuse("tune.run: sim options given but the backend is " .. backend) end
  if slurm ~= nil and backend ~= "slurm" then M.refuse("tune.run: slurm options given but the backend is " .. backend) end
  if backend == "slurm" then
    -- Slurm says what each node has (as Ray refuses num_cpus for a cluster it connects to).
    for _, k in ipairs({"num_cpus", "num_gpus", "resources"}) do
      local given = cli[k] ~= nil and "--" .. k:gsub("_", "-") or opt(opts, k) ~= nil and k
      if given then
        M.refuse("tune.run: " .. given .. " is not for the slurm backend: Slurm says what each node has (the "
          .. "allocation's nodes, or the partition's): ask Slurm for CPUs, GPUs and licenses (salloc -c, --gres, -L)")
      end
    end
  end
  if cli.replay then
    check_replay_target(cli.replay, "--replay", experiment_dir)
  elseif type(sim) == "table" then
    check_replay_target(sim.replay, "sim.replay", experiment_dir)
  end
end

return M
