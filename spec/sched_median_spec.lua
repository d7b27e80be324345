-- MedianStoppingRule: ports of Ray's EarlyStoppingSuite and
-- testMedianStoppingNanInf (test_trial_scheduler.py), yielding with too few
-- samples, validation, and save/restore through JSON.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
local TrialScheduler = tune.schedulers.TrialScheduler
local Median = tune.schedulers.MedianStoppingRule

local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
local NAN, INF = 0 / 0, math.huge

local function result(t, rew)
  return {time_total_s = t, episode_reward_mean = rew, training_iteration = math.floor(t)}
end

local function trial() return tune.Trial("PPO") end

-- Ray's mock controller: get_live_trials() is empty.
local function mock_runner(trials)
  return {
    get_trials = function() return trials or {} end,
    get_live_trials = function() return trials or {} end,
  }
end

-- t1: mean 450, max 900, t_max 10; t2: mean 450, max 450, t_max 5.
local function basic_setup(rule)
  local t1, t2 = trial(), trial()
  local runner = mock_runner()
  for i = 0, 9 do assert.equal(CONTINUE, rule:on_trial_result(runner, t1, result(i, i * 100))) end
  for i = 0, 4 do assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result(i, 450))) end
  return t1, t2
end

local function rule_of(opts)
  opts.metric, opts.mode = opts.metric or "episode_reward_mean", opts.mode or "max"
  return Median(opts)
end

describe("MedianStoppingRule", function()
  it("has Ray's defaults", function()
    local r = Median()
    assert.equal("time_total_s", r._time_attr)
    assert.equal(60.0, r._grace_period)
    assert.equal(3, r._min_samples_required)
    assert.equal(0, r._min_time_slice)
    assert.is_true(r._hard_stop)
    assert.is_true(r.supports_buffered_results)
    assert.equal("Using MedianStoppingRule: num_stopped=0.", r:debug_string())
    assert.is_true(require("tune.class").is_instance(tune.create_scheduler("median_stopping_rule"), Median))
  end)

  it("validates its options", function()
    for _, c in ipairs({
      {{mode = "best"}, "`mode` must be 'min' or 'max'%."},
      {{grace_period = "1"}, 'grace_period must be a number, got string "1"'},
      {{hardstop = false}, "unknown option \"hardstop\" %(did you mean hard_stop%?%)"},
    }) do
      local ok, err = pcall(function()
        local r = Median(c[1])
        return r
      end)
      assert.is_false(ok)
      assert.matches(c[2], err)
      assert.matches("sched_median_spec.lua:%d+:", err)
    end
    local r = Median()
    local ok, err = pcall(r.on_trial_add, r, nil, trial())
    assert.is_false(ok)
    assert.matches("MedianStoppingRule has been instantiated without a valid `metric` %(nil%) or `mode` %(nil%)", err)
    -- A metric alone is enough after set_search_properties (mode nil: min, as Ray).
    r = Median{metric = "loss"}
    assert.is_true(r:set_search_properties(nil, nil))
    r:on_trial_add(nil, trial())
    assert.equal("min", r._compare_op)
    r = Median{mode = "max"}
    assert.is_false(r:set_search_properties(nil, "min"))
    assert.is_true(r:set_search_properties(nil, nil))
    assert.equal("_metric", r.metric)
  end)

  it("testMedianStoppingConstantPerf", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    rule:on_trial_complete(runner, t1, result(10, 1000))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result(5, 450)))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result(6, 0)))
    assert.equal(STOP, rule:on_trial_result(runner, t2, result(10, 450)))
  end)

  it("testMedianStoppingOnCompleteOnly", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result(100, 0)))
    rule:on_trial_complete(runner, t1, result(101, 1000))
    assert.equal(STOP, rule:on_trial_result(runner, t2, result(101, 0)))
  end)

  it("testMedianStoppingGracePeriod", function()
    local rule = rule_of{grace_period = 2.5, min_samples_required = 1}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    rule:on_trial_complete(runner, t1, result(10, 1000))
    rule:on_trial_complete(runner, t2, result(10, 1000))
    local t3 = trial()
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(1, 10)))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(2, 10)))
    assert.equal(STOP, rule:on_trial_result(runner, t3, result(3, 10)))
  end)

  it("testMedianStoppingMinSamples", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 2}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    rule:on_trial_complete(runner, t1, result(10, 1000))
    local t3 = trial()
    -- Insufficient samples to evaluate t3.
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(5, 10)))
    rule:on_trial_complete(runner, t2, result(5, 1000))
    -- Sufficient samples to evaluate t3.
    assert.equal(STOP, rule:on_trial_result(runner, t3, result(5, 10)))
  end)

  it("testMedianStoppingUsesMedian", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    rule:on_trial_complete(runner, t1, result(10, 1000))
    rule:on_trial_complete(runner, t2, result(10, 1000))
    local t3 = trial()
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(1, 260)))
    assert.equal(STOP, rule:on_trial_result(runner, t3, result(2, 260)))
    assert.equal("Using MedianStoppingRule: num_stopped=1.", rule:debug_string())
  end)

  it("testMedianStoppingSoftStop", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1, hard_stop = false}
    local t1, t2 = basic_setup(rule)
    local runner = mock_runner()
    rule:on_trial_complete(runner, t1, result(10, 1000))
    rule:on_trial_complete(runner, t2, result(10, 1000))
    local t3 = trial()
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(1, 260)))
    assert.equal(PAUSE, rule:on_trial_result(runner, t3, result(2, 260)))
    -- Resumed later, it runs FIFO and is never judged again.
    assert.equal(CONTINUE, rule:on_trial_result(runner, t3, result(3, -1e9)))
  end)

  local function test_metrics(result_func, metric, mode)
    local rule = Median{grace_period = 0, min_samples_required = 1, time_attr = "training_iteration",
      metric = metric, mode = mode}
    local t1, t2 = trial(), trial()
    local runner = mock_runner()
    for i = 0, 9 do assert.equal(CONTINUE, rule:on_trial_result(runner, t1, result_func(i, i * 100))) end
    for i = 0, 4 do assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result_func(i, 450))) end
    rule:on_trial_complete(runner, t1, result_func(10, 1000))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result_func(5, 450)))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t2, result_func(6, 0)))
  end

  it("testAlternateMetrics", function()
    test_metrics(function(t, rew) return {training_iteration = t, neg_mean_loss = rew} end, "neg_mean_loss", "max")
  end)

  it("testAlternateMetricsMin", function()
    test_metrics(function(t, rew) return {training_iteration = t, mean_loss = -rew} end, "mean_loss", "min")
  end)

  it("testMedianStoppingNanInf: NaN and infinite rewards raise nothing", function()
    local rule = Median{metric = "episode_reward_mean", mode = "max"}
    local ts = {trial(), trial(), trial()}
    for i, v in ipairs({NAN, INF, -INF}) do
      for k = 0, 9 do rule:on_trial_result(nil, ts[i], result(k, v)) end
    end
    for i, v in ipairs({NAN, INF, -INF}) do rule:on_trial_complete(nil, ts[i], result(10, v)) end
  end)

  it("stops a trial whose best is NaN, and every trial when a running mean is NaN (as Ray)", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1}
    local a, b, c = trial(), trial(), trial()
    rule:on_trial_result(nil, a, result(0, 10))
    rule:on_trial_complete(nil, a, result(5, 10))
    assert.equal(STOP, rule:on_trial_result(nil, b, result(1, NAN)))
    -- b's running mean (NaN) is in every median from now on: Ray's np.median.
    assert.equal(STOP, rule:on_trial_result(nil, c, result(1, 10)))
    local r2 = rule_of{grace_period = 0, min_samples_required = 1}
    r2:on_trial_result(nil, a, result(0, NAN))
    r2:on_trial_complete(nil, a, result(5, 10))
    assert.equal(STOP, r2:on_trial_result(nil, c, result(1, 1e9)))
  end)

  it("yields to waiting trials when samples are too few, once per min_time_slice", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 3, min_time_slice = 5}
    local waiting = trial() -- PENDING
    local runner = mock_runner({waiting})
    local t = trial()
    assert.equal(PAUSE, rule:on_trial_result(runner, t, result(1, 1)))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t, result(4, 1)))
    assert.equal(CONTINUE, rule:on_trial_result(runner, t, result(6, 1)))
    assert.equal(PAUSE, rule:on_trial_result(runner, t, result(6.5, 1)))
    -- Nobody waiting: continue.
    waiting.status = "RUNNING"
    assert.equal(CONTINUE, rule:on_trial_result(runner, t, result(20, 1)))
  end)

  it("ignores results without the time or the metric", function()
    local rule = rule_of{grace_period = 0, min_samples_required = 1}
    local t = trial()
    assert.equal(CONTINUE, rule:on_trial_result(nil, t, {time_total_s = 1}))
    assert.equal(CONTINUE, rule:on_trial_result(nil, t, {episode_reward_mean = 1}))
    rule:on_trial_complete(nil, t, {pid = 1})
    assert.is_nil(rule._results[t.trial_id])
  end)

  it("save/restore through JSON gives the same decisions", function()
    local function drive(rule, trials, from, to)
      local out = {}
      for step = from, to do
        for i, t in ipairs(trials) do
          local v = (i % 2 == 0) and NAN or (i * 10 + step)
          if i == 3 then v = INF end
          out[#out + 1] = rule:on_trial_result(nil, t, result(step, v))
        end
      end
      return out
    end
    local trials = {}
    for i = 1, 6 do trials[i] = tune.Trial("PPO", {trial_id = "m" .. i}) end
    local a = rule_of{grace_period = 2, min_samples_required = 2, hard_stop = false}
    drive(a, trials, 0, 3)
    local b = Median()
    b:restore(support.json_roundtrip(a:save()))
    assert.equal(core.json_encode(a:save()):len(), core.json_encode(b:save()):len())
    assert.same(drive(a, trials, 4, 9), drive(b, trials, 4, 9))
    assert.equal(a:debug_string(), b:debug_string())
  end)

  -- A trial the rule paused waits for those never started (Ray's
  -- FIFOScheduler.choose_trial_to_run: PENDING before PAUSED). Picked
  -- first again, the two paused trials ran to the end one iteration at a
  -- time and the rule never had the samples to stop the worst.
  it("lets waiting trials run before a paused one, so the worst trials are stopped (tune.run, 2 CPUs)", function()
    local dir = support.tmpdir("median-order")
    local a = tune.run(function() end, {backend = "sim", sim = {num_cpus = 2, curve = function(c, i)
      if i <= 9 then return {score = c.q * i} end end}, verbose = 0, local_dir = dir,
      config = {q = tune.grid_search({1, 2, 3, 4, 5, 6})},
      scheduler = Median{time_attr = "training_iteration", metric = "score", mode = "max", grace_period = 2,
        min_samples_required = 2}})
    local last = {}
    for _, t in ipairs(a.trials) do last[t.config.q] = t.last_result.training_iteration end
    assert.is_true(last[1] < 9 and last[2] < 9, core.json_encode(last))
    assert.same({9, 9, 9}, {last[4], last[5], last[6]})
  end)

  -- Ray needs a metric only: without a mode the rule compares as "min".
  -- tune.run refused it as ASHA without a mode ("... `mode` (nil) ...").
  it("runs under tune.run with a metric and no mode, comparing as min", function()
    local curve = function(c, i) if i <= 6 then return {loss = c.q} end end
    for _, o in ipairs({{rule = {metric = "loss"}}, {rule = {}, metric = "loss"}}) do
      o.rule.time_attr, o.rule.grace_period, o.rule.min_samples_required = "training_iteration", 2, 1
      local a = tune.run(function() end, {backend = "sim", sim = {num_cpus = 3, curve = curve}, verbose = 0,
        local_dir = support.tmpdir("median-nomode"), config = {q = tune.grid_search({1, 2, 3})},
        metric = o.metric, scheduler = Median(o.rule)})
      local last = {}
      for _, t in ipairs(a.trials) do last[t.config.q] = t.last_result.training_iteration end
      assert.same({6, 2, 2}, last)
    end
  end)

  it("chooses a PENDING trial before an earlier PAUSED one, as Ray's FIFOScheduler", function()
    local paused, pending = trial(), trial()
    paused.status, pending.status = "PAUSED", "PENDING"
    local runner = {get_live_trials = function() return {paused, pending} end,
      trial_executor = {has_resources_for_trial = function() return true end}}
    assert.equal(pending, TrialScheduler.choose_trial_to_run(Median{}, runner))
    pending.status = "RUNNING"
    assert.equal(paused, TrialScheduler.choose_trial_to_run(Median{}, runner))
  end)
end)
