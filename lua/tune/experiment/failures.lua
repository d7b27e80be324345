--- TrialRunner's failure handling (Ray's _process_trial_failure): a trial
--- that fails is retried from its last checkpoint while max_failures
--- allows, else it ends in ERROR and the scheduler, the search algorithm
--- and the callbacks are told. Methods of TrialRunner (runner.lua installs
--- them). The error file is written by Trial:handle_error alone.
local Trial = require("tune.experiment.trial").Trial
local tune_error = require("tune.experiment.results").tune_error

local M = {}
local R = {}
M.methods = R

--- `lost_rows`: the trial's result rows could not be written (an ERROR
--- event's field), which also fails a trial that had ended.
function R:_on_executor_error(trial, msg, traceback, lost_rows)
  self:_process_trial_failure(trial, msg, traceback, lost_rows)
end

function R:_should_recover(trial)
  return trial.max_failures < 0 or trial.num_failures < trial.max_failures
end

--- Takes back a trial add_trial had added when the scheduler refused it
--- (nothing of it was journaled), and raises `err`. The search algorithm
--- made it already: the snapshots from here on (took_back) keep its state
--- from before, so a resume makes the trial again.
function R:_forget_trial(trial, err)
  for _, list in ipairs({self.trials, self._live, self._changes}) do
    for i = #list, 1, -1 do if list[i] == trial then table.remove(list, i) end end
  end
  self._changes[trial] = nil
  self._by_id[trial.trial_id] = nil
  trial._changes = nil
  self.took_back = true
  error(err, 0)
end

--- Moves a live trial to the end of the trials (and of the live ones).
function R:_to_back(trial)
  for _, list in ipairs({self.trials, self._live}) do
    for i, t in ipairs(list) do
      if t == trial then
        table.remove(list, i)
        list[#list + 1] = trial
        break
      end
    end
  end
end

--- Ray's _process_trial_failure: retry from the last checkpoint while
--- max_failures allows, else the trial ends in ERROR.
function R:_process_trial_failure(trial, msg, traceback, lost_rows)
  self._has_errored = true
  if trial.status == Trial.PENDING then
    -- Its resources can never be had (a reservation the backend refused).
    pcall(trial.init_logdir, trial) -- for its error.txt, where it can be made
    self:_fail(trial, msg, traceback, true)
    return
  end
  if lost_rows and trial.status == Trial.TERMINATED then return self:_fail_ended(trial, msg, traceback) end
  if trial.status ~= Trial.RUNNING then
    if trial.status == Trial.PAUSED then self:_fail(trial, msg, traceback) end
    return
  end
  if self:_should_recover(trial) then
    self:_try_recover(trial, msg, traceback)
  else
    self:_fail(trial, msg, traceback)
  end
end

--- A trial that had ended lost its last result rows (the engine writes
--- them behind the driver, so it learns of that after the end): it failed
--- after all, in ERROR with its error file, and counts as a failure. It is
--- not run again (the scheduler and the search algorithm have it
--- complete); resume = "ERRORED_ONLY" restarts it from its checkpoint.
function R:_fail_ended(trial, msg, traceback)
  trial:set_status(Trial.ERROR)
  trial:handle_error(msg, traceback)
  self:_journal_status(trial)
  self.callbacks:call("on_trial_error", self.iteration, self.trials, trial, {})
  if self.fail_fast == "raise" then
    error(tune_error(string.format("trial %s failed: %s", tostring(trial), msg), {trial}), 0)
  end
end

--- After the loop: the rows the engine holds are written, and a trial
--- whose rows could not be (its ERROR event, queued by the engine) has
--- failed, before the final snapshot and the run's outcome.
function R:settle_logs()
  local ex = self.trial_executor
  if not ex.flush_logs then return end
  ex:flush_logs()
  -- What is left queued: a few events per trial at most (a bound for an
  -- executor of the host's own that would never say it is idle).
  for _ = 1, 4 * #self.trials + 16 do
    local ev = ex:get_next_executor_event(nil, false, 0)
    if ev.type == "YIELD" or ev.type == "NO_RUNNING_TRIAL_TIMEOUT" then return end
    local trial = ev.type == "ERROR" and self._by_id[ev.trial_id]
    if trial then self:_on_executor_error(trial, ev.error, ev.traceback, ev.lost_rows) end
  end
end

--- Ends a trial in ERROR and tells everyone. `not_started`: the trial never
--- had a worker (it can never run).
function R:_fail(trial, msg, traceback, not_started)
  self._has_errored = true
  self:forget_decisions(trial)
  if not_started then
    trial:set_status(Trial.ERROR)
    trial:handle_error(msg, traceback)
  else
    self.trial_executor:stop_trial(trial, true, msg, traceback)
  end
  self:_after_failure(trial)
  -- fail_fast = "raise" (max_failures is 0): the failure is recorded
  -- (ERROR, error.txt, the journal) before it is raised. That of a trial
  -- that can never run (which went unraised) is raised at the end of the
  -- step: it fails while trials are added, a resume's among them.
  if self.fail_fast == "raise" then
    local err = tune_error(string.format("trial %s failed: %s\n%s", tostring(trial), msg, traceback or ""), {trial})
    if not not_started then error(err, 0) end
    self._fail_fast_error = self._fail_fast_error or err
  end
end

--- Ray's _on_pg_ready: the chosen trial starts. When it cannot (its group
--- is not ready), a waiting trial whose group or cached worker is ready
--- starts instead: a large trial first in the queue no longer blocks the
--- smaller ones staged behind it, whose groups hold what it lacks. When
--- none can, cached workers no waiting trial will use are stopped (their
--- resources go to the waiting ones), and the executor's next wait is for
--- an event, not for a group left that none can use: a deadlock or a busy
--- loop otherwise.
function R:_on_pg_ready(next_trial)
  if self:_start_trial(next_trial) or next_trial.status ~= Trial.PENDING and next_trial.status ~= Trial.PAUSED then return end
  local ex = self.trial_executor
  if not ex.has_ready then return end
  local live = self:get_live_trials()
  -- (PENDING ones only, as Ray's get_staged_trial: a PAUSED trial waits
  -- for its scheduler, synch PBT's at the sync point.)
  for i = 1, #live do
    local t = live[i]
    if t ~= next_trial and t.status == Trial.PENDING and (ex:has_ready(t) or ex.has_cached and ex:has_cached(t)) then
      if self:_start_trial(t) then return end
    end
  end
  if ex.trim_cache then ex:trim_cache(live) end
  -- A group or worker still there that none can use: the next wait would
  -- answer PG_READY at once, again and again. (None: it ends when one is.)
  local c = ex.pg_counts and ex:pg_counts()
  if ex.stall and (not c or c.ready + c.cached > 0) then ex:stall() end
end

function R:_after_failure(trial)
  self._has_errored = true
  self:_journal_status(trial)
  self:_scheduler("on_trial_error", nil, trial)
  self:_search("on_trial_complete", nil, trial.trial_id, nil, true)
  self.callbacks:call("on_trial_error", self.iteration, self.trials, trial, {})
end

function R:_try_recover(trial, msg, traceback)
  self:forget_decisions(trial)
  trial.saving_to = nil
  -- It runs again from its checkpoint: the iterations after it come again
  -- and are saved again when due (a failed save is not "saved").
  trial._checkpointed_iteration = nil
  self.trial_executor:stop_trial(trial, true, msg, traceback)
  self:_journal_status(trial)
  -- The failure recorded (num_failures, error_msg), before it starts again.
  self.callbacks:call("on_trial_recover", self.iteration, self.trials, trial, {})
  if self.trial_executor:has_resources_for_trial(trial) and self.trial_executor:start_trial(trial) then
    self:_journal_status(trial)
    return
  end
  if trial.status == Trial.ERROR and trial.logdir and trial.error_msg ~= msg then
    self:_after_failure(trial)
    return
  end
  -- Back in the queue (Ray's _requeue_trial): the scheduler is told of
  -- the error, then sees the trial added again, at the end of the queue
  -- (restoring can be expensive); it restarts from its last checkpoint
  -- when it can. The search algorithm is not told: the evaluation goes on.
  self:_scheduler("on_trial_error", nil, trial)
  trial:set_status(Trial.PENDING)
  self:_journal_status(trial)
  self:_to_back(trial)
  self:_scheduler("on_trial_add", nil, trial)
end

--- Stops a trial the experiment's end leaves unfinished (a stopper's
--- stop_all, fail_fast, request_stop_experiment) as Ray's executor does:
--- TERMINATED, and no plug-in is told (a trial that never started does not
--- "complete"; the search algorithm was told set_finished).
function R:_stop_at_end(trial)
  self.trial_executor:stop_trial(trial)
  self.trial_executor:forget_logs(trial)
  self:_journal_status(trial)
end

return M
