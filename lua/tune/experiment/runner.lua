--- tune.TrialRunner: the experiment loop (Ray's TrialRunner). C owns the
--- event loop, the processes, the placement groups and the writes; the
--- decisions are made here: asking the search algorithm for trials, the
--- scheduler what to run and what each result means (results.lua),
--- applying stoppers, calling callbacks, handling failures (failures.lua),
--- journaling every status change and resuming (resume.lua). Every
--- plug-in hook goes through tune.experiment.plugin. Hosts that step the
--- loop themselves: runner:step() until runner:is_finished().
local callback = require("tune.experiment.callback")
local class = require("tune.class")
local core = require("tune.core")
local plugin = require("tune.experiment.plugin")
local persistence = require("tune.experiment.persistence")
local results = require("tune.experiment.results")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial
local base_choose = require("tune.schedulers.trial_scheduler").choose_trial_to_run

local TrialRunner = class.class("TrialRunner")

-- A trial added with more than this many pending before it starts after
-- as many others: its directory job can wait for a batch (fsprep.h's
-- TUNE_FSPREP_BATCH, 4) before the directory thread is woken.
local LAZY_PENDING = 8
for _, part in ipairs({results, (require("tune.experiment.failures")), (require("tune.experiment.resume"))}) do
  for name, f in pairs(part.methods) do TrialRunner[name] = f end
end

--- TrialRunner{search_alg=, scheduler=, trial_executor=, stopper=,
--- callbacks=, metric=, mode=, experiment_dir=, checkpoint_period=,
--- fail_fast=, max_pending_trials=, store=, background_snapshots=}
--- background_snapshots: periodic snapshots are committed (fsync, rename,
--- removal of the one before) on the directory thread while the loop goes
--- on; forced ones (checkpoint(true)) wait for it. tune.run sets it, as it
--- ends with a forced snapshot.
function TrialRunner:__init(o)
  o = o or {}
  self.search_alg = o.search_alg or require("tune.search.basic_variant")()
  self.scheduler = o.scheduler or require("tune.schedulers.fifo")()
  self.trial_executor = o.trial_executor or require("tune.executor").TrialExecutor()
  self.stopper = o.stopper
  -- Table plug-ins: the result path reads their hooks (results.lua; a no-op or base hook is not called).
  self._table_scheduler = type(self.scheduler) == "table" and self.scheduler or nil
  self._table_search_alg = type(self.search_alg) == "table" and self.search_alg or nil
  self.trials = {}
  self.callbacks = callback.CallbackList(o.callbacks or {}, self.trials)
  self.metric = o.metric
  self.mode = o.mode
  self.experiment_dir = o.experiment_dir or o.local_checkpoint_dir
  self.checkpoint_period = o.checkpoint_period or 10
  self.fail_fast = o.fail_fast or false
  self.max_pending_trials = o.max_pending_trials or 16
  self.background_snapshots = o.background_snapshots or false
  if self.experiment_dir then
    assert(core.mkdir_p(self.experiment_dir))
    self.store = o.store or persistence.Store(self.experiment_dir)
  end
  self._by_id, self._live = {}, {} -- the trials by id; those not finished, in order
  self._ended = {}         -- trials journaled as finished, still in _live
  self.iteration = 0
  self.total_time = 0
  self._cached_decisions, self._queued_decisions = {}, {}
  self._journaled = {}     -- trial_id -> last journaled status
  self._changes = {}       -- trials whose status/config/resources changed (Trial.changed), in order
  self._npending = 0       -- PENDING trials, as journaled
  self._has_errored = false
  self._should_stop_experiment = false
  self._last_checkpoint = -math.huge
  self._start_time = core.now()
  self.experiment_info = o.experiment_info or {}
  self.trial_executor:set_max_pending_trials(self.max_pending_trials)
  local ex = self.trial_executor
  ex:set_loggers(self.callbacks:c_loggers())
  -- A snapshot finds the result logs current (the engine groups their
  -- writes; docs/architecture.md, "Result logs").
  if self.store and ex.flush_logs then
    self.store.before_snapshot = function() ex:flush_logs() end
  end
  if self.store and ex.set_journal then
    self.store:on_journal_open(function(f) ex:set_journal(f) end)
  end
  local events = self.callbacks:event_stream(ex)
  if events and ex.set_event_stream then assert(ex:set_event_stream(events)) end
end

--------------------------------------------------------------------------
-- Plug-in calls
--------------------------------------------------------------------------

function TrialRunner:_scheduler(name, judge, ...)
  return plugin.must("scheduler", self.scheduler, name, judge, self, ...)
end

--- The search algorithm's hooks (SearchGenerator, BasicVariantGenerator or a user's own) go through the same adapter.
function TrialRunner:_search(name, judge, ...)
  return plugin.must("search algorithm", self.search_alg, name, judge, ...)
end

--------------------------------------------------------------------------
-- Trials
--------------------------------------------------------------------------

function TrialRunner:get_trials() return self.trials end
function TrialRunner:get_trial(trial_id) return self._by_id[trial_id] end

function TrialRunner:get_live_trials()
  local ended = self._ended
  if ended[1] ~= nil then
    -- Those journaled as finished leave, unless requeued since (a retry);
    -- the rest keep their order, which the scheduler picks in.
    local live = self._live
    for j = 1, #ended do
      local t = ended[j]
      ended[j] = nil
      local s = t.status
      if s == Trial.TERMINATED or s == Trial.ERROR then
        for i = 1, #live do
          if live[i] == t then
            table.remove(live, i)
            break
          end
        end
      end
    end
  end
  return self._live
end

--- Adds a trial (Ray's add_trial): journaled, checked against the node(s), handed to the scheduler.
function TrialRunner:add_trial(trial, quiet)
  local known = self._by_id[trial.trial_id] -- (two of one id jammed the loop, blaming the scheduler)
  if known ~= nil and known ~= trial then error("add_trial: the experiment has a trial of id " .. trial.trial_id, 2) end
  self.trials[#self.trials + 1] = trial
  self._by_id[trial.trial_id] = trial
  trial._changes = self._changes
  local finished = trial:is_finished()
  if not finished then self._live[#self._live + 1] = trial end
  local ok, why = true, nil
  if not finished then ok, why = self.trial_executor:feasible(trial) end
  -- The scheduler before the journal: its on_trial_add may complete the config in place (PBT's
  -- mutations), which the journal and params.json then hold; one it refuses (PB2's) is taken back.
  if ok and not finished then
    local added, err = pcall(self._scheduler, self, "on_trial_add", nil, trial)
    if not added then self:_forget_trial(trial, err) end
  end
  if self.store and not quiet then
    self.store:journal{event = "trial_added", trial = persistence.serialize_trial(trial, self.experiment_dir)}
  end
  self:_note_journaled(trial)
  if trial.status == Trial.PENDING then self._npending = self._npending + 1 end
  if finished then return end
  if not ok then
    pcall(trial.init_logdir, trial) -- it can never run: failed now rather than left PENDING forever
    return self:_fail(trial, string.format("trial %s can never run: %s", tostring(trial), why), nil, true)
  end
  -- Its directory is made on the directory thread while it waits (lazily behind many pending).
  if self.store and trial.status == Trial.PENDING then trial:prepare_logdir(self._npending > LAZY_PENDING) end
end

--------------------------------------------------------------------------
-- The step
--------------------------------------------------------------------------

function TrialRunner:is_finished()
  -- Asked before every step: the status read directly (a trial's methods
  -- are found through its __index function).
  local live = self._ended[1] == nil and self._live or self:get_live_trials() -- (the list itself when none ended)
  for i = 1, #live do
    local s = live[i].status
    if s ~= Trial.TERMINATED and s ~= Trial.ERROR then return false end
  end
  return self:_search("is_finished", "boolean") and true or false
end

function TrialRunner:step()
  if self:is_finished() then error("TrialRunner:step() called when all trials finished", 2) end
  self:_step()
end

--- The step, for a loop that has just seen is_finished() false (tune.run's).
function TrialRunner:_step()
  local callbacks, hooked = self.callbacks, self.callbacks.hooked -- has()'s answers: no call once known false
  if hooked.on_step_begin ~= false and callbacks:has("on_step_begin") then callbacks:call("on_step_begin", self.iteration, self.trials, {}) end
  local next_trial = self:_update_trial_queue_and_get_next_trial()
  self:_wait_and_handle_event(next_trial)
  -- (A no-op unless one of these is set: not called then.)
  if self._fail_fast_error or self.stopper ~= nil or self.fail_fast or self._should_stop_experiment then self:_stop_experiment_if_needed() end
  if self._changes[1] ~= nil then self:_journal_changes() end -- (a no-op with no change)
  self:checkpoint(false)
  self.iteration = self.iteration + 1
  self.trial_executor:on_step_end(self._ended[1] == nil and self._live or self:get_live_trials())
  if hooked.on_step_end ~= false and callbacks:has("on_step_end") then callbacks:call("on_step_end", self.iteration, self.trials, {}) end
end

function TrialRunner:_update_trial_queue_and_get_next_trial()
  if self._changes[1] ~= nil then self:_journal_changes() end
  local pending = self._npending
  while pending < self.max_pending_trials and not self:_search("is_finished", "boolean") do
    local trial = self:_search("next_trial", "table")
    if not trial then break end
    local known = self._by_id[trial.trial_id]
    if known then
      -- After a resume the search algorithm makes again trials the journal
      -- already has: the journal's copy is the trial.
      if known:is_finished() then self:_search("on_trial_complete", nil, known.trial_id, known.last_result, false) end
    else
      self:add_trial(trial)
      pending = pending + 1
    end
  end
  -- A scheduler without the hook (a plain table of hooks) gets the base class's FIFO choice, as for
  -- every other hook; the base's own (FIFO's, ASHA's) is called as directly, every step.
  local choose = self.scheduler.choose_trial_to_run
  if choose == nil or choose == base_choose then return base_choose(self.scheduler, self) end
  local trial = self:_scheduler("choose_trial_to_run", "table")
  -- Only a waiting trial of this experiment can start (another choice
  -- was started over and over, or crashed in the executor).
  if trial ~= nil and (self._by_id[trial.trial_id] ~= trial or (trial.status ~= Trial.PENDING and trial.status ~= Trial.PAUSED)) then
    error(string.format("scheduler %s: choose_trial_to_run returned %s, where a PENDING or PAUSED trial of the "
      .. "experiment (or nil) was expected", plugin.name(self.scheduler), self._by_id[trial.trial_id] == trial
      and string.format("trial %s, which is %s", tostring(trial), tostring(trial.status)) or "a table that is not one of its trials"), 0)
  end
  return trial
end

function TrialRunner:_wait_and_handle_event(next_trial)
  local ex = self.trial_executor
  local live = self._ended[1] == nil and self._live or self:get_live_trials()
  if next_trial == nil and #live == 0 and self:_search("is_finished", "boolean") then
    -- Nothing runs and nothing will: the experiment is over, no event comes.
    return
  end
  if next_trial and next_trial.status == Trial.PENDING and rawget(next_trial, "logdir") == nil then
    -- The trial to run next gets its directory now, while the driver would
    -- wait anyway: when a slot frees, its start makes no directory
    -- (docs/architecture.md). A failure is left to the start.
    if pcall(next_trial.init_logdir, next_trial) then next_trial._premade_logdir = true end
  end
  local timeout = math.min(ex.options.get_executor_event_wait_s, 1.0)
  local ev = ex:get_next_executor_event(live, next_trial ~= nil, timeout)
  local t = ev.type
  if t == "PG_READY" then
    if next_trial then self:_on_pg_ready(next_trial) end
  elseif t == "NO_RUNNING_TRIAL_TIMEOUT" or t == "YIELD" then
    return
  else
    -- A trial never started (its reservation failed) is known by id only.
    local trial = ev.trial or self._by_id[ev.trial_id]
    if not trial or not self._by_id[trial.trial_id] then return end
    if t == "ERROR" then
      self:_on_executor_error(trial, ev.error, ev.traceback, ev.lost_rows)
    elseif t == "RESTORING_RESULT" then
      self:_on_restoring_result(trial)
    elseif t == "TRAINING_RESULT" then
      self:_on_training_result(trial, ev.result, ev.nested)
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
  self:forget_decisions(trial)
  -- Restored by a resume: the rows after its checkpoint go now (_repair_trial).
  local upto = rawget(trial, "_trim_logs_to")
  if upto ~= nil then
    trial._trim_logs_to = nil
    persistence.trim_logs(trial, upto)
  end
  local started = self.trial_executor:start_trial(trial, self:_batch_cap(trial, trial.last_result))
  -- Its directory is its own once it ran or failed (an error.txt); a trial
  -- still waiting for resources keeps it as made ahead.
  if trial.status ~= Trial.PENDING then trial._premade_logdir = nil end
  if started then
    if trial.logdir and not rawequal(rawget(trial, "_params_of"), trial.config) then
      -- At a start with a config it does not hold (Ray's log_trial_start;
      -- PBT's exploit), in place, not synced: resume reads the journal.
      core.write_file(util.join(trial.logdir, "params.json"), assert(core.json_encode(trial.config)))
      trial._params_of = trial.config
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
-- Stopping and pausing
--------------------------------------------------------------------------

--- Ray's stop_trial: the canonical way to end a trial, from any status.
function TrialRunner:stop_trial(trial)
  if trial:is_finished() then return end
  local ok, err = pcall(function()
    if trial.status == Trial.PENDING or trial.status == Trial.PAUSED then
      self:_scheduler("on_trial_remove", nil, trial)
      self:_search("on_trial_complete", nil, trial.trial_id, nil, false)
    elseif trial.status == Trial.RUNNING then
      local flat = results.flat_view(trial.last_result)
      self:_scheduler("on_trial_complete", nil, trial, flat)
      self:_search("on_trial_complete", nil, trial.trial_id, flat, false)
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
  if trial.status ~= Trial.PAUSED and trial.status ~= Trial.PENDING then
    -- A running one would keep its worker and resources (waited for forever).
    error(string.format("requeue_trial: trial %s is %s: only a PAUSED or PENDING trial can be requeued",
      tostring(trial), tostring(trial.status)), 2)
  end
  self:_scheduler("on_trial_error", nil, trial)
  trial:set_status(Trial.PENDING)
  self:_journal_status(trial)
  self:_scheduler("on_trial_add", nil, trial)
end

--- Ask the experiment to end (Ray's request_stop_experiment).
function TrialRunner:request_stop_experiment() self._should_stop_experiment = true end

function TrialRunner:_stop_experiment_if_needed()
  if self._fail_fast_error then error(self._fail_fast_error, 0) end
  local stop_all = type(self.stopper) == "table" and plugin.must("stopper", self.stopper, "stop_all", "boolean")
  local fail_fast = self.fail_fast and self._has_errored
  if stop_all or fail_fast or self._should_stop_experiment then
    self:_search("set_finished", nil)
    for _, t in ipairs(self:get_live_trials()) do
      if not t:is_finished() then self:_stop_at_end(t) end
    end
  end
end

--- A trial that never started keeps no directory made for it ahead of its
--- start (empty; removed before the final snapshot).
function TrialRunner:drop_premade_logdirs()
  for _, t in ipairs(self.trials) do t:drop_prepared_logdir() end
end

--- Stops every worker and waits for them.
function TrialRunner:cleanup(force_s)
  self.trial_executor:cleanup(self.trials, force_s)
end

--- Resource usage, for the progress report.
function TrialRunner:resource_string()
  -- What running trials hold (Ray's occupied resources): a finished
  -- trial's reservation a cached worker keeps is not in use.
  local total, held = self.trial_executor:resources(), {}
  for _, t in ipairs(self:get_live_trials()) do
    if t.status == Trial.RUNNING and t.placement_group_factory then
      for k, v in pairs(t.placement_group_factory:required_resources()) do held[k] = (held[k] or 0) + v end
    end
  end
  local function used(k) return held[k] or 0 end
  local parts = {string.format("%g/%g CPUs, %g/%g GPUs", used("CPU"), total.CPU or 0, used("GPU"), total.GPU or 0)}
  for k, v in pairs(total) do
    if k ~= "CPU" and k ~= "GPU" and k ~= "memory" then parts[#parts + 1] = string.format("%g/%g %s", used(k), v, k) end
  end
  return "Resources requested: " .. table.concat(parts, ", ")
end

--- The scheduler's line and the resources' (Ray's sys_info, two strings):
--- only the progress report's first lines, so a failure is said once, not raised.
function TrialRunner:debug_strings()
  local ok, s = plugin.call("scheduler", self.scheduler, "debug_string", "string")
  if not ok and not self._debug_warned then
    self._debug_warned = io.stderr:write("tunelua warning: ", s:match("^[^\n]*"), "\n")
  end
  return ok and s or "", self:resource_string()
end
function TrialRunner:debug_string() return table.concat({self:debug_strings()}, "\n") end
TrialRunner.TrialFailure = results.TrialFailure
return TrialRunner
