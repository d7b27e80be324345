-- Ray's test_sample.py (SearchSpaceTest), ported: points_to_evaluate with
-- the default generator, grid order, constant_grid_search, and a custom
-- searcher's set_search_properties. The domain cases are in
-- ray_sample_spec.lua.
local tune = require("tune")
local sample = require("tune.search.sample")
local Experiment = require("tune.experiment")
local support = require("spec.support")

tune.register_trainable("ray_points", function() end)

local function experiment(config, n)
  return Experiment{name = "test", trainable_name = "ray_points", config = config, num_samples = n,
    experiment_dir = "/nonexistent/test"}
end

--- Every trial's config, as Ray's `while not searcher.is_finished()` loop.
local function all_configs(gen)
  local out = {}
  while not gen:is_finished() do
    local t = gen:next_trial()
    if not t then break end
    out[#out + 1] = t.config
  end
  return out
end

local function sim_run(dir, opts)
  opts.backend, opts.local_dir, opts.verbose = "sim", dir, 0
  -- Ray's _mock_objective reports the config: here its numbers.
  opts.sim = {curve = function(c, i)
    if i > 1 then return nil end
    local r = {metric = 0}
    for k, v in pairs(c) do if type(v) == "number" then r[k] = v end end
    return r
  end}
  return tune.run("ray_points", opts)
end

describe("Ray test_sample (points_to_evaluate, grids, searchers)", function()
  local dir
  before_each(function() dir = support.tmpdir("raypoints") end)
  after_each(support.check_clean)

  it("runs the points to evaluate first, exactly (testPointsToEvaluateBasicVariant)", function()
    local config = {metric = tune.choice({1, 2, 3, 4}), a = tune.choice({"t1", "t2", "t3", "t4"}),
      b = tune.randint(0, 5), c = tune.loguniform(1e-4, 1e-1)}
    local rng, points = sample.Random(11), {}
    for i = 1, 2 do
      points[i] = {}
      for k, d in pairs(config) do points[i][k] = d:sample(rng) end
    end
    local a = sim_run(dir, {config = config, metric = "metric", mode = "max", num_samples = 5,
      search_alg = tune.search.BasicVariantGenerator{points_to_evaluate = points}})
    assert.equal(5, #a.trials)
    for i = 1, 2 do assert.same(points[i], a.trials[i].config) end
  end)

  -- Ray's _testPointsToEvaluate over the searchers tunelua has (the
  -- others need Ax, BayesOpt, HyperOpt, Nevergrad, Optuna or ZOOpt).
  for _, name in ipairs({"TPESearch", "RandomSearch", "TuneBOHB"}) do
    it("runs a " .. name .. "'s points to evaluate first, exactly (testPointsToEvaluate" .. name .. ")", function()
      local config = {metric = tune.choice({1, 2, 3, 4}), a = tune.choice({"t1", "t2", "t3", "t4"}),
        b = tune.randint(0, 5), c = tune.loguniform(1e-4, 1e-1)}
      local points = {{metric = 3, a = "t2", b = 4, c = 0.05}, {metric = 1, a = "t4", b = 0, c = 2e-4}}
      local a = sim_run(dir, {config = config, metric = "metric", mode = "max", num_samples = 5,
        search_alg = tune.search[name]{points_to_evaluate = points, seed = 2}})
      assert.equal(5, #a.trials)
      for i = 1, 2 do assert.same(points[i], a.trials[i].config) end
    end)
  end

  it("counts and runs points that fix some grid values (testPointsToEvaluateBasicVariantAdvanced)", function()
    local config = {
      grid_1 = tune.grid_search({"a", "b", "c", "d"}),
      grid_2 = tune.grid_search({"x", "y", "z"}),
      nested = {random = tune.uniform(2.0, 10.0),
        dependent = tune.sample_from(function(spec) return -1.0 * spec.config.nested.random end)},
    }
    local points = {{grid_1 = "b"}, {grid_2 = "z"}, {grid_1 = "a", grid_2 = "y"}, {nested = {random = 8.0}}}
    local function total(pts)
      local gen = tune.search.BasicVariantGenerator{points_to_evaluate = pts}
      gen:add_configurations({experiment(config, 6)})
      return gen.total_samples
    end
    -- A point leaves the grid it does not set: 4 x 3 = 12 variants per sample.
    assert.equal(1 * 3 + 5 * 12, total({points[1]}))
    assert.equal(1 * 4 + 5 * 12, total({points[2]}))
    assert.equal(1 + 5 * 12, total({points[3]}))
    assert.equal(1 * 3 + 1 * 4 + 1 + 3 * 12, total(points))

    local gen = tune.search.BasicVariantGenerator{points_to_evaluate = points}
    gen:add_configurations({experiment(config, 6)})
    local configs = all_configs(gen)
    assert.equal(gen.total_samples, #configs)
    for i = 1, 3 do assert.equal("b", configs[i].grid_1) end
    for i = 4, 7 do assert.equal("z", configs[i].grid_2) end
    assert.same({"a", "y"}, {configs[8].grid_1, configs[8].grid_2})
    assert.equal(8.0, configs[9].nested.random)
    assert.equal(-8.0, configs[9].nested.dependent)
    -- The same through tune.run.
    local a = sim_run(dir, {config = config, num_samples = 6,
      search_alg = tune.search.BasicVariantGenerator{points_to_evaluate = points}})
    assert.equal(#configs, #a.trials)
    assert.equal(-8.0, a.trials[9].config.nested.dependent)
  end)

  it("checks a point against a constant and counts it once (testPointsToEvaluateBasicVariantFixedParam)", function()
    local gen = tune.search.BasicVariantGenerator{points_to_evaluate = {{a = 1, b = 2}}}
    local a = sim_run(dir, {config = {a = 1, b = tune.randint(0, 3)}, num_samples = 2, search_alg = gen})
    assert.equal(2, gen.total_samples)
    assert.equal(2, #a.trials)
    for _, t in ipairs(a.trials) do assert.equal(1, t.config.a) end
    assert.equal(2, a.trials[1].config.b)
    -- The warning for a point unlike the constant: ray_compat_spec.
  end)

  it("refuses points_to_evaluate that is not a list of configs, in every searcher (Ray's validate_warmstart)",
      function()
    -- One config given where a list of them was meant was dropped silently
    -- (ipairs found nothing in it): the trials ran without the point.
    for _, cls in ipairs({"BasicVariantGenerator", "TPESearch", "TuneBOHB", "RandomSearch"}) do
      local function err(points)
        local ok, e = pcall(tune.search[cls], {points_to_evaluate = points})
        assert.is_false(ok, cls .. " accepted it")
        return tostring(e)
      end
      assert.matches(cls .. ': points_to_evaluate expected to be a list, got a table with key "lr" (one config? '
        .. "put it in a list: {{...}})", err({lr = 0.05}), 1, true)
      assert.matches(cls .. ": points_to_evaluate expected to be a list, got number", err(5), 1, true)
      assert.matches(cls .. ": points_to_evaluate expected to be a list, got a table with key 3",
        err({{lr = 1}, [3] = {lr = 2}}), 1, true)
      assert.matches(cls .. ": points_to_evaluate must be a list of config tables, got number at [2]",
        err({{lr = 1}, 5}), 1, true)
      assert.has_no.errors(function() return tune.search[cls]({points_to_evaluate = {}}) end)
    end
    -- At the caller's line.
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function() local x = tune.search.TPESearch{points_to_evaluate = {lr = 1}}; return x end)
    assert.is_false(ok)
    assert.matches("ray_sample_points_spec.lua:" .. line .. ": TPESearch: points_to_evaluate", tostring(e), 1, true)
  end)

  it("makes a grid's values in order (testGridSearchGenerator)", function()
    local values = {}
    for i = 1, 10 do values[i] = i - 1 end
    local gen = tune.search.BasicVariantGenerator{constant_grid_search = false}
    gen:add_configurations({experiment({parameter = tune.grid_search(values)}, 1)})
    local got = {}
    for i = 1, 10 do got[i] = gen:next_trial().config.parameter end
    assert.same(values, got)
  end)

  it("shares a sample's draws over its grid only with constant_grid_search (testConstantGridSearchBasicVariant)", function()
    local config = {
      grid = tune.grid_search({1, 2, 3}),
      rand = tune.uniform(0, 1000),
      dependent_rand = tune.sample_from(function(spec) return spec.config.rand / 10 end),
      dependent_grid = tune.sample_from(function(spec) return spec.config.grid / 10 end),
    }
    local function configs(constant)
      local gen = tune.search.BasicVariantGenerator{constant_grid_search = constant, seed = 4}
      gen:add_configurations({experiment(config, 6)})
      local out = all_configs(gen)
      assert.equal(18, #out)
      for _, c in ipairs(out) do
        assert.equal(c.rand / 10, c.dependent_rand)
        assert.equal(c.grid / 10, c.dependent_grid)
      end
      return out
    end
    local free = configs(false)
    for i = 0, 5 do
      local s = {free[3 * i + 1], free[3 * i + 2], free[3 * i + 3]}
      assert.are_not.equal(s[1].rand, s[2].rand)
      assert.are_not.equal(s[1].rand, s[3].rand)
    end
    local const = configs(true)
    for i = 0, 5 do
      local s = {const[3 * i + 1], const[3 * i + 2], const[3 * i + 3]}
      assert.same({1, 2, 3}, {s[1].grid, s[2].grid, s[3].grid})
      assert.equal(s[1].rand, s[2].rand)
      assert.equal(s[1].rand, s[3].rand)
    end
    assert.equal(const[1].grid, const[4].grid)
    assert.are_not.equal(const[1].rand, const[4].rand)
  end)

  it("runs a searcher whose set_search_properties returns nothing, given a constant config "
    .. "(testSetSearchPropertiesBackwardsCompatibility)", function()
    -- Ray warns when set_search_properties does not take **spec; a Lua
    -- function ignores extra arguments, so there is nothing to warn about.
    -- What stays: a searcher that does not take tune.run's config (it
    -- returns nil) is still run when the config holds no distributions...
    local MySearcher = tune.search.Searcher:extend(nil, "MySearcher")
    function MySearcher:__init() tune.search.Searcher.__init(self, {metric = "a", mode = "min"}) end
    function MySearcher:suggest() return {} end
    local got
    function MySearcher:set_search_properties(metric, mode, config) got = {metric, mode, config} end
    local a = sim_run(dir, {config = {a = 1}, search_alg = MySearcher(), num_samples = 2})
    assert.equal(2, #a.trials)
    assert.equal(1, a.trials[1].config.a)
    assert.same({a = 1}, got[3])
    -- ...and refused when it does (Ray's ValueError in tune.run).
    local ok, err = pcall(sim_run, dir, {config = {a = tune.uniform(0, 1)}, search_alg = MySearcher(), num_samples = 1})
    assert.is_false(ok)
    assert.matches("with unresolved parameters, but the search algorithm was already instantiated", tostring(err))
  end)
end)
