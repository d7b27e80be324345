--- RandomSearch: a Searcher that samples every Domain of its space
--- independently for each suggestion, from its own seeded generator (the
--- model-free baseline; made to sit under ConcurrencyLimiter or Repeater,
--- which need a Searcher, not a search algorithm). See
--- docs/reference/searchers/random.md.
---
--- RandomSearch{space =, metric =, mode =, seed =, points_to_evaluate =}
local Searcher = require("tune.search.searcher")
local sample = require("tune.search.sample")
local util = require("tune.util")

local RandomSearch = Searcher:extend(nil, "RandomSearch")

local OPTIONS = {space = true, metric = true, mode = true, seed = true, points_to_evaluate = true}

local plain_copy = sample._plain_copy


local function check_space(space)
  if type(space) ~= "table" or sample.is_domain(space) then
    return "the search space must be a table of parameters (got " .. type(space) .. ")"
  end
  local g = Searcher.find_grid(space)
  if g then
    return g .. ": grid_search is not supported by a searcher (use BasicVariantGenerator, the default "
      .. "search_alg, for grids)"
  end
  return nil
end

function RandomSearch:__init(opts)
  opts = util.check_options("RandomSearch", opts, OPTIONS, 3)
  Searcher.__init(self, opts)
  if Searcher.given_space(opts.space) then
    local msg = check_space(opts.space)
    if msg then error("RandomSearch: space: " .. msg, 3) end
    self._space = opts.space
  end
  self._rng = sample.Random(opts.seed)
  self._points = {}
  -- (Searcher.__init checked them: a list of config tables.)
  for i, pt in ipairs(opts.points_to_evaluate or {}) do
    self._points[i] = plain_copy(pt)
  end
  self._suggested = 0
end

function RandomSearch:set_search_properties(metric, mode, config)
  if self._space then
    if self.metric == nil then self.metric = metric end
    if self.mode == nil then self.mode = mode end
    return false
  end
  local msg = check_space(config or {})
  if msg then error("RandomSearch: config: " .. msg, 0) end
  self._space = config or {}
  if metric then self.metric = metric end
  if mode then self.mode = mode end
  return true
end

--- A copy of `base` with `point`'s values put in, as BasicVariantGenerator
--- applies a point: dicts merged key by key, anything else (a list
--- included) replaced whole (tune.search.points).
local apply_point = require("tune.search.points").merge

function RandomSearch:suggest(trial_id)
  if not self._space then
    error("Trying to sample a configuration from RandomSearch, but no search space has been defined. "
      .. "Either pass the `space` argument when instantiating the search algorithm, or pass a `config` "
      .. "to `tune.run()`.", 2)
  end
  local config = self._space
  local point = table.remove(self._points, 1)
  if point then config = apply_point(config, point) end
  self._suggested = self._suggested + 1
  return Searcher.resolve_one(config, self._rng, "RandomSearch")
end

function RandomSearch:set_max_concurrency(max_concurrent) return false end

--- Random search learns nothing from results: they are accepted and
--- ignored, so it can stand in for any Searcher.
function RandomSearch:add_evaluated_point(parameters, value, error_, pruned, intermediate_values) end

function RandomSearch:save()
  return {format = "tunelua.random_search", rng = self._rng:get_state(), points = plain_copy(self._points),
    suggested = self._suggested, metric = self.metric, mode = self.mode}
end

function RandomSearch:restore(state)
  if type(state) ~= "table" then return end
  if state.rng then self._rng:set_state(state.rng) end
  self._points = {}
  for i, pt in ipairs(state.points or {}) do self._points[i] = pt end
  self._suggested = state.suggested or 0
  if self.metric == nil then self.metric = state.metric end
  if self.mode == nil then self.mode = state.mode end
end

-- save(path) and restore(path), Ray's checkpoint files.
return Searcher.file_state(RandomSearch)
