--- tune.report: the experiment as one self-contained HTML page, written by
--- `tunelua report DIR` (and served live by tune.dashboard). The page is
--- tune.report.page; Chart.js is inlined from the copy Debian's
--- libjs-chart.js installed when tunelua was built (tune.report.chartjs).
local common = require("tune.analysis.common")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

--- A trial's config flattened with "/" (numbers and strings as they are,
--- other values as JSON).
local function flat_config(config)
  local out = {}
  for k, v in pairs(util.flatten(type(config) == "table" and config or {}, "/")) do
    if type(v) == "number" or type(v) == "string" then out[k] = v
    elseif type(v) == "boolean" then out[k] = tostring(v)
    elseif v ~= core.null then out[k] = core.json_encode(v) or tostring(v) end
  end
  return out
end

local function basename(p)
  return type(p) == "string" and p:match("([^/]+)/*$") or nil
end

--- What the page shows of the experiment: {name, metric, mode, done,
--- trials = {{id, name, dir, status, config, error}}}. `trials` are live
--- tune.Trial objects or ExperimentAnalysis stubs; `ids`, when given, the
--- trials' keys in the page's rows (else their trial ids).
function M.state(trials, info, ids)
  local list = {}
  for i, t in ipairs(trials) do
    list[i] = {id = ids and ids[i] or t.trial_id, name = common.trial_name(t), dir = basename(t.logdir), status = t.status,
      config = flat_config(t.config), error = t.error_msg}
  end
  return {name = info.name, metric = info.metric, mode = info.mode, done = info.done or false,
    trials = core.array(list)}
end

--- The chart library, or nil and why not.
function M.chartjs()
  local ok, js = pcall(require, "tune.report.chartjs")
  if not ok or type(js) ~= "string" then
    return nil, "this tunelua was built without Chart.js: install libjs-chart.js and build again"
  end
  return js
end

--- The page with `data` (the report's JSON) or nil (the live dashboard).
function M.page(data)
  local js, err = M.chartjs()
  if not js then return nil, err end
  local json = "null"
  if data ~= nil then
    local e
    json, e = core.json_encode(data)
    if not json then return nil, "cannot encode the experiment: " .. tostring(e) end
    -- Inside <script>: no "<" at all ("</script>" would end it, and
    -- "<!--<script" would make the parser swallow the next script); in
    -- JSON a "<" is only ever inside a string, where \u003c is the same.
    json = json:gsub("<", "\\u003c")
  end
  local page = require("tune.report.page")
  -- Plain replacements (the library and data may contain "%").
  local a, b = page:find("%%CHARTJS%%", 1, true)
  page = page:sub(1, a - 1) .. js:gsub("</script", "<\\/script") .. page:sub(b + 1)
  a, b = page:find("%%DATA%%", 1, true)
  return page:sub(1, a - 1) .. json .. page:sub(b + 1)
end

--- The report of the experiment in `dir` (an ExperimentAnalysis' source).
function M.build(dir)
  local analysis = require("tune.analysis")
  local ea, err = analysis.load(dir)
  if not ea then return nil, err end
  -- Keyed by trial id, unique among several experiments (a copy of one
  -- in the same directory has the same ids: its curves were the copy's).
  local rows, ids, seen = {}, {}, {}
  for i, t in ipairs(ea.trials) do
    local id, n = tostring(t.trial_id), (seen[t.trial_id] or 0) + 1
    seen[t.trial_id], ids[i] = n, n > 1 and (id .. "#" .. n) or id
    local numeric = {}
    for i, r in ipairs((ea:_rows(t))) do
      local row = {}
      for k, v in pairs(r) do
        if type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then row[k] = v
        elseif type(v) == "boolean" then row[k] = v and 1 or 0 end
      end
      numeric[i] = row
    end
    rows[ids[i]] = core.array(numeric)
  end
  local data = {state = M.state(ea.trials, {name = ea.experiment_name, metric = ea.experiment_metric,
    mode = ea.experiment_mode, done = true}, ids), rows = rows}
  return M.page(data)
end

--- Writes the report of `dir` to `out` (default DIR/report.html). Returns
--- the path and whether it is a fifo or device (no file), or nil, err.
function M.write(dir, out)
  -- "~/..." as the analysis reads it (--output=~/r.html: no shell expands it).
  dir, out = util.expanduser(dir), out and util.expanduser(out)
  local html, err = M.build(dir)
  if not html then return nil, err end
  -- Beside the experiment: in DIR, or in the directory of a state file.
  if not out then
    local base = core.stat(dir) == "file" and (dir:match("^(.*)/[^/]*$") or ".") or dir
    out = util.join(base, "report.html")
  end
  -- As a shell's > would: through a symbolic link to its file, and into a
  -- fifo or device (-o /dev/stdout); the atomic replace put a file in the
  -- place of the link, the fifo, the device node.
  local ok, werr
  local kind = core.stat(out)
  if kind == "other" then
    ok, werr = core.write_file(out, html)
  else
    -- (Through a link to a directory too: "Is a directory", as for one.)
    local target = kind and core.realpath(out) or out
    ok, werr = core.write_atomic(target, html)
    -- Named as given: "cannot write link: Is a directory".
    if not ok and tostring(werr):sub(1, #target + 2) == target .. ": " then werr = tostring(werr):sub(#target + 3) end
  end
  if not ok then return nil, "cannot write " .. util.with_path(out, werr) end
  return out, kind == "other"
end

return M
