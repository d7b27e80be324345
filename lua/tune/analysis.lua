--- tune.ExperimentAnalysis: reads a finished (or running) experiment back
--- from its directory, or wraps the live trials of a tune.run, and answers
--- Ray Tune 2.0's questions about it: the best trial, config, checkpoint and
--- log directory by a metric, every trial's results and history.
---
--- Trials are either live tune.Trial objects (opts.trials) or the TRIAL
--- records of the newest experiment_state file, copied into small stub
--- tables with the same fields; the accessors read both shapes.
--- Result histories (result.json, else progress.csv) are read lazily and
--- cached per trial.
---
--- This file holds the class and its construction; the rest is under
--- lua/tune/analysis/: state.lua (experiment_state files, TrialStub),
--- results.lua (result.json, progress.csv), scores.lua (scores and best
--- trials), checkpoints.lua, data.lua (configs, dataframes, stats),
--- properties.lua (best_trial, results, ...) and common.lua.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")
local checkpoints = require("tune.analysis.checkpoints")
local common = require("tune.analysis.common")
local data = require("tune.analysis.data")
local PROPERTIES = require("tune.analysis.properties")
local results = require("tune.analysis.results")
local scores = require("tune.analysis.scores")
local state = require("tune.analysis.state")

local M = {}

M.STATE_FORMAT, M.STATE_VERSION = state.STATE_FORMAT, state.STATE_VERSION
M.DEFAULT_METRIC = "_metric"
M.SCOPES, M.is_metric = scores.SCOPES, scores.is_metric

local OPTS = {default_metric = true, default_mode = true, trials = true}

local warn = common.warn
local load_sources, make_stub = state.load_sources, state.make_stub

-- Helpers of the parts that tune.analysis exports as well.
M.warn, M.trial_name = warn, common.trial_name
M.find_newest_state, M.TrialStub = state.find_newest_state, state.TrialStub
M.parse_result_json, M.parse_progress_csv = results.parse_result_json, results.parse_progress_csv
M.parse_csv = results.parse_csv

-- The class ------------------------------------------------------------------

-- With the methods defined in tune.analysis.scores, .checkpoints and .data,
-- each checking first that it was called with a colon: with a dot
-- (analysis.dataframe("loss", "min")) "loss" would be taken for the
-- analysis. The method is tail-called: its errors point at the caller.
local methods = util.merge(scores.methods, checkpoints.methods, data.methods)
for name, f in pairs(methods) do
  if type(f) == "function" and name:sub(1, 1) ~= "_" then
    methods[name] = function(self, ...)
      if type(self) ~= "table" or type(rawget(self, "trials")) ~= "table" then
        error(string.format("ExperimentAnalysis: call its methods with a colon (analysis:%s(...))", name), 2)
      end
      return f(self, ...)
    end
  end
end
local ExperimentAnalysis = class.class("ExperimentAnalysis", methods)

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
  -- Several experiments (a local_dir): a name, metric or mode only where
  -- they all agree; experiment_dir is then the directory that holds them.
  local first = sources[1] and sources[1].state or {}
  local function agreed(key, ok)
    local v = first[key]
    if not ok(v) then return nil end
    for i = 2, #sources do
      if sources[i].state[key] ~= v then return nil end
    end
    return v
  end
  local function is_string(v) return type(v) == "string" end
  self.experiment_dir = sources[1] and sources[1].dir or nil
  if #sources > 1 then
    self.experiment_dir = sources[1].dir:match("^(.*)/[^/]*$") or sources[1].dir
    self.experiment_names = {}
    -- By directory: a copy of an experiment keeps the name in its state.
    for i, src in ipairs(sources) do
      self.experiment_names[i] = tostring(src.dir and src.dir:match("([^/]+)/*$") or src.state.name)
    end
  end
  self.experiment_name = #sources == 1 and agreed("name", is_string) or nil
  self.experiment_metric = agreed("metric", is_string)
  self.experiment_mode = agreed("mode", function(v) return v == "min" or v == "max" end)
  if opts.trials then
    self.trials = {}
    for i, t in ipairs(opts.trials) do self.trials[i] = t end
  else
    -- In the state's order, the runner's (creation order, a requeued trial
    -- at the end), as Ray's: a Searcher's trial ids are random, and sorted
    -- by id the trials were shuffled (the report's "best so far" too).
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

--- A trial's history: flattened rows from result.json, else (no
--- result.json, or none of its rows: the JSON logger was not among the
--- callbacks, and the file was made empty with the trial's directory)
--- progress.csv (cached); only the one set_filetype names, when it named
--- one. Second value: whether a results file was found.
function ExperimentAnalysis:_rows(t)
  local h = self._history[t]
  if h then return h.rows, h.found end
  local rows, found = {}, false
  local logdir = type(t.logdir) == "string" and t.logdir or nil
  local file_type = rawget(self, "_file_type")
  if logdir then
    local path = util.join(logdir, "result.json")
    local text = file_type ~= "csv" and core.read_file(path)
    if text then rows, found = M.parse_result_json(text, path), true end
    if #rows == 0 and file_type ~= "json" then
      text = core.read_file(util.join(logdir, "progress.csv"))
      if text then rows, found = M.parse_progress_csv(text), true end
    end
  end
  self._history[t] = {rows = rows, found = found}
  return rows, found
end

M.ExperimentAnalysis = ExperimentAnalysis
M.trial_checkpoints = checkpoints.trial_checkpoints
return M
