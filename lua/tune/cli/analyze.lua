--- `tunelua analyze DIR [options]`: prints an experiment's trials as a
--- table (or CSV), best first by a metric.
local analysis = require("tune.analysis")
local core = require("tune.core")
local util = require("tune.util")
-- A table cell's text as the progress tables show it: on one line.
local cell_text = require("tune.reporter.values").text

local M = {}

M.USAGE = [[
usage: tunelua analyze DIR|STATE_FILE [options]

Prints the trials of an experiment, best first by a metric.

options:
  --metric NAME     metric to rank by, "/" for nested keys (default: the
                    experiment's metric; without one, trials are not sorted)
  --mode min|max    whether lower or higher is better (default: the
                    experiment's mode when ranking by its metric)
  --scope SCOPE     last (default), avg, last-5-avg, last-10-avg or all
  --top N           print only the first N trials
  --csv             print CSV (RFC 4180 quoting, LF line ends) instead of a table
  -h, --help        this text
  --                the end of the options (a DIR whose name starts with -)
]]

local OPTIONS = {"--metric", "--mode", "--scope", "--top", "--csv", "--help"}

local function fail(msg)
  io.stderr:write("tunelua analyze: ", msg, "\n")
  return 2
end

--- Prints to stdout; a write that fails (a full disk, a closed stdout)
--- is an error: `--csv > out.csv` exited 0 with the rows lost.
local function emit(...)
  local ok, err = io.stdout:write(...)
  if not ok then error("cannot write the output: " .. tostring(err), 0) end
end

--- Shortest text that reads back as the same double.
local function exact_number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "NaN" end
  if v == math.huge then return "Infinity" end
  if v == -math.huge then return "-Infinity" end
  for _, p in ipairs({"%.15g", "%.16g", "%.17g"}) do
    local s = string.format(p, v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

local function format_value(v, exact)
  if v == nil or v == core.null then return "" end
  if type(v) == "number" then
    if exact or math.type(v) == "integer" or v ~= v or v == math.huge or v == -math.huge then
      return exact_number(v)
    end
    return string.format("%.6g", v)
  end
  if type(v) == "table" then return core.json_encode(v) or tostring(v) end
  return tostring(v)
end

--- One CSV field, quoted when it must be (RFC 4180).
function M.csv_field(s)
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

local function parse_args(args)
  local o = {}
  local i = 1
  local ended -- after "--": a directory, even one whose name starts with "-"
  while args[i] ~= nil do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = (not ended) and (name or a) or ""
    local function take()
      if value ~= nil then return value end
      i = i + 1
      if args[i] == nil then error({usage = "option " .. name .. " needs a value"}) end
      return args[i]
    end
    if name == "--" then ended = true
    elseif name == "-h" or name == "--help" then
      if value ~= nil then error({usage = "--help takes no value"}) end
      o.help = true
    elseif name == "--metric" then
      o.metric = take()
      if o.metric == "" then error({usage = "--metric: expected a metric name, got an empty name"}) end
    elseif name == "--mode" then o.mode = take()
    elseif name == "--scope" then o.scope = take()
    elseif name == "--top" then
      local s = take()
      o.top = math.tointeger(tonumber(s))
      if not o.top or o.top < 1 then error({usage = "--top needs a positive integer, got " .. s}) end
    elseif name == "--csv" then
      if value ~= nil then error({usage = "--csv takes no value"}) end
      o.csv = true
    elseif not ended and a:sub(1, 1) == "-" and a ~= "-" then
      local near = util.closest(name, OPTIONS)
      error({usage = "unknown option " .. a .. (near and (" (did you mean " .. near .. "?)") or "")})
    elseif o.dir == nil then
      o.dir = a
    else
      error({usage = "unexpected argument " .. a .. " (one experiment directory at a time)"})
    end
    i = i + 1
  end
  if o.help then return o end
  if o.dir == nil then error({usage = "missing the experiment directory\n" .. M.USAGE}) end
  if o.mode ~= nil and o.mode ~= "min" and o.mode ~= "max" then
    error({usage = "--mode has to be one of [min, max], got " .. o.mode})
  end
  if o.scope ~= nil then
    local okscope = false
    for _, s in ipairs(analysis.SCOPES) do okscope = okscope or s == o.scope end
    if not okscope then
      error({usage = "--scope has to be one of [" .. table.concat(analysis.SCOPES, ", ") .. "], got " .. o.scope})
    end
  end
  return o
end

--- Sorts rows by score, best first: finite scores, then NaN/infinite ones,
--- then trials without the metric; ties keep the trial order.
local function sort_rows(rows, mode)
  local function rank(r)
    if r.score == nil then return 3 end
    if r.score ~= r.score or r.score == math.huge or r.score == -math.huge then return 2 end
    return 1
  end
  table.sort(rows, function(a, b)
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then return ra < rb end
    if ra == 1 and a.score ~= b.score then
      if mode == "max" then return a.score > b.score end
      return a.score < b.score
    end
    return a.index < b.index
  end)
end

local function iterations(ea, t)
  local it = type(t.last_result) == "table" and t.last_result.training_iteration
  if type(it) == "number" then return it end
  local rows = ea:_rows(t)
  local last = rows[#rows]
  return last and last.training_iteration or nil
end

--- The table's header and rows of strings.
local function build(ea, o)
  local metric, mode, scope = o.metric, o.mode, o.scope or "last"
  local rows = {}
  local params = {}
  for i, t in ipairs(ea.trials) do
    local flat = util.flatten(type(t.config) == "table" and t.config or {}, "/")
    for k in pairs(flat) do params[k] = true end
    local r = {index = i, trial = t, params = flat}
    if metric then r.score = ea:get_trial_score(t, metric, mode, scope) end
    rows[#rows + 1] = r
  end
  if metric then
    sort_rows(rows, mode)
    -- A metric no trial reported as a number ranks nothing: said once.
    local scored = false
    for _, r in ipairs(rows) do scored = scored or type(r.score) == "number" end
    if not scored and #rows > 0 then
      -- The config's keys and pid, date, ... are never scored (as in Ray):
      -- "no trial reported config/lr" was not so.
      io.stderr:write("tunelua warning: ", analysis.is_metric(metric)
        and ("no trial reported " .. metric .. " as a number")
        or (metric .. " is not a metric (the config's keys and trial_id, experiment_id, date, timestamp, pid, "
          .. "hostname and node_ip are never scored, as in Ray)"), ": the trials are not ranked\n")
      o.unranked = true
    end
  end
  if o.top and #rows > o.top then
    for k = #rows, o.top + 1, -1 do rows[k] = nil end
  end
  local keys = util.sorted_keys(params)
  local several = ea.experiment_names ~= nil
  local header = {"Trial name", "status", "iter"}
  if several then table.insert(header, 1, "experiment") end
  if metric then header[#header + 1] = scope == "last" and metric or (metric .. " (" .. scope .. ")") end
  for _, k in ipairs(keys) do header[#header + 1] = o.csv and ("config/" .. k) or k end
  local out = {}
  for _, r in ipairs(rows) do
    local t = r.trial
    local line = {analysis.trial_name(t), tostring(t.status or ""), format_value(iterations(ea, t), o.csv)}
    -- Its directory's name (a copy of an experiment keeps the name in its state).
    local exp = type(t.local_dir) == "string" and t.local_dir:match("([^/]+)/*$") or t.experiment_name
    if several then table.insert(line, 1, tostring(exp or "")) end
    if metric then line[#line + 1] = format_value(r.score, o.csv) end
    for _, k in ipairs(keys) do line[#line + 1] = format_value(r.params[k], o.csv) end
    out[#out + 1] = line
  end
  return header, out
end

local function write_csv(header, rows)
  local function line(fields)
    local f = {}
    for i, s in ipairs(fields) do f[i] = M.csv_field(s) end
    emit(table.concat(f, ","), "\n")
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
end

local function is_numeric(s)
  return s == "NaN" or s == "Infinity" or s == "-Infinity" or tonumber(s) ~= nil
end

--- A table in tabulate's "psql" style: numbers right-aligned; every cell
--- and header on one line (a newline or tab in a config or key is a space).
local function write_table(header, rows)
  header = table.move(header, 1, #header, 1, {})
  for c, h in ipairs(header) do header[c] = cell_text(h) end
  for _, r in ipairs(rows) do
    for c, s in ipairs(r) do r[c] = cell_text(s) end
  end
  local widths = {}
  for c, h in ipairs(header) do widths[c] = utf8.len(h) or #h end
  for _, r in ipairs(rows) do
    for c, s in ipairs(r) do widths[c] = math.max(widths[c], utf8.len(s) or #s) end
  end
  local function rule(left, mid, right)
    local parts = {}
    for c = 1, #header do parts[c] = string.rep("-", widths[c] + 2) end
    return left .. table.concat(parts, mid) .. right .. "\n"
  end
  local function cells(r, align_numbers)
    local parts = {}
    for c = 1, #header do
      local s = r[c] or ""
      local pad = string.rep(" ", widths[c] - (utf8.len(s) or #s))
      parts[c] = " " .. ((align_numbers and is_numeric(s)) and (pad .. s) or (s .. pad)) .. " "
    end
    return "|" .. table.concat(parts, "|") .. "|\n"
  end
  emit(rule("+", "+", "+"), cells(header, false), rule("|", "+", "|"))
  for _, r in ipairs(rows) do emit(cells(r, true)) end
  emit(rule("+", "+", "+"))
end

local function summary(ea, o, shown)
  local counts, order = {}, {}
  for _, t in ipairs(ea.trials) do
    local s = tostring(t.status or "?")
    if not counts[s] then order[#order + 1] = s end
    counts[s] = (counts[s] or 0) + 1
  end
  table.sort(order)
  local parts = {}
  for _, s in ipairs(order) do parts[#parts + 1] = counts[s] .. " " .. s end
  local what
  if ea.experiment_names then
    what = string.format("%d experiments in %s (%s)", #ea.experiment_names, ea.experiment_dir or "?",
      table.concat(ea.experiment_names, ", "))
  else
    what = string.format("Experiment %s (%s)", ea.experiment_name or "?", ea.experiment_dir or "?")
  end
  local text = string.format("%s: %d trial%s%s", what, #ea.trials, #ea.trials == 1 and "" or "s",
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "")
  if o.metric and not o.unranked then
    text = text .. string.format("\nSorted by %s (%s, scope %s)", o.metric, o.mode, o.scope or "last")
  end
  if shown < #ea.trials then text = text .. string.format(", top %d of %d", shown, #ea.trials) end
  emit(text, "\n")
end

local function run(args)
  local o = parse_args(args)
  if o.help then
    emit(M.USAGE)
    return 0
  end
  local ea, err = analysis.load(o.dir)
  if not ea then return fail(err) end
  if o.metric == nil then
    o.metric = ea.experiment_metric
    o.mode = o.mode or ea.experiment_mode
    -- The experiment's metric without a mode ranks nothing, unless asked to.
    if o.metric and not o.mode then
      if o.scope ~= nil then
        return fail("--scope ranks by the experiment's metric " .. o.metric .. ", which has no mode: give --mode min or "
          .. "--mode max")
      end
      o.metric = nil
    end
    -- Nothing to rank by: a --mode or --scope would be ignored.
    if o.metric == nil and (o.mode ~= nil or o.scope ~= nil) then
      return fail((o.scope ~= nil and "--scope" or "--mode") .. " ranks by a metric, and this experiment has "
        .. "none: give --metric NAME")
    end
  elseif o.mode == nil then
    if o.metric == ea.experiment_metric and ea.experiment_mode then
      o.mode = ea.experiment_mode
    else
      return fail("--metric " .. o.metric .. " needs --mode min or --mode max")
    end
  end
  local header, rows = build(ea, o)
  if o.csv then
    write_csv(header, rows)
  else
    summary(ea, o, #rows)
    write_table(header, rows)
  end
  -- What the buffer still holds is written here: its error too.
  local flushed, why = io.stdout:flush()
  if not flushed then error("cannot write the output: " .. tostring(why), 0) end
  return 0
end

--- Entry point: `args` are the words after "analyze". Returns the exit code.
function M.main(args)
  local ok, r = pcall(run, args or {})
  if ok then return r end
  if type(r) == "table" and r.usage then return fail(r.usage) end
  local msg = tostring(r):gsub("^[^:\n]*%.lua:%d+: ", "")
  return fail(msg)
end

return M
