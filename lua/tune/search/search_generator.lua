--- SearchGenerator: turns a Searcher's suggestions into trials (Ray's
--- SearchGenerator). Tags are "<n>_<last_key=value,...>".
local SearchAlgorithm = require("tune.search.search_algorithm")
local Searcher = require("tune.search.searcher")
local plugin = require("tune.experiment.plugin")
local trial_mod = require("tune.experiment.trial")
local util = require("tune.util")
local variants = require("tune.search.variant_generator")

local SearchGenerator = SearchAlgorithm:extend(nil, "SearchGenerator")

function SearchGenerator:__init(searcher, opts)
  SearchAlgorithm.__init(self)
  self.searcher = searcher
  self._experiment = nil
  self._counter = 0
  -- Distributions in tune.run's config that the searcher leaves alone are
  -- drawn from this generator (seeded by tune.run's seed).
  self._rng = require("tune.search.sample").Random(opts and opts.seed)
end

local function hook(self, name, judge, ...)
  local ok, v = plugin.call("searcher", self.searcher, name, judge, ...)
  if not ok then error(v, 0) end
  return v
end

function SearchGenerator:set_search_properties(metric, mode, config)
  return hook(self, "set_search_properties", nil, metric, mode, config) and true or false
end

function SearchGenerator:add_configurations(experiments)
  if self._experiment then error("SearchGenerator takes one experiment", 2) end
  self._experiment = experiments[1]
  self.total_samples = self._experiment.num_samples
end

-- Ray's merge_dicts: a suggested dict is merged into a dict of the
-- config; anything else (a list, a scalar, a table where the config holds
-- a domain such as a tune.choice of tables) replaces the config's value.
local merge = require("tune.search.points").merge

function SearchGenerator:next_trial()
  if self._finished or not self._experiment then return nil end
  local e = self._experiment
  if self._counter >= e.num_samples then
    self:set_finished()
    return nil
  end
  local trial_id = trial_mod.generate_id()
  local suggestion = hook(self, "suggest", "suggestion", trial_id)
  if suggestion == Searcher.FINISHED then
    self:set_finished()
    return nil
  end
  if suggestion == nil then return nil end
  -- A trial's config is JSON (a table inside itself hung the merge below).
  local why = util.not_plain(suggestion)
  if why then
    error(string.format("searcher %s: suggest returned a config holding %s, which a trial's config cannot hold "
      .. "(plain data only)", plugin.name(self.searcher), why), 0)
  end
  local config = merge(e.config, suggestion)
  if variants.has_unresolved_values(config) then
    -- A grid the suggestion left is not walked (Ray's searchers refuse
    -- one): the experiment would have run its first value only.
    local set, grid = Searcher.find_grid(suggestion), Searcher.find_grid(config)
    if set then
      -- (A grid the suggestion holds itself: a choice whose category is one.)
      error(string.format("searcher %s: its suggestion sets %s to a grid_search (a choice's category?): a searcher "
        .. "suggests one config per trial and walks no grid (use BasicVariantGenerator, the default search_alg, "
        .. "for grids)", plugin.name(self.searcher), set), 0)
    elseif grid then
      error(string.format("searcher %s: its suggestion leaves %s, a grid_search of tune.run's config, unset: a "
        .. "searcher suggests one config per trial and walks no grid (set %s in the suggestion, or use "
        .. "BasicVariantGenerator, the default search_alg, for grids)", plugin.name(self.searcher), grid, grid), 0)
    end
    -- Constants from tune.run's config may still hold distributions the
    -- searcher does not search over: resolve them as the generator would.
    config = Searcher.resolve_one(config, self._rng, "searcher " .. plugin.name(self.searcher))
  end
  self._counter = self._counter + 1
  local flat = util.flatten(suggestion)
  local resolved = {}
  for k, v in pairs(flat) do
    local path = {}
    for part in k:gmatch("[^/]+") do path[#path + 1] = part end
    resolved[#resolved + 1] = {path = path, value = v}
  end
  local tag = tostring(self._counter)
  local vars = variants.format_vars(resolved)
  if vars ~= "" then tag = tag .. "_" .. vars end
  return e:create_trial(config, flat, trial_id, tag)
end

--- On resume: a trial this generator made after the last snapshot. The
--- restored searcher suggests for it again (the suggestion is dropped: the
--- trial exists), which brings its state to where it was.
function SearchGenerator:replay_added(trial)
  hook(self, "suggest", "suggestion", trial.trial_id)
  self._counter = self._counter + 1
end

function SearchGenerator:on_trial_result(trial_id, result)
  hook(self, "on_trial_result", nil, trial_id, result)
end

function SearchGenerator:on_trial_complete(trial_id, result, error)
  hook(self, "on_trial_complete", nil, trial_id, result, error)
end

function SearchGenerator:save()
  return {counter = self._counter, finished = self._finished, rng = self._rng:get_state(),
    total = self._experiment and self._experiment.num_samples, searcher = hook(self, "save", nil)}
end

function SearchGenerator:restore(state)
  if type(state) ~= "table" then return end
  self._counter = state.counter or 0
  self._finished = state.finished or false
  -- The experiment's own count is kept, as by the default generator (and
  -- Ray's SearchGenerator, which saves it): a num_samples changed for the
  -- resume is said and not taken.
  local e = self._experiment
  if e and math.type(state.total) == "integer" and state.total ~= e.num_samples then
    io.stderr:write(string.format("tunelua warning: the experiment was made with num_samples = %d; the resume keeps "
      .. "it (this run asked for %d)\n", state.total, e.num_samples))
    e.num_samples = state.total
    self.total_samples = state.total
  end
  if type(state.rng) == "table" then self._rng:set_state(state.rng) end
  if state.searcher ~= nil then hook(self, "restore", nil, state.searcher) end
end

return SearchGenerator
