-- Search spaces (tune.search.sample) and variant generation
-- (tune.search.variant_generator): Ray 2.0's bounds conventions, the
-- seeded generator, grid order, sample_from dependencies and tags.
local core = require("tune.core")
local sample = require("tune.search.sample")
local vg = require("tune.search.variant_generator")

local N = 2000

local function draw(domain, seed, n)
  local rng = sample.Random(seed or 1234)
  local out = {}
  for i = 1, n or N do out[i] = domain:sample(rng) end
  return out
end

local function stats(xs, f)
  local sum, sum2 = 0, 0
  for _, x in ipairs(xs) do
    local v = f and f(x) or x
    sum, sum2 = sum + v, sum2 + v * v
  end
  local mean = sum / #xs
  return mean, math.sqrt(sum2 / #xs - mean * mean)
end

local function counts(xs)
  local c = {}
  for _, x in ipairs(xs) do c[x] = (c[x] or 0) + 1 end
  return c
end

local function min_max(xs)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do
    if x < lo then lo = x end
    if x > hi then hi = x end
  end
  return lo, hi
end

local function all_integers(xs)
  for _, x in ipairs(xs) do
    if math.type(x) ~= "integer" then return false end
  end
  return true
end

local function all_floats(xs)
  for _, x in ipairs(xs) do
    if math.type(x) ~= "float" then return false end
  end
  return true
end

local function all_multiples(xs, q)
  for _, x in ipairs(xs) do
    local f = x / q
    if math.abs(f - math.floor(f + 0.5)) > 1e-6 then return false end
  end
  return true
end

--- The message of the error fn raises (fails the test if it raises none).
local function err_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local HERE = "search_space_spec%.lua:%d+: "

local function log10(x) return math.log(x, 10) end

describe("search space distributions", function()
  it("uniform stays in [lower, upper) as floats", function()
    local xs = draw(sample.uniform(-2, 3))
    local lo, hi = min_max(xs)
    assert.is_true(lo >= -2 and hi < 3)
    assert.is_true(all_floats(xs))
    local mean = stats(xs)
    assert.is_true(math.abs(mean - 0.5) < 0.15, "mean " .. mean)
    assert.is_true(lo < -1.9 and hi > 2.9) -- covers the range
  end)

  it("quniform gives multiples of q, floats, upper reachable", function()
    local xs = draw(sample.quniform(0, 1, 0.25))
    assert.is_true(all_floats(xs))
    assert.is_true(all_multiples(xs, 0.25))
    local c = counts(xs)
    for _, v in ipairs({0.0, 0.25, 0.5, 0.75, 1.0}) do
      assert.is_true((c[v] or 0) > 0, "never drew " .. v)
    end
    local lo, hi = min_max(xs)
    assert.are.equal(0.0, lo)
    assert.are.equal(1.0, hi)
  end)

  it("quniform with q = 1 returns floats", function()
    local xs = draw(sample.quniform(0, 10, 1), 5, 200)
    assert.is_true(all_floats(xs))
    assert.is_true(all_multiples(xs, 1))
  end)

  it("loguniform stays in bounds and is roughly log-uniform", function()
    local xs = draw(sample.loguniform(1e-4, 1e-1))
    local lo, hi = min_max(xs)
    assert.is_true(lo >= 1e-4 and hi < 1e-1)
    local mean = stats(xs, log10)
    assert.is_true(math.abs(mean - (-2.5)) < 0.1, "mean log10 " .. mean)
    local decade = {0, 0, 0}
    for _, x in ipairs(xs) do
      local d = math.floor(log10(x)) + 5 -- 1e-4.. -> 1, 1e-3.. -> 2, 1e-2.. -> 3
      decade[d] = decade[d] + 1
    end
    for d = 1, 3 do
      assert.is_true(math.abs(decade[d] / N - 1 / 3) < 0.05, "decade " .. d .. ": " .. decade[d])
    end
  end)

  it("loguniform honours the base", function()
    local d = sample.loguniform(1, 1024, 2)
    assert.are.equal(2, d.base)
    local xs = draw(d)
    local lo, hi = min_max(xs)
    assert.is_true(lo >= 1 and hi < 1024)
    local mean = stats(xs, function(x) return math.log(x, 2) end)
    assert.is_true(math.abs(mean - 5) < 0.3, "mean log2 " .. mean)
  end)

  it("qloguniform gives multiples of q within the bounds", function()
    local xs = draw(sample.qloguniform(1e-4, 1e-1, 5e-5))
    local lo, hi = min_max(xs)
    assert.is_true(lo >= 1e-4 and hi <= 1e-1, lo .. " " .. hi)
    assert.is_true(all_multiples(xs, 5e-5))
    assert.is_true(all_floats(xs))
  end)

  it("randn has about the given mean and sd", function()
    local xs = draw(sample.randn(10, 2))
    assert.is_true(all_floats(xs))
    local mean, sd = stats(xs)
    assert.is_true(math.abs(mean - 10) < 0.2, "mean " .. mean)
    assert.is_true(math.abs(sd - 2) < 0.2, "sd " .. sd)
    local m0, s0 = stats(draw(sample.randn()))
    assert.is_true(math.abs(m0) < 0.1 and math.abs(s0 - 1) < 0.1, m0 .. " " .. s0)
  end)

  it("qrandn gives float multiples of q", function()
    local xs = draw(sample.qrandn(0, 1, 0.5))
    assert.is_true(all_floats(xs))
    assert.is_true(all_multiples(xs, 0.5))
    local c = counts(xs)
    assert.is_true((c[0.5] or 0) > 0 and (c[-0.5] or 0) > 0)
  end)

  it("randint never returns upper and gives Lua integers", function()
    local xs = draw(sample.randint(0, 5))
    assert.is_true(all_integers(xs))
    local c = counts(xs)
    assert.is_nil(c[5])
    for v = 0, 4 do assert.is_true((c[v] or 0) > 0, "never drew " .. v) end
    local lo, hi = min_max(draw(sample.randint(-3, 12)))
    assert.are.equal(-3, lo)
    assert.are.equal(11, hi)
  end)

  it("qrandint can return upper (q = 1 by default)", function()
    local xs = draw(sample.qrandint(0, 10))
    assert.is_true(all_integers(xs))
    local c = counts(xs)
    for v = 0, 10 do assert.is_true((c[v] or 0) > 0, "never drew " .. v) end
    local distinct = 0
    for _ in pairs(c) do distinct = distinct + 1 end
    assert.are.equal(11, distinct)
  end)

  it("qrandint draws the multiples of q in [lower, upper] uniformly", function()
    local xs = draw(sample.qrandint(0, 10, 5))
    assert.is_true(all_integers(xs))
    local c = counts(xs)
    for k, n in pairs(c) do
      assert.is_true(k == 0 or k == 5 or k == 10, "drew " .. k)
      assert.is_true(math.abs(n / N - 1 / 3) < 0.05, k .. ": " .. n)
    end
    assert.is_true(c[10] ~= nil)
    -- lower not a multiple: never below lower (Ray 2.0 drew 0 here, ray#28045)
    local c2 = counts(draw(sample.qrandint(1, 10, 3)))
    for k in pairs(c2) do assert.is_true(k == 3 or k == 6 or k == 9, "drew " .. k) end
    assert.is_true(c2[3] ~= nil and c2[9] ~= nil)
  end)

  it("qrandint draws up to math.maxinteger (upper + 1 does not wrap round)", function()
    local top = math.maxinteger
    local c = counts(draw(sample.qrandint(top - 2, top)))
    for k in pairs(c) do assert.is_true(k >= top - 2, "drew " .. k) end
    for v = top - 2, top do assert.is_true((c[v] or 0) > 0, "never drew " .. v) end
    local c3 = counts(draw(sample.qrandint(top - 10, top, 5)))
    for k in pairs(c3) do assert.is_true(k % 5 == 0 and k >= top - 10, "drew " .. k) end
  end)

  it("lograndint never returns upper and favours small values", function()
    local xs = draw(sample.lograndint(1, 10))
    assert.is_true(all_integers(xs))
    local c = counts(xs)
    assert.is_nil(c[10])
    local lo, hi = min_max(xs)
    assert.are.equal(1, lo)
    assert.are.equal(9, hi)
    assert.is_true(c[1] > 3 * c[9], c[1] .. " vs " .. c[9])
  end)

  it("qlograndint can return upper", function()
    local xs = draw(sample.qlograndint(1, 10, 1))
    assert.is_true(all_integers(xs))
    local lo, hi = min_max(xs)
    assert.are.equal(1, lo)
    assert.are.equal(10, hi)
    local ys = draw(sample.qlograndint(2, 64, 2))
    assert.is_true(all_integers(ys))
    assert.is_true(all_multiples(ys, 2))
    local lo2, hi2 = min_max(ys)
    assert.are.equal(2, lo2)
    assert.are.equal(64, hi2)
  end)

  it("qlograndint draws between the multiples of q, as Ray narrows the bounds first", function()
    -- With a lower bound below the first multiple, every draw below it
    -- landed on it: 10 came up 59 % of the time in [1, 100] by 10, where
    -- Ray draws from [10, 100): log10(1.5), about 18 %.
    local c = counts(draw(sample.qlograndint(1, 100, 10)))
    local n = 0
    for _, k in pairs(c) do n = n + k end
    assert.is_true(c[10] / n > 0.12 and c[10] / n < 0.24, tostring(c[10] / n))
    assert.same(counts(draw(sample.qlograndint(10, 100, 10))), c)
  end)

  it("choice draws every category, as copies", function()
    local cats = {"a", 2, {k = 1}}
    local d = sample.choice(cats)
    local seen = {}
    local rng = sample.Random(3)
    for _ = 1, 300 do
      local v = d:sample(rng)
      if type(v) == "table" then
        assert.are_not.equal(cats[3], v)
        assert.are.same({k = 1}, v)
        seen.t = true
      else
        seen[v] = true
      end
    end
    assert.is_true(seen.a and seen[2] and seen.t)
    local only = sample.choice({{k = 1}})
    local first, second = only:sample(rng), only:sample(rng)
    assert.are_not.equal(first, second)
    assert.are_not.equal(only.categories[1], first)
  end)

  it("sample_from calls the function with spec and rng", function()
    local got_spec, got_rng
    local d = sample.sample_from(function(spec, rng)
      got_spec, got_rng = spec, rng
      return spec.config.x * 2
    end)
    local rng = sample.Random(1)
    assert.are.equal(14, d:sample(rng, {config = {x = 7}}))
    assert.are.equal(rng, got_rng)
    assert.are.same({config = {x = 7}}, got_spec)
  end)

  it("domains carry the fields a model-based searcher reads", function()
    local function fields(d)
      return {d.kind, d.sampler, d.lower, d.upper, d.upper_inclusive, d.log, d.base, d.q}
    end
    assert.are.same({"float", "uniform", 1.0, 2.0, false, false, nil, nil}, fields(sample.uniform(1, 2)))
    assert.are.same({"float", "uniform", 0.0, 1.0, true, false, nil, 0.5}, fields(sample.quniform(0, 1, 0.5)))
    assert.are.same({"float", "loguniform", 1e-3, 1.0, false, true, 10, nil}, fields(sample.loguniform(1e-3, 1)))
    assert.are.same({"float", "loguniform", 1e-3, 1.0, true, true, 2, 1e-3},
      fields(sample.qloguniform(1e-3, 1, 1e-3, 2)))
    assert.are.same({"int", "uniform", 0, 5, false, false, nil, nil}, fields(sample.randint(0, 5)))
    assert.are.same({"int", "uniform", 0, 5, true, false, nil, 1}, fields(sample.qrandint(0, 5)))
    assert.are.same({"int", "loguniform", 1, 100, false, true, 10, nil}, fields(sample.lograndint(1, 100)))
    assert.are.same({"int", "loguniform", 2, 100, true, true, 10, 2}, fields(sample.qlograndint(2, 100, 2)))
    assert.are.equal("integer", math.type(sample.randint(0.0, 5.0).lower))
    local n = sample.qrandn(1, 2, 0.5)
    assert.are.same({"float", "normal", 1.0, 2.0, 0.5, -math.huge, math.huge},
      {n.kind, n.sampler, n.mean, n.sd, n.q, n.lower, n.upper})
    local c = sample.choice({"x", "y"})
    assert.are.equal("categorical", c.kind)
    assert.are.same({"x", "y"}, c.categories)
    local fn = function() return 1 end
    local f = sample.sample_from(fn)
    assert.are.equal("function", f.kind)
    assert.are.equal(fn, f.fn)
    assert.is_nil(f.sampler)
  end)

  it("is_domain and is_grid recognise their values", function()
    assert.is_true(sample.is_domain(sample.uniform(0, 1)))
    assert.is_false(sample.is_domain({kind = "float"}))
    local values = {1, 2}
    local g = sample.grid_search(values)
    assert.are.equal(values, g.grid_search)
    assert.are.same({grid_search = {1, 2}}, g)
    assert.is_true(sample.is_grid(g))
    assert.is_true(sample.is_grid({grid_search = {"a"}}))
    assert.is_false(sample.is_grid({grid_search = {1}, other = 1}))
    assert.is_false(sample.is_grid({grid_search = "abc"}))
    assert.is_false(sample.is_grid({grid_search = {a = 1}}))
    assert.is_false(sample.is_grid(sample.choice({1})))
  end)

  it("is_valid follows the bounds conventions", function()
    assert.is_true(sample.randint(0, 5):is_valid(4))
    -- Ray's Integer.is_valid is lower <= value <= upper, as Float's: the
    -- upper bound and numbers between integers too.
    assert.is_true(sample.randint(0, 5):is_valid(5))
    assert.is_true(sample.randint(0, 5):is_valid(2.5))
    assert.is_false(sample.randint(0, 5):is_valid(5.5))
    assert.is_false(sample.randint(0, 5):is_valid("1"))
    assert.is_true(sample.qrandint(0, 5):is_valid(5))
    assert.is_false(sample.uniform(0, 1):is_valid(1.5))
    assert.is_true(sample.choice({"a"}):is_valid("a"))
    assert.is_false(sample.choice({"a"}):is_valid("b"))
    -- Ray's Float.is_valid holds both bounds.
    assert.is_true(sample.uniform(0, 1):is_valid(1))
    assert.is_true(sample.loguniform(1e-4, 0.1):is_valid(0.1))
    assert.is_false(sample.loguniform(1e-4, 0.1):is_valid(0.10000000000000002))
    -- A choice's tables by content (Python's `in`), a list as a whole.
    local c = sample.choice({{a = 1}, {b = 2}, {5, 6}})
    assert.is_true(c:is_valid({b = 2}))
    assert.is_true(c:is_valid({5, 6}))
    assert.is_false(c:is_valid({b = 2, c = 3}))
    assert.is_false(c:is_valid({5}))
    assert.is_false(sample.choice({{lr = sample.uniform(0, 1)}}):is_valid({lr = 0.5}))
  end)
end)

describe("search space argument validation", function()
  local cases = {
    {function() local _ = sample.uniform(1, 1) end, "uniform: lower bound %(1%) must be < upper bound %(1%)"},
    {function() local _ = sample.uniform("a", 1) end, "uniform: lower must be a finite number %(got string%)"},
    {function() local _ = sample.uniform(0, math.huge) end, "uniform: upper must be a finite number"},
    {function() local _ = sample.loguniform(0, 1) end, "loguniform: lower bound must be > 0 %(got 0%)"},
    {function() local _ = sample.loguniform(-1, 1) end, "loguniform: lower bound must be > 0"},
    {function() local _ = sample.loguniform(1, 0.5) end, "loguniform: lower bound %(1%) must be < upper bound %(0.5%)"},
    {function() local _ = sample.loguniform(1, 10, 1) end, "loguniform: base must be a positive number other than 1"},
    {function() local _ = sample.quniform(0.15, 1, 0.1) end,
      "quniform: lower bound 0.15 is not divisible by quantization factor 0.1"},
    {function() local _ = sample.quniform(0, 32, 3) end, "quniform: upper bound 32 is not divisible"},
    {function() local _ = sample.quniform(0, 1) end, "quniform: q is required"},
    {function() local _ = sample.quniform(0, 1, 0) end, "quniform: q must be a number > 0"},
    {function() local _ = sample.qloguniform(1e-4, 1e-1, 5e-4) end, "qloguniform: lower bound 0.0001 is not divisible"},
    {function() local _ = sample.randn(0, 0) end, "randn: sd must be > 0 %(got 0%)"},
    {function() local _ = sample.qrandn(0, 1, -1) end, "qrandn: q must be a number > 0"},
    {function() local _ = sample.randint(1.5, 3) end, "randint: lower must be an integer %(got 1.5%)"},
    {function() local _ = sample.randint(1, "x") end, "randint: upper must be an integer %(got string%)"},
    {function() local _ = sample.randint(5, 5) end, "randint: lower bound %(5%) must be < upper bound %(5%)"},
    {function() local _ = sample.qrandint(1, 2, 3) end, "qrandint: no multiple of q=3 in %[1, 2%]"},
    {function() local _ = sample.qrandint(0, 10, 2.5) end, "qrandint: q must be an integer %(got 2.5%)"},
    {function() local _ = sample.lograndint(0, 10) end, "lograndint: lower bound must be > 0 %(got 0%)"},
    {function() local _ = sample.qlograndint(1, 10) end, "qlograndint: q is required"},
    {function() local _ = sample.choice({}) end, "choice: categories must be a non%-empty list"},
    {function() local _ = sample.choice("abc") end, "choice: categories must be a non%-empty list %(got string%)"},
    {function() local _ = sample.choice({a = 1}) end, "choice: categories must be a non%-empty list"},
    -- A config holds plain data: a NUL failed the snapshot inside the
    -- library, other bytes that are not UTF-8 reached the trial changed.
    {function() local _ = sample.choice({"a", "b\0c"}) end,
      "choice: categories.2 holds a string with a NUL character, which a trial's config cannot hold"},
    {function() local _ = sample.choice({{name = "caf\xe9"}}) end,
      "choice: categories.1.name holds a string with bytes that are not UTF%-8"},
    {function() local _ = sample.choice({print}) end, "choice: categories.1 holds a function"},
    {function() local _ = sample.sample_from(42) end, "sample_from: expected a function %(got number%)"},
    {function() local _ = sample.grid_search({}) end, "grid_search: values must be a non%-empty list"},
    {function() local _ = sample.grid_search("ab") end, "grid_search: values must be a non%-empty list %(got string%)"},
    -- A draw is lower + (upper - lower) * u: a range that overflows drew inf,
    -- or failed at the first draw (integers).
    {function() local _ = sample.uniform(-1e308, 1e308) end, "uniform: the range upper %- lower must be finite"},
    {function() local _ = sample.quniform(-1e308, 1e308, 1e300) end,
      "quniform: the range upper %- lower must be finite"},
    {function() local _ = sample.randint(math.mininteger, math.maxinteger) end,
      "randint: the range upper %- lower must fit in an integer"},
    {function() local _ = sample.qrandint(-10, math.maxinteger, 5) end,
      "qrandint: the range upper %- lower must fit in an integer"},
  }
  for i, case in ipairs(cases) do
    it("rejects case " .. i .. " (" .. case[2]:gsub("%%", "") .. ") at the caller's line", function()
      local msg = err_of(case[1])
      assert.matches(HERE .. case[2], msg)
    end)
  end

  it("samples the widest ranges it accepts within their bounds", function()
    local rng = sample.Random(1)
    local f, i, n = sample.uniform(-8e307, 8e307), sample.randint(0, math.maxinteger), sample.randint(-2^61, 2^61)
    for _ = 1, 100 do
      local x = f:sample(rng)
      assert.is_true(x >= -8e307 and x < 8e307, tostring(x))
      assert.is_true(i:sample(rng) >= 0)
      local k = n:sample(rng)
      assert.is_true(math.type(k) == "integer" and k >= -2^61 and k < 2^61)
    end
  end)
end)

describe("Random", function()
  it("is xoshiro256** seeded by splitmix64 (known answers)", function()
    local r = sample.Random(42)
    assert.are.equal("15780b2e0c2ec716", string.format("%016x", r:next_u64()))
    assert.are.equal("6104d9866d113a7e", string.format("%016x", r:next_u64()))
    assert.are.equal("ae17533239e499a1", string.format("%016x", r:next_u64()))
    assert.are.equal(0.08386297105988216, sample.Random(42):random())
    local z = sample.Random(0)
    assert.are.equal("99ec5f36cb75f2b4", string.format("%016x", z:next_u64()))
  end)

  it("repeats a sequence for the same seed and differs for another", function()
    local a, b, c = sample.Random(7), sample.Random(7), sample.Random(8)
    local same, differ = true, false
    for _ = 1, 100 do
      local x, y, z = a:random(), b:random(), c:random()
      if x ~= y then same = false end
      if x ~= z then differ = true end
    end
    assert.is_true(same)
    assert.is_true(differ)
    assert.are_not.equal(sample.Random():next_u64(), sample.Random():next_u64())
  end)

  it("random() is in [0, 1) with 53-bit resolution", function()
    local r = sample.Random(11)
    for _ = 1, N do
      local x = r:random()
      assert.is_true(x >= 0 and x < 1)
      local scaled = x * 2 ^ 53
      assert.are.equal(math.floor(scaled), scaled)
    end
  end)

  it("randint, uniform, choice and shuffle", function()
    local r = sample.Random(5)
    local c = {}
    for _ = 1, N do
      local v = r:randint(-2, 3)
      assert.are.equal("integer", math.type(v))
      c[v] = (c[v] or 0) + 1
    end
    assert.is_nil(c[3])
    for v = -2, 2 do assert.is_true((c[v] or 0) > 0) end
    for _ = 1, 100 do
      local u = r:uniform(5, 6)
      assert.is_true(u >= 5 and u < 6)
    end
    local seen = {}
    for _ = 1, 200 do seen[r:choice({"x", "y", "z"})] = true end
    assert.is_true(seen.x and seen.y and seen.z)
    local l1 = sample.Random(9):shuffle({1, 2, 3, 4, 5, 6, 7, 8})
    local l2 = sample.Random(9):shuffle({1, 2, 3, 4, 5, 6, 7, 8})
    assert.are.same(l1, l2)
    assert.are_not.same({1, 2, 3, 4, 5, 6, 7, 8}, l1)
    local sorted = {table.unpack(l1)}
    table.sort(sorted)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8}, sorted)
    assert.matches(HERE .. "Random:randint: empty range %[3, 3%)", err_of(function() local _ = r:randint(3, 3) end))
    assert.matches(HERE .. "Random:choice: expected a non%-empty list", err_of(function() local _ = r:choice({}) end))
    assert.matches(HERE .. "Random: seed must be an integer or nil %(got 1.5%)",
      err_of(function() local _ = sample.Random(1.5) end))
  end)

  it("normal has about the right mean and sd", function()
    local r = sample.Random(21)
    local xs = {}
    for i = 1, N do xs[i] = r:normal(-3, 0.5) end
    local mean, sd = stats(xs)
    assert.is_true(math.abs(mean + 3) < 0.05, "mean " .. mean)
    assert.is_true(math.abs(sd - 0.5) < 0.05, "sd " .. sd)
  end)

  it("get_state/set_state round-trip through JSON", function()
    local r = sample.Random(-1)
    for _ = 1, 10 do r:random() end
    local state = r:get_state()
    assert.are.equal("xoshiro256**", state.algorithm)
    for i = 1, 4 do
      assert.are.equal("string", type(state.state[i]))
      assert.matches("^%x+$", state.state[i])
      assert.are.equal(16, #state.state[i])
    end
    local decoded = core.json_decode(core.json_encode(state))
    local r2 = sample.Random(99)
    r2:set_state(decoded)
    for _ = 1, 100 do
      assert.are.equal(r:next_u64(), r2:next_u64())
      assert.are.equal(r:random(), r2:random())
      assert.are.equal(r:normal(), r2:normal())
    end
    local clone = r:clone()
    assert.are.equal(r:next_u64(), clone:next_u64())
  end)

  it("set_state rejects bad states", function()
    local r = sample.Random(1)
    assert.matches("unknown algorithm", err_of(function() r:set_state({algorithm = "mt", state = {}}) end))
    assert.matches("state word 2 is not a 64%-bit hex string",
      err_of(function() r:set_state({algorithm = "xoshiro256**", state = {"1", "xyz", "3", "4"}}) end))
    assert.matches("all%-zero", err_of(function()
      r:set_state({algorithm = "xoshiro256**", state = {"0", "0", "0", "0"}})
    end))
  end)
end)

describe("generate_variants", function()
  local function xy(variants)
    local out = {}
    for i, v in ipairs(variants) do out[i] = {v.config.x, v.config.y} end
    return out
  end

  it("expands grids into the cartesian product, the first sorted path fastest", function()
    local config = {y = sample.grid_search({"a", "b", "c"}), x = sample.grid_search({10, 20})}
    assert.are.equal(6, vg.count_grid_variants(config))
    local vs = vg.generate_variants(config, sample.Random(1))
    assert.are.same({{10, "a"}, {20, "a"}, {10, "b"}, {20, "b"}, {10, "c"}, {20, "c"}}, xy(vs))
    assert.are.same({{path = {"x"}, value = 20}, {path = {"y"}, value = "b"}}, vs[4].resolved_vars)
  end)

  it("orders nested grids by full key path", function()
    local config = {
      z = {grid_search = {true, false}},
      b = {c = sample.grid_search({1, 2})},
      a = sample.grid_search({"p", "q"}),
    }
    assert.are.equal(8, vg.count_grid_variants(config))
    local vs = vg.generate_variants(config, sample.Random(1))
    assert.are.equal(8, #vs)
    local got = {}
    for i, v in ipairs(vs) do got[i] = {v.config.a, v.config.b.c, v.config.z} end
    assert.are.same({
      {"p", 1, true}, {"q", 1, true}, {"p", 2, true}, {"q", 2, true},
      {"p", 1, false}, {"q", 1, false}, {"p", 2, false}, {"q", 2, false},
    }, got)
  end)

  it("expands grids and domains inside arrays and grid values", function()
    local config = {
      layers = {sample.grid_search({8, 16}), 4},
      opt = sample.grid_search({
        {name = "sgd", lr = sample.grid_search({0.1, 0.01})},
        {name = "adam", lr = 0.001},
      }),
    }
    assert.are.equal(4, vg.count_grid_variants(config)) -- nested grids are not counted (Ray)
    local vs = vg.generate_variants(config, sample.Random(1))
    assert.are.equal(6, #vs)
    local got = {}
    for i, v in ipairs(vs) do
      assert.are.equal(4, v.config.layers[2])
      got[i] = {v.config.layers[1], v.config.opt.name, v.config.opt.lr}
    end
    assert.are.same({
      {8, "sgd", 0.1}, {8, "sgd", 0.01}, {16, "sgd", 0.1}, {16, "sgd", 0.01},
      {8, "adam", 0.001}, {16, "adam", 0.001},
    }, got)
    local paths = {}
    for i, rv in ipairs(vs[2].resolved_vars) do paths[i] = table.concat(rv.path, "/") end
    assert.are.same({"layers/1", "opt", "opt/lr"}, paths)
  end)

  it("resolves every domain anywhere in a nested config", function()
    local config = {
      model = {width = sample.randint(1, 5), act = sample.choice({"relu", "tanh"})},
      list = {sample.uniform(0, 1), {deep = sample.qrandint(0, 10, 5)}, "const"},
      n = 3,
    }
    local vs = vg.generate_variants(config, sample.Random(2))
    assert.are.equal(1, #vs)
    local c = vs[1].config
    assert.is_false(vg.has_unresolved_values(c))
    assert.is_true(c.model.width >= 1 and c.model.width < 5)
    assert.is_true(c.model.act == "relu" or c.model.act == "tanh")
    assert.are.equal("float", math.type(c.list[1]))
    assert.is_true(c.list[2].deep % 5 == 0)
    assert.are.equal("const", c.list[3])
    assert.are.equal(3, c.n)
    local paths = {}
    for i, rv in ipairs(vs[1].resolved_vars) do paths[i] = table.concat(rv.path, "/") end
    assert.are.same({"list/1", "list/2/deep", "model/act", "model/width"}, paths)
  end)

  it("samples fresh values for each grid point, and is reproducible", function()
    local config = {x = sample.grid_search({1, 2, 3}), r = sample.uniform(0, 1)}
    local a = vg.generate_variants(config, sample.Random(10))
    local b = vg.generate_variants(config, sample.Random(10))
    local c = vg.generate_variants(config, sample.Random(11))
    assert.are.same(a[1].config, b[1].config)
    assert.are.same(a[3].config, b[3].config)
    assert.are_not.equal(a[1].config.r, a[2].config.r)
    assert.are_not.equal(a[1].config.r, c[1].config.r)
  end)

  it("keeps random values constant over the grid with constant_grid_search", function()
    local config = {x = sample.grid_search({1, 2, 3}), r = sample.uniform(0, 1),
      d = sample.sample_from(function(spec) return spec.config.x * 10 end)}
    local vs = vg.generate_variants(config, sample.Random(10), {constant_grid_search = true})
    assert.are.equal(3, #vs)
    assert.are.equal(vs[1].config.r, vs[2].config.r)
    assert.are.equal(vs[1].config.r, vs[3].config.r)
    assert.are.same({10, 20, 30}, {vs[1].config.d, vs[2].config.d, vs[3].config.d})
    local plain = {x = sample.grid_search({1, 2}), r = sample.uniform(0, 1), s = {t = sample.randint(0, 10 ^ 9)}}
    local ws = vg.generate_variants(plain, sample.Random(12), {constant_grid_search = true})
    assert.are.equal(ws[1].config.r, ws[2].config.r)
    assert.are.equal(ws[1].config.s.t, ws[2].config.s.t)
    assert.is_true(sample.is_domain(plain.r) and sample.is_domain(plain.s.t)) -- input untouched
    local fresh = vg.generate_variants(plain, sample.Random(12))
    assert.are_not.equal(fresh[1].config.r, fresh[2].config.r)
    assert.matches("unknown option", err_of(function()
      local _ = vg.generate_variants(config, sample.Random(1), {constant = true})
    end))
  end)

  it("lets sample_from read spec.config, following a chain a -> b -> c", function()
    local config = {
      a = sample.randint(1, 100),
      b = sample.sample_from(function(spec) return spec.config.a + 1 end),
      c = sample.sample_from(function(spec) return spec.config.b * 2 end),
    }
    for _, v in ipairs(vg.generate_variants(config, sample.Random(3))) do
      assert.are.equal(v.config.a + 1, v.config.b)
      assert.are.equal(v.config.b * 2, v.config.c)
    end
  end)

  it("retries dependencies that are not resolved yet (reverse chain)", function()
    local calls = 0
    local config = {
      a = sample.sample_from(function(spec) calls = calls + 1 return spec.config.b * 2 end),
      b = sample.sample_from(function(spec) return spec.config.nested.c + 1 end),
      nested = {c = sample.randint(1, 100)},
      g = sample.grid_search({1, 2}),
      h = sample.sample_from(function(spec) return spec.config.g + spec.config.nested.c end),
    }
    local vs = vg.generate_variants(config, sample.Random(3))
    assert.are.equal(2, #vs)
    assert.are.equal(6, calls) -- three passes for each of the two grid points
    for _, v in ipairs(vs) do
      assert.are.equal(v.config.nested.c + 1, v.config.b)
      assert.are.equal(v.config.b * 2, v.config.a)
      assert.are.equal(v.config.g + v.config.nested.c, v.config.h)
    end
  end)

  it("gives sample_from functions the rng, a read-only spec, and copies what they return", function()
    local config = {
      sub = {k = 1, l = {2, 3}},
      r = sample.sample_from(function(spec, rng) return rng:randint(0, 1000) end),
      copy = sample.sample_from(function(spec) return spec.config.sub end),
      n = sample.sample_from(function(spec) return #spec.config.sub.l end),
      keys = sample.sample_from(function(spec)
        local ks = {}
        for k in pairs(spec.config.sub) do ks[#ks + 1] = k end
        table.sort(ks)
        return table.concat(ks, ",")
      end),
    }
    local a = vg.generate_variants(config, sample.Random(4))[1].config
    local b = vg.generate_variants(config, sample.Random(4))[1].config
    assert.are.equal(a.r, b.r)
    assert.are.same({k = 1, l = {2, 3}}, a.copy)
    assert.is_nil(getmetatable(a.copy))
    assert.are_not.equal(a.sub, a.copy)
    assert.are.equal(2, a.n)
    assert.are.equal("k,l", a.keys)
    local msg = err_of(function()
      local _ = vg.generate_variants({w = sample.sample_from(function(spec) spec.config.x = 1 end)}, sample.Random(1))
    end)
    assert.matches("config%.w: sample_from function failed: .*read%-only", msg)
  end)

  it("waits for a table a sample_from returns whole until its values are resolved", function()
    -- `copy` (sorted before `opt`) returned the view of opt while opt.lr
    -- was a Domain, and that Domain was drawn again: copy.lr ~= opt.lr.
    local config = {
      opt = {lr = sample.uniform(0, 1), name = "sgd", layers = {sample.randint(1, 100)}},
      copy = sample.sample_from(function(spec) return {opt = spec.config.opt, layers = spec.config.opt.layers} end),
    }
    for seed = 1, 5 do
      local c = vg.generate_variants(config, sample.Random(seed))[1].config
      assert.are.same(c.opt, c.copy.opt)
      assert.are.same(c.opt.layers, c.copy.layers)
      assert.are_not.equal(c.opt, c.copy.opt)
    end
    local msg = err_of(function()
      local _ = vg.generate_variants({s = sample.sample_from(function(spec) return spec.config end)}, sample.Random(1))
    end)
    assert.matches("config%.s: sample_from could not be resolved: `config` recursively depends on values not resolved", msg)
  end)

  it("reports a cycle naming the key path", function()
    local config = {
      a = sample.sample_from(function(spec) return spec.config.b end),
      b = sample.sample_from(function(spec) return spec.config.a end),
    }
    local msg = err_of(function() local _ = vg.generate_variants(config, sample.Random(1)) end)
    assert.matches(HERE .. "config%.[ab]: sample_from could not be resolved: `[ab]` recursively depends on", msg)
    assert.matches("circular dependency", msg)
  end)

  it("words a value that depends on itself as Ray does (test_var testRecursiveDep)", function()
    local msg = err_of(function()
      local _ = vg.generate_variants({foo = sample.sample_from(function(spec) return spec.config.foo end)},
        sample.Random(1))
    end)
    assert.matches("`foo` recursively depends on", msg, 1, true)
  end)

  it("names no line of tunelua's own in a cycle BasicVariantGenerator meets", function()
    -- The generator's error named its caller's line: basic_variant.lua's.
    require("tune").register_trainable("search_space_cycle", function() end)
    local bvg = require("tune.search.basic_variant"){random_state = 1}
    bvg:add_configurations({require("tune.experiment"){name = "cycle", trainable_name = "search_space_cycle",
      num_samples = 1, experiment_dir = "/nonexistent/cycle", config = {
        a = sample.sample_from(function(spec) return spec.config.b end),
        b = sample.sample_from(function(spec) return spec.config.a end)}}})
    local ok, msg = pcall(bvg.next_trial, bvg)
    assert.is_false(ok)
    assert.matches("^config%.[ab]: sample_from could not be resolved: `[ab]` recursively depends on", msg)
  end)

  it("never mutates the input config and copies constants", function()
    local const = {1, {2}}
    local domain = sample.uniform(0, 1)
    local grid = sample.grid_search({{v = 1}, {v = 2}})
    local config = {const = const, d = domain, g = grid}
    local vs = vg.generate_variants(config, sample.Random(1))
    assert.are.equal(2, #vs)
    assert.are.equal(const, config.const)
    assert.are.same({1, {2}}, config.const)
    assert.are.equal(domain, config.d)
    assert.are.equal(grid, config.g)
    assert.are.same({{v = 1}, {v = 2}}, config.g.grid_search)
    assert.are_not.equal(const, vs[1].config.const)
    assert.are.same(const, vs[1].config.const)
    assert.are_not.equal(grid.grid_search[1], vs[1].config.g)
    assert.are_not.equal(vs[1].config.const, vs[2].config.const)
    assert.is_true(vg.has_unresolved_values(config))
  end)

  it("returns one variant with no resolved vars for a constant config", function()
    local vs = vg.generate_variants({a = 1, b = {c = "x"}}, sample.Random(1))
    assert.are.equal(1, #vs)
    assert.are.same({}, vs[1].resolved_vars)
    assert.are.same({a = 1, b = {c = "x"}}, vs[1].config)
    assert.are.equal(1, vg.count_grid_variants({a = 1}))
  end)

  it("expands a choice of domains", function()
    local config = {x = sample.choice({sample.randint(100, 200)})}
    local v = vg.generate_variants(config, sample.Random(1))[1]
    assert.are.equal("integer", math.type(v.config.x))
    assert.is_true(v.config.x >= 100 and v.config.x < 200)
  end)

  it("names the key path in errors", function()
    local d = sample.loguniform(1e-3, 1)
    d.lower = 0
    assert.matches(HERE .. "config%.optimizer%.lr: loguniform: lower bound must be > 0",
      err_of(function() local _ = vg.generate_variants({optimizer = {lr = d}}, sample.Random(1)) end))
    assert.matches(HERE .. "config%.x: grid_search expected a list of values %(got string%)",
      err_of(function() local _ = vg.count_grid_variants({x = {grid_search = "abc"}}) end))
    assert.matches("config%.a%.b: grid_search needs at least one value",
      err_of(function() local _ = vg.generate_variants({a = {b = {grid_search = {}}}}, sample.Random(1)) end))
    assert.matches("config%.layers%[2%]: grid_search expected a list",
      err_of(function() local _ = vg.generate_variants({layers = {1, {grid_search = 5}}}, sample.Random(1)) end))
    local msg = err_of(function()
      local _ = vg.generate_variants({opt = {x = sample.sample_from(function() error("boom") end)}}, sample.Random(1))
    end)
    -- The function's error names its own line: none of the library's before it.
    assert.matches("^config%.opt%.x: sample_from function failed: [^\n]*" .. HERE .. "boom", msg)
    assert.matches("generate_variants: rng must be", err_of(function() local _ = vg.generate_variants({}) end))
    assert.matches("generate_variants: config must be a table", err_of(function()
      local _ = vg.generate_variants(5, sample.Random(1))
    end))
  end)
end)

describe("has_unresolved_values", function()
  it("finds domains, grids and sample_from anywhere", function()
    assert.is_false(vg.has_unresolved_values({}))
    assert.is_false(vg.has_unresolved_values({a = 1, b = {c = "x", d = {1, 2}}}))
    assert.is_true(vg.has_unresolved_values({a = {b = {sample.uniform(0, 1)}}}))
    assert.is_true(vg.has_unresolved_values({a = {{grid_search = {1}}}}))
    assert.is_true(vg.has_unresolved_values({f = sample.sample_from(function() return 1 end)}))
    assert.is_false(vg.has_unresolved_values({a = {grid_search = {1}, other = 2}}))
  end)
end)

describe("format_vars", function()
  it("formats floats with 4 decimals, sorted by path", function()
    assert.are.equal("lr=0.0100,momentum=0.9000", vg.format_vars({
      {path = {"momentum"}, value = 0.9},
      {path = {"lr"}, value = 0.01},
    }))
  end)

  it("uses the last key of each path, sorted by the full path", function()
    assert.are.equal("layers=3,lr=0.0010", vg.format_vars({
      {path = {"optimizer", "lr"}, value = 0.001},
      {path = {"model", "layers"}, value = 3},
    }))
    -- Ray's testFormatVars examples
    assert.are.equal("c=8.1235,d=7_8,e=3_4", vg.format_vars({
      {path = {"a", "b", "c"}, value = 8.1234567},
      {path = {"a", "b", "d"}, value = {7, 8}},
      {path = {"a", "b", "e"}, value = {{{3, 4}}}},
    }))
    assert.are.equal("b=1,c=22", vg.format_vars({
      {path = {"a", "c"}, value = 22},
      {path = {"a", "b"}, value = 1},
    }))
  end)

  it("cleans values like Ray's _clean_value", function()
    assert.are.equal("activation=relu_tanh_x", vg.format_vars({{path = {"activation"}, value = "relu/tanh x"}}))
    assert.are.equal("s=x", vg.format_vars({{path = {"s"}, value = "__x__"}}))
    assert.are.equal("s=a--b_c", vg.format_vars({{path = {"s"}, value = "a--b.c"}}))
    assert.are.equal("my_key=1", vg.format_vars({{path = {"my key"}, value = 1}}))
    assert.are.equal("n=3", vg.format_vars({{path = {"n"}, value = 3}}))
    assert.are.equal("n=3.0000", vg.format_vars({{path = {"n"}, value = 3.0}}))
    assert.are.equal("flag=True", vg.format_vars({{path = {"flag"}, value = true}}))
    assert.are.equal("d=k_1e-07", vg.format_vars({{path = {"d"}, value = {k = 1e-7}}}))
    -- str() of a list uses Python's float repr: fixed below 1e16, exponent from there
    assert.are.equal("l=1000000000000000_0,m=1e_16,n=0_1_2_5",
      vg.format_vars({{path = {"l"}, value = {1e15}}, {path = {"m"}, value = {1e16}},
        {path = {"n"}, value = {0.1, 2.5}}}))
    assert.are.equal("", vg.format_vars({}))
  end)

  it("tags generated variants", function()
    local vs = vg.generate_variants({
      lr = sample.grid_search({0.01, 0.1}), momentum = sample.grid_search({0.9}), fixed = 1,
    }, sample.Random(1))
    assert.are.equal("lr=0.0100,momentum=0.9000", vg.format_vars(vs[1].resolved_vars))
    assert.are.equal("lr=0.1000,momentum=0.9000", vg.format_vars(vs[2].resolved_vars))
  end)
end)

describe("variant plans (the fast path of Domain-only configs)", function()
  local tune = require("tune")

  it("sample_plan gives what generate_variants gives, draw for draw", function()
    local configs = {
      {x = tune.uniform(0, 1)},
      {a = tune.loguniform(1e-4, 1), b = tune.randint(1, 100), c = tune.qrandn(0, 1, 0.1), d = "const",
       nested = {e = tune.choice({"sgd", "adam"}), f = {g = tune.quniform(0, 10, 0.5)}}, list = {1, 2, 3}},
      {layers = tune.choice({{64, 64}, {128}}), opt = {lr = tune.lograndint(1, 1000)}, [1] = tune.uniform(-1, 1)},
      {},
      {k = 5, s = "x"},
    }
    for ci, config in ipairs(configs) do
      local plan = vg.plan(config)
      assert.is_table(plan, "config " .. ci .. " has a plan")
      local r1, r2 = sample.Random(ci * 7), sample.Random(ci * 7)
      for _ = 1, 200 do
        local want = vg.generate_variants(config, r1)
        local got = vg.sample_plan(plan, config, r2)
        assert.same(want, got)
      end
      assert.equal(r1:random(), r2:random())
    end
  end)

  it("configs that need the search have no plan", function()
    assert.is_nil(vg.plan({x = tune.grid_search({1, 2})}))
    assert.is_nil(vg.plan({x = tune.sample_from(function() return 1 end)}))
    assert.is_nil(vg.plan({x = tune.choice({tune.uniform(0, 1), 2})}))
    assert.is_nil(vg.plan({x = {y = tune.grid_search({1})}, z = tune.uniform(0, 1)}))
  end)

  it("a BasicVariantGenerator run gives the same trials with and without plans", function()
    local config = {lr = tune.loguniform(1e-4, 1), bs = tune.choice({16, 32, 64}), w = {d = tune.randint(0, 9)}}
    local function configs(use_plan)
      local saved = vg.plan
      if not use_plan then vg.plan = function() return nil end end
      tune.register_trainable("plan_probe", function() end)
      local gen = tune.search.BasicVariantGenerator{seed = 3}
      local Experiment = require("tune.experiment")
      gen:add_configurations({Experiment{name = "e", trainable_name = "plan_probe", config = config,
        num_samples = 50, local_dir = "/nonexistent"}})
      local out = {}
      while true do
        local t = gen:next_trial()
        if not t then break end
        out[#out + 1] = {t.config, t.experiment_tag, t.evaluated_params}
      end
      vg.plan = saved
      return out
    end
    local a, b = configs(true), configs(false)
    assert.equal(50, #a)
    assert.same(b, a)
  end)
end)
