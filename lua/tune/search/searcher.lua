--- tune.search.Searcher: the base of suggestion-based searchers (Ray's
--- Searcher). A searcher is any table with these hooks; the base only adds
--- defaults. suggest(trial_id) returns a config table, nil (not now), or
--- Searcher.FINISHED. See docs/guide/custom-searchers.md.
local class = require("tune.class")
local core = require("tune.core")
local points = require("tune.search.points")
local sample = require("tune.search.sample")
local util = require("tune.util")

local Searcher = class.class("Searcher")

Searcher.FINISHED = "FINISHED"

function Searcher:__init(opts)
  opts = opts or {}
  local name = self.__name or "Searcher"
  if type(opts) ~= "table" then util.user_error(name .. ": the options must be a table, got " .. type(opts)) end
  if opts.mode ~= nil and opts.mode ~= "min" and opts.mode ~= "max" then
    util.user_error(name .. ": `mode` must be 'min' or 'max'")
  end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then
    util.user_error(name .. ": metric must be a string (a result key), got " .. type(opts.metric))
  end
  -- Options several searchers share, checked once for all of them, in the
  -- searcher's name (sample.Random checks a seed again, as "Random").
  if opts.seed ~= nil then sample._seed_integer(opts.seed, name) end
  local bad = points.check_list(opts.points_to_evaluate)
  if bad then util.user_error(name .. ": " .. bad) end
  self.metric = opts.metric
  self.mode = opts.mode
end

--- Ray's DEFAULT_METRIC: what a searcher given a mode and no metric
--- optimises (the anonymous metric: a function trainable's returned number).
Searcher.DEFAULT_METRIC = "_metric"

--- Takes the anonymous metric when there is a mode and no metric (Ray's
--- searchers' `if self._metric is None and self._mode`), once tune.run's
--- metric, if any, was offered.
function Searcher:_anonymous_metric()
  if self.metric == nil and self.mode ~= nil then self.metric = Searcher.DEFAULT_METRIC end
end

--- True when a searcher's `space` option gives it a space of its own:
--- not nil, and not an empty table (Ray's `if space:`), which leaves the
--- searcher to take tune.run's config as one not given a space.
function Searcher.given_space(space)
  return space ~= nil and not (type(space) == "table" and next(space) == nil)
end

--- Takes tune.run's metric, mode and config. False when this searcher
--- already has its own (tune.run then fails, as Ray does).
function Searcher:set_search_properties(metric, mode, config)
  return false
end

function Searcher:suggest(trial_id)
  error("Searcher:suggest() is not implemented by " .. tostring(self.__name), 2)
end

-- on_trial_result(trial_id, result), on_trial_complete(trial_id, result,
-- error): nothing by default.
Searcher.on_trial_result = util.noop
Searcher.on_trial_complete = util.noop

--- A point evaluated elsewhere, to learn from (Ray's add_evaluated_point).
function Searcher:add_evaluated_point(parameters, value, error, pruned, intermediate_values)
  error(tostring(self.__name) .. " does not support add_evaluated_point", 2)
end

--- The trials `add_evaluated_trials` was given: an ExperimentAnalysis's,
--- a list of trials, or one trial; nil when it is none of those.
local function trials_of(v)
  if type(v) ~= "table" then return nil end
  if v.trial_id ~= nil then return {v} end
  local list = v
  if rawget(v, "trials") ~= nil or getmetatable(v) ~= nil then list = v.trials end
  if type(list) ~= "table" then return nil end
  for _, t in ipairs(list) do
    if type(t) ~= "table" or t.trial_id == nil then return nil end
  end
  return list
end

--- Learns from trials run before (Ray's add_evaluated_trials): each trial
--- whose last result has `metric` is passed to add_evaluated_point with
--- its config and that value; a trial that failed as an error, one that
--- was stopped (TERMINATED without `done`) as pruned.
function Searcher:add_evaluated_trials(trials_or_analysis, metric)
  local name = tostring(self.__name)
  local trials = trials_of(trials_or_analysis)
  if not trials then
    error(string.format("%s:add_evaluated_trials: expected a trial, a list of trials or an ExperimentAnalysis, got %s",
      name, type(trials_or_analysis)), 2)
  end
  if type(metric) ~= "string" then
    error(string.format("%s:add_evaluated_trials: metric must be a string, got %s", name, type(metric)), 2)
  end
  local any_finished = false
  for _, t in ipairs(trials) do
    local result = type(t.last_result) == "table" and t.last_result or {}
    local value = util.get_path(result, metric)
    local terminated = t.status == "TERMINATED"
    if value ~= nil then
      any_finished = any_finished or (terminated and result.done == true)
      self:add_evaluated_point(t.config, value, t.status == "ERROR", terminated and result.done ~= true, nil)
    end
  end
  if not any_finished then
    io.stderr:write(string.format("tunelua warning: %s:add_evaluated_trials: no completed trial returned the metric "
      .. "%q. Make sure the name you have passed is correct.\n", name, metric))
  end
end

--- Ask the searcher to limit itself; false if it cannot (then a
--- ConcurrencyLimiter is used).
function Searcher:set_max_concurrency(max_concurrent) return false end

--- State for resume: a JSON-serialisable table, and back.
function Searcher:save() return nil end
function Searcher:restore(state) end

--- The system's reason in core's "<path>: <reason>".
local function reason(err, path)
  err = tostring(err)
  if err:sub(1, #path + 2) == path .. ": " then return err:sub(#path + 3) end
  return err
end

--- Writes `state` as JSON to `path` atomically (a temporary file in the
--- same directory, renamed), or raises at the caller's caller, naming `what`.
local function write_state(what, path, state)
  local text, jerr = core.json_encode(state)
  if not text then error(string.format("%s: cannot encode the state: %s", what, tostring(jerr)), 3) end
  local ok, err = core.write_atomic(path, text)
  if not ok then error(string.format("%s: cannot write %s (%s)", what, path, reason(err, path)), 3) end
end

--- Gives class `cls` Ray's save(checkpoint_path) and
--- restore(checkpoint_path) beside its own save() -> state and
--- restore(state): save(path) also writes the state to the file `path`
--- as JSON (atomically: a temporary file in the same directory, renamed),
--- restore(path) reads it back. Returns cls.
function Searcher.file_state(cls)
  local save, restore = cls.save, cls.restore
  local name = rawget(cls, "__name") or "Searcher"
  cls.save = function(self, path)
    local state = save(self)
    if path == nil then return state end
    if type(path) ~= "string" or path == "" then
      error(string.format("%s:save: the checkpoint path must be a file name (string), got %s", name, type(path)), 2)
    end
    write_state(name .. ":save", path, state == nil and core.null or state)
    return state
  end
  cls.restore = function(self, state)
    if type(state) == "string" then
      local path = state
      local text, err = core.read_file(path)
      if not text then error(string.format("%s:restore: cannot read %s (%s)", name, path, reason(err, path)), 2) end
      local jerr
      state, jerr = core.json_decode(text)
      if type(state) ~= "table" then
        error(string.format("%s:restore: %s is not a saved state (%s)", name, path,
          jerr and ("invalid JSON: " .. tostring(jerr)) or "not a JSON object"), 2)
      end
    end
    return restore(self, state)
  end
  return cls
end

--- Ray's set_state of a wrapper (Repeater, ConcurrencyLimiter): the value of
--- option `key` that `state` was saved with goes on, said when this run
--- asked for another. `valid(v)` says whether a saved value can be taken
--- (an older state without it keeps this run's). Whether it changed.
function Searcher.keep_saved_option(self, name, state, key, valid)
  local v = state[key]
  if v == nil or not valid(v) or v == self[key] then return false end
  io.stderr:write(string.format("tunelua warning: %s was saved with %s = %s; the restore keeps it (this run asked "
    .. "for %s)\n", name, key, tostring(v), tostring(self[key])))
  self[key] = v
  return true
end

--- Ray's save_to_dir(dir [, session_str]) and restore_from_dir(dir): the
--- state of save() as JSON in dir/searcher-state-<session_str>.json
--- (session_str "default"; written atomically), and back: the newest such
--- file there (by name, as Ray's), else, in an experiment directory, the
--- state its newest snapshot holds of the searcher tune.run was given
--- (Ray's tune.run writes its searcher's file there). A searcher whose
--- save() returns nothing writes nothing, said once (Ray's "save not
--- implemented"). Returns whether it wrote / the state restored.
Searcher.CKPT_FILE_TMPL = "searcher-state-%s.json"

local function dir_argument(name, method, dir)
  if type(dir) ~= "string" or dir == "" then
    error(string.format("%s:%s: the directory must be a path (string), got %s", name, method, type(dir)), 3)
  end
  return util.expanduser(dir)
end

function Searcher:save_to_dir(dir, session_str)
  local name = self.__name or "Searcher"
  dir = dir_argument(name, "save_to_dir", dir)
  local state = self:save()
  if state == nil then
    io.stderr:write(string.format("tunelua warning: %s:save_to_dir: its save() returns no state; nothing is "
      .. "written\n", name))
    return false
  end
  write_state(name .. ":save_to_dir", util.join(dir, Searcher.CKPT_FILE_TMPL:format(session_str or "default")), state)
  return true
end

--- The newest snapshot's state of tune.run's searcher in experiment
--- directory `dir`, or nil and why not.
local function snapshot_state(dir)
  local path = require("tune.experiment.persistence").find_state(dir)
  if not path then return nil end
  local s = core.json_decode(core.read_file(path) or "")
  local alg = type(s) == "table" and s.search_alg
  if type(alg) ~= "table" or type(alg.searcher) ~= "table" then
    local kind = type(s) == "table" and type(s.plugins) == "table" and s.plugins.search_alg
    return nil, string.format("%s holds no searcher's state (its search algorithm: %s)", path, tostring(kind or "?"))
  end
  return alg.searcher
end

function Searcher:restore_from_dir(dir)
  local name = self.__name or "Searcher"
  dir = dir_argument(name, "restore_from_dir", dir)
  local newest
  for _, f in ipairs(core.listdir(dir) or {}) do
    if f:match("^searcher%-state%-.*%.json$") and (not newest or f > newest) then newest = f end
  end
  local state, why
  if newest then
    local path = util.join(dir, newest)
    state = core.json_decode(core.read_file(path) or "")
    if type(state) ~= "table" then why = path .. " is not a saved state (not a JSON object)" end
  else
    state, why = snapshot_state(dir)
  end
  if type(state) ~= "table" then
    error(string.format("%s:restore_from_dir: %s", name, why or ("no searcher state in " .. dir)), 2)
  end
  self:restore(state)
  return state
end

--- The first grid_search in `v` (a config or a space), as a path "a/b",
--- or nil: a searcher suggests one config per trial and walks no grid.
function Searcher.find_grid(v, path)
  path = path or ""
  if not sample._is_container(v) then return nil end
  if next(v) == "grid_search" and next(v, "grid_search") == nil then return path end
  for k, x in pairs(v) do
    local found = Searcher.find_grid(x, path == "" and tostring(k) or (path .. "/" .. tostring(k)))
    if found then return found end
  end
  return nil
end

--- The one config that `config` resolves to (its Domains and sample_from
--- functions drawn with `rng`) for searcher `who`. A grid that appears on
--- the way (a sample_from's result, a choice's category) would give several,
--- of which only the first ran: an error naming where it is.
function Searcher.resolve_one(config, rng, who)
  local vs = require("tune.search.variant_generator").generate_variants(config, rng)
  if #vs == 1 then return vs[1].config end
  local first, where = {}, "?"
  for _, rv in ipairs(vs[1].resolved_vars) do first[table.concat(rv.path, "/")] = rv.value end
  for _, rv in ipairs(vs[2].resolved_vars) do
    local path = table.concat(rv.path, "/")
    if not sample._same(first[path], rv.value) then where = path break end
  end
  error(string.format("%s: config: %s: grid_search is not supported by a searcher, nor one that a sample_from "
    .. "returns or a choice draws (use BasicVariantGenerator, the default search_alg, for grids)", who, where), 0)
end

--- Why `v` is not a searcher instance a wrapper (ConcurrencyLimiter,
--- Repeater) can take, or nil: a class instead of an instance, or a search
--- algorithm (BasicVariantGenerator: it makes trials, it suggests nothing).
function Searcher.not_a_searcher(v)
  if type(v) ~= "table" then return "got " .. type(v) end
  if rawget(v, "__index") == v then return "got the class " .. tostring(rawget(v, "__name")) .. ", not an instance" end
  if v.next_trial ~= nil then
    return "got the search algorithm " .. tostring(v.__name or "?") .. ", which makes trials rather than suggesting configs"
  end
  if type(v.suggest) ~= "function" then return "got a table without suggest()" end
  return nil
end

return Searcher
