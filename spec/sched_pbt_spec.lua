-- PopulationBasedTraining: ports of Ray 2.0's PopulationBasedTestingSuite
-- (test_trial_scheduler.py) with scripted results through a mock runner,
-- of E2EPopulationBasedTestingSuite and of test_trial_scheduler_pbt.py
-- through tune.run, plus save/restore and resume idempotency.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
local util = require("tune.util")
local sample = require("tune.search.sample")
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local PBT = require("tune.schedulers.pbt")
require("spec.fixtures.pbt_trainables")

local CONTINUE, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.PAUSE

-- Ray's result(t, rew).
local function result(t, rew)
  return {time_total_s = t, episode_reward_mean = rew, training_iteration = math.tointeger(t) or math.floor(t)}
end

-- Mocks: Ray's _MockTrial, _MockTrialExecutor and _MockTrialRunner.
local mocks = require("spec.fixtures.pbt_mocks")
local MockTrial, mock_trial, mock_runner = mocks.MockTrial, mocks.mock_trial, mocks.mock_runner

-- Ray's helper: the trial is RUNNING, then the decision (or the trial's
-- status) is checked.
local function on_trial_result(pbt, runner, trial, res, expected)
  trial.status = "RUNNING"
  local decision = pbt:on_trial_result(runner, trial, res)
  if expected == PAUSE then
    assert.is_true(trial.status == "PAUSED" or decision == PAUSE,
      "expected PAUSE, got " .. tostring(decision) .. " with status " .. trial.status)
  elseif expected == CONTINUE then
    assert.equal(CONTINUE, decision)
  end
  return decision
end

local function basic_setup(o)
  o = o or {}
  local num_trials = o.num_trials or 5
  local pbt = tune.schedulers.PopulationBasedTraining{
    time_attr = "training_iteration",
    metric = "episode_reward_mean",
    mode = "max",
    perturbation_interval = o.perturbation_interval or 10,
    resample_probability = o.resample_prob or 0.0,
    quantile_fraction = 0.25,
    hyperparam_mutations = o.hyperparam_mutations or {
      float_factor = function() return 100.0 end,
      int_factor = function() return 10 end,
      id_factor = {100},
    },
    custom_explore_fn = o.explore,
    log_config = o.log_config or false,
    synch = o.synch or false,
    require_attrs = o.require_attrs ~= false,
    seed = o.seed or 1,
  }
  local runner = mock_runner(pbt)
  for i = 0, num_trials - 1 do
    local config = o.hyperparams and util.deepcopy(o.hyperparams)
      or {float_factor = 2.0, const_factor = 3, int_factor = 10, id_factor = i}
    local trial = mock_trial(i, config)
    runner:add_trial(trial)
    trial.status = "RUNNING"
  end
  if o.step_once ~= false then
    for i = 1, num_trials do
      on_trial_result(pbt, runner, runner.trials[i], result(10, 50 * (i - 1)), o.synch and PAUSE or CONTINUE)
    end
  end
  pbt:reset_stats()
  return pbt, runner
end

local function one_of(v, list)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

describe("PopulationBasedTraining", function()
  it("validates its options as Ray does", function()
    local PBTc = tune.schedulers.PopulationBasedTraining
    assert.has_error(function() PBTc{quantile_fraction = 0.6} end,
      "You must set `quantile_fraction` to a value between 0 and 0.5. Current value: '0.6'")
    assert.has_error(function() PBTc{quantile_fraction = -0.1} end)
    assert.has_error(function() PBTc{perturbation_interval = 0} end,
      "perturbation_interval must be a positive number greater than 0. Current value: '0'")
    assert.has_error(function() PBTc{mode = "maximum"} end, "`mode` must be 'min' or 'max'.")
    assert.has_error(function() PBTc{hyperparam_mutations = {a = 3}} end)
    assert.has_error(function() PBTc{hyperparam_mutations = {a = {b = "x"}}} end)
    -- An empty table (Ray's [] failed at the first exploit; here it was
    -- taken as nested keys, filled a missing key with {} and failed later).
    for _, m in ipairs({{a = {}}, {a = {b = {}}}}) do
      local ok, err = pcall(PBTc, {hyperparam_mutations = m})
      assert.is_false(ok)
      assert.matches("is an empty table: give the values to choose from, or nested keys", err, 1, true)
    end
    -- A grid search was taken as nested keys ("grid_search"): the first
    -- exploit failed ("a nested table at \"lr\", but the config holds number").
    local ok, err = pcall(PBTc, {hyperparam_mutations = {opt = {lr = tune.grid_search({1, 2})}}})
    assert.is_false(ok)
    assert.matches("(opt.lr is a tune.grid_search: give the list of its values)", err, 1, true)
    -- A list of mutations: the key 1 went into the trials' configs.
    assert.has_error(function() PBTc{hyperparam_mutations = {{1, 2}}} end,
      "PopulationBasedTraining: hyperparam_mutations keys must be config key names (strings), got number key 1")
    assert.has_error(function() PBTc{hyperparam_mutations = {opt = {lr = {1, 2}, [2] = {3}}}} end,
      "PopulationBasedTraining: hyperparam_mutations keys must be config key names (strings), got number key 2 in opt")
    assert.has_error(function() PBTc{custom_explore_fn = 3} end)
    assert.has_error(function() PBTc{perturbation_intervall = 3} end,
      'PopulationBasedTraining: unknown option "perturbation_intervall" (did you mean perturbation_interval?)')
    -- The error points at the caller's line.
    local ok, err = pcall(function() PBTc{quantile_fraction = 1} end)
    assert.is_false(ok)
    assert.matches("sched_pbt_spec.lua:%d+:", err)
    -- Defaults.
    local p = PBTc{}
    assert.equal("time_total_s", p._time_attr)
    assert.equal(60.0, p._perturbation_interval)
    assert.equal(0.0, p._burn_in_period)
    assert.equal(0.25, p._quantile_fraction)
    assert.equal(0.25, p._resample_probability)
    assert.is_true(p._log_config)
    assert.is_true(p._require_attrs)
    assert.is_false(p._synch)
    assert.equal("PopulationBasedTraining: 0 checkpoints, 0 perturbs", p:debug_string())
    assert.equal(PBTc, tune.schedulers.create_scheduler("pbt", {metric = "m", mode = "min"}).__index)
  end)

  it("set_search_properties (Ray's)", function()
    local p = tune.schedulers.PopulationBasedTraining{}
    assert.is_true(p:set_search_properties("acc", "max"))
    assert.equal("acc", p.metric)
    assert.equal(1.0, p._metric_op)
    local q = tune.schedulers.PopulationBasedTraining{metric = "loss", mode = "min"}
    assert.is_false(q:set_search_properties("acc", nil))
    assert.is_false(q:set_search_properties(nil, "max"))
    assert.is_true(q:set_search_properties(nil, nil))
    local r = tune.schedulers.PopulationBasedTraining{}
    assert.is_true(r:set_search_properties(nil, "min"))
    assert.equal("_metric", r.metric)
    assert.equal(-1.0, r._metric_op)
    -- Without a metric or mode, on_trial_add fails as Ray's.
    local s = tune.schedulers.PopulationBasedTraining{}
    assert.has_error(function() s:on_trial_add(mock_runner(s), mock_trial(0, {})) end)
  end)

  it("testSearchError", function()
    local dir = support.tmpdir("pbt-search")
    local pbt = basic_setup{num_trials = 0}
    local MockSearcher = tune.search.Searcher:extend(nil, "MockSearcher")
    function MockSearcher:suggest() return {x = 1} end
    local ok, err = pcall(tune.run, "pbt_noop", {config = {x = 1}, scheduler = pbt, search_alg = MockSearcher(),
      verbose = 0, local_dir = dir})
    assert.is_false(ok)
    assert.matches("Search algorithms cannot be used with PopulationBasedTraining schedulers", tostring(err))
    support.check_clean()
  end)

  it("testMetricError", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    assert.has_error(function() on_trial_result(pbt, runner, trials[1], {episode_reward_mean = 4}) end)
    local ok, err = pcall(on_trial_result, pbt, runner, trials[1], {episode_reward_mean = 4})
    assert.matches("Cannot find time_attr training_iteration", err)
    ok, err = pcall(on_trial_result, pbt, runner, trials[1], {random_metric = 10, training_iteration = 20})
    assert.is_false(ok)
    assert.matches("Cannot find metric episode_reward_mean", err)
  end)

  it("fails a trial whose metric or time_attr is not a number, naming them (a Lua error in pbt.lua before)", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    for _, case in ipairs({
      {{episode_reward_mean = "high", training_iteration = 20}, 'the metric "episode_reward_mean" of trial 0 must be a number, got string'},
      {{episode_reward_mean = true, training_iteration = 20}, 'the metric "episode_reward_mean" of trial 0 must be a number, got boolean'},
      {{episode_reward_mean = 1, training_iteration = "20"}, 'the time_attr "training_iteration" of trial 0 must be a number, got string'},
    }) do
      local ok, err = pcall(on_trial_result, pbt, runner, trials[1], case[1])
      assert.is_false(ok)
      assert.equal("PopulationBasedTraining: " .. case[2], err)
    end
  end)

  it("testMetricLog", function()
    local pbt, runner = basic_setup{require_attrs = false}
    local logs = {}
    function pbt:_warn(msg) logs[#logs + 1] = msg end
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], {episode_reward_mean = 4})
    assert.equal(1, #logs)
    assert.matches("Cannot find time_attr", logs[1])
    on_trial_result(pbt, runner, trials[1], {random_metric = 10, training_iteration = 20})
    assert.equal(2, #logs)
    assert.matches("Cannot find metric", logs[2])
    -- Once each.
    on_trial_result(pbt, runner, trials[1], {episode_reward_mean = 4})
    assert.equal(2, #logs)
  end)

  it("testCheckpointsMostPromisingTrials", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    -- No checkpoint: the next perturbation interval is not reached yet.
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    on_trial_result(pbt, runner, trials[1], result(15, 200), CONTINUE)
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.equal(0, pbt._num_checkpoints)
    -- Checkpoint: past the interval and in the upper quantile.
    on_trial_result(pbt, runner, trials[1], result(20, 200), CONTINUE)
    assert.same({200, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.equal(1, pbt._num_checkpoints)
    on_trial_result(pbt, runner, trials[2], result(30, 201), CONTINUE)
    assert.same({200, 201, 100, 150, 200}, pbt:last_scores(trials))
    assert.equal(2, pbt._num_checkpoints)
    -- Not in the upper quantile any more.
    on_trial_result(pbt, runner, trials[5], result(30, 199), CONTINUE)
    assert.equal(2, pbt._num_checkpoints)
    assert.equal(0, pbt._num_perturbations)
  end)

  it("testCheckpointMostPromisingTrialsSynch", function()
    local pbt, runner = basic_setup{synch = true}
    local trials = runner:get_trials()
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    on_trial_result(pbt, runner, trials[1], result(15, 200), CONTINUE)
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.equal(0, pbt._num_checkpoints)
    -- Trials are paused until all are synced.
    for i = 1, #trials - 1 do
      on_trial_result(pbt, runner, trials[i], result(20, 200 + i - 1), PAUSE)
    end
    assert.same({200, 201, 202, 203, 200}, pbt:last_scores(trials))
    assert.equal(0, pbt._num_checkpoints)
    on_trial_result(pbt, runner, trials[#trials], result(20, 204), PAUSE)
    assert.equal(2, pbt._num_checkpoints)
  end)

  it("testPerturbsLowPerformingTrials", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    -- No perturbation: the interval is not reached.
    on_trial_result(pbt, runner, trials[1], result(15, -100), CONTINUE)
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.is_nil(trials[1].experiment_tag:find("@perturbed", 1, true))
    assert.equal(0, pbt._num_perturbations)
    -- Perturbed: in the lower quantile.
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    assert.same({-100, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.truthy(trials[1].experiment_tag:find("@perturbed", 1, true))
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.equal(1, pbt._num_perturbations)
    -- Also perturbed.
    on_trial_result(pbt, runner, trials[3], result(20, 40), PAUSE)
    assert.same({-100, 50, 40, 150, 200}, pbt:last_scores(trials))
    assert.equal(2, pbt._num_perturbations)
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.truthy(trials[3].experiment_tag:find("@perturbed", 1, true))
  end)

  it("testPerturbsLowPerformingTrialsSynch", function()
    local pbt, runner = basic_setup{synch = true}
    local trials = runner:get_trials()
    local last = trials[#trials]
    on_trial_result(pbt, runner, last, result(15, -100), CONTINUE)
    assert.same({0, 50, 100, 150, 200}, pbt:last_scores(trials))
    assert.is_nil(last.experiment_tag:find("@perturbed", 1, true))
    assert.equal(0, pbt._num_perturbations)
    -- No perturbation until all trials are synched.
    on_trial_result(pbt, runner, last, result(20, -100), PAUSE)
    assert.same({0, 50, 100, 150, -100}, pbt:last_scores(trials))
    assert.is_nil(last.experiment_tag:find("@perturbed", 1, true))
    -- Synch all trials.
    for i = 1, #trials - 1 do
      on_trial_result(pbt, runner, trials[i], result(20, -10 * (i - 1)), PAUSE)
    end
    assert.same({0, -10, -20, -30, -100}, pbt:last_scores(trials))
    assert.is_true(one_of(trials[5].restored_checkpoint, {"trial_0", "trial_1"}))
    assert.is_true(one_of(trials[4].restored_checkpoint, {"trial_0", "trial_1"}))
    assert.equal(2, pbt._num_perturbations)
  end)

  it("testPerturbWithoutResample", function()
    local pbt, runner = basic_setup{resample_prob = 0.0}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    local c = trials[1].config
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.equal(100, c.id_factor)
    assert.is_true(one_of(c.float_factor, {2.4, 1.6}))
    assert.equal("float", math.type(c.float_factor))
    assert.is_true(one_of(c.int_factor, {8, 12}))
    assert.equal("integer", math.type(c.int_factor))
    assert.equal(3, c.const_factor)
  end)

  it("testPerturbWithResample", function()
    local pbt, runner = basic_setup{resample_prob = 1.0}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    assert.equal("PAUSED", trials[1].status)
    local c = trials[1].config
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.equal(100, c.id_factor)
    assert.equal(100.0, c.float_factor)
    assert.equal("float", math.type(c.float_factor))
    assert.equal(10, c.int_factor)
    assert.equal("integer", math.type(c.int_factor))
    assert.equal(3, c.const_factor)
  end)

  it("testTuneSamplePrimitives", function()
    local pbt, runner = basic_setup{resample_prob = 1.0, hyperparam_mutations = {
      float_factor = function() return 100.0 end,
      int_factor = function() return 10 end,
      id_factor = tune.choice({100}),
    }}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    local c = trials[1].config
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.equal(100, c.id_factor)
    assert.equal(100.0, c.float_factor)
    assert.equal("float", math.type(c.float_factor))
    assert.equal(10, c.int_factor)
    assert.equal("integer", math.type(c.int_factor))
    assert.equal(3, c.const_factor)
  end)

  it("testTuneSampleFromError", function()
    assert.has_error(function()
      basic_setup{hyperparam_mutations = {float_factor = tune.sample_from(function() return 100.0 end)}}
    end)
  end)

  it("testPerturbationValues", function()
    local identity = function(x) return x end
    local function produces(fn, values)
      local rng = sample.Random(0)
      local seen, want = {}, {}
      for _ = 1, 100 do seen[fn(rng).v] = true end
      for _, v in ipairs(values) do want[v] = true end
      assert.same(want, seen)
    end
    local explore = PBT.explore
    -- Categorical.
    produces(function(r) return explore({v = 4}, {v = {3, 4, 8, 10}}, 0.0, identity, r) end, {3, 8})
    produces(function(r) return explore({v = 3}, {v = {3, 4, 8, 10}}, 0.0, identity, r) end, {3, 4})
    produces(function(r) return explore({v = 10}, {v = {3, 4, 8, 10}}, 0.0, identity, r) end, {8, 10})
    produces(function(r) return explore({v = 7}, {v = {3, 4, 8, 10}}, 0.0, identity, r) end, {3, 4, 8, 10})
    produces(function(r) return explore({v = 4}, {v = {3, 4, 8, 10}}, 1.0, identity, r) end, {3, 4, 8, 10})
    -- Continuous.
    local function ten_or_hundred(r) return r:choice({10, 100}) end
    produces(function(r) return explore({v = 100}, {v = ten_or_hundred}, 0.0, identity, r) end, {80, 120})
    produces(function(r) return explore({v = 100.0}, {v = ten_or_hundred}, 0.0, identity, r) end, {80.0, 120.0})
    produces(function(r) return explore({v = 100.0}, {v = ten_or_hundred}, 1.0, identity, r) end, {10, 100})
    -- Integers stay integers.
    local r = sample.Random(3)
    for _ = 1, 20 do
      assert.equal("integer", math.type(explore({v = 100}, {v = ten_or_hundred}, 0.0, nil, r).v))
    end

    -- Nested mutation and spec; custom_explore_fn called every time.
    local calls = 0
    local custom = function(x) calls = calls + 1 return x end
    for _, fn in ipairs({identity, custom}) do
      local rng = sample.Random(0)
      local seen_b, seen_3 = {}, {}
      for _ = 1, 100 do
        local c = explore({a = {b = 4}, ["1"] = {["2"] = {["3"] = 100}}},
          {a = {b = {3, 4, 8, 10}}, ["1"] = {["2"] = {["3"] = ten_or_hundred}}}, 0.0, fn, rng)
        seen_b[c.a.b] = true
        seen_3[c["1"]["2"]["3"]] = true
      end
      assert.same({[3] = true, [8] = true}, seen_b)
      assert.same({[80] = true, [120] = true}, seen_3)
    end
    assert.equal(100, calls)
    -- explore must get a config back.
    assert.has_error(function() explore({v = 1}, {v = {1, 2}}, 0.0, function() end, sample.Random(1)) end,
      "Custom explore fn failed to return new config")
    assert.has_error(function() explore({v = 1}, {v = {1, 2}}, 0.0, function() return "x" end, sample.Random(1)) end,
      "custom_explore_fn must return a config table, got string")
  end)

  it("testDictPerturbation", function()
    local pbt, runner = basic_setup{resample_prob = 1.0,
      hyperparams = {float_factor = 2.0, nest = {nest_float = 3.0}, int_factor = 10, const_factor = 3},
      hyperparam_mutations = {
        float_factor = function() return 100.0 end,
        nest = {nest_float = function() return 101.0 end},
        int_factor = function() return 10 end,
      }}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    local c = trials[1].config
    assert.is_true(one_of(trials[1].restored_checkpoint, {"trial_3", "trial_4"}))
    assert.equal(100.0, c.float_factor)
    assert.equal("float", math.type(c.float_factor))
    assert.equal(10, c.int_factor)
    assert.equal("integer", math.type(c.int_factor))
    assert.equal(3, c.const_factor)
    assert.equal(101.0, c.nest.nest_float)
    assert.equal("float", math.type(c.nest.nest_float))
  end)

  it("samples a nested key the config lacks when the trial is added (the exploit failed: it held nil)", function()
    local pbt = tune.schedulers.PopulationBasedTraining{metric = "m", mode = "max", seed = 1,
      hyperparam_mutations = {opt = {lr = {1, 2}, mom = tune.uniform(0.5, 1), deep = {x = {7}}}, top = {3}}}
    local runner = mock_runner(pbt)
    local t = mock_trial(0, {opt = {lr = 2}})
    runner:add_trial(t)
    assert.equal(2, t.config.opt.lr)
    assert.is_true(t.config.opt.mom >= 0.5 and t.config.opt.mom < 1)
    assert.same({x = 7}, t.config.opt.deep)
    assert.equal(3, t.config.top)
    assert.same({["opt/mom"] = t.config.opt.mom, ["opt/deep"] = {x = 7}, top = 3}, t.evaluated_params)
    local new = PBT.explore(t.config, pbt._hyperparam_mutations, 0, nil, sample.Random(2))
    assert.is_number(new.opt.mom)
  end)

  it("refuses a trial whose config its first exploit would fail on, when the trial is added", function()
    local refusal = require("tune.experiment.refusal")
    local function add(mutations, config, resample)
      local pbt = tune.schedulers.PopulationBasedTraining{metric = "m", mode = "max", seed = 1,
        hyperparam_mutations = mutations, resample_probability = resample}
      local runner = mock_runner(pbt)
      local ok, err = pcall(runner.add_trial, runner, mock_trial(0, config))
      return ok, refusal.message(err) or err
    end
    local ok, msg = add({opt = {d = tune.choice({"a", "b"})}}, {opt = {d = "a"}})
    assert.is_false(ok)
    assert.equal("PopulationBasedTraining: hyperparam_mutations has a search space at opt.d, which explore "
      .. "multiplies by 0.8 or 1.2, but trial 0's config holds string \"a\" there (for categorical values use a "
      .. "list in hyperparam_mutations)", msg)
    ok, msg = add({opt = {lr = {1, 2}}}, {opt = 5})
    assert.is_false(ok)
    assert.equal("PopulationBasedTraining: hyperparam_mutations has a nested table at opt, but trial 0's config "
      .. "holds 5 there", msg)
    ok, msg = add({d = tune.uniform(0, 1)}, {d = "50%s"}) -- (a % in the value is no format)
    assert.is_false(ok)
    assert.matches('holds string "50%s" there', msg, 1, true)
    ok, msg = add({f = function() return "x" end}, {f = true})
    assert.is_false(ok)
    assert.matches("has a function at f, which explore multiplies", msg, 1, true)
    -- Always resampled, a list, or a value to fill: nothing to refuse.
    assert.is_true((add({d = tune.choice({"a", "b"})}, {d = "a"}, 1)))
    assert.is_true((add({d = {"a", "b"}}, {d = "c"})))
    assert.is_true((add({opt = {lr = tune.uniform(0, 1)}}, {})))
  end)

  it("names a nested key it cannot explore by its path (it said \"d\" for opt.d)", function()
    local rng = sample.Random(1)
    local ok, e = pcall(PBT.explore, {opt = {d = "a"}}, {opt = {d = tune.choice({"a", "b"})}}, 0, nil, rng)
    assert.is_false(ok)
    assert.matches('cannot perturb config "opt.d": it holds string', e, 1, true)
    ok, e = pcall(PBT.explore, {opt = {sub = 5}}, {opt = {sub = {x = {1, 2}}}}, 0, nil, rng)
    assert.is_false(ok)
    assert.matches('nested table at "opt.sub", but the config holds number', e, 1, true)
  end)

  it("testYieldsTimeToOtherTrials", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    trials[1].status = "PENDING" -- not enough resources
    on_trial_result(pbt, runner, trials[2], result(20, 1000), PAUSE)
    assert.same({0, 1000, 100, 150, 200}, pbt:last_scores(trials))
    assert.equal(trials[1], pbt:choose_trial_to_run(runner))
  end)

  it("testSchedulesMostBehindTrialToRun", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(800, 1000))
    on_trial_result(pbt, runner, trials[2], result(700, 1001))
    on_trial_result(pbt, runner, trials[3], result(600, 1002))
    on_trial_result(pbt, runner, trials[4], result(500, 1003))
    on_trial_result(pbt, runner, trials[5], result(700, 1004))
    assert.is_nil(pbt:choose_trial_to_run(runner))
    for i = 1, 5 do trials[i].status = "PENDING" end
    assert.equal(trials[4], pbt:choose_trial_to_run(runner))
  end)

  it("testSchedulesMostBehindTrialToRunSynch", function()
    local pbt, runner = basic_setup{synch = true}
    local trials = runner:get_trials()
    local scores = {{800, 1000}, {700, 1001}, {600, 1002}, {500, 1003}, {700, 1004}}
    for i, s in ipairs(scores) do
      runner:process_action(trials[i], on_trial_result(pbt, runner, trials[i], result(s[1], s[2])))
    end
    assert.is_true(one_of(pbt:choose_trial_to_run(runner), {trials[1], trials[2], trials[4]}))
  end)

  it("testPerturbationResetsLastPerturbTime", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(10000, 1005))
    on_trial_result(pbt, runner, trials[2], result(10000, 1004))
    on_trial_result(pbt, runner, trials[3], result(600, 1003))
    assert.equal(0, pbt._num_perturbations)
    on_trial_result(pbt, runner, trials[4], result(500, 1002))
    assert.equal(1, pbt._num_perturbations)
    on_trial_result(pbt, runner, trials[4], result(600, 100))
    assert.equal(1, pbt._num_perturbations)
    on_trial_result(pbt, runner, trials[4], result(11000, 100))
    assert.equal(2, pbt._num_perturbations)
  end)

  local function check_policy(policy, tags_from, tags_to, iters_from, iters_to)
    assert.equal("integer", math.type(policy[3]))
    assert.equal("integer", math.type(policy[4]))
    assert.is_true(one_of(policy[1], tags_from), tostring(policy[1]))
    assert.is_true(one_of(policy[2], tags_to), tostring(policy[2]))
    assert.is_true(one_of(policy[3], iters_from), tostring(policy[3]))
    assert.is_true(one_of(policy[4], iters_to), tostring(policy[4]))
    for _, i in ipairs({5, 6}) do
      local c = policy[i]
      assert.equal("table", type(c))
      for _, key in ipairs({"const_factor", "int_factor", "float_factor", "id_factor"}) do
        assert.is_not_nil(c[key], key)
      end
      assert.equal("float", math.type(c.float_factor))
      assert.equal("integer", math.type(c.int_factor))
      assert.equal(3, c.const_factor)
      assert.is_true(one_of(c.int_factor, {8, 10, 12}))
      assert.is_true(one_of(c.float_factor, {2.4, 2, 1.6}))
      assert.is_true(one_of(c.id_factor, {3, 4, 100}))
    end
  end

  --- basic_setup(opts) with the trials' directories under a new tmpdir
  --- `name` and their last results at iterations 0, 1, ...
  local function logging_setup(opts, name)
    local pbt, runner = basic_setup(opts)
    local trials = runner:get_trials()
    local tmp = support.tmpdir(name)
    for i, trial in ipairs(trials) do
      trial.local_dir = tmp
      trial.last_result = {training_iteration = i - 1}
    end
    return pbt, runner, trials, tmp
  end

  it("testLogConfig", function()
    local pbt, runner, trials, tmp = logging_setup({log_config = true}, "pbt-log")
    on_trial_result(pbt, runner, trials[1], result(15, -100))
    on_trial_result(pbt, runner, trials[1], result(20, -100))
    on_trial_result(pbt, runner, trials[3], result(20, 40))
    for _, name in ipairs({"pbt_global.txt", "pbt_policy_0.txt", "pbt_policy_2.txt"}) do
      local lines = support.lines(tmp .. "/" .. name)
      assert.is_true(#lines > 0, name)
      for _, line in ipairs(lines) do
        -- The clone's iteration is its checkpoint's (saved at result(10, ...)
        -- or result(20, ...)); Ray's test expects its last result's (0, 2, 3, 4).
        check_policy(core.json_decode(line), {"0tag", "2tag", "3tag", "4tag"}, {"0tag", "2tag", "3tag", "4tag"},
          {0, 2, 3, 4}, {10, 20})
      end
    end
    -- pbt_global.txt holds both exploits, in order.
    assert.equal(2, #support.lines(tmp .. "/pbt_global.txt"))
  end)

  it("logs the iteration the clone's checkpoint was saved at, not the clone's last one (asynchronous)", function()
    -- The clone ran on past its checkpoint (CONTINUE: nothing waits): the
    -- exploited trial restarts from iteration 10, and a replay of its policy
    -- must change the config there, not at 13.
    local pbt, runner, trials, tmp = logging_setup({log_config = true}, "pbt-log-async")
    for i = 4, 5 do -- the top two, saved at 10 by basic_setup
      on_trial_result(pbt, runner, trials[i], result(13, 200), CONTINUE)
      trials[i].last_result = result(13, 200)
    end
    on_trial_result(pbt, runner, trials[1], result(20, -100))
    local policy = core.json_decode(support.lines(tmp .. "/pbt_global.txt")[1])
    assert.is_true(one_of(policy[2], {"3tag", "4tag"}))
    assert.equal(10, policy[4])
  end)

  it("fails on a custom_explore_fn that returns no config table, before it logs the config", function()
    -- A number got as far as pbt_global.txt and the policy files, then
    -- failed inside the tag's making ("attempt to index a number value").
    local pbt, runner, trials, tmp = logging_setup({log_config = true, explore = function() return 5 end},
      "pbt-explore-5")
    local config = util.deepcopy(trials[1].config)
    trials[1].status = "RUNNING"
    local ok, e = pcall(pbt.on_trial_result, pbt, runner, trials[1], result(20, -100))
    assert.is_false(ok)
    assert.equal("custom_explore_fn must return a config table, got number", tostring(e))
    assert.same(config, trials[1].config)
    assert.same({}, core.listdir(tmp))
  end)

  it("fails on an explored config that is not plain data, before it logs it", function()
    -- A function in it was logged (as "function: 0x..."), then the
    -- trial failed in Trial:set_config, at a line of pbt.lua.
    for _, case in ipairs({
      {function(c) c.f = print; return c end, "a function at config.f"},
      {function(c) c.me = c; return c end, "a table that contains itself at config.me"},
      -- A search space went to the trainable as its fields ({lower = 0, ...}).
      {function(c) c.opt = {lr = tune.uniform(0, 1)}; return c end, "a search space still to resolve at config.opt.lr"},
      {function(c) c.g = tune.grid_search({1, 2}); return c end, "a search space still to resolve at config.g"},
    }) do
      local pbt, runner, trials, tmp = logging_setup({log_config = true, explore = case[1]}, "pbt-explore-fn")
      local config = util.deepcopy(trials[1].config)
      trials[1].status = "RUNNING"
      local ok, e = pcall(pbt.on_trial_result, pbt, runner, trials[1], result(20, -100))
      assert.is_false(ok)
      assert.equal("the explored config holds " .. case[2] .. ": a trial's config must be plain data (check what "
        .. "custom_explore_fn or a hyperparam_mutations function returns)", tostring(e))
      assert.same(config, trials[1].config)
      assert.same({}, core.listdir(tmp))
    end
  end)

  it("testLogConfigSynch", function()
    local pbt, runner = basic_setup{log_config = true, synch = true, step_once = false}
    local trials = runner:get_trials()
    local tmp = support.tmpdir("pbt-log-synch")
    for i, trial in ipairs(trials) do
      trial.local_dir = tmp
      trial.last_result = {training_iteration = i - 1}
      on_trial_result(pbt, runner, trials[i], result(10, i - 1))
    end
    for _, name in ipairs({"pbt_global.txt", "pbt_policy_0.txt", "pbt_policy_1.txt"}) do
      local lines = support.lines(tmp .. "/" .. name)
      assert.is_true(#lines > 0, name)
      for _, line in ipairs(lines) do
        -- Ray logs the stale last_result of the trial whose result makes
        -- the sync (4tag here: 4); tunelua that result's iteration (10),
        -- the iteration its cloned checkpoint was saved at.
        check_policy(core.json_decode(line), {"0tag", "1tag"}, {"3tag", "4tag"}, {0, 1}, {3, 10})
      end
    end
  end)

  it("testPostprocessingHook", function()
    local function explore(new_config)
      new_config.id_factor = 42
      new_config.float_factor = 43
      return new_config
    end
    local pbt, runner = basic_setup{resample_prob = 0.0, explore = explore}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    assert.equal(42, trials[1].config.id_factor)
    assert.equal(43, trials[1].config.float_factor)
  end)

  it("testFastPerturb", function()
    local pbt, runner = basic_setup{perturbation_interval = 1, step_once = false, log_config = true}
    local trials = runner:get_trials()
    local tmp = support.tmpdir("pbt-fast")
    for _, trial in ipairs(trials) do
      trial.local_dir = tmp
      trial.last_result = {}
    end
    on_trial_result(pbt, runner, trials[1], result(1, 10))
    on_trial_result(pbt, runner, trials[3], result(1, 200), CONTINUE)
    assert.equal(1, pbt._num_checkpoints)
    pbt:_exploit(runner, trials[2], trials[3])
    assert.equal("trial_2", trials[2].restored_checkpoint)
    assert.equal("PAUSED", trials[2].status)
  end)

  it("testBurnInPeriod", function()
    -- Ray 2.0's version: no hyperparam_mutations; the trials report PAUSED.
    local scheduler = tune.schedulers.PopulationBasedTraining{time_attr = "training_iteration", metric = "error",
      mode = "min", perturbation_interval = 5, burn_in_period = 50, log_config = true, synch = true, seed = 1}
    local runner = mock_runner(scheduler)
    runner.experiment_dir = support.tmpdir("pbt-burn-in")
    local function paused_trial(i)
      local t = mock_trial(i, {num = i})
      t.status = "PAUSED"
      return setmetatable(t, {__index = MockTrial.__index, __newindex = function(tt, k, v)
        if k ~= "status" then rawset(tt, k, v) end -- always PAUSED
      end})
    end
    local trials = {}
    for i = 1, 4 do
      trials[i] = paused_trial(i)
      rawset(trials[i], "status", "PAUSED")
      runner:add_trial(trials[i])
      scheduler:on_trial_add(runner, trials[i]) -- again: idempotent
    end
    local errors = {50, 50, 10, 100}
    for _, it in ipairs({1, 30}) do
      for i = 1, 4 do scheduler:on_trial_result(runner, trials[i], {training_iteration = it, error = errors[i]}) end
    end
    assert.equal(4, trials[4].config.num) -- no exploit during the burn-in
    for i = 1, 4 do scheduler:on_trial_result(runner, trials[i], {training_iteration = 50, error = errors[i]}) end
    assert.equal(3, trials[4].config.num) -- after it, the worst clones the best
    for _, t in ipairs(runner:get_trials()) do assert.equal("PAUSED", t.status) end
    assert.truthy(scheduler:choose_trial_to_run(runner))
    -- A terminated trial does not make the others hang.
    local trial5 = mock_trial(5, {num = 5})
    runner:add_trial(trial5)
    trial5.status = "TERMINATED"
    assert.truthy(scheduler:choose_trial_to_run(runner))
  end)

  it("ranks a NaN score below every number", function()
    local pbt, runner = basic_setup()
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[5], result(20, 0 / 0), PAUSE)
    assert.truthy(trials[5].experiment_tag:find("@perturbed", 1, true))
    assert.is_true(one_of(trials[5].restored_checkpoint, {"trial_2", "trial_3"}))
    local lower, upper = pbt:_quantiles(runner)
    assert.equal(2, #lower)
    assert.equal(2, #upper)
  end)

  it("synch: a top trial paused past the next sync point keeps its pause checkpoint when it drops out of the top", function()
    -- A paused at t=10 is the top trial at sync point 2 (PBT takes its
    -- pause checkpoint over; D clones it), waits paused until sync point
    -- 10, where it is neither top nor bottom: it restarts from that
    -- checkpoint, which PBT deleted once D no longer needed it.
    local tmp = support.tmpdir("pbt-paused-top")
    local pbt = tune.schedulers.PopulationBasedTraining{time_attr = "t", metric = "score", mode = "max",
      perturbation_interval = 2, synch = true, log_config = false, seed = 1}
    local runner = mock_runner(pbt)
    runner.trial_executor.claim_memory_checkpoint = function() return true end
    local trials = {}
    for i, name in ipairs({"A", "B", "C", "D"}) do
      local t = mock_trial(i, {kind = name})
      t.trainable_name = tmp .. "/" .. name  -- its checkpoint's directory
      assert(core.mkdir_p(t.trainable_name))
      runner:add_trial(t)
      trials[name] = t
    end
    local function report(name, t, score)
      local trial = trials[name]
      trial.status = "RUNNING"
      runner:process_action(trial, pbt:on_trial_result(runner, trial, {t = t, score = score}))
    end
    report("A", 10, 50)
    report("B", 2, 40)
    report("C", 2, 30)
    report("D", 2, 20)
    assert.equal(tmp .. "/A", trials.D.restored_checkpoint)
    assert.equal(10, pbt._next_perturbation_sync)
    assert.equal("PAUSED", trials.A.status)
    report("B", 10, 100)
    report("C", 10, 30)
    assert.equal(tmp .. "/B", trials.D.restored_checkpoint)
    report("D", 11, 100) -- D restored B's checkpoint
    assert.equal("PAUSED", trials.A.status)
    assert.equal("directory", core.stat(tmp .. "/A") or "deleted")
    -- Once A has run on (a newer checkpoint), PBT deletes it.
    trials.A.trainable_name = tmp .. "/A2"
    pbt:on_trial_complete(runner, trials.C, nil)
    assert.is_nil(core.stat(tmp .. "/A"))
  end)

  it("is reproducible with a seed", function()
    local function run(seed)
      local pbt, runner = basic_setup{resample_prob = 0.5, seed = seed, hyperparam_mutations = {
        float_factor = tune.uniform(0, 10), int_factor = tune.randint(1, 100), id_factor = {100, 200, 300}}}
      local trials = runner:get_trials()
      for round = 2, 5 do
        for i, t in ipairs(trials) do
          on_trial_result(pbt, runner, t, result(10 * round, (i * 37 * round) % 101))
        end
      end
      local out = {}
      for i, t in ipairs(trials) do out[i] = {t.config, t.experiment_tag, t.restored_checkpoint} end
      return out, pbt._num_perturbations
    end
    local a, na = run(7)
    local b, nb = run(7)
    assert.is_true(na > 0)
    assert.equal(na, nb)
    assert.same(a, b)
  end)

  it("saves and restores its state (JSON), re-linking trials through the runner", function()
    local pbt, runner = basic_setup{seed = 3}
    local trials = runner:get_trials()
    on_trial_result(pbt, runner, trials[1], result(20, -100), PAUSE)
    local state = pbt:save()
    local text = assert(core.json_encode(state))
    local copy = basic_setup{step_once = false, num_trials = 0, seed = 99}
    copy:restore(core.json_decode(text))
    assert.same(pbt:last_scores(trials), copy:last_scores(trials))
    assert.equal(pbt._num_perturbations, copy._num_perturbations)
    assert.equal(pbt._next_perturbation_sync, copy._next_perturbation_sync)
    assert.equal(pbt._trial_state["0"].last_perturbation_time, copy._trial_state["0"].last_perturbation_time)
    assert.equal(pbt._trial_state["0"].orig_tag, copy._trial_state["0"].orig_tag)
    -- The generators go on alike.
    assert.equal(pbt._rng:random(), copy._rng:random())
    -- Resume: the runner adds the trials again; the state stays.
    for _, t in ipairs(trials) do copy:on_trial_add(runner, t) end
    assert.same(pbt:last_scores(trials), copy:last_scores(trials))
    -- Memory checkpoints do not survive a restore: the top trials save
    -- again at their next perturbation, and the next decision is made on
    -- the whole population (trials found through runner:get_trial).
    copy._trials = {}
    on_trial_result(copy, runner, trials[4], result(20, 250))
    on_trial_result(copy, runner, trials[5], result(20, 300))
    on_trial_result(copy, runner, trials[3], result(20, -50), PAUSE)
    assert.truthy(trials[3].experiment_tag:find("@perturbed", 1, true))
    assert.is_true(one_of(trials[3].restored_checkpoint, {"trial_3", "trial_4"}))
    -- on_trial_add fills missing hyperparameters only once.
    local filled = tune.schedulers.PopulationBasedTraining{metric = "m", mode = "max", seed = 5,
      hyperparam_mutations = {lr = tune.uniform(0, 1), opt = {"sgd", "adam"}}}
    local r2 = mock_runner(filled)
    local t = mock_trial(9, {})
    r2:add_trial(t)
    local lr = t.config.lr
    assert.is_true(lr >= 0 and lr < 1)
    assert.is_true(one_of(t.config.opt, {"sgd", "adam"}))
    assert.equal(lr, t.evaluated_params.lr)
    filled:on_trial_add(r2, t)
    assert.equal(lr, t.config.lr)
    assert.has_error(function() pbt:restore("x") end)
  end)

  it("restore removes no file: the memory checkpoints it names may be a copied experiment's original's", function()
    -- A resume of a copy deleted them in the original (and before it was
    -- accepted); the resume removes its own trials' once accepted.
    local dir = support.tmpdir("pbt-restore-owned") .. "/t/.memory_checkpoint_000001"
    assert(core.mkdir_p(dir))
    local pbt = tune.schedulers.PopulationBasedTraining{metric = "m", mode = "max", seed = 1,
      hyperparam_mutations = {lr = tune.uniform(0, 1)}}
    pbt:restore({trial_state = {}, owned_checkpoints = {dir}})
    assert.equal("directory", core.stat(dir))
  end)
end)

------------------------------------------------------------------------
-- Through tune.run (E2EPopulationBasedTestingSuite, test_trial_scheduler_pbt.py)
------------------------------------------------------------------------

local function memory_dirs_left(analysis)
  local n = 0
  for _, t in ipairs(analysis.trials) do
    for _, name in ipairs(core.listdir(t.logdir) or {}) do
      if name:match("^%.memory_checkpoint") then n = n + 1 end
    end
  end
  return n
end

local function max_of(analysis, key)
  local out = {}
  for i, t in ipairs(analysis.trials) do
    local best
    for _, line in ipairs(support.lines(t.logdir .. "/result.json")) do
      local r = core.json_decode(line)
      if r and r[key] and (best == nil or r[key] > best) then best = r[key] end
    end
    out[i] = best
  end
  return out
end

local function mock_param(values)
  local i = 0
  return function()
    i = i + 1
    return values[(i - 1) % #values + 1]
  end
end

describe("PopulationBasedTraining through tune.run", function()
  local dir
  before_each(function() dir = support.tmpdir("pbt-run") end)
  after_each(support.check_clean)

  local function pbt(o)
    o.time_attr = o.time_attr or "training_iteration"
    o.seed = o.seed or 1
    return tune.schedulers.PopulationBasedTraining(o)
  end

  local trial_hyperparams = {float_factor = 2.0, const_factor = 3, int_factor = 10, id_factor = 0}
  local mutations = {float_factor = function() return 100.0 end, int_factor = function() return 10 end,
    id_factor = {100}}

  it("testCheckpointing (a checkpoint file)", function()
    local out = tune.run("pbt_ckpt_file", {num_samples = 3, checkpoint_freq = 3, config = trial_hyperparams,
      stop = {training_iteration = 12}, reuse_actors = true, verbose = 0, local_dir = dir,
      scheduler = pbt{metric = "mean_accuracy", mode = "max", perturbation_interval = 2,
        hyperparam_mutations = mutations}})
    for _, t in ipairs(out.trials) do
      assert.equal("TERMINATED", t.status)
      assert.is_true(t:has_checkpoint())
    end
    assert.equal(0, memory_dirs_left(out))
  end)

  it("testCheckpointDict (a table checkpoint)", function()
    local out = tune.run("pbt_ckpt_dict", {num_samples = 3, checkpoint_freq = 3, config = trial_hyperparams,
      stop = {training_iteration = 12}, reuse_actors = true, verbose = 0, local_dir = dir,
      scheduler = pbt{metric = "mean_accuracy", mode = "max", perturbation_interval = 2,
        hyperparam_mutations = mutations}})
    for _, t in ipairs(out.trials) do
      assert.equal("TERMINATED", t.status)
      assert.is_true(t:has_checkpoint())
    end
  end)

  local function synch_setup(synch, param)
    local param_a = mock_param(param or {10, 20, 40})
    return tune.run("pbt_sync_func", {
      config = {a = tune.sample_from(function() return param_a() end), c = 1},
      fail_fast = true, num_samples = 3, stop = {training_iteration = 3}, verbose = 0, local_dir = dir,
      scheduler = pbt{metric = "mean_accuracy", mode = "max", perturbation_interval = 1, log_config = true,
        hyperparam_mutations = {c = function() return 1 end}, synch = synch},
    })
  end

  it("testAsynchFail", function()
    local best = max_of(synch_setup(false), "mean_accuracy")
    local any_other = false
    for _, v in ipairs(best) do if v ~= 43 then any_other = true end end
    assert.is_true(any_other)
  end)

  it("testSynchPass", function()
    for _, v in ipairs(max_of(synch_setup(true), "mean_accuracy")) do assert.equal(43, v) end
  end)

  it("testSynchPassLast", function()
    for _, v in ipairs(max_of(synch_setup(true, {30, 20, 10}), "mean_accuracy")) do assert.equal(33, v) end
  end)

  it("testExploitWhileSavingTrial", function()
    -- A trial stopped by an exploit while it saves must not hang: it goes
    -- on from the clone's checkpoint.
    local training_times = {[0] = 0.05, [1] = 0.08}
    local saving_times = {[0] = 0.5, [1] = 0.05}
    local stopper = tune.stopper
    local out = tune.run("pbt_slow_save", {
      config = {
        a = tune.uniform(0, 1),
        score = tune.grid_search({0, 1}),
        training_time = tune.sample_from(function(spec) return training_times[spec.config.score] end),
        saving_time = tune.sample_from(function(spec) return saving_times[spec.config.score] end),
      },
      scheduler = pbt{metric = "score", mode = "max", perturbation_interval = 2,
        hyperparam_mutations = {a = tune.uniform(0, 1)}, synch = true},
      stop = stopper.CombinedStopper(stopper.MaximumIterationStopper(5), stopper.TimeoutStopper(30)),
      fail_fast = true, checkpoint_freq = 2, verbose = 0, local_dir = dir, seed = 100,
    })
    for _, t in ipairs(out.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(5, t.last_result.training_iteration, "a trial hung")
    end
  end)

  it("testNoConfig", function()
    local out = tune.run("pbt_no_config", {fail_fast = true, num_samples = 4, stop = {training_iteration = 3},
      verbose = 0, local_dir = dir,
      scheduler = pbt{metric = "mean_accuracy", mode = "max", perturbation_interval = 1, hyperparam_mutations = {
        a = tune.uniform(0, 0.3),
        b = {1, 2, 3},
        c = {c1 = function(rng) return rng:uniform(0.5, 1.0) end, c2 = tune.choice({2, 3, 4})},
      }}})
    for _, t in ipairs(out.trials) do
      assert.equal("TERMINATED", t.status)
      assert.is_number(t.config.a)
      assert.is_number(t.config.c.c1)
    end
  end)

  local function permutation(trainable, extra)
    local param_a = mock_param({10, 20, 30, 40})
    local param_b = mock_param({1.2, 0.9, 1.1, 0.8})
    local opts = {
      config = {a = tune.sample_from(function() return param_a() end),
        b = tune.sample_from(function() return param_b() end), c = 1},
      fail_fast = true, num_samples = 4, keep_checkpoints_num = 1,
      checkpoint_score_attr = "min-training_iteration", stop = {training_iteration = 3},
      verbose = 0, local_dir = dir,
      scheduler = pbt{metric = "mean_accuracy", mode = "max", perturbation_interval = 1, log_config = true,
        hyperparam_mutations = {c = function() return 1 end}},
    }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local out = tune.run(trainable, opts)
    for _, t in ipairs(out.trials) do assert.equal("TERMINATED", t.status) end
    return out
  end

  it("testPermutationContinuation", function()
    local out = permutation("pbt_perm_class", {checkpoint_freq = 1, checkpoint_at_end = true})
    assert.equal(0, memory_dirs_left(out))
  end)

  it("testPermutationContinuationFunc", function()
    permutation("pbt_perm_func")
  end)

  -- Every change of lineage in a trial's results continues the state some
  -- other trial had one iteration earlier. Returns the number of exploits
  -- seen and the rows by trial.
  local function check_lineage(out)
    local rows = {}
    for _, t in ipairs(out.trials) do
      rows[t.trial_id] = {}
      for _, line in ipairs(support.lines(t.logdir .. "/result.json")) do
        table.insert(rows[t.trial_id], core.json_decode(line))
      end
    end
    local exploited = 0
    for id, list in pairs(rows) do
      for i = 2, #list do
        local r, prev = list[i], list[i - 1]
        if r.origin ~= prev.origin or r.w ~= prev.w + r.rate then
          -- Not its own state going on: some other trial had exactly this
          -- lineage and w one iteration earlier (the clone's checkpoint).
          exploited = exploited + 1
          local found = false
          for other, olist in pairs(rows) do
            if other ~= id then
              for _, s in ipairs(olist) do
                if s.origin == r.origin and s.training_iteration == r.training_iteration - 1
                    and s.w + r.rate == r.w then
                  found = true
                end
              end
            end
          end
          assert.is_true(found, string.format("trial %s at %d: w=%s origin=%s comes from no clone", id,
            r.training_iteration, tostring(r.w), tostring(r.origin)))
        end
      end
    end
    return exploited, rows
  end

  local function weight_run(trainable, extra)
    local rates = mock_param({1, 2, 3, 4})
    local opts = {
      config = {rate = tune.sample_from(function() return rates() end)},
      num_samples = 4, stop = {training_iteration = 6}, verbose = 0, local_dir = dir, fail_fast = true,
      scheduler = pbt{metric = "score", mode = "max", perturbation_interval = 2, synch = true,
        hyperparam_mutations = {rate = {1, 2, 3, 4}}, resample_probability = 0},
    }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tune.run(trainable, opts)
  end

  it("an exploited trial continues from the clone's state", function()
    local out = weight_run("pbt_weight")
    local exploited = check_lineage(out)
    assert.is_true(exploited >= 2, "exploits seen: " .. exploited)
    assert.equal(0, memory_dirs_left(out))
  end)

  it("an exploited class trainable is reset in place (reuse_actors) and restores the clone", function()
    local out = weight_run("pbt_weight_class", {reuse_actors = true})
    local exploited, rows = check_lineage(out)
    assert.is_true(exploited >= 2, "exploits seen: " .. exploited)
    -- Workers were reused: reset_config ran, and fewer processes served
    -- the trials than there were starts.
    local pids, resets = {}, 0
    local npids = 0
    for _, list in pairs(rows) do
      for _, r in ipairs(list) do
        if not pids[r.pid] then pids[r.pid], npids = true, npids + 1 end
        resets = math.max(resets, r.resets)
      end
    end
    assert.is_true(resets >= 1)
    assert.is_true(npids < 4 + exploited, npids .. " workers")
    assert.equal(0, memory_dirs_left(out))
  end)
end)
