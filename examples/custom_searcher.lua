-- A searcher of your own in a few dozen lines: a local random walk around
-- the best config so far (docs/guide/custom-searchers.md walks through it).
--   tunelua examples/custom_searcher.lua
local tune = require("tune")
local Random = require("tune.search.sample").Random

local Searcher = tune.search.Searcher
local LocalWalk = Searcher:extend(nil, "LocalWalk")

--- LocalWalk{step = 0.1, seed = nil}: step is a fraction of each range.
function LocalWalk:__init(opts)
  Searcher.__init(self, opts)
  self.step = opts.step or 0.1
  self.rng = Random(opts.seed)
  self.live = {} -- trial_id -> the config it was given
end

-- tune.run hands over its metric, mode and config: the search space.
function LocalWalk:set_search_properties(metric, mode, config)
  self.metric, self.mode = metric or self.metric, mode or self.mode
  self.space, self.names = config, {}
  for name, domain in pairs(config) do
    if type(domain) == "table" and domain.kind == "float" then self.names[#self.names + 1] = name end
  end
  table.sort(self.names) -- a fixed order: the seed gives the same walk
  return true
end

function LocalWalk:suggest(trial_id)
  local config = {}
  for _, name in ipairs(self.names) do
    local d = self.space[name]
    local x
    if self.best == nil then
      x = self.rng:uniform(d.lower, d.upper)
    else
      x = self.best[name] + self.rng:normal(0, self.step * (d.upper - d.lower))
      x = math.min(math.max(x, d.lower), d.upper)
    end
    config[name] = x
  end
  self.live[trial_id] = config
  return config
end

function LocalWalk:on_trial_complete(trial_id, result, error)
  local config = self.live[trial_id]
  self.live[trial_id] = nil
  local value = result and result[self.metric]
  if error or not config or type(value) ~= "number" or value ~= value then return end
  if self.mode == "max" then value = -value end
  if self.best_value == nil or value < self.best_value then
    self.best, self.best_value = config, value
  end
end

-- For resume: everything it knows, as JSON data.
function LocalWalk:save()
  return {best = self.best, best_value = self.best_value, rng = self.rng:get_state()}
end

function LocalWalk:restore(state)
  self.best, self.best_value = state.best, state.best_value
  self.rng:set_state(state.rng)
end

-- The experiment: a bowl with its bottom at x = 1, y = -2.
local function objective(config)
  tune.report{loss = (config.x - 1) ^ 2 + (config.y + 2) ^ 2}
end

local analysis = tune.run(objective, {
  name = "custom_searcher",
  metric = "loss",
  mode = "min",
  num_samples = 30,
  config = {x = tune.uniform(-5, 5), y = tune.uniform(-5, 5)},
  search_alg = LocalWalk{step = 0.05, seed = 1},
  max_concurrent_trials = 1, -- one at a time: each step starts from the best so far
  verbose = 0,
})

local best = analysis.best_config
print(string.format("LocalWalk: best loss %.4f at x=%.2f y=%.2f after %d trials",
  analysis.best_result.loss, best.x, best.y, #analysis.trials))
