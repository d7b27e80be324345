--- tune.schedulers.AsyncHyperBandScheduler (alias ASHAScheduler): Ray
--- Tune 2.0's asynchronous successive halving (https://arxiv.org/abs/1810.05934).
---
--- Each bracket has rungs at grace_period * reduction_factor^k (time units
--- of `time_attr`). The first result of a trial at or past a rung is
--- compared with the (1 - 1/reduction_factor) quantile of the values
--- recorded there: below it, the trial stops; either way its value is
--- recorded. A trial that reaches max_t stops (stop_last_trials). NaN
--- values are recorded but never count in a cutoff (numpy's nanpercentile),
--- and a NaN result is never below a cutoff. Trials are referred to by id
--- only, so save() is plain data. docs/reference/schedulers/asha.md.
local util = require("tune.util")
local sample = require("tune.search.sample")
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP

local OPTIONS = {
  time_attr = "training_iteration", metric = false, mode = false, max_t = 100, grace_period = 1,
  reduction_factor = 4, brackets = 1, stop_last_trials = true,
  seed = false, -- tunelua: seeds the bracket draw (Ray uses numpy's global generator)
}

local AsyncHyperBandScheduler = TrialScheduler:extend(nil, "AsyncHyperBandScheduler")
-- It ranks by a metric: tune.run refuses to start it without one.
AsyncHyperBandScheduler.requires_metric = true
AsyncHyperBandScheduler.OPTIONS = OPTIONS
AsyncHyperBandScheduler.replays_missed_results = true -- after --resume, those logged after its snapshot (missed.lua)

--------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------

--- Python's repr of a float (what Ray's debug strings print).
local function pyfloat(x) return util.py_repr_number(x + 0.0) end
AsyncHyperBandScheduler._pyfloat = pyfloat

--- numpy's linear interpolation between a and b (exact at both ends).
local function lerp(a, b, t)
  local d = b - a
  if t >= 0.5 then return b - d * (1 - t) end
  return a + d * t
end

--- The q-th percentile (numpy's linear method) of the sorted, NaN-free
--- array v; NaN when v is empty.
local function sorted_percentile(v, q)
  if #v == 0 then return 0 / 0 end
  local idx = (#v - 1) * (q / 100)
  local lo = math.floor(idx)
  local hi = math.min(lo + 1, #v - 1)
  return lerp(v[lo + 1], v[hi + 1], idx - lo)
end

--- np.nanpercentile(values, q) with the default linear method; NaN when
--- every value is NaN.
local function nanpercentile(values, q)
  local v = {}
  for _, x in ipairs(values) do
    if x == x then v[#v + 1] = x end
  end
  table.sort(v)
  return sorted_percentile(v, q)
end
AsyncHyperBandScheduler._nanpercentile = nanpercentile

--- Python's int(): truncation toward zero.
local function trunc(x) return x >= 0 and math.floor(x) or math.ceil(x) end

--------------------------------------------------------------------------
-- _Bracket: the rungs of one bracket (Ray's _Bracket)
--------------------------------------------------------------------------

local Bracket = {}
Bracket.__index = Bracket
AsyncHyperBandScheduler._Bracket = Bracket

--- Rungs are kept in descending order of milestone, so the first rung a
--- result reaches is the highest one it passed.
function Bracket.new(min_t, max_t, reduction_factor, s, stop_last_trials)
  local self = setmetatable({rf = reduction_factor, _stop_last_trials = stop_last_trials ~= false}, Bracket)
  local max_rungs = trunc(math.log(max_t / min_t) / math.log(reduction_factor) - s + 1)
  self._rungs = {}
  for k = max_rungs - 1, 0, -1 do
    self._rungs[#self._rungs + 1] = {milestone = min_t * reduction_factor ^ (k + s), recorded = {}, order = {},
      sorted = {}}
  end
  return self
end

--- The cutoff of a rung: the (1 - 1/rf) quantile of its recorded values
--- (NaN ignored), or nil when nothing was recorded.
--- Each rung also keeps its non-NaN values sorted, so a cutoff costs
--- O(1) instead of a sort of every value recorded so far (the same
--- number nanpercentile gives: it sorts the same values).
function Bracket:cutoff(rung)
  if #rung.order == 0 then return nil end
  return sorted_percentile(rung.sorted, (1 - 1 / self.rf) * 100)
end

--- The first position in the sorted array `v` whose value is >= x.
local function lower_bound(v, x)
  local lo, hi = 1, #v + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if v[mid] < x then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function record(rung, trial_id, value)
  local old = rung.recorded[trial_id]
  if old == nil then
    rung.order[#rung.order + 1] = trial_id
  elseif old == old then
    table.remove(rung.sorted, lower_bound(rung.sorted, old))
  end
  rung.recorded[trial_id] = value
  if value == value then table.insert(rung.sorted, lower_bound(rung.sorted, value), value) end
end

--- The rung a result at time `cur_iter` is judged at: the highest one it
--- reached where the trial has no value yet; nil when there is none, or
--- (stop_last_trials false) when the trial was already judged at the
--- highest rung it reached.
function Bracket:rung_for(trial_id, cur_iter)
  local rungs = self._rungs
  for i = 1, #rungs do
    local rung = rungs[i]
    local seen = rung.recorded[trial_id] ~= nil
    if cur_iter >= rung.milestone and seen and not self._stop_last_trials then return nil end
    if not (cur_iter < rung.milestone or seen) then return rung end
  end
  return nil
end

--- Ray's _Bracket.on_result: CONTINUE or STOP for a result at time
--- `cur_iter` with value `cur_rew` (already multiplied by the mode's sign).
function Bracket:on_result(trial_id, cur_iter, cur_rew)
  local action = CONTINUE
  local rung = self:rung_for(trial_id, cur_iter)
  if rung then
    local cutoff = self:cutoff(rung)
    if cutoff ~= nil and cur_rew ~= nil and cur_rew < cutoff then action = STOP end
    if cur_rew == nil then
      io.stderr:write("tunelua warning: AsyncHyperBandScheduler: the reward is nil! Consider reporting "
        .. "using a different field.\n")
    else
      record(rung, trial_id, cur_rew)
    end
  end
  return action
end

function Bracket:debug_str()
  local parts = {}
  for i, rung in ipairs(self._rungs) do
    local c = self:cutoff(rung)
    parts[i] = string.format("Iter %.3f: %s", rung.milestone, c == nil and "None" or pyfloat(c))
  end
  return "Bracket: " .. table.concat(parts, " | ")
end

function Bracket:save()
  local rungs = {}
  for i, rung in ipairs(self._rungs) do
    local rec = {}
    for j, id in ipairs(rung.order) do rec[j] = {id, rung.recorded[id]} end
    rungs[i] = {milestone = rung.milestone, recorded = rec}
  end
  return {rf = self.rf, stop_last_trials = self._stop_last_trials, rungs = rungs}
end

function Bracket.load(s)
  local self = setmetatable({rf = s.rf, _stop_last_trials = s.stop_last_trials ~= false, _rungs = {}}, Bracket)
  for i, r in ipairs(s.rungs or {}) do
    local rung = {milestone = r.milestone, recorded = {}, order = {}, sorted = {}}
    for _, pair in ipairs(r.recorded or {}) do record(rung, pair[1], pair[2]) end
    self._rungs[i] = rung
  end
  return self
end

--------------------------------------------------------------------------
-- The scheduler
--------------------------------------------------------------------------

local metric_op = TrialScheduler.metric_op

--- AsyncHyperBandScheduler{time_attr=, metric=, mode=, max_t=100,
--- grace_period=1, reduction_factor=4, brackets=1, stop_last_trials=true}
--- `known` (the options a subclass accepts, with their defaults) and
--- `name` are a subclass's; `level` is that of the caller's line for
--- error().
function AsyncHyperBandScheduler:_setup(opts, name, known, level)
  opts = util.check_options(name, opts, known, level)
  util.check_booleans(name, opts, {"stop_last_trials"}, level)
  local function opt(o, k) return util.with_default(o, known, k) end
  local max_t, grace = opt(opts, "max_t"), opt(opts, "grace_period")
  local rf, brackets = opt(opts, "reduction_factor"), opt(opts, "brackets")
  util.check_finite(name, function(k) return opt(opts, k) end, {"max_t", "grace_period", "reduction_factor", "brackets"},
    level)
  if not (max_t > 0) then error(name .. ": Max (time_attr) not valid!", level) end
  if not (max_t >= grace) then error(name .. ": grace_period must be <= max_t!", level) end
  if not (grace > 0) then error(name .. ": grace_period must be positive!", level) end
  if not (rf > 1) then error(name .. ": Reduction Factor not valid!", level) end
  if not (brackets > 0) then error(name .. ": brackets must be positive!", level) end
  if brackets ~= math.floor(brackets) then error(name .. ": brackets must be an integer", level) end
  local mode = opts.mode
  if mode and mode ~= "min" and mode ~= "max" then error(name .. ": `mode` must be 'min' or 'max'!", level) end
  local time_attr = opt(opts, "time_attr")
  if type(time_attr) ~= "string" then error(name .. ": time_attr must be a string", level) end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then error(name .. ": metric must be a string", level) end

  self._reduction_factor = rf
  self._max_t = max_t
  self._grace_period = grace
  self._stop_last_trials = opt(opts, "stop_last_trials") ~= false
  self._trial_info = {}   -- trial_id -> index of its bracket
  self._brackets = {}
  for s = 0, brackets - 1 do
    self._brackets[s + 1] = Bracket.new(grace, max_t, rf, s, self._stop_last_trials)
  end
  self._counter = 0
  self._num_stopped = 0
  self.metric = opts.metric
  self.mode = mode
  self._metric_op = metric_op(mode)
  self._time_attr = time_attr
  self._rng = sample.Random(opts.seed or nil, self.__name)
  return opts
end

function AsyncHyperBandScheduler:__init(opts)
  self:_setup(opts, "AsyncHyperBandScheduler", OPTIONS, 4)
end

function AsyncHyperBandScheduler:set_search_properties(metric, mode)
  if not TrialScheduler.set_search_properties(self, metric, mode) then return false end
  self._metric_op = metric_op(self.mode) or self._metric_op
  return true
end

local function check_ready(self, level)
  if not self.metric or not self._metric_op then
    error(string.format("%s has been instantiated without a valid `metric` (%s) or `mode` (%s) parameter. "
      .. "Either pass these parameters when instantiating the scheduler, or pass them as parameters to "
      .. "`tune.run()`", self.__name or "AsyncHyperBandScheduler", tostring(self.metric), tostring(self.mode)),
      level + 1)
  end
end

--- Puts a new trial in a bracket, drawn with softmax probabilities over
--- the brackets' rung counts (the bracket with most rungs is likeliest).
--- Idempotent by trial id: a resumed experiment adds its trials again.
function AsyncHyperBandScheduler:on_trial_add(runner, trial)
  check_ready(self, 2)
  if self._trial_info[trial.trial_id] then return end
  local n = #self._brackets
  local idx = 1
  if n > 1 then
    local maxsize = -math.huge
    for _, b in ipairs(self._brackets) do maxsize = math.max(maxsize, #b._rungs) end
    local probs, total = {}, 0
    for i, b in ipairs(self._brackets) do
      probs[i] = math.exp(#b._rungs - maxsize)
      total = total + probs[i]
    end
    local u, acc = self._rng:random(), 0
    idx = n
    for i = 1, n do
      acc = acc + probs[i] / total
      if u < acc then idx = i break end
    end
  end
  self._trial_info[trial.trial_id] = idx
end

local function numeric(self, trial, result, key, what)
  return self:_numeric(trial, result[key], key, what)
end

function AsyncHyperBandScheduler:on_trial_result(runner, trial, result)
  local action = CONTINUE
  local t = numeric(self, trial, result, self._time_attr, "time_attr")
  local m = numeric(self, trial, result, self.metric, "metric")
  if t == nil or m == nil then return action end
  if t >= self._max_t and self._stop_last_trials then
    action = STOP
  else
    local idx = self._trial_info[trial.trial_id]
    if idx == nil then
      self:on_trial_add(runner, trial)
      idx = self._trial_info[trial.trial_id]
    end
    local bracket = self._brackets[idx]
    action = bracket:on_result(trial.trial_id, t, self:_rung_value(trial.trial_id, t, self._metric_op * m, bracket))
  end
  if action == STOP then self._num_stopped = self._num_stopped + 1 end
  return action
end

function AsyncHyperBandScheduler:on_trial_complete(runner, trial, result)
  local t = numeric(self, trial, result, self._time_attr, "time_attr")
  local m = numeric(self, trial, result, self.metric, "metric")
  if t == nil or m == nil then return end
  local idx = self._trial_info[trial.trial_id]
  if idx == nil then return end
  local bracket = self._brackets[idx]
  bracket:on_result(trial.trial_id, t, self:_rung_value(trial.trial_id, t, self._metric_op * m, bracket))
  self._trial_info[trial.trial_id] = nil
  self:_forget(trial.trial_id)
end

--- How many more results a trial at iteration `it` may report before this
--- scheduler may stop it: up to its bracket's next rung it has not been
--- judged at, or to max_t (the runner caps a buffered batch there, so
--- that no result after a STOP is computed). nil unless time_attr is
--- training_iteration.
function AsyncHyperBandScheduler:results_before_decision(runner, trial, it) -- luacheck: ignore runner
  if self._time_attr ~= "training_iteration" then return nil end
  local idx = self._trial_info[trial.trial_id]
  if idx == nil then return nil end
  local best
  if self._stop_last_trials and self._max_t > it then best = self._max_t - it end
  for _, rung in ipairs(self._brackets[idx]._rungs) do
    local m = rung.milestone
    if m > it and rung.recorded[trial.trial_id] == nil and (best == nil or m - it < best) then best = m - it end
  end
  return best and math.ceil(best)
end

--- The value a result is judged by at a rung (the reward: the metric
--- times the mode's sign). CurveASHAScheduler judges by an extrapolation.
function AsyncHyperBandScheduler:_rung_value(trial_id, t, reward, bracket) -- luacheck: ignore
  return reward
end

--- A trial that will report no more (subclasses drop what they kept).
function AsyncHyperBandScheduler:_forget(trial_id) end -- luacheck: ignore

function AsyncHyperBandScheduler:on_trial_remove(runner, trial)
  self._trial_info[trial.trial_id] = nil
  self:_forget(trial.trial_id)
end

function AsyncHyperBandScheduler:debug_string()
  local out = {string.format("Using AsyncHyperBand: num_stopped=%d", self._num_stopped)}
  for i, b in ipairs(self._brackets) do out[i + 1] = b:debug_str() end
  return table.concat(out, "\n")
end

--------------------------------------------------------------------------
-- State (Ray pickles __dict__; this is the same content as JSON data)
--------------------------------------------------------------------------

function AsyncHyperBandScheduler:save()
  local brackets = {}
  for i, b in ipairs(self._brackets) do brackets[i] = b:save() end
  local info = {}
  for id, idx in pairs(self._trial_info) do info[#info + 1] = {id, idx} end
  table.sort(info, function(a, b) return a[1] < b[1] end)
  return {
    scheduler = "AsyncHyperBandScheduler", version = 1,
    metric = self.metric, mode = self.mode, time_attr = self._time_attr, max_t = self._max_t,
    grace_period = self._grace_period, reduction_factor = self._reduction_factor,
    stop_last_trials = self._stop_last_trials, counter = self._counter, num_stopped = self._num_stopped,
    trial_info = info, brackets = brackets, rng = self._rng:get_state(),
  }
end

local nonnull = util.nonnull

function AsyncHyperBandScheduler:restore(state)
  TrialScheduler.check_state(state, "AsyncHyperBandScheduler")
  self.metric = nonnull(state.metric)
  self.mode = nonnull(state.mode)
  self._metric_op = metric_op(self.mode)
  self._time_attr = state.time_attr
  self._max_t = state.max_t
  self._grace_period = state.grace_period
  self._reduction_factor = state.reduction_factor
  self._stop_last_trials = state.stop_last_trials ~= false
  self._counter = state.counter or 0
  self._num_stopped = state.num_stopped or 0
  self._brackets = {}
  for i, b in ipairs(state.brackets or {}) do self._brackets[i] = Bracket.load(b) end
  self._trial_info = {}
  for _, pair in ipairs(state.trial_info or {}) do self._trial_info[pair[1]] = pair[2] end
  if type(state.rng) == "table" then self._rng:set_state(state.rng) end
end

return {AsyncHyperBandScheduler = AsyncHyperBandScheduler, ASHAScheduler = AsyncHyperBandScheduler}
