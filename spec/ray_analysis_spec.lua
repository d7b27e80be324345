-- Ray's test_experiment_analysis.py (ExperimentAnalysisSuite,
-- ExperimentAnalysisPropertySuite, ExperimentAnalysisStubSuite), ported:
-- what tune.run's analysis, and one read back from the experiment's
-- directory, answer about an experiment that really ran (on the
-- simulator). analysis_spec tests the same methods on hand-written
-- directories. Ray's MyTrainableClass reports
-- episode_reward_mean = tanh(iteration / width) * height / 100.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")

local METRIC, N = "episode_reward_mean", 10

-- (width and height default to 1, as there).
local function my_trainable(c, i)
  local e = math.exp(2 * i / (c.width or 1))
  return {[METRIC] = (e - 1) / (e + 1) * (c.height or 1) / 100}
end

local CONFIG = {
  width = tune.sample_from(function(_, rng) return 10 + math.floor(90 * rng:random()) end),
  height = tune.sample_from(function(_, rng) return math.floor(100 * rng:random()) end),
}

local function run(dir, name, opts)
  opts.name, opts.local_dir, opts.verbose, opts.backend = name, dir, 0, "sim"
  opts.config = opts.config or CONFIG
  opts.sim = opts.sim or {curve = my_trainable}
  return tune.run(opts.trainable or "my_trainable_class", opts)
end

local function startswith(s, prefix) return s:sub(1, #prefix) == prefix end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("Ray test_experiment_analysis", function()
  local dir, path, ea
  before_each(function()
    dir = support.tmpdir("rayanalysis")
    path = dir .. "/analysis_exp"
    ea = run(dir, "analysis_exp", {stop = {training_iteration = 1}, checkpoint_freq = 1, num_samples = N, seed = 3})
  end)
  after_each(support.check_clean)

  it("has one dataframe row per trial (testDataframe), one history row each (testTrialDataframe, testAllDataframes)", function()
    assert.equal(N, #ea:dataframe(METRIC, "max"))
    local dfs = ea:trial_dataframes()
    assert.equal(N, count(dfs))
    for logdir, rows in pairs(dfs) do
      assert.is_true(startswith(logdir, path))
      assert.equal(1, #rows)
      assert.equal(1, rows[1].training_iteration)
    end
    assert.equal(N, count(ea:fetch_trial_dataframes()))
  end)

  it("reads the histories from JSON or CSV alike, and refuses another file type (testLoadJson)", function()
    local function keys(dfs)
      local out = {}
      for logdir, rows in pairs(dfs) do out[logdir] = {#rows, rows[1][METRIC], rows[1].training_iteration} end
      return out
    end
    local via_default = keys(ea:fetch_trial_dataframes())
    assert.is_true(ea:set_filetype("json"))
    assert.same(via_default, keys(ea:fetch_trial_dataframes()))
    local ok, err = pcall(function() ea:set_filetype("bad") end)
    assert.is_false(ok)
    assert.matches("ray_analysis_spec.lua:%d+: `file_type` has to be nil or one of %[json, csv%], but got \"bad\"", err)
    ea:set_filetype("csv")
    local via_csv = keys(ea:trial_dataframes())
    assert.same(via_default, via_csv)
    -- Each reads its own file only: without result.json's rows, "json"
    -- finds none.
    local logdir = next(via_csv)
    assert(io.open(logdir .. "/result.json", "w")):close()
    ea:set_filetype("json")
    assert.equal(0, #ea:trial_dataframes()[logdir])
    ea:set_filetype("csv")
    assert.equal(1, #ea:trial_dataframes()[logdir])
  end)

  it("has the state's stats and runner data (testStats)", function()
    assert.is_table(ea:stats())
    assert.is_table(ea:runner_data())
  end)

  it("gives the best config and logdir by metric and mode (testBestConfig, testBestLogdir)", function()
    local best = ea:get_best_config(METRIC, "max")
    assert.is_number(best.width)
    assert.is_number(best.height)
    local logdir, logdir2 = ea:get_best_logdir(METRIC, "max"), ea:get_best_logdir(METRIC, "min")
    assert.is_true(startswith(logdir, path))
    assert.is_true(startswith(logdir2, path))
    assert.are_not.equal(logdir, logdir2)
  end)

  it("gives no best config or logdir when no trial reported the metric (testBestConfigNan, testBestLogdirNan)", function()
    local nan_ea = run(dir, "testing_nan", {stop = {training_iteration = 1}, checkpoint_freq = 1, num_samples = N,
      sim = {curve = function(_, i) if i == 1 then return {_metric = 0 / 0} end end}})
    assert.is_nil(nan_ea:get_best_config(METRIC, "max"))
    assert.is_nil(nan_ea:get_best_logdir(METRIC, "max"))
  end)

  it("lists a trial's checkpoints by trial or logdir, with the metric or the iteration "
    .. "(testGetTrialCheckpointsPaths{ByTrial,ByPath,WithMetricByTrial,WithMetricByPath})", function()
    local best = ea:get_best_trial(METRIC, "max")
    local logdir = ea:get_best_logdir(METRIC, "max")
    assert.equal(best.logdir, logdir)
    -- Ray's class checkpoint was the file <dir>/checkpoint; a tunelua
    -- checkpoint is its directory (docs/guide/checkpoints-and-resume.md).
    local want = logdir .. "/checkpoint_000001"
    for _, by in ipairs({best, logdir}) do
      local paths = ea:get_trial_checkpoints_paths(by)
      assert.equal(1, #paths)
      assert.same({want, 1}, {paths[1][1], paths[1][2]})
      paths = ea:get_trial_checkpoints_paths(by, METRIC)
      assert.same({want, best.last_result[METRIC]}, {paths[1][1], paths[1][2]})
    end
    assert.equal(best.last_result[METRIC], ea:get_trial_score(best, METRIC, "max", "last"))
  end)

  it("gives the best checkpoint by metric and mode, skipping NaN (testGetBestCheckpoint, testGetBestCheckpointNan)", function()
    local best = ea:get_best_trial(METRIC, "max")
    local paths = ea:get_trial_checkpoints_paths(best, METRIC)
    table.sort(paths, function(a, b) return a[2] > b[2] end)
    assert.equal(paths[1][1], ea:get_best_checkpoint(best, METRIC, "max"))

    local nan = run(dir, "nan_checkpoints", {checkpoint_freq = 1, config = {steps = 3}, sim = {curve = function(c, i)
      if i <= c.steps then return {loss = i == 1 and 0 / 0 or i - 1} end
    end}})
    local t = nan:get_best_trial("loss", "min")
    local cps = nan:get_trial_checkpoints_paths(t, "loss")
    assert.equal(3, #cps)
    assert.is_true(cps[1][2] ~= cps[1][2])
    assert.equal(t.logdir .. "/checkpoint_000002", nan:get_best_checkpoint(t, "loss", "min"))
  end)

  it("gives the last checkpoint, which a new run restores from (testGetLastCheckpoint)", function()
    local new_ea = run(dir, "analysis_exp", {stop = {training_iteration = 2}, checkpoint_freq = 1})
    local last = new_ea:get_last_checkpoint()
    assert.is_true(startswith(last, path))
    assert.matches("checkpoint_000002", last, 1, true)
    local again = run(dir, "analysis_exp", {stop = {training_iteration = 3}, checkpoint_freq = 1, restore = last})
    assert.equal(3, again.trials[1].last_result.training_iteration)
    assert.equal(1, #again:trial_dataframes()[again.trials[1].logdir])
  end)

  it("reads only its own experiment from a shared local_dir (testIgnoreOtherExperiment, testFromPath)", function()
    local other = run(dir, "test_example", {stop = {training_iteration = 1}, num_samples = 1})
    assert.equal(1, #other:dataframe(METRIC, "max"))
    local from_path = tune.ExperimentAnalysis(path)
    assert.equal(N, #from_path.trials)
    assert.equal(ea:get_best_trial(METRIC, "max").trial_id, from_path:get_best_trial(METRIC, "max").trial_id)
  end)

  it("finds checkpoints under logdirs with special characters, ignoring temporary ones "
    .. "(testGetTrialCheckpointsPathsByPathWithSpecialCharacters, ...WithTemporaryCheckpoints)", function()
    local a = run(dir, "test_example", {stop = {training_iteration = 2}, checkpoint_at_end = true,
      config = {test = tune.grid_search({{1, 2}, {3, 4}})}})
    local logdir = a:get_best_logdir(METRIC, "max")
    assert.is_truthy(core.stat(logdir))
    assert.is_true(support.exists(logdir .. "/checkpoint_000002"))
    support.must(string.format("cp -r '%s/checkpoint_000002' '%s/checkpoint_tmpxxx'", logdir, logdir))
    for _, an in ipairs({a, tune.ExperimentAnalysis(dir .. "/test_example")}) do
      local paths = an:get_trial_checkpoints_paths(logdir)
      assert.equal(1, #paths)
      assert.same({logdir .. "/checkpoint_000002", 2}, {paths[1][1], paths[1][2]})
    end
  end)
end)

describe("Ray test_experiment_analysis (ExperimentAnalysisPropertySuite)", function()
  local dir
  before_each(function() dir = support.tmpdir("rayanalysis") end)
  after_each(support.check_clean)

  it("has best_* properties from tune.run's metric and mode (testBestProperties)", function()
    local ea = run(dir, "props", {metric = "res", mode = "max", checkpoint_freq = 1,
      config = {base = tune.grid_search({100, 200, 300})},
      sim = {curve = function(c, i) if i <= 10 then return {res = c.base + i - 1} end end}})
    local trials = ea.trials
    assert.equal(trials[3], ea.best_trial)
    assert.same(trials[3].config, ea.best_config)
    assert.equal(trials[3].logdir, ea.best_logdir)
    assert.equal(trials[3].logdir .. "/checkpoint_000010", ea.best_checkpoint)
    for _, row in ipairs(ea.best_dataframe) do assert.equal(trials[3].trial_id, row.trial_id) end
    assert.equal(10, #ea.best_dataframe)
    assert.equal(309, ea.results[trials[3].trial_id].res)
    assert.equal(309, ea.best_result.res)
    assert.equal(309, ea.best_result_df[1].res)
    assert.equal(trials[3].trial_id, ea.best_result_df[1].trial_id)
  end)

  it("picks dataframe rows by metric and mode, or the last one (testDataframeBestResult)", function()
    local losses = {{9, 7, 5}, {10, 4, 10}}
    local a = run(dir, "df", {metric = "loss", mode = "min", config = {var = tune.grid_search({1, 2})},
      sim = {curve = function(c, i) return losses[c.var][i] and {loss = losses[c.var][i]} or nil end}})
    assert.equal(1, a.best_config.var)
    local ok, err = pcall(a.dataframe, a, nil, "max")
    assert.is_false(ok)
    assert.matches("you'll also have to pass a `metric`", tostring(err), 1, true)
    local function var_of_min(df)
      table.sort(df, function(x, y) return x.loss < y.loss end)
      return df[1]["config/var"]
    end
    assert.equal(2, var_of_min(a:dataframe("loss", "min")))
    assert.equal(1, var_of_min(a:dataframe("loss")))
    assert.equal(1, var_of_min(a:dataframe()))
  end)
end)
