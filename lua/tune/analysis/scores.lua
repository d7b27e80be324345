--- tune.analysis.scores: ExperimentAnalysis's scores and best trials
--- (internal): Ray's metric_analysis of a trial's metric, the checks of
--- metric, mode and scope, get_trial_score and get_best_trial/config/logdir.
local common = require("tune.analysis.common")

local M = {}

M.SCOPES = {"all", "last", "avg", "last-5-avg", "last-10-avg"}

local SCOPE_SET = {}
for _, s in ipairs(M.SCOPES) do SCOPE_SET[s] = true end
local N_STEPS = {5, 10}
-- Result keys that are never metrics (Ray's DEBUG_METRICS).
local DEBUG_METRICS = {trial_id = true, experiment_id = true, date = true, timestamp = true,
  pid = true, hostname = true, node_ip = true, config = true}

--- Whether a result key is scored at all: not a DEBUG_METRICS one, nor the
--- config's ("config/lr"), which Ray's metric_analysis leaves out.
function M.is_metric(key)
  return not DEBUG_METRICS[key] and key:sub(1, 7) ~= "config/"
end

local as_number, flat_row, last_result = common.as_number, common.flat_row, common.last_result
local is_nan_or_inf, warn = common.is_nan_or_inf, common.warn

-- The ExperimentAnalysis methods defined here (tune.analysis builds the
-- class with them).
local ExperimentAnalysis = {}
M.methods = ExperimentAnalysis

--- Ray's Trial.metric_analysis for one metric, rebuilt from the history in
--- the order Ray updates it (avg weighs by training_iteration; min/max keep
--- Python's max(value, old) semantics with NaN); nil if never reported.
function ExperimentAnalysis:_metric_analysis(t, metric)
  local per = self._analysis[t]
  if not per then
    per = {}
    self._analysis[t] = per
  end
  local cached = per[metric]
  if cached ~= nil then return cached or nil end
  if not M.is_metric(metric) then
    per[metric] = false
    return nil
  end
  local rows = self:_rows(t)
  if #rows == 0 and next(last_result(t)) ~= nil then rows = {flat_row(last_result(t))} end
  local a, windows
  for _, row in ipairs(rows) do
    local v = as_number(row[metric])
    if v ~= nil then
      if a == nil then
        a = {max = v, min = v, avg = v, last = v}
        windows = {}
        for _, n in ipairs(N_STEPS) do
          windows[n] = {v}
          a["last-" .. n .. "-avg"] = v
        end
      else
        local step = row.training_iteration
        if type(step) ~= "number" or step == 0 then step = 1 end
        a.max = (a.max > v) and a.max or v
        a.min = (a.min < v) and a.min or v
        -- In floats, as Python's: integer metrics near 2^63 overflowed.
        a.avg = 1 / step * (v + (step - 1) * (a.avg + 0.0))
        a.last = v
        for _, n in ipairs(N_STEPS) do
          local w = windows[n]
          w[#w + 1] = v
          if #w > n then table.remove(w, 1) end
          local sum = 0.0
          for _, x in ipairs(w) do sum = sum + x end
          a["last-" .. n .. "-avg"] = sum / #w
        end
      end
    end
  end
  per[metric] = a or false
  return a
end

local function check_metric(self, metric)
  if metric == nil then metric = self.default_metric end
  if metric == nil then
    return nil, "No `metric` has been passed and `default_metric` has not been set. "
      .. "Please specify the `metric` parameter."
  end
  if type(metric) ~= "string" then return nil, "`metric` has to be a string" end
  return metric
end

local function check_mode(self, mode)
  if mode ~= nil and mode ~= "min" and mode ~= "max" then
    return nil, "If set, `mode` has to be one of [min, max]"
  end
  mode = mode or self.default_mode
  if mode == nil then
    return nil, "No `mode` has been passed and `default_mode` has not been set. "
      .. "Please specify the `mode` parameter."
  end
  return mode
end

local function check_scope(metric, scope)
  if scope == nil then return "last" end
  if not SCOPE_SET[scope] then
    return nil, string.format("ExperimentAnalysis: attempting to get best trial for metric %s for scope %s "
      .. "not in [\"all\", \"last\", \"avg\", \"last-5-avg\", \"last-10-avg\"]. If you didn't pass a "
      .. "`metric` parameter to `tune.run()`, you have to pass one when fetching the best trial.",
      tostring(metric), tostring(scope))
  end
  return scope
end

--- A trial's score on `metric` for `scope` (with "all", its min or max by
--- `mode`), or nil when it never reported the metric. tunelua extension.
function ExperimentAnalysis:get_trial_score(trial, metric, mode, scope)
  local err
  metric, err = check_metric(self, metric)
  if not metric then error(err, 2) end
  mode, err = check_mode(self, mode)
  if not mode then error(err, 2) end
  scope, err = check_scope(metric, scope)
  if not scope then error(err, 2) end
  trial, err = common.resolve_trial(self, trial)
  if not trial then error(err, 2) end
  local a = self:_metric_analysis(trial, metric)
  if not a then return nil end
  return a[scope == "all" and mode or scope]
end

local function find_best(self, metric, mode, scope, filter_nan_and_inf)
  if type(self) ~= "table" or type(rawget(self, "trials")) ~= "table" then
    -- analysis.get_best_trial("loss", "min"): "loss" was taken for the analysis.
    return false, "ExperimentAnalysis: call its methods with a colon (analysis:get_best_trial(...))"
  end
  if filter_nan_and_inf ~= nil and type(filter_nan_and_inf) ~= "boolean" then
    return false, "ExperimentAnalysis: filter_nan_and_inf must be true or false, got " .. type(filter_nan_and_inf)
  end
  local err
  metric, err = check_metric(self, metric)
  if not metric then return false, err end
  mode, err = check_mode(self, mode)
  if not mode then return false, err end
  scope, err = check_scope(metric, scope)
  if not scope then return false, err end
  if filter_nan_and_inf == nil then filter_nan_and_inf = true end
  -- Ray returns the only trial without looking at its results.
  if #self.trials == 1 then return true, self.trials[1] end
  local key = scope == "all" and mode or scope
  local best, best_score
  for _, t in ipairs(self.trials) do
    local a = self:_metric_analysis(t, metric)
    local score = a and a[key]
    if score ~= nil and not (filter_nan_and_inf and is_nan_or_inf(score)) then
      if best_score == nil
          or (mode == "max" and best_score < score)
          or (mode == "min" and best_score > score) then
        best, best_score = t, score
      end
    end
  end
  if best == nil then
    warn("Could not find best trial. Did you pass the correct `metric` parameter?")
  end
  return true, best
end

--- The best trial by `metric` and `mode` (defaults: default_metric,
--- default_mode) over `scope` ("last", "avg", "last-5-avg", "last-10-avg",
--- "all"); trials whose score is NaN or infinite are skipped unless
--- filter_nan_and_inf is false. nil (and a warning) if no trial has it.
function ExperimentAnalysis:get_best_trial(metric, mode, scope, filter_nan_and_inf)
  local ok, r = find_best(self, metric, mode, scope, filter_nan_and_inf)
  if not ok then error(r, 2) end
  return r
end

function ExperimentAnalysis:get_best_config(metric, mode, scope)
  local ok, r = find_best(self, metric, mode, scope)
  if not ok then error(r, 2) end
  return r and r.config or nil
end

function ExperimentAnalysis:get_best_logdir(metric, mode, scope)
  local ok, r = find_best(self, metric, mode, scope)
  if not ok then error(r, 2) end
  return r and r.logdir or nil
end

M.check_mode = check_mode
M.find_best = find_best
return M
