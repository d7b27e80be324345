-- Grid search crossed with random sampling: every grid point gets
-- num_samples random draws of the other parameters.
--   tunelua examples/grid_random.lua
local tune = require("tune")

local function train(config)
  -- A noisy bowl whose floor depends on the optimizer choice.
  local floor = ({sgd = 0.3, adam = 0.1})[config.optimizer]
  local loss = floor + (math.log(config.lr, 10) + 2) ^ 2 + 0.01 * config.batch_size / 64
  tune.report{loss = loss}
end

local analysis = tune.run(train, {
  name = "grid_random",
  config = {
    optimizer = tune.grid_search({"sgd", "adam"}),     -- 2 grid points ...
    lr = tune.loguniform(1e-4, 1),                     -- ... each with 5 random draws
    batch_size = tune.choice({32, 64, 128}),
    layers = tune.randint(1, 5),                       -- 1..4 (upper bound excluded)
    dropout = tune.quniform(0, 0.5, 0.1),
    derived = tune.sample_from(function(spec) return spec.config.layers * 2 end),
  },
  num_samples = 5,
  metric = "loss",
  mode = "min",
  seed = 42,
  verbose = 0,
})

print(string.format("%d trials; best: optimizer=%s lr=%.4g batch_size=%d layers=%d derived=%d",
  #analysis.trials, analysis.best_config.optimizer, analysis.best_config.lr, analysis.best_config.batch_size,
  analysis.best_config.layers, analysis.best_config.derived))
