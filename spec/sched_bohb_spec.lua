-- BOHB: HyperBandForBOHB judged by Ray's BOHBSuite (test_trial_scheduler.py:
-- testLargestBracketFirst, testCheckTrialInfoUpdate(Min),
-- testPauseResumeChooseTrial, testNonstopBOHB) and TuneBOHB by Ray's
-- conversion and searcher tests (test_sample.py testConvertBOHB,
-- points_to_evaluate), plus its densities and state.
local tune = require("tune")
local core = require("tune.core")
local sample = require("tune.search.sample")
local kde = require("tune.search.bohb_kde")
local support = require("spec.support")
local mock_runner = require("spec.fixtures.mock_runner")

local TrialScheduler = tune.schedulers.TrialScheduler
local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
local HyperBandForBOHB = tune.schedulers.HyperBandForBOHB
local TuneBOHB = tune.search.TuneBOHB

local function result(score, ts) return {episode_reward_mean = score, training_iteration = ts} end

local n = 0
local function fake()
  n = n + 1
  return tune.Trial("__fake", {trial_id = string.format("bohb_%04d", n)})
end

--- A runner whose search algorithm's searcher counts pause notices (Ray's
--- MagicMock searcher).
local function runner_with_searcher(sched)
  local runner = mock_runner(sched)
  local calls = {on_pause = 0, on_unpause = 0}
  runner.search_alg = {searcher = {
    on_pause = function() calls.on_pause = calls.on_pause + 1 end,
    on_unpause = function() calls.on_unpause = calls.on_unpause + 1 end,
  }}
  return runner, calls
end

--- Three trials added through the runner and launched.
local function three_trials(runner)
  local trials = {fake(), fake(), fake()}
  for _, t in ipairs(trials) do
    runner:add_trial(t)
    runner:_launch_trial(t)
  end
  return trials
end

describe("HyperBandForBOHB (Ray's BOHBSuite)", function()
  it("testLargestBracketFirst", function()
    local sched = HyperBandForBOHB{metric = "episode_reward_mean", mode = "max", max_t = 3, reduction_factor = 3}
    local runner = mock_runner(sched)
    for _ = 1, 3 do
      local t = fake()
      sched:on_trial_add(runner, t)
      runner:_launch_trial(t)
    end
    assert.equal(1, sched:state().num_brackets)
    sched:on_trial_add(runner, fake())
    assert.equal(2, sched:state().num_brackets)
  end)

  for _, case in ipairs({{mode = "max", last = STOP}, {mode = "min", last = CONTINUE}}) do
    it("testCheckTrialInfoUpdate" .. (case.mode == "min" and "Min" or ""), function()
      local sched = HyperBandForBOHB{metric = "episode_reward_mean", mode = case.mode, max_t = 3,
        reduction_factor = 3}
      local runner, calls = runner_with_searcher(sched)
      local trials = three_trials(runner)
      for i, r in ipairs({result(1, 1), result(2, 1)}) do
        assert.equal(PAUSE, sched:on_trial_result(runner, trials[i], r))
        runner:pause_trial(trials[i])
      end
      local spy = result(0, 1)
      assert.equal(case.last, sched:on_trial_result(runner, trials[3], spy))
      sched:choose_trial_to_run(runner)
      assert.is_table(spy.hyperband_info)
      assert.equal(1, spy.hyperband_info.budget)
      assert.equal(2, calls.on_pause)
    end)
  end

  it("testPauseResumeChooseTrial", function()
    local sched = HyperBandForBOHB{metric = "episode_reward_mean", mode = "min", max_t = 10, reduction_factor = 3}
    local runner, calls = runner_with_searcher(sched)
    local trials = three_trials(runner)
    for i, r in ipairs({result(1, 5), result(2, 1), result(3, 5)}) do
      assert.equal(PAUSE, sched:on_trial_result(runner, trials[i], r))
      runner:pause_trial(trials[i])
    end
    local chosen = sched:choose_trial_to_run(runner)
    assert.equal(trials[2], chosen)
    assert.same({"PAUSED", "PENDING", "PAUSED"}, {trials[1].status, trials[2].status, trials[3].status})
    assert.equal(1, calls.on_unpause)
  end)

  it("is tune.create_scheduler('hb_bohb') with HyperBand's options", function()
    local s = tune.create_scheduler("hb_bohb", {max_t = 9, metric = "m", mode = "min"})
    assert.equal("HyperBandForBOHB", s.__name)
    assert.has_error(function() tune.create_scheduler("hb_bohb", {max_tt = 9}) end)
    -- A third argument (options spread over two tables) was ignored.
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function() local x = tune.create_scheduler("hb_bohb", {max_t = 9}, "min"); return x end)
    assert.is_false(ok)
    assert.equal("sched_bohb_spec.lua:" .. line .. ": create_scheduler: takes (name, opts), got 3 arguments",
      tostring(e):match("[^/]*$"))
    ok, e = pcall(function() local x = tune.create_searcher("bohb", {seed = 1}, {metric = "m"}); return x end)
    assert.is_false(ok)
    assert.matches("create_searcher: takes (name, opts), got 3 arguments", tostring(e), 1, true)
  end)

  it("shows a string given for a number as a string", function()
    for _, case in ipairs({{{max_t = "27"}, 'HyperBandForBOHB: max_t must be a finite number, got string "27"'},
        {{reduction_factor = "3"}, 'HyperBandForBOHB: reduction_factor must be a finite number, got string "3"'},
        {{max_t = 0 / 0}, "HyperBandForBOHB: max_t must be a finite number, got nan"}}) do
      local ok, e = pcall(HyperBandForBOHB, case[1])
      assert.is_false(ok)
      assert.matches(case[2] .. "$", tostring(e))
    end
  end)
end)

describe("TuneBOHB", function()
  local space = {a = tune.choice({2, 3, 4}), b = {x = tune.qrandint(0, 5, 2), y = 4, z = tune.loguniform(1e-4, 1e-2)},
    n = tune.randn(1, 2)}

  it("testConvertBOHB: samples every kind of parameter within its domain and keeps constants", function()
    local s1 = TuneBOHB{space = space, metric = "a", mode = "max", seed = 1234}
    local s2 = TuneBOHB{space = space, metric = "a", mode = "max", seed = 1234}
    for i = 1, 20 do
      local c1, c2 = s1:suggest(tostring(i)), s2:suggest(tostring(i))
      assert.same(c1, c2)
      assert.is_true(c1.a == 2 or c1.a == 3 or c1.a == 4)
      assert.is_true(c1.b.x == 0 or c1.b.x == 2 or c1.b.x == 4, tostring(c1.b.x))
      assert.equal("integer", math.type(c1.b.x))
      assert.is_true(c1.b.z > 1e-4 and c1.b.z < 1e-2)
      assert.equal(4, c1.b.y)
      assert.is_number(c1.n)
    end
    assert.has_error(function() TuneBOHB{space = {g = tune.grid_search({0, 1})}} end)
    assert.has_error(function() TuneBOHB{space = {f = tune.sample_from(function() return 1 end)}} end)
  end)

  it("maps a randn parameter through the normal CDF and back", function()
    for x = -4, 4, 0.5 do
      assert.near(x, TuneBOHB._phi_inv(TuneBOHB._phi(x)), 1e-6)
    end
    assert.near(0.975, TuneBOHB._phi(1.959963984540054), 1e-9)
  end)

  it("runs under tune.run with the config's space, points_to_evaluate first", function()
    local dir = support.tmpdir("bohb-run")
    require("spec.fixtures.run_trainables")
    local searcher = TuneBOHB{points_to_evaluate = {{x = 7}}, seed = 3}
    local a = tune.run("steps", {search_alg = searcher, metric = "score", mode = "max", num_samples = 3,
      config = {x = tune.uniform(0, 10), steps = 1}, local_dir = dir, verbose = 0})
    assert.equal(3, #a.trials)
    assert.equal(7, a.trials[1].config.x)
    for _, t in ipairs(a.trials) do
      assert.equal(1, t.config.steps)
      assert.is_true(t.config.x >= 0 and t.config.x <= 10)
    end
  end)

  it("takes tune.run's config when its own space is empty (Ray's `if space`)", function()
    local dir = support.tmpdir("bohb-empty-space")
    require("spec.fixtures.run_trainables")
    local a = tune.run("steps", {search_alg = TuneBOHB{space = {}, seed = 3}, metric = "score", mode = "max",
      num_samples = 2, config = {x = tune.uniform(0, 10), steps = 1}, local_dir = dir, verbose = 0})
    assert.equal(2, #a.trials)
    for _, t in ipairs(a.trials) do assert.is_true(t.config.x >= 0 and t.config.x <= 10) end
  end)

  it("uses a point as given, warning of a value outside its domain (Ray pops the point and returns it)", function()
    -- A point with one value outside its domain was dropped whole: the
    -- trial got random values for every key.
    local s = TuneBOHB{space = {d = tune.uniform(0, 0.5), n = tune.randint(0, 3), c = tune.choice({"a", "b"})},
      metric = "m", mode = "min", seed = 1,
      points_to_evaluate = {{d = 0.7, n = 2, c = "b", extra = {1, 2}}, {d = 0.5, n = 2, c = "b"}, {c = "z"}}}
    local stderr, written = io.stderr, {}
    io.stderr = {write = function(_, ...) for _, x in ipairs({...}) do written[#written + 1] = x end end}
    local ok, c1, c2, c3 = pcall(function() return s:suggest("1"), s:suggest("2"), s:suggest("3") end)
    io.stderr = stderr
    assert.is_true(ok, c1)
    local out = table.concat(written)
    assert.same({d = 0.7, n = 2, c = "b", extra = {1, 2}}, c1)
    assert.same({d = 0.5, n = 2, c = "b"}, c2) -- a float's upper bound is in its domain (Ray's Float.is_valid)
    assert.equal("z", c3.c)
    assert.is_true(c3.d >= 0 and c3.d <= 0.5 and c3.n >= 0 and c3.n < 3)
    assert.matches("Pre-set value `0.7` is not within valid values of parameter `d`: uniform(0, 0.5)", out, 1, true)
    assert.matches("Pre-set value `z` is not within valid values of parameter `c`: choice([\"a\", \"b\"])", out, 1,
      true)
    assert.not_matches("`0.5`", out, 1, true)
    -- The model learns from the trials whose values lie in their domains.
    for _, id in ipairs({"1", "2", "3"}) do s:on_trial_result(id, {m = 1, hyperband_info = {budget = 1}}) end
    assert.equal(1, #s.bohber.configs[1])
  end)

  it("refuses options out of the ranges BOHB works in", function()
    local function err(opts)
      local ok, e = pcall(TuneBOHB, opts)
      assert.is_false(ok, "accepted")
      return e
    end
    assert.matches("TuneBOHB: max_concurrent must be an integer >= 0", err{max_concurrent = -1}, 1, true)
    assert.matches('TuneBOHB: max_concurrent must be an integer >= 0 (0: no limit), got string "2"',
      err{max_concurrent = "2"}, 1, true)
    -- The options every searcher shares name TuneBOHB too.
    assert.matches("TuneBOHB: seed must be an integer or nil (got string)", err{seed = "x"}, 1, true)
    assert.matches("TuneBOHB: seed must be an integer or nil (got 1.5)", err{seed = 1.5}, 1, true)
    assert.matches("TuneBOHB: `mode` must be 'min' or 'max'", err{mode = "x"}, 1, true)
    -- One config where a list of them was meant was dropped silently.
    assert.matches('TuneBOHB: points_to_evaluate expected to be a list, got a table with key "lr"',
      err{points_to_evaluate = {lr = 0.05}}, 1, true)
    assert.matches("TuneBOHB: points_to_evaluate expected to be a list, got number", err{points_to_evaluate = 5}, 1,
      true)
    for _, case in ipairs({
      {{num_samples = 0}, "num_samples must be an integer >= 1, got 0"},
      {{num_samples = 2.5}, "num_samples must be an integer >= 1, got 2.5"},
      {{top_n_percent = 200}, "top_n_percent must be a number in (0, 100), got 200"},
      {{top_n_percent = 0}, "top_n_percent must be a number in (0, 100), got 0"},
      {{bandwidth_factor = -1}, "bandwidth_factor must be a number > 0, got -1"},
      {{random_fraction = 2}, "random_fraction must be a number in [0, 1], got 2"},
      {{min_bandwidth = 0}, "min_bandwidth must be a number > 0, got 0"},
      {{min_points_in_model = -1}, "min_points_in_model must be an integer >= 0"},
      {{min_points_in_model = "3"}, "min_points_in_model must be an integer >= 0"},
    }) do
      assert.matches("TuneBOHB: bohb_config." .. case[2], err{bohb_config = case[1]}, 1, true)
    end
    assert.has_no.errors(function()
      TuneBOHB{max_concurrent = 0, bohb_config = {num_samples = 1, top_n_percent = 50, bandwidth_factor = 0.5,
        random_fraction = 0, min_bandwidth = 1e-6, min_points_in_model = 0}}
      TuneBOHB{bohb_config = {random_fraction = 1}}
    end)
  end)

  it("saves to a file and restores from it given a path (Ray's save/restore(checkpoint_path))", function()
    local dir = support.tmpdir("bohb-save")
    local function make() return TuneBOHB{space = {x = tune.uniform(0, 1)}, metric = "m", mode = "min", seed = 4} end
    local a = make()
    for i = 1, 12 do
      local c = a:suggest("t" .. i)
      a:on_trial_result("t" .. i, {m = c.x, hyperband_info = {budget = 1}})
      a:on_trial_complete("t" .. i)
    end
    a:save(dir .. "/bohb.json")
    local b = TuneBOHB{space = {x = tune.uniform(0, 1)}, metric = "m", mode = "min"}
    b:restore(dir .. "/bohb.json")
    assert.equal(12, #b.bohber.configs[1])
    for i = 1, 5 do assert.same(a:suggest("n" .. i), b:suggest("n" .. i)) end
    local ok, e = pcall(b.restore, b, dir .. "/none.json")
    assert.is_false(ok)
    assert.matches("TuneBOHB:restore: cannot read " .. dir .. "/none.json (No such file or directory)", e, 1, true)
  end)

  it("learns a trial's result at a budget once: a retry or a resume reports it again", function()
    local s = TuneBOHB{space = {x = tune.uniform(0, 1)}, metric = "m", mode = "min", seed = 2}
    local c = s:suggest("t1")
    s:on_trial_result("t1", {m = c.x, hyperband_info = {budget = 1}})
    s:on_trial_result("t1", {m = c.x, hyperband_info = {budget = 1}})
    assert.equal(1, #s.bohber.configs[1])
    local again = TuneBOHB{space = {x = tune.uniform(0, 1)}, metric = "m", mode = "min"}
    again:restore(core.json_decode(core.json_encode(s:save())))
    again:on_trial_result("t1", {m = c.x, hyperband_info = {budget = 1}})
    again:on_trial_result("t1", {m = c.x, hyperband_info = {budget = 3}})
    assert.equal(1, #again.bohber.configs[1])
    assert.equal(1, #again.bohber.configs[3])
    -- A trial that ended is forgotten with its budgets.
    again:on_trial_complete("t1")
    assert.same({}, again:save().reported)
  end)

  it("counts only running trials against max_concurrent, not paused ones", function()
    local s = TuneBOHB{space = {x = tune.uniform(0, 1)}, metric = "m", mode = "min", max_concurrent = 2, seed = 1}
    assert.is_table(s:suggest("1"))
    assert.is_table(s:suggest("2"))
    assert.is_nil(s:suggest("3"))
    s:on_pause("1")
    assert.is_table(s:suggest("3"))
    s:on_unpause("1")
    assert.is_nil(s:suggest("4"))
    s:on_trial_complete("2")
    s:on_trial_complete("3")
    assert.is_table(s:suggest("4"))
  end)

  it("proposes near the good results once a budget has a model, and survives save/restore", function()
    local s = TuneBOHB{space = {x = tune.uniform(0, 1), y = tune.uniform(0, 1)}, metric = "loss", mode = "min",
      seed = 5, bohb_config = {random_fraction = 0}}
    for i = 1, 40 do
      local id = "t" .. i
      local c = s:suggest(id)
      local loss = (c.x - 0.2) ^ 2 + (c.y - 0.7) ^ 2
      s:on_trial_result(id, {loss = loss, hyperband_info = {budget = 1}})
      s:on_trial_complete(id)
    end
    assert.is_not_nil(s.bohber:largest_budget_with_model())
    local function mean_distance(searcher)
      local total = 0
      for i = 1, 30 do
        local c = searcher:suggest("p" .. i)
        searcher:on_trial_complete("p" .. i)
        total = total + math.sqrt((c.x - 0.2) ^ 2 + (c.y - 0.7) ^ 2)
      end
      return total / 30
    end
    local state = core.json_decode(core.json_encode(s:save()))
    -- Uniform draws lie about 0.4 away on average.
    assert.is_true(mean_distance(s) < 0.2)
    local again = TuneBOHB{space = {x = tune.uniform(0, 1), y = tune.uniform(0, 1)}, metric = "loss", mode = "min",
      bohb_config = {random_fraction = 0}}
    again:restore(state)
    assert.is_not_nil(again.bohber:largest_budget_with_model())
    assert.is_true(mean_distance(again) < 0.2)
  end)

  it("builds a model only with more than min_points_in_model results, from the largest budget", function()
    local g = kde.new({{K = 0}}, {}, sample.Random(1))
    assert.equal(2, g.min_points_in_model)
    for i = 1, 3 do g:new_result({i / 10}, i, 1) end
    assert.is_nil(g.models[1]) -- 3 results: 2 good, 1 bad, not more bad than dimensions
    for i = 4, 6 do g:new_result({i / 10}, i, 1) end
    assert.is_not_nil(g.models[1])
    for i = 1, 6 do g:new_result({i / 10}, i, 3) end
    assert.equal(3, g:largest_budget_with_model())
    g:new_result({0.5}, 1, 1) -- a smaller budget is no longer learned from
    assert.equal(6, #g.configs[1])
  end)
end)

describe("BOHB through tune.run (Ray's testNonstopBOHB)", function()
  it("keeps trials going past max_t with stop_last_trials = false, several to the stop", function()
    local dir = support.tmpdir("bohb-nonstop")
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("bohb_counter", function(config)
  local c = tune.get_checkpoint()
  for i = (c and c.i or 0), 199 do
    tune.report({episode_reward_mean = i}, {checkpoint = {i = i + 1}})
  end
end)
local sched = tune.schedulers.HyperBandForBOHB{max_t = 10, reduction_factor = 3, stop_last_trials = false}
local alg = tune.search.ConcurrencyLimiter(tune.search.TuneBOHB{seed = 1}, {max_concurrent = 4})
local a = tune.run("bohb_counter", {scheduler = sched, search_alg = alg, stop = {training_iteration = 32},
  num_samples = 20, config = {test_variable = tune.uniform(0, 20)}, metric = "episode_reward_mean",
  mode = "min", verbose = 0, fail_fast = "raise", local_dir = arg[1]})
local at32 = 0
for _, t in ipairs(a.trials) do
  if t.last_result.training_iteration == 32 then at32 = at32 + 1 end
end
print("trials", #a.trials, "at32", at32)
]]
    local out = support.run_script(dir, SOURCE, dir .. "/out")
    local trials, at32 = out:match("trials\t(%d+)\tat32\t(%d+)")
    assert.equal("20", trials, out)
    assert.is_true(tonumber(at32) > 1, out)
  end)
end)
