--- tune.TrialExecutor: Ray's RayTrialExecutor over the C executor
--- (docs/reference/executor.md). Calls return at once; only
--- get_next_executor_event() and cleanup() block.
local class = require("tune.class")
local ckpt = require("tune.executor.checkpoint")
local core = require("tune.core")
local registry = require("tune.worker.registry")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial

local M = {}

--- Event types, as the seed tests name them.
M.ExecutorEventType = {
  PG_READY = "PG_READY",
  TRAINING_RESULT = "TRAINING_RESULT",
  SAVING_RESULT = "SAVING_RESULT",
  RESTORING_RESULT = "RESTORING_RESULT",
  ERROR = "ERROR",
  YIELD = "YIELD",
  NO_RUNNING_TRIAL_TIMEOUT = "NO_RUNNING_TRIAL_TIMEOUT",
}

--- Every executor option with its variable and default: the one table in
--- C (engine/executor.c), {{name =, env =, default =}, ...}.
M.OPTIONS = core.executor_options()

local OPTION_NAMES = {}
for _, o in ipairs(M.OPTIONS) do OPTION_NAMES[o.name] = true end
--- Options that are not the engine's: the node and how workers start.
local OTHER = {num_cpus = true, num_gpus = true, resources = true, memory = true, worker_path = true,
  console_stdout_fd = true, console_stderr_fd = true, backend = true, backend_options = true, sim_host = true}
M.KNOWN_OPTIONS = util.merge(OPTION_NAMES, OTHER) -- every option TrialExecutor{} takes

--- Node resources (tune.executor.node).
M.node_resources = require("tune.executor.node").resources

--- The backend: the option, else TUNE_BACKEND, else "local".
function M.backend_name(opts)
  local name = opts.backend
  if name == nil then
    name = os.getenv("TUNE_BACKEND")
    if name == "" then name = nil end
  end
  return name or "local"
end

local TrialExecutor = class.class("TrialExecutor")
for _, part in ipairs({"staging", "saving"}) do
  for name, f in pairs(require("tune.executor." .. part)) do TrialExecutor[name] = f end
end

function TrialExecutor:__init(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("TrialExecutor: expected a table of options, got " .. type(opts), 3) end
  local worker = package.loaded["tune.worker"]
  if worker and worker.worker_mode() then
    -- The worker runs the experiment file again up to its tune.run (or the
    -- registration): an executor made there is a stand-in that runs
    -- nothing (a real one would start workers of its own); closing it is
    -- fine, anything else says why it cannot.
    self._core = setmetatable({close = function() return true end, cleanup = function() end}, {__index = function()
      return function()
        error("this TrialExecutor was made in a trial's worker, which runs the experiment file again: it runs nothing "
          .. "there", 2)
      end
    end})
    self.options = {}
    return
  end
  for k in pairs(opts) do
    if not M.KNOWN_OPTIONS[k] then
      local near = util.closest(tostring(k), util.sorted_keys(M.KNOWN_OPTIONS))
      error(string.format("TrialExecutor: unknown option %q%s", tostring(k),
        near and (" (did you mean " .. near .. "?)") or ""), 3)
    end
  end
  for _, k in ipairs({"worker_path", "backend"}) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error(string.format("TrialExecutor: %s must be a string, got %s", k, type(opts[k])), 3)
    end
  end
  for _, k in ipairs({"console_stdout_fd", "console_stderr_fd"}) do
    local fd = opts[k]
    if fd ~= nil and not (math.tointeger(fd) and fd >= 0) then
      error(("TrialExecutor: %s must be a file descriptor (an integer >= 0), got %s"):format(k, util.show_got(fd)), 3)
    end
  end
  local backend = M.backend_name(opts)
  if backend == "sim" and opts.sim_host == nil then
    error('TrialExecutor: the simulator is tune.SimulatedExecutor{curve = ...} (or replay = ...), not backend "sim"', 3)
  elseif opts.sim_host ~= nil and backend ~= "sim" or opts.backend_options ~= nil and backend == "local" then
    error(string.format("TrialExecutor: %s is not for the %s backend", opts.sim_host and "sim_host" or "backend_options",
      backend), 3)
  end
  local node = opts.num_cpus and "num_cpus" or opts.num_gpus and "num_gpus" or opts.memory and "memory" or opts.resources and "resources"
  if node and backend == "slurm" then
    error("TrialExecutor: " .. node .. " is not for the slurm backend: Slurm says what each node has", 3)
  end
  local okr, res, gpu_ids = pcall(M.node_resources, opts)
  if not okr then error("TrialExecutor: " .. tostring(res), 3) end
  local args = {}
  for name in pairs(OPTION_NAMES) do args[name] = opts[name] end
  args.backend = backend
  args.backend_options, args.sim_host = opts.backend_options, opts.sim_host
  args.resources = res
  args.gpu_ids = gpu_ids
  args.worker_path = opts.worker_path or (args.backend ~= "sim" and assert(core.worker_path())) or "tunelua"
  args.worker_args = {"--worker"}
  args.console_stdout_fd, args.console_stderr_fd = opts.console_stdout_fd, opts.console_stderr_fd
  local ok, c = pcall(core.executor_new, args)
  if not ok then error("TrialExecutor: " .. tostring(c):gsub("^[^:]+:%d+: ", ""), 3) end
  self._core = c
  self.options = c:options()
  self.reuse_actors = self.options.reuse_actors
  self.backend = args.backend
  self._node = res
  self._trials = {}      -- trial_id -> Trial, for every trial started here
  self._memory = {}      -- trial_id -> its memory checkpoint dirs, oldest first
  self._last_recon = -math.huge
end

local check_trial = require("tune.experiment.trial").check
local function fail_start(self, trial, msg)
  trial:set_status(Trial.ERROR)
  trial:handle_error(msg)
  return false
end

-- A trainable's loader is made once and shared by its trials: its key is
-- kept (weakly) rather than made again at every start.
local loader_keys = setmetatable({}, {__mode = "k"})
local function loader_key(loader)
  local key = loader_keys[loader]
  if key == nil then
    key = table.concat({tostring(loader.builtin), tostring(loader.script), tostring(loader.name),
      tostring(loader.run_index), tostring(loader.command)}, "\0")
    loader_keys[loader] = key
  end
  return key
end

--- Starts the trial on a ready placement group (or a cached worker).
--- true: RUNNING; false: no resources yet (still PENDING) or it failed
--- (then ERROR, with trial.error_msg). `cap` (an integer >= 1, or nil)
--- caps the first batch below the result buffer's length.
function TrialExecutor:start_trial(trial, cap)
  check_trial(trial, "start_trial")
  if trial.status == Trial.RUNNING then -- (it was failed, its worker left running)
    error(string.format("start_trial: trial %s is already running: stop or pause it first", tostring(trial)), 2)
  end
  if not trial._loader then
    return fail_start(self, trial, string.format("Invalid trainable: %q is not registered", tostring(trial.trainable_name)))
  end
  local pgf = trial.placement_group_factory
  local ok, why = self._core:feasible(pgf)
  if not ok then
    return fail_start(self, trial, string.format("trial %s can never run: %s", tostring(trial), why))
  end
  local okdir, direrr = pcall(trial.init_logdir, trial)
  if not okdir then return fail_start(self, trial, tostring(direrr)) end
  local restore_dir, restore_persistent = Trial.restore_source(trial)
  local stdout_file, stderr_file
  local ltf = rawget(trial, "log_to_file")
  if ltf then
    -- Relative to the trial's directory (its own subdirectories made
    -- here), or an absolute path as given (Ray's os.path.join).
    local function place(name)
      local path = name:sub(1, 1) == "/" and name or util.join(trial.logdir, name)
      local parent = path:match("^(.*)/[^/]+$")
      if parent and parent ~= "" and not core.stat(parent) then core.mkdir_p(parent) end
      core.append(path, "") -- there from the start, as Ray opens them (a failure is warned at the first write)
      return path
    end
    stdout_file = ltf[1] and place(ltf[1])
    stderr_file = ltf[2] and place(ltf[2])
  end
  local loader = trial._loader
  -- Known before the start request goes out (the simulator's host asks).
  self._trials[trial.trial_id] = trial
  local rc, err = self._core:start{
    trial_id = trial.trial_id,
    name = tostring(trial),
    logdir = trial.logdir,
    logdir_made = true, -- trial:init_logdir above made it (one stat less)
    logs_made = trial:take_logs_made(), -- made empty with the directory, ahead (and open)
    experiment_tag = trial.experiment_tag,
    experiment_id = trial.experiment_id,
    pgf = pgf,
    config = trial.config,
    loader = loader,
    loader_key = loader_key(loader),
    resettable = trial._resettable,
    restore_dir = restore_dir,
    restore_persistent = restore_persistent,
    checkpoint_at_end = trial.checkpoint_at_end,
    checkpoint_freq = trial.checkpoint_freq,
    batch_cap = cap,
    stdout_file = stdout_file,
    stderr_file = stderr_file,
  }
  if rc == 0 then return false end
  if rc < 0 then return fail_start(self, trial, err) end
  trial:set_status(Trial.RUNNING)
  -- pid and trial_id are known before any report (testTrialCleanup).
  local defaults = self._core:default_result(trial.trial_id) or {}
  local last = trial.last_result
  if next(last) == nil then
    -- A first start: the defaults' table is the last result (made at its
    -- size; filled field by field, an empty one is rehashed four times).
    -- The worker's host is known once it says hello.
    for k, v in pairs(defaults) do
      if v == "" then defaults[k] = nil end
    end
    trial.last_result = defaults
  else
    for k, v in pairs(defaults) do
      -- Until the worker says hello, keep any host known before.
      if v ~= "" then last[k] = v end
    end
  end
  -- Ray's restore from _start_trial: restoring until RESTORING_RESULT.
  if restore_dir and restore_persistent then trial.restoring_from = Trial.get_checkpoint(trial) end
  return true
end

--- Sets the status of a trial that has no worker (Ray's set_status). A
--- running trial's worker holds its resources: it is ended by stop_trial
--- or pause_trial, not by a new status (the runner waited forever for the
--- resources of a trial marked TERMINATED whose worker still ran).
function TrialExecutor:set_status(trial, status)
  if trial.status == Trial.RUNNING and status ~= Trial.RUNNING then
    error(string.format("set_status: trial %s is RUNNING: end its worker with stop_trial or pause_trial instead of "
      .. "setting it %s", tostring(trial), tostring(status)), 2)
  end
  if status == Trial.RUNNING and trial.status ~= Trial.RUNNING then -- (no event ever came: the runner waited for ever)
    error(string.format("set_status: trial %s becomes RUNNING when start_trial starts its worker", tostring(trial)), 2)
  end
  trial:set_status(status)
end

--- Why stop_trial refuses a trial, or nil: one RUNNING that another
--- executor started (its worker went on, its results still came).
function TrialExecutor:_foreign(trial)
  if trial.status == Trial.RUNNING and self._trials[trial.trial_id] ~= trial then
    return string.format("stop_trial: trial %s runs on another executor: stop it there", tostring(trial))
  end
end

--- Stops the trial: TERMINATED, or ERROR with `error` (and the message
--- and traceback for its error file).
function TrialExecutor:stop_trial(trial, error, error_msg, traceback)
  check_trial(trial, "stop_trial")
  local foreign = self:_foreign(trial)
  if foreign then _G.error(foreign, 2) end
  trial:set_status(error and Trial.ERROR or Trial.TERMINATED)
  if error_msg then trial:handle_error(error_msg, traceback) end
  trial.saving_to = nil
  trial.restoring_from = nil
  self._core:stop(trial.trial_id, error and true or false)
  -- Someone removed its directory while it ran: its logs went to files
  -- that are gone. Said, not silent.
  local logdir = rawget(trial, "logdir")
  if logdir and not core.stat(logdir) then
    io.stderr:write(string.format("tunelua warning: trial %s's directory %s was removed while the trial ran: its "
      .. "result.json, progress.csv and checkpoints are lost\n", tostring(trial), logdir))
  end
  -- Memory checkpoints stay: a scheduler may restart this trial from one,
  -- or another trial may clone it (PBT). cleanup() removes them.
end

--- Saves to memory, stops, and marks the trial PAUSED (Ray's pause_trial).
function TrialExecutor:pause_trial(trial)
  check_trial(trial, "pause_trial")
  if trial.status ~= Trial.RUNNING then error("pause_trial: the trial is not running", 2) end
  local c = self:save(trial, ckpt.CheckpointStorage.MEMORY)
  if not c then
    self:stop_trial(trial, true, "pause failed: the trial's worker is gone")
    return
  end
  self._core:stop(trial.trial_id, false)
  trial:set_status(Trial.PAUSED)
end

--- Asks a running trial for its next result (batch); `cap` (an integer
--- >= 1, or nil) caps this batch below the result buffer's length.
function TrialExecutor:continue_training(trial, cap)
  return self._core:continue_training(trial.trial_id, cap)
end

--- Ray's reset_trial: true when the trainable can take the new config in
--- place (then trial.config and experiment_tag change), false otherwise.
function TrialExecutor:reset_trial(trial, new_config, new_experiment_tag)
  check_trial(trial, "reset_trial")
  local rc = self._core:reset(trial.trial_id, new_config, new_experiment_tag)
  if rc ~= 1 then return false end
  trial:set_config(new_config, new_experiment_tag)
  return true
end

--- True when the trial could ever run on the node(s); else false and what
--- it asked for against what exists.
function TrialExecutor:feasible(trial)
  return self._core:feasible(trial.placement_group_factory)
end

--- The engine's clock, in seconds: monotonic on a real backend, virtual
--- on the simulator's (`virtual_clock` true there).
function TrialExecutor:now() return self._core:now() end
TrialExecutor.virtual_clock = false

--- Which result loggers commit_results writes ({json = bool, csv = bool}).
function TrialExecutor:set_loggers(which) self._core:set_loggers(which) end
function TrialExecutor:forget_logs(trial) self._core:forget_logs(trial.trial_id) end
--- Writes the result rows the engine holds (commit_results groups them
--- until this, a save, the trial's logging's end or an idle wait; rows not
--- written: an ERROR event; docs/architecture.md).
function TrialExecutor:flush_logs() self._core:flush_logs() end
--- The experiment journal's handle (core.open_append, buffered): written before each row and wait.
function TrialExecutor:set_journal(handle) self._core:set_journal(handle) end
--- Trial results also go to the `--events` stream `target` (a file, or "-" for stdout), written by
--- the engine as they are committed; write_event(line) adds another event's line (warned once if it fails).
function TrialExecutor:set_event_stream(target) return self._core:set_event_stream(target) end
function TrialExecutor:write_event(line) self._core:write_event(line) end

--- The runner accepted results 1..n of the trial's last TRAINING_RESULT
--- batch: they are logged (result.json, progress.csv, `--events`), the
--- n-th with done = true when it was a STOP. Results after it never are.
function TrialExecutor:commit_results(trial, n, stopped)
  return self._core:commit(trial.trial_id, n, stopped and true or false)
end
--- SIGINT (unless `sigint` is false), SIGUSR1, SIGTERM end a blocked wait, until uninstalled.
function TrialExecutor:install_signals(sigint) self._core:install_signals(sigint) end
function TrialExecutor:uninstall_signals() self._core:uninstall_signals() end

function TrialExecutor:has_gpus()
  local total = self._core:resources()
  return (total.GPU or 0) > 0
end

--- True when every worker will see `dir` as the driver does (the Slurm
--- backend checks for a shared filesystem); else nil and why.
function TrialExecutor:check_dir(dir)
  return self._core:check_dir(dir)
end

--- Total and available resources of the node(s).
function TrialExecutor:resources()
  return self._core:resources()
end

function TrialExecutor:get_running_trials()
  local out = {}
  for id, t in pairs(self._trials) do
    if t.status == Trial.RUNNING and self._core:is_running(id) then out[#out + 1] = t end
  end
  return out
end

--- Blocks until the next event (or `timeout`, default TUNE_GET_EXECUTOR_EVENT_WAIT_S).
--- Returns {type=, trial=, result=, error=, traceback=, lost_rows=}: result is the list of
--- results (TRAINING_RESULT) or the checkpoint directory (SAVING_RESULT,
--- RESTORING_RESULT); lost_rows: an ERROR for rows not written.
function TrialExecutor:get_next_executor_event(live_trials, next_trial_exists, timeout)
  if timeout ~= nil and tonumber(timeout) ~= timeout then -- not a number, or NaN (tonumber: no type name made)
    error("get_next_executor_event: timeout must be a number of seconds, got " .. tostring(timeout), 2)
  end
  self:stage_and_update_status(live_trials or {})
  -- The engine sets ev.trial from the trials by id, and each result's
  -- config to the trial's.
  local t, id, trial, results, nested, dir, err, tb, lost = self._core:next_event(
    (next_trial_exists and not self:_take_stall()) and true or false, timeout or self.options.get_executor_event_wait_s, self._trials)
  local ev = {type = t, trial_id = id, trial = trial, results = results, nested = nested, result = results}
  if dir or err or tb or lost then
    ev.checkpoint_dir, ev.error, ev.traceback, ev.lost_rows, ev.result = dir, err, tb, lost, results or dir
  end
  return ev
end

--- Stops every worker and waits for them (killing after
--- force_trial_cleanup_s when set, or after `force_s` seconds when given:
--- an interrupted experiment), then gives every placement group back.
function TrialExecutor:cleanup(trials, force_s)
  self._core:cleanup(force_s)
  for id in pairs(self._memory) do self:_drop_memory_checkpoints(id, 0) end
end

--- Frees the executor. Returns true, or nil and a message when a libuv
--- handle was leaked.
function TrialExecutor:close()
  return self._core:close()
end
--- Whether close() was called (its methods then refuse).
function TrialExecutor:is_closed() return not pcall(self._core.now, self._core) end

TrialExecutor.__close = TrialExecutor.close

M.TrialExecutor = TrialExecutor
return M
