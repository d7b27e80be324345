-- Ray's test_sample.py (SearchSpaceTest), ported: the domains' bounds,
-- types and coverage over Ray's own test config, quantization, the
-- bounds checks, categorical values' types, sample_from, and seeded
-- reproducibility. The points_to_evaluate, grid and searcher cases are in
-- ray_sample_points_spec.lua. Ray's builder API (Float(...).uniform()
-- .quantized(q)) is ported through the constructors it stands for
-- (uniform, quniform, qloguniform, ...): tunelua has no builder.
local tune = require("tune")
local sample = require("tune.search.sample")
local vg = require("tune.search.variant_generator")
local support = require("spec.support")

-- SearchSpaceTest.setUp's config.
local function ray_config()
  return {
    func = tune.sample_from(function(spec) return spec.config.uniform * 0.01 end),
    uniform = tune.uniform(-5, -1),
    quniform = tune.quniform(3.2, 5.4, 0.2),
    loguniform = tune.loguniform(1e-4, 1e-2),
    qloguniform = tune.qloguniform(1e-4, 1e-1, 5e-5),
    choice = tune.choice({2, 3, 4}),
    randint = tune.randint(-9, 15),
    lograndint = tune.lograndint(1, 10),
    qrandint = tune.qrandint(-21, 12, 3),
    qrandint_q3 = tune.qrandint(1, 10, 3),
    qrandint_q1 = tune.qrandint(1, 5, 1),
    qlograndint = tune.qlograndint(2, 20, 2),
    randn = tune.randn(10, 2),
    qrandn = tune.qrandn(10, 2, 0.2),
  }
end

--- Python's assertAlmostEqual(a, b, places): round(a - b, places) == 0.
local function almost(a, b, places)
  return math.abs(a - b) < 0.5 * 10 ^ -(places or 7)
end

local function multiple_of(v, q, places)
  return almost(v / q, math.floor(v / q + 0.5), places)
end

local function is_int(v) return math.type(v) == "integer" end

-- Ray's _testTuneSampleAPI: every value within its bounds, of its type,
-- quantized; with check_stats every integer value of each discrete domain
-- drawn at least once.
local function check_samples(configs)
  local seen = {}
  local function saw(k, v) seen[k] = seen[k] or {}; seen[k][v] = true end
  for _, out in ipairs(configs) do
    assert.is_true(almost(out.func, out.uniform * 0.01))
    assert.is_true(out.uniform >= -5 and out.uniform < -1)
    assert.is_true(out.quniform >= 3.2 and out.quniform <= 5.4 and multiple_of(out.quniform, 0.2))
    assert.is_true(out.loguniform >= 1e-4 and out.loguniform < 1e-2)
    assert.is_true(out.qloguniform >= 1e-4 and out.qloguniform <= 1e-1 and multiple_of(out.qloguniform, 5e-5))
    assert.is_true(out.randint >= -9 and out.randint < 15 and is_int(out.randint))
    assert.is_true(out.lograndint >= 1 and out.lograndint < 10 and is_int(out.lograndint))
    assert.is_true(out.qrandint >= -21 and out.qrandint <= 12 and out.qrandint % 3 == 0 and is_int(out.qrandint))
    assert.is_true(out.qrandint_q3 >= 1 and out.qrandint_q3 <= 10 and out.qrandint_q3 % 3 == 0
      and is_int(out.qrandint_q3))
    assert.is_true(out.qrandint_q1 >= 1 and out.qrandint_q1 <= 5 and is_int(out.qrandint_q1))
    assert.is_true(out.qlograndint >= 2 and out.qlograndint <= 20 and out.qlograndint % 2 == 0
      and is_int(out.qlograndint))
    assert.is_true(out.randn > 0 and out.randn < 20)
    assert.is_true(out.qrandn > 0 and out.qrandn < 20 and multiple_of(out.qrandn, 0.2))
    for _, k in ipairs({"choice", "randint", "lograndint", "qrandint", "qrandint_q3", "qrandint_q1", "qlograndint"}) do
      saw(k, out[k])
    end
  end
  local function all_seen(k, from, to, step)
    for i = from, to, step or 1 do assert.is_true(seen[k][i] ~= nil, k .. " never drew " .. i) end
  end
  all_seen("choice", 2, 4)
  all_seen("randint", -9, 14)
  all_seen("qrandint", -21, 12, 3)
  all_seen("qrandint_q3", 3, 9, 3)
  all_seen("qrandint_q1", 1, 4)
  all_seen("lograndint", 1, 9)
  all_seen("qlograndint", 2, 20, 2)
end

local function draws(domain, n, seed)
  local rng = sample.Random(seed or 99)
  local out = {}
  for i = 1, n do out[i] = domain:sample(rng) end
  return out
end

local function mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s / #xs
end

local function refuses(fn, pattern)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  if pattern then assert.matches(pattern, tostring(err)) end
end

describe("Ray test_sample (SearchSpaceTest)", function()
  it("keeps every domain of Ray's config within its bounds and type, drawing every value (testSampleBoundsRandom)", function()
    local rng, config, configs = sample.Random(5), ray_config(), {}
    for i = 1, 1000 do
      local vs = vg.generate_variants(config, rng)
      assert.equal(1, #vs)
      configs[i] = vs[1].config
    end
    check_samples(configs)
  end)

  it("gives the same configs for the same seed (testReproducibility)", function()
    local config = ray_config()
    config.func = nil
    local first = vg.generate_variants(config, sample.Random(1000))[1].config
    for _ = 1, 100 do
      assert.same(first, vg.generate_variants(config, sample.Random(1000))[1].config)
    end
    assert.are_not.same(first, vg.generate_variants(config, sample.Random(1001))[1].config)
  end)

  it("reproduces a tune.run's trials from BasicVariantGenerator's random_state (testReproducibilityBasicVariantGenerator)", function()
    local dir = support.tmpdir("raysample")
    local config = ray_config()
    config.func = nil
    local function run(opts)
      local a = tune.run("ray_sample_repro", {backend = "sim", local_dir = dir, verbose = 0, num_samples = 5,
        metric = "uniform", mode = "max", config = config, search_alg = tune.search.BasicVariantGenerator(opts),
        sim = {curve = function(c, i) if i == 1 then return {uniform = c.uniform} end end}})
      local out = {}
      for i, t in ipairs(a.trials) do out[i] = t.config end
      return out
    end
    local a = run{max_concurrent = 1, random_state = 1000}
    assert.equal(5, #a)
    assert.same(a, run{max_concurrent = 1, random_state = 1000})
    assert.same(a, run{max_concurrent = 1, seed = 1000})
    assert.are_not.same(a, run{max_concurrent = 1, random_state = 1001})
  end)

  it("reproduces tune.run's samples from its seed (testCategoricalSeedInTrainingLoop)", function()
    local dir = support.tmpdir("raysample")
    local big = {}
    for i = 1, 100000 do big[i] = i - 1 end
    local config = {integer = tune.randint(0, 100000), choice = tune.choice(big)}
    local function run(seed)
      local a = tune.run("ray_sample_seed", {backend = "sim", local_dir = dir, verbose = 0, num_samples = 8,
        config = config, seed = seed, sim = {curve = function(_, i) if i == 1 then return {x = 1} end end}})
      local ints, choices = {}, {}
      for i, t in ipairs(a.trials) do ints[i], choices[i] = t.config.integer, t.config.choice end
      return ints, choices
    end
    local i1, c1 = run(1000)
    local i2, c2 = run(1000)
    assert.equal(8, #i1)
    assert.same(i1, i2)
    assert.same(c1, c2)
  end)

  it("draws uniform floats over the range; loguniform needs positive bounds (testBoundedFloat)", function()
    local xs = draws(tune.uniform(-4.2, 8.3), 1000)
    for _, x in ipairs(xs) do assert.is_true(x >= -4.2 and x < 8.3) end
    assert.is_false(mean(xs) < -2)
    refuses(function() return tune.loguniform(-4.2, 8.3) end, "loguniform: lower bound must be > 0")
    for _, x in ipairs(draws(tune.loguniform(1e-4, 1e-1), 1000)) do assert.is_true(x >= 1e-4 and x < 1e-1) end
  end)

  it("draws normal values without bounds; loguniform refuses missing bounds (testUnboundedFloat)", function()
    refuses(function() return tune.loguniform(nil, nil) end, "loguniform: lower must be a finite number")
    local xs = draws(tune.randn(), 1000)
    local inside = 0
    for _, x in ipairs(xs) do if x > -5 and x < 5 then inside = inside + 1 end end
    assert.is_true(inside > 0)
    assert.is_true(mean(xs) > -1 and mean(xs) < 1)
  end)

  it("draws integers over [lower, upper) (testBoundedInt)", function()
    local xs = draws(tune.randint(-3, 12), 1000)
    for _, x in ipairs(xs) do assert.is_true(is_int(x) and x >= -3 and x < 12) end
    assert.is_false(mean(xs) < 2)
  end)

  it("draws every category (testCategorical)", function()
    local seen = {}
    for _, x in ipairs(draws(tune.choice({-2, -1, 0, 1, 2}), 1000)) do seen[x] = true end
    for c = -2, 2 do assert.is_true(seen[c], "never drew " .. c) end
  end)

  it("keeps each category's type: a float stays a float (testCategoricalDtype)", function()
    local seen = {}
    for _, x in ipairs(draws(tune.choice({1.0, "str"}), 100)) do
      assert.is_true((x == "str") or (math.type(x) == "float" and x == 1.0), tostring(x))
      seen[x] = true
    end
    assert.is_true(seen[1.0] and seen.str)
  end)

  it("samples a function domain with the generator it is given (testFunction)", function()
    local d = tune.sample_from(function(_, rng) return rng:uniform(-4, 4) end)
    local xs = {}
    local rng = sample.Random(3)
    for i = 1, 1000 do xs[i] = d:sample(rng) end
    for _, x in ipairs(xs) do assert.is_true(x >= -4 and x < 4) end
    assert.is_true(mean(xs) > -2 and mean(xs) < 2)
  end)

  it("calls a sample_from function whatever it declares; refuses what is not callable (testFunctionSignature)", function()
    local rng = sample.Random(1)
    local fns = {function() return 0 end, function(spec) return 1 end, function(spec, rng_) return 2 end,
      setmetatable({}, {__call = function() return 3 end})}
    for i, f in ipairs(fns) do assert.equal(i - 1, tune.sample_from(f):sample(rng, {config = {}})) end
    refuses(function() return tune.sample_from(42) end, "sample_from: expected a function")
  end)

  it("refuses a q its bounds are not multiples of, and draws exact multiples of q (testQuantized)", function()
    -- Granularity too high: 1e-4 is no multiple of 5e-4.
    refuses(function() return tune.qloguniform(1e-4, 1e-1, 5e-4) end, "not divisible by quantization factor")
    refuses(function() return tune.quniform(-1e-1, -1e-4, 5e-4) end, "not divisible by quantization factor")
    for _, x in ipairs(draws(tune.qloguniform(1e-4, 1e-1, 5e-5), 1000)) do
      assert.is_true(x >= 1e-4 and x <= 1e-1)
      assert.is_true(multiple_of(x, 5e-5, 10), tostring(x))
    end
    refuses(function() return tune.quniform(0, 32, 3) end, "upper bound 32 is not divisible")
    for _, x in ipairs(draws(tune.quniform(0, 33, 3), 1000)) do assert.is_true(x >= 0 and x <= 33) end
  end)
end)
