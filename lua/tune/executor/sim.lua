--- tune.SimulatedExecutor: runs an experiment in-process on a virtual
--- clock, with trials that replay a curve instead of worker processes. The
--- runner, scheduler, searcher and stoppers are the real ones; only the
--- trials are simulated. Deterministic, and fast enough that a scheduler
--- author can run thousands of trials in seconds:
---   local ex = tune.SimulatedExecutor{num_cpus = 8,
---     curve = function(config, iteration) return {loss = 1 / iteration} end}
---   tune.run("sim", {trial_executor = ex, scheduler = ..., num_samples = 1000})
--- curve(config, iteration, trial) returns the metrics of that iteration,
--- or nil when the simulated trainable is done. Each iteration advances
--- the trial's clock by `time_per_iteration` (default 1) virtual seconds.
--- Checkpoints hold the iteration count; restoring replays from there.
--- Events come in order (a queue), so runs repeat exactly.
local class = require("tune.class")
local ckpt = require("tune.executor.checkpoint")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial

local M = {}

local Sim = class.class("SimulatedExecutor")

function Sim:__init(opts)
  opts = opts or {}
  if type(opts.curve) ~= "function" then
    error("SimulatedExecutor: curve must be a function(config, iteration, trial)", 3)
  end
  self.curve = opts.curve
  self.num_cpus = opts.num_cpus or 1
  self.time_per_iteration = opts.time_per_iteration or 1
  self.options = {get_executor_event_wait_s = 0}
  self.reuse_actors = false
  self.iterations = 0          -- every simulated iteration, for cost accounting
  self._running = {}           -- trial_id -> {trial, iteration, time}
  self._nrunning = 0
  self._used = 0               -- CPUs of the running trials
  self._queue = {}             -- pending events, first in first out
  self._qhead, self._qtail = 1, 0
  self._ckpt_seq = 0
end

local function cpus(trial)
  return trial.placement_group_factory:required_resources().CPU or 1
end

--- Marks a trial running (delta 1) or not (delta -1).
function Sim:_account(trial, state)
  if state then
    self._running[trial.trial_id] = state
    self._nrunning = self._nrunning + 1
    self._used = self._used + cpus(trial)
  elseif self._running[trial.trial_id] then
    self._running[trial.trial_id] = nil
    self._nrunning = self._nrunning - 1
    self._used = self._used - cpus(trial)
  end
end

function Sim:_push(ev)
  self._qtail = self._qtail + 1
  self._queue[self._qtail] = ev
end

function Sim:set_max_pending_trials(n) end
function Sim:set_loggers(which) end
function Sim:forget_logs(trial) end
function Sim:install_signals(sigint) end
function Sim:on_step_end(trials) end
function Sim:has_gpus() return false end
function Sim:cleanup() self._running, self._nrunning, self._used = {}, 0, 0 end
function Sim:close() return true end

function Sim:resources()
  return {CPU = self.num_cpus, GPU = 0}, {CPU = self.num_cpus - self._used, GPU = 0}
end

function Sim:feasible(trial)
  if cpus(trial) > self.num_cpus then
    return false, string.format("asked for %g CPUs but the simulated node has %g", cpus(trial), self.num_cpus)
  end
  return true
end

function Sim:has_resources_for_trial(trial)
  return self._used + cpus(trial) <= self.num_cpus
end

function Sim:start_trial(trial)
  if not self:has_resources_for_trial(trial) then return false end
  local c = trial.checkpoint
  local state = {trial = trial, iteration = 0, time = 0}
  if c and c.dir_or_data and type(c._sim) == "table" then
    state.iteration, state.time = c._sim.iteration, c._sim.time
  end
  self:_account(trial, state)
  trial:set_status(Trial.RUNNING)
  trial.last_result.trial_id = trial.trial_id
  self:_push{type = "TRAINING_RESULT", trial = trial}
  return true
end

function Sim:continue_training(trial)
  if self._running[trial.trial_id] then self:_push{type = "TRAINING_RESULT", trial = trial} end
end

function Sim:stop_trial(trial, error, error_msg, traceback)
  trial:set_status(error and Trial.ERROR or Trial.TERMINATED)
  if error_msg then trial:handle_error(error_msg, traceback) end
  trial.saving_to, trial.restoring_from = nil, nil
  self:_account(trial, nil)
end

function Sim:pause_trial(trial)
  self:save(trial, ckpt.CheckpointStorage.MEMORY)
  self:_account(trial, nil)
  trial:set_status(Trial.PAUSED)
end

function Sim:save(trial, storage, result)
  local r = self._running[trial.trial_id]
  if not r then return nil end
  self._ckpt_seq = self._ckpt_seq + 1
  local c = ckpt.Checkpoint{dir_or_data = "sim:" .. trial.trial_id .. ":" .. self._ckpt_seq,
    storage_mode = storage or ckpt.CheckpointStorage.PERSISTENT, metrics = util.deepcopy(result or trial.last_result)}
  c._sim = {iteration = r.iteration, time = r.time}
  if c.storage_mode == ckpt.CheckpointStorage.MEMORY then
    trial:on_checkpoint(c)
  else
    local dir = c.dir_or_data
    c.dir_or_data = nil
    trial.saving_to = c
    self:_push{type = "SAVING_RESULT", trial = trial, result = dir}
  end
  return c
end

function Sim:restore(trial, checkpoint)
  checkpoint = checkpoint or trial.checkpoint
  local r = self._running[trial.trial_id]
  if not r or not checkpoint or type(checkpoint._sim) ~= "table" then return false end
  r.iteration, r.time = checkpoint._sim.iteration, checkpoint._sim.time
  return true
end

function Sim:reset_trial(trial, new_config, new_tag)
  trial.config = new_config
  trial.experiment_tag = new_tag or trial.experiment_tag
  local r = self._running[trial.trial_id]
  if r then r.iteration, r.time = 0, 0 end
  return true
end

function Sim:get_running_trials()
  local out = {}
  for _, r in pairs(self._running) do out[#out + 1] = r.trial end
  return out
end

--- One simulated iteration of a running trial.
function Sim:_step(trial)
  local r = self._running[trial.trial_id]
  if not r then return nil end
  local metrics = self.curve(trial.config, r.iteration + 1, trial)
  if metrics == nil then
    local last = util.merge(trial.last_result)
    last.done, last.__duplicate__ = true, true
    return {last}
  end
  r.iteration = r.iteration + 1
  r.time = r.time + self.time_per_iteration
  self.iterations = self.iterations + 1
  local res = util.merge(metrics)
  if res.done == nil then res.done = false end
  res.training_iteration = r.iteration
  res.time_this_iter_s = self.time_per_iteration
  res.time_total_s = r.time
  res.trial_id = trial.trial_id
  res.config = trial.config
  return {res}
end

function Sim:get_next_executor_event(live_trials, next_trial_exists, timeout)
  if next_trial_exists and self._used < self.num_cpus then return {type = "PG_READY"} end
  while self._qhead <= self._qtail do
    local ev = self._queue[self._qhead]
    self._queue[self._qhead] = nil
    self._qhead = self._qhead + 1
    if ev.type == "TRAINING_RESULT" then
      local results = self:_step(ev.trial)
      if results then
        ev.result = results
        return ev
      end
    elseif self._running[ev.trial.trial_id] then
      return ev
    end
  end
  return {type = self._nrunning > 0 and "YIELD" or "NO_RUNNING_TRIAL_TIMEOUT"}
end

M.SimulatedExecutor = Sim
return M
