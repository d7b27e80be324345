-- Ray's test_var.py (VariantGeneratorTest), ported: the trials a
-- BasicVariantGenerator makes from one experiment (configs, evaluated
-- params, experiment tags, grid order, sample_from dependencies), driven
-- as Ray's generate_trials helper drives it. testRecursiveDep is in
-- search_space_spec; testEval (Ray's legacy {"eval": "..."} strings are
-- Python source) has no Lua counterpart.
local tune = require("tune")
local sample = require("tune.search.sample")
local Experiment = require("tune.experiment")

tune.register_trainable("ray_var_ppo", function() end)

--- Ray's generate_trials: every trial the generator makes, in order.
local function generate_trials(spec)
  local gen = tune.search.BasicVariantGenerator{seed = 7}
  gen:add_configurations({Experiment{name = spec.name or "exp", trainable_name = "ray_var_ppo",
    config = spec.config, num_samples = spec.num_samples, max_failures = spec.max_failures,
    experiment_dir = "/nonexistent/" .. (spec.name or "exp")}})
  local trials = {}
  while not gen:is_finished() do
    local t = gen:next_trial()
    if not t then break end
    trials[#trials + 1] = t
  end
  return trials, gen
end

describe("Ray test_var (VariantGeneratorTest)", function()
  it("makes num_samples trials of a constant config (testParseToTrials)", function()
    local trials, gen = generate_trials({name = "tune-pong", num_samples = 2, max_failures = 5,
      config = {env = "Pong-v0", foo = "bar"}})
    assert.equal(2, #trials)
    assert.equal(2, gen.total_samples)
    assert.same({foo = "bar", env = "Pong-v0"}, trials[1].config)
    assert.equal("ray_var_ppo", trials[1].trainable_name)
    assert.equal("0", trials[1].experiment_tag)
    assert.equal(5, trials[1].max_failures)
    assert.same({}, trials[1].evaluated_params)
    assert.equal("/nonexistent/tune-pong", trials[1].local_dir)
    assert.equal("1", trials[2].experiment_tag)
    -- Ray names the trial <trainable>_<env>_<id> when the config has an
    -- env (an RLlib convention): tunelua's name is <trainable>_<id>
    -- (docs/guide/search-spaces.md, "Differences from Ray").
    assert.equal("ray_var_ppo_" .. trials[1].trial_id, tostring(trials[1]))
  end)

  it("crosses grids, the first sorted key fastest, and tags each trial (testGridSearch)", function()
    local trials = generate_trials({config = {bar = tune.grid_search({true, false}),
      foo = tune.grid_search({1, 2, 3}), baz = "asd"}})
    assert.equal(6, #trials)
    local want = {{true, 1}, {false, 1}, {true, 2}, {false, 2}, {true, 3}, {false, 3}}
    for i, w in ipairs(want) do
      assert.same({bar = w[1], foo = w[2], baz = "asd"}, trials[i].config)
      assert.same({bar = w[1], foo = w[2]}, trials[i].evaluated_params)
    end
    assert.equal("0_bar=True,foo=1", trials[1].experiment_tag)
    assert.equal("1_bar=False,foo=1", trials[2].experiment_tag)
  end)

  it("resolves sample_from for every grid point and tags it (testGridSearchAndEval)", function()
    local trials = generate_trials({config = {qux = tune.sample_from(function() return 2 + 2 end),
      bar = tune.grid_search({true, false}), foo = tune.grid_search({1, 2, 3}), baz = "asd"}})
    assert.equal(6, #trials)
    assert.same({bar = true, foo = 1, qux = 4, baz = "asd"}, trials[1].config)
    assert.same({bar = true, foo = 1, qux = 4}, trials[1].evaluated_params)
    assert.equal("0_bar=True,foo=1,qux=4", trials[1].experiment_tag)
    for _, t in ipairs(trials) do assert.equal(4, t.config.qux) end
  end)

  it("resolves a chain of dependencies on constants (testConditionResolution)", function()
    local trials = generate_trials({config = {x = 1,
      y = tune.sample_from(function(spec) return spec.config.x + 1 end),
      z = tune.sample_from(function(spec) return spec.config.y + 1 end)}})
    assert.equal(1, #trials)
    assert.same({x = 1, y = 2, z = 3}, trials[1].config)
    assert.same({y = 2, z = 3}, trials[1].evaluated_params)
    assert.equal("0_y=2,z=3", trials[1].experiment_tag)
  end)

  it("lets sample_from read the grid value of its trial (testDependentLambda)", function()
    local trials = generate_trials({config = {x = tune.grid_search({1, 2}),
      y = tune.sample_from(function(spec) return spec.config.x * 100 end)}})
    assert.equal(2, #trials)
    assert.same({x = 1, y = 100}, trials[1].config)
    assert.same({x = 2, y = 200}, trials[2].config)
  end)

  it("resolves grid values that are sample_from depending on other keys (testDependentGridSearch)", function()
    local trials = generate_trials({config = {
      x = tune.grid_search({tune.sample_from(function(spec) return spec.config.y * 100 end),
        tune.sample_from(function(spec) return spec.config.y * 200 end)}),
      y = tune.sample_from(function() return 1 end)}})
    assert.equal(2, #trials)
    assert.same({x = 100, y = 1}, trials[1].config)
    assert.same({x = 200, y = 1}, trials[2].config)
  end)

  it("takes callable tables as sample_from functions in and beside grids (testDependentGridSearchCallable)", function()
    local normal = setmetatable({}, {__call = function(_, _, rng) return rng:normal(0, 1) end})
    local single = setmetatable({}, {__call = function() return 20 end})
    local trials = generate_trials({config = {
      x = tune.grid_search({tune.sample_from(normal), tune.sample_from(normal)}),
      y = tune.sample_from(single)}})
    assert.equal(2, #trials)
    for _, t in ipairs(trials) do
      assert.equal(20, t.config.y)
      assert.equal("float", math.type(t.config.x))
    end
  end)

  it("resolves nested values and names them by their path (testNestedValues)", function()
    local trials = generate_trials({config = {
      x = {y = {z = tune.sample_from(function() return 1 end)}},
      y = tune.sample_from(function() return 12 end),
      z = tune.sample_from(function(spec) return spec.config.x.y.z * 100 end)}})
    assert.equal(1, #trials)
    assert.same({x = {y = {z = 1}}, y = 12, z = 100}, trials[1].config)
    assert.same({["x/y/z"] = 1, y = 12, z = 100}, trials[1].evaluated_params)
  end)

  it("draws loguniform values over the whole range, in any base (testLogUniform)", function()
    local rng = sample.Random(2024)
    local function extremes(d, log)
      local lo, hi = math.huge, -math.huge
      for _ = 1, 1000 do
        local v = log(d:sample(rng))
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
      return lo, hi
    end
    local lo, hi = extremes(tune.loguniform(1e-10, 1e-1), function(v) return math.log(v, 10) end)
    assert.is_true(math.abs(lo - -10) < 0.1, "min " .. lo)
    assert.is_true(math.abs(hi - -1) < 0.1, "max " .. hi)
    lo, hi = extremes(tune.loguniform(math.exp(-4), math.exp(1), math.exp(1)), math.log)
    assert.is_true(math.abs(lo - -4) < 0.1, "min " .. lo)
    assert.is_true(math.abs(hi - 1) < 0.1, "max " .. hi)
  end)

  it("counts grid x samples, nested grids included, before making them", function()
    -- Ray's _count_variants: total_samples is known once the experiment is
    -- added; every grid (nested ones too) multiplies each sample.
    local trials, gen = generate_trials({num_samples = 3, config = {a = tune.grid_search({1, 2}),
      opt = {lr = tune.grid_search({0.1, 0.01, 0.001}), m = tune.uniform(0, 1)}}})
    assert.equal(18, gen.total_samples)
    assert.equal(18, #trials)
    -- One full grid pass per sample: a fastest, then opt/lr.
    assert.same({1, 0.1}, {trials[1].config.a, trials[1].config.opt.lr})
    assert.same({2, 0.1}, {trials[2].config.a, trials[2].config.opt.lr})
    assert.same({1, 0.01}, {trials[3].config.a, trials[3].config.opt.lr})
    assert.same(trials[1].config.a, trials[7].config.a)
    assert.are_not.equal(trials[1].config.opt.m, trials[7].config.opt.m)
  end)
end)

describe("BasicVariantGenerator save(path) and restore(path)", function()
  it("writes its state to the file and continues from it, as Ray's save/restore(checkpoint_path)", function()
    local dir = require("spec.support").tmpdir("bvg-save")
    local function gen()
      local g = tune.search.BasicVariantGenerator{seed = 5}
      g:add_configurations({Experiment{name = "exp", trainable_name = "ray_var_ppo", num_samples = 6,
        config = {x = tune.uniform(0, 1)}, experiment_dir = "/nonexistent/exp"}})
      return g
    end
    local a = gen()
    for _ = 1, 2 do a:next_trial() end
    assert.same(a:save(), a:save(dir .. "/bvg.json"))
    local b = gen()
    b:restore(dir .. "/bvg.json")
    for _ = 1, 4 do
      local ta, tb = a:next_trial(), b:next_trial()
      assert.equal(ta.trial_id, tb.trial_id)
      assert.same(ta.config, tb.config)
    end
    assert.is_nil(b:next_trial())
    local ok, err = pcall(b.restore, b, dir .. "/none.json")
    assert.is_false(ok)
    assert.matches("BasicVariantGenerator:restore: cannot read " .. dir .. "/none.json (No such file or directory)",
      err, 1, true)
  end)
end)
