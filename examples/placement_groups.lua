-- Placement groups: each trial reserves a head bundle for itself and one
-- bundle per data-parallel worker, and launches a process in each.
--   tunelua examples/placement_groups.lua
local tune = require("tune")

-- The per-worker program: a Lua file run by tunelua in each bundle.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local worker = require("tune.util").abspath(here .. "/programs/rank_worker.lua")

local function train(config)
  local procs = {}
  for i = 2, #tune.bundles() do
    procs[#procs + 1] = tune.launch(i, tune.lua_argv(config.worker, i - 1, config.lr))
  end
  local sum = 0
  for _, out in ipairs(tune.wait_all(procs)) do sum = sum + out.result.grad end
  tune.report{mean_grad = sum / #procs, workers = #procs}
end

local analysis = tune.run(train, {
  name = "placement_groups",
  config = {lr = tune.grid_search({0.1, 0.01}), worker = worker},
  -- A head bundle for the trial and two worker bundles of one CPU each.
  resources_per_trial = tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}, {CPU = 1}}, {strategy = "PACK"}),
  num_cpus = 3,   -- this node: one trial at a time
  verbose = 0,
})

for _, t in ipairs(analysis.trials) do
  print(string.format("lr=%.2f: %d workers, mean gradient %.4f", t.config.lr, t.last_result.workers,
    t.last_result.mean_grad))
end
