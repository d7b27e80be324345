-- Ray's test_searchers.py, ported for the searchers tunelua has: TPESearch
-- stands for OptunaSearch, TuneBOHB for itself. InvalidValuesTest (NaN and
-- infinite metrics, constants kept), testOptunaReportTooOften, and
-- AddEvaluatedPointTest's add_evaluated_point / add_evaluated_trials.
local tune = require("tune")
local support = require("spec.support")

-- Ray's _invalid_objective: reports inf, -inf, NaN or the value (0.1 for 0).
local INVALID = [[
local tune = require("tune")
local function invalid_objective(config)
  local r = config.report
  if r > 4 then tune.report({_metric = math.huge})
  elseif r > 3 then tune.report({_metric = -math.huge})
  elseif r > 2 then tune.report({_metric = 0 / 0})
  else tune.report({_metric = r ~= 0 and r or 0.1}) end
end
local search_alg = arg[1] == "bohb" and tune.search.TuneBOHB{seed = 1000} or tune.search.TPESearch{seed = 1234}
local a = tune.run(invalid_objective, {search_alg = search_alg, metric = "_metric", mode = "max", num_samples = 8,
  reuse_actors = false, verbose = 0, local_dir = arg[2],
  config = {report = tune.uniform(0, 5), list = {1, 2, 3}, num = 4}})
local seen = {}
for _, t in ipairs(a.trials) do
  local m = t.last_result._metric
  seen[m ~= m and "nan" or m == math.huge and "inf" or m == -math.huge and "-inf" or "number"] = true
end
local best = a.best_trial.config
print(string.format("best %s list %s num %s", best.report <= 2.0, table.concat(best.list, ","), best.num))
local kinds = 0
for k in pairs(seen) do if k ~= "number" then kinds = kinds + 1 end end
print("invalid kinds " .. kinds)
]]

describe("Ray's test_searchers", function()
  local dir
  before_each(function() dir = support.tmpdir("raysearchers") end)
  after_each(support.check_clean)

  for _, case in ipairs({{"testOptuna (TPESearch)", "tpe"}, {"testBOHB", "bohb"}}) do
    it("InvalidValuesTest " .. case[1] .. ": NaN and infinite metrics, constants kept", function()
      local out = support.run_script(dir, INVALID, case[2] .. " " .. dir)
      assert.matches("best true list 1,2,3 num 4\n", out, 1, true)
      local kinds = tonumber(out:match("invalid kinds (%d+)"))
      assert.is_true(kinds >= 2, out) -- the seeds draw some of nan, inf and -inf
    end)
  end

  local function space() return {report = tune.uniform(0, 5)} end

  it("InvalidValuesTest testOptunaReportTooOften: results after the trial completed do not fail", function()
    local s = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1}
    s:suggest("trial_1")
    s:on_trial_result("trial_1", {training_iteration = 1, metric = 1})
    s:on_trial_complete("trial_1", {training_iteration = 2, metric = 1})
    s:on_trial_result("trial_1", {training_iteration = 3, metric = 1})
    s:on_trial_complete("trial_1", {training_iteration = 4, metric = 1})
    assert.equal(1, #s:save().trials)
  end)

  it("AddEvaluatedPointTest testOptuna: add_evaluated_point, as complete, failed and pruned", function()
    local s = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1}
    assert.equal(0, #s:save().trials)
    s:add_evaluated_point({report = 1.0}, 1.0, false, false, {0.8, 0.9})
    assert.equal(1, #s:save().trials)
    s:add_evaluated_point({report = 1.0}, 1.0, true, false, {0.8, 0.9})  -- FAIL: not learned from
    s:add_evaluated_point({report = 1.0}, 1.0, false, true, {0.8, 0.9})  -- PRUNED
    assert.equal(2, #s:save().trials)
    assert.is_table(s:suggest("1"))
  end)

  it("AddEvaluatedPointTest testOptuna: points_to_evaluate with evaluated_rewards are learned, not suggested", function()
    local s = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1,
      points_to_evaluate = {{report = 1.0}, {report = 2.0}}, evaluated_rewards = {1.0, 3.0}}
    assert.equal(2, #s:save().trials)
    assert.not_equal(1.0, s:suggest("1").report)
    -- Without its own space: learned when tune.run gives the space, metric and mode.
    s = tune.search.TPESearch{points_to_evaluate = {{report = 1.0}}, evaluated_rewards = {1.0}, seed = 1}
    assert.equal(0, #s:save().trials)
    s:set_search_properties("metric", "max", space())
    assert.equal(1, #s:save().trials)
    assert.has_error(function() tune.search.TPESearch{points_to_evaluate = {{report = 1.0}}, evaluated_rewards = {1, 2}} end,
      "TPESearch: evaluated_rewards must be a list of one number for each of points_to_evaluate")
  end)

  it("AddEvaluatedPointTest run_add_evaluated_trials: from an analysis, a list of trials, one trial", function()
    -- Ray's Searcher.add_evaluated_trials; tunelua had no such method.
    support.run_script(dir, [[
local tune = require("tune")
tune.run(function(config) tune.report({metric = config.report}) end, {config = {report = tune.uniform(0, 5)},
  metric = "metric", num_samples = 4, verbose = 0, local_dir = arg[1], name = "dummy"})
]], dir)
    local analysis = tune.ExperimentAnalysis(dir .. "/dummy")
    for _, case in ipairs({{analysis, 4}, {analysis.trials, 4}, {analysis.trials[1], 1}}) do
      local s = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1}
      s:add_evaluated_trials(case[1], "metric")
      assert.equal(case[2], #s:save().trials)
      assert.is_table(s:suggest("1"))
    end
    -- Through a ConcurrencyLimiter, to the searcher it wraps.
    local inner = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1}
    tune.search.ConcurrencyLimiter(inner, 2):add_evaluated_trials(analysis, "metric")
    assert.equal(4, #inner:save().trials)
  end)

  -- The saved state holds no space, so the restored searcher is given it
  -- (docs/reference/searchers/tpe.md and docs/reference/schedulers/bohb.md:
  -- Ray's pickle holds it, and its restored searcher is made without one).
  for _, case in ipairs({{"testOptuna (TPESearch)", "TPESearch", function(s) return s._live end},
      {"testBOHB", "TuneBOHB", function(s) return s.trial_to_params end}}) do
    it("SaveRestoreCheckpointTest " .. case[1] .. ": restored, it goes on; the live trial is still tracked", function()
      local path = dir .. "/checkpoint.json"
      local function callbacks(s, trial_id)
        local result = {training_iteration = 1, metric = 1, ["config/a"] = 1.0, time_total_s = 1}
        s:on_trial_result(trial_id, result)
        s:on_trial_complete(trial_id, result)
      end
      local cls = tune.search[case[2]]
      local s = cls{space = {a = tune.uniform(0, 5)}, metric = "metric", mode = "max", seed = 1}
      s:suggest("1")
      s:suggest("2")
      s:suggest("not_completed")
      callbacks(s, "1")
      s:save(path)
      s = cls{space = {a = tune.uniform(0, 5)}}
      s:restore(path)
      assert.equal("metric", s.metric)
      callbacks(s, "2")
      assert.is_table(s:suggest("3"))
      callbacks(s, "3")
      assert.is_not_nil(case[3](s)["not_completed"])
    end)
  end

  it("add_evaluated_trials: a wrong argument is an error naming it; an unknown metric warns", function()
    local s = tune.search.TPESearch{space = space(), metric = "metric", mode = "max", seed = 1}
    assert.has_error(function() s:add_evaluated_trials(5, "metric") end,
      "TPESearch:add_evaluated_trials: expected a trial, a list of trials or an ExperimentAnalysis, got number")
    assert.has_error(function() s:add_evaluated_trials({}, 5) end,
      "TPESearch:add_evaluated_trials: metric must be a string, got number")
    local done = {trial_id = "t1", status = "TERMINATED", config = {report = 1}, last_result = {metric = 1, done = true}}
    local path = dir .. "/stderr"
    local saved = io.stderr
    io.stderr = assert(io.open(path, "w"))
    local ok, err = pcall(s.add_evaluated_trials, s, {done}, "nosuch")
    io.stderr:close()
    io.stderr = saved
    assert(ok, err)
    assert.matches('no completed trial returned the metric "nosuch"', assert(io.open(path)):read("a"), 1, true)
    assert.equal(0, #s:save().trials)
  end)
end)
