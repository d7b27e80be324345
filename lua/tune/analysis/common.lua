--- tune.analysis.common: small helpers the tune.analysis modules share
--- (internal): the warning channel, metric values as numbers, flattened
--- results, and a trial's name and last result.
local core = require("tune.core")
local util = require("tune.util")

local M = {}

local function warn(msg)
  io.stderr:write("tune.analysis: WARNING: ", msg, "\n")
end
M.warn = warn

local function is_nan(v) return v ~= v end
local function is_nan_or_inf(v) return v ~= v or v == math.huge or v == -math.huge end

--- A metric value as a number (Python counts bools as numbers), or nil.
local function as_number(v)
  if type(v) == "number" then return v end
  if type(v) == "boolean" then return v and 1 or 0 end
  return nil
end

--- Flattened copy of a result, without JSON nulls.
local function flat_row(obj)
  local row = util.flatten(obj, "/")
  for k, v in pairs(row) do
    if v == core.null then row[k] = nil end
  end
  return row
end

--- A trial's display name (Ray's str(trial)).
function M.trial_name(t)
  local mt = getmetatable(t)
  if mt and mt.__tostring then return tostring(t) end
  if type(t.custom_trial_name) == "string" then return t.custom_trial_name end
  return string.format("%s_%s", tostring(t.trainable_name), tostring(t.trial_id))
end

local function last_result(t)
  local r = t.last_result
  return type(r) == "table" and r or {}
end

M.is_nan, M.is_nan_or_inf, M.as_number = is_nan, is_nan_or_inf, as_number
M.flat_row, M.last_result = flat_row, last_result
--- A trial given as a trial or as its logdir (Ray's methods take either):
--- the trial, or nil and why not.
function M.resolve_trial(self, trial)
  if type(trial) == "table" then
    if type(trial.trial_id) == "string" or type(trial.logdir) == "string" then return trial end
    -- analysis.trials, or {trial}: taken as a trial, it had no checkpoints
    -- and no score, and warnings named "nil_nil".
    return nil, "trial should be a logdir string or a trial, got a table with neither trial_id nor logdir"
      .. (type(trial[1]) == "table" and " (a list of trials? pass one of them)" or "")
  end
  if type(trial) ~= "string" then return nil, "trial should be a logdir string or a trial" end
  local dir = util.expanduser(trial):gsub("/+$", "")
  for _, t in ipairs(self.trials) do
    if t.logdir == dir then return t end
  end
  -- Not a trial of the experiment: named by its path in warnings, as Ray does.
  return {logdir = dir, trial_id = dir:match("[^/]+$"), custom_trial_name = dir}
end

return M
