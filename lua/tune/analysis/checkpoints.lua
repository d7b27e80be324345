--- tune.analysis.checkpoints: a trial's checkpoints (internal): those the
--- trial records or its logdir holds, their values of a metric, and
--- ExperimentAnalysis's get_trial_checkpoints_paths, get_best_checkpoint and
--- get_last_checkpoint.
local core = require("tune.core")
local util = require("tune.util")
local common = require("tune.analysis.common")
local scores = require("tune.analysis.scores")

local M = {}

local as_number, is_nan = common.as_number, common.is_nan
local trial_name, warn = common.trial_name, common.warn
local check_mode, find_best = scores.check_mode, scores.find_best

-- The ExperimentAnalysis methods defined here (tune.analysis builds the
-- class with them).
local ExperimentAnalysis = {}
M.methods = ExperimentAnalysis

--- Checkpoint directory names under a trial directory, with their metadata.
local function scan_checkpoints(logdir)
  local out = {}
  for _, name in ipairs(logdir and core.listdir(logdir) or {}) do
    local dir = util.join(logdir, name)
    if name:match("^checkpoint_%d+$") and core.stat(dir) == "directory" then
      local meta = core.read_file(dir .. "/.tune_metadata.json")
      meta = meta and core.json_decode(meta)
      out[#out + 1] = {dir = dir, metrics = type(meta) == "table" and meta or {}}
    end
  end
  return out
end

--- A trial's persistent checkpoints as {dir=, metrics=}: a live trial's
--- checkpoint_manager.persistent, a record's "checkpoints", else the
--- checkpoint_NNNNNN directories found in its logdir.
local function trial_checkpoints(t)
  local out = {}
  local cm = t.checkpoint_manager
  local list = type(cm) == "table" and type(cm.persistent) == "table" and cm.persistent or t.checkpoints
  if type(list) == "table" then
    for _, c in ipairs(list) do
      local dir = type(c) == "table" and (c.dir_or_data or c.dir)
      local storage = type(c) == "table" and (c.storage_mode or c.storage)
      if type(dir) == "string" and storage ~= "MEMORY" then
        out[#out + 1] = {dir = dir, metrics = type(c.metrics) == "table" and c.metrics or {}}
      end
    end
  end
  if #out == 0 then return scan_checkpoints(t.logdir) end
  return out
end

--- The training_iteration a checkpoint was saved at.
local function checkpoint_iteration(c)
  local it = c.metrics.training_iteration
  if type(it) == "number" then return it end
  local meta = core.read_file(c.dir .. "/.tune_metadata.json")
  meta = meta and core.json_decode(meta)
  if type(meta) == "table" and type(meta.training_iteration) == "number" then return meta.training_iteration end
  local n = c.dir:match("checkpoint_(%d+)/*$")
  return n and tonumber(n) or nil
end

local resolve_trial = common.resolve_trial

local function checkpoint_values(self, t, metric)
  local out = {}
  for _, c in ipairs(trial_checkpoints(t)) do
    local v = util.get_path(c.metrics, metric)
    if v == nil or v == core.null then
      v = nil
      local it = checkpoint_iteration(c)
      if it then
        local rows = self:_rows(t)
        for i = #rows, 1, -1 do
          if rows[i].training_iteration == it then
            v = rows[i][metric]
            break
          end
        end
      end
    end
    out[#out + 1] = {c.dir, v, path = c.dir, value = v}
  end
  return out
end

--- The metric checkpoints are ranked by: `metric`, else default_metric,
--- else "training_iteration"; or nil and why not.
local function checkpoint_metric(self, metric)
  if metric == nil then metric = self.default_metric or "training_iteration" end
  if type(metric) ~= "string" then return nil, "`metric` has to be a string, got " .. type(metric) end
  return metric
end

--- {path, value} for each persistent checkpoint of a trial (or logdir):
--- the metric at save time, else from the result with the same
--- training_iteration. metric defaults to default_metric, else
--- "training_iteration".
function ExperimentAnalysis:get_trial_checkpoints_paths(trial, metric)
  local t, err = resolve_trial(self, trial)
  if not t then error(err, 2) end
  metric, err = checkpoint_metric(self, metric)
  if not metric then error(err, 2) end
  return checkpoint_values(self, t, metric)
end

local function best_checkpoint(self, trial, metric, mode)
  local t, err = resolve_trial(self, trial)
  if not t then return false, err end
  metric, err = checkpoint_metric(self, metric)
  if not metric then return false, err end
  mode, err = check_mode(self, mode)
  if not mode then return false, err end
  local best, best_v
  for _, pv in ipairs(checkpoint_values(self, t, metric)) do
    local v = as_number(pv[2])
    if v ~= nil and not is_nan(v) then
      if best_v == nil or (mode == "max" and v > best_v) or (mode == "min" and v < best_v) then
        best, best_v = pv[1], v
      end
    end
  end
  if best == nil then
    warn(string.format("No checkpoints have been found for trial %s.", trial_name(t)))
    return true, nil
  end
  if core.stat(best) ~= "directory" then
    warn(string.format("The requested checkpoint for trial %s is not available: %s does not exist.",
      trial_name(t), best))
    return true, nil
  end
  return true, best
end

--- The directory of a trial's best persistent checkpoint by `metric`
--- (default: default_metric, else training_iteration) and `mode`; NaN
--- values are skipped; nil when there is none.
function ExperimentAnalysis:get_best_checkpoint(trial, metric, mode)
  local ok, r = best_checkpoint(self, trial, metric, mode)
  if not ok then error(r, 2) end
  return r
end

--- The newest checkpoint (highest training_iteration) of `trial`, or of
--- the best trial by metric/mode (default: most iterations).
function ExperimentAnalysis:get_last_checkpoint(trial, metric, mode)
  if trial == nil then
    local ok, r = find_best(self, metric or "training_iteration", mode or "max")
    if not ok then error(r, 2) end
    trial = r
    if trial == nil then return nil end
  end
  local ok, r = best_checkpoint(self, trial, "training_iteration", "max")
  if not ok then error(r, 2) end
  return r
end

M.trial_checkpoints = trial_checkpoints
M.best_checkpoint = best_checkpoint
return M
