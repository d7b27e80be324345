-- ResourceChangingScheduler, DistributeResources and
-- DistributeResourcesToTopJob: ports of Ray 2.0's
-- test_trial_scheduler_resource_changing.py (TestUniformResourceAllocation,
-- ...AddBundles, TestTopJobResourceAllocation, ...AddBundles) through a mock
-- runner on a cluster of 8 CPUs and 8 GPUs, plus validation, delegation,
-- save/restore and resume idempotency.
local tune = require("tune")
local core = require("tune.core")
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local rc = require("tune.schedulers.resource_changing")

local PGF = tune.PlacementGroupFactory
local CONTINUE, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.PAUSE
local RCS, DistributeResources, DistributeResourcesToTopJob =
  rc.ResourceChangingScheduler, rc.DistributeResources, rc.DistributeResourcesToTopJob

-- Ray's MockTrialRunner / MockTrialExecutor.
local function mock_runner(cpu, gpu)
  local ex = {}
  function ex:resources() return {CPU = cpu, GPU = gpu}, {CPU = cpu, GPU = gpu} end
  function ex:has_resources_for_trial() return true end
  local r = {trial_executor = ex, trials = {}}
  function r:get_live_trials()
    local out = {}
    for _, t in ipairs(self.trials) do if t.status ~= "TERMINATED" then out[#out + 1] = t end end
    return out
  end
  function r:get_trials() return self.trials end
  function r:get_trial(id)
    for _, t in ipairs(self.trials) do if t.trial_id == id then return t end end
  end
  return r
end

local function rep(bundle, n)
  local out = {}
  for i = 1, n do out[i] = bundle end
  return out
end

local function concat(a, b)
  local out = {}
  for _, x in ipairs(a) do out[#out + 1] = x end
  for _, x in ipairs(b) do out[#out + 1] = x end
  return out
end

-- Factories compare by value; an empty head bundle reserves nothing and is
-- not compared (Ray's _head_bundle_is_empty).
local function same_pgf(expected, got)
  local a = PGF((rc._bundles_of(expected)), {strategy = expected.strategy})
  local b = PGF((rc._bundles_of(got)), {strategy = got.strategy})
  assert.equal(tostring(a), tostring(b))
end

local function suite(name, prepare_extra)
  local runner
  local function prepare(scheduler, base_pgf)
    runner = mock_runner(8, 8)
    local trials = {}
    for i = 1, 4 do
      trials[i] = tune.Trial("__fake", {config = {num = i}, placement_group_factory = base_pgf})
    end
    runner.trials = trials
    for i = 1, 4 do scheduler:on_trial_add(runner, trials[i]) end
    for i = 1, 4 do trials[i].status = "RUNNING" end
    if prepare_extra then prepare_extra(trials) end
    return trials[1], trials[2], trials[3], trials[4]
  end
  local function allocate(trial, scheduler, target, metric)
    local res = {metric = metric or 1, training_iteration = 4}
    trial.last_result = res
    local decision = scheduler:on_trial_result(runner, trial, res)
    assert.equal(PAUSE, decision)
    trial.status = "PENDING"
    scheduler:choose_trial_to_run(runner)
    same_pgf(target, trial.placement_group_factory)
    trial.status = "RUNNING"
  end
  local function result_decision(scheduler, trial, metric)
    return scheduler:on_trial_result(runner, trial, {metric = metric, training_iteration = 4})
  end
  return prepare, allocate, result_decision
end

describe("DistributeResources (TestUniformResourceAllocation)", function()
  local prepare, allocate, decide = suite("uniform")

  it("testAllocateFreeResources", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = false}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 0}}))
    allocate(t1, s, PGF({{CPU = 2}}))
    allocate(t2, s, PGF({{CPU = 2}}))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 3}}))
    t3.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 4}}))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 8}}))
  end)

  it("testAllocateFreeResourcesWithIncreaseBy", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = false,
      increase_by = {CPU = 2, GPU = 2}}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 2, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t1, 1))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 4, GPU = 4}}))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF({{CPU = 4, GPU = 4}}))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 8, GPU = 8}}))
  end)

  it("testAllocateFreeResourcesWithIncreaseByTimes", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = false,
      increase_by = {GPU = 2}, increase_by_times = 2}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t1, 1))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 1, GPU = 4}}))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF({{CPU = 1, GPU = 4}}))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 1, GPU = 6}}))
  end)

  it("testDeallocateResources", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = false, increase_by = {GPU = 2}}}
    local t1, _, _, t4 = prepare(s, PGF({{CPU = 1, GPU = 2}}))
    t1.placement_group_factory = PGF({{CPU = 1, GPU = 4}})
    t4.status = "PENDING"
    allocate(t1, s, PGF({{CPU = 1, GPU = 2}}))
  end)
end)

describe("DistributeResources (TestUniformResourceAllocationAddBundles)", function()
  local prepare, allocate, decide = suite("uniform-add")

  it("testAllocateFreeResources", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = true}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 0}}))
    allocate(t1, s, PGF(rep({CPU = 1}, 2)))
    allocate(t2, s, PGF(rep({CPU = 1}, 2)))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 1}, 3)))
    t3.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 1}, 4)))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 1}, 8)))
  end)

  it("testAllocateFreeResourcesWithIncreaseBy", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = true,
      increase_by = {CPU = 2, GPU = 2}}}
    local t1, t2, t3, t4 = prepare(s, PGF({{}, {CPU = 2, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t1, 1))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{}}, rep({CPU = 2, GPU = 2}, 2))))
    -- The empty head bundle stays the head.
    assert.same({}, t1.placement_group_factory.bundles[1])
    t3.status = "TERMINATED"
    allocate(t2, s, PGF(concat({{}}, rep({CPU = 2, GPU = 2}, 2))))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{}}, rep({CPU = 2, GPU = 2}, 4))))
  end)

  it("testAllocateFreeResourcesWithIncreaseByTimes", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = true,
      increase_by = {GPU = 2}, increase_by_times = 2}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1}, {GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t1, 1))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2))))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2))))
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 3))))
  end)

  it("testDeallocateResources", function()
    local s = RCS{resources_allocation_function = DistributeResources{add_bundles = true, increase_by = {GPU = 2}}}
    local t1, _, _, t4 = prepare(s, PGF({{CPU = 1}, {GPU = 2}}))
    t1.placement_group_factory = PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2)))
    t4.status = "PENDING"
    allocate(t1, s, PGF({{CPU = 1}, {GPU = 2}}))
  end)
end)

local function top_job_results(trials)
  local metrics = {1, 0.9, 0.8, 0.7}
  for i, t in ipairs(trials) do t.last_result = {metric = metrics[i], training_iteration = 3} end
end

describe("DistributeResourcesToTopJob (TestTopJobResourceAllocation)", function()
  local prepare, allocate, decide = suite("topjob", top_job_results)

  it("testAllocateFreeResources", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = false,
      metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 0}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    allocate(t1, s, PGF({{CPU = 5}}))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t4.status = "TERMINATED"
    allocate(t2, s, PGF({{CPU = 2}}), 1.1)
    t3.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 6}}), 1.2)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 8}}))
  end)

  it("testAllocateFreeResourcesWithIncreaseBy", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = false,
      increase_by = {CPU = 2, GPU = 2}, metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 2, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    assert.equal(CONTINUE, decide(s, t1, 1.0))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 4, GPU = 4}}))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF({{CPU = 4, GPU = 4}}), 1.1)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 8, GPU = 8}}), 1.2)
  end)

  it("testAllocateFreeResourcesWithIncreaseByTimes", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = false,
      increase_by = {GPU = 2}, increase_by_times = 2, metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    assert.equal(CONTINUE, decide(s, t1, 1.0))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 1, GPU = 4}}))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF({{CPU = 1, GPU = 4}}), 1.1)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF({{CPU = 1, GPU = 6}}), 1.2)
  end)

  it("testDeallocateResources", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = false,
      increase_by = {GPU = 2}, metric = "metric", mode = "max"}}
    local t1, _, _, t4 = prepare(s, PGF({{CPU = 1, GPU = 2}}))
    t1.placement_group_factory = PGF({{CPU = 1, GPU = 4}})
    t4.status = "PENDING"
    allocate(t1, s, PGF({{CPU = 1, GPU = 2}}))
  end)
end)

describe("DistributeResourcesToTopJob (TestTopJobResourceAllocationAddBundles)", function()
  local prepare, allocate, decide = suite("topjob-add", top_job_results)

  it("testAllocateFreeResources", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = true,
      metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1, GPU = 0}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    allocate(t1, s, PGF(rep({CPU = 1}, 5)))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t4.status = "TERMINATED"
    allocate(t2, s, PGF(rep({CPU = 1}, 2)), 1.1)
    t3.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 1}, 6)), 1.2)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 1}, 8)))
  end)

  it("testAllocateFreeResourcesWithIncreaseBy", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = true,
      increase_by = {CPU = 2, GPU = 2}, metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{}, {CPU = 2, GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    assert.equal(CONTINUE, decide(s, t1, 1.0))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{}}, rep({CPU = 2, GPU = 2}, 2))))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF(concat({{}}, rep({CPU = 2, GPU = 2}, 2))), 1.1)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(rep({CPU = 2, GPU = 2}, 4)), 1.2)
  end)

  it("testAllocateFreeResourcesWithIncreaseByTimes", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = true,
      increase_by = {GPU = 2}, increase_by_times = 2, metric = "metric", mode = "max"}}
    local t1, t2, t3, t4 = prepare(s, PGF({{CPU = 1}, {GPU = 2}}))
    assert.equal(CONTINUE, decide(s, t2, 0.9))
    assert.equal(CONTINUE, decide(s, t1, 1.0))
    t4.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2))))
    assert.equal(CONTINUE, decide(s, t2, 1.1))
    t3.status = "TERMINATED"
    allocate(t2, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2))), 1.1)
    t2.status = "TERMINATED"
    allocate(t1, s, PGF(concat({{CPU = 1}}, rep({GPU = 2}, 3))), 1.2)
  end)

  it("testDeallocateResources", function()
    local s = RCS{resources_allocation_function = DistributeResourcesToTopJob{add_bundles = true,
      increase_by = {GPU = 2}, metric = "metric", mode = "max"}}
    local t1, _, _, t4 = prepare(s, PGF({{CPU = 1}, {GPU = 2}}))
    t1.placement_group_factory = PGF(concat({{CPU = 1}}, rep({GPU = 2}, 2)))
    t4.status = "PENDING"
    allocate(t1, s, PGF({{CPU = 1}, {GPU = 2}}))
  end)
end)

describe("ResourceChangingScheduler", function()
  it("validates its options and refuses reuse_actors", function()
    assert.has_error(function() RCS{base_scheduler = 3} end)
    assert.has_error(function() RCS{resources_allocation_function = 3} end)
    assert.has_error(function() RCS{resources_allocation_funtion = 3} end,
      'ResourceChangingScheduler: unknown option "resources_allocation_funtion" '
        .. "(did you mean resources_allocation_function?)")
    local ok, err = pcall(function() DistributeResources{increase_by = {CPU = -1}} end)
    assert.is_false(ok)
    assert.matches("sched_resource_changing_spec.lua:%d+: DistributeResources", err)
    assert.has_error(function() DistributeResourcesToTopJob{mode = "best"} end)
    assert.has_error(function() DistributeResources{add_bundle = true} end)
    -- cpu and CPU both: which counted depended on the table's order.
    ok, err = pcall(function()
      local d = DistributeResources{increase_by = {cpu = 1, CPU = 2}}
      return d
    end)
    assert.is_false(ok)
    assert.matches('spec.lua:%d+: DistributeResources: increase_by gives CPU twice %(as "CPU" and "cpu"%)', err)
    ok, err = pcall(DistributeResourcesToTopJob, {reserve_resources = {gpu = 1, GPU = 0}})
    assert.matches('reserve_resources gives GPU twice', err)
    -- A class where an instance belongs ran its methods with the class as
    -- self: a traceback from save, or "unknown option" at every result.
    for _, c in ipairs({{base_scheduler = tune.schedulers.ASHAScheduler},
        {resources_allocation_function = DistributeResourcesToTopJob}}) do
      ok, err = pcall(function()
        local s = RCS(c)
        return s
      end)
      assert.is_false(ok)
      local name = c.resources_allocation_function and "resources_allocation_function" or "base_scheduler"
      assert.matches("sched_resource_changing_spec.lua:%d+: ResourceChangingScheduler: " .. name .. " is the class "
        .. "%u%a+, not an instance: call it %(%u%a+{...}%)", err)
    end
    assert.is_true(RCS._requires_restart)
    local s = RCS{}
    local runner = mock_runner(8, 0)
    runner.trial_executor.reuse_actors = true
    assert.has_error(function() s:choose_trial_to_run(runner) end,
      "ResourceChangingScheduler cannot be used with `reuse_actors=True`. FIX THIS by setting "
        .. "`reuse_actors=False` in `tune.run()`.")
    assert.equal("(ResourceChangingScheduler) Using FIFO scheduling algorithm.", s:debug_string())
    assert.equal(s.__index, tune.schedulers.create_scheduler("resource_changing").__index)
  end)

  it("refuses reuse_actors = true in tune.run before anything is made, in one line", function()
    -- (Refused at its first choice, after the experiment's files, with a
    -- traceback into the library: the script's path had a "/".)
    local support = require("spec.support")
    local dir = support.tmpdir("rcs-reuse")
    local script = dir .. "/exp.lua"
    assert(core.write_atomic(script, [[
local tune = require("tune")
tune.run(function() tune.report{loss = 1} end, {metric = "loss", mode = "min", reuse_actors = true, verbose = 0,
  scheduler = tune.schedulers.ResourceChangingScheduler{}, local_dir = arg[1]})
]]))
    local _, out, code = support.sh(string.format("env -u LD_PRELOAD %s %s %s/out",
      os.getenv("TUNELUA_BIN") or "build/tunelua", script, dir))
    assert.equal(2, code, out)
    -- (Lua shortens a long chunk name to "...tail", so only its tail is sure.)
    assert.matches("/exp.lua:2: ResourceChangingScheduler cannot be used with `reuse_actors=True`. FIX THIS by "
      .. "setting `reuse_actors=False` in `tune.run()`.", out, 1, true)
    assert.is_nil(out:find("stack traceback", 1, true), out)
    assert.is_nil(core.stat(dir .. "/out"))
  end)

  it("refuses trials with different base resources, but not the reallocated ones again", function()
    local s = RCS{}
    local runner = mock_runner(8, 0)
    local a = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 1}})})
    local b = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 2}})})
    runner.trials = {a, b}
    s:on_trial_add(runner, a)
    assert.has_error(function() s:on_trial_add(runner, b) end)
    -- a is reallocated; added again (resume) with its new resources.
    a.status = "PAUSED"
    s:set_trial_resources(a, PGF({{CPU = 3}}))
    assert.equal(3, a.resources.CPU)
    s:on_trial_add(runner, a)
    a.status = "RUNNING"
    assert.has_error(function() s:set_trial_resources(a, PGF({{CPU = 4}})) end)
  end)

  it("delegates to its base scheduler and changes nothing when the base does not CONTINUE", function()
    local base = TrialScheduler:extend(nil, "Base")()
    local calls = {}
    function base:on_trial_result(runner, trial, result)
      calls[#calls + 1] = "result"
      return result.decision
    end
    function base:on_trial_complete() calls[#calls + 1] = "complete" end
    function base:on_trial_remove() calls[#calls + 1] = "remove" end
    function base:on_trial_error() calls[#calls + 1] = "error" end
    function base:debug_string() return "base!" end
    local s = RCS{base_scheduler = base}
    assert.is_true(s:set_search_properties("metric", "max"))
    assert.equal("metric", s.metric)
    local runner = mock_runner(4, 0)
    local t = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 1}})})
    runner.trials = {t}
    s:on_trial_add(runner, t)
    t.status = "RUNNING"
    assert.equal("STOP", s:on_trial_result(runner, t, {decision = "STOP", training_iteration = 2}))
    assert.equal("NOOP", s:on_trial_result(runner, t, {decision = "NOOP", training_iteration = 2}))
    -- nil is CONTINUE: the only trial gets the whole node.
    assert.equal(PAUSE, s:on_trial_result(runner, t, {training_iteration = 2}))
    -- Not on the first iteration.
    assert.equal(CONTINUE, s:on_trial_result(runner, t, {training_iteration = 0}))
    -- Still RUNNING: choose_trial_to_run keeps the change for later.
    assert.equal(nil, s:choose_trial_to_run(runner))
    assert.equal(1, t.placement_group_factory:required_resources().CPU)
    t.status = "PAUSED"
    assert.equal(t, s:choose_trial_to_run(runner))
    assert.equal(4, t.placement_group_factory:required_resources().CPU)
    s:on_trial_complete(runner, t, {})
    s:on_trial_remove(runner, t)
    s:on_trial_error(runner, t)
    assert.same({"result", "result", "result", "result", "complete", "remove", "error"}, calls)
    assert.equal("(ResourceChangingScheduler) base!", s:debug_string())
    -- A custom allocation function; a table of resources is accepted.
    local s2
    s2 = RCS{resources_allocation_function = function(r, trial, result, sched)
      assert.equal(s2, sched)
      return {cpu = 2}
    end}
    local t2 = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 1}})})
    runner.trials = {t2}
    s2:on_trial_add(runner, t2)
    t2.status = "RUNNING"
    assert.equal(PAUSE, s2:on_trial_result(runner, t2, {training_iteration = 1}))
    t2.status = "PAUSED"
    s2:choose_trial_to_run(runner)
    assert.equal(2, t2.placement_group_factory:required_resources().CPU)
    t2.status = "RUNNING"
    -- The same resources again: no pause.
    assert.equal(CONTINUE, s2:on_trial_result(runner, t2, {training_iteration = 2}))
  end)

  it("keeps memory and custom resources of the bundle (Ray keeps only CPU and GPU)", function()
    local fn = DistributeResources{reserve_resources = {CPU = 2}}
    local s = RCS{resources_allocation_function = fn}
    local runner = mock_runner(8, 0)
    local t = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 1, custom = 2, memory = 100}})})
    runner.trials = {t}
    s:on_trial_add(runner, t)
    local pgf = fn(runner, t, {training_iteration = 1}, s)
    assert.equal("PlacementGroupFactory([{CPU=6, custom=2, memory=100}], PACK)", tostring(pgf))
    -- Not on the first iteration.
    assert.is_nil(fn(runner, t, {training_iteration = 0}, s))
  end)

  it("hands metric and mode to DistributeResourcesToTopJob", function()
    local fn = DistributeResourcesToTopJob{}
    local s = RCS{resources_allocation_function = fn}
    s:set_search_properties("acc", "max")
    local runner = mock_runner(4, 0)
    local t = tune.Trial("__fake", {placement_group_factory = PGF({{CPU = 1}})})
    runner.trials = {t}
    s:on_trial_add(runner, t)
    t.status = "RUNNING"
    t.last_result = {acc = 0 / 0}
    assert.equal(PAUSE, s:on_trial_result(runner, t, {acc = 0 / 0, training_iteration = 1}))
    assert.equal("acc", fn.metric)
    assert.equal("max", fn.mode)
  end)

  it("saves and restores its state and its base scheduler's", function()
    local base = tune.schedulers.PopulationBasedTraining{metric = "metric", mode = "max", seed = 1,
      hyperparam_mutations = {x = {1, 2}}, time_attr = "training_iteration", perturbation_interval = 5}
    local s = RCS{base_scheduler = base}
    assert.is_true(s.supports_buffered_results)
    local runner = mock_runner(8, 0)
    local trials = {}
    for i = 1, 2 do trials[i] = tune.Trial("__fake", {config = {x = 1}, placement_group_factory = PGF({{CPU = 1}})}) end
    runner.trials = trials
    for _, t in ipairs(trials) do
      s:on_trial_add(runner, t)
      t.status = "RUNNING"
    end
    assert.equal(PAUSE, s:on_trial_result(runner, trials[1], {metric = 1, training_iteration = 1}))
    trials[1].status = "PAUSED"
    s:choose_trial_to_run(runner)
    local got = trials[1].placement_group_factory:required_resources().CPU
    assert.is_true(got > 1)
    assert.equal(PAUSE, s:on_trial_result(runner, trials[2], {metric = 1, training_iteration = 1}))
    local state = core.json_decode(assert(core.json_encode(s:save())))
    local s2 = RCS{base_scheduler = tune.schedulers.PopulationBasedTraining{metric = "metric", mode = "max",
      hyperparam_mutations = {x = {1, 2}}, time_attr = "training_iteration", perturbation_interval = 5}}
    s2:restore(state)
    assert.equal(tostring(s.base_trial_resources), tostring(s2.base_trial_resources))
    -- Resume: every trial is added again, the reallocated one with its new
    -- resources.
    for _, t in ipairs(trials) do s2:on_trial_add(runner, t) end
    assert.same(base._order, s2._base_scheduler._order)
    -- The pending change of trial 2 survives: it applies when it is chosen.
    trials[2].status = "PAUSED"
    s2:choose_trial_to_run(runner)
    assert.is_true(trials[2].placement_group_factory:required_resources().CPU > 1)
    assert.has_error(function() s2:restore(42) end)
  end)
  it("fails a waiting trial given resources that no node has, and the run ends", function()
    local support = require("spec.support")
    local ok, e = pcall(tune.run, "x", {backend = "sim", local_dir = support.tmpdir("rcs-never"), verbose = 0,
      config = {x = tune.uniform(0, 1)}, num_samples = 12, seed = 1, metric = "loss", mode = "min",
      sim = {num_cpus = 4, curve = function(c, it) if it <= 27 then return {loss = c.x + 1 / it} end end},
      scheduler = RCS{resources_allocation_function = function() return {CPU = 100} end}})
    assert.is_false(ok)
    local failed = 0
    for _, t in ipairs(e.trials or {}) do
      assert.equal("ERROR", t.status)
      assert.matches("can never run: asked for {100 CPUs", t.error_msg)
      failed = failed + 1
    end
    assert.equal(12, failed)
  end)
  it("gives a paused trial its new resources on the simulator, whose clock stands while it waits", function()
    local support = require("spec.support")
    for _, base in ipairs({
      tune.schedulers.ASHAScheduler{max_t = 27},
      tune.schedulers.PopulationBasedTraining{time_attr = "training_iteration", perturbation_interval = 3, seed = 1,
        hyperparam_mutations = {x = tune.uniform(0, 1)}},
    }) do
      local steps = 0
      local guard = {on_step_end = function()
        steps = steps + 1
        if steps > 200000 then error("no progress after 200,000 steps") end
      end}
      local a = tune.run("x", {backend = "sim", local_dir = support.tmpdir("rcs-sim"), verbose = 0, seed = 1,
        config = {x = tune.uniform(0, 1)}, num_samples = 12, metric = "loss", mode = "min", callbacks = {guard},
        sim = {num_cpus = 4, curve = function(c, it) if it <= 27 then return {loss = c.x + 1 / it} end end},
        scheduler = RCS{base_scheduler = base}})
      for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
    end
  end)
end)
