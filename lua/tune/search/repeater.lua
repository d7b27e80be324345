--- Repeater: runs each suggestion of a searcher `repeat` times and tells
--- the searcher the mean of the repeats' metric (Ray's
--- python/ray/tune/search/repeater.py). See
--- docs/reference/searchers/repeater.md.
---
--- Repeater(searcher, {["repeat"] = 1, set_index = true})
--- `repeat` is a Lua keyword, so `{repeat = 5}` does not parse: write
--- {["repeat"] = 5}, or the alias {repeats = 5}, or Repeater(searcher, 5).
--- Set num_samples to a multiple of `repeat`: num_samples = 15 with
--- repeat = 5 is 3 suggestions run 5 times each; the leftover trials of a
--- num_samples that is not a multiple form an incomplete group that the
--- searcher never hears of. Each trial's config gets "__trial_index__",
--- its index in its group (0-based, as Ray), when set_index is true.
local Searcher = require("tune.search.searcher")
local core = require("tune.core")
local plugin = require("tune.experiment.plugin")
local sample = require("tune.search.sample")
local util = require("tune.util")

local Repeater = Searcher:extend(nil, "Repeater")

Repeater.TRIAL_INDEX = "__trial_index__"

local OPTIONS = {["repeat"] = true, repeats = true, set_index = true}

function Repeater:__init(searcher, opts)
  local why = Searcher.not_a_searcher(searcher)
  if why then error("Repeater: expected a searcher as the first argument, " .. why, 3) end
  opts = opts or {}
  if type(opts) == "number" then opts = {["repeat"] = opts} end
  if type(opts) ~= "table" then error("Repeater: expected an options table as the second argument", 3) end
  util.check_options("Repeater", opts, OPTIONS, 3)
  if opts["repeat"] ~= nil and opts.repeats ~= nil then
    error("Repeater: give `repeat` or its alias `repeats`, not both", 3)
  end
  local r = opts["repeat"]
  if r == nil then r = opts.repeats end
  if r == nil then r = 1 end
  if math.tointeger(r) == nil or r < 1 then
    error("Repeater: repeat must be an integer >= 1, got " .. tostring(r), 3)
  end
  self.searcher = searcher
  self["repeat"] = math.tointeger(r)
  self.repeats = self["repeat"]
  util.check_booleans("Repeater", opts, {"set_index"}, 3)
  self.set_index = opts.set_index ~= false
  self.metric = searcher.metric
  self.mode = searcher.mode
  self._groups = {}     -- {primary =, config =, trials = {id...}, scores = {id -> number|false}}
  self._by_trial = {}   -- trial_id -> group
  self._current = nil
end

local function call(self, name, judge, ...)
  local ok, v = plugin.call("searcher", self.searcher, name, judge, ...)
  if not ok then error(v, 0) end
  return v
end

function Repeater:set_search_properties(metric, mode, config)
  local r = call(self, "set_search_properties", nil, metric, mode, config)
  self.metric, self.mode = self.searcher.metric, self.searcher.mode
  return r
end

local function full(self, g)
  return #g.trials >= self["repeat"]
end

function Repeater:suggest(trial_id)
  local g = self._current
  local index
  if g == nil or full(self, g) then
    local config = call(self, "suggest", "suggestion", trial_id)
    if type(config) ~= "table" then return config end -- nil or FINISHED
    g = {primary = trial_id, config = sample._plain_copy(config), trials = {trial_id}, scores = {}}
    self._groups[#self._groups + 1] = g
    self._current = g
    index = 0
  else
    index = #g.trials
    g.trials[#g.trials + 1] = trial_id
  end
  self._by_trial[trial_id] = g
  local config = sample._plain_copy(g.config)
  if self.set_index then config[Repeater.TRIAL_INDEX] = index end
  return config
end

local function metric_of(result, metric)
  if type(result) ~= "table" or metric == nil then return nil end
  local v = result[metric]
  if v == nil then
    v = result
    for part in metric:gmatch("[^/]+") do
      if type(v) ~= "table" then return nil end
      v = v[part]
    end
  end
  return type(v) == "number" and v or nil
end

--- numpy's nanmean: the mean of the non-NaN values (NaN when none).
local function nanmean(values)
  local sum, n = 0.0, 0
  for _, v in ipairs(values) do
    if v == v then sum, n = sum + v, n + 1 end
  end
  if n == 0 then return 0 / 0 end
  return sum / n
end

--- Stores the trial's score (NaN when it has no metric); when the whole
--- group has reported, tells the searcher the mean under the group's
--- first trial id, with this trial's `error` flag.
function Repeater:on_trial_complete(trial_id, result, error_)
  local g = self._by_trial[trial_id]
  if not g then
    io.stderr:write(string.format("tunelua: Repeater: trial %s is not in a group; cannot report its score\n",
      tostring(trial_id)))
    return
  end
  local metric = self.searcher.metric or self.metric
  local score = metric_of(result, metric)
  if score == nil then score = 0 / 0 end
  g.scores[trial_id] = score
  if not full(self, g) then return end
  local scores = {}
  for _, id in ipairs(g.trials) do
    if g.scores[id] == nil then return end
    scores[#scores + 1] = g.scores[id]
  end
  if g.told then return end
  g.told = true
  -- Without a metric (a searcher that has none, tune.run given none) there
  -- is no mean to name: the searcher is told of the group with an empty
  -- result (Ray's {None: nan}).
  local told = {}
  if metric ~= nil then told[metric] = nanmean(scores) end
  call(self, "on_trial_complete", nil, g.primary, told, error_)
end

function Repeater:add_evaluated_point(...)
  return call(self, "add_evaluated_point", nil, ...)
end

function Repeater:set_max_concurrency(max_concurrent) return false end

function Repeater:save()
  local groups = {}
  for i, g in ipairs(self._groups) do
    local scores = {}
    for j, id in ipairs(g.trials) do
      local s = g.scores[id]
      if s == nil then scores[j] = false else scores[j] = s end
    end
    groups[i] = {primary = g.primary, config = g.config, trials = g.trials, scores = scores, told = g.told or false}
  end
  return {format = "tunelua.repeater", groups = groups, current = self._current and #self._groups or 0,
    ["repeat"] = self["repeat"], set_index = self.set_index, searcher = call(self, "save", nil)}
end

function Repeater:restore(state)
  if type(state) ~= "table" then return end
  -- The groups were made with the saved repeat (Ray's set_state keeps it, and set_index).
  if Searcher.keep_saved_option(self, "Repeater", state, "repeat",
      function(v) return math.type(v) == "integer" and v >= 1 end) then
    self.repeats = self["repeat"]
  end
  Searcher.keep_saved_option(self, "Repeater", state, "set_index", function(v) return type(v) == "boolean" end)
  self._groups, self._by_trial, self._current = {}, {}, nil
  for i, s in ipairs(state.groups or {}) do
    local g = {primary = s.primary, config = s.config, trials = {}, scores = {}, told = s.told or nil}
    for j, id in ipairs(s.trials or {}) do
      g.trials[j] = id
      local sc = (s.scores or {})[j]
      if type(sc) == "number" then g.scores[id] = sc end
      self._by_trial[id] = g
    end
    self._groups[i] = g
  end
  if (state.current or 0) > 0 then self._current = self._groups[state.current] end
  if state.searcher ~= nil and state.searcher ~= core.null then call(self, "restore", nil, state.searcher) end
end

-- save(path) and restore(path), Ray's checkpoint files.
return Searcher.file_state(Repeater)
