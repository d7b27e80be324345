--- tune.stopper: stopping trials and experiments (Ray Tune 2.0's
--- ray.tune.stopper).
---
--- A stopper is called once per trial result:
---
---     stopper(trial_id, result)  --> true to stop that trial
---     stopper:stop_all()         --> true to stop the whole experiment
---
--- `result` is a plain Lua table, already flattened with "/" keys
--- (result["val/loss"]). The runner calls the stopper for every result
--- and asks stop_all() once per step, as Ray's TrialRunner does.
---
--- Built-in stoppers (same defaults, semantics and validation as Ray 2.0):
---
---     Stopper                     the base class (both hooks raise: override them)
---     NoopStopper()               never stops
---     FunctionStopper(fn)         stops a trial when fn(trial_id, result) is true
---     MaximumIterationStopper(max_iter) | {max_iter = n}
---                                 stops a trial after max_iter results
---     TrialPlateauStopper{metric, std = 0.01, num_results = 4, grace_period = 4,
---                         metric_threshold = nil, mode = nil}
---                                 stops a trial whose last num_results values
---                                 of metric have a std below `std`
---     ExperimentPlateauStopper{metric, std = 0.001, top = 10, mode = "min",
---                              patience = 0}
---                                 stops the experiment once the top values of
---                                 metric have plateaued for `patience` results
---     TimeoutStopper(seconds) | {timeout = seconds}
---                                 stops the experiment once the time budget is
---                                 spent (counted between stop_all() calls)
---     CombinedStopper(s1, s2, ...) stops when any of them does (Ray's `any`,
---                                 short-circuiting in order)
---
--- Constructors that take a metric also accept it positionally, with the
--- other options after it: `TrialPlateauStopper("loss", {std = 0.1})`.
--- An unknown option is an error naming it and the closest valid name.
--- A duration may also be given as a timedelta-like table
--- ({days =, hours =, minutes =, seconds =, milliseconds =, microseconds =,
--- weeks =}), Lua's stand-in for Python's datetime.timedelta.
---
--- Writing your own: derive from Stopper and override both hooks.
---
---     local MyStopper = stopper.Stopper:extend("MyStopper")
---     function MyStopper:__init() self.count = 0 end
---     function MyStopper:__call(trial_id, result)
---       self.count = self.count + 1
---       return result.loss < 0.1
---     end
---     function MyStopper:stop_all() return self.count > 100 end
---
--- A plain table with `__call(self, trial_id, result)` and
--- `stop_all(self)` fields is accepted too (the runner calls the fields).
---
--- Resume: every stopper has `save()` -> a JSON-serialisable table (or nil
--- when there is nothing to keep) and `restore(state)`, so an experiment
--- checkpoint can carry it, as Ray pickles its stopper with the runner.
--- restore() expects a stopper built with the same arguments. Built-ins
--- keep: MaximumIterationStopper the per-trial counts; TrialPlateauStopper
--- the per-trial counts and value windows; ExperimentPlateauStopper the top
--- values and plateau count; TimeoutStopper the budget left (the time
--- between the last check and the restore is not charged, as in Ray);
--- CombinedStopper each child's state; FunctionStopper the function's state
--- when it is a table with save/restore. A user subclass that does not
--- override them saves and restores its own fields whose values are JSON
--- data (numbers, strings, booleans, plain tables of those); functions and
--- other values are skipped.
---
--- Time: TimeoutStopper reads `self._clock` when set, else the module's
--- `stopper._clock` (tune.core.now(), monotonic seconds). Tests replace
--- `stopper._clock`; a runner on a virtual clock sets `s._clock`.
---
--- stopper.from_option(stop [, time_budget_s]) turns tune.run's `stop`
--- (and `time_budget_s`) into a stopper or nil; see there.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

--- The clock TimeoutStopper reads: seconds, monotonic. Replaceable.
M._clock = function() return core.now() end

-- Marks a value in a plateau window that is not a number (Ray keeps
-- None/strings there, which makes np.std fail: the window cannot plateau).
local MISSING = core.null

-------------------------------------------------------------------------------
-- Helpers
-------------------------------------------------------------------------------

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- Checks that `opts` (a table) has only the keys in `allowed`.
local function check_opts(name, opts, allowed, level)
  util.check_options(name, opts, allowed, level + 1)
end

-- Splits `(metric, opts)` / `({metric = ..., ...})` into an options table.
local function metric_args(name, a, b, allowed, level)
  local opts
  if type(a) == "table" and getmetatable(a) == nil then
    if b ~= nil then error(name .. ": give the options in one table", level + 1) end
    opts = a
  else
    if b ~= nil and (type(b) ~= "table" or getmetatable(b) ~= nil) then
      error(string.format("%s: options must be a table, got %s", name, type(b)), level + 1)
    end
    opts = {}
    for k, v in pairs(b or {}) do opts[k] = v end
    if opts.metric ~= nil and a ~= nil then error(name .. ": metric given twice", level + 1) end
    if a ~= nil then opts.metric = a end
  end
  check_opts(name, opts, allowed, level + 1)
  if type(opts.metric) ~= "string" then
    error(string.format("%s: metric must be a string, got %s", name, type(opts.metric)), level + 1)
  end
  return opts
end

-- Microseconds per unit of Python's timedelta.
local TIMEDELTA = {
  weeks = 604800e6, days = 86400e6, hours = 3600e6, minutes = 60e6, seconds = 1e6, milliseconds = 1e3,
  microseconds = 1,
}

-- Rounds half to even, as timedelta rounds to whole microseconds.
local function round_half_even(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
  return f
end

-- Seconds from a number or a timedelta-like table (total_seconds(): whole
-- microseconds over 10^6); nil when neither.
local function to_seconds(v)
  if type(v) == "number" then return v end
  if type(v) ~= "table" or getmetatable(v) ~= nil or next(v) == nil then return nil end
  local micro = 0
  for k, x in pairs(v) do
    if TIMEDELTA[k] == nil or type(x) ~= "number" then return nil end
    micro = micro + x * TIMEDELTA[k]
  end
  return round_half_even(micro) / 1e6
end

-- A value as numpy sees it in a float array: numbers as floats, booleans
-- as 1/0; anything else is not a number (nil).
local function as_number(v)
  if type(v) == "number" then return v + 0.0 end
  if type(v) == "boolean" then return v and 1.0 or 0.0 end
  return nil
end

-- numpy's pairwise summation of a[lo .. lo+n-1] (DOUBLE_pairwise_sum):
-- below 8 a plain loop, up to 128 eight accumulators, above that halves.
local function pairwise_sum(a, lo, n)
  if n < 8 then
    local res = 0.0
    for i = lo, lo + n - 1 do res = res + a[i] end
    return res
  elseif n <= 128 then
    local r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    local r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    local i = 8
    local stop = n - n % 8
    while i < stop do
      local b = lo + i
      r0, r1, r2, r3 = r0 + a[b], r1 + a[b + 1], r2 + a[b + 2], r3 + a[b + 3]
      r4, r5, r6, r7 = r4 + a[b + 4], r5 + a[b + 5], r6 + a[b + 6], r7 + a[b + 7]
      i = i + 8
    end
    local res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n do
      res = res + a[lo + i]
      i = i + 1
    end
    return res
  else
    local n2 = n // 2
    n2 = n2 - n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)
  end
end

--- np.std(values) (population, ddof = 0) with numpy's summation order.
--- A value that is not a number gives +inf (where Ray's np.std raises and
--- TrialPlateauStopper falls back to inf); an empty list gives NaN.
function M._np_std(values)
  local n = #values
  local x = {}
  for i = 1, n do
    local v = as_number(values[i])
    if v == nil then return math.huge end
    x[i] = v
  end
  local mean = pairwise_sum(x, 1, n) / n
  for i = 1, n do
    local d = x[i] - mean
    x[i] = d * d
  end
  return math.sqrt(pairwise_sum(x, 1, n) / n)
end

--- sorted(values) as CPython's list.sort orders numbers (stable; with NaN,
--- the same order Python gives for lists shorter than 64): the first run
--- (reversed when strictly descending), then binary insertion.
function M._py_sorted(src)
  local a = {}
  local n = #src
  for i = 1, n do a[i] = src[i] end
  if n < 2 then return a end
  local run = 2
  if a[2] < a[1] then
    while run < n and a[run + 1] < a[run] do run = run + 1 end
    local i, j = 1, run
    while i < j do
      a[i], a[j] = a[j], a[i]
      i, j = i + 1, j - 1
    end
  else
    while run < n and not (a[run + 1] < a[run]) do run = run + 1 end
  end
  for start = run + 1, n do
    local pivot = a[start]
    local l, r = 1, start
    repeat
      local p = l + ((r - l) >> 1)
      if pivot < a[p] then r = p else l = p + 1 end
    until l >= r
    for k = start, l + 1, -1 do a[k] = a[k - 1] end
    a[l] = pivot
  end
  return a
end

-- A JSON array (stays [] when empty).
local function array(t) return core.array(t or {}) end

-- Trial ids of a map in a stable order (by their text).
local function sorted_ids(map)
  local ids = {}
  for id in pairs(map) do ids[#ids + 1] = id end
  table.sort(ids, function(x, y)
    local sx, sy = tostring(x), tostring(y)
    if sx == sy then return type(x) < type(y) end
    return sx < sy
  end)
  return ids
end

local function check_state(name, state, level)
  if type(state) ~= "table" then
    error(string.format("%s:restore: state must be a table, got %s", name, type(state)), level + 1)
  end
end

-- True when v is plain JSON data (numbers, strings, booleans, null, plain
-- or array-marked tables of those; no cycles).
local function is_json_data(v, seen, depth)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if v == core.null then return true end
  if t ~= "table" or depth > 32 or seen[v] then return false end
  local mt = getmetatable(v)
  if mt ~= nil and mt ~= core.array_mt then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if (type(k) ~= "string" and math.type(k) ~= "integer") or not is_json_data(x, seen, depth + 1) then
      seen[v] = nil
      return false
    end
  end
  seen[v] = nil
  return true
end

-------------------------------------------------------------------------------
-- Stopper (base)
-------------------------------------------------------------------------------

local Stopper = class.class("Stopper")
M.Stopper = Stopper

--- stopper(trial_id, result) -> true if the trial should be terminated.
--- The base raises: a subclass overrides __call(self, trial_id, result).
function Stopper:__call(trial_id, result) -- luacheck: no unused args
  error(string.format("%s does not implement __call(self, trial_id, result)", self.__name), 2)
end

--- stopper:stop_all() -> true if the experiment should be terminated.
--- The base raises: a subclass overrides stop_all(self).
function Stopper:stop_all()
  error(string.format("%s does not implement stop_all(self)", self.__name), 2)
end

--- The stopper's state for an experiment checkpoint: by default a copy of
--- the instance's own fields that are JSON data.
function Stopper:save()
  local out = {}
  for k, v in pairs(self) do
    if type(k) == "string" and is_json_data(v, {}, 0) then out[k] = util.deepcopy(v) end
  end
  return out
end

--- Puts back what save() returned.
function Stopper:restore(state)
  check_state(self.__name, state, 2)
  for k, v in pairs(state) do
    if type(k) == "string" then rawset(self, k, util.deepcopy(v)) end
  end
end

--- True when `v` is a stopper: a Stopper instance, or a table whose
--- `stop_all` is a function, or a table with a `__call` field or metamethod.
function M.is_stopper(v)
  if class.is_instance(v, Stopper) then return true end
  if type(v) ~= "table" then return false end
  if type(v.stop_all) == "function" then return true end
  if type(rawget(v, "__call")) == "function" then return true end
  return is_callable(v)
end

-------------------------------------------------------------------------------
-- NoopStopper
-------------------------------------------------------------------------------

local NoopStopper = Stopper:extend("NoopStopper")
M.NoopStopper = NoopStopper

function NoopStopper:__call() return false end

function NoopStopper:stop_all() return false end

-------------------------------------------------------------------------------
-- FunctionStopper
-------------------------------------------------------------------------------

local FunctionStopper = Stopper:extend("FunctionStopper")
M.FunctionStopper = FunctionStopper

--- FunctionStopper(fn): stops a trial when fn(trial_id, result) is true.
function FunctionStopper:__init(fn)
  if not is_callable(fn) then
    error(string.format("FunctionStopper: expected a function(trial_id, result), got %s", type(fn)), 3)
  end
  self._fn = fn
end

function FunctionStopper:__call(trial_id, result)
  return not not self._fn(trial_id, result)
end

function FunctionStopper:stop_all() return false end

--- The function's own state, when it is a table with save().
function FunctionStopper:save()
  local fn = self._fn
  if type(fn) == "table" and type(fn.save) == "function" then return fn:save() end
  return nil
end

function FunctionStopper:restore(state)
  local fn = self._fn
  if state ~= nil and type(fn) == "table" and type(fn.restore) == "function" then fn:restore(state) end
end

--- Ray's FunctionStopper.is_valid_function: a plain function or callable
--- table that is not a Stopper (a callable with stop_all is one).
function FunctionStopper.is_valid_function(fn)
  if not is_callable(fn) or class.is_instance(fn, Stopper) then return false end
  return not (type(fn) == "table" and type(fn.stop_all) == "function")
end

-------------------------------------------------------------------------------
-- MaximumIterationStopper
-------------------------------------------------------------------------------

local MaximumIterationStopper = Stopper:extend("MaximumIterationStopper")
M.MaximumIterationStopper = MaximumIterationStopper

--- MaximumIterationStopper(max_iter) or MaximumIterationStopper{max_iter = n}:
--- stops each trial at its max_iter-th result (counted by this stopper).
function MaximumIterationStopper:__init(max_iter)
  if type(max_iter) == "table" and getmetatable(max_iter) == nil then
    check_opts("MaximumIterationStopper", max_iter, {max_iter = true}, 3)
    max_iter = max_iter.max_iter
  end
  if type(max_iter) ~= "number" then
    error(string.format("MaximumIterationStopper: max_iter must be a number, got %s", type(max_iter)), 3)
  end
  self._max_iter = max_iter
  self._iter = {}
end

function MaximumIterationStopper:__call(trial_id, result) -- luacheck: no unused args
  local n = (self._iter[trial_id] or 0) + 1
  self._iter[trial_id] = n
  return n >= self._max_iter
end

function MaximumIterationStopper:stop_all() return false end

--- {iter = [{trial_id =, count =}, ...]}
function MaximumIterationStopper:save()
  local iter = array()
  for _, id in ipairs(sorted_ids(self._iter)) do iter[#iter + 1] = {trial_id = id, count = self._iter[id]} end
  return {iter = iter}
end

function MaximumIterationStopper:restore(state)
  check_state("MaximumIterationStopper", state, 2)
  local iter = {}
  for _, e in ipairs(state.iter or {}) do iter[e.trial_id] = e.count end
  self._iter = iter
end

-------------------------------------------------------------------------------
-- TrialPlateauStopper
-------------------------------------------------------------------------------

local TrialPlateauStopper = Stopper:extend("TrialPlateauStopper")
M.TrialPlateauStopper = TrialPlateauStopper

local TRIAL_PLATEAU_OPTS = {
  metric = true, std = true, num_results = true, grace_period = true, metric_threshold = true, mode = true,
}

--- TrialPlateauStopper{metric, std = 0.01, num_results = 4, grace_period = 4,
--- metric_threshold = nil, mode = nil}: stops a trial once it has reported
--- at least grace_period results and the std of its last num_results
--- values of `metric` is below `std` (and, with metric_threshold, the last
--- value is at or beyond it: <= for mode "min", >= for "max").
function TrialPlateauStopper:__init(metric, opts)
  local o = metric_args("TrialPlateauStopper", metric, opts, TRIAL_PLATEAU_OPTS, 3)
  local std = o.std == nil and 0.01 or o.std
  local num_results = o.num_results == nil and 4 or o.num_results
  local grace_period = o.grace_period == nil and 4 or o.grace_period
  if type(std) ~= "number" then
    error(string.format("TrialPlateauStopper: std must be a number, got %s", type(std)), 3)
  end
  if math.type(num_results) ~= "integer" or num_results < 0 then
    error(string.format("TrialPlateauStopper: num_results must be a non-negative integer, got %s",
      tostring(num_results)), 3)
  end
  if type(grace_period) ~= "number" then
    error(string.format("TrialPlateauStopper: grace_period must be a number, got %s", type(grace_period)), 3)
  end
  if o.metric_threshold ~= nil and type(o.metric_threshold) ~= "number" then
    error(string.format("TrialPlateauStopper: metric_threshold must be a number, got %s",
      type(o.metric_threshold)), 3)
  end
  -- Ray tests `if self._metric_threshold:`, so a threshold of 0 needs no mode.
  if o.metric_threshold ~= nil and o.metric_threshold ~= 0 and o.mode ~= "min" and o.mode ~= "max" then
    error(string.format("When specifying a `metric_threshold`, the `mode` argument has to be one of "
      .. "[min, max]. Got: %s", tostring(o.mode)), 3)
  end
  self._metric = o.metric
  self._mode = o.mode
  self._std = std
  self._num_results = num_results
  self._grace_period = grace_period
  self._metric_threshold = o.metric_threshold
  self._iter = {}
  self._trial_results = {}
end

function TrialPlateauStopper:__call(trial_id, result)
  local raw = result[self._metric]
  local value = as_number(raw)
  local window = self._trial_results[trial_id]
  if window == nil then
    window = {}
    self._trial_results[trial_id] = window
  end
  -- A deque of maxlen num_results.
  window[#window + 1] = value == nil and MISSING or value
  while #window > self._num_results do table.remove(window, 1) end
  local n = (self._iter[trial_id] or 0) + 1
  self._iter[trial_id] = n

  if n < self._grace_period then return false end
  if #window < self._num_results then return false end

  local thr = self._metric_threshold
  if thr ~= nil then
    -- Ray compares the raw value (a missing one raises there): not stopped.
    if value == nil then return false end
    if self._mode == "min" and value > thr then return false end
    if self._mode == "max" and value < thr then return false end
  end
  return M._np_std(window) < self._std
end

function TrialPlateauStopper:stop_all() return false end

--- {trials = [{trial_id =, iter =, results = [values; null when missing]}]}
function TrialPlateauStopper:save()
  local trials = array()
  for _, id in ipairs(sorted_ids(self._iter)) do
    local results = array()
    for i, v in ipairs(self._trial_results[id] or {}) do results[i] = v end
    trials[#trials + 1] = {trial_id = id, iter = self._iter[id], results = results}
  end
  return {trials = trials}
end

function TrialPlateauStopper:restore(state)
  check_state("TrialPlateauStopper", state, 2)
  local iter, windows = {}, {}
  for _, e in ipairs(state.trials or {}) do
    iter[e.trial_id] = e.iter or 0
    local w = {}
    for _, v in ipairs(e.results or {}) do
      local x = as_number(v)
      w[#w + 1] = x == nil and MISSING or x
    end
    windows[e.trial_id] = w
  end
  self._iter, self._trial_results = iter, windows
end

-------------------------------------------------------------------------------
-- ExperimentPlateauStopper
-------------------------------------------------------------------------------

local ExperimentPlateauStopper = Stopper:extend("ExperimentPlateauStopper")
M.ExperimentPlateauStopper = ExperimentPlateauStopper

local EXPERIMENT_PLATEAU_OPTS = {metric = true, std = true, top = true, mode = true, patience = true}

--- ExperimentPlateauStopper{metric, std = 0.001, top = 10, mode = "min",
--- patience = 0}: keeps the `top` best values of `metric` over all
--- results; once there are `top` of them and their std is <= `std` for
--- more than `patience` results in a row, stops the experiment (and the
--- trial whose result it is).
function ExperimentPlateauStopper:__init(metric, opts)
  local o = metric_args("ExperimentPlateauStopper", metric, opts, EXPERIMENT_PLATEAU_OPTS, 3)
  local std = o.std == nil and 0.001 or o.std
  local top = o.top == nil and 10 or o.top
  local mode = o.mode == nil and "min" or o.mode
  local patience = o.patience == nil and 0 or o.patience
  -- Ray's checks, in Ray's order; `int` and `float` as Python tells them.
  if mode ~= "min" and mode ~= "max" then
    error("The mode parameter can only be either min or max.", 3)
  end
  if math.type(top) ~= "integer" or top <= 1 then
    error("Top results to consider must be a positive integer greater than one.", 3)
  end
  if math.type(patience) ~= "integer" or patience < 0 then
    error("Patience must be a strictly positive integer.", 3)
  end
  if math.type(std) ~= "float" or std <= 0 then
    error("The standard deviation must be a strictly positive float number.", 3)
  end
  self._mode = mode
  self._metric = o.metric
  self._patience = patience
  self._iterations = 0
  self._std = std
  self._top = top
  self._top_values = {}
end

function ExperimentPlateauStopper:__call(trial_id, result) -- luacheck: no unused args
  local raw = result[self._metric]
  local value = as_number(raw)
  if value == nil then
    -- Ray indexes result[metric] (KeyError) and sorts it (TypeError).
    if raw == nil then
      error(string.format("ExperimentPlateauStopper: result has no metric %q", self._metric), 2)
    end
    error(string.format("ExperimentPlateauStopper: metric %q is not a number (%s)", self._metric, type(raw)), 2)
  end
  local values = self._top_values
  values[#values + 1] = value
  local sorted = M._py_sorted(values)
  local top = {}
  if self._mode == "min" then
    for i = 1, math.min(self._top, #sorted) do top[i] = sorted[i] end
  else
    for i = math.max(1, #sorted - self._top + 1), #sorted do top[#top + 1] = sorted[i] end
  end
  self._top_values = top
  if self:has_plateaued() then
    self._iterations = self._iterations + 1
  else
    self._iterations = 0
  end
  return self:stop_all()
end

--- True when there are `top` values and their std is <= `std`.
function ExperimentPlateauStopper:has_plateaued()
  return #self._top_values == self._top and M._np_std(self._top_values) <= self._std
end

function ExperimentPlateauStopper:stop_all()
  return self:has_plateaued() and self._iterations >= self._patience
end

--- {top_values = [...], iterations = n}
function ExperimentPlateauStopper:save()
  local values = array()
  for i, v in ipairs(self._top_values) do values[i] = v end
  return {top_values = values, iterations = self._iterations}
end

function ExperimentPlateauStopper:restore(state)
  check_state("ExperimentPlateauStopper", state, 2)
  local values = {}
  for _, v in ipairs(state.top_values or {}) do
    local x = as_number(v)
    if x ~= nil then values[#values + 1] = x end
  end
  self._top_values = values
  self._iterations = state.iterations or 0
end

-------------------------------------------------------------------------------
-- TimeoutStopper
-------------------------------------------------------------------------------

local TimeoutStopper = Stopper:extend("TimeoutStopper")
M.TimeoutStopper = TimeoutStopper

--- TimeoutStopper(seconds), TimeoutStopper{timeout = seconds} or a
--- timedelta-like table: stops the experiment once `seconds` have passed.
--- The clock starts at the first stop_all() (setup is not charged) and the
--- budget shrinks by the time between two stop_all() calls.
function TimeoutStopper:__init(timeout)
  local t = timeout
  if type(t) == "table" and getmetatable(t) == nil then
    if t.timeout ~= nil then
      check_opts("TimeoutStopper", t, {timeout = true}, 3)
      t = t.timeout
    else
      local allowed = {timeout = true}
      for k in pairs(TIMEDELTA) do allowed[k] = true end
      check_opts("TimeoutStopper", t, allowed, 3)
    end
  end
  local seconds = to_seconds(t)
  if seconds == nil then
    error(string.format("`timeout` parameter has to be either a number or a timedelta table "
      .. "({days =, hours =, minutes =, seconds =, ...}). Found: %s", type(t)), 3)
  end
  self._timeout_seconds = seconds
  self._budget = seconds
  self._last_check = nil
end

function TimeoutStopper:__call() return false end

function TimeoutStopper:stop_all()
  local now = (self._clock or M._clock)()
  if self._last_check ~= nil then self._budget = self._budget - (now - self._last_check) end
  self._last_check = now
  return self._budget <= 0
end

--- {timeout_seconds =, budget =}
function TimeoutStopper:save()
  return {timeout_seconds = self._timeout_seconds, budget = self._budget}
end

--- The budget left is kept; the next stop_all() starts counting again.
function TimeoutStopper:restore(state)
  check_state("TimeoutStopper", state, 2)
  if type(state.budget) ~= "number" then
    error("TimeoutStopper:restore: state.budget must be a number", 2)
  end
  self._budget = state.budget
  if type(state.timeout_seconds) == "number" then self._timeout_seconds = state.timeout_seconds end
  self._last_check = nil
end

-------------------------------------------------------------------------------
-- CombinedStopper
-------------------------------------------------------------------------------

local CombinedStopper = Stopper:extend("CombinedStopper")
M.CombinedStopper = CombinedStopper

-- A plug-in table without a hook has no opinion (false).
local function call_stopper(s, trial_id, result)
  if is_callable(s) then return s(trial_id, result) end
  local f = s.__call
  if f == nil then return false end
  return f(s, trial_id, result)
end

local function stop_all_of(s)
  local f = s.stop_all
  if f == nil then return false end
  return f(s)
end

--- CombinedStopper(s1, s2, ...) (or one array of stoppers): stops when any
--- of them does, asking them in order and stopping at the first yes.
function CombinedStopper:__init(...)
  local list = table.pack(...)
  if list.n == 1 and type(list[1]) == "table" and getmetatable(list[1]) == nil and not M.is_stopper(list[1]) then
    list = table.pack(table.unpack(list[1]))
  end
  local stoppers = {}
  for i = 1, list.n do
    local s = list[i]
    if not M.is_stopper(s) then
      error(string.format("CombinedStopper: argument %d is not a stopper (%s)", i, type(s)), 3)
    end
    stoppers[i] = s
  end
  self._stoppers = stoppers
end

function CombinedStopper:__call(trial_id, result)
  for _, s in ipairs(self._stoppers) do
    if call_stopper(s, trial_id, result) then return true end
  end
  return false
end

function CombinedStopper:stop_all()
  for _, s in ipairs(self._stoppers) do
    if stop_all_of(s) then return true end
  end
  return false
end

--- {stoppers = [state or null, ...]} in argument order.
function CombinedStopper:save()
  local states = array()
  for i, s in ipairs(self._stoppers) do
    local st = nil
    if type(s.save) == "function" then st = s:save() end
    states[i] = st == nil and core.null or st
  end
  return {stoppers = states}
end

function CombinedStopper:restore(state)
  check_state("CombinedStopper", state, 2)
  local states = state.stoppers or {}
  for i, s in ipairs(self._stoppers) do
    local st = states[i]
    if st ~= nil and st ~= core.null and type(s.restore) == "function" then s:restore(st) end
  end
end

-------------------------------------------------------------------------------
-- tune.run's `stop`
-------------------------------------------------------------------------------

local function is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

--- stopper.from_option(stop [, time_budget_s]) -> stopper or nil, as Ray's
--- Experiment reads `stop`:
---   nil or {}                    -> nil
---   a table of thresholds        -> nil (the runner compares them through
---     ({training_iteration = 10})   Trial.stopping_criterion)
---   an array of stoppers         -> CombinedStopper of them
---   a function(trial_id, result) -> FunctionStopper
---   a Stopper, or a table with stop_all / a `__call` field -> as is
---   a callable table without stop_all -> FunctionStopper (Ray: a callable
---     that is not a Stopper)
---   anything else                -> error naming its type
--- With time_budget_s (seconds or a timedelta table; nil or 0 = none) the
--- result is combined with a TimeoutStopper, as Ray does.
function M.from_option(stop, time_budget_s)
  local s
  local t = type(stop)
  if stop == nil then
    s = nil
  elseif t == "function" then
    s = FunctionStopper(stop)
  elseif t == "table" then
    if class.is_instance(stop, Stopper) then
      s = stop
    elseif type(stop.stop_all) == "function" or type(rawget(stop, "__call")) == "function" then
      s = stop
    elseif is_callable(stop) then
      s = FunctionStopper(stop)
    elseif getmetatable(stop) ~= nil and getmetatable(stop) ~= core.array_mt then
      error("Provided stop object must be either a table of thresholds, a function, or a Stopper "
        .. "(a table with __call and stop_all). Got a table with a metatable ("
        .. tostring(getmetatable(stop).__name or "table") .. ").", 2)
    elseif is_list(stop) then
      local types = {}
      local bad = false
      for i, x in ipairs(stop) do
        types[i] = class.is_instance(x, Stopper) and x.__name or type(x)
        if not M.is_stopper(x) then bad = true end
      end
      if bad then
        error("If you pass a list as the `stop` argument to `tune.run()`, each element must be a "
          .. "Stopper. Got [" .. table.concat(types, ", ") .. "].", 2)
      end
      s = CombinedStopper(table.unpack(stop))
    else
      s = nil
    end
  else
    error(string.format("Invalid stop criteria: %s. Must be a function, a Stopper or a table. Got %s.",
      tostring(stop), t), 2)
  end

  if time_budget_s ~= nil and time_budget_s ~= 0 then
    local seconds = to_seconds(time_budget_s)
    if seconds == nil then
      error(string.format("time_budget_s must be a number of seconds or a timedelta table, got %s",
        type(time_budget_s)), 2)
    end
    if seconds ~= 0 then
      local timeout = TimeoutStopper(seconds)
      s = s and CombinedStopper(s, timeout) or timeout
    end
  end
  return s
end

return M
