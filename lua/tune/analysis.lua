--- tune.ExperimentAnalysis: reads a finished (or running) experiment back
--- from its directory, or wraps the live trials of a tune.run, and answers
--- Ray Tune 2.0's questions about it: the best trial, config, checkpoint and
--- log directory by a metric, every trial's results and history.
---
--- Trials are either live tune.Trial objects (opts.trials) or the TRIAL
--- records of the newest experiment_state file, copied into small stub
--- tables with the same fields; the accessors below read both shapes.
--- Result histories (result.json, else progress.csv) are read lazily and
--- cached per trial.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

M.STATE_FORMAT = "tunelua.experiment_state"
M.STATE_VERSION = 1
M.DEFAULT_METRIC = "_metric"
M.SCOPES = {"all", "last", "avg", "last-5-avg", "last-10-avg"}

local SCOPE_SET = {}
for _, s in ipairs(M.SCOPES) do SCOPE_SET[s] = true end
local N_STEPS = {5, 10}
-- Result keys that are never metrics (Ray's DEBUG_METRICS).
local DEBUG_METRICS = {trial_id = true, experiment_id = true, date = true, timestamp = true,
  pid = true, hostname = true, node_ip = true, config = true}
local OPTS = {default_metric = true, default_mode = true, trials = true}

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

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- `path` moved from under `from` to under `to`, or nil if it is not under `from`.
local function rebase(path, from, to)
  if type(path) ~= "string" or type(from) ~= "string" or type(to) ~= "string" then return nil end
  from = from:gsub("/+$", "")
  if path == from then return to end
  if path:sub(1, #from + 1) == from .. "/" then return util.join(to, path:sub(#from + 2)) end
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

-- Reading the experiment state -------------------------------------------

local function check_state(state, where)
  if type(state) ~= "table" or getmetatable(state) ~= nil then
    return nil, where .. " is not a tunelua experiment state (not a JSON object)"
  end
  if state.format ~= M.STATE_FORMAT then
    return nil, string.format("%s is not a tunelua experiment state (format %s, expected %q)",
      where, state.format == nil and "missing" or string.format("%q", tostring(state.format)), M.STATE_FORMAT)
  end
  local v = state.version
  if type(v) ~= "number" or v ~= math.floor(v) then
    return nil, where .. " is not a valid tunelua experiment state (no integer \"version\")"
  end
  if v > M.STATE_VERSION then
    return nil, string.format("%s has experiment state version %d, newer than this tunelua reads (%d); "
      .. "use a newer tunelua", where, math.tointeger(v) or v, M.STATE_VERSION)
  end
  if state.trials ~= nil and type(state.trials) ~= "table" then
    return nil, where .. " is not a valid tunelua experiment state (\"trials\" is not a list)"
  end
  return state
end

local function read_state(path)
  local text, err = core.read_file(path)
  if not text then return nil, string.format("cannot read %s: %s", path, tostring(err)) end
  local state, derr = core.json_decode(text)
  if state == nil then
    return nil, string.format("%s is corrupt: not valid JSON (%s)", path, tostring(derr))
  end
  return check_state(state, path)
end

--- The newest experiment_state-<timestamp>.json in `dir` (by the name's timestamp).
function M.find_newest_state(dir)
  local best, best_ts
  for _, name in ipairs(core.listdir(dir) or {}) do
    local ts = name:match("^experiment_state%-(.+)%.json$")
    if ts and (best_ts == nil or ts > best_ts) then best, best_ts = name, ts end
  end
  return best and util.join(dir, best) or nil
end

--- The states to analyse: {{state=, dir=, file=}, ...} or nil, err. A
--- directory without a state file is searched one level down (a local_dir
--- holding several experiments), as Ray does.
local function load_sources(path_or_state)
  if type(path_or_state) == "table" then
    local state, err = check_state(path_or_state, "the experiment state table")
    if not state then return nil, err end
    local dir = type(state.experiment_dir) == "string" and state.experiment_dir or nil
    return {{state = state, dir = dir}}
  end
  if type(path_or_state) ~= "string" or path_or_state == "" then
    return nil, "expected an experiment directory, an experiment_state file or a state table, got "
      .. type(path_or_state)
  end
  local path = util.abspath(util.expanduser(path_or_state))
  if #path > 1 then path = path:gsub("/+$", "") end
  local kind = core.stat(path)
  if kind == nil then
    return nil, string.format("the path `%s` does not exist and cannot be loaded for experiment analysis", path)
  end
  local files = {}
  if kind == "directory" then
    local newest = M.find_newest_state(path)
    if newest then
      files[1] = newest
    else
      for _, name in ipairs(core.listdir(path) or {}) do
        local sub = util.join(path, name)
        if core.stat(sub) == "directory" then
          local f = M.find_newest_state(sub)
          if f then files[#files + 1] = f end
        end
      end
    end
    if #files == 0 then
      return nil, string.format("the directory `%s` does not contain a tunelua experiment state "
        .. "(experiment_state-*.json)", path)
    end
  else
    files[1] = path
  end
  local sources = {}
  for _, f in ipairs(files) do
    local state, err = read_state(f)
    if not state then return nil, err end
    sources[#sources + 1] = {state = state, dir = dirname(f), file = f}
  end
  return sources
end

-- Trials -------------------------------------------------------------------

--- A trial read from a state file: the TRIAL record's fields, JSON nulls
--- dropped, logdir and checkpoint paths resolved against where the
--- experiment directory is now.
local TrialStub = class.class("TrialStub")

function TrialStub:__tostring()
  if type(self.custom_trial_name) == "string" then return self.custom_trial_name end
  return string.format("%s_%s", tostring(self.trainable_name), tostring(self.trial_id))
end
M.TrialStub = TrialStub

local function make_stub(rec, src)
  local t = setmetatable({}, TrialStub)
  for k, v in pairs(rec) do
    if v ~= core.null then t[k] = v end
  end
  t.config = type(rec.config) == "table" and rec.config or {}
  t.last_result = type(rec.last_result) == "table" and rec.last_result or {}
  t.num_failures = tonumber(rec.num_failures) or 0
  local orig_exp = type(src.state.experiment_dir) == "string" and src.state.experiment_dir or nil
  local orig_logdir = type(rec.logdir) == "string" and rec.logdir or nil
  local rel = type(rec.relative_logdir) == "string" and rec.relative_logdir or nil
  if not rel and orig_logdir and orig_exp then
    local r = rebase(orig_logdir, orig_exp, "")
    if r then rel = r:gsub("^/+", "") end
  end
  local logdir = orig_logdir
  if src.dir and rel and rel ~= "" then
    local here = util.join(src.dir, rel)
    if core.stat(here) == "directory" or not (logdir and core.stat(logdir) == "directory") then
      logdir = here
    end
  end
  t.logdir = logdir
  t.local_dir = src.dir
  t.checkpoints = {}
  if type(rec.checkpoints) == "table" then
    for _, c in ipairs(rec.checkpoints) do
      if type(c) == "table" and type(c.dir) == "string" and c.storage ~= "MEMORY" then
        local d = c.dir
        if logdir ~= orig_logdir then
          d = rebase(d, orig_logdir, logdir) or rebase(d, orig_exp, src.dir) or d
        end
        t.checkpoints[#t.checkpoints + 1] = {dir = d, storage = c.storage or "PERSISTENT",
          metrics = type(c.metrics) == "table" and c.metrics or {}}
      end
    end
  end
  return t
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

-- Result histories ----------------------------------------------------------

--- Rows of a result.json: one object a line; a torn last line (no newline
--- after it) is dropped silently, other unreadable lines with a warning.
function M.parse_result_json(text, where)
  local rows, bad = {}, 0
  local pos, n = 1, #text
  while pos <= n do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or n + 1) - 1)
    if line:find("%S") then
      local obj = core.json_decode(line)
      if type(obj) == "table" and getmetatable(obj) == nil then
        rows[#rows + 1] = flat_row(obj)
      elseif nl then
        bad = bad + 1
      end
    end
    if not nl then break end
    pos = nl + 1
  end
  if bad > 0 then warn(string.format("skipped %d unreadable line(s) in %s", bad, where or "result.json")) end
  return rows
end

--- Records of an RFC 4180 CSV text (arrays of strings). A last record not
--- ended by a newline is torn and dropped.
function M.parse_csv(text)
  local records, rec = {}, {}
  local i, n = 1, #text
  while i <= n do
    local value
    if text:sub(i, i) == '"' then
      local parts, j = {}, i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then return records end
        parts[#parts + 1] = text:sub(j, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      local e = text:find("[,\r\n]", i) or n + 1
      value = table.concat(parts) .. text:sub(i, e - 1)
      i = e
    else
      local e = text:find("[,\r\n]", i) or n + 1
      value = text:sub(i, e - 1)
      i = e
    end
    rec[#rec + 1] = value
    local d = text:sub(i, i)
    if d == "," then
      i = i + 1
    elseif d == "\r" or d == "\n" then
      if d == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      i = i + 1
      records[#records + 1] = rec
      rec = {}
    else
      return records
    end
  end
  return records
end

local CSV_WORDS = {nan = 0 / 0, NaN = 0 / 0, inf = math.huge, Infinity = math.huge, ["-inf"] = -math.huge,
  ["-Infinity"] = -math.huge, ["True"] = true, ["true"] = true, ["False"] = false, ["false"] = false}

local function csv_value(key, s)
  if s == "" then return nil end
  if key == "trial_id" then return s end
  local w = CSV_WORDS[s]
  if w ~= nil then return w end
  return tonumber(s) or s
end

--- Rows of a progress.csv (already flat: "config/lr" columns).
function M.parse_progress_csv(text)
  local records = M.parse_csv(text)
  local header = records[1]
  local rows = {}
  if not header then return rows end
  for r = 2, #records do
    local rec = records[r]
    if #rec == #header then
      local row = {}
      for c, key in ipairs(header) do row[key] = csv_value(key, rec[c]) end
      rows[#rows + 1] = row
    end
  end
  return rows
end

-- The class ------------------------------------------------------------------

local ExperimentAnalysis = class.class("ExperimentAnalysis")
local PROPERTIES = {}

ExperimentAnalysis.__index = function(self, k)
  local m = ExperimentAnalysis[k]
  if m ~= nil then return m end
  local p = PROPERTIES[k]
  if p then
    local ok, v = p(self, k)
    if not ok then error(v, 2) end
    return v
  end
  return nil
end

local function setup(self, path_or_state, opts)
  opts = opts or {}
  if type(opts) ~= "table" then return nil, "ExperimentAnalysis: opts must be a table" end
  for k in pairs(opts) do
    if not OPTS[k] then
      local near = type(k) == "string" and util.closest(k, util.sorted_keys(OPTS))
      return nil, string.format("ExperimentAnalysis: unknown option %q%s", tostring(k),
        near and (" (did you mean " .. near .. "?)") or "")
    end
  end
  local dm, dmode = opts.default_metric, opts.default_mode
  if dm ~= nil and type(dm) ~= "string" then return nil, "`default_metric` has to be nil or a string" end
  if dmode ~= nil and dmode ~= "min" and dmode ~= "max" then
    return nil, "`default_mode` has to be nil or one of [min, max]"
  end
  if dm == nil and dmode ~= nil then dm = M.DEFAULT_METRIC end
  self.default_metric, self.default_mode = dm, dmode
  if opts.trials ~= nil and type(opts.trials) ~= "table" then
    return nil, "ExperimentAnalysis: opts.trials must be a list of trials"
  end
  local sources = {}
  if path_or_state ~= nil or opts.trials == nil then
    local err
    sources, err = load_sources(path_or_state)
    if not sources then return nil, err end
  end
  self._sources = sources
  local first = sources[1] and sources[1].state or {}
  self.experiment_dir = sources[1] and sources[1].dir or nil
  self.experiment_name = type(first.name) == "string" and first.name or nil
  self.experiment_metric = type(first.metric) == "string" and first.metric or nil
  self.experiment_mode = (first.mode == "min" or first.mode == "max") and first.mode or nil
  if opts.trials then
    self.trials = {}
    for i, t in ipairs(opts.trials) do self.trials[i] = t end
  else
    local trials = {}
    for _, src in ipairs(sources) do
      for i, rec in ipairs(src.state.trials or {}) do
        if type(rec) == "table" and type(rec.trial_id) == "string" then
          trials[#trials + 1] = make_stub(rec, src)
        else
          warn(string.format("skipping malformed trial record #%d in %s", i, src.file or "the state table"))
        end
      end
    end
    local order = {}
    for i, t in ipairs(trials) do order[t] = i end
    table.sort(trials, function(a, b)
      if a.trial_id ~= b.trial_id then return a.trial_id < b.trial_id end
      return order[a] < order[b]
    end)
    self.trials = trials
  end
  self._history = {}    -- trial -> {rows = {...}, found = bool}
  self._analysis = {}   -- trial -> metric -> {max=, min=, avg=, last=, ...} or false
  self._configs = {}    -- trial -> config from params.json
  return self
end

function ExperimentAnalysis:__init(path_or_state, opts)
  local ok, err = setup(self, path_or_state, opts)
  if not ok then error(err, 3) end
end

--- ExperimentAnalysis as a constructor that returns nil, err for errors.
function M.load(path_or_state, opts)
  return setup(setmetatable({}, ExperimentAnalysis), path_or_state, opts)
end

--- A trial's history: flattened rows from result.json, else progress.csv
--- (cached). Second value: whether a results file was found.
function ExperimentAnalysis:_rows(t)
  local h = self._history[t]
  if h then return h.rows, h.found end
  local rows, found = {}, false
  local logdir = type(t.logdir) == "string" and t.logdir or nil
  if logdir then
    local path = util.join(logdir, "result.json")
    local text = core.read_file(path)
    if text then
      rows, found = M.parse_result_json(text, path), true
    else
      text = core.read_file(util.join(logdir, "progress.csv"))
      if text then rows, found = M.parse_progress_csv(text), true end
    end
  end
  self._history[t] = {rows = rows, found = found}
  return rows, found
end

--- Ray's Trial.metric_analysis for one metric, rebuilt from the history in
--- the order Ray updates it (avg weighs by training_iteration; min/max keep
--- Python's max(value, old) semantics with NaN); nil if never reported.
function ExperimentAnalysis:_metric_analysis(t, metric)
  local per = self._analysis[t]
  if not per then
    per = {}
    self._analysis[t] = per
  end
  local cached = per[metric]
  if cached ~= nil then return cached or nil end
  if DEBUG_METRICS[metric] or metric:sub(1, 7) == "config/" then
    per[metric] = false
    return nil
  end
  local rows = self:_rows(t)
  if #rows == 0 and next(last_result(t)) ~= nil then rows = {flat_row(last_result(t))} end
  local a, windows
  for _, row in ipairs(rows) do
    local v = as_number(row[metric])
    if v ~= nil then
      if a == nil then
        a = {max = v, min = v, avg = v, last = v}
        windows = {}
        for _, n in ipairs(N_STEPS) do
          windows[n] = {v}
          a["last-" .. n .. "-avg"] = v
        end
      else
        local step = row.training_iteration
        if type(step) ~= "number" or step == 0 then step = 1 end
        a.max = (a.max > v) and a.max or v
        a.min = (a.min < v) and a.min or v
        a.avg = 1 / step * (v + (step - 1) * a.avg)
        a.last = v
        for _, n in ipairs(N_STEPS) do
          local w = windows[n]
          w[#w + 1] = v
          if #w > n then table.remove(w, 1) end
          local sum = 0
          for _, x in ipairs(w) do sum = sum + x end
          a["last-" .. n .. "-avg"] = sum / #w
        end
      end
    end
  end
  per[metric] = a or false
  return a
end

local function check_metric(self, metric)
  if metric == nil then metric = self.default_metric end
  if metric == nil then
    return nil, "No `metric` has been passed and `default_metric` has not been set. "
      .. "Please specify the `metric` parameter."
  end
  if type(metric) ~= "string" then return nil, "`metric` has to be a string" end
  return metric
end

local function check_mode(self, mode)
  if mode ~= nil and mode ~= "min" and mode ~= "max" then
    return nil, "If set, `mode` has to be one of [min, max]"
  end
  mode = mode or self.default_mode
  if mode == nil then
    return nil, "No `mode` has been passed and `default_mode` has not been set. "
      .. "Please specify the `mode` parameter."
  end
  return mode
end

local function check_scope(metric, scope)
  if scope == nil then return "last" end
  if not SCOPE_SET[scope] then
    return nil, string.format("ExperimentAnalysis: attempting to get best trial for metric %s for scope %s "
      .. "not in [\"all\", \"last\", \"avg\", \"last-5-avg\", \"last-10-avg\"]. If you didn't pass a "
      .. "`metric` parameter to `tune.run()`, you have to pass one when fetching the best trial.",
      tostring(metric), tostring(scope))
  end
  return scope
end

--- A trial's score on `metric` for `scope` (with "all", its min or max by
--- `mode`), or nil when it never reported the metric. tunelua extension.
function ExperimentAnalysis:get_trial_score(trial, metric, mode, scope)
  local err
  metric, err = check_metric(self, metric)
  if not metric then error(err, 2) end
  mode, err = check_mode(self, mode)
  if not mode then error(err, 2) end
  scope, err = check_scope(metric, scope)
  if not scope then error(err, 2) end
  local a = self:_metric_analysis(trial, metric)
  if not a then return nil end
  return a[scope == "all" and mode or scope]
end

local function find_best(self, metric, mode, scope, filter_nan_and_inf)
  local err
  metric, err = check_metric(self, metric)
  if not metric then return false, err end
  mode, err = check_mode(self, mode)
  if not mode then return false, err end
  scope, err = check_scope(metric, scope)
  if not scope then return false, err end
  if filter_nan_and_inf == nil then filter_nan_and_inf = true end
  -- Ray returns the only trial without looking at its results.
  if #self.trials == 1 then return true, self.trials[1] end
  local key = scope == "all" and mode or scope
  local best, best_score
  for _, t in ipairs(self.trials) do
    local a = self:_metric_analysis(t, metric)
    local score = a and a[key]
    if score ~= nil and not (filter_nan_and_inf and is_nan_or_inf(score)) then
      if best_score == nil
          or (mode == "max" and best_score < score)
          or (mode == "min" and best_score > score) then
        best, best_score = t, score
      end
    end
  end
  if best == nil then
    warn("Could not find best trial. Did you pass the correct `metric` parameter?")
  end
  return true, best
end

--- The best trial by `metric` and `mode` (defaults: default_metric,
--- default_mode) over `scope` ("last", "avg", "last-5-avg", "last-10-avg",
--- "all"); trials whose score is NaN or infinite are skipped unless
--- filter_nan_and_inf is false. nil (and a warning) if no trial has it.
function ExperimentAnalysis:get_best_trial(metric, mode, scope, filter_nan_and_inf)
  local ok, r = find_best(self, metric, mode, scope, filter_nan_and_inf)
  if not ok then error(r, 2) end
  return r
end

function ExperimentAnalysis:get_best_config(metric, mode, scope)
  local ok, r = find_best(self, metric, mode, scope)
  if not ok then error(r, 2) end
  return r and r.config or nil
end

function ExperimentAnalysis:get_best_logdir(metric, mode, scope)
  local ok, r = find_best(self, metric, mode, scope)
  if not ok then error(r, 2) end
  return r and r.logdir or nil
end

--- A trial given as a trial or as its logdir.
local function resolve_trial(self, trial)
  if type(trial) == "table" then return trial end
  if type(trial) ~= "string" then return nil, "trial should be a logdir string or a trial" end
  local dir = util.expanduser(trial):gsub("/+$", "")
  for _, t in ipairs(self.trials) do
    if t.logdir == dir then return t end
  end
  return {logdir = dir, trial_id = dir:match("[^/]+$")}
end

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

--- {path, value} for each persistent checkpoint of a trial (or logdir):
--- the metric at save time, else from the result with the same
--- training_iteration. metric defaults to default_metric, else
--- "training_iteration".
function ExperimentAnalysis:get_trial_checkpoints_paths(trial, metric)
  local t, err = resolve_trial(self, trial)
  if not t then error(err, 2) end
  return checkpoint_values(self, t, metric or self.default_metric or "training_iteration")
end

local function best_checkpoint(self, trial, metric, mode)
  local t, err = resolve_trial(self, trial)
  if not t then return false, err end
  metric = metric or self.default_metric or "training_iteration"
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
    warn(string.format("No checkpoints have been found for trial %s.", M.trial_name(t)))
    return true, nil
  end
  if core.stat(best) ~= "directory" then
    warn(string.format("The requested checkpoint for trial %s is not available: %s does not exist.",
      M.trial_name(t), best))
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
          warn(string.format("Non-numerical value(s) encountered for %s", tostring(t.logdir or M.trial_name(t))))
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

--- The experiment state's "stats" (map name -> stats for several experiments).
function ExperimentAnalysis:stats()
  return self:_per_source("stats")
end

--- The experiment state's "runner" data (map name -> data for several).
function ExperimentAnalysis:runner_data()
  return self:_per_source("runner")
end

function ExperimentAnalysis:_per_source(key)
  local srcs = self._sources
  if #srcs == 1 then return srcs[1].state[key] end
  local out = {}
  for i, src in ipairs(srcs) do
    local name = type(src.state.name) == "string" and src.state.name or (src.dir or tostring(i))
    out[name] = src.state[key]
  end
  return out
end

-- Properties (Ray's @property), read through __index ------------------------

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

M.ExperimentAnalysis = ExperimentAnalysis
M.trial_checkpoints = trial_checkpoints
return M
