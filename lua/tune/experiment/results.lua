--- TrialRunner's result path (Ray's _on_training_result and
--- _process_trial_result): each result is validated, shown to the stoppers
--- and the scheduler, whose decision (CONTINUE / PAUSE / STOP) is queued
--- and applied once any save it waits for has completed. These are methods
--- of TrialRunner (runner.lua installs them).
local ckpt = require("tune.executor.checkpoint")
local plugin = require("tune.experiment.plugin")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, PAUSE, STOP, NOOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE,
  TrialScheduler.STOP, TrialScheduler.NOOP
local trial_should_stop, trial_should_checkpoint = Trial.should_stop, Trial.should_checkpoint
local base_on_result, noop = TrialScheduler.on_trial_result, util.noop

local M = {}
local R = {}     -- methods
M.methods = R
-- The result path's own steps, called as locals (not looked up through the
-- runner's class for each result); each is also the runner's method.
local process_batch, process_trial_result, batch_cap, checkpoint_if_needed, queue_decision

--- A trial-level failure, raised inside result processing and turned into
--- the trial's ERROR (not the experiment's).
local TrialFailure = {}
M.TrialFailure = TrialFailure

function M.trial_failure(msg)
  return setmetatable({msg = msg}, TrialFailure)
end

--- A TuneError: what tune.run raises when trials failed (the CLI exits 1),
--- and what fail_fast = "raise" raises for the first failure.
local TuneError = {}
TuneError.__index = TuneError
TuneError.__tostring = function(e) return e.msg end
M.TuneError = TuneError

function M.tune_error(msg, trials)
  return setmetatable({msg = msg, trials = trials, tune_error = true}, TuneError)
end

--- The message of an error raised while processing a result.
function M.failure_message(err)
  if type(err) == "table" and getmetatable(err) == TrialFailure then return err.msg end
  return tostring(err)
end

--- A result as stoppers and schedulers see it: nested tables flattened
--- with "/" (Ray's flatten_dict). Results without nested tables are used as
--- they are (no copy).
function M.flat_view(result)
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
local flat_view = M.flat_view

local DEBUG_METRICS = {trial_id = true, experiment_id = true, date = true, timestamp = true,
  time_this_iter_s = true, time_total_s = true, pid = true, hostname = true, node_ip = true,
  config = true, time_since_restore = true, timesteps_since_restore = true,
  iterations_since_restore = true, warmup_time = true, done = true, training_iteration = true,
  experiment_tag = true, __duplicate__ = true, should_checkpoint = true}

--- Ray's _validate_result_metrics: a result that reports anything must
--- report the metric tune.run, the scheduler and the searcher expect.
local function validate_metrics(self, trial, flat)
  if self._metric_checks == nil then
    local checks = {}
    if math.tointeger(tonumber(os.getenv("TUNE_DISABLE_STRICT_METRIC_CHECKING") or "")) ~= 1 then
      local searcher = type(self.search_alg) == "table" and self.search_alg.searcher
      local seen = {}
      for _, c in ipairs({{self.metric, "tune.run()"},
          {self.scheduler.metric, tostring(self.scheduler.__name or "the scheduler")},
          {type(searcher) == "table" and searcher.metric or nil, "the searcher"}}) do
        -- A metric several expect is looked up once, named by the first.
        if type(c[1]) == "string" and c[1] ~= "_metric" and not seen[c[1]] then
          seen[c[1]] = true
          checks[#checks + 1] = c
        end
      end
    end
    self._metric_checks = checks
  end
  local checks = self._metric_checks
  local n = #checks
  if n == 0 then return end
  -- Every expected metric there (nearly every result): nothing else to see.
  local i = 1
  while i <= n do
    local name = checks[i][1]
    if flat[name] == nil and util.get_path(flat, name) == nil then break end
    i = i + 1
  end
  if i > n then return end
  local reported = false
  for k in pairs(flat) do
    if not DEBUG_METRICS[k] then reported = true break end
  end
  if not reported then return end
  -- checks[i] is the first expected metric missing.
  local keys = {}
  for k in pairs(flat) do if not DEBUG_METRICS[k] then keys[#keys + 1] = k end end
  table.sort(keys)
  error(M.trial_failure(string.format(
    "trial %s returned a result without the metric %q that %s expects (it reported: %s). "
      .. "Make sure tune.report() includes it, or set TUNE_DISABLE_STRICT_METRIC_CHECKING=1.",
    tostring(trial), checks[i][1], checks[i][2], table.concat(keys, ", "))), 0)
end
R._validate_metrics = validate_metrics

--- A batch of results: each is processed until one is a STOP (Ray's
--- _on_training_result) or waits for a save; the executor then logs the
--- ones that were accepted (commit_results), never those after a STOP.
function R:_on_training_result(trial, results, nested)
  -- The engine tells whether any result of the batch has nested tables;
  -- nil (another executor) means it may.
  if nested == nil then nested = true end
  local ok, n, last
  if #results == 1 then
    -- One result (a buffer of 1): processed as the batch's loop would, without it.
    self._batch_done = 0
    ok, last = pcall(process_trial_result, self, trial, results[1], nested, true)
    if ok then n, self._batch_done = 1, 1 else n = last end
  else
    ok, n, last = pcall(process_batch, self, trial, results, nested)
  end
  local err
  if not ok then err, n, last = n, self._batch_done, nil end
  local ex = self.trial_executor
  if ex.commit_results and n > 0 then ex:commit_results(trial, n, last == STOP) end
  if not ok then self:_process_trial_failure(trial, M.failure_message(err)) end
end

--- The results of a batch up to the first STOP or save: how many were
--- processed (also in self._batch_done, for when one raises) and the last
--- decision.
function process_batch(self, trial, results, nested)
  local last
  self._batch_done = 0
  local n = #results
  for i = 1, n do
    last = process_trial_result(self, trial, results[i], nested, i == n)
    self._batch_done = i
    if last == nil or last == STOP then return i, last end
  end
  return #results, last
end
R._process_batch = process_batch

--- Whether a result asks for a persistent checkpoint: checkpoint_freq,
--- checkpoint_at_end on the last result, or the trainable's own
--- should_checkpoint (`force`).
local function save_due(trial, result, force)
  if force then return true end
  -- checkpoint_freq 0 (nearly always): Trial:should_checkpoint is false, not called.
  if trial.checkpoint_freq ~= 0 and trial_should_checkpoint(trial, result) then return true end
  return (trial.checkpoint_at_end and result.done) and true or false
end

--- `last_in_batch`: when this result is the batch's last and the decision
--- is to continue, with no save due, the next result is asked for at once,
--- before the search algorithm's hook, the callbacks, the bookkeeping and
--- the batch's logging (the worker computes while they run): the same
--- requests in the same order as if it were asked for after them
--- (_post_process then finds nothing queued).
function process_trial_result(self, trial, result, nested, last_in_batch)
  local is_duplicate = result.__duplicate__
  local force_checkpoint = result.should_checkpoint and not is_duplicate
  if is_duplicate then
    result = util.merge(trial.last_result)
    result.done = true
  end
  self.total_time = self.total_time + (tonumber(result.time_this_iter_s) or 0)
  local flat = nested == false and result or flat_view(result)
  validate_metrics(self, trial, flat)
  local decision
  local stop = false
  if self.stopper then
    -- Ray's stoppers get the result as reported (result.val.loss); the
    -- flat keys ("val/loss") are there too.
    local seen = flat ~= result and util.merge(result, flat) or flat
    stop = plugin.must("stopper", self.stopper, "__call", "boolean", trial.trial_id, seen) and true or false
  end
  -- Trial methods are called through the class: a trial's __index is a
  -- function (for the computed `checkpoint`), costly on this path.
  local should = flat.done
  local criteria = trial.stopping_criterion
  if not should and (criteria == nil or next(criteria) ~= nil) then
    local ok
    ok, should = pcall(trial_should_stop, trial, flat)
    if not ok then error(M.trial_failure(tostring(should)), 0) end
  end
  if stop or should then
    decision = STOP
  elseif self._table_scheduler == self.scheduler and self.scheduler.on_trial_result == base_on_result then
    decision = CONTINUE -- the base class's hook (FIFO's), which plugin.call knows without calling
  else
    -- The adapter's call that TrialRunner:_scheduler makes, without that method's call.
    decision = plugin.must("scheduler", self.scheduler, "on_trial_result", "decision", self, trial, flat) or CONTINUE
  end
  local sent = false
  -- (save_due is false, not called, without a forced save, checkpoint_freq or checkpoint_at_end.)
  if last_in_batch and decision == CONTINUE and not ((force_checkpoint or trial.checkpoint_freq ~= 0
      or trial.checkpoint_at_end) and save_due(trial, result, force_checkpoint))
      and rawget(trial, "saving_to") == nil and trial.status == Trial.RUNNING then
    local id = trial.trial_id
    local queued = self._queued_decisions[id]
    if (queued == nil or queued == CONTINUE) and self._cached_decisions[id] == nil then
      self._queued_decisions[id] = nil
      -- (No cap without a buffer: batch_cap is not called once it knows.)
      self.trial_executor:continue_training(trial, self._buffered ~= false and batch_cap(self, trial, result) or nil)
      sent = true
    end
  end
  if decision == STOP then
    result.done = true
    -- Journaled before the result is logged: a driver that dies between
    -- the log and the TERMINATED entry leaves a trial that resume knows
    -- has finished (docs/reliability.md).
    if self.store then
      local it = tonumber(result.training_iteration) or tonumber(trial.last_result.training_iteration) or 0
      trial._finishing = it
      local own = not (stop or should) or nil -- the scheduler's STOP: its on_trial_result had the result (missed.lua)
      self.store:journal{event = "finishing", trial_id = trial.trial_id, iteration = it, scheduler = own}
    end
  else
    -- A search algorithm without the hook (the base's no-op: BasicVariantGenerator) is not called.
    local sa = self.search_alg
    local f = self._table_search_alg == sa and sa.on_trial_result
    if f ~= nil and f ~= noop then self:_search("on_trial_result", nil, trial.trial_id, flat) end
  end
  if not is_duplicate then
    local callbacks = self.callbacks
    if callbacks.hooked.on_trial_result ~= false and callbacks:has("on_trial_result") then -- (no call once known false)
      callbacks:call("on_trial_result", self.iteration, self.trials, trial, result, {})
    end
    trial.last_result = result -- Trial:update_last_result, without its call
  elseif decision == STOP then
    trial.last_result.done = true
  end
  if force_checkpoint or trial.checkpoint_freq ~= 0 or trial.checkpoint_at_end then -- (else none is due)
    checkpoint_if_needed(self, trial, force_checkpoint)
  end
  if rawget(trial, "saving_to") ~= nil then -- Trial:is_saving(), without the __index function
    self._cached_decisions[trial.trial_id] = decision
    return nil
  end
  if not sent then queue_decision(self, trial, decision) end
  return decision
end
R._process_trial_result = process_trial_result

--- With a result buffer, the batch the next request asks for ends at the
--- next result that may be decided on: the scheduler's
--- `results_before_decision` (ASHA: its next rung) and the trial's own
--- `training_iteration` criterion. The results after a STOP in a batch are
--- dropped (Ray); this way they are not computed. nil: no cap (the whole
--- buffer), and always with a buffer of one.
function batch_cap(self, trial, result)
  local buffered = self._buffered
  if buffered == nil then
    local o = self.trial_executor.options
    buffered = type(o) == "table" and (tonumber(o.result_buffer_length) or 1) > 1
    self._buffered = buffered
  end
  if not buffered then return nil end
  local it = tonumber(result.training_iteration) or 0
  local cap
  local criteria = trial.stopping_criterion
  local stop_at = type(criteria) == "table" and tonumber(criteria.training_iteration) or nil
  if stop_at and stop_at > it then cap = stop_at - it end
  -- Only a hint: what a hook that fails answers, or what is not a number
  -- >= 1 (NaN included), is ignored, with one warning.
  local ok, n = plugin.call("scheduler", self.scheduler, "results_before_decision", nil, self, trial, it)
  if ok and (n == nil or (math.type(n) ~= nil and n >= 1)) then
    if n ~= nil and (cap == nil or n < cap) then cap = n end
  elseif not self._batch_cap_warned then
    self._batch_cap_warned = true
    io.stderr:write("tunelua warning: ", ok and string.format("scheduler %s: results_before_decision returned %s "
      .. "where a number >= 1 or nil was expected", plugin.name(self.scheduler), tostring(n)) or n,
      "; its answers are ignored\n")
  end
  -- One too large for a request (math.huge) is no cap.
  return cap ~= nil and cap < 2 ^ 31 and math.ceil(cap) or nil
end
R._batch_cap = batch_cap

function checkpoint_if_needed(self, trial, force)
  local r = trial.last_result
  if save_due(trial, r, force) and trial.status == Trial.RUNNING then
    -- Never twice for one iteration (the last result repeated when a
    -- function returns, checkpoint_freq meeting checkpoint_at_end).
    local it = r.training_iteration
    if it ~= nil and trial._checkpointed_iteration == it then return end
    trial._checkpointed_iteration = it
    self.trial_executor:save(trial, ckpt.CheckpointStorage.PERSISTENT)
  end
end
R._checkpoint_trial_if_needed = checkpoint_if_needed

function queue_decision(self, trial, decision)
  local old = self._queued_decisions[trial.trial_id]
  if old == nil then
    self._queued_decisions[trial.trial_id] = decision
    return
  end
  if old == STOP then return end
  if decision == STOP or decision == PAUSE then self._queued_decisions[trial.trial_id] = decision end
end
R._queue_decision = queue_decision

function R:_post_process(trial)
  if self._cached_decisions[trial.trial_id] ~= nil then return end
  local d = self._queued_decisions[trial.trial_id]
  self._queued_decisions[trial.trial_id] = nil
  if d then self:_execute_action(trial, d) end
end

function R:_execute_action(trial, decision)
  if trial.status ~= Trial.RUNNING then return end
  if decision == CONTINUE then
    self.trial_executor:continue_training(trial, batch_cap(self, trial, trial.last_result))
  elseif decision == PAUSE then
    self:pause_trial(trial)
  elseif decision == STOP then
    self:stop_trial(trial)
  elseif decision ~= NOOP then
    error("invalid decision " .. tostring(decision))
  end
end

--- Forgets the decisions of a trial that wait for a save or a result (a
--- scheduler that stops or restarts a trial itself calls this).
function R:forget_decisions(trial)
  self._cached_decisions[trial.trial_id] = nil
  self._queued_decisions[trial.trial_id] = nil
end

--- A save asked for while the next result was on its way (the runner
--- asks for it as soon as a result is accepted; a signal or a plug-in
--- then asks for a save) holds the state after that result, which the
--- worker sent before it saved: the checkpoint takes that result's
--- metrics, which resume keeps the logs up to. (Its directory keeps the
--- name given at the request: renaming it would need a synced rename
--- that resume could trust after a crash.)
local function match_saved_state(c, trial)
  local last = trial.last_result
  local now = last and last.training_iteration
  if now ~= nil and now ~= (c.metrics and c.metrics.training_iteration) then c.metrics = util.deepcopy(last) end
end

function R:_on_saving_result(trial, dir)
  local c = trial.saving_to
  if not c then
    -- The trial was stopped while saving: its cached decision is void.
    self._cached_decisions[trial.trial_id] = nil
    return
  end
  if c.storage_mode == ckpt.CheckpointStorage.PERSISTENT then match_saved_state(c, trial) end
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
  if d then queue_decision(self, trial, d) end
end

function R:_on_restoring_result(trial)
  trial:on_restore()
  self.callbacks:call("on_trial_restore", self.iteration, self.trials, trial, {})
  if trial.status == Trial.RUNNING then self.trial_executor:continue_training(trial) end
end

return M
