--- Progress reporters (Ray Tune 2.0's progress_reporter.py): the base
--- class `ProgressReporter` users derive from, and `CLIReporter`, the
--- default "== Status ==" block with its trial table.
---
--- A reporter is any table with `setup(opts)`, `should_report(trials, done)`
--- and `report(trials, done, ...)`. The caller (the runner) decides the
--- verbosity and builds the system-info lines ("Resources requested: ...",
--- "Using FIFO scheduling algorithm."); the reporter only formats.
---
--- Time. `M.clock()` (default `core.now()`, monotonic seconds) drives
--- `should_report` and "running for"; `start_time` given to `setup` is a
--- reading of that clock. `M.wall_clock()` (default `core.time()`) gives the
--- printed "Current time". Tests replace both.
---
--- Table styles (`table_format`), decided once, at construction:
---   "outline"  box drawing (U+250x) in the geometry of Ray's "psql" table:
---              ┌───┬───┐ / │ a │ b │ / ├───┼───┤ / └───┴───┘. Default when
---              stdout is a terminal (`core.isatty(1)`) and `out` is not given.
---   "psql"     Ray 2.0's own table, byte for byte (+---+, | a |).
---   "compact"  plain ASCII, no frame: cells separated by two spaces, a row
---              of dashes under the header, no padding beyond the widest
---              cell, no trailing blanks (tabulate's "simple" minus its
---              two-character minimum padding). Default otherwise, and forced
---              by `compact = true` (alias `compact_report`) or by the
---              environment variable TUNE_COMPACT_REPORT=1.
--- In every style cells follow tabulate's rules: text left-aligned, numbers
--- right-aligned on the decimal point, floats as "%g" (nan, inf, -inf),
--- missing values empty, framed columns at least two wider than the header.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

--- Monotonic clock read by should_report and "running for" (replaceable).
function M.clock() return core.now() end
--- Wall clock (seconds since the epoch) for "Current time" (replaceable).
function M.wall_clock() return core.time() end

local STATE_ORDER = {"RUNNING", "PAUSED", "PENDING", "TERMINATED", "ERROR"}

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

local FORMATS = {
  psql = {above = {"+", "-", "+", "+"}, rule = {"|", "-", "+", "|"}, below = {"+", "-", "+", "+"},
          row = {"|", "|", "|"}, pad = 1, minpad = 2},
  outline = {above = {"┌", "─", "┬", "┐"}, rule = {"├", "─", "┼", "┤"}, below = {"└", "─", "┴", "┘"},
             row = {"│", "│", "│"}, pad = 1, minpad = 2},
  compact = {rule = {"", "-", "  ", ""}, row = {"", "  ", ""}, pad = 0, minpad = 0, rstrip = true},
}

---------------------------------------------------------------------------
-- Values as text.

local function is_missing(v) return v == nil or v == core.null end

local function width(s) return utf8.len(s) or #s end

-- The characters of s (UTF-8 when valid, else bytes).
local function chars(s)
  local out = {}
  if utf8.len(s) then
    for _, c in utf8.codes(s) do out[#out + 1] = utf8.char(c) end
  else
    for i = 1, #s do out[i] = s:sub(i, i) end
  end
  return out
end

local function special_float(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  return nil
end

--- tabulate's default float format: Python's format(x, "g").
local function fmt_g(x)
  return special_float(x) or string.format("%g", x)
end

--- Python's repr of a number: shortest round-trip, "5.0" for integral floats.
local function num_repr(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  local sp = special_float(x)
  if sp then return sp end
  if x == 0 then return (1 / x < 0) and "-0.0" or "0.0" end
  local s
  for p = 0, 16 do
    s = string.format("%." .. p .. "e", x)
    if tonumber(s) == x then break end
  end
  local sign, lead, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (lead .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  exp = tonumber(exp)
  if exp < -4 or exp >= 16 then
    local mant = digits:sub(1, 1) .. (#digits > 1 and ("." .. digits:sub(2)) or "")
    return string.format("%s%se%s%02d", sign, mant, exp < 0 and "-" or "+", math.abs(exp))
  elseif exp < 0 then
    return sign .. "0." .. string.rep("0", -exp - 1) .. digits
  elseif exp >= #digits - 1 then
    return sign .. digits .. string.rep("0", exp - #digits + 1) .. ".0"
  end
  return sign .. digits:sub(1, exp + 1) .. "." .. digits:sub(exp + 2)
end

local function str_repr(s)
  local q = (s:find("'", 1, true) and not s:find('"', 1, true)) and '"' or "'"
  s = s:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub("\t", "\\t")
  if q == "'" then s = s:gsub("'", "\\'") end
  return q .. s .. q
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

--- Python's repr of a value (the "parameters={...}" of the best-trial line).
local function repr(v, seen)
  if is_missing(v) then return "None" end
  local tv = type(v)
  if tv == "number" then return num_repr(v) end
  if tv == "boolean" then return v and "True" or "False" end
  if tv == "string" then return str_repr(v) end
  if tv ~= "table" or (getmetatable(v) and getmetatable(v).__tostring) then return tostring(v) end
  seen = seen or {}
  if seen[v] then return "{...}" end
  seen[v] = true
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = repr(v[i], seen) end
    seen[v] = nil
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  for _, k in ipairs(util.sorted_keys(v)) do
    parts[#parts + 1] = repr(k, seen) .. ": " .. repr(v[k], seen)
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- Python's str of a value: a table cell of a text column.
local function text(v)
  if is_missing(v) then return "" end
  if type(v) == "string" then return (v:gsub("[\r\n\t]", " ")) end
  if type(v) == "number" then return num_repr(v) end
  return (repr(v):gsub("[\r\n\t]", " "))
end

-- 4 hex digits naming a string (FNV-1a): Ray appends part of the object's
-- address to an abbreviated value; a hash keeps the output reproducible.
local function tag4(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return string.format("%04x", h & 0xffff)
end

--- Ray's _max_len(add_addr=True) for cells: numbers, booleans and missing
--- values pass; other values become text, abbreviated past max_len.
local function abbrev_value(v, max_len)
  if is_missing(v) then return nil end
  if type(v) == "number" or type(v) == "boolean" then return v end
  local s = text(v)
  if width(s) <= max_len then return s end
  local c = chars(s)
  return table.concat(c, "", 1, math.max(max_len - 5, 0)) .. "_" .. tag4(s)
end

--- Ray's _max_len for headers: "..." and the tail.
local function abbrev_header(s, max_len)
  if width(s) <= max_len then return s end
  local c = chars(s)
  local keep = math.max(max_len - 3, 0)
  return "..." .. table.concat(c, "", #c - keep + 1, #c)
end

local function lookup(t, key)
  if type(t) ~= "table" then return nil end
  local v = util.get_path(t, key)
  if v == core.null then return nil end
  return v
end

---------------------------------------------------------------------------
-- Tables (tabulate's rules for the formats above).

local function afterpoint(s)
  if s == "" or s:match("^%-?%d+$") then return -1 end
  local pos = s:match(".*()%.") or s:lower():match(".*()e")
  return pos and (#s - pos) or -1
end

local function column_type(rows, j)
  local kind
  for _, r in ipairs(rows) do
    local v = r[j]
    if v ~= nil then
      if type(v) ~= "number" then return "text" end
      if math.type(v) == "float" then kind = "float" elseif not kind then kind = "int" end
    end
  end
  return kind or "text"
end

--- Renders rows (arrays of values, nil = missing) under headers.
local function tabulate(headers, rows, fmt_name)
  local fmt = FORMATS[fmt_name]
  local ncol = #headers
  local cols, widths, numeric = {}, {}, {}
  for j = 1, ncol do
    local kind = column_type(rows, j)
    numeric[j] = kind ~= "text"
    local cells = {}
    for i, r in ipairs(rows) do
      local v = r[j]
      if v == nil then cells[i] = ""
      elseif kind == "float" then cells[i] = fmt_g(v)
      elseif kind == "int" then cells[i] = string.format("%d", v)
      else cells[i] = text(v):match("^%s*(.-)%s*$") end
    end
    if numeric[j] then
      local maxdec = -1
      for i = 1, #cells do maxdec = math.max(maxdec, afterpoint(cells[i])) end
      for i = 1, #cells do cells[i] = cells[i] .. string.rep(" ", maxdec - afterpoint(cells[i])) end
    end
    local w = width(headers[j]) + fmt.minpad
    for i = 1, #cells do w = math.max(w, width(cells[i])) end
    cols[j], widths[j] = cells, w
  end
  local function pad(s, w, right)
    local fill = string.rep(" ", w - width(s))
    return right and (fill .. s) or (s .. fill)
  end
  local space = string.rep(" ", fmt.pad)
  local function row(cells)
    local parts = {}
    for j = 1, ncol do parts[j] = space .. cells[j] .. space end
    return fmt.row[1] .. table.concat(parts, fmt.row[2]) .. fmt.row[3]
  end
  local function line(l)
    local parts = {}
    for j = 1, ncol do parts[j] = string.rep(l[2], widths[j] + 2 * fmt.pad) end
    return l[1] .. table.concat(parts, l[3]) .. l[4]
  end
  local out = {}
  if fmt.above then out[#out + 1] = line(fmt.above) end
  local hcells = {}
  for j = 1, ncol do hcells[j] = pad(headers[j], widths[j], numeric[j]) end
  out[#out + 1] = row(hcells)
  out[#out + 1] = line(fmt.rule)
  for i = 1, #rows do
    local cells = {}
    for j = 1, ncol do cells[j] = pad(cols[j][i], widths[j], numeric[j]) end
    out[#out + 1] = row(cells)
  end
  if fmt.below then out[#out + 1] = line(fmt.below) end
  if fmt.rstrip then
    for i = 1, #out do out[i] = out[i]:gsub("%s+$", "") end
  end
  return table.concat(out, "\n")
end
M._tabulate = tabulate -- for the specs

---------------------------------------------------------------------------
-- Trials.

local function trial_name(t)
  local mt = getmetatable(t)
  if mt and mt.__tostring then return tostring(t) end
  return tostring(t.trial_id)
end

local function last_result(t) return type(t.last_result) == "table" and t.last_result or {} end

local function location(t)
  local r = last_result(t)
  local host, pid = r.node_ip or r.hostname, r.pid
  if is_missing(pid) then return "" end
  if is_missing(host) then return "pid=" .. text(pid) end
  return text(host) .. ":" .. text(pid)
end

local function by_state(trials)
  local groups, states = {}, {}
  for _, t in ipairs(trials) do
    local s = t.status
    if not groups[s] then groups[s] = {}; states[#states + 1] = s end
    table.insert(groups[s], t)
  end
  table.sort(states)
  return groups, states
end

-- Display order: Ray's, then any other status alphabetically.
local function display_order(states)
  local known, order = {}, {}
  for _, s in ipairs(STATE_ORDER) do known[s] = true; order[#order + 1] = s end
  for _, s in ipairs(states) do if not known[s] then order[#order + 1] = s end end
  return order
end

local function metric_number(t, metric)
  local v = lookup(last_result(t), metric)
  if type(v) ~= "number" or v ~= v then return nil end
  return v
end

local function sort_by(list, metric, mode)
  local idx = {}
  for i, t in ipairs(list) do idx[t] = i end
  table.sort(list, function(a, b)
    local va, vb = metric_number(a, metric), metric_number(b, metric)
    if va == nil or vb == nil or va == vb then
      if (va == nil) ~= (vb == nil) then return vb == nil end
      return idx[a] < idx[b]
    end
    if mode == "max" then return va > vb end
    return va < vb
  end)
end

--- Ray's _fair_filter_trials: rows go round-robin to the statuses in
--- display order; each status keeps its smallest trial ids (its metric
--- order for sorted TERMINATED trials).
local function fair_filter(groups, order, max_rows, keep_terminated_order)
  local n, left, changed = {}, max_rows, true
  while left > 0 and changed do
    changed = false
    for _, s in ipairs(order) do
      if left > 0 and groups[s] and (n[s] or 0) < #groups[s] then
        n[s] = (n[s] or 0) + 1
        left = left - 1
        changed = true
      end
    end
  end
  local kept = {}
  for s, list in pairs(groups) do
    local sorted = table.move(list, 1, #list, 1, {})
    if not (s == "TERMINATED" and keep_terminated_order) then
      table.sort(sorted, function(a, b) return tostring(a.trial_id) < tostring(b.trial_id) end)
    end
    kept[s] = table.move(sorted, 1, n[s] or 0, 1, {})
  end
  return kept
end

---------------------------------------------------------------------------
-- ProgressReporter: the base class users derive from.

local ProgressReporter = class.class("ProgressReporter")

--- setup{start_time=, total_samples=, metric=, mode=, ...}: called once
--- before a run. Defaults to nothing.
function ProgressReporter:setup(opts) end -- luacheck: ignore

function ProgressReporter:should_report(trials, done) -- luacheck: ignore
  error(tostring(getmetatable(self).__name) .. " must implement should_report(trials, done)", 2)
end

function ProgressReporter:report(trials, done, ...) -- luacheck: ignore
  error(tostring(getmetatable(self).__name) .. " must implement report(trials, done, sys_info)", 2)
end

M.ProgressReporter = ProgressReporter

---------------------------------------------------------------------------
-- CLIReporter.

local CLIReporter = ProgressReporter:extend(nil, "CLIReporter")

local OPTS = {
  metric_columns = true, parameter_columns = true, total_samples = true, max_progress_rows = true,
  max_error_rows = true, max_column_length = true, max_report_frequency = true, infer_limit = true,
  print_intermediate_tables = true, metric = true, mode = true, sort_by_metric = true, out = true,
  compact = true, compact_report = true, table_format = true,
}

local function check_count(opts, key, default, min, level)
  local v = opts[key]
  if v == nil then return default end
  if math.type(v) ~= "integer" or v < min then
    error(string.format("CLIReporter: %s must be an integer >= %d, got %s", key, min, tostring(v)), level + 1)
  end
  return v
end

local function check_mode(mode, who, level)
  if mode ~= nil and mode ~= "min" and mode ~= "max" then
    error(string.format("%s: mode must be \"min\" or \"max\", got %s", who, tostring(mode)), level + 1)
  end
end

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

--- CLIReporter{metric_columns=, parameter_columns=, total_samples=,
--- max_progress_rows=20, max_error_rows=20, max_column_length=20,
--- max_report_frequency=5, infer_limit=3, print_intermediate_tables=nil,
--- metric=nil, mode=nil, sort_by_metric=false, out=nil, compact=nil,
--- table_format=nil}
function CLIReporter:__init(opts)
  local level = 3 -- the caller of CLIReporter{...}, through class.construct
  opts = util.check_options("CLIReporter", opts, OPTS, level)
  self._metrics_override = opts.metric_columns ~= nil
  local mc = parse_columns(opts.metric_columns, "metric_columns", level)
  if #mc.keys == 0 then
    mc.is_list = false
    for _, c in ipairs(DEFAULT_COLUMNS) do mc.keys[#mc.keys + 1] = c[1]; mc.repr[c[1]] = c[2] end
  end
  self._metric_columns = mc
  self._parameter_columns = parse_columns(opts.parameter_columns, "parameter_columns", level)
  self._inferred_metrics = {}
  if opts.total_samples ~= nil and (type(opts.total_samples) ~= "number" or opts.total_samples < 0) then
    error("CLIReporter: total_samples must be a number >= 0", level)
  end
  self._total_samples = opts.total_samples
  self._max_progress_rows = check_count(opts, "max_progress_rows", 20, 1, level)
  self._max_error_rows = check_count(opts, "max_error_rows", 20, 1, level)
  self._max_column_length = check_count(opts, "max_column_length", 20, 1, level)
  self._infer_limit = check_count(opts, "infer_limit", 3, 0, level)
  local freq = opts.max_report_frequency
  if freq ~= nil and (type(freq) ~= "number" or freq < 0) then
    error("CLIReporter: max_report_frequency must be a number of seconds >= 0", level)
  end
  self._max_report_frequency = freq or 5
  for _, k in ipairs({"print_intermediate_tables", "sort_by_metric", "compact", "compact_report"}) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      error(string.format("CLIReporter: %s must be a boolean", k), level)
    end
  end
  self._print_intermediate_tables = opts.print_intermediate_tables
  self._sort_by_metric = opts.sort_by_metric or false
  if opts.metric ~= nil and type(opts.metric) ~= "string" then
    error("CLIReporter: metric must be a string", level)
  end
  check_mode(opts.mode, "CLIReporter", level)
  self._metric, self._mode = opts.metric, opts.mode
  if opts.out ~= nil and type(opts.out) ~= "function" then
    error("CLIReporter: out must be a function(string)", level)
  end
  self._out = opts.out
  local tf = opts.table_format
  if tf ~= nil and not FORMATS[tf] then
    error("CLIReporter: table_format must be \"outline\", \"psql\" or \"compact\", got " .. tostring(tf), level)
  end
  if tf == nil then
    local compact = opts.compact
    if compact == nil then compact = opts.compact_report end
    if compact == nil then
      local env = util.env_number("TUNE_COMPACT_REPORT")
      if env ~= nil then compact = env ~= 0 end
    end
    if compact == nil then compact = opts.out ~= nil or not core.isatty(1) end
    tf = compact and "compact" or "outline"
  end
  self.table_format = tf
  self._verbose = 3
  self._start_time = M.clock()
  self._last_report_time = nil
end

--- setup{start_time=, total_samples=, metric=, mode=, verbose=}: start
--- time (a reading of reporter.clock()), the run's sample count, its
--- metric and mode, and Ray's verbosity (default 3: intermediate tables).
function CLIReporter:setup(opts)
  if opts == nil then return end
  if type(opts) ~= "table" then error("setup: expected an options table", 2) end
  if opts.start_time ~= nil then
    if type(opts.start_time) ~= "number" then error("setup: start_time must be a number", 2) end
    self._start_time = opts.start_time
  end
  if opts.total_samples ~= nil then self:set_total_samples(opts.total_samples) end
  if opts.verbose ~= nil then
    if math.type(opts.verbose) ~= "integer" then error("setup: verbose must be an integer", 2) end
    self._verbose = opts.verbose
  end
  local ok, err = pcall(self.set_search_properties, self, opts.metric, opts.mode)
  if not ok then error(err, 2) end
end

--- Sets metric and mode unless the reporter was built with its own (then
--- giving them again is an error, as in Ray). A mode alone uses "_metric".
function CLIReporter:set_search_properties(metric, mode)
  if metric ~= nil and type(metric) ~= "string" then error("set_search_properties: metric must be a string", 2) end
  check_mode(mode, "set_search_properties", 2)
  if (self._metric and metric) or (self._mode and mode) then
    error("You passed a `metric` or `mode` argument to `tune.run()`, but the reporter you are using " ..
      "was already instantiated with their own `metric` and `mode` parameters. Either remove the " ..
      "arguments from your reporter or from your call to `tune.run()`", 2)
  end
  if metric then self._metric = metric end
  if mode then self._mode = mode end
  if self._metric == nil and self._mode then self._metric = "_metric" end
  return true
end

function CLIReporter:set_total_samples(n)
  if n ~= nil and (type(n) ~= "number" or n < 0) then
    error("set_total_samples: expected a number >= 0", 2)
  end
  self._total_samples = n
end

--- True when max_report_frequency seconds have passed since the last
--- report (which this call then counts as made), or when done.
function CLIReporter:should_report(trials, done)
  if type(trials) ~= "table" then error("should_report: trials must be a table", 2) end
  local now = M.clock()
  if self._last_report_time == nil or now - self._last_report_time > self._max_report_frequency then
    self._last_report_time = now
    return true
  end
  return done and true or false
end

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

--- Adds a metric column (shown as `representation`, default the name);
--- from then on metrics are no longer inferred.
function CLIReporter:add_metric_column(metric, representation)
  add_column(self._metric_columns, metric, representation, "metric")
  self._metrics_override = true
end

--- Adds a parameter column (a "/"-joined config key).
function CLIReporter:add_parameter_column(parameter, representation)
  add_column(self._parameter_columns, parameter, representation, "parameter")
end

-- Ray's _infer_user_metrics: up to `limit` numeric result keys that are
-- neither default columns nor auto-filled, in sorted key order.
function CLIReporter:_infer_user_metrics(trials, limit)
  local inferred = self._inferred_metrics
  if #inferred >= limit then return inferred end
  inferred = {}
  self._inferred_metrics = inferred
  local seen = {}
  for _, t in ipairs(trials) do
    local r = last_result(t)
    if next(r) ~= nil then
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
        local v = flat[k]
        if not DEFAULT_SET[k] and not AUTO_RESULT_KEYS[k] and not seen[k]
            and (type(v) == "number" or v == core.null) then
          seen[k] = true
          inferred[#inferred + 1] = k
        end
        if #inferred >= limit then return inferred end
      end
    end
  end
  return inferred
end

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

function CLIReporter:_progress_table(trials, max_rows, sort_metric, sort_mode)
  local groups, states = by_state(trials)
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
  local metric_keys = {}
  for _, k in ipairs(mc.keys) do
    for _, t in ipairs(shown) do
      if lookup(last_result(t), k) ~= nil then metric_keys[#metric_keys + 1] = k; break end
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
  for i, t in ipairs(shown) do
    local row = {trial_name(t), tostring(t.status), location(t)}
    for j, k in ipairs(param_keys) do row[3 + j] = abbrev_value(lookup(t.config, k), max_len) end
    for j, k in ipairs(metric_keys) do
      row[3 + #param_keys + j] = abbrev_value(lookup(last_result(t), k), max_len)
    end
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

local function check_trials(trials, who)
  if type(trials) ~= "table" then error(who .. ": trials must be a table (a list of trials)", 3) end
  for i, t in ipairs(trials) do
    if type(t) ~= "table" or type(t.status) ~= "string" then
      error(string.format("%s: trials[%d] is not a trial (a table with a status)", who, i), 3)
    end
  end
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

--- The "== Status ==" block Ray prints, as a string (ending in a newline).
--- sys_info: strings or arrays of strings, one line each.
function CLIReporter:progress_string(trials, done, ...)
  check_trials(trials, "progress_string")
  local sort = self._sort_by_metric and self._metric ~= nil and self._mode ~= nil
  if not self._metrics_override then
    local mc = self._metric_columns
    for _, k in ipairs(self:_infer_user_metrics(trials, self._infer_limit)) do
      if not mc.repr[k] then mc.keys[#mc.keys + 1] = k; mc.repr[k] = k end
    end
  end
  local msgs = {"== Status ==", time_passed_str(self._start_time, M.clock(), M.wall_clock())}
  sys_info_lines(msgs, ...)
  local max_progress = not done and self._max_progress_rows or nil
  local max_error = not done and self._max_error_rows or nil
  local best, metric = self:_current_best_trial(trials)
  if best then msgs[#msgs + 1] = best_trial_str(best, metric, self._parameter_columns) end
  if self._verbose >= 1 then
    local part = {}
    if #trials > 0 then
      local dirs, seen = {}, {}
      for _, t in ipairs(trials) do
        if type(t.local_dir) == "string" then
          local d = t.experiment_dir_name and util.join(t.local_dir, t.experiment_dir_name) or t.local_dir
          if not seen[d] then seen[d] = true; dirs[#dirs + 1] = d end
        end
      end
      table.sort(dirs)
      for _, d in ipairs(dirs) do part[#part + 1] = "Result logdir: " .. d end
      local groups, states = by_state(trials)
      local counts = {}
      for _, s in ipairs(states) do counts[#counts + 1] = #groups[s] .. " " .. tostring(s) end
      local total = self._total_samples
      local total_str = ""
      if total and total ~= 0 then
        total_str = "/" .. ((total >= math.maxinteger) and "infinite" or text(total))
      end
      part[#part + 1] = string.format("Number of trials: %d%s (%s)", #trials, total_str, table.concat(counts, ", "))
      local force = self._print_intermediate_tables
      if force == nil then force = self._verbose >= 3 end
      if force or (self._verbose >= 2 and done) then
        for _, l in ipairs(self:_progress_table(trials, max_progress, sort and self._metric or nil, self._mode)) do
          part[#part + 1] = l
        end
      end
    end
    msgs[#msgs + 1] = table.concat(part, "\n")
    msgs[#msgs + 1] = self:_errors_str(trials, max_error)
  end
  return table.concat(msgs, "\n") .. "\n"
end

--- Writes progress_string(...) and a newline (Ray's print) to `out`, or
--- to stdout.
function CLIReporter:report(trials, done, ...)
  check_trials(trials, "report")
  local s = self:progress_string(trials, done, ...) .. "\n"
  if self._out then
    self._out(s)
  else
    io.stdout:write(s)
    io.stdout:flush()
  end
end

M.CLIReporter = CLIReporter

--- The reporter Ray picks outside a notebook: a CLIReporter.
function M.detect_reporter(opts)
  if opts ~= nil and type(opts) ~= "table" then error("detect_reporter: expected an options table", 2) end
  return CLIReporter(opts)
end

return M
