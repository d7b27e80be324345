-- Population Based Training: four trials of a toy model whose best
-- learning rate falls as training goes on. Every 4 iterations the worst
-- trial copies the best one's state (its checkpoint) and a perturbed copy
-- of its lr, so the population follows the moving optimum.
--   tunelua examples/pbt.lua
local tune = require("tune")

local function train(config)
  -- The model's state comes back from a checkpoint after an exploit.
  local ckpt = tune.get_checkpoint()
  local accuracy = ckpt and ckpt.accuracy or 0.0
  local step = ckpt and ckpt.step or 0
  while true do
    step = step + 1
    -- Progress is best when lr is near the optimum, which decays over time.
    local best_lr = 0.1 / (1 + step / 4)
    local closeness = math.max(0, 1 - math.abs(math.log(config.lr / best_lr, 10)))
    accuracy = accuracy + 0.15 * closeness * (1 - accuracy)
    tune.report({mean_accuracy = accuracy}, {checkpoint = {accuracy = accuracy, step = step}})
  end
end

local pbt = tune.schedulers.PopulationBasedTraining{
  time_attr = "training_iteration",
  perturbation_interval = 4,
  hyperparam_mutations = {lr = tune.loguniform(1e-4, 1)},
  synch = true, -- every trial reaches each perturbation point before any exploit
  seed = 3,
}

local analysis = tune.run(train, {
  name = "pbt_example",
  metric = "mean_accuracy",
  mode = "max",
  scheduler = pbt,
  num_samples = 4,
  config = {lr = tune.loguniform(1e-4, 1)},
  stop = {training_iteration = 24},
  seed = 3,
  verbose = 1,
})

print(string.format("PBT: %d trials, %d perturbations, best mean_accuracy=%.3f with lr=%.4f",
  #analysis.trials, pbt._num_perturbations, analysis.best_result.mean_accuracy, analysis.best_config.lr))
