-- Ports of the seed's tune.run-level tests: testCheckpointAtEndNotBuffered,
-- testPlacementGroupRequests (with and without reuse),
-- testPlacementGroupDistributedTraining, test_default_resource_request and
-- test_overriding_default_resource_request. Timing-sensitive: RUN_SERIAL.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")

local function assert_cleanup(ex)
  local c = ex:pg_counts()
  assert.same({staging = 0, ready = 0, in_use = 0, cached = 0},
    {staging = c.staging, ready = c.ready, in_use = c.in_use, cached = c.cached})
end

describe("tune.run seed ports", function()
  local dir
  before_each(function() dir = support.tmpdir("runseed") end)
  after_each(support.check_clean)

  it("testCheckpointAtEndNotBuffered", function()
    local function num_checkpoints(trial)
      local n = 0
      for _, name in ipairs(core.listdir(trial.logdir) or {}) do
        if name:match("^checkpoint_") then n = n + 1 end
      end
      return n
    end
    local ex = support.executor{num_cpus = 2, result_buffer_length = 7, result_buffer_min_time_s = 0.5}
    local trial = tune.Trial("__fake", {checkpoint_at_end = true, stopping_criterion = {training_iteration = 4},
      local_dir = dir})
    local observer = {counter = 0, last = 0}
    function observer:on_trial_result() self.counter = self.counter + 1 end
    function observer:just_received_a_result()
      if self.last == self.counter then return false end
      self.last = self.counter
      return true
    end
    local runner = tune.TrialRunner{experiment_dir = dir, checkpoint_period = 0, trial_executor = ex,
      callbacks = {observer}}
    runner:add_trial(trial)
    for it = 1, 4 do
      repeat runner:step() until observer:just_received_a_result()
      assert.equal(it, trial.last_result.training_iteration)
      if it < 4 then assert.equal(0, num_checkpoints(trial)) end
    end
    while not runner:is_finished() do runner:step() end
    assert.equal(1, num_checkpoints(trial))
    assert.equal("TERMINATED", trial.status)
  end)

  local function placement_group_requests(reuse_actors)
    local scheduled = 10
    local max_num_parallel = 2
    local ex = support.executor{num_cpus = 8, num_gpus = 4, resources = {custom = 16},
      reuse_actors = reuse_actors, placement_group_recon_interval = 0}
    local pgf = tune.PlacementGroupFactory({{CPU = 4, GPU = 0, custom = 0}, {custom = 1}, {custom = 1}})
    local checks = 0
    local cb = tune.Callback:extend()
    function cb:on_step_end(iteration, trials)
      local num_finished = 0
      for _, t in ipairs(trials) do
        if t.status == "TERMINATED" or t.status == "ERROR" then num_finished = num_finished + 1 end
      end
      local c = ex:pg_counts()
      local tracked = c.staging + c.ready + c.in_use + c.cached
      assert.equal(scheduled, math.min(scheduled, #trials), "num trials iter " .. iteration)
      local slack = (reuse_actors and 1 or 0) * max_num_parallel
      assert.is_true(math.max(scheduled, #trials) - num_finished + slack >= tracked,
        "num tracked iter " .. iteration .. ": " .. tracked)
      assert.is_true(c.in_use <= max_num_parallel, "in use " .. c.in_use)
      checks = checks + 1
    end
    local start = core.time()
    local out = tune.run("pg_requests", {config = {start_time = start}, resources_per_trial = pgf,
      num_samples = 10, trial_executor = ex, callbacks = {cb()}, reuse_actors = reuse_actors,
      verbose = 0, local_dir = dir})
    assert.is_true(checks > 10)
    local ends = {}
    for _, t in ipairs(out.trials) do ends[#ends + 1] = t.last_result["end"] end
    table.sort(ends)
    assert.equal(10, #ends)
    -- Not all trials ran in parallel...
    assert.is_true(ends[#ends] - ends[1] > 3, "max diff " .. (ends[#ends] - ends[1]))
    -- ...and the groups were all given back.
    assert_cleanup(ex)
  end

  it("testPlacementGroupRequests", function() placement_group_requests(false) end)
  it("testPlacementGroupRequests with reuse_actors", function() placement_group_requests(true) end)

  it("testPlacementGroupDistributedTraining", function()
    local ex = support.executor{num_cpus = 8, num_gpus = 4, resources = {custom = 16}, reuse_actors = false}
    local pgf = tune.PlacementGroupFactory({{CPU = 1, GPU = 0, custom = 0}, {CPU = 1}, {CPU = 1}, {CPU = 1}})
    local bases = {}
    for b = 0, 90, 10 do bases[#bases + 1] = b end
    local start = core.time()
    local out = tune.run("distributed", {
      config = {start_time = start, base = tune.grid_search(bases),
        worker_script = core.getcwd() .. "/spec/fixtures/bundle_worker.lua"},
      resources_per_trial = pgf, num_samples = 1, trial_executor = ex, verbose = 0, local_dir = dir})
    local avgs, ends = {}, {}
    for _, t in ipairs(out.trials) do
      avgs[#avgs + 1] = t.last_result.avg
      ends[#ends + 1] = t.last_result["end"]
    end
    table.sort(avgs)
    table.sort(ends)
    local want = {}
    for v = 3, 93, 10 do want[#want + 1] = v end
    assert.same(want, avgs)
    assert.is_true(ends[#ends] - ends[1] > 3, "max diff " .. (ends[#ends] - ends[1]))
    assert_cleanup(ex)
  end)

  local function resource_request(trainable, config, max_parallel)
    local ex = support.executor{num_cpus = 6, reuse_actors = false}
    local in_use_max = 0
    local cb = tune.Callback:extend()
    function cb:on_step_end(iteration, trials)
      local num_finished = 0
      for _, t in ipairs(trials) do
        if t.status == "TERMINATED" or t.status == "ERROR" then num_finished = num_finished + 1 end
      end
      local c = ex:pg_counts()
      local tracked = c.staging + c.ready + c.in_use + c.cached
      -- All 3 trials (3 learning rates) are scheduled.
      assert.equal(3, math.min(3, #trials))
      -- Never more at a time than the resources allow.
      assert.is_true(c.in_use <= max_parallel, "in use " .. c.in_use)
      in_use_max = math.max(in_use_max, c.in_use)
      -- Placement groups decrease as trials finish.
      assert.is_true(math.max(3, #trials) - num_finished >= tracked)
    end
    config.lr = tune.grid_search({0.1, 0.01, 0.001})
    local out = tune.run(trainable, {config = config, stop = {training_iteration = 2}, trial_executor = ex,
      callbacks = {cb()}, verbose = 0, local_dir = dir})
    assert.equal(3, #out.trials)
    for _, t in ipairs(out.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(2, t.last_result.training_iteration)
    end
    assert.equal(max_parallel, in_use_max)
  end

  it("test_default_resource_request: 3 trials, one at a time on 6 CPUs (needed: 5)", function()
    resource_request("PG", {num_workers = 2, num_cpus_per_worker = 2, placement_strategy = "SPREAD"}, 1)
  end)

  it("test_overriding_default_resource_request: 3 trials, two at a time on 6 CPUs (needed: 3)", function()
    resource_request("my_trainable", {num_workers = 2}, 2)
  end)
end)
