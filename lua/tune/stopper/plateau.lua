--- tune.stopper.plateau: TrialPlateauStopper and ExperimentPlateauStopper,
--- with what they measure a plateau by: np.std with numpy's summation
--- order and sorted() in CPython's order, so decisions match Ray's to the
--- last bit. Part of tune.stopper (which exposes _np_std and _py_sorted).
local base = require("tune.stopper.base")
local core = require("tune.core")

local M = {}

local Stopper = base.Stopper
local check_opts, check_state, array, sorted_ids = base.check_opts, base.check_state, base.array, base.sorted_ids
local check_number = base.check_number

-- Marks a value in a plateau window that is not a number (Ray keeps
-- None/strings there, which makes np.std fail: the window cannot plateau).
local MISSING = core.null

-------------------------------------------------------------------------------
-- Helpers
-------------------------------------------------------------------------------

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
  check_number("TrialPlateauStopper", "std", std, 3)
  if math.type(num_results) ~= "integer" or num_results < 0 then
    error(string.format("TrialPlateauStopper: num_results must be a non-negative integer, got %s",
      tostring(num_results)), 3)
  end
  check_number("TrialPlateauStopper", "grace_period", grace_period, 3)
  if o.metric_threshold ~= nil then check_number("TrialPlateauStopper", "metric_threshold", o.metric_threshold, 3) end
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
  if math.type(std) ~= "float" or not (std > 0) then
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

return M
