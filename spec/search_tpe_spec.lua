-- TPESearch without the runner: reproducibility, start-up, convergence,
-- domains, conditional spaces, resume state, bad results, points to
-- evaluate, mode, and the numbers of Optuna 3.1's TPESampler on a fixed
-- history.
local core = require("tune.core")
local sample = require("tune.search.sample")
local search = require("tune.search")
local TPESearch = require("tune.search.tpe")

local function drive(s, n, f, first)
  local configs, values = {}, {}
  for i = first or 1, (first or 1) + n - 1 do
    local id = "t" .. i
    local c = s:suggest(id)
    local v = f(c, i)
    s:on_trial_complete(id, {metric = v, config = c, training_iteration = 1})
    configs[#configs + 1], values[#values + 1] = c, v
  end
  return configs, values
end

local function quad(c) return (c.x - 3) ^ 2 end

local function branin(c)
  local x0, x1 = c.x0, c.x1
  local b, cc = 5.1 / (4 * math.pi ^ 2), 5 / math.pi
  return (x1 - b * x0 * x0 + cc * x0 - 6) ^ 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x0) + 10
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function space1() return {x = sample.uniform(-10, 10)} end

--- Mass of N(mu, sg) inside [0, 10] (for the multivariate check).
local function parzen_mass(mu, sg)
  local parzen = require("tune.search.tpe_parzen")
  return math.exp(parzen.log_gauss_mass((0 - mu) / sg, (10 - mu) / sg))
end

describe("TPESearch", function()
  it("is tune.search.TPESearch and tune.create_searcher('tpe')", function()
    assert.equal(TPESearch, search.TPESearch)
    local s = search.create_searcher("tpe", {seed = 1})
    assert.equal("TPESearch", s.__name)
    assert.is_false(s:set_max_concurrency(4))
  end)

  it("takes tune.run's config when its own space is empty (Ray's `if space`), as RandomSearch does", function()
    for _, cls in ipairs({TPESearch, search.RandomSearch}) do
      local s = cls{space = {}, seed = 1}
      assert.is_true(s:set_search_properties("m", "min", {x = sample.uniform(2, 3)}))
      local c = s:suggest("1")
      assert.is_true(c.x >= 2 and c.x <= 3)
    end
  end)

  it("is reproducible with a seed", function()
    local a = drive(TPESearch{space = space1(), metric = "metric", mode = "min", seed = 42}, 30, quad)
    local b = drive(TPESearch{space = space1(), metric = "metric", mode = "min", seed = 42}, 30, quad)
    local c = drive(TPESearch{space = space1(), metric = "metric", mode = "min", seed = 43}, 30, quad)
    assert.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("samples the start-up trials at random, whatever the results", function()
    local s1 = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 5, n_startup_trials = 10}
    local s2 = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 5, n_startup_trials = 10}
    local a = drive(s1, 11, quad)
    local b = drive(s2, 11, function(c) return -quad(c) end)
    for i = 1, 10 do assert.equal(a[i].x, b[i].x) end
    -- The 11th is the first model-based one: the opposite results move it.
    assert.are_not.equal(a[11].x, b[11].x)
    -- Start-up draws are spread over the domain.
    local lo, hi = math.huge, -math.huge
    for i = 1, 10 do lo, hi = math.min(lo, a[i].x), math.max(hi, a[i].x) end
    assert.is_true(hi - lo > 5)
  end)

  -- Optuna 3.1 on the same problem (10 seeds): the median distance of
  -- trials 61-80 to the optimum is 0.87 (0.84 to 1.06); TPESearch: 0.83.
  it("concentrates near the optimum of a 1-d quadratic", function()
    local configs = drive(TPESearch{space = space1(), metric = "metric", mode = "min", seed = 3}, 80, quad)
    local first, last = {}, {}
    for i = 1, 10 do first[#first + 1] = math.abs(configs[i].x - 3) end
    for i = 61, 80 do last[#last + 1] = math.abs(configs[i].x - 3) end
    assert.is_true(median(last) < 1.5, "median distance " .. median(last))
    assert.is_true(median(last) < median(first) / 3)
  end)

  it("with constant_liar, spreads suggestions made while others are pending (Optuna's constant liar)", function()
    local function pending_spread(liar, seed)
      -- Optuna's 24 EI candidates: with TPESearch's default 8 the draws
      -- are broad enough without the liar that it adds less.
      local s = TPESearch{space = space1(), metric = "metric", mode = "min", seed = seed, constant_liar = liar,
        n_ei_candidates = 24}
      drive(s, 30, quad)
      -- Eight suggestions in a row, none of them told.
      local xs, mean = {}, 0
      for i = 1, 8 do
        xs[i] = s:suggest("p" .. i).x
        mean = mean + xs[i] / 8
      end
      local var = 0
      for _, x in ipairs(xs) do var = var + (x - mean) ^ 2 / 8 end
      -- Told afterwards, they leave the history as without the liar.
      for i = 1, 8 do s:on_trial_complete("p" .. i, {metric = quad({x = xs[i]}), config = {x = xs[i]}}) end
      assert.equal(38, #s._hist.trials)
      return math.sqrt(var)
    end
    -- The median spread over eight seeds (one seed's model may be broad
    -- without the liar).
    local plain, liar = {}, {}
    for seed = 1, 8 do plain[seed], liar[seed] = pending_spread(false, seed), pending_spread(true, seed) end
    table.sort(plain)
    table.sort(liar)
    local mp, ml = (plain[4] + plain[5]) / 2, (liar[4] + liar[5]) / 2
    assert.is_true(ml > 1.5 * mp, string.format("median spread %.3f with the liar, %.3f without", ml, mp))
    assert.has_error(function() TPESearch{constant_liar = 1} end, "TPESearch: constant_liar must be true or false")
  end)

  it("multivariate: models the unconditional parameters jointly, as Optuna 3.1's multivariate TPE", function()
    local multi = require("tune.search.tpe_multi")
    local tspace = require("tune.search.tpe_space")
    -- One parameter on [0, 10], two observations: the mixture is theirs
    -- plus the prior, bandwidth 0.2 * n^(-1/5) * range, Optuna's weights.
    local sp = tspace.parse({x = sample.uniform(0, 10)})
    local o = {consider_prior = true, prior_weight = 1.0, consider_magic_clip = true, exact_density = false}
    local mix = multi._build(sp.params, {{x = 2.0}, {x = 7.0}}, {1.0, 1.0}, o, 1)
    -- (clipped from below to range / (1 + 3 components): the magic clip)
    local sigma = math.max(0.2 * 2 ^ (-1 / 5) * 10, 10 / 4)
    local function comp(mu, sg, x)
      local z = (x - mu) / sg
      local mass = parzen_mass(mu, sg)
      return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / mass
    end
    local want = math.log((comp(2, sigma, 3) + comp(7, sigma, 3) + comp(5, 10, 3)) / 3)
    assert.near(want, multi._logpdf(mix, {x = 3.0}, false), 1e-9)

    -- Through TPESearch: reproducible, in bounds for every kind of domain,
    -- conditional parameters still sampled (univariately).
    local space = {x = sample.uniform(-5, 5), n = sample.randint(0, 10), q = sample.quniform(0, 1, 0.25),
      lr = sample.loguniform(1e-4, 1e-1), c = sample.choice({"a", "b", {deep = sample.uniform(0, 1)}})}
    local function run(mv)
      local s = TPESearch{space = space, metric = "metric", mode = "min", seed = 4, multivariate = mv}
      return drive(s, 40, function(c)
        assert.is_true(c.x >= -5 and c.x < 5 and c.n >= 0 and c.n < 10 and math.type(c.n) == "integer")
        assert.is_true(c.q >= 0 and c.q <= 1 and (c.q * 4) % 1 == 0 and c.lr >= 1e-4 and c.lr < 1e-1)
        return c.x * c.x + c.n + (type(c.c) == "table" and c.c.deep or 1)
      end)
    end
    local a, b, u = run(true), run(true), run(false)
    assert.same(a, b)
    assert.are_not.same(a, u)
    assert.has_error(function() TPESearch{multivariate = "yes"} end, "TPESearch: multivariate must be true or false")
  end)

  it("maximizes with mode = 'max'", function()
    local configs = drive(TPESearch{space = space1(), metric = "metric", mode = "max", seed = 3}, 80,
      function(c) return -quad(c) end)
    local last = {}
    for i = 61, 80 do last[#last + 1] = math.abs(configs[i].x - 3) end
    assert.is_true(median(last) < 1.5, "median distance " .. median(last))
  end)

  it("finds Branin's minimum far better than its start-up", function()
    local s = TPESearch{space = {x0 = sample.uniform(-5, 10), x1 = sample.uniform(0, 15)}, metric = "metric",
      mode = "min", seed = 0}
    local _, values = drive(s, 100, branin)
    local best = math.huge
    for _, v in ipairs(values) do best = math.min(best, v) end
    assert.is_true(best - 0.39788735772973816 < 0.5, "regret " .. best)
    local late = {}
    for i = 71, 100 do late[#late + 1] = values[i] end
    local early = {}
    for i = 1, 10 do early[#early + 1] = values[i] end
    assert.is_true(median(late) < median(early) / 3, median(late) .. " vs " .. median(early))
  end)

  it("keeps every domain's values in bounds", function()
    local space = {
      u = sample.uniform(0, 1), lu = sample.loguniform(1e-4, 1e-1), qu = sample.quniform(-1, 1, 0.25),
      qlu = sample.qloguniform(5, 100, 5), ri = sample.randint(-3, 4), qri = sample.qrandint(0, 20, 5),
      lri = sample.lograndint(1, 1000), qlri = sample.qlograndint(4, 64, 4), rn = sample.randn(2, 0.5),
      qrn = sample.qrandn(0, 1, 0.5), ch = sample.choice({"relu", "tanh", 3, true}), const = "k",
      nested = {a = sample.randint(0, 2)},
    }
    local s = TPESearch{space = space, metric = "metric", mode = "min", seed = 11, n_startup_trials = 5}
    local configs = drive(s, 60, function(c)
      return c.u + math.log(c.lu) + c.qu + c.qlu / 100 + c.ri + c.qri + math.log(c.lri) + c.qlri + (c.rn - 2) ^ 2
        + c.qrn + (c.ch == "tanh" and 0 or 1) + c.nested.a
    end)
    local function is_mult(v, q) return math.abs(v / q - math.floor(v / q + 0.5)) < 1e-9 end
    for _, c in ipairs(configs) do
      for k, d in pairs(space) do
        if sample.is_domain(d) then assert.is_true(d:is_valid(c[k]), k .. "=" .. tostring(c[k])) end
      end
      assert.equal("k", c.const)
      assert.is_true(c.nested.a == 0 or c.nested.a == 1)
      for _, k in ipairs({"ri", "qri", "lri", "qlri"}) do assert.equal("integer", math.type(c[k]), k) end
      for _, k in ipairs({"u", "lu", "qu", "qlu", "rn", "qrn"}) do assert.equal("float", math.type(c[k]), k) end
      assert.is_true(c.u < 1 and c.lu < 0.1 and c.lri <= 999 and c.ri <= 3)
      assert.is_true(is_mult(c.qu, 0.25) and is_mult(c.qlu, 5) and is_mult(c.qrn, 0.5))
      assert.is_true(c.qri % 5 == 0 and c.qlri % 4 == 0 and c.qlri >= 4 and c.qlri <= 64)
    end
  end)

  it("moves integer, quantized and log parameters to their best values", function()
    -- Counted over five seeds: one seed's run may settle late on one of them.
    local ri, qu, lr = 0, 0, 0
    for seed = 1, 5 do
      local s = TPESearch{space = {ri = sample.randint(-3, 4), qu = sample.quniform(0, 2, 0.5),
        lr = sample.loguniform(1e-5, 1)}, metric = "metric", mode = "min", seed = seed}
      local configs = drive(s, 60, function(c) return c.ri + math.abs(c.qu - 1.5) + math.abs(math.log10(c.lr) + 3) end)
      for i = 41, 60 do
        local c = configs[i]
        if c.ri == -3 then ri = ri + 1 end
        if c.qu == 1.5 then qu = qu + 1 end
        if math.abs(math.log10(c.lr) + 3) < 1 then lr = lr + 1 end
      end
    end
    -- At random: about 14, 25 and 40 of the 100 last suggestions.
    assert.is_true(ri >= 40 and qu >= 30 and lr >= 50, string.format("best values in the last 5 x 20: %d %d %d", ri, qu, lr))
  end)

  it("samples and observes only the active branch of a conditional space", function()
    local space = {
      model = sample.choice({
        {kind = "svm", c = sample.loguniform(1e-3, 1e3), kernel = sample.choice({"rbf", "linear"})},
        {kind = "forest", trees = sample.randint(10, 200)},
        "none",
      }),
      lr = sample.uniform(0, 1),
    }
    local s = TPESearch{space = space, metric = "metric", mode = "min", seed = 2}
    local configs = drive(s, 50, function(c)
      local m = c.model
      if m == "none" then return 5 + c.lr end
      if m.kind == "svm" then return math.abs(math.log10(m.c) - 1) + (m.kernel == "rbf" and 0 or 1) + c.lr end
      return 2 + m.trees / 200 + c.lr
    end)
    local counts = {svm = 0, forest = 0, none = 0}
    for _, c in ipairs(configs) do
      local m = c.model
      if m == "none" then
        counts.none = counts.none + 1
      elseif m.kind == "svm" then
        counts.svm = counts.svm + 1
        assert.is_nil(m.trees)
        assert.is_true(m.c >= 1e-3 and m.c < 1e3 and (m.kernel == "rbf" or m.kernel == "linear"))
      else
        counts.forest = counts.forest + 1
        assert.is_nil(m.c)
        assert.is_nil(m.kernel)
        assert.is_true(m.trees >= 10 and m.trees < 200)
      end
    end
    -- Each branch's parameters were observed exactly when it was active.
    assert.equal(50, #s._hist.pobs["model"].t)
    assert.equal(counts.svm, #s._hist.pobs["model/#1/c"].t)
    assert.equal(counts.svm, #s._hist.pobs["model/#1/kernel"].t)
    assert.equal(counts.forest, #s._hist.pobs["model/#2/trees"].t)
    assert.equal(50, #s._hist.pobs["lr"].t)
    -- The best branch won in the end.
    local svm = 0
    for i = 31, 50 do if type(configs[i].model) == "table" and configs[i].model.kind == "svm" then svm = svm + 1 end end
    assert.is_true(svm >= 12, "svm in " .. svm .. " of the last 20")
  end)

  it("continues identically after save and restore through JSON", function()
    local function make() return TPESearch{space = {x = sample.uniform(-10, 10), n = sample.randint(0, 5),
      c = sample.choice({"a", "b"})}, metric = "metric", mode = "min", seed = 9} end
    local f = function(c) return quad(c) + c.n + (c.c == "a" and 1 or 0) end
    local a = make()
    drive(a, 25, f)
    a:suggest("pending") -- live when the state is taken
    local state = core.json_decode(assert(core.json_encode(a:save())))
    local b = make()
    b:restore(state)
    a:on_trial_complete("pending", {metric = 1.5})
    b:on_trial_complete("pending", {metric = 1.5})
    local ca = drive(a, 10, f, 100)
    local cb = drive(b, 10, f, 100)
    assert.same(ca, cb)
    assert.equal(a:num_observations(), b:num_observations())
  end)

  it("saves to a file and restores from it given a path (Ray's save/restore(checkpoint_path))", function()
    local dir = require("spec.support").tmpdir("tpe-save")
    local function make() return TPESearch{space = {x = sample.uniform(-10, 10), c = sample.choice({"a", "b"})},
      metric = "metric", mode = "min", seed = 3, n_startup_trials = 2} end
    local f = function(c) return quad(c) + (c.c == "a" and 1 or 0) end
    local a = make()
    drive(a, 12, f)
    local path = dir .. "/tpe.json"
    assert.equal("tunelua.tpe", a:save(path).format)
    assert.same({"tpe.json"}, core.listdir(dir)) -- written through a temporary file, renamed
    assert.equal("tunelua.tpe", core.json_decode(assert(core.read_file(path))).format)
    local b = make()
    b:restore(path)
    assert.equal(12, b:num_observations())
    assert.same(drive(a, 5, f, 100), drive(b, 5, f, 100))
    -- One error naming the path, at the caller's line.
    local ok, err = pcall(function() b:restore(dir .. "/missing.json") end)
    assert.is_false(ok)
    assert.matches("search_tpe_spec%.lua:%d+: TPESearch:restore: cannot read " .. dir:gsub("%p", "%%%0")
      .. "/missing%.json %(No such file or directory%)", err)
    assert(core.write_atomic(dir .. "/bad.json", "{not json"))
    ok, err = pcall(b.restore, b, dir .. "/bad.json")
    assert.is_false(ok)
    assert.matches("TPESearch:restore: " .. dir .. "/bad.json is not a saved state (invalid JSON", err, 1, true)
    ok, err = pcall(a.save, a, dir .. "/no/such/dir/tpe.json")
    assert.is_false(ok)
    assert.matches("TPESearch:save: cannot write " .. dir .. "/no/such/dir/tpe.json (No such file or directory)",
      err, 1, true)
    assert.equal(12, b:num_observations() - 5) -- the failed restores changed nothing
  end)

  it("refuses a saved state of another space", function()
    local a = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 1}
    drive(a, 3, quad)
    local b = TPESearch{space = {y = sample.uniform(0, 1)}, metric = "metric", mode = "min", seed = 1}
    assert.has_error(function() b:restore(a:save()) end)
  end)

  it("ignores NaN results and failed trials, keeps infinite ones, ranks pruned ones last", function()
    local s = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 1}
    s:suggest("nan")
    s:on_trial_complete("nan", {metric = 0 / 0})
    s:suggest("err")
    s:on_trial_complete("err", nil, true)
    assert.equal(0, s:num_observations())
    s:suggest("inf")
    s:on_trial_complete("inf", {metric = math.huge})
    s:suggest("ok")
    s:on_trial_complete("ok", {metric = 2})
    s:suggest("pruned")
    s:on_trial_result("pruned", {metric = 7, training_iteration = 1})
    s:on_trial_result("pruned", {metric = 0 / 0, training_iteration = 2})
    s:on_trial_complete("pruned", nil, false) -- removed before it finished: PRUNED
    s:suggest("stopped")
    s:on_trial_complete("stopped", nil, false)
    assert.equal(4, s:num_observations())
    -- Order: complete (2, then inf), then pruned at step 2 (NaN: +inf),
    -- then the one that never reported.
    local scores = {}
    for i, ti in ipairs(s._hist.order) do scores[i] = {s._hist.trials[ti].k, s._hist.trials[ti].v} end
    assert.same({{-math.huge, 2}, {-math.huge, math.huge}, {-2, math.huge}, {1, 0.0}}, scores)
    -- A second completion of the same trial is not counted twice.
    s:on_trial_complete("ok", {metric = 2})
    assert.equal(4, s:num_observations())
  end)

  it("suggests the points to evaluate first, sampling what they leave out", function()
    local s = TPESearch{space = {x = sample.uniform(-10, 10), n = sample.randint(0, 5), tag = "t"},
      metric = "metric", mode = "min", seed = 1,
      points_to_evaluate = {{x = 1.5, n = 2}, {x = -2.0}, {x = 0.0, n = 4, extra = "kept"}}}
    local c1, c2, c3 = s:suggest("a"), s:suggest("b"), s:suggest("c")
    assert.same({x = 1.5, n = 2, tag = "t"}, c1)
    assert.equal(-2.0, c2.x)
    assert.is_true(c2.n >= 0 and c2.n <= 4)
    assert.same({x = 0.0, n = 4, tag = "t", extra = "kept"}, c3)
    -- A value outside its domain: the message names the key and why.
    assert.has_error(function()
      TPESearch{space = {x = sample.uniform(0, 1)}, points_to_evaluate = {{x = 5}}}
    end, "TPESearch: points_to_evaluate[1]: x = 5 is outside uniform(0, 1)")
    assert.has_error(function()
      TPESearch{space = {o = {c = sample.choice({"a", "b"})}}, points_to_evaluate = {{o = {c = "a"}}, {o = {c = "z"}}}}
    end, 'TPESearch: points_to_evaluate[2]: o/c = "z" is not one of choice(["a", "b"])')
  end)

  it("takes a point at a float domain's upper bound (Ray's Float.is_valid, Optuna's high), learns from it", function()
    local s = TPESearch{
      space = {lr = sample.loguniform(1e-4, 0.1), d = sample.uniform(0, 0.5), q = sample.quniform(0, 1, 0.5)},
      metric = "metric", mode = "min", seed = 1, n_startup_trials = 2,
      points_to_evaluate = {{lr = 0.1, d = 0.5, q = 1.0}, {lr = 1e-4, d = 0.0, q = 0.0}}}
    local c = s:suggest("a")
    assert.same({lr = 0.1, d = 0.5, q = 1.0}, c)
    s:on_trial_complete("a", {metric = 1})
    assert.equal(1, s:num_observations())
    drive(s, 20, function(x) return x.lr + x.d + x.q end, 2)
    assert.equal(21, s:num_observations())
    assert.has_error(function()
      TPESearch{space = {lr = sample.loguniform(1e-4, 0.1)}, points_to_evaluate = {{lr = 0.2}}}
    end, "TPESearch: points_to_evaluate[1]: lr = 0.2 is outside loguniform(0.0001, 0.1, base=10)")
  end)

  it("puts a point's values that are not parameters into the config: lists whole, dicts key by key", function()
    -- tpe.md: such keys "are copied into the config"; a list replaces the
    -- constant list (it was dropped: the config kept [256,128,32]).
    local s = TPESearch{space = {x = sample.uniform(0, 1), layers = {256, 128, 32}, opt = {a = 1, b = 2}},
      metric = "metric", mode = "min", seed = 1,
      points_to_evaluate = {{layers = {64}, opt = {b = 3}, extra = {1, 2}}}}
    local c = s:suggest("a")
    assert.same({64}, c.layers)
    assert.same({a = 1, b = 3}, c.opt)
    assert.same({1, 2}, c.extra)
    assert.is_true(c.x >= 0 and c.x < 1)
    assert.same({256, 128, 32}, s:suggest("b").layers)
  end)

  it("takes its space from tune.run's config, or keeps its own", function()
    local s = TPESearch{seed = 1}
    assert.has_error(function() s:suggest("x") end)
    assert.is_true(s:set_search_properties("loss", "min", {x = sample.uniform(0, 1), fixed = 3}))
    assert.equal("loss", s.metric)
    local c = s:suggest("a")
    assert.equal(3, c.fixed)
    assert.is_true(c.x >= 0 and c.x < 1)
    local own = TPESearch{space = space1()}
    assert.is_false(own:set_search_properties("loss", "max", {x = sample.uniform(0, 1)}))
    assert.equal("loss", own.metric)
    assert.has_error(function()
      TPESearch{seed = 1}:set_search_properties("m", "min", {x = sample.grid_search({1, 2})})
    end)
    assert.has_error(function() TPESearch{n_startup_trial = 1} end, "TPESearch: unknown option \"n_startup_trial\" (did you mean n_startup_trials?)")
    assert.has_error(function() TPESearch{n_startup = 1} end,
      "TPESearch: unknown option \"n_startup\" (did you mean n_startup_trials?)")
  end)

  it("refuses an integer option given as a string, and a space whose range overflows", function()
    assert.has_error(function() TPESearch{n_startup_trials = "10"} end,
      'TPESearch: n_startup_trials must be an integer >= 0, got "10"')
    assert.has_error(function() TPESearch{n_ei_candidates = 2.5} end,
      "TPESearch: n_ei_candidates must be an integer >= 1, got 2.5")
    -- A domain changed after its constructor (which refuses it) is refused
    -- with the space: its draws were inf and crashed the Parzen estimator.
    local d = sample.uniform(0, 1)
    d.lower, d.upper = -1e308, 1e308
    local ok, err = pcall(TPESearch, {space = {x = d}})
    assert.is_false(ok)
    assert.matches("TPESearch: space: x: uniform: the range upper - lower must be finite", err, 1, true)
  end)

  it("learns from a trial it never suggested through result.config", function()
    local s = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 1}
    s:on_trial_complete("unknown", {metric = 1, config = {x = 2.5}})
    assert.equal(1, s:num_observations())
    s:on_trial_complete("outside", {metric = 1, config = {x = 50}})
    s:on_trial_complete("noconfig", {metric = 1})
    assert.equal(1, s:num_observations())
  end)

  it("learns from add_evaluated_point and checks what it is given", function()
    local s = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 1}
    s:add_evaluated_point({x = 1.0}, 4.0)
    s:add_evaluated_point({x = 2.0}, nil, true)
    s:add_evaluated_point({x = 3.0}, nil, false, true, {9, 8})
    assert.equal(2, s:num_observations())
    assert.has_error(function() s:add_evaluated_point({x = 99}, 1) end)
    assert.has_error(function() TPESearch{space = space1()}:add_evaluated_point({x = 1}, 1) end)
  end)

  it("scores candidates exactly as Optuna 3.1's TPESampler on a fixed history", function()
    -- Generated with Optuna 3.1.0's _get_observation_pairs,
    -- _split_observation_pairs and _ParzenEstimator (default options).
    local HISTORY = {
      {-3.855376, 0.0218653, "a", 23.914432}, {-0.379809, 0.000618889, "b", 4.11226},
      {-3.919233, 0.000638729, "c", 27.393537}, {5.18845, 0.0257761, "a", 17.954331},
      {0.894135, 0.0105437, "c", 2.0342}, {8.643903, 0.000436673, "b", 60.789097},
      {8.942923, 0.000613411, "a", 64.302274}, {4.008234, 0.0708579, "a", 9.89986},
      {-2.389209, 0.0235663, "c", 13.859029}, {-3.002458, 0.00371739, "a", 16.449432},
      {0.362129, 0.000380248, "a", 1.826812}, {-1.927264, 0.00296686, "a", 9.096577},
      {9.268725, 0.00111242, "b", 70.325544}, {7.56877, 0.0202275, "a", 43.454682},
      {3.58938, 0.000673205, "b", 8.876741}, {0.294675, 0.0093799, "a", 0.525285},
      {1.500132, 0.00180415, "b", 1.993859}, {8.596349, 0.00034782, "c", 61.163164},
      {2.559327, 0.00740913, "c", 4.561733}, {1.077986, 0.0100411, "b", 1.007863},
      {6.726033, 0.0113211, "c", 34.841343}, {9.332025, 0.0111877, "a", 69.471381},
      {3.88892, 0.000507413, "c", 11.640497}, {-2.84558, 0.00220655, "b", 16.444772},
      {2.08486, 0.0334526, "a", 1.701351}, {2.988364, 0.000131504, "c", 7.834652},
      {6.127708, 0.00286732, "a", 26.835913}, {5.236779, 0.00320458, "b", 19.444525},
      {6.78725, 0.071451, "b", 35.346271}, {1.72181, 0.0211204, "c", 2.845712},
      {1.890422, 0.000213804, "c", 4.462836}, {6.673204, 0.0459057, "b", 33.84711},
      {8.141127, 0.000637563, "b", 53.191172}, {-4.390163, 0.0423658, "b", 30.680873},
      {-1.50364, 0.000336774, "b", 8.740875}, {5.758633, 0.000276339, "a", 24.203146},
      {-3.961219, 0.00117818, "b", 26.542482}, {2.11352, 0.0677223, "a", 2.070658},
      {5.922419, 0.0290859, "b", 25.693891}, {2.701015, 0.000342987, "b", 5.358174},
    }
    local want = {
      x = {1.351308823224697, 2.4256378368343694, 2.2799221766535149, 1.6310124858970256, 0.91895371048373931},
      lr = {1.5440629851128116, 1.3332133950511564, 1.7238564932860709, 1.6374003657771927},
      c = {0.64156905145897303, -0.39585346495746498, -0.52419353068823415},
    }
    local at = {x = {-4.0, 0.0, 1.0, 2.5, 9.0}, lr = {0.0002, 0.003, 0.01, 0.09}, c = {1, 2, 3}}
    local s = TPESearch{space = {x = sample.uniform(-5, 10), lr = sample.loguniform(1e-4, 1e-1),
      c = sample.choice({"a", "b", "c"})}, metric = "v", mode = "min", seed = 1, gamma = TPESearch.optuna_gamma}
    for _, h in ipairs(HISTORY) do s:add_evaluated_point({x = h[1], lr = h[2], c = h[3]}, h[4]) end
    for name, values in pairs(at) do
      local got = s:_scores(name, values)
      for i, w in ipairs(want[name]) do
        assert.is_true(math.abs(got[i] - w) <= 1e-12 * math.max(1, math.abs(w)),
          string.format("%s at %s: %.17g, Optuna %.17g", name, tostring(values[i]), got[i], w))
      end
    end
  end)

  it("starts from a Latin hypercube: each of n strata of every numeric parameter once", function()
    local s = TPESearch{space = {x = sample.uniform(0, 10), lr = sample.loguniform(1e-4, 1), k = sample.randint(0, 10),
      c = sample.choice({"a", "b"}), z = sample.randn(0, 1)}, metric = "v", mode = "min", seed = 3, n_startup_trials = 10}
    local seen = {x = {}, lr = {}, k = {}}
    local cs = {a = 0, b = 0}
    for i = 1, 10 do
      local c = s:suggest("t" .. i)
      seen.x[math.floor(c.x)] = true
      seen.lr[math.floor((math.log(c.lr) - math.log(1e-4)) / (-math.log(1e-4)) * 10)] = true
      seen.k[c.k] = true
      cs[c.c] = cs[c.c] + 1
      assert.is_number(c.z)
    end
    for _, name in ipairs({"x", "lr", "k"}) do
      for stratum = 0, 9 do assert.is_true(seen[name][stratum], name .. " misses stratum " .. stratum) end
    end
    assert.same({a = 5, b = 5}, cs)
    -- Saved halfway, the rest of the design is the same after restore.
    local a = TPESearch{space = space1(), metric = "v", mode = "min", seed = 5}
    for i = 1, 4 do a:suggest("t" .. i) end
    local b = TPESearch{space = space1(), metric = "v", mode = "min", seed = 99}
    b:restore(a:save())
    for i = 5, 10 do assert.equal(a:suggest("t" .. i).x, b:suggest("t" .. i).x) end
    -- "random" draws each start-up point independently, as Optuna.
    local r = TPESearch{space = space1(), metric = "v", mode = "min", seed = 3, startup_design = "random"}
    assert.equal("random", r.startup_design)
    assert.has_error(function() TPESearch{startup_design = "sobol"} end,
      'TPESearch: startup_design must be "random" or "lhs", got sobol')
  end)

  it("takes Optuna's other options: gamma, weights, prior, clip, endpoints", function()
    local calls = {}
    local s = TPESearch{space = space1(), metric = "metric", mode = "min", seed = 1, n_startup_trials = 0,
      gamma = function(n) calls[#calls + 1] = n; return 2 end,
      weights = function(n) local w = {} for i = 1, n do w[i] = i end return w end,
      prior_weight = 0.5, consider_prior = false, consider_magic_clip = false, consider_endpoints = true,
      exact_density = true, n_ei_candidates = 5}
    local configs = drive(s, 20, quad)
    assert.same({0, 1, 2, 3}, {calls[1], calls[2], calls[3], calls[4]})
    for _, c in ipairs(configs) do assert.is_true(c.x >= -10 and c.x < 10) end
    local bad = TPESearch{space = space1(), metric = "metric", mode = "min", n_startup_trials = 0,
      weights = function() return {-1} end}
    bad:add_evaluated_point({x = 1.0}, 1)
    assert.has_error(function() bad:suggest("x") end)
    assert.has_error(function() TPESearch{n_startup_trials = -1} end)
    assert.has_error(function() TPESearch{n_ei_candidates = 0} end)
    assert.has_error(function() TPESearch{gamma = 3} end)
    assert.has_error(function() TPESearch{prior_weight = 0} end)
  end)

  it("makes every exploit_every-th suggestion after the start-up a perturbation of the best trial", function()
    local space = {x = sample.uniform(-10, 10), y = sample.loguniform(1e-4, 1), c = sample.choice({"a", "b", "c"})}
    local function f(c) return (c.x - 3) ^ 2 + math.abs(math.log(c.y) - math.log(0.01)) + (c.c == "b" and 0 or 5) end
    -- A vanishing scale: each exploiting suggestion is the best trial's
    -- numeric values (within a millionth of their spread, itself at most
    -- a tenth of the range), its category four times in five.
    local s = TPESearch{space = space, metric = "metric", mode = "min", seed = 3, n_startup_trials = 5,
      exploit_every = 2, exploit_scale = 1e-6}
    local best, near, same_cat, exploiting = nil, 0, 0, 0
    for i = 1, 205 do
      local id = "t" .. i
      local c = s:suggest(id)
      if i > 5 and i % 2 == 0 then
        exploiting = exploiting + 1
        if math.abs(c.x - best.x) < 1e-4 and math.abs(math.log(c.y) - math.log(best.y)) < 1e-4 then
          near = near + 1
        end
        if c.c == best.c then same_cat = same_cat + 1 end
      end
      local v = f(c)
      s:on_trial_complete(id, {metric = v, config = c})
      if not best or v < best.v then best = {x = c.x, y = c.y, c = c.c, v = v} end
    end
    assert.equal(100, exploiting)
    assert.equal(100, near)
    assert.is_true(same_cat >= 70, "kept the category " .. same_cat .. " times in 100")
    -- Without it (exploit_every = 0) no suggestion repeats the best trial.
    s = TPESearch{space = space, metric = "metric", mode = "min", seed = 3, n_startup_trials = 5, exploit_every = 0}
    best, near = nil, 0
    for i = 1, 60 do
      local c = s:suggest("t" .. i)
      if best and math.abs(c.x - best.x) < 1e-4 then near = near + 1 end
      local v = f(c)
      s:on_trial_complete("t" .. i, {metric = v, config = c})
      if not best or v < best.v then best = {x = c.x, v = v} end
    end
    assert.equal(0, near)
    assert.has_error(function() TPESearch{exploit_every = -1} end,
      "TPESearch: exploit_every must be an integer >= 0, got -1")
    assert.has_error(function() TPESearch{exploit_scale = 0} end, "TPESearch: exploit_scale must be a positive number")
  end)

  it("suggests quickly with a long history", function()
    local s = TPESearch{space = {x = sample.uniform(-1, 1), y = sample.uniform(-1, 1)}, metric = "metric",
      mode = "min", seed = 0}
    for i = 1, 300 do
      s:add_evaluated_point({x = (i * 0.618034) % 2 - 1, y = (i * 0.414214) % 2 - 1}, (i * 7919) % 1000)
    end
    local t0 = os.clock()
    for i = 1, 20 do s:suggest("q" .. i) end
    local ms = (os.clock() - t0) / 20 * 1000
    -- Generous (sanitizer builds, busy machines); measured: well under 2 ms here.
    assert.is_true(ms < 50, ms .. " ms per suggestion")
  end)

  it("refuses an exploit_stall given without the exploitation step it changes", function()
    local ok, err = pcall(TPESearch, {exploit_every = 0, exploit_stall = 5})
    assert.is_false(ok)
    assert.matches("TPESearch: exploit_stall needs exploit_every > 0", tostring(err), 1, true)
    assert.has_no.errors(function() TPESearch{exploit_every = 0} end)
    assert.has_no.errors(function() TPESearch{exploit_every = 0, exploit_stall = 0} end)
  end)
end)
