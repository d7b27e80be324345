-- Ray's test_trial_relative_logdir.py, ported: an experiment directory
-- copied elsewhere loads as the original does (configs, the dataframe but
-- its logdir column, and trial.checkpoint), from the directory or from its
-- state file. A nested experiment name ("exp_dir/deep_exp_dir") is refused
-- here (docs/reference/run.md, `name`), so that case loads a directory of
-- experiments instead.
local tune = require("tune")
local support = require("spec.support")

describe("Ray's test_trial_relative_logdir", function()
  local dir
  before_each(function()
    dir = support.tmpdir("rayrel")
    support.run_script(dir, [[
local tune = require("tune")
tune.register_trainable("rel_logdir", function(config) tune.report({metric1 = 2, metric2 = 3}, {checkpoint = {a = 1}}) end)
tune.run("rel_logdir", {config = {a = tune.randint(0, 10)}, local_dir = arg[1] .. "/test_rel", verbose = 0,
  name = "rel_logdir"})
]], dir)
    support.must(string.format("cp -r '%s/test_rel' '%s/test_rel_moved'", dir, dir))
  end)
  after_each(support.check_clean)

  local function same_analysis(a, moved, moved_dir)
    local function one(t)
      local k, v = next(t)
      assert.is_nil(next(t, k))
      return v
    end
    assert.same(one(a:get_all_configs()), one(moved:get_all_configs()))
    local df, df_moved = a:dataframe("metric1", "max"), moved:dataframe("metric1", "max")
    assert.equal(1, #df)
    assert.equal(1, #df_moved)
    assert.equal(moved_dir, df_moved[1].logdir:sub(1, #moved_dir))
    df[1].logdir, df_moved[1].logdir = nil, nil
    assert.same(df[1], df_moved[1])
    local c = moved.trials[1].checkpoint.dir_or_data
    assert.equal(moved_dir, c:sub(1, #moved_dir))
    assert.matches("/checkpoint_000001$", c)
  end

  it("testRelativeLogdir: a copied experiment directory loads as the original", function()
    local moved_dir = dir .. "/test_rel_moved/rel_logdir"
    same_analysis(tune.ExperimentAnalysis(dir .. "/test_rel/rel_logdir"), tune.ExperimentAnalysis(moved_dir), moved_dir)
  end)

  it("testRelativeLogdirWithJson: so does its state file", function()
    local function state_file(exp)
      local name = support.must(string.format("ls '%s' | grep '^experiment_state' | head -1", exp)):gsub("%s+$", "")
      return exp .. "/" .. name
    end
    local moved_dir = dir .. "/test_rel_moved/rel_logdir"
    same_analysis(tune.ExperimentAnalysis(state_file(dir .. "/test_rel/rel_logdir")),
      tune.ExperimentAnalysis(state_file(moved_dir)), moved_dir)
  end)

  it("testRelativeLogdirWithNestedDir: a nested name is refused; a directory of experiments loads", function()
    local ok, err = pcall(tune.run, function() end, {name = "exp_dir/deep_exp_dir", local_dir = dir, verbose = 0})
    assert.is_false(ok)
    assert.matches("tune.run: the experiment name must not contain '/'", err, 1, true)
    local moved_dir = dir .. "/test_rel_moved"
    same_analysis(tune.ExperimentAnalysis(dir .. "/test_rel"), tune.ExperimentAnalysis(moved_dir), moved_dir)
  end)
end)
