--- tune.TrialRunner: the experiment loop (Ray's TrialRunner). C owns the
--- event loop, the processes, the placement groups, the result hot path and
--- the writes; the decisions are made here: asking the search algorithm
--- for trials, the scheduler what to run and what each result means,
--- applying stoppers, calling callbacks, journaling every status change.
--- Every plug-in hook goes through core.call_hook (bindings/lplugin.c).
--- Hosts that step the loop themselves: runner:step() until
--- runner:is_finished().
local callback = require("tune.experiment.callback")
local ckpt = require("tune.executor.checkpoint")
local class = require("tune.class")
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, PAUSE, STOP, NOOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE,
  TrialScheduler.STOP, TrialScheduler.NOOP

local TrialRunner = class.class("TrialRunner")

--- A trial-level failure, raised inside result processing and turned into
--- the trial's ERROR (not the experiment's).
local TrialFailure = {}

--- TrialRunner{search_alg=, scheduler=, trial_executor=, stopper=,
--- callbacks=, metric=, mode=, experiment_dir=, checkpoint_period=,
--- fail_fast=, max_pending_trials=, store=}
function TrialRunner:__init(o)
  o = o or {}
  self.search_alg = o.search_alg or require("tune.search.basic_variant")()
  self.scheduler = o.scheduler or require("tune.schedulers.fifo")()
  self.trial_executor = o.trial_executor or require("tune.executor").TrialExecutor()
  self.stopper = o.stopper
  self.callbacks = callback.CallbackList(o.callbacks or {})
  self.metric = o.metric
  self.mode = o.mode
  self.experiment_dir = o.experiment_dir or o.local_checkpoint_dir
  self.checkpoint_period = o.checkpoint_period or 10
  self.fail_fast = o.fail_fast or false
  self.max_pending_trials = o.max_pending_trials or 16
  if self.experiment_dir then
    assert(core.mkdir_p(self.experiment_dir))
    self.store = o.store or persistence.Store(self.experiment_dir)
  end
  self.trials = {}
  self._by_id = {}
  self._live = {}          -- trials not finished, in order
  self._live_dirty = false
  self.iteration = 0
  self.total_time = 0
  self._cached_decisions = {}
  self._queued_decisions = {}
  self._journaled = {}     -- trial_id -> last journaled status
  self._has_errored = false
  self._should_stop_experiment = false
  self._last_checkpoint = -math.huge
  self._start_time = core.now()
  self.experiment_info = o.experiment_info or {}
  self.trial_executor:set_max_pending_trials(self.max_pending_trials)
  local want = self.callbacks:c_loggers()
  self.trial_executor:set_loggers(want)
end

--------------------------------------------------------------------------
-- Plug-in calls
--------------------------------------------------------------------------

local function hook(kind, plugin, name, judge, ...)
  local ok, v = core.call_hook(kind, plugin, name, judge, ...)
  if not ok then error(v, 0) end
  return v
end

function TrialRunner:_scheduler(name, judge, ...)
  return hook("scheduler", self.scheduler, name, judge, self, ...)
end

--------------------------------------------------------------------------
-- Trials
--------------------------------------------------------------------------

function TrialRunner:get_trials() return self.trials end
function TrialRunner:get_trial(trial_id) return self._by_id[trial_id] end

function TrialRunner:get_live_trials()
  if self._live_dirty then
    local live = {}
    for _, t in ipairs(self._live) do
      if not t:is_finished() then live[#live + 1] = t end
    end
    self._live = live
    self._live_dirty = false
  end
  return self._live
end

--- Journals what changed about a trial since it was last journaled: its
--- status (with its directory, known from its first start), and the
--- config, tag and resources a scheduler may change (PBT, resource
--- changing), compared by identity, which is cheap.
function TrialRunner:_journal_status(trial)
  local j = self._journaled[trial.trial_id]
  if not j then
    j = {}
    self._journaled[trial.trial_id] = j
  end
  if j.status ~= trial.status or j.logdir ~= trial.logdir then
    j.status, j.logdir = trial.status, trial.logdir
    if trial:is_finished() then self._live_dirty = true end
    if self.store then
      self.store:journal{event = "status", trial_id = trial.trial_id, status = trial.status,
        num_failures = trial.num_failures, error_msg = trial.error_msg, logdir = trial.logdir}
    end
  end
  if j.config ~= trial.config or j.tag ~= trial.experiment_tag or j.pgf ~= trial.placement_group_factory then
    local first = j.config == nil
    j.config, j.tag, j.pgf = trial.config, trial.experiment_tag, trial.placement_group_factory
    if self.store and not first then
      self.store:journal{event = "changed", trial_id = trial.trial_id, config = trial.config,
        experiment_tag = trial.experiment_tag, resources = trial.placement_group_factory._spec}
    end
  end
end

--- Journals changes plug-ins made directly (a scheduler setting a status
--- through the executor, PBT giving a trial a new config).
function TrialRunner:_journal_changes()
  for _, t in ipairs(self:get_live_trials()) do self:_journal_status(t) end
end

--- Adds a trial (Ray's add_trial): it is journaled, checked against the
--- node(s), and handed to the scheduler.
function TrialRunner:add_trial(trial, quiet)
  self.trials[#self.trials + 1] = trial
  self._by_id[trial.trial_id] = trial
  if not trial:is_finished() then self._live[#self._live + 1] = trial end
  if self.store and not quiet then
    self.store:journal{event = "trial_added", trial = persistence.serialize_trial(trial, self.experiment_dir)}
  end
  self._journaled[trial.trial_id] = {status = trial.status, logdir = trial.logdir, config = trial.config,
    tag = trial.experiment_tag, pgf = trial.placement_group_factory}
  if trial:is_finished() then return end
  local ok, why = self.trial_executor:feasible(trial)
  if not ok then
    -- It can never run: fail it now rather than leave it PENDING forever.
    trial:init_logdir()
    self:_fail(trial, string.format("trial %s can never run: %s", tostring(trial), why), true)
    return
  end
  self:_scheduler("on_trial_add", nil, trial)
end

--------------------------------------------------------------------------
-- The step
--------------------------------------------------------------------------

function TrialRunner:is_finished()
  for _, t in ipairs(self:get_live_trials()) do
    if not t:is_finished() then return false end
  end
  return self.search_alg:is_finished()
end

function TrialRunner:step()
  if self:is_finished() then error("TrialRunner:step() called when all trials finished", 2) end
  self.callbacks:call("on_step_begin", self.iteration, self.trials, {})
  local next_trial = self:_update_trial_queue_and_get_next_trial()
  self:_wait_and_handle_event(next_trial)
  self:_stop_experiment_if_needed()
  self:_journal_changes()
  self:checkpoint(false)
  self.iteration = self.iteration + 1
  self.trial_executor:on_step_end(self:get_live_trials())
  self.callbacks:call("on_step_end", self.iteration, self.trials, {})
end

function TrialRunner:_update_trial_queue_and_get_next_trial()
  local pending = 0
  for _, t in ipairs(self:get_live_trials()) do
    if t.status == Trial.PENDING then pending = pending + 1 end
  end
  while pending < self.max_pending_trials and not self.search_alg:is_finished() do
    local trial = self.search_alg:next_trial()
    if not trial then break end
    local known = self._by_id[trial.trial_id]
    if known then
      -- After a resume the search algorithm makes again trials the journal
      -- already has: the journal's copy is the trial.
      if known:is_finished() then self.search_alg:on_trial_complete(known.trial_id, known.last_result, false) end
    else
      self:add_trial(trial)
      pending = pending + 1
    end
  end
  return self:_scheduler("choose_trial_to_run", "table")
end

function TrialRunner:_wait_and_handle_event(next_trial)
  local ex = self.trial_executor
  local timeout = math.min(ex.options.get_executor_event_wait_s, 1.0)
  local ev = ex:get_next_executor_event(self:get_live_trials(), next_trial ~= nil, timeout)
  local t = ev.type
  if t == "PG_READY" then
    if next_trial then self:_start_trial(next_trial) end
  elseif t == "NO_RUNNING_TRIAL_TIMEOUT" or t == "YIELD" then
    return
  else
    local trial = ev.trial
    if not trial or not self._by_id[trial.trial_id] then return end
    if t == "ERROR" then
      self:_on_executor_error(trial, ev.error, ev.traceback)
    elseif t == "RESTORING_RESULT" then
      self:_on_restoring_result(trial)
    elseif t == "TRAINING_RESULT" then
      self:_on_training_result(trial, ev.result)
      self:_post_process(trial)
    elseif t == "SAVING_RESULT" then
      self:_on_saving_result(trial, ev.result)
      self:_post_process(trial)
    end
  end
end

function TrialRunner:_start_trial(trial)
  local prev = trial.status
  -- Decisions left from before a stop (a scheduler stopped the trial while
  -- it was saving) do not apply to this new start.
  self._cached_decisions[trial.trial_id] = nil
  self._queued_decisions[trial.trial_id] = nil
  if self.trial_executor:start_trial(trial) then
    if trial.logdir and prev == Trial.PENDING and not trial._params_written then
      core.write_atomic(util.join(trial.logdir, "params.json"), assert(core.json_encode(trial.config)))
      trial._params_written = true
    end
    self:_journal_status(trial)
    self.callbacks:call("on_trial_start", self.iteration, self.trials, trial, {})
    return true
  end
  if trial.status == Trial.ERROR then
    self:_after_failure(trial, true)
  end
  return false
end

--------------------------------------------------------------------------
-- Results
--------------------------------------------------------------------------

--- Results without nested tables are used as they are (no copy).
local function flat_view(result)
  for k, v in pairs(result) do
    if k ~= "config" and type(v) == "table" and getmetatable(v) == nil and next(v) ~= nil and #v == 0 then
      local f = util.flatten(result)
      for key in pairs(f) do
        if key:sub(1, 7) == "config/" then f[key] = nil end
      end
      f.config = result.config
      return f
    end
  end
  return result
end

local DEBUG_METRICS = {trial_id = true, experiment_id = true, date = true, timestamp = true,
  time_this_iter_s = true, time_total_s = true, pid = true, hostname = true, node_ip = true,
  config = true, time_since_restore = true, timesteps_since_restore = true,
  iterations_since_restore = true, warmup_time = true, done = true, training_iteration = true,
  experiment_tag = true, __duplicate__ = true, should_checkpoint = true}

--- Ray's _validate_result_metrics: a result that reports anything must
--- report the metric tune.run, the scheduler and the searcher expect.
function TrialRunner:_validate_metrics(trial, flat)
  if os.getenv("TUNE_DISABLE_STRICT_METRIC_CHECKING") == "1" then return end
  local reported = false
  for k in pairs(flat) do
    if not DEBUG_METRICS[k] then reported = true break end
  end
  if not reported then return end
  local checks = {
    {self.metric, "tune.run()"},
    {self.scheduler.metric, tostring(self.scheduler.__name or "the scheduler")},
    {self.search_alg.searcher and self.search_alg.searcher.metric, "the searcher"},
  }
  for _, c in ipairs(checks) do
    local m = c[1]
    if type(m) == "string" and m ~= "_metric" and util.get_path(flat, m) == nil then
      local keys = {}
      for k in pairs(flat) do if not DEBUG_METRICS[k] then keys[#keys + 1] = k end end
      table.sort(keys)
      error(setmetatable({msg = string.format(
        "trial %s returned a result without the metric %q that %s expects (it reported: %s). "
          .. "Make sure tune.report() includes it, or set TUNE_DISABLE_STRICT_METRIC_CHECKING=1.",
        tostring(trial), m, c[2], table.concat(keys, ", "))}, TrialFailure), 0)
    end
  end
end

function TrialRunner:_on_training_result(trial, results)
  local ok, err = pcall(function()
    for _, result in ipairs(results) do
      -- STOP ends the batch (Ray's _on_training_result); so does nil, a
      -- scheduled save. The results after it were already written to the
      -- trial's result.json by the C result sink (docs/reference/run.md).
      local decision = self:_process_trial_result(trial, result)
      if decision == nil or decision == STOP then break end
    end
  end)
  if not ok then
    local msg = type(err) == "table" and getmetatable(err) == TrialFailure and err.msg or tostring(err)
    self:_process_trial_failure(trial, msg)
  end
end

function TrialRunner:_process_trial_result(trial, result)
  local is_duplicate = result.__duplicate__
  local force_checkpoint = result.should_checkpoint and not is_duplicate
  if is_duplicate then
    result = util.merge(trial.last_result)
    result.done = true
  end
  self.total_time = self.total_time + (tonumber(result.time_this_iter_s) or 0)
  local flat = flat_view(result)
  self:_validate_metrics(trial, flat)
  local decision
  local stop = false
  if self.stopper then
    stop = hook("stopper", self.stopper, "__call", "boolean", trial.trial_id, flat)
      and true or false
  end
  local ok, should = pcall(trial.should_stop, trial, flat)
  if not ok then error(setmetatable({msg = tostring(should)}, TrialFailure), 0) end
  if stop or should then
    decision = STOP
  else
    decision = self:_scheduler("on_trial_result", "decision", trial, flat) or CONTINUE
  end
  if decision == STOP then
    result.done = true
  else
    self.search_alg:on_trial_result(trial.trial_id, flat)
  end
  if not is_duplicate then
    self.callbacks:call("on_trial_result", self.iteration, self.trials, trial, result, {})
    trial:update_last_result(result)
  elseif decision == STOP then
    trial.last_result.done = true
  end
  self:_checkpoint_trial_if_needed(trial, force_checkpoint)
  if trial:is_saving() then
    self._cached_decisions[trial.trial_id] = decision
    return nil
  end
  self:_queue_decision(trial, decision)
  return decision
end

function TrialRunner:_checkpoint_trial_if_needed(trial, force)
  local r = trial.last_result
  local at_end = trial.checkpoint_at_end and r.done
  if (trial:should_checkpoint() or at_end or force) and trial.status == Trial.RUNNING then
    -- Never twice for one iteration (the last result repeated when a
    -- function returns, checkpoint_freq meeting checkpoint_at_end).
    local it = r.training_iteration
    if it ~= nil and trial._checkpointed_iteration == it then return end
    trial._checkpointed_iteration = it
    self.trial_executor:save(trial, ckpt.CheckpointStorage.PERSISTENT)
  end
end

function TrialRunner:_queue_decision(trial, decision)
  local old = self._queued_decisions[trial.trial_id]
  if old == nil then
    self._queued_decisions[trial.trial_id] = decision
    return
  end
  if old == STOP then return end
  if decision == STOP or decision == PAUSE then self._queued_decisions[trial.trial_id] = decision end
end

function TrialRunner:_post_process(trial)
  if self._cached_decisions[trial.trial_id] ~= nil then return end
  local d = self._queued_decisions[trial.trial_id]
  self._queued_decisions[trial.trial_id] = nil
  if d then self:_execute_action(trial, d) end
end

function TrialRunner:_execute_action(trial, decision)
  if trial.status ~= Trial.RUNNING then return end
  if decision == CONTINUE then
    self.trial_executor:continue_training(trial)
  elseif decision == PAUSE then
    self:pause_trial(trial)
  elseif decision == STOP then
    self:stop_trial(trial)
  elseif decision ~= NOOP then
    error("invalid decision " .. tostring(decision))
  end
end

function TrialRunner:_on_saving_result(trial, dir)
  local c = trial.saving_to
  if not c then
    -- The trial was stopped while saving: its cached decision is void.
    self._cached_decisions[trial.trial_id] = nil
    return
  end
  c.dir_or_data = dir
  self.callbacks:call("on_checkpoint", self.iteration, self.trials, trial, c, {})
  trial:on_checkpoint(c)
  if self.store then
    self.store:journal{event = "checkpoint", trial_id = trial.trial_id, dir = dir,
      storage = c.storage_mode, metrics = c.metrics}
  end
  self.callbacks:call("on_trial_save", self.iteration, self.trials, trial, {})
  trial.saving_to = nil
  local d = self._cached_decisions[trial.trial_id]
  self._cached_decisions[trial.trial_id] = nil
  if d then self:_queue_decision(trial, d) end
end

function TrialRunner:_on_restoring_result(trial)
  trial:on_restore()
  self.callbacks:call("on_trial_restore", self.iteration, self.trials, trial, {})
  if trial.status == Trial.RUNNING then self.trial_executor:continue_training(trial) end
end

--------------------------------------------------------------------------
-- Failures
--------------------------------------------------------------------------

function TrialRunner:_on_executor_error(trial, msg, traceback)
  if traceback and traceback ~= "" and not msg:find(traceback, 1, true) then
    trial._last_traceback = traceback
  end
  if self.fail_fast == "raise" then
    local TuneError = require("tune.experiment.run").TuneError
    error(setmetatable({tune_error = true, trials = {trial},
      msg = string.format("trial %s failed: %s\n%s", tostring(trial), msg, traceback or "")}, TuneError), 0)
  end
  self:_process_trial_failure(trial, msg)
end

function TrialRunner:_should_recover(trial)
  return trial.max_failures < 0 or trial.num_failures < trial.max_failures
end

--- Ray's _process_trial_failure: retry from the last checkpoint while
--- max_failures allows, else the trial ends in ERROR.
function TrialRunner:_process_trial_failure(trial, msg)
  self._has_errored = true
  if trial.status ~= Trial.RUNNING then
    if trial.status == Trial.PAUSED then self:_fail(trial, msg) end
    return
  end
  if self:_should_recover(trial) then
    self:_try_recover(trial, msg)
  else
    self:_fail(trial, msg)
  end
end

--- Ends a trial in ERROR and tells everyone.
function TrialRunner:_fail(trial, msg, not_started)
  self._has_errored = true
  self._cached_decisions[trial.trial_id] = nil
  self._queued_decisions[trial.trial_id] = nil
  if not_started then
    trial:set_status(Trial.ERROR)
    trial:handle_error(msg)
    if trial.logdir then
      core.append(util.join(trial.logdir, "error.txt"),
        string.format("Failure (occurred at %s)\n%s\n", os.date("%Y-%m-%d %H:%M:%S"), msg))
    end
  else
    self.trial_executor:stop_trial(trial, true, msg)
  end
  self:_after_failure(trial)
end

function TrialRunner:_after_failure(trial)
  self._has_errored = true
  self:_journal_status(trial)
  self:_scheduler("on_trial_error", nil, trial)
  self.search_alg:on_trial_complete(trial.trial_id, nil, true)
  self.callbacks:call("on_trial_error", self.iteration, self.trials, trial, {})
end

function TrialRunner:_try_recover(trial, msg)
  self._cached_decisions[trial.trial_id] = nil
  self._queued_decisions[trial.trial_id] = nil
  trial.saving_to = nil
  self.trial_executor:stop_trial(trial, true, msg)
  self:_journal_status(trial)
  if self.trial_executor:has_resources_for_trial(trial) and self.trial_executor:start_trial(trial) then
    self:_journal_status(trial)
    return
  end
  if trial.status == Trial.ERROR and trial.logdir and trial.error_msg ~= msg then
    self:_after_failure(trial)
    return
  end
  -- Back in the queue: it restarts from its last checkpoint when it can.
  trial:set_status(Trial.PENDING)
  self:_journal_status(trial)
end

--------------------------------------------------------------------------
-- Stopping and pausing
--------------------------------------------------------------------------

--- Ray's stop_trial: the canonical way to end a trial, from any status.
function TrialRunner:stop_trial(trial)
  if trial:is_finished() then return end
  local ok, err = pcall(function()
    if trial.status == Trial.PENDING or trial.status == Trial.PAUSED then
      self:_scheduler("on_trial_remove", nil, trial)
      self.search_alg:on_trial_complete(trial.trial_id, nil, false)
    elseif trial.status == Trial.RUNNING then
      local flat = flat_view(trial.last_result)
      self:_scheduler("on_trial_complete", nil, trial, flat)
      self.search_alg:on_trial_complete(trial.trial_id, flat, false)
    end
    self.callbacks:call("on_trial_complete", self.iteration, self.trials, trial, {})
  end)
  self.trial_executor:stop_trial(trial)
  self.trial_executor:forget_logs(trial)
  self:_journal_status(trial)
  if not ok then
    -- A plug-in failed while the trial completed: the trial is failed.
    trial:set_status(Trial.RUNNING)
    self.trial_executor:stop_trial(trial, true, tostring(err))
    self:_journal_status(trial)
    self._has_errored = true
  end
end

function TrialRunner:pause_trial(trial)
  self.trial_executor:pause_trial(trial)
  self:_journal_status(trial)
end

--- Puts a paused or pending trial back to PENDING (schedulers use it).
function TrialRunner:requeue_trial(trial)
  self:_scheduler("on_trial_error", nil, trial)
  trial:set_status(Trial.PENDING)
  self:_journal_status(trial)
  self:_scheduler("on_trial_add", nil, trial)
end

--- Ask the experiment to end (Ray's request_stop_experiment).
function TrialRunner:request_stop_experiment()
  self._should_stop_experiment = true
end

function TrialRunner:_stop_experiment_if_needed()
  local stop_all = false
  if type(self.stopper) == "table" then
    stop_all = hook("stopper", self.stopper, "stop_all", "boolean") and true or false
  end
  local fail_fast = self.fail_fast and self._has_errored
  if stop_all or fail_fast or self._should_stop_experiment then
    self.search_alg:set_finished()
    for _, t in ipairs(self:get_live_trials()) do
      if not t:is_finished() then self:stop_trial(t) end
    end
  end
end

--------------------------------------------------------------------------
-- Persistence
--------------------------------------------------------------------------

local function save_plugin(kind, p)
  if type(p) ~= "table" then return nil end
  return hook(kind, p, "save", nil)
end

--- The experiment's state, as the snapshot stores it.
function TrialRunner:state()
  local trials = {}
  for i, t in ipairs(self.trials) do trials[i] = persistence.serialize_trial(t, self.experiment_dir) end
  return {
    name = self.experiment_info.name,
    experiment_dir = self.experiment_dir,
    metric = self.metric,
    mode = self.mode,
    trials = trials,
    runner = {iteration = self.iteration, total_time = self.total_time, has_errored = self._has_errored},
    stats = {start_time = self.experiment_info.start_time, trials = #self.trials},
    search_alg = self.search_alg:save(),
    scheduler = save_plugin("scheduler", self.scheduler),
    stopper = save_plugin("stopper", self.stopper),
  }
end

--- Snapshots the experiment (every checkpoint_period seconds, or now with
--- `force`). Returns the state file's path.
function TrialRunner:checkpoint(force)
  if not self.store then return nil end
  local now = core.now()
  if not force and now - self._last_checkpoint < self.checkpoint_period then return nil end
  self._last_checkpoint = now
  local path, err = self.store:snapshot(self:state())
  if not path then
    io.stderr:write("tunelua warning: experiment checkpoint failed: ", tostring(err), "\n")
  end
  self.checkpoint_file = path or self.checkpoint_file
  return path
end

--- Restores the experiment from its directory (resume). `mode`: "LOCAL"
--- or "ERRORED_ONLY". Returns true, or nil and a message.
function TrialRunner:resume(mode)
  local state, entries = persistence.load(self.experiment_dir)
  if not state then return nil, entries end
  local by_id, order = {}, {}
  for _, s in ipairs(state.trials) do
    by_id[s.trial_id] = s
    order[#order + 1] = s.trial_id
  end
  local ckpts = {}
  for _, e in ipairs(entries) do
    if e.event == "trial_added" and type(e.trial) == "table" then
      if not by_id[e.trial.trial_id] then order[#order + 1] = e.trial.trial_id end
      by_id[e.trial.trial_id] = e.trial
    elseif e.event == "status" and by_id[e.trial_id] then
      by_id[e.trial_id].status = e.status
      by_id[e.trial_id].num_failures = e.num_failures
      by_id[e.trial_id].error_msg = e.error_msg
      if e.logdir and e.logdir ~= core.null then by_id[e.trial_id].logdir = e.logdir end
    elseif e.event == "changed" and by_id[e.trial_id] then
      local s = by_id[e.trial_id]
      s.config, s.experiment_tag, s.resources = e.config, e.experiment_tag, e.resources
    elseif e.event == "checkpoint" then
      ckpts[e.trial_id] = ckpts[e.trial_id] or {}
      table.insert(ckpts[e.trial_id], e)
    end
  end
  self.store.seq = 0
  for _, e in ipairs(entries) do self.store.seq = math.max(self.store.seq, e.seq) end
  self.store.seq = math.max(self.store.seq, state.journal_seq or 0)
  local restored = {}
  for _, id in ipairs(order) do
    local ok, t = pcall(persistence.deserialize_trial, by_id[id], self.experiment_dir)
    if not ok then return nil, "cannot restore trial " .. tostring(id) .. ": " .. tostring(t) end
    for _, c in ipairs(ckpts[id] or {}) do persistence.register_checkpoint(t, c, self.experiment_dir) end
    for _, c in ipairs(persistence.unregistered_checkpoints(t)) do
      persistence.register_checkpoint(t, c)
      self.store:journal{event = "checkpoint", trial_id = t.trial_id, dir = c.dir, storage = c.storage,
        metrics = c.metrics}
    end
    local last = persistence.last_logged_result(t)
    if last then t.last_result = last end
    -- Memory checkpoints died with the driver that held them.
    persistence.remove_memory_checkpoints(t)
    if t.status == Trial.RUNNING then t.status = Trial.PENDING end
    if t.status == Trial.ERROR and mode == "ERRORED_ONLY" then
      t.status = Trial.PENDING
      t.num_failures = 0
      t.error_msg = nil
    end
    restored[#restored + 1] = t
  end
  -- Plug-in state first, then the trials (schedulers must accept trials
  -- they already know again: on_trial_add is idempotent by trial id).
  if state.search_alg ~= nil and state.search_alg ~= core.null then self.search_alg:restore(state.search_alg) end
  if type(self.scheduler) == "table" and state.scheduler ~= nil and state.scheduler ~= core.null then
    hook("scheduler", self.scheduler, "restore", nil, state.scheduler)
  end
  if type(self.stopper) == "table" and state.stopper ~= nil and state.stopper ~= core.null then
    hook("stopper", self.stopper, "restore", nil, state.stopper)
  end
  local runner = type(state.runner) == "table" and state.runner or {}
  self.iteration = runner.iteration or 0
  self.total_time = runner.total_time or 0
  for _, t in ipairs(restored) do
    self:add_trial(t, true)
    self:_journal_status(t)
  end
  -- The search algorithm's state is the snapshot's: replay what happened
  -- after it, in order, so it is where it was when the driver died (it
  -- makes the trials added since again, and learns of the ones finished).
  for _, e in ipairs(entries) do
    if e.event == "trial_added" and type(e.trial) == "table" then
      local t = self._by_id[e.trial.trial_id]
      if t and self.search_alg.replay_added then self.search_alg:replay_added(t) end
    elseif e.event == "status" and (e.status == Trial.TERMINATED or e.status == Trial.ERROR) then
      local t = self._by_id[e.trial_id]
      if t then
        self.search_alg:on_trial_complete(t.trial_id, flat_view(t.last_result), e.status == Trial.ERROR)
      end
    end
  end
  self.resumed = true
  return true
end

--- Stops every worker and waits for them.
function TrialRunner:cleanup()
  self.trial_executor:cleanup(self.trials)
end

--- Resource usage, for the progress report.
function TrialRunner:resource_string()
  local total, avail = self.trial_executor:resources()
  local function used(k) return (total[k] or 0) - (avail[k] or 0) end
  local parts = {string.format("%g/%g CPUs, %g/%g GPUs", used("CPU"), total.CPU or 0, used("GPU"), total.GPU or 0)}
  for k, v in pairs(total) do
    if k ~= "CPU" and k ~= "GPU" and k ~= "memory" then parts[#parts + 1] = string.format("%g/%g %s", used(k), v, k) end
  end
  return "Resources requested: " .. table.concat(parts, ", ")
end

function TrialRunner:debug_string()
  local ok, s = core.call_hook("scheduler", self.scheduler, "debug_string", nil)
  return table.concat({ok and s or "", self:resource_string()}, "\n")
end

TrialRunner.TrialFailure = TrialFailure
return TrialRunner
