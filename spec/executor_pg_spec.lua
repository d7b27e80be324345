-- Port of Ray's testHasResourcesForTrialWithCaching, on Ray's node of
-- 8 CPUs, 4 GPUs and 16 of a custom resource. Ray reads the placement-group
-- manager's private maps; the port uses the executor's introspection API.
local tune = require("tune")
local support = require("spec.support")
require("spec.fixtures.trainables")

describe("placement groups", function()
  local dir
  before_each(function() dir = support.tmpdir("pg") end)
  after_each(support.check_clean)

  it("testHasResourcesForTrialWithCaching", function()
    -- Ray's node of 8 CPUs, 4 GPUs and 16 "custom"; on Slurm one node of 4
    -- CPUs, 2 GPUs and the cluster's 4 licenses (spec/CMakeLists.txt).
    local head_cpus = support.scaled(8, 4)
    local ex = support.executor{reuse_actors = true, num_cpus = 8, num_gpus = 4, resources = {custom = 16}}
    local pgf1 = tune.PlacementGroupFactory({{CPU = head_cpus}})
    local pgf2 = tune.PlacementGroupFactory({{CPU = head_cpus - 1}})
    ex:set_max_pending_trials(1)

    local trial1 = tune.Trial("resettable", {placement_group_factory = pgf1, local_dir = dir})
    local trial2 = tune.Trial("resettable", {placement_group_factory = pgf1, local_dir = dir})
    local trial3 = tune.Trial("resettable", {placement_group_factory = pgf2, local_dir = dir})
    local all = {trial1, trial2, trial3}

    assert.is_true(ex:has_resources_for_trial(trial1))
    assert.is_true(ex:has_resources_for_trial(trial2))
    assert.is_true(ex:has_resources_for_trial(trial3))

    ex:stage_and_update_status(all)
    -- Local reservation is immediate: the first group is ready at once.
    assert.is_true(ex:has_ready(trial1))

    -- Fill staging.
    ex:stage_and_update_status(all)
    local c = ex:pg_counts()
    assert.equal(1, c.ready)
    assert.equal(1, c.staging)

    assert.is_true(ex:has_resources_for_trial(trial1))
    assert.is_true(ex:has_resources_for_trial(trial2))
    assert.is_false(ex:has_resources_for_trial(trial3))

    assert.is_true(ex:start_trial(trial1))
    ex:stage_and_update_status(all)
    ex:pause_trial(trial1) -- caches the group and drops one from staging

    assert.equal(0, ex:pg_counts().staging)
    assert.equal(1, ex:pg_counts().cached)

    -- This will stage a placement group again.
    ex:reconcile_placement_groups({trial1, trial2})
    assert.equal(1, ex:pg_counts().staging)
    assert.is_false(ex:can_stage())

    -- Resources remain for trial1 and trial2: a cached group serves them.
    assert.is_true(ex:has_resources_for_trial(trial1))
    assert.is_true(ex:has_resources_for_trial(trial2))
    assert.is_false(ex:has_resources_for_trial(trial3))

    -- The cached worker is handed to trial1 again, restored from its pause.
    local ev = ex:get_next_executor_event(all, true)
    assert.equal("PG_READY", ev.type)
    local spawned = ex:pg_counts().spawned
    assert.is_true(ex:start_trial(trial1))
    assert.equal(spawned, ex:pg_counts().spawned)
    ex:stop_trial(trial1)
    ex:cleanup(all)
    local after = ex:pg_counts()
    assert.same({0, 0, 0, 0, 0}, {after.staging, after.ready, after.in_use, after.cached, after.stopping})
  end)

  it("takes Ray's positional strategy and refuses options it does not know", function()
    -- The string was indexed as an options table: every group was PACK.
    assert.equal("SPREAD", tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}}, "SPREAD").strategy)
    assert.equal("PACK", tune.PlacementGroupFactory({{CPU = 1}}).strategy)
    for _, c in ipairs({{{strategy = "SPREAD", bundle_label = 1}, 'unknown option "bundle_label"'},
        {{stratgy = "SPREAD"}, 'unknown option "stratgy" (did you mean strategy?)'},
        {5, "the options must be a table, got number"}, {"FOO", 'unknown strategy "FOO"'}}) do
      local ok, err = pcall(tune.PlacementGroupFactory, {{CPU = 1}}, c[1])
      assert.is_false(ok)
      assert.matches("PlacementGroupFactory: " .. c[2], tostring(err), 1, true)
    end
  end)

  it("refuses bundles that are not a list: one after a hole or under a name was dropped", function()
    for _, c in ipairs({{{{CPU = 1}, nil, {CPU = 1}}, "(1 to 2 without holes), got the key 3"},
        {{{CPU = 1}, head = {CPU = 1}}, '(1 to 2 without holes), got the key "head"'}}) do
      local ok, err = pcall(tune.PlacementGroupFactory, c[1])
      assert.is_false(ok)
      assert.matches("PlacementGroupFactory: the bundles must be a list " .. c[2], tostring(err), 1, true)
    end
    assert.equal(2, #tune.PlacementGroupFactory({{CPU = 1}, {CPU = 2}}).bundles)
  end)

  it("a trial that can never fit fails at once, naming what it asked and what exists", function()
    local ex = support.executor{num_cpus = 2, num_gpus = 0}
    local cpus = support.scaled(4, 8)
    local trial = tune.Trial("__fake", {resources = {cpu = cpus, gpu = 1}, local_dir = dir})
    assert.is_false(ex:start_trial(trial))
    assert.equal(tune.Trial.ERROR, trial.status)
    assert.matches("asked for {" .. cpus .. " CPUs, 1 GPU}", trial.error_msg, 1, true)
    assert.matches(support.scaled("node has 2 CPUs, 0 GPUs", "node has 4 CPUs, 2 GPUs"), trial.error_msg, 1, true)
  end)

  it("a trial that can never fit for want of a little memory names the amounts in a unit that shows them", function()
    if support.backend() ~= "local" then return end -- (Slurm's nodes are the allocation's)
    -- Both were "0.00 GiB memory".
    for _, c in ipairs({{100, 200, "200 bytes memory} (PACK) but the node has 2 CPUs, 0 GPUs, 100 bytes memory"},
        {2 * 2 ^ 20, 3 * 2 ^ 20, "3.00 MiB memory} (PACK) but the node has 2 CPUs, 0 GPUs, 2.00 MiB memory"},
        {2 ^ 30, 2 ^ 31, "2.00 GiB memory} (PACK) but the node has 2 CPUs, 0 GPUs, 1.00 GiB memory"}}) do
      local ex = support.executor{num_cpus = 2, num_gpus = 0, memory = c[1]}
      local trial = tune.Trial("__fake", {resources = {cpu = 1, memory = c[2]}, local_dir = dir})
      assert.is_false(ex:start_trial(trial))
      assert.matches("asked for {1 CPU, 0 GPUs, " .. c[3], trial.error_msg, 1, true)
    end
  end)

  it("packs fractional GPU bundles that fit, whatever their order", function()
    if support.backend() ~= "local" then return end -- (Slurm's nodes are the allocation's)
    local ex = support.executor{num_cpus = 2, num_gpus = 2}
    -- 0.5 + 0.5 on one GPU, 0.3 + 0.7 on the other: in index order, best
    -- fit put 0.3 beside the first 0.5 and the trial could never run.
    local trial = tune.Trial("resettable", {local_dir = dir, resources = tune.PlacementGroupFactory(
      {{CPU = 0.1, GPU = 0.5}, {GPU = 0.3}, {GPU = 0.7}, {GPU = 0.5}})})
    ex:stage_and_update_status({trial})
    assert.is_true(ex:has_ready(trial))
    assert.is_true(ex:start_trial(trial), trial.error_msg)
    ex:stop_trial(trial)
    ex:cleanup({trial})
  end)

  it("says why a STRICT_SPREAD group of several bundles never fits one node that has enough", function()
    if support.backend() ~= "local" then return end -- (Slurm's nodes are the allocation's)
    local ex = support.executor{num_cpus = 4, num_gpus = 0}
    local trial = tune.Trial("__fake", {local_dir = dir,
      resources = tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}}, {strategy = "STRICT_SPREAD"})})
    assert.is_false(ex:start_trial(trial))
    assert.equal(tune.Trial.ERROR, trial.status)
    -- It named only the node's 4 CPUs, which looked like enough.
    assert.matches("STRICT_SPREAD puts each of its 2 bundles on a node of its own, and there is 1",
      trial.error_msg, 1, true)
  end)

  it("stages at most TUNE_MAX_PENDING_TRIALS_PG groups", function()
    local ex = support.executor{num_cpus = 1, max_pending_trials_pg = 3}
    local trials = {}
    for i = 1, 10 do trials[i] = tune.Trial("__fake", {local_dir = dir, resources = {cpu = support.scaled(1, 4)}}) end
    ex:stage_and_update_status(trials)
    local c = ex:pg_counts()
    -- One group fits the node and is ready; staging refills to its limit.
    assert.equal(1, c.ready)
    ex:stage_and_update_status(trials)
    assert.equal(3, ex:pg_counts().staging)
    assert.is_false(ex:can_stage())
  end)

  -- Trials of mixed sizes on a node of 2 CPUs, each in a child under
  -- `timeout 60` (a deadlock fails the test instead of hanging it): every
  -- trial must end TERMINATED.
  local function mixed(extra, opts, env)
    local src = [[
local tune = require("tune")
local M = tune.Trainable:extend()
function M:step() return {done = true} end
]] .. extra .. [[
function M.default_resource_request(cls, config) return {cpu = config.c} end
local a = tune.run(M, ]] .. opts .. [[)
for _, t in ipairs(a.trials) do print("status " .. t.status) end
]]
    local script = dir .. "/mixed.lua"
    assert(require("tune.core").write_atomic(script, src))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    local ok, out, code = support.sh(string.format("env -u LD_PRELOAD %s timeout 60 %s %s", env or "", bin, script))
    assert(ok, string.format("exited with %s (124: it hung):\n%s", tostring(code), out))
    local n = 0
    for st in out:gmatch("status (%u+)") do
      assert.equal("TERMINATED", st)
      n = n + 1
    end
    return n
  end

  it("starts a trial whose group is ready when an earlier, larger one cannot start", function()
    if support.backend() ~= "local" then return end
    -- Trial 3's group (1 CPU), staged ahead, kept trial 2 (2 CPUs) from
    -- ever getting its group, and trial 3 waited behind trial 2: a hang.
    local opts = [[{config = {c = tune.grid_search({1, 2, 1})}, num_cpus = 2, verbose = 0, local_dir = "]] .. dir .. [["}]]
    assert.equal(3, mixed("", opts))
    assert.equal(3, mixed("", opts, "TUNE_MAX_PENDING_TRIALS_PG=1"))
  end)

  it("stops a cached worker no waiting trial can use (reuse_actors)", function()
    if support.backend() ~= "local" then return end
    -- Trial 1's cached worker kept its CPU; trial 2 (2 CPUs) waited forever.
    local reset = "function M:reset_config(c) return true end\n"
    local opts = [[{config = {c = tune.grid_search({1, 2})}, reuse_actors = true, num_cpus = 2, verbose = 0, local_dir = "]]
      .. dir .. [["}]]
    assert.equal(2, mixed(reset, opts))
    assert.equal(2, mixed(reset, opts, "TUNE_MAX_PENDING_TRIALS_PG=1"))
    local opts3 = [[{config = {c = tune.grid_search({1, 2, 1, 2})}, reuse_actors = true, num_cpus = 2, verbose = 0, local_dir = "]]
      .. dir .. [["}]]
    assert.equal(4, mixed(reset, opts3))
  end)
end)
