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
---
--- This file holds the classes, their options and the status block's
--- assembly; the rest is under lua/tune/reporter/: values.lua (values as
--- text), tables.lua (the table styles), trial_info.lua (trials' names,
--- order and filtering), columns.lua (metric and parameter columns) and
--- status.lua (the parts of the status block).
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")
local columns = require("tune.reporter.columns")
local status = require("tune.reporter.status")
local tables = require("tune.reporter.tables")
local trial_info = require("tune.reporter.trial_info")
local values = require("tune.reporter.values")

local M = {}

--- Monotonic clock read by should_report and "running for" (replaceable).
function M.clock() return core.now() end
--- Wall clock (seconds since the epoch) for "Current time" (replaceable).
function M.wall_clock() return core.time() end

local DEFAULT_COLUMNS, FORMATS = columns.DEFAULT_COLUMNS, tables.FORMATS
local add_column, parse_columns = columns.add_column, columns.parse_columns
local best_trial_str, sys_info_lines, time_passed_str = status.best_trial_str, status.sys_info_lines,
  status.time_passed_str
local by_state, text = trial_info.by_state, values.text

M._tabulate = tables.tabulate -- for the specs

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

-- With the methods defined in tune.reporter.columns and tune.reporter.status.
local CLIReporter = ProgressReporter:extend(util.merge(columns.methods, status.methods), "CLIReporter")

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
  if opts.total_samples ~= nil and (type(opts.total_samples) ~= "number" or not (opts.total_samples >= 0)) then
    error("CLIReporter: total_samples must be a number >= 0", level)
  end
  self._total_samples = opts.total_samples
  self._max_progress_rows = check_count(opts, "max_progress_rows", 20, 1, level)
  self._max_error_rows = check_count(opts, "max_error_rows", 20, 1, level)
  self._max_column_length = check_count(opts, "max_column_length", 20, 1, level)
  self._infer_limit = check_count(opts, "infer_limit", 3, 0, level)
  local freq = opts.max_report_frequency
  if freq ~= nil and (type(freq) ~= "number" or not (freq >= 0)) then
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
      -- Ray's int(): a wrong one is said at the caller's line, as tune.run says it.
      local ok, env = pcall(util.env_number, "TUNE_COMPACT_REPORT")
      if not ok or (env ~= nil and math.type(env) ~= "integer") then
        error(string.format("CLIReporter: environment variable TUNE_COMPACT_REPORT=%q is not an integer",
          os.getenv("TUNE_COMPACT_REPORT")), level)
      end
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
  if n ~= nil and (type(n) ~= "number" or not (n >= 0)) then
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

local function check_trials(trials, who)
  if type(trials) ~= "table" then error(who .. ": trials must be a table (a list of trials)", 3) end
  for i, t in ipairs(trials) do
    if type(t) ~= "table" or type(t.status) ~= "string" then
      error(string.format("%s: trials[%d] is not a trial (a table with a status)", who, i), 3)
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
      -- Trials mostly share their directory: the last pair is not joined again.
      local last_dir, last_name = nil, nil
      for _, t in ipairs(trials) do
        local ld, name = t.local_dir, t.experiment_dir_name
        if type(ld) == "string" and (ld ~= last_dir or name ~= last_name) then
          last_dir, last_name = ld, name
          local d = name and util.join(ld, name) or ld
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
        for _, l in ipairs(self:_progress_table(trials, max_progress, sort and self._metric or nil, self._mode,
          groups, states)) do
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

--- Why tune.run cannot use `v` as its progress_reporter, as the end of a
--- message after "progress_reporter" (nil when it can, or when v is nil):
--- it must be a table whose should_report and report, and setup when it
--- has one, can be called (functions, or tables with __call). A hook that
--- cannot failed the run at its first report, its trials already written.
--- `show(value)` shows a value in the message.
function M.unusable(v, show)
  if v == nil then return nil end
  if type(v) ~= "table" or v.should_report == nil or v.report == nil then
    return " must be a progress reporter (a table with should_report and report, e.g. tune.CLIReporter{}), got "
      .. show(v)
  end
  for _, hook in ipairs({"setup", "should_report", "report"}) do
    local f = v[hook]
    local mt = getmetatable(f)
    if f ~= nil and type(f) ~= "function" and not (type(mt) == "table" and mt.__call ~= nil) then
      return string.format(".%s must be a method (a function), got %s", hook, show(f))
    end
    -- ProgressReporter's own only raises, at the first report.
    if f ~= nil and f == ProgressReporter[hook] and hook ~= "setup" then
      return string.format(" %s must implement %s(trials, done%s)", tostring((getmetatable(v) or {}).__name), hook,
        hook == "report" and ", sys_info" or "")
    end
  end
end

--- The reporter Ray picks outside a notebook: a CLIReporter.
function M.detect_reporter(opts)
  if opts ~= nil and type(opts) ~= "table" then error("detect_reporter: expected an options table", 2) end
  return CLIReporter(opts)
end

return M
