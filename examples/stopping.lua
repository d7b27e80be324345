-- Stopping: stopper classes combined, a function among them. (A table of
-- thresholds, stop = {training_iteration = 30}, works too.)
--   tunelua examples/stopping.lua
local tune = require("tune")

local function train(config)
  local acc = 0
  for step = 1, 100 do
    acc = acc + (1 - acc) * config.rate
    tune.report{mean_accuracy = acc, step = step}
  end
end

-- Each trial stops at 0.95 accuracy or after 30 iterations, whichever
-- comes first; a plateau of the accuracy stops it as well.
local analysis = tune.run(train, {
  name = "stopping",
  config = {rate = tune.grid_search({0.02, 0.1, 0.3})},
  stop = tune.stopper.CombinedStopper(
    tune.stopper.MaximumIterationStopper(30),
    tune.stopper.TrialPlateauStopper{metric = "mean_accuracy", std = 0.001, num_results = 4, grace_period = 5},
    tune.stopper.FunctionStopper(function(trial_id, result) return result.mean_accuracy >= 0.95 end)
  ),
  verbose = 0,
})

for _, t in ipairs(analysis.trials) do
  print(string.format("rate %.2f stopped after %d iterations at accuracy %.3f",
    t.config.rate, t.last_result.training_iteration, t.last_result.mean_accuracy))
end
