-- The experiment both hosts run: `./host experiment.lua` (the C host) and
-- `lua5.4 experiment.lua` (a stock Lua interpreter with the installed
-- library on its search paths).
local tune = require("tune")

local analysis = tune.run(function(config)
  for step = 1, 5 do
    tune.report{score = config.x * step}
  end
end, {
  name = "embed", metric = "score", mode = "max", verbose = 0,
  config = {x = tune.grid_search({1, 2, 3})},
})
print(string.format("trials=%d best_x=%d", #analysis.trials, analysis.best_config.x))
