--- tune.schedulers.TrialScheduler: the base of schedulers (Ray's
--- TrialScheduler). A scheduler is any table with these hooks; the base
--- only adds defaults. Hooks take Ray's arguments: (runner, trial, result).
--- Decisions are the constants TrialScheduler.CONTINUE, .PAUSE, .STOP
--- (and .NOOP). See docs/guide/custom-schedulers.md.
local class = require("tune.class")
local util = require("tune.util")

local TrialScheduler = class.class("TrialScheduler")

TrialScheduler.CONTINUE = "CONTINUE"
TrialScheduler.PAUSE = "PAUSE"
TrialScheduler.STOP = "STOP"
TrialScheduler.NOOP = "NOOP"

--- Schedulers that decide per result set this false: results then reach
--- them one at a time (the runner forces a result buffer length of 1).
TrialScheduler.supports_buffered_results = true

function TrialScheduler:__init(opts)
  opts = opts or {}
  self.metric = opts.metric
  self.mode = opts.mode
end

--- Called by tune.run with its metric and mode. Returns false when this
--- scheduler was given its own metric/mode already (tune.run then fails,
--- as Ray does); true when it took them.
function TrialScheduler:set_search_properties(metric, mode)
  if (self.metric and metric) or (self.mode and mode) then return false end
  if metric then self.metric = metric end
  if mode then self.mode = mode end
  if self.metric == nil and self.mode then self.metric = TrialScheduler.DEFAULT_METRIC end
  return true
end

--- For restore(state): raises (at restore's caller) unless `state` is a
--- table saved by `cls`'s save().
function TrialScheduler.check_state(state, cls)
  if type(state) ~= "table" or state.scheduler ~= cls then
    error(string.format("%s:restore: not a state saved by %s:save()", cls, cls), 3)
  end
end

--- `v`, the `what` ("metric", "time_attr") `key` of a result of `trial`:
--- an error naming them (the trial fails) unless it is nil or a number.
function TrialScheduler:_numeric(trial, v, key, what)
  if v ~= nil and type(v) ~= "number" then
    error(string.format("%s: the %s %q of trial %s must be a number, got %s", self.__name, what, key,
      tostring(trial.trial_id), type(v)), 0)
  end
  return v
end

--- Ray's DEFAULT_METRIC: the metric a scheduler compares when it was
--- given only a mode.
TrialScheduler.DEFAULT_METRIC = "_metric"

--- The sign that makes "larger is better" for a mode: 1.0 for "max",
--- -1.0 for "min", nil for anything else.
function TrialScheduler.metric_op(mode)
  if mode == "max" then return 1.0 elseif mode == "min" then return -1.0 end
  return nil
end

-- on_trial_add(runner, trial), on_trial_error(runner, trial),
-- on_trial_complete(runner, trial, result), on_trial_remove(runner, trial):
-- nothing by default.
TrialScheduler.on_trial_add = util.noop
TrialScheduler.on_trial_error = util.noop
function TrialScheduler:on_trial_result(runner, trial, result) return TrialScheduler.CONTINUE end
TrialScheduler.on_trial_complete = util.noop
TrialScheduler.on_trial_remove = util.noop

--- The next trial to start (Ray's FIFOScheduler): the first PENDING trial
--- whose resources are there, else the first such PAUSED one (a trial a
--- scheduler paused waits for those never started), else nil.
function TrialScheduler:choose_trial_to_run(runner)
  -- Called every step, over the running trials first: one read of each
  -- status, the executor looked up once.
  local live = runner:get_live_trials()
  local ex = runner.trial_executor
  local paused = false
  for i = 1, #live do
    local trial = live[i]
    local s = trial.status
    if s == "PENDING" then
      if ex:has_resources_for_trial(trial) then return trial end
    elseif s == "PAUSED" then
      paused = true
    end
  end
  if not paused then return nil end
  for i = 1, #live do
    local trial = live[i]
    if trial.status == "PAUSED" and ex:has_resources_for_trial(trial) then return trial end
  end
  return nil
end

function TrialScheduler:debug_string()
  return "Using " .. tostring(self.__name or "a custom") .. " scheduling algorithm."
end

--- State for resume: a JSON-serialisable table (default: nothing).
function TrialScheduler:save() return nil end
function TrialScheduler:restore(state) end

return TrialScheduler
