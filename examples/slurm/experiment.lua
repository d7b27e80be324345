-- An experiment for a Slurm cluster (docs/guide/slurm.md): run it with
-- examples/slurm/run.sbatch, or inside `salloc` with
--   tunelua --backend slurm examples/slurm/experiment.lua
-- Each trial reports which node it ran on; checkpoints let a trial go on
-- after a failed node, a preemption or the end of an allocation.
local tune = require("tune")

local steps = tonumber(os.getenv("EXAMPLE_STEPS") or "") or 10
local pause = tonumber(os.getenv("EXAMPLE_STEP_S") or "") or 0.1

local function train(config)
  local start = 0
  local c = tune.get_checkpoint()
  if c then start = c.step end
  for step = start + 1, steps do
    tune.sleep(pause)
    local loss = (config.lr - 0.01) ^ 2 + 1 / step
    tune.report({loss = loss, node = os.getenv("SLURMD_NODENAME") or "?"}, {checkpoint = {step = step}})
  end
end

local analysis = tune.run(train, {
  name = "slurm_example",
  metric = "loss", mode = "min",
  config = {lr = tune.grid_search({0.001, 0.003, 0.01, 0.03, 0.1, 0.3})},
  resources_per_trial = {cpu = 1},
  max_failures = 3,              -- a trial on a node that fails starts again elsewhere
  raise_on_failed_trial = false,
  verbose = 1,
})
print("best lr:", analysis.best_config.lr)
