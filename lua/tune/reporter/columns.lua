--- tune.reporter.columns: CLIReporter's metric and parameter columns
--- (internal): Ray's default columns, columns given as options or added
--- later, and the user metrics inferred from results.
local core = require("tune.core")
local util = require("tune.util")
local trial_info = require("tune.reporter.trial_info")
local values = require("tune.reporter.values")

local M = {}

local is_array, last_result = values.is_array, trial_info.last_result
local NULL = core.null

-- Ray's DEFAULT_COLUMNS, in order.
local DEFAULT_COLUMNS = {
  {"mean_accuracy", "acc"}, {"mean_loss", "loss"}, {"training_iteration", "iter"},
  {"time_total_s", "total time (s)"}, {"timesteps_total", "ts"}, {"episode_reward_mean", "reward"},
}
local DEFAULT_SET = {}
for _, c in ipairs(DEFAULT_COLUMNS) do DEFAULT_SET[c[1]] = true end

-- Ray's AUTO_RESULT_KEYS (never inferred as user metrics).
local AUTO_RESULT_KEYS = {}
for _, k in ipairs({"training_iteration", "time_total_s", "episodes_total", "timesteps_total",
    "node_ip", "hostname", "pid", "time_this_iter_s", "timestamp", "date", "time_since_restore",
    "timesteps_since_restore", "iterations_since_restore", "config"}) do
  AUTO_RESULT_KEYS[k] = true
end
M.DEFAULT_COLUMNS = DEFAULT_COLUMNS
M.AUTO_RESULT_KEYS = AUTO_RESULT_KEYS

-- The CLIReporter methods defined here (tune.reporter builds the class
-- with them).
local CLIReporter = {}
M.methods = CLIReporter

-- Columns as {keys = {...}, repr = {key = header}, is_list = bool}, from an
-- array of names, an array of {name, header} pairs, or a map name -> header
-- (ordered by name).
local function parse_columns(v, key, level)
  local cols = {keys = {}, repr = {}, is_list = true}
  if v == nil then return cols end
  if type(v) ~= "table" then
    error(string.format("CLIReporter: %s must be a table, got %s", key, type(v)), level + 1)
  end
  local function add(name, header)
    if type(name) ~= "string" or type(header) ~= "string" then
      error(string.format("CLIReporter: %s entries must be strings", key), level + 2)
    end
    cols.keys[#cols.keys + 1] = name
    cols.repr[name] = header
  end
  if next(v) == nil then return cols end
  if is_array(v) then
    for _, e in ipairs(v) do
      if type(e) == "table" then cols.is_list = false; add(e[1], e[2]) else add(e, e) end
    end
  else
    cols.is_list = false
    for _, k in ipairs(util.sorted_keys(v)) do add(k, v[k]) end
  end
  return cols
end
M.parse_columns = parse_columns

local function add_column(cols, name, representation, what)
  if type(name) ~= "string" then error(string.format("add_%s_column: expected a name", what), 3) end
  if representation ~= nil and type(representation) ~= "string" then
    error(string.format("add_%s_column: representation must be a string", what), 3)
  end
  if cols.repr[name] then error(string.format("Column %s already exists.", name), 3) end
  if cols.is_list and #cols.keys > 0 and representation ~= nil and representation ~= name then
    error(string.format("`representation` cannot differ from `%s` if this reporter was initialized " ..
      "with a list of %s columns.", what, what), 3)
  end
  if representation ~= nil and representation ~= name then cols.is_list = false end
  cols.keys[#cols.keys + 1] = name
  cols.repr[name] = representation or name
end
M.add_column = add_column

-- Ray's _infer_user_metrics: up to `limit` numeric result keys that are
-- neither default columns nor auto-filled, in sorted key order. The list
-- grows across reports; a finished trial is read once.
local WEAK_KEYS, EMPTY = {__mode = "k"}, {}

function CLIReporter:_infer_user_metrics(trials, limit)
  local inferred = self._inferred_metrics
  if #inferred >= limit then return inferred end
  local seen = self._inferred_seen
  if not seen then
    seen = {}
    for _, k in ipairs(inferred) do seen[k] = true end
    self._inferred_seen = seen
    self._inferred_read = setmetatable({}, WEAK_KEYS)
  end
  local read = self._inferred_read
  -- The leading trials of a list that were all finished and read are
  -- passed over: a report over 10,000 trials looks at the new ones only
  -- (the runner's list only grows).
  local prefixes = self._inferred_prefix
  if not prefixes then
    prefixes = setmetatable({}, WEAK_KEYS)
    self._inferred_prefix = prefixes
  end
  local prefix = prefixes[trials] or 0
  local contiguous = true
  -- `seen` holds the keys taken and those that never can be (default
  -- columns, auto-filled keys): one lookup each after the first time.
  local function candidate(k, v)
    if seen[k] then return false end
    if DEFAULT_SET[k] or AUTO_RESULT_KEYS[k] then
      seen[k] = true
      return false
    end
    return type(v) == "number" or v == NULL
  end
  for i = prefix + 1, #trials do
    local t = trials[i]
    local r = read[t] and EMPTY or last_result(t)
    if t.status == "TERMINATED" or t.status == "ERROR" then read[t] = true end
    if contiguous then
      if read[t] then prefixes[trials] = i else contiguous = false end
    end
    -- Most trials bring no new key: only those that may are flattened and
    -- sorted (a report over thousands of trials stays cheap).
    local new = false
    for k, v in pairs(r) do
      -- A nested table may hold new keys; otherwise only a number (or
      -- null) under a key not seen yet can be one: ids, tags and flags
      -- are passed over without a call.
      if k ~= "config" then
        local tv = type(v)
        if tv == "table" then
          if getmetatable(v) == nil then
            new = true
            break
          end
        elseif (tv == "number" or v == NULL) and not seen[k] and candidate(tostring(k), v) then
          new = true
          break
        end
      end
    end
    if new then
      local flat = {}
      for k, v in pairs(r) do
        if k ~= "config" then
          if type(v) == "table" and getmetatable(v) == nil then
            for fk, fv in pairs(util.flatten(v, "/", tostring(k))) do flat[fk] = fv end
          else
            flat[tostring(k)] = v
          end
        end
      end
      for _, k in ipairs(util.sorted_keys(flat)) do
        if candidate(k, flat[k]) then
          seen[k] = true
          inferred[#inferred + 1] = k
        end
        if #inferred >= limit then return inferred end
      end
    end
  end
  return inferred
end

return M
