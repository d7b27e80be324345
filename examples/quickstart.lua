-- Quickstart: tune two hyperparameters of a toy objective.
--   tunelua examples/quickstart.lua
local tune = require("tune")

-- A trainable is a function of its config that reports metrics.
local function objective(config)
  for step = 1, 20 do
    -- A stand-in for a training step: the loss falls faster with a good lr.
    local loss = (config.lr - 0.01) ^ 2 * 1e4 + 10 / (step * config.width) + (config.momentum - 0.9) ^ 2
    tune.report{loss = loss, step = step}
  end
end

local analysis = tune.run(objective, {
  name = "quickstart",
  metric = "loss",
  mode = "min",
  num_samples = 8,
  config = {
    lr = tune.loguniform(1e-4, 1e-1),
    momentum = tune.uniform(0.5, 0.99),
    width = tune.grid_search({32, 64}),
  },
  seed = 7,
  verbose = 2,
})

local best = analysis.best_config
print(string.format("Best config: lr=%.5f momentum=%.3f width=%d (loss %.5f)",
  best.lr, best.momentum, best.width, analysis.best_result.loss))
