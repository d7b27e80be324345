-- Tuning an external program: tune.command runs it per trial (no shell),
-- substituting {param} from the config; every JSON object line it prints
-- is a result.
--   tunelua examples/command.lua
local tune = require("tune")

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local program = tune.command{here .. "/programs/objective.sh", "--x", "{x}", "--y", "{y}", name = "objective"}

local analysis = tune.run(program, {
  name = "command",
  config = {x = tune.grid_search({0, 1, 2}), y = tune.grid_search({-2, 0})},
  metric = "loss",
  mode = "min",
  verbose = 0,
})

print(string.format("best: x=%d y=%d loss=%g after %d epochs", analysis.best_config.x, analysis.best_config.y,
  analysis.best_result.loss, analysis.best_result.epoch))
