--- tune.analysis.properties: ExperimentAnalysis's properties (internal),
--- Ray's @property best_trial, best_config, ..., results_df. Each getter
--- returns true, value or false, message; the class's __index (in
--- tune.analysis) calls it and raises the message.
local checkpoints = require("tune.analysis.checkpoints")
local common = require("tune.analysis.common")
local scores = require("tune.analysis.scores")

local flat_row, last_result = common.flat_row, common.last_result
local find_best, best_checkpoint = scores.find_best, checkpoints.best_checkpoint

local PROPERTIES = {}

local function need_defaults(self, what, alternative)
  if not self.default_metric or not self.default_mode then
    return false, string.format("To fetch the `%s`, pass a `metric` and `mode` parameter to `tune.run()`. "
      .. "Alternatively, use the `%s` method to set the metric and mode explicitly.", what, alternative)
  end
  return true
end

local function best_or_fail(self)
  local ok, t = find_best(self, self.default_metric, self.default_mode)
  if not ok then return false, t end
  if t == nil then
    return false, string.format("No best trial found. Please check if you specified the correct default "
      .. "metric (%s) and mode (%s).", tostring(self.default_metric), tostring(self.default_mode))
  end
  return true, t
end

function PROPERTIES.best_trial(self)
  local ok, err = need_defaults(self, "best_trial", "get_best_trial(metric, mode)")
  if not ok then return false, err end
  return find_best(self, self.default_metric, self.default_mode)
end

function PROPERTIES.best_config(self)
  local ok, err = need_defaults(self, "best_config", "get_best_config(metric, mode)")
  if not ok then return false, err end
  local ok2, t = find_best(self, self.default_metric, self.default_mode)
  if not ok2 then return false, t end
  return true, t and t.config or nil
end

function PROPERTIES.best_logdir(self)
  local ok, err = need_defaults(self, "best_logdir", "get_best_logdir(metric, mode, scope)")
  if not ok then return false, err end
  local ok2, t = find_best(self, self.default_metric, self.default_mode)
  if not ok2 then return false, t end
  return true, t and t.logdir or nil
end

function PROPERTIES.best_checkpoint(self)
  local ok, err = need_defaults(self, "best_checkpoint", "get_best_checkpoint(trial, metric, mode)")
  if not ok then return false, err end
  local ok2, t = best_or_fail(self)
  if not ok2 then return false, t end
  return best_checkpoint(self, t, self.default_metric, self.default_mode)
end

function PROPERTIES.best_result(self)
  local ok, err = need_defaults(self, "best_result", "get_best_trial(metric, mode).last_result")
  if not ok then return false, err end
  local ok2, t = best_or_fail(self)
  if not ok2 then return false, t end
  return true, last_result(t)
end

function PROPERTIES.best_result_df(self)
  local ok, r = PROPERTIES.best_result(self)
  if not ok then return false, (r:gsub("`best_result`", "`best_result_df`", 1)) end
  return true, {flat_row(r)}
end

function PROPERTIES.best_dataframe(self)
  local ok, err = need_defaults(self, "best_dataframe", "get_best_logdir(metric, mode)")
  if not ok then return false, err end
  local ok2, t = best_or_fail(self)
  if not ok2 then return false, t end
  return true, (self:_rows(t))
end

function PROPERTIES.results(self)
  local out = {}
  for _, t in ipairs(self.trials) do out[t.trial_id] = last_result(t) end
  return true, out
end

function PROPERTIES.results_df(self)
  local out = {}
  for _, t in ipairs(self.trials) do out[#out + 1] = flat_row(last_result(t)) end
  return true, out
end

return PROPERTIES
