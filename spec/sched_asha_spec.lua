-- AsyncHyperBandScheduler (ASHA): ports of Ray's AsyncHyperBandSuite
-- (test_trial_scheduler.py), the _Bracket docstring example, validation,
-- debug strings, and save/restore through JSON.
local tune = require("tune")
local support = require("spec.support")
local TrialScheduler = tune.schedulers.TrialScheduler
local ASHA = tune.schedulers.AsyncHyperBandScheduler

local CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP
local NAN, INF = 0 / 0, math.huge

-- Ray's result(t, rew).
local function result(t, rew)
  return {time_total_s = t, episode_reward_mean = rew, training_iteration = math.tointeger(t) or math.floor(t)}
end

local function trial(id)
  return tune.Trial("PPO", id and {trial_id = id} or nil)
end

-- t1: mean 450, max 900, t_max 10; t2: mean 450, max 450, t_max 5.
local function basic_setup(s)
  local t1, t2 = trial(), trial()
  s:on_trial_add(nil, t1)
  s:on_trial_add(nil, t2)
  for i = 0, 9 do assert.equal(CONTINUE, s:on_trial_result(nil, t1, result(i, i * 100))) end
  for i = 0, 4 do assert.equal(CONTINUE, s:on_trial_result(nil, t2, result(i, 450))) end
  return t1, t2
end

local function nan_setup(s)
  local t1, t2 = trial(), trial()
  s:on_trial_add(nil, t1)
  s:on_trial_add(nil, t2)
  for i = 0, 9 do assert.equal(CONTINUE, s:on_trial_result(nil, t1, result(i, 450))) end
  for i = 0, 9 do assert.equal(CONTINUE, s:on_trial_result(nil, t2, result(i, NAN))) end
  return t1, t2
end

describe("AsyncHyperBandScheduler", function()
  it("is ASHAScheduler, by both names and both create_scheduler keys", function()
    assert.equal(ASHA, tune.schedulers.ASHAScheduler)
    local mod = require("tune.schedulers.async_hyperband")
    assert.equal(ASHA, mod.AsyncHyperBandScheduler)
    assert.equal(ASHA, mod.ASHAScheduler)
    assert.is_true(require("tune.class").is_instance(tune.create_scheduler("asha", {max_t = 5}), ASHA))
    assert.is_true(require("tune.class").is_instance(tune.create_scheduler("async_hyperband"), ASHA))
    assert.is_true(require("tune.class").is_instance(ASHA(), TrialScheduler))
  end)

  it("has Ray's defaults", function()
    local s = ASHA()
    assert.equal("training_iteration", s._time_attr)
    assert.equal(100, s._max_t)
    assert.equal(1, s._grace_period)
    assert.equal(4, s._reduction_factor)
    assert.equal(1, #s._brackets)
    assert.is_true(s._stop_last_trials)
    assert.is_true(s.supports_buffered_results)
    assert.is_nil(s.metric)
    assert.is_nil(s.mode)
    -- Rungs of grace 1, rf 4, max_t 100: 64, 16, 4, 1 (highest first).
    local ms = {}
    for i, r in ipairs(s._brackets[1]._rungs) do ms[i] = r.milestone end
    assert.same({64, 16, 4, 1}, ms)
  end)

  it("validates its options as Ray asserts them", function()
    local cases = {
      {{max_t = 0}, "Max %(time_attr%) not valid!"},
      {{max_t = 5, grace_period = 10}, "grace_period must be <= max_t!"},
      {{grace_period = 0}, "grace_period must be positive!"},
      {{reduction_factor = 1}, "Reduction Factor not valid!"},
      {{brackets = 0}, "brackets must be positive!"},
      {{mode = "maximize"}, "`mode` must be 'min' or 'max'!"},
      {{max_T = 10}, "unknown option \"max_T\" %(did you mean max_t%?%)"},
      {{max_t = "10"}, "max_t must be a finite number"},
      {{max_t = math.huge}, "max_t must be a finite number, got inf"},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(function()
        local s = ASHA(c[1]) -- not a tail call: the error names this line
        return s
      end)
      assert.is_false(ok)
      assert.matches(c[2], err)
      -- The message points at the caller's line (this file).
      assert.matches("sched_asha_spec.lua:%d+:", err)
    end
  end)

  it("needs a metric and a mode before trials come", function()
    local s = ASHA()
    local ok, err = pcall(s.on_trial_add, s, nil, trial())
    assert.is_false(ok)
    assert.matches("AsyncHyperBandScheduler has been instantiated without a valid `metric` %(nil%) or "
      .. "`mode` %(nil%) parameter", err)
  end)

  it("takes metric and mode from tune.run once (set_search_properties)", function()
    local s = ASHA{metric = "a", mode = "max"}
    assert.is_false(s:set_search_properties("b", nil))
    assert.is_false(s:set_search_properties(nil, "min"))
    assert.is_true(s:set_search_properties(nil, nil))
    s = ASHA()
    assert.is_true(s:set_search_properties("loss", "min"))
    assert.equal("loss", s.metric)
    assert.equal(-1.0, s._metric_op)
    -- Only a mode: Ray's anonymous metric.
    s = ASHA()
    assert.is_true(s:set_search_properties(nil, "max"))
    assert.equal("_metric", s.metric)
    assert.equal(1.0, s._metric_op)
  end)

  it("_Bracket docstring example: cutoffs by quantile", function()
    local b = ASHA._Bracket.new(1, 10, 2, 0)
    assert.equal(CONTINUE, b:on_result("t1", 1, 2))
    assert.equal(CONTINUE, b:on_result("t2", 1, 4))
    assert.equal(3.0, b:cutoff(b._rungs[#b._rungs]))
    assert.equal(STOP, b:on_result("t3", 1, 1))
    assert.equal(2.0, b:cutoff(b._rungs[4]))
  end)

  it("a rung's cutoff is nanpercentile over every value recorded, however many (kept sorted)", function()
    local p = ASHA._nanpercentile
    for _, rf in ipairs({2, 3, 4}) do
      local b = ASHA._Bracket.new(1, 100, rf, 0)
      local rung = b._rungs[#b._rungs]
      local values = {}
      local rng = 12345
      for i = 1, 300 do
        rng = (rng * 1103515245 + 12345) % 2147483648
        local v = (rng % 7 == 0) and (0 / 0) or (rng % 50) / 7 -- NaN and ties
        b:on_result("t" .. i, 1, v)
        values[#values + 1] = v
        local c, want = b:cutoff(rung), p(values, (1 - 1 / rf) * 100)
        if want ~= want then assert.is_true(c ~= c) else assert.equal(want, c) end
      end
      -- A saved and loaded bracket gives the same cutoffs.
      local l = ASHA._Bracket.load(b:save())
      assert.equal(b:cutoff(rung), l:cutoff(l._rungs[#l._rungs]))
    end
  end)

  it("testAsyncHBOnComplete", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", max_t = 10, brackets = 1}
    local _, t2 = basic_setup(s)
    local t3 = trial()
    s:on_trial_add(nil, t3)
    s:on_trial_complete(nil, t3, result(10, 1000))
    assert.equal(STOP, s:on_trial_result(nil, t2, result(101, 0)))
  end)

  it("testAsyncHBGracePeriod", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", grace_period = 2.5, reduction_factor = 3,
      brackets = 1}
    local t1, t2 = basic_setup(s)
    s:on_trial_complete(nil, t1, result(10, 1000))
    s:on_trial_complete(nil, t2, result(10, 1000))
    local t3 = trial()
    s:on_trial_add(nil, t3)
    assert.equal(CONTINUE, s:on_trial_result(nil, t3, result(1, 10)))
    assert.equal(CONTINUE, s:on_trial_result(nil, t3, result(2, 10)))
    assert.equal(STOP, s:on_trial_result(nil, t3, result(3, 10)))
  end)

  it("testAsyncHBAllCompletes", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", max_t = 10, brackets = 10}
    local trials = {}
    for i = 1, 10 do
      trials[i] = trial()
      s:on_trial_add(nil, trials[i])
    end
    for _, t in ipairs(trials) do assert.equal(STOP, s:on_trial_result(nil, t, result(10, -2))) end
  end)

  it("testAsyncHBUsesPercentile", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", grace_period = 1, max_t = 10,
      reduction_factor = 2, brackets = 1}
    local t1, t2 = basic_setup(s)
    s:on_trial_complete(nil, t1, result(10, 1000))
    s:on_trial_complete(nil, t2, result(10, 1000))
    local t3 = trial()
    s:on_trial_add(nil, t3)
    assert.equal(STOP, s:on_trial_result(nil, t3, result(1, 260)))
    assert.equal(STOP, s:on_trial_result(nil, t3, result(2, 260)))
  end)

  it("testAsyncHBNanPercentile", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", grace_period = 1, max_t = 10,
      reduction_factor = 2, brackets = 1}
    local t1, t2 = nan_setup(s)
    s:on_trial_complete(nil, t1, result(10, 450))
    s:on_trial_complete(nil, t2, result(10, NAN))
    local t3 = trial()
    s:on_trial_add(nil, t3)
    assert.equal(STOP, s:on_trial_result(nil, t3, result(1, 260)))
    assert.equal(STOP, s:on_trial_result(nil, t3, result(2, 260)))
  end)

  it("never stops a NaN result, and a rung of only NaN cuts nothing", function()
    local s = ASHA{metric = "m", mode = "max", grace_period = 1, max_t = 10, reduction_factor = 2}
    local a, b, c = trial(), trial(), trial()
    for _, t in ipairs({a, b, c}) do s:on_trial_add(nil, t) end
    assert.equal(CONTINUE, s:on_trial_result(nil, a, {training_iteration = 1, m = NAN}))
    -- The cutoff of {NaN} is NaN: nothing is below it.
    assert.equal(CONTINUE, s:on_trial_result(nil, b, {training_iteration = 1, m = -1e300}))
    assert.equal(CONTINUE, s:on_trial_result(nil, c, {training_iteration = 2, m = NAN}))
    local rung1 = s._brackets[1]._rungs[#s._brackets[1]._rungs]
    assert.is_true(rung1.recorded[a.trial_id] ~= rung1.recorded[a.trial_id]) -- NaN recorded
    assert.equal("Using AsyncHyperBand: num_stopped=0\n"
      .. "Bracket: Iter 8.000: None | Iter 4.000: None | Iter 2.000: nan | Iter 1.000: -1e+300",
      s:debug_string())
  end)

  it("testAsyncHBSaveRestore (through JSON)", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max", grace_period = 1, max_t = 10,
      reduction_factor = 2, brackets = 1}
    local trials = {}
    for i = 1, 10 do
      trials[i] = trial()
      s:on_trial_add(nil, trials[i])
    end
    for i = 1, 5 do assert.are_not.equal(STOP, s:on_trial_result(nil, trials[i], result(1, 10))) end
    assert.equal(STOP, s:on_trial_result(nil, trials[6], result(1, 5)))

    local state = support.json_roundtrip(s:save())
    local s2 = ASHA()
    s2:restore(state)
    assert.equal("episode_reward_mean", s2.metric)
    assert.equal(STOP, s2:on_trial_result(nil, trials[7], result(1, 4)))
    local new = trial()
    s2:on_trial_add(nil, new)
    assert.equal(STOP, s2:on_trial_result(nil, new, result(1, 2)))
    assert.equal(s:debug_string():gsub("num_stopped=1", "num_stopped=3"), s2:debug_string())
  end)

  it("restores NaN, Infinity, several brackets and its random state", function()
    local s = ASHA{metric = "m", mode = "min", max_t = 64, grace_period = 1, reduction_factor = 2, brackets = 3,
      seed = 11}
    local trials = {}
    for i = 1, 12 do
      trials[i] = trial(string.format("t%02d", i))
      s:on_trial_add(nil, trials[i])
    end
    local values = {NAN, INF, -INF, 3, 1, 2, 5, 4, 0.5, 7, 6, 8}
    for i, t in ipairs(trials) do s:on_trial_result(nil, t, {training_iteration = 4, m = values[i]}) end
    local state = support.json_roundtrip(s:save())
    local s2 = ASHA()
    s2:restore(state)
    assert.same(support.nan_free(s:save()), support.nan_free(support.json_roundtrip(s2:save())))
    assert.equal(s:debug_string(), s2:debug_string())
    -- The same draws follow.
    for i = 1, 20 do
      local a, b = trial("n" .. i), trial("n" .. i)
      s:on_trial_add(nil, a)
      s2:on_trial_add(nil, b)
      assert.equal(s._trial_info[a.trial_id], s2._trial_info[b.trial_id])
    end
  end)

  it("testAsyncHBNonStopTrials", function()
    local trials = {trial(), trial(), trial(), trial()}
    local s = ASHA{metric = "metric", mode = "max", grace_period = 1, max_t = 3, reduction_factor = 2,
      brackets = 1, stop_last_trials = false}
    for _, t in ipairs(trials) do s:on_trial_add(nil, t) end
    assert.equal(CONTINUE, s:on_trial_result(nil, trials[1], {training_iteration = 2, metric = 10}))
    assert.equal(STOP, s:on_trial_result(nil, trials[2], {training_iteration = 2, metric = 8}))
    assert.equal(STOP, s:on_trial_result(nil, trials[3], {training_iteration = 2, metric = 6}))
    assert.equal(STOP, s:on_trial_result(nil, trials[4], {training_iteration = 2, metric = 4}))
    -- Past max_t: still going when stop_last_trials is false.
    assert.equal(CONTINUE, s:on_trial_result(nil, trials[1], {training_iteration = 4, metric = 10}))
    assert.equal(CONTINUE, s:on_trial_result(nil, trials[1], {training_iteration = 8, metric = 10}))
    -- Also continue if it falls below the cutoff eventually.
    assert.equal(CONTINUE, s:on_trial_result(nil, trials[1], {training_iteration = 14, metric = 1}))
  end)

  it("nanInfSetup: NaN and infinite rewards raise nothing", function()
    local s = ASHA{metric = "episode_reward_mean", mode = "max"}
    local ts = {trial(), trial(), trial()}
    for _, t in ipairs(ts) do s:on_trial_add(nil, t) end
    for i, v in ipairs({NAN, INF, -INF}) do
      for k = 0, 9 do s:on_trial_result(nil, ts[i], result(k, v)) end
    end
    for i, v in ipairs({NAN, INF, -INF}) do s:on_trial_complete(nil, ts[i], result(10, v)) end
  end)

  local function test_metrics(result_func, metric, mode)
    local s = ASHA{grace_period = 1, time_attr = "training_iteration", metric = metric, mode = mode, brackets = 1}
    local t1, t2 = trial(), trial()
    s:on_trial_add(nil, t1)
    s:on_trial_add(nil, t2)
    for i = 0, 9 do assert.equal(CONTINUE, s:on_trial_result(nil, t1, result_func(i, i * 100))) end
    for i = 0, 4 do assert.equal(CONTINUE, s:on_trial_result(nil, t2, result_func(i, 450))) end
    s:on_trial_complete(nil, t1, result_func(10, 1000))
    assert.equal(CONTINUE, s:on_trial_result(nil, t2, result_func(5, 450)))
    assert.equal(CONTINUE, s:on_trial_result(nil, t2, result_func(6, 0)))
  end

  it("testAlternateMetrics", function()
    test_metrics(function(t, rew) return {training_iteration = t, neg_mean_loss = rew} end, "neg_mean_loss", "max")
  end)

  it("testAlternateMetricsMin", function()
    test_metrics(function(t, rew) return {training_iteration = t, mean_loss = -rew} end, "mean_loss", "min")
  end)

  it("continues a result without the time or the metric, and rejects a metric that is no number", function()
    local s = ASHA{metric = "m", mode = "max", max_t = 4}
    local t = trial()
    s:on_trial_add(nil, t)
    assert.equal(CONTINUE, s:on_trial_result(nil, t, {training_iteration = 9}))
    assert.equal(CONTINUE, s:on_trial_result(nil, t, {m = 1}))
    local ok, err = pcall(s.on_trial_result, s, nil, t, {training_iteration = 1, m = "high"})
    assert.is_false(ok)
    assert.matches("the metric \"m\" of trial %S+ must be a number, got string", err)
  end)

  it("is idempotent in on_trial_add (a resume adds trials again)", function()
    local s = ASHA{metric = "m", mode = "max", brackets = 3, seed = 1}
    local t = trial()
    s:on_trial_add(nil, t)
    local idx = s._trial_info[t.trial_id]
    for _ = 1, 20 do s:on_trial_add(nil, t) end
    assert.equal(idx, s._trial_info[t.trial_id])
    -- A restored scheduler keeps the bracket too.
    local s2 = ASHA()
    s2:restore(support.json_roundtrip(s:save()))
    s2:on_trial_add(nil, t)
    assert.equal(idx, s2._trial_info[t.trial_id])
  end)

  it("draws brackets with softmax weights over their rung counts", function()
    -- max_t 64, grace 1, rf 2: brackets of 7, 6 and 5 rungs.
    local s = ASHA{metric = "m", mode = "max", max_t = 64, reduction_factor = 2, brackets = 3, seed = 3}
    local counts = {0, 0, 0}
    for i = 1, 3000 do
      local t = {trial_id = "x" .. i}
      s:on_trial_add(nil, t)
      local b = s._trial_info[t.trial_id]
      counts[b] = counts[b] + 1
    end
    -- Expected shares: e^0, e^-1, e^-2 normalised = 0.665, 0.245, 0.090.
    assert.is_true(counts[1] > 1800 and counts[1] < 2200, counts[1])
    assert.is_true(counts[2] > 600 and counts[2] < 880, counts[2])
    assert.is_true(counts[3] > 180 and counts[3] < 360, counts[3])
  end)

  it("forgets removed trials, and counts stops in its debug string", function()
    local s = ASHA{metric = "m", mode = "max", max_t = 3}
    local t, u = trial(), trial()
    s:on_trial_add(nil, t)
    s:on_trial_add(nil, u)
    s:on_trial_remove(nil, t)
    assert.is_nil(s._trial_info[t.trial_id])
    assert.equal(STOP, s:on_trial_result(nil, u, {training_iteration = 3, m = 1}))
    assert.matches("^Using AsyncHyperBand: num_stopped=1\nBracket: Iter 1%.000: None$", s:debug_string())
  end)

  it("formats floats as Python does", function()
    local f = ASHA._pyfloat
    assert.equal("3.0", f(3))
    assert.equal("2.5", f(2.5))
    assert.equal("0.1", f(0.1))
    assert.equal("1e+16", f(1e16))
    assert.equal("1000000000000000.0", f(1e15))
    assert.equal("1e-05", f(0.00001))
    assert.equal("0.0001", f(0.0001))
    assert.equal("-inf", f(-INF))
    assert.equal("nan", f(NAN))
    assert.equal("66.66666666666667", f(200 / 3))
  end)

  it("computes numpy's percentiles", function()
    local p = ASHA._nanpercentile
    assert.equal(3.0, p({2, 4}, 50))
    assert.equal(7.75, p({1, 10, 4, 7}, 75))
    assert.equal(4.0, p({4}, 75))
    assert.equal(2.5, p({NAN, 1, 4, NAN}, 50))
    local v = p({NAN, NAN}, 50)
    assert.is_true(v ~= v)
  end)
end)
