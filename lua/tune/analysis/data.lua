--- tune.analysis.data: ExperimentAnalysis's tables (internal): trial
--- configs, result histories by logdir, the one-row-per-trial dataframe,
--- and the experiment state's stats and runner data.
local core = require("tune.core")
local util = require("tune.util")
local common = require("tune.analysis.common")

local M = {}

local as_number, flat_row, is_nan = common.as_number, common.flat_row, common.is_nan
local last_result, trial_name, warn = common.last_result, common.trial_name, common.warn

-- The ExperimentAnalysis methods defined here (tune.analysis builds the
-- class with them).
local ExperimentAnalysis = {}
M.methods = ExperimentAnalysis

--- The config of a trial: its params.json, else trial.config (cached).
function ExperimentAnalysis:_config(t)
  local c = self._configs[t]
  if c == nil then
    local text = type(t.logdir) == "string" and core.read_file(util.join(t.logdir, "params.json"))
    local decoded = text and core.json_decode(text)
    c = type(decoded) == "table" and decoded or (type(t.config) == "table" and t.config) or {}
    self._configs[t] = c
  end
  return c
end

--- logdir -> config for every trial with a logdir (Ray 2.0); with prefix,
--- flattened under "config/".
function ExperimentAnalysis:get_all_configs(prefix)
  if prefix ~= nil and type(prefix) ~= "boolean" then
    error("ExperimentAnalysis: get_all_configs(prefix): prefix must be true or false, got " .. type(prefix), 2)
  end
  local out = {}
  for _, t in ipairs(self.trials) do
    if type(t.logdir) == "string" then
      local c = self:_config(t)
      out[t.logdir] = prefix and flat_row({config = c}) or c
    end
  end
  return out
end

--- logdir -> the trial's history rows (flattened results), for every trial
--- whose result.json or progress.csv exists.
function ExperimentAnalysis:trial_dataframes()
  local out = {}
  for _, t in ipairs(self.trials) do
    local rows, found = self:_rows(t)
    if found then out[t.logdir] = rows end
  end
  return out
end

--- One row per trial: its last result, or with metric and mode its best
--- ever result on the metric, flattened, plus "config/..." keys and logdir.
function ExperimentAnalysis:dataframe(metric, mode)
  if mode ~= nil and mode ~= "min" and mode ~= "max" then
    error("If set, `mode` has to be one of [min, max]", 2)
  end
  if mode and not metric then
    error("If a `mode` is passed to `ExperimentAnalysis.dataframe()`, you'll also have to pass a `metric`!", 2)
  end
  if metric ~= nil and type(metric) ~= "string" then
    error("`metric` has to be nil or a string, got " .. type(metric), 2)
  end
  local out = {}
  for _, t in ipairs(self.trials) do
    local rows, found = self:_rows(t)
    if not found and next(last_result(t)) ~= nil then rows = {flat_row(last_result(t))} end
    local pick
    if #rows > 0 then
      if mode then
        local best_v
        for i, row in ipairs(rows) do
          local v = as_number(row[metric])
          if v ~= nil and not is_nan(v)
              and (best_v == nil or (mode == "max" and v > best_v) or (mode == "min" and v < best_v)) then
            pick, best_v = i, v
          end
        end
        if not pick then
          warn(string.format("Non-numerical value(s) encountered for %s", tostring(t.logdir or trial_name(t))))
        end
      else
        pick = #rows
      end
    end
    if pick then
      local row = {}
      for k, v in pairs(rows[pick]) do row[k] = v end
      for k, v in pairs(flat_row({config = self:_config(t)})) do row[k] = v end
      row.logdir = t.logdir
      out[#out + 1] = row
    end
  end
  return out
end

--- Ray's fetch_trial_dataframes: the histories read again from disk
--- (trial_dataframes() reads them once and keeps them), and the scores
--- computed from them forgotten.
function ExperimentAnalysis:fetch_trial_dataframes()
  self._history = {}
  self._analysis = {}
  return self:trial_dataframes()
end

--- Ray's set_filetype: read the histories from "json" (result.json) or
--- "csv" (progress.csv) only; nil: result.json, else progress.csv (the
--- default). They are read again; returns true.
function ExperimentAnalysis:set_filetype(file_type)
  if file_type ~= nil and file_type ~= "json" and file_type ~= "csv" then
    error("`file_type` has to be nil or one of [json, csv], but got "
      .. (type(file_type) == "string" and string.format("%q", file_type) or type(file_type)), 2)
  end
  self._file_type = file_type
  self:fetch_trial_dataframes()
  return true
end

--- The experiment state's "stats" (for several experiments, a map from
--- each one's directory name, as experiment_names, to its stats).
function ExperimentAnalysis:stats()
  return self:_per_source("stats")
end

--- The experiment state's "runner" data (map as stats() for several).
function ExperimentAnalysis:runner_data()
  return self:_per_source("runner")
end

-- By directory name: a renamed earlier run of the same experiment keeps
-- the name in its state (keyed by that, one of the two was lost).
function ExperimentAnalysis:_per_source(key)
  local srcs = self._sources
  if #srcs == 1 then return srcs[1].state[key] end
  local out = {}
  for i, src in ipairs(srcs) do out[self.experiment_names[i]] = src.state[key] end
  return out
end

return M
