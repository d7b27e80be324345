--- tune.schedulers.MedianStoppingRule: Ray Tune 2.0's median stopping
--- rule (Vizier, https://research.google.com/pubs/pub46180.html).
---
--- A trial past grace_period stops when its best value so far is strictly
--- worse than the median of the other trials' running means up to the
--- same time (those that got that far, at least min_samples_required of
--- them). With too few samples it may yield (PAUSE) to waiting trials,
--- at most once per min_time_slice. hard_stop = false pauses instead of
--- stopping; paused trials resume FIFO and are never judged again.
--- NaN behaves as in Ray: a NaN best, or a NaN in the median, stops.
--- docs/reference/schedulers/median_stopping.md.
local util = require("tune.util")
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP

local OPTIONS = {
  time_attr = "time_total_s", metric = false, mode = false, grace_period = 60.0, min_samples_required = 3,
  min_time_slice = 0, hard_stop = true,
}

local MedianStoppingRule = TrialScheduler:extend(nil, "MedianStoppingRule")
-- It ranks by a metric: tune.run refuses to start it without one.
MedianStoppingRule.requires_metric = true
-- A metric is enough: without a mode it compares as "min" (Ray's
-- set_search_properties sets min when no mode was given).
MedianStoppingRule.requires_mode = false
MedianStoppingRule.OPTIONS = OPTIONS
-- After --resume it is given the results logged after its snapshot (experiment/missed.lua).
MedianStoppingRule.replays_missed_results = true

local function opt(opts, k) return util.with_default(opts, OPTIONS, k) end

--- Python's max(a, b) / min(a, b): b replaces a only when strictly
--- better (so a NaN never wins as b, and always stays as a).
local function pick(op, a, b)
  if op == "max" then
    if b > a then return b end
  elseif b < a then
    return b
  end
  return a
end

--- np.mean: NaN for no values.
local function mean(values)
  if #values == 0 then return 0 / 0 end
  local s = 0.0
  for _, v in ipairs(values) do s = s + v end
  return s / #values
end

--- np.median: NaN if any value is NaN.
local function median(values)
  local v = {}
  for i, x in ipairs(values) do
    if x ~= x then return 0 / 0 end
    v[i] = x
  end
  if #v == 0 then return 0 / 0 end
  table.sort(v)
  local n = #v
  if n % 2 == 1 then return v[(n + 1) // 2] end
  return (v[n // 2] + v[n // 2 + 1]) / 2
end

local function set_mode(self)
  self._worst = self.mode == "max" and -math.huge or math.huge
  self._compare_op = self.mode == "max" and "max" or "min"
end

--- MedianStoppingRule{time_attr="time_total_s", metric=, mode=,
--- grace_period=60.0, min_samples_required=3, min_time_slice=0,
--- hard_stop=true}
function MedianStoppingRule:__init(opts)
  local name = "MedianStoppingRule"
  opts = util.check_options(name, opts, OPTIONS, 3)
  util.check_booleans(name, opts, {"hard_stop"}, 3)
  for _, k in ipairs({"grace_period", "min_samples_required", "min_time_slice"}) do
    local v = opt(opts, k)
    if type(v) ~= "number" or v ~= v then
      error(string.format("%s: %s must be a number, got %s", name, k, util.show_got(v)), 3)
    end
  end
  local mode = opts.mode
  if mode and mode ~= "min" and mode ~= "max" then error(name .. ": `mode` must be 'min' or 'max'.", 3) end
  local time_attr = opt(opts, "time_attr")
  if type(time_attr) ~= "string" then error(name .. ": time_attr must be a string", 3) end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then error(name .. ": metric must be a string", 3) end
  self._stopped_trials = {}   -- trial_id -> true
  self._num_stopped = 0
  self._grace_period = opt(opts, "grace_period")
  self._min_samples_required = opt(opts, "min_samples_required")
  self._min_time_slice = opt(opts, "min_time_slice")
  self.metric = opts.metric
  self.mode = mode
  self._worst, self._compare_op = nil, nil
  if mode then set_mode(self) end
  self._time_attr = time_attr
  self._hard_stop = opt(opts, "hard_stop") ~= false
  self._last_pause = {}       -- trial_id -> time of its last yield (default -inf)
  self._results = {}          -- trial_id -> list of {time, value}
  self._order = {}            -- trial ids in the order they first reported
end

function MedianStoppingRule:set_search_properties(metric, mode)
  if not TrialScheduler.set_search_properties(self, metric, mode) then return false end
  set_mode(self)
  return true
end

function MedianStoppingRule:on_trial_add(runner, trial)
  if not self.metric or not self._worst or not self._compare_op then
    error(string.format("%s has been instantiated without a valid `metric` (%s) or `mode` (%s) parameter. "
      .. "Either pass these parameters when instantiating the scheduler, or pass them as parameters to "
      .. "`tune.run()`", self.__name or "MedianStoppingRule", tostring(self.metric), tostring(self.mode)), 2)
  end
end

local function numeric(self, trial, result, key, what)
  return self:_numeric(trial, result[key], key, what)
end

function MedianStoppingRule:_append(trial_id, time, value)
  local list = self._results[trial_id]
  if not list then
    list = {}
    self._results[trial_id] = list
    self._order[#self._order + 1] = trial_id
  end
  list[#list + 1] = {time, value}
end

--- Stops the trial when its best value by `time` is strictly worse than
--- the median of the others' running means up to `time`.
function MedianStoppingRule:on_trial_result(runner, trial, result)
  local time = numeric(self, trial, result, self._time_attr, "time_attr")
  local value = numeric(self, trial, result, self.metric, "metric")
  if time == nil or value == nil then return CONTINUE end
  local id = trial.trial_id
  if self._stopped_trials[id] then
    -- Ray asserts not hard_stop here; a hard-stopped trial only reports
    -- again when a crash came between the decision and its journal entry.
    if self._hard_stop then return STOP end
    return CONTINUE -- fall back to FIFO
  end
  self:_append(id, time, value)
  if time < self._grace_period then return CONTINUE end

  local others = self:_trials_beyond_time(time)
  for i, t in ipairs(others) do
    if t == id then table.remove(others, i) break end
  end
  if #others < self._min_samples_required then
    local action = self:_on_insufficient_samples(runner, trial, time)
    if action == PAUSE then self._last_pause[id] = time end
    return action
  end
  local median_result = self:_median_result(others, time)
  local best_result = self:_best_result(id)
  if pick(self._compare_op, median_result, best_result) ~= best_result then
    self._stopped_trials[id] = true
    self._num_stopped = self._num_stopped + 1
    if self._hard_stop then return STOP end
    return PAUSE
  end
  return CONTINUE
end

function MedianStoppingRule:on_trial_complete(runner, trial, result)
  -- Ray appends every final result; one without the time or the metric
  -- (a trial stopped before it reported) would break later medians.
  local time = numeric(self, trial, result, self._time_attr, "time_attr")
  local value = numeric(self, trial, result, self.metric, "metric")
  if time == nil or value == nil then return end
  self:_append(trial.trial_id, time, value)
end

function MedianStoppingRule:debug_string()
  return string.format("Using MedianStoppingRule: num_stopped=%d.", self._num_stopped)
end

--- PAUSE to let a waiting trial run, once per min_time_slice.
function MedianStoppingRule:_on_insufficient_samples(runner, trial, time)
  local last = self._last_pause[trial.trial_id] or -math.huge
  if not (time - last > self._min_time_slice) then return CONTINUE end
  if runner and runner.get_live_trials then
    for _, t in ipairs(runner:get_live_trials()) do
      if t.status == "PENDING" or t.status == "PAUSED" then return PAUSE end
    end
  end
  return CONTINUE
end

function MedianStoppingRule:_trials_beyond_time(time)
  local out = {}
  for _, id in ipairs(self._order) do
    local list = self._results[id]
    if list[#list][1] >= time then out[#out + 1] = id end
  end
  return out
end

function MedianStoppingRule:_running_mean(trial_id, time)
  local values = {}
  for _, r in ipairs(self._results[trial_id]) do
    if self._grace_period <= r[1] and r[1] <= time then values[#values + 1] = r[2] end
  end
  return mean(values)
end

function MedianStoppingRule:_median_result(trial_ids, time)
  local means = {}
  for i, id in ipairs(trial_ids) do means[i] = self:_running_mean(id, time) end
  return median(means)
end

function MedianStoppingRule:_best_result(trial_id)
  local best
  for i, r in ipairs(self._results[trial_id]) do
    if i == 1 then best = r[2] else best = pick(self._compare_op, best, r[2]) end
  end
  return best
end

--------------------------------------------------------------------------
-- State for resume
--------------------------------------------------------------------------

function MedianStoppingRule:save()
  local results, stopped, pauses = {}, {}, {}
  for i, id in ipairs(self._order) do results[i] = {id = id, r = self._results[id]} end
  for id in pairs(self._stopped_trials) do stopped[#stopped + 1] = id end
  table.sort(stopped)
  for id, t in pairs(self._last_pause) do pauses[#pauses + 1] = {id, t} end
  table.sort(pauses, function(a, b) return a[1] < b[1] end)
  return {
    scheduler = "MedianStoppingRule", version = 1,
    metric = self.metric, mode = self.mode, time_attr = self._time_attr, grace_period = self._grace_period,
    min_samples_required = self._min_samples_required, min_time_slice = self._min_time_slice,
    hard_stop = self._hard_stop, num_stopped = self._num_stopped, compare_op = self._compare_op or false,
    results = results, stopped = stopped, last_pause = pauses,
  }
end

local nonnull = util.nonnull

function MedianStoppingRule:restore(state)
  TrialScheduler.check_state(state, "MedianStoppingRule")
  self.metric = nonnull(state.metric)
  self.mode = nonnull(state.mode)
  self._worst, self._compare_op = nil, nil
  if self.mode or state.compare_op then
    set_mode(self)
    if not self.mode then self._compare_op = state.compare_op end
  end
  self._time_attr = state.time_attr
  self._grace_period = state.grace_period
  self._min_samples_required = state.min_samples_required
  self._min_time_slice = state.min_time_slice
  self._hard_stop = state.hard_stop ~= false
  self._num_stopped = state.num_stopped or 0
  self._results, self._order, self._stopped_trials, self._last_pause = {}, {}, {}, {}
  for _, e in ipairs(state.results or {}) do
    for _, r in ipairs(e.r or {}) do self:_append(e.id, r[1], r[2]) end
  end
  for _, id in ipairs(state.stopped or {}) do self._stopped_trials[id] = true end
  for _, p in ipairs(state.last_pause or {}) do self._last_pause[p[1]] = p[2] end
end

return MedianStoppingRule
