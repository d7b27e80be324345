-- Checkpoints and resume. The trainable saves its state with each report
-- and picks it up again with tune.get_checkpoint(); a class trainable
-- would use save_checkpoint/load_checkpoint. Interrupt it (Ctrl-C) and run
--   tunelua --resume examples/checkpoint_resume.lua
-- to continue where it stopped.
local tune = require("tune")

local function train(config)
  local state = tune.get_checkpoint() or {step = 0, weight = 0}
  for step = state.step + 1, 10 do
    state = {step = step, weight = state.weight + config.lr}
    tune.report({weight = state.weight, step = step}, {checkpoint = state})
  end
end

local analysis = tune.run(train, {
  name = "checkpoint_resume",
  config = {lr = tune.grid_search({0.1, 0.2, 0.3})},
  metric = "weight",
  mode = "max",
  keep_checkpoints_num = 2,          -- the best two (and the newest) stay on disk ...
  checkpoint_score_attr = "weight",  -- ... ranked by this metric
  resume = "AUTO",                   -- resume when the experiment exists, else start
  verbose = 0,
})

local best = analysis.best_trial
print(string.format("best lr=%.1f weight=%.1f, best checkpoint %s", best.config.lr, best.last_result.weight,
  analysis:get_best_checkpoint(best, "weight", "max"):match("checkpoint_%d+$")))
