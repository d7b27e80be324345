--- tune.stopper: the decisions Ray Tune 2.0's stoppers make on scripted
--- result sequences. Ports python/ray/tune/tests/test_stopper.py (the
--- TimeoutStopper tests) and the stopper tests of test_api.py
--- (testStoppingFunction, testStoppingMemberFunction, testStopper,
--- testEarlyStopping, testMaximumIterationStopper, testTrialPlateauStopper,
--- the combined-stopper part of testTimeout) as decision-level tests, plus
--- tune.run's `stop` conversion (Ray's Experiment), validation errors and
--- save/restore through JSON.
local core = require("tune.core")
local stopper = require("tune.stopper")

local function roundtrip(state)
  local text = assert(core.json_encode(state))
  return assert(core.json_decode(text))
end

-- Runs trials one after another the way Ray's runner treats one trial's
-- results: each result goes to the stopper (true stops that trial), then
-- stop_all() is asked (true ends the experiment: the trials not started
-- never run). A trial that reports everything without being stopped ends
-- with Ray's duplicate final result (its last result again, done = true),
-- which Ray's TrialRunner also passes to the stopper.
-- trials: { {id = "t1", results = { {...}, ... }}, ... }
-- Returns: last = {id -> training_iteration of its last result}, calls.
local function simulate(s, trials)
  local last, calls = {}, 0
  for _, t in ipairs(trials) do
    local stopped = false
    for i, r in ipairs(t.results) do
      local result = {training_iteration = i}
      for k, v in pairs(r) do result[k] = v end
      calls = calls + 1
      last[t.id] = i
      local stop_trial = s(t.id, result)
      if s:stop_all() then return last, calls end
      if stop_trial then
        stopped = true
        break
      end
    end
    if not stopped and #t.results > 0 then
      local result = {training_iteration = #t.results, done = true}
      for k, v in pairs(t.results[#t.results]) do result[k] = v end
      calls = calls + 1
      s(t.id, result)
      if s:stop_all() then return last, calls end
    end
  end
  return last, calls
end

-- One trial reporting metric `key` with each of `values`.
local function one_trial(key, values)
  local results = {}
  for i, v in ipairs(values) do results[i] = {[key] = v} end
  return {{id = "t1", results = results}}
end

-- The index of the first call of `s` that returns true, or nil.
local function first_stop(s, trial_id, results)
  for i, r in ipairs(results) do
    if s(trial_id, r) then return i end
  end
  return nil
end

local function metric_results(key, values)
  local out = {}
  for i, v in ipairs(values) do out[i] = {[key] = v} end
  return out
end

describe("Stopper (base)", function()
  it("raises for hooks a subclass does not override", function()
    local s = stopper.Stopper()
    assert.has_error(function() s("t1", {}) end, "Stopper does not implement __call(self, trial_id, result)")
    assert.has_error(function() s:stop_all() end, "Stopper does not implement stop_all(self)")
    local Half = stopper.Stopper:extend("Half")
    function Half:__call() return true end
    local h = Half()
    assert.is_true(h("t1", {}))
    assert.has_error(function() h:stop_all() end, "Half does not implement stop_all(self)")
  end)

  -- test_api.py testStopper: a user stopper with trial and experiment hooks.
  it("runs a user subclass written with extend (testStopper)", function()
    local CustomStopper = stopper.Stopper:extend("CustomStopper")
    function CustomStopper:__init() self._count = 0 end
    function CustomStopper:__call(trial_id, result) -- luacheck: no unused args
      self._count = self._count + 1
      return result.test > 6
    end
    function CustomStopper:stop_all() return self._count > 5 end

    local s = CustomStopper()
    assert.is_true(stopper.is_stopper(s))
    local trials = {}
    for n = 1, 5 do
      local results = {}
      for i = 0, 9 do results[#results + 1] = {test = i} end
      trials[n] = {id = "t" .. n, results = results}
    end
    local last, calls = simulate(s, trials)
    -- The 6th result ends the experiment; trials 2..5 never report.
    assert.are.equal(6, calls)
    assert.are.equal(6, last.t1)
    assert.is_nil(last.t2)
    assert.is_nil(last.t5)
  end)

  it("saves and restores a user subclass's JSON fields by default", function()
    local Counting = stopper.Stopper:extend("Counting")
    function Counting:__init() self.count, self.seen, self.fn = 0, {}, function() end end
    function Counting:__call(trial_id)
      self.count = self.count + 1
      self.seen[#self.seen + 1] = trial_id
      return self.count >= 3
    end
    function Counting:stop_all() return false end
    local a = Counting()
    a("x", {})
    a("y", {})
    local state = roundtrip(a:save())
    assert.is_nil(state.fn)
    local b = Counting()
    b:restore(state)
    assert.are.same({"x", "y"}, b.seen)
    assert.is_true(b("z", {}))
    assert.are.equal("function", type(b.fn))
  end)
end)

describe("NoopStopper", function()
  it("never stops", function()
    local s = stopper.NoopStopper()
    for i = 1, 100 do assert.is_false(s("t1", {training_iteration = i})) end
    assert.is_false(s:stop_all())
  end)
end)

describe("FunctionStopper", function()
  local function counting_trial()
    local results = {}
    for i = 0, 9 do results[#results + 1] = {test = i} end
    return {{id = "t1", results = results}}
  end

  -- test_api.py testStoppingFunction
  it("stops a trial when the function says so (testStoppingFunction)", function()
    local s = stopper.from_option(function(trial_id, result) -- luacheck: no unused args
      return result.test > 6
    end)
    assert.is_true(getmetatable(s) == stopper.FunctionStopper)
    local last = simulate(s, counting_trial())
    assert.are.equal(8, last.t1)
  end)

  -- test_api.py testStoppingMemberFunction: a bound method is a closure here.
  it("takes a closure over an object's method (testStoppingMemberFunction)", function()
    local obj = {limit = 6}
    function obj:stop(trial_id, result) -- luacheck: no unused args
      return result.test > self.limit
    end
    local s = stopper.from_option(function(trial_id, result) return obj:stop(trial_id, result) end)
    assert.are.equal(8, simulate(s, counting_trial()).t1)
  end)

  it("passes trial_id and result and returns booleans", function()
    local got = {}
    local s = stopper.FunctionStopper(function(trial_id, result)
      got[#got + 1] = trial_id .. ":" .. result.x
      if result.x == 2 then return "yes" end
      return nil
    end)
    assert.is_false(s("a", {x = 1}))
    assert.are.equal(true, s("b", {x = 2}))
    assert.is_false(s:stop_all())
    assert.are.same({"a:1", "b:2"}, got)
  end)

  it("rejects what is not callable", function()
    assert.has_error(function() stopper.FunctionStopper(42) end,
      "FunctionStopper: expected a function(trial_id, result), got number")
  end)

  it("tells functions from stoppers (is_valid_function)", function()
    assert.is_true(stopper.FunctionStopper.is_valid_function(function() end))
    assert.is_true(stopper.FunctionStopper.is_valid_function(setmetatable({}, {__call = function() end})))
    assert.is_false(stopper.FunctionStopper.is_valid_function(stopper.NoopStopper()))
    assert.is_false(stopper.FunctionStopper.is_valid_function(
      setmetatable({stop_all = function() end}, {__call = function() end})))
    assert.is_false(stopper.FunctionStopper.is_valid_function({}))
  end)
end)

describe("MaximumIterationStopper", function()
  -- test_api.py testMaximumIterationStopper
  it("stops a trial at max_iter (testMaximumIterationStopper)", function()
    local results = {}
    for i = 0, 9 do results[#results + 1] = {it = i} end
    assert.are.equal(6, simulate(stopper.MaximumIterationStopper{max_iter = 6}, {{id = "t", results = results}}).t)
    assert.are.equal(6, simulate(stopper.MaximumIterationStopper(6), {{id = "t", results = results}}).t)
  end)

  it("counts the results it sees, per trial, not training_iteration", function()
    local s = stopper.MaximumIterationStopper(3)
    assert.is_false(s("a", {training_iteration = 100}))
    assert.is_false(s("b", {training_iteration = 100}))
    assert.is_false(s("a", {training_iteration = 100}))
    assert.is_true(s("a", {training_iteration = 1}))
    assert.is_true(s("a", {}))
    assert.is_false(s("b", {}))
    assert.is_true(s("b", {}))
    assert.is_false(s:stop_all())
  end)

  it("resumes its counts from save()", function()
    local s = stopper.MaximumIterationStopper(6)
    for _ = 1, 4 do assert.is_false(s("a", {})) end
    assert.is_false(s("b", {}))
    local state = roundtrip(s:save())
    local r = stopper.MaximumIterationStopper(6)
    r:restore(state)
    assert.is_false(r("a", {}))
    assert.is_true(r("a", {}))
    for _ = 1, 4 do assert.is_false(r("b", {})) end
    assert.is_true(r("b", {}))
    -- The original is not affected by the restored copy.
    assert.is_false(s("a", {}))
  end)

  it("checks its argument", function()
    assert.has_error(function() stopper.MaximumIterationStopper() end,
      "MaximumIterationStopper: max_iter must be a number, got nil")
    assert.has_error(function() stopper.MaximumIterationStopper{max_iters = 3} end,
      'MaximumIterationStopper: unknown option "max_iters" (did you mean max_iter?)')
  end)
end)

describe("TrialPlateauStopper", function()
  local function values(...) return metric_results("_metric", {...}) end
  local curve = values(10.0, 11.0, 12.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0)

  -- test_api.py testTrialPlateauStopper
  it("stops plateaued trials (testTrialPlateauStopper)", function()
    local trial = {{id = "t", results = curve}}
    -- num_results = 4, no other constraints --> early stop after 7
    assert.are.equal(7, simulate(stopper.TrialPlateauStopper{metric = "_metric", num_results = 4}, trial).t)
    -- num_results = 4, grace period 9 --> early stop after 9
    assert.are.equal(9, simulate(stopper.TrialPlateauStopper{metric = "_metric", num_results = 4,
      grace_period = 9}, trial).t)
    -- num_results = 4, threshold 22 (max) --> full 13 iterations
    local s = stopper.TrialPlateauStopper{metric = "_metric", num_results = 4, metric_threshold = 22.0, mode = "max"}
    assert.is_nil(first_stop(s, "t", curve))
    assert.are.equal(13, simulate(stopper.TrialPlateauStopper{metric = "_metric", num_results = 4,
      metric_threshold = 22.0, mode = "max"}, trial).t)
  end)

  it("has Ray's defaults: std 0.01, num_results 4, grace_period 4", function()
    -- std 0.005 < 0.01: stops as soon as four results are in.
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper("m"), "t",
      metric_results("m", {1.0, 1.01, 1.0, 1.01})))
    -- std 0.0125 is not below 0.01.
    assert.is_nil(first_stop(stopper.TrialPlateauStopper("m"), "t", metric_results("m", {1.0, 1.025, 1.0, 1.025})))
    -- Two results fill the window; the grace period still waits for four.
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper("m", {num_results = 2}), "t",
      metric_results("m", {5, 5, 5, 5, 5})))
    assert.are.equal(2, first_stop(stopper.TrialPlateauStopper("m", {num_results = 2, grace_period = 0}), "t",
      metric_results("m", {5, 5, 5})))
  end)

  it("needs the std strictly below the bound, computed as np.std", function()
    -- std = 0 never stops, even on a constant metric.
    assert.is_nil(first_stop(stopper.TrialPlateauStopper{metric = "m", std = 0}, "t",
      metric_results("m", {3, 3, 3, 3, 3, 3})))
    -- np.std([0.1, 0.2, 0.3, 0.4]) == 0.11180339887498948
    local vals = metric_results("m", {0.1, 0.2, 0.3, 0.4})
    assert.is_nil(first_stop(stopper.TrialPlateauStopper{metric = "m", std = 0.11180339887498948}, "t", vals))
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper{metric = "m", std = 0.1118033988749895}, "t", vals))
  end)

  it("waits for the last value to pass metric_threshold", function()
    local seq = metric_results("m", {5, 5, 5, 5, 4, 4, 4, 4})
    assert.are.equal(8, first_stop(stopper.TrialPlateauStopper{metric = "m", metric_threshold = 4, mode = "min"}, "t",
      seq))
    assert.is_nil(first_stop(stopper.TrialPlateauStopper{metric = "m", metric_threshold = 3, mode = "min"}, "t", seq))
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper{metric = "m", metric_threshold = 5, mode = "max"}, "t",
      seq))
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper{metric = "m", metric_threshold = 6, mode = "min"}, "t",
      seq))
  end)

  it("requires a mode with a metric_threshold, as Ray checks it", function()
    assert.has_error(function() stopper.TrialPlateauStopper{metric = "m", metric_threshold = 1.5} end,
      "When specifying a `metric_threshold`, the `mode` argument has to be one of [min, max]. Got: nil")
    assert.has_error(function() stopper.TrialPlateauStopper{metric = "m", metric_threshold = 1.5, mode = "avg"} end,
      "When specifying a `metric_threshold`, the `mode` argument has to be one of [min, max]. Got: avg")
    -- Ray tests the threshold's truth: 0 passes without a mode and filters nothing.
    local s = stopper.TrialPlateauStopper{metric = "m", metric_threshold = 0}
    assert.are.equal(4, first_stop(s, "t", metric_results("m", {5, 5, 5, 5})))
    -- Without a threshold the mode is not checked.
    assert.has_no.errors(function() stopper.TrialPlateauStopper{metric = "m", mode = "avg"} end)
  end)

  it("cannot plateau while a missing value is in the window", function()
    local seq = {{m = 1}, {}, {m = 1}, {m = 1}, {m = 1}, {m = 1}}
    assert.are.equal(6, first_stop(stopper.TrialPlateauStopper("m"), "t", seq))
    -- A missing value is not a zero.
    assert.is_nil(first_stop(stopper.TrialPlateauStopper("m"), "t", {{m = 0}, {}, {m = 0}, {m = 0}}))
    assert.are.equal(4, first_stop(stopper.TrialPlateauStopper("m"), "t", {{m = 0}, {m = 0}, {m = 0}, {m = 0}}))
    local thr = stopper.TrialPlateauStopper{metric = "m", metric_threshold = 2, mode = "min"}
    assert.is_nil(first_stop(thr, "t", {{m = 1}, {m = 1}, {m = 1}, {}}))
  end)

  it("keeps one window per trial", function()
    local s = stopper.TrialPlateauStopper("m")
    for _ = 1, 3 do
      assert.is_false(s("a", {m = 1}))
      assert.is_false(s("b", {m = 2}))
    end
    assert.is_false(s("b", {m = 9}))
    assert.is_true(s("a", {m = 1}))
    assert.is_false(s:stop_all())
  end)

  it("resumes counts and windows from save()", function()
    local s = stopper.TrialPlateauStopper{metric = "m", grace_period = 5}
    for _, v in ipairs({7, 7, 7}) do assert.is_false(s("a", {m = v})) end
    assert.is_false(s("b", {m = 1}))
    assert.is_false(s("b", {}))
    local state = roundtrip(s:save())
    local r = stopper.TrialPlateauStopper{metric = "m", grace_period = 5}
    r:restore(state)
    assert.is_false(r("a", {m = 7})) -- 4 results: still in the grace period
    assert.is_true(r("a", {m = 7}))
    -- b's missing value survived the JSON round trip: it keeps b's window
    -- from plateauing until it drops out, at b's 6th result.
    for _ = 3, 5 do assert.is_false(r("b", {m = 1})) end
    assert.is_true(r("b", {m = 1}))
  end)

  it("checks its options", function()
    assert.has_error(function() stopper.TrialPlateauStopper{std = 0.1} end,
      "TrialPlateauStopper: metric must be a string, got nil")
    assert.has_error(function() stopper.TrialPlateauStopper{metric = "m", stdd = 0.1} end,
      'TrialPlateauStopper: unknown option "stdd" (did you mean std?)')
    assert.has_error(function() stopper.TrialPlateauStopper{metric = "m", num_results = 2.5} end,
      "TrialPlateauStopper: num_results must be a non-negative integer, got 2.5")
  end)
end)

describe("ExperimentPlateauStopper", function()
  -- test_api.py testEarlyStopping: the validation errors.
  it("validates like Ray (testEarlyStopping)", function()
    local E = stopper.ExperimentPlateauStopper
    local top_msg = "Top results to consider must be a positive integer greater than one."
    local std_msg = "The standard deviation must be a strictly positive float number."
    assert.has_error(function() E("test", {top = 0}) end, top_msg)
    assert.has_error(function() E("test", {top = "0"}) end, top_msg)
    assert.has_error(function() E("test", {std = 0}) end, std_msg)
    assert.has_error(function() E("test", {patience = -1}) end, "Patience must be a strictly positive integer.")
    assert.has_error(function() E("test", {std = "0"}) end, std_msg)
    assert.has_error(function() E("test", {mode = "0"}) end, "The mode parameter can only be either min or max.")
    -- Python's isinstance checks: an int std and a float top are refused.
    assert.has_error(function() E("test", {std = 1}) end, std_msg)
    assert.has_error(function() E("test", {top = 3.0}) end, top_msg)
    assert.has_no.errors(function() E{metric = "test", std = 1.0, top = 2, patience = 0, mode = "max"} end)
  end)

  -- test_api.py testEarlyStopping: trials that each report test = 0 once.
  -- Ray's runner also shows the stopper each trial's duplicate final result.
  it("stops the experiment once the top results plateau (testEarlyStopping)", function()
    local function trials(n)
      local t = {}
      for i = 1, n do t[i] = {id = "t" .. i, results = {{test = 0}}} end
      return t
    end
    local top = 3
    local last, calls = simulate(stopper.ExperimentPlateauStopper("test", {top = top, mode = "min"}), trials(10))
    assert.are.equal(3, calls)
    local started = 0
    for _ in pairs(last) do started = started + 1 end
    assert.are.equal(2, started)
    assert.is_true(started <= top)

    local patience = 5
    last, calls = simulate(stopper.ExperimentPlateauStopper("test", {top = top, mode = "min", patience = patience}),
      trials(20))
    assert.are.equal(7, calls)
    started = 0
    for _ in pairs(last) do started = started + 1 end
    assert.are.equal(4, started)
    assert.is_true(started <= patience)
  end)

  it("has Ray's defaults: std 0.001, top 10, mode min, patience 0", function()
    local spread_5e4, spread_5e3 = {}, {}
    for i = 1, 12 do
      spread_5e4[i] = {m = 1.0 + (i % 2) * 0.001}
      spread_5e3[i] = {m = 1.0 + (i % 2) * 0.01}
    end
    -- std 0.0005 <= 0.001 once ten values are kept: stops at the 10th.
    assert.are.equal(10, first_stop(stopper.ExperimentPlateauStopper("m"), "t", spread_5e4))
    -- std 0.005 is above the default.
    assert.is_nil(first_stop(stopper.ExperimentPlateauStopper{metric = "m"}, "t", spread_5e3))
    assert.are.equal(10, first_stop(stopper.ExperimentPlateauStopper{metric = "m", std = 0.006}, "t", spread_5e3))
  end)

  it("keeps the lowest values for min and the highest for max", function()
    local seq = metric_results("m", {1, 5, 5, 5})
    assert.is_nil(first_stop(stopper.ExperimentPlateauStopper("m", {top = 3, mode = "min"}), "t", seq))
    assert.are.equal(4, first_stop(stopper.ExperimentPlateauStopper("m", {top = 3, mode = "max"}), "t", seq))
    local s = stopper.ExperimentPlateauStopper("m", {top = 3})
    assert.is_nil(first_stop(s, "t", metric_results("m", {9, 1, 8, 7})))
    assert.is_false(s:stop_all())
    assert.is_false(s("t", {m = 1})) -- [1, 1, 7]
    assert.is_true(s("t", {m = 1})) -- [1, 1, 1]
    assert.is_true(s:stop_all())
  end)

  it("counts patience over consecutive plateaued results and resets it", function()
    local s = stopper.ExperimentPlateauStopper("m", {top = 2, patience = 2})
    assert.is_false(s("a", {m = 3})) -- [3]
    assert.is_false(s("b", {m = 3})) -- [3, 3]: plateau, count 1
    assert.is_false(s:stop_all())
    assert.is_false(s("a", {m = 1})) -- [1, 3]: no plateau, count back to 0
    assert.is_false(s("b", {m = 1})) -- [1, 1]: count 1 (2 without the reset)
    assert.is_false(s:stop_all())
    assert.is_true(s("a", {m = 5})) -- still [1, 1]: count 2 >= patience
    assert.is_true(s:stop_all())
  end)

  it("uses np.std's summation order", function()
    -- For these sorted values np.std gives 0.26500875457237255, a naive
    -- two-pass sum 0.2650087545723726.
    local vals = {0.013, 0.172, 0.3, 0.341, 0.414, 0.525, 0.612, 0.663, 0.745, 0.939}
    local s = stopper.ExperimentPlateauStopper("m", {std = 0.26500875457237255})
    assert.are.equal(10, first_stop(s, "t", metric_results("m", vals)))
    local tighter = stopper.ExperimentPlateauStopper("m", {std = 0.2650087545723725})
    assert.is_nil(first_stop(tighter, "t", metric_results("m", vals)))
  end)

  it("raises on a result without the metric, naming it", function()
    local s = stopper.ExperimentPlateauStopper("val/loss")
    assert.has_error(function() s("t", {loss = 1}) end, 'ExperimentPlateauStopper: result has no metric "val/loss"')
    assert.is_false(s("t", {["val/loss"] = 1}))
  end)

  it("resumes its top values and plateau count from save()", function()
    local s = stopper.ExperimentPlateauStopper("m", {top = 3, patience = 2})
    for _, v in ipairs({4, 2, 2}) do assert.is_false(s("t", {m = v})) end
    assert.is_false(s("t", {m = 2})) -- [2, 2, 2]: plateau 1 < patience
    local state = roundtrip(s:save())
    assert.are.same({2, 2, 2}, state.top_values)
    assert.are.equal(1, state.iterations)
    local r = stopper.ExperimentPlateauStopper("m", {top = 3, patience = 2})
    r:restore(state)
    assert.is_false(r:stop_all())
    assert.is_true(r("t", {m = 3}))
    local fresh = stopper.ExperimentPlateauStopper("m", {top = 3, patience = 2})
    assert.is_false(fresh("t", {m = 3}))
  end)
end)

describe("TimeoutStopper", function()
  local now, saved_clock
  before_each(function()
    saved_clock = stopper._clock
    now = 1000.0
    stopper._clock = function() return now end
  end)
  after_each(function() stopper._clock = saved_clock end)
  local function tick(s) now = now + s end

  -- test_stopper.py test_timeout_stopper_timeout
  it("stops all after the timeout (test_timeout_stopper_timeout)", function()
    local s = stopper.TimeoutStopper{timeout = 60}
    assert.is_false(s:stop_all())
    tick(40)
    assert.is_false(s:stop_all())
    tick(22)
    assert.is_true(s:stop_all())
  end)

  -- test_stopper.py test_timeout_stopper_recover_before_timeout
  it("continues where it left off when resumed before the timeout", function()
    local s = stopper.TimeoutStopper(60)
    assert.is_false(s:stop_all())
    tick(40)
    assert.is_false(s:stop_all())
    local checkpoint = core.json_encode(s:save())
    -- Continue after start + timeout: the pause is not charged.
    tick(200)
    s = stopper.TimeoutStopper(60)
    s:restore(core.json_decode(checkpoint))
    assert.is_false(s:stop_all())
    tick(10)
    assert.is_false(s:stop_all())
    tick(12)
    assert.is_true(s:stop_all())
  end)

  -- test_stopper.py test_timeout_stopper_recover_after_timeout
  it("still stops when resumed after the timeout", function()
    local s = stopper.TimeoutStopper(60)
    assert.is_false(s:stop_all())
    tick(62)
    assert.is_true(s:stop_all())
    local checkpoint = core.json_encode(s:save())
    tick(200)
    s = stopper.TimeoutStopper(60)
    s:restore(core.json_decode(checkpoint))
    assert.is_true(s:stop_all())
    tick(10)
    assert.is_true(s:stop_all())
  end)

  it("does not charge the pause when restored into a stopper that ran", function()
    local s = stopper.TimeoutStopper(60)
    assert.is_false(s:stop_all())
    tick(50)
    assert.is_false(s:stop_all())
    local state = roundtrip(s:save())
    assert.are.equal(10, state.budget)
    tick(500)
    s:restore(state)
    assert.is_false(s:stop_all())
    tick(9)
    assert.is_false(s:stop_all())
    tick(1)
    assert.is_true(s:stop_all())
  end)

  it("does not charge the time before the first check", function()
    local s = stopper.TimeoutStopper(5)
    tick(100)
    assert.is_false(s:stop_all())
    tick(4.5)
    assert.is_false(s:stop_all())
    tick(0.5)
    assert.is_true(s:stop_all())
  end)

  it("never stops single trials", function()
    local s = stopper.TimeoutStopper(0)
    assert.is_false(s("t", {training_iteration = 1}))
    assert.is_true(s:stop_all())
  end)

  it("counts from a clock that starts at 0", function()
    now = 0
    local s = stopper.TimeoutStopper(60)
    assert.is_false(s:stop_all())
    tick(61)
    assert.is_true(s:stop_all())
  end)

  it("reads a per-instance clock when one is set", function()
    local virtual = 0
    local s = stopper.TimeoutStopper(10)
    s._clock = function() return virtual end
    assert.is_false(s:stop_all())
    tick(1000)
    assert.is_false(s:stop_all())
    virtual = 11
    assert.is_true(s:stop_all())
  end)

  it("takes seconds, {timeout =} or a timedelta table", function()
    for _, arg in ipairs({90, {timeout = 90}, {minutes = 1, seconds = 30}, {timeout = {milliseconds = 90000}},
      {hours = 0.025}}) do
      now = 0
      local s = stopper.TimeoutStopper(arg)
      assert.is_false(s:stop_all())
      tick(89)
      assert.is_false(s:stop_all())
      tick(1)
      assert.is_true(s:stop_all())
    end
    assert.has_error(function() stopper.TimeoutStopper("60") end,
      "`timeout` parameter has to be either a number or a timedelta table "
        .. "({days =, hours =, minutes =, seconds =, ...}). Found: string")
    assert.has_error(function() stopper.TimeoutStopper{minute = 1} end,
      'TimeoutStopper: unknown option "minute" (did you mean minutes?)')
    -- A NaN bound never compares true: such a stopper never stopped.
    for _, make in ipairs({
      function() return stopper.MaximumIterationStopper(0 / 0) end,
      function() return stopper.TrialPlateauStopper("m", {std = 0 / 0}) end,
      function() return stopper.TrialPlateauStopper("m", {grace_period = 0 / 0}) end,
      function() return stopper.TrialPlateauStopper("m", {metric_threshold = 0 / 0, mode = "min"}) end,
      function() return stopper.ExperimentPlateauStopper("m", {std = 0 / 0}) end,
    }) do
      local ok, err = pcall(make)
      assert.is_false(ok)
      assert.matches("must be a.*number", err)
    end
    -- NaN is no duration (a budget of NaN never ran out).
    for _, bad in ipairs({0 / 0, {hours = 0 / 0}}) do
      local ok, err = pcall(stopper.TimeoutStopper, bad)
      assert.is_false(ok)
      assert.matches("has to be either a number or a timedelta table", err, 1, true)
    end
    assert.matches("time_budget_s must be a number of seconds >= 0 or a timedelta table, got %-?nan",
      select(2, pcall(stopper.from_option, nil, 0 / 0)))
  end)
end)

describe("CombinedStopper", function()
  it("stops when any stopper does, asking in order and stopping at the first yes", function()
    local max2 = stopper.MaximumIterationStopper(2)
    local max3 = stopper.MaximumIterationStopper(3)
    local s = stopper.CombinedStopper(max2, max3)
    assert.is_false(s("t", {}))
    assert.is_true(s("t", {})) -- max2 says yes: max3 is not asked
    assert.is_false(max3("t", {})) -- so this is max3's 2nd call, not its 3rd
    assert.is_true(max3("t", {}))
  end)

  it("ORs stop_all, short-circuiting too", function()
    local asked = 0
    local never = {__call = function() return false end, stop_all = function() asked = asked + 1 return false end}
    local yes = {__call = function() return true end, stop_all = function() return true end}
    assert.is_false(stopper.CombinedStopper(stopper.NoopStopper(), never):stop_all())
    assert.are.equal(1, asked)
    assert.is_true(stopper.CombinedStopper(yes, never):stop_all())
    assert.are.equal(1, asked)
    assert.is_true(stopper.CombinedStopper(never, yes)("t", {}))
    assert.is_false(stopper.CombinedStopper()("t", {}))
    assert.is_false(stopper.CombinedStopper():stop_all())
  end)

  it("combines a trial plateau stopper with a maximum (Ray's example)", function()
    local s = stopper.CombinedStopper(stopper.MaximumIterationStopper{max_iter = 10},
      stopper.TrialPlateauStopper{metric = "my_metric"})
    local noisy = {}
    for i = 1, 15 do noisy[i] = {my_metric = (i % 2) * 10} end
    assert.are.equal(10, first_stop(s, "t", noisy))
    local flat = stopper.CombinedStopper({stopper.MaximumIterationStopper(10), stopper.TrialPlateauStopper("my_metric")})
    assert.are.equal(4, first_stop(flat, "t", metric_results("my_metric", {1, 1, 1, 1})))
  end)

  it("saves and restores each stopper's state", function()
    local now = 0
    local t = stopper.TimeoutStopper(30)
    t._clock = function() return now end
    local s = stopper.CombinedStopper(stopper.MaximumIterationStopper(3), stopper.NoopStopper(), t)
    assert.is_false(s("a", {}))
    assert.is_false(s("a", {}))
    assert.is_false(s:stop_all())
    now = 20
    assert.is_false(s:stop_all())
    local state = roundtrip(s:save())
    local t2 = stopper.TimeoutStopper(30)
    t2._clock = function() return now end
    local r = stopper.CombinedStopper(stopper.MaximumIterationStopper(3), stopper.NoopStopper(), t2)
    r:restore(state)
    assert.is_true(r("a", {}))
    now = 100
    assert.is_false(r:stop_all())
    now = 111
    assert.is_true(r:stop_all())
  end)

  it("refuses what is not a stopper", function()
    assert.has_error(function() stopper.CombinedStopper(stopper.NoopStopper(), 5) end,
      "CombinedStopper: argument 2 is not a stopper (number)")
    -- A class was taken for one, and failed inside the library when saved
    -- ("base.lua:34: bad argument #1 to 'for iterator'").
    assert.has_error(function() stopper.CombinedStopper({stopper.NoopStopper(), stopper.MaximumIterationStopper}) end,
      "CombinedStopper: argument 2 is not a stopper (the class MaximumIterationStopper: call it)")
    assert.is_false(stopper.is_stopper(stopper.TimeoutStopper))
  end)
end)

describe("stopper.from_option", function()
  it("gives nil for no stop and for a table of thresholds", function()
    assert.is_nil(stopper.from_option(nil))
    assert.is_nil(stopper.from_option({}))
    assert.is_nil(stopper.from_option({training_iteration = 10, mean_accuracy = 0.9}))
    assert.is_nil(stopper.from_option({["val/loss"] = 0.1}))
  end)

  it("wraps functions and keeps stoppers", function()
    local fs = stopper.from_option(function() return true end)
    assert.is_true(getmetatable(fs) == stopper.FunctionStopper)
    assert.is_true(fs("t", {}))
    local m = stopper.MaximumIterationStopper(3)
    assert.are.equal(m, stopper.from_option(m))
    local plain = {__call = function() return true end, stop_all = function() return false end}
    assert.are.equal(plain, stopper.from_option(plain))
    local only_stop_all = {stop_all = function() return true end}
    assert.are.equal(only_stop_all, stopper.from_option(only_stop_all))
    local callable_with_stop_all = setmetatable({stop_all = function() return true end}, {__call = function() end})
    assert.are.equal(callable_with_stop_all, stopper.from_option(callable_with_stop_all))
    -- A callable that is not a stopper becomes a FunctionStopper, as in Ray.
    local callable = setmetatable({}, {__call = function(_, _, result) return result.x > 1 end})
    local wrapped = stopper.from_option(callable)
    assert.is_true(getmetatable(wrapped) == stopper.FunctionStopper)
    assert.is_false(wrapped("t", {x = 1}))
    assert.is_true(wrapped("t", {x = 2}))
    assert.is_false(wrapped:stop_all())
  end)

  it("combines an array of stoppers", function()
    local s = stopper.from_option({stopper.MaximumIterationStopper(2), stopper.NoopStopper()})
    assert.is_true(getmetatable(s) == stopper.CombinedStopper)
    assert.is_false(s("t", {}))
    assert.is_true(s("t", {}))
    assert.has_error(function() stopper.from_option({stopper.NoopStopper(), "x"}) end,
      "If you pass a list as the `stop` argument to `tune.run()`, each element must be a Stopper. "
        .. "Got [NoopStopper, string].")
    assert.has_error(function() stopper.from_option({stopper.MaximumIterationStopper}) end,
      "If you pass a list as the `stop` argument to `tune.run()`, each element must be a Stopper. "
        .. "Got [the class MaximumIterationStopper (call it)].")
    -- Thresholds beside stoppers, or a list with a hole, were ignored:
    -- nothing stopped.
    assert.has_error(function() stopper.from_option({loss = 3, val = 1, stopper.NoopStopper()}) end,
      "a table cannot hold both thresholds (loss, val) and a list of stoppers: give a list of stoppers, with the "
        .. "thresholds as a FunctionStopper")
    assert.has_error(function() stopper.from_option({stopper.NoopStopper(), [3] = stopper.NoopStopper()}) end,
      "a list of stoppers must have the keys 1..n, with no holes")
  end)

  it("raises on anything else, naming the type, at the caller's line", function()
    local ok, err = pcall(function() stopper.from_option("loss") end)
    assert.is_false(ok)
    assert.matches("stopper_spec.lua:%d+: Invalid stop criteria: loss%. Must be a function, a Stopper or a table%. "
      .. "Got string%.", err)
    assert.has_error(function() stopper.from_option(3) end,
      "Invalid stop criteria: 3. Must be a function, a Stopper or a table. Got number.")
    assert.has_error(function() stopper.from_option(true) end,
      "Invalid stop criteria: true. Must be a function, a Stopper or a table. Got boolean.")
    local Other = setmetatable({}, {__name = "Other"})
    Other.__index = Other
    Other.__name = "Other"
    assert.has_error(function() stopper.from_option(setmetatable({}, Other)) end,
      "Provided stop object must be either a table of thresholds, a function, or a Stopper "
        .. "(a table with __call and stop_all). Got a table with a metatable (Other).")
  end)

  describe("with time_budget_s", function()
    local now, saved_clock
    before_each(function()
      saved_clock = stopper._clock
      now = 0
      stopper._clock = function() return now end
    end)
    after_each(function() stopper._clock = saved_clock end)

    it("adds a TimeoutStopper, as Ray's Experiment does", function()
      local t = stopper.from_option(nil, 5)
      assert.is_true(getmetatable(t) == stopper.TimeoutStopper)
      -- thresholds stay with the runner; the budget still applies
      assert.is_true(getmetatable(stopper.from_option({metric = 3}, 7)) == stopper.TimeoutStopper)
      assert.is_nil(stopper.from_option(nil, 0))
      assert.is_nil(stopper.from_option({metric = 3}, 0))
    end)

    -- test_api.py testTimeout: "Combined stopper. Shorter timeout should win."
    it("lets the shorter of stop and budget win (testTimeout)", function()
      local s = stopper.from_option(stopper.TimeoutStopper(10), {seconds = 3})
      assert.is_true(getmetatable(s) == stopper.CombinedStopper)
      assert.is_false(s:stop_all())
      now = 2.9
      assert.is_false(s:stop_all())
      now = 3.1
      assert.is_true(s:stop_all())
      local long = stopper.from_option(stopper.TimeoutStopper(3), 10)
      now = 4
      assert.is_false(long:stop_all())
      now = 7.5
      assert.is_true(long:stop_all())
    end)
  end)
end)
