-- CurveASHAScheduler (tunelua's own): ASHA's rungs judged by the metric
-- extrapolated to max_t; and tune.schedulers.curve_fit under it.
local tune = require("tune")
local core = require("tune.core")
local curve_fit = require("tune.schedulers.curve_fit")
local TrialScheduler = tune.schedulers.TrialScheduler
local CurveASHA = tune.schedulers.CurveASHAScheduler
local ASHA = tune.schedulers.ASHAScheduler

local CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP

local function points(f, n)
  local ts, ys = {}, {}
  for t = 1, n do ts[t], ys[t] = t, f(t) end
  return ts, ys
end

describe("curve_fit.extrapolate", function()
  -- theta comes from a grid (steps of about 19 %): close, not exact; the
  -- last point alone is ten times further off.
  for _, case in ipairs({
    {"exp", "an exponential", function(t) return 0.1 + 2 * math.exp(-0.05 * t) end, 0.5},
    {"pow", "a power law", function(t) return 0.2 + 3 * t ^ -0.7 end, 0.3},
  }) do
    local family, what, f, far = case[1], case[2], case[3], case[4]
    it("follows " .. what .. " to a later time, and tells its family", function()
      local ts, ys = points(f, 12)
      local v, fam = curve_fit.extrapolate(ts, ys, 100)
      assert.equal(family, fam)
      assert.is_true(math.abs(v - f(100)) < 0.05, tostring(v))
      assert.is_true(math.abs(ys[12] - f(100)) > far)
    end)
  end

  it("needs three points with different times", function()
    assert.is_nil(curve_fit.extrapolate({1, 2}, {3, 2}, 10))
    assert.is_nil(curve_fit.extrapolate({2, 2, 2}, {3, 2, 1}, 10))
  end)
end)

describe("CurveASHAScheduler", function()
  it("is a tune.schedulers class and a create_scheduler key, with its defaults", function()
    local s = tune.create_scheduler("curve_asha", {metric = "loss", mode = "min"})
    assert.is_true(require("tune.class").is_instance(s, CurveASHA))
    assert.is_true(require("tune.class").is_instance(s, ASHA))
    assert.equal(100, s._max_t)
    assert.equal(5, s._grace_period)
    assert.equal(5, s._reduction_factor)
    assert.equal(4, s._max_improvement)
    assert.equal(3, s._min_points)
    assert.matches("^Using CurveASHA: num_stopped=0", s:debug_string())
  end)

  it("refuses bad options at the caller's line", function()
    local function check(opts, message)
      local line = debug.getinfo(1, "l").currentline
      local ok, err = pcall(function() local _ = CurveASHA(opts) end)
      assert.is_false(ok)
      assert.matches("sched_curve_asha_spec.lua:" .. (line + 1) .. ": CurveASHAScheduler: " .. message, err)
    end
    check({max_improvment = 2}, 'unknown option "max_improvment" %(did you mean max_improvement%?%)')
    check({max_improvement = -1}, "max_improvement must be a number >= 0, got %-1")
    check({max_improvement = "2"}, 'max_improvement must be a number >= 0, got string "2"')
    check({min_points = 2}, "min_points must be an integer >= 3, got 2")
    check({grace_period = 0}, "grace_period must be positive!")
    check({reduction_factor = 1}, "Reduction Factor not valid!")
  end)

  -- Two trials, one after the other: "fast" leads at epoch 5 and ends at
  -- 0.5; "slow" is behind at epoch 5 and ends near 0.1.
  local CURVES = {
    fast = function(t) return 0.5 + 2 * math.exp(-0.8 * t) end,
    slow = function(t) return 0.1 + 2 * math.exp(-0.15 * t) end,
  }

  --- The last result of each trial, by its config's `kind`, of a run on
  --- the simulator: one trial per kind, one at a time.
  local function sim_run(scheduler, curve, kinds, metric, mode)
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = curve}
    local dir = os.tmpname()
    os.remove(dir)
    local a = tune.run(function() end, {trial_executor = ex, config = {kind = tune.grid_search(kinds)},
      scheduler = scheduler, metric = metric, mode = mode, verbose = 0, local_dir = dir})
    core.remove_tree(dir)
    local last = {}
    for _, t in ipairs(a.trials) do last[t.config.kind] = t.last_result end
    return last
  end

  local function run(scheduler)
    return sim_run(scheduler, function(config, t)
      if t <= 50 then return {loss = CURVES[config.kind](t)} end
    end, {"fast", "slow"}, "loss", "min")
  end

  it("keeps the trial whose curve ends best, where ASHA stops it at the first rung", function()
    assert.is_true(CURVES.fast(5) < CURVES.slow(5) and CURVES.slow(50) < CURVES.fast(50))
    local asha = run(ASHA{max_t = 50, grace_period = 5, reduction_factor = 2})
    assert.equal(5, asha.slow.training_iteration)
    assert.equal(50, asha.fast.training_iteration)
    local curve = run(CurveASHA{max_t = 50, grace_period = 5, reduction_factor = 2})
    assert.equal(50, curve.slow.training_iteration)
    assert.is_true(curve.slow.loss < asha.fast.loss)
  end)

  it("trusts an extrapolation only up to max_improvement times the improvement so far", function()
    -- Capped at 0 the prediction is the current value: ASHA's decision.
    local capped = run(CurveASHA{max_t = 50, grace_period = 5, reduction_factor = 2, max_improvement = 0})
    assert.equal(5, capped.slow.training_iteration)
    -- Also where the fit falls below the current value: "B" is ahead at
    -- the rung (6 against 5) on a falling curve, and ASHA keeps it. (The
    -- falling prediction, about 4, stopped it.)
    local values = {A = {5, 5, 5, 5, 5, 5}, B = {8, 7, 6, 6, 6, 6}}
    local function last_iterations(scheduler)
      local last = sim_run(scheduler, function(config, t)
        if t <= 6 then return {score = values[config.kind][t]} end
      end, {"A", "B"}, "score", "max")
      return {A = last.A.training_iteration, B = last.B.training_iteration}
    end
    local opts = {max_t = 6, grace_period = 3, reduction_factor = 2}
    assert.same({A = 6, B = 6}, last_iterations(ASHA(opts)))
    opts.max_improvement = 0
    assert.same({A = 6, B = 6}, last_iterations(CurveASHA(opts)))
  end)

  it("uses the current value before min_points results", function()
    local s = CurveASHA{metric = "loss", mode = "min", max_t = 50, grace_period = 3, reduction_factor = 2,
      min_points = 4}
    local a, b = tune.Trial("x"), tune.Trial("x")
    s:on_trial_add(nil, a)
    s:on_trial_add(nil, b)
    for t = 1, 3 do assert.equal(CONTINUE, s:on_trial_result(nil, a, {training_iteration = t, loss = CURVES.fast(t)})) end
    for t = 1, 2 do assert.equal(CONTINUE, s:on_trial_result(nil, b, {training_iteration = t, loss = CURVES.slow(t)})) end
    -- Three points, four needed: judged by its current value, behind.
    assert.equal(STOP, s:on_trial_result(nil, b, {training_iteration = 3, loss = CURVES.slow(3)}))
  end)

  it("replaces the results a restored trial reports again", function()
    local s = CurveASHA{metric = "loss", mode = "min", max_t = 50, grace_period = 10, reduction_factor = 2}
    local a = tune.Trial("x")
    s:on_trial_add(nil, a)
    for t = 1, 6 do s:on_trial_result(nil, a, {training_iteration = t, loss = 10 - t}) end
    -- Back to iteration 4 (its checkpoint), with other values.
    for t = 4, 5 do s:on_trial_result(nil, a, {training_iteration = t, loss = 1 / t}) end
    local curve = s._curves[a.trial_id]
    assert.same({1, 2, 3, 4, 5}, curve.ts)
    assert.same({-9, -8, -7, -0.25, -0.2}, curve.ys)
    -- A NaN is not fitted; a trial that ends is forgotten.
    s:on_trial_result(nil, a, {training_iteration = 6, loss = 0 / 0})
    assert.equal(5, #curve.ts)
    s:on_trial_complete(nil, a, {training_iteration = 6, loss = 0.1})
    assert.is_nil(s._curves[a.trial_id])
  end)

  it("saves its curves and decides the same after a restore", function()
    local function feed(s, a, b, from, to)
      local out = {}
      for t = from, to do
        out[#out + 1] = s:on_trial_result(nil, a, {training_iteration = t, loss = CURVES.fast(t)})
        out[#out + 1] = s:on_trial_result(nil, b, {training_iteration = t, loss = CURVES.slow(t)})
      end
      return out
    end
    local opts = {metric = "loss", mode = "min", max_t = 40, grace_period = 2, reduction_factor = 2}
    local s1 = CurveASHA(opts)
    local a, b = tune.Trial("x"), tune.Trial("x")
    s1:on_trial_add(nil, a)
    s1:on_trial_add(nil, b)
    feed(s1, a, b, 1, 3)
    local s2 = CurveASHA(opts)
    s2:restore(core.json_decode(core.json_encode(s1:save())))
    assert.same(s1:save(), s2:save())
    assert.same(feed(s1, a, b, 4, 20), feed(s2, a, b, 4, 20))
    assert.has_error(function() ASHA():restore(s1:save()) end)
  end)
end)
