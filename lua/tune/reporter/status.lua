--- tune.reporter.status: the parts of CLIReporter's "== Status ==" block
--- (internal): the current best trial, the time line, the trial table with
--- its overflow line, the errored trials, and the system-info lines.
local util = require("tune.util")
local tables = require("tune.reporter.tables")
local trial_info = require("tune.reporter.trial_info")
local values = require("tune.reporter.values")

local M = {}

local abbrev_header, abbrev_value = values.abbrev_header, values.abbrev_value
local lookup, repr, text = values.lookup, values.repr, values.text
local tabulate = tables.tabulate
local by_state, display_order, fair_filter = trial_info.by_state, trial_info.display_order, trial_info.fair_filter
local last_result, location, metric_number = trial_info.last_result, trial_info.location, trial_info.metric_number
local sort_by, trial_name = trial_info.sort_by, trial_info.trial_name

-- The CLIReporter methods defined here (tune.reporter builds the class
-- with them).
local CLIReporter = {}
M.methods = CLIReporter

function CLIReporter:_current_best_trial(trials)
  if #trials == 0 then return nil end
  local metric, mode = self._metric, self._mode
  if not metric and #self._inferred_metrics == 1 then metric = self._inferred_metrics[1] end
  if not metric or not mode then return nil, metric end
  local sign = mode == "max" and 1 or -1
  local best, best_value
  for _, t in ipairs(trials) do
    local v = metric_number(t, metric)
    if v ~= nil and (best == nil or v * sign > best_value) then best, best_value = t, v * sign end
  end
  return best, metric
end

local function best_trial_str(t, metric, param_cols)
  local r = last_result(t)
  local config = type(r.config) == "table" and r.config or (type(t.config) == "table" and t.config or {})
  local keys = #param_cols.keys > 0 and param_cols.keys or util.sorted_keys(config)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = repr(tostring(k)) .. ": " .. repr(lookup(config, tostring(k))) end
  return string.format("Current best trial: %s with %s=%s and parameters={%s}", tostring(t.trial_id),
    metric, text(lookup(r, metric)), table.concat(parts, ", "))
end

local function time_passed_str(start, now, wall)
  local rest = math.max(now - start, 0)
  local days = rest // 86400
  rest = rest - days * 86400
  local hours = rest // 3600
  rest = rest - hours * 3600
  local minutes = rest // 60
  local seconds = rest - minutes * 60
  local running = days > 0 and string.format("%.0f days, ", days) or ""
  running = running .. string.format("%02.0f:%02.0f:%05.2f", hours, minutes, seconds)
  return string.format("Current time: %s (running for %s)", os.date("%Y-%m-%d %H:%M:%S", math.floor(wall)), running)
end

--- `groups` and `states`, when given, are by_state(trials) (the caller's).
function CLIReporter:_progress_table(trials, max_rows, sort_metric, sort_mode, groups, states)
  if not groups then groups, states = by_state(trials) end
  local order = display_order(states)
  if sort_metric and groups.TERMINATED then sort_by(groups.TERMINATED, sort_metric, sort_mode) end
  local shown, overflow, overflow_strs = {}, 0, {}
  if max_rows and #trials > max_rows then
    local kept = fair_filter(groups, order, max_rows, sort_metric ~= nil)
    for _, s in ipairs(order) do
      if groups[s] then
        table.move(kept[s], 1, #kept[s], #shown + 1, shown)
        local n = #groups[s] - #kept[s]
        if n > 0 then overflow_strs[#overflow_strs + 1] = n .. " " .. s end
      end
    end
    overflow = #trials - #shown
  else
    for _, s in ipairs(order) do
      if groups[s] then table.move(groups[s], 1, #groups[s], #shown + 1, shown) end
    end
  end
  local mc, pc, max_len = self._metric_columns, self._parameter_columns, self._max_column_length
  -- A metric column is shown when some shown trial has the metric (most
  -- default columns are in no result: those read every shown trial).
  local metric_keys = {}
  for _, k in ipairs(mc.keys) do
    for _, t in ipairs(shown) do
      if lookup(t.last_result, k) ~= nil then
        metric_keys[#metric_keys + 1] = k
        break
      end
    end
  end
  local param_keys = pc.keys
  if #param_keys == 0 then
    local set = {}
    for _, t in ipairs(shown) do
      if type(t.evaluated_params) == "table" then
        for k in pairs(util.flatten(t.evaluated_params)) do set[k] = true end
      end
    end
    param_keys = util.sorted_keys(set)
  end
  local headers = {"Trial name", "status", "loc"}
  for _, k in ipairs(param_keys) do headers[#headers + 1] = abbrev_header(pc.repr[k] or k, max_len) end
  for _, k in ipairs(metric_keys) do headers[#headers + 1] = abbrev_header(mc.repr[k], max_len) end
  local rows = {}
  local np = #param_keys
  for i, t in ipairs(shown) do
    local row = {trial_name(t), tostring(t.status), location(t)}
    local config = t.config
    for j, k in ipairs(param_keys) do row[3 + j] = abbrev_value(lookup(config, k), max_len) end
    local r = last_result(t)
    for j, k in ipairs(metric_keys) do row[3 + np + j] = abbrev_value(lookup(r, k), max_len) end
    rows[i] = row
  end
  local out = {tabulate(headers, rows, self.table_format)}
  if overflow > 0 then
    out[#out + 1] = string.format("... %d more trials not shown (%s)", overflow, table.concat(overflow_strs, ", "))
  end
  return out
end

function CLIReporter:_errors_str(trials, max_rows)
  local failed = {}
  for _, t in ipairs(trials) do if t.error_file then failed[#failed + 1] = t end end
  if #failed == 0 then return "" end
  local msgs = {"Number of errored trials: " .. #failed}
  if max_rows and #failed > max_rows then
    msgs[#msgs + 1] = string.format("Table truncated to %d rows (%d overflow)", max_rows, #failed - max_rows)
  end
  local rows = {}
  for i = 1, math.min(#failed, max_rows or #failed) do
    local t = failed[i]
    rows[i] = {trial_name(t), t.num_failures or 0, tostring(t.error_file)}
  end
  msgs[#msgs + 1] = tabulate({"Trial name", "# failures", "error file"}, rows, self.table_format)
  return table.concat(msgs, "\n")
end

local function sys_info_lines(out, ...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "table" then
      for _, s in ipairs(v) do out[#out + 1] = tostring(s) end
    elseif v ~= nil then
      out[#out + 1] = tostring(v)
    end
  end
end

M.best_trial_str = best_trial_str
M.time_passed_str = time_passed_str
M.sys_info_lines = sys_info_lines
return M
