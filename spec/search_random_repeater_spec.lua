-- RandomSearch and Repeater without the runner (and with
-- ConcurrencyLimiter around them).
local core = require("tune.core")
local sample = require("tune.search.sample")
local search = require("tune.search")
local RandomSearch = require("tune.search.random_search")
local Repeater = require("tune.search.repeater")
local Searcher = require("tune.search.searcher")

--- A searcher that records what it is told and suggests {n = k}.
local function recorder()
  local R = Searcher:extend(nil, "Recorder")
  function R:__init() Searcher.__init(self, {metric = "m", mode = "min"}); self.k = 0; self.told = {} end
  function R:suggest(trial_id)
    self.k = self.k + 1
    if self.finish_after and self.k > self.finish_after then return Searcher.FINISHED end
    return {n = self.k, nested = {a = 1}}
  end
  function R:on_trial_complete(trial_id, result, error_)
    self.told[#self.told + 1] = {id = trial_id, value = result and result.m, error = error_}
  end
  function R:save() return {k = self.k} end
  function R:restore(s) self.k = s.k end
  return R()
end

describe("RandomSearch", function()
  local space = {x = sample.uniform(0, 1), n = sample.randint(0, 10), c = sample.choice({"a", "b"}),
    nested = {lr = sample.loguniform(1e-4, 1e-1), fixed = 3}}

  it("is tune.search.RandomSearch and create_searcher('random_search'); 'random' is Ray's variant generator", function()
    assert.equal(RandomSearch, search.RandomSearch)
    assert.equal("RandomSearch", search.create_searcher("random_search", {seed = 1}).__name)
    -- Ray's SEARCH_ALG_IMPORT maps "random" to the BasicVariantGenerator.
    assert.equal("BasicVariantGenerator", search.create_searcher("random", {seed = 1}).__name)
    assert.equal("BasicVariantGenerator", search.create_searcher("variant_generator").__name)
  end)

  it("samples every domain independently, reproducibly with a seed", function()
    local a, b = RandomSearch{space = space, seed = 5}, RandomSearch{space = space, seed = 5}
    local seen = {}
    for i = 1, 50 do
      local ca, cb = a:suggest("t" .. i), b:suggest("t" .. i)
      assert.same(ca, cb)
      assert.is_true(ca.x >= 0 and ca.x < 1 and ca.n >= 0 and ca.n < 10 and ca.nested.lr >= 1e-4)
      assert.equal(3, ca.nested.fixed)
      seen[ca.c] = true
      a:on_trial_complete("t" .. i, {m = ca.x})
    end
    assert.is_true(seen.a and seen.b)
    local c = RandomSearch{space = space, seed = 6}
    assert.are_not.same(RandomSearch{space = space, seed = 5}:suggest("x"), c:suggest("x"))
  end)

  it("suggests points_to_evaluate first", function()
    local s = RandomSearch{space = space, seed = 1, points_to_evaluate = {{x = 0.5, nested = {lr = 0.01}}}}
    local c = s:suggest("a")
    assert.equal(0.5, c.x)
    assert.equal(0.01, c.nested.lr)
    assert.equal(3, c.nested.fixed)
    assert.is_true(c.n >= 0 and c.n < 10)
    assert.are_not.equal(0.5, s:suggest("b").x)
  end)

  it("takes tune.run's config when it has no space, and refuses grids", function()
    local s = RandomSearch{seed = 1}
    assert.has_error(function() s:suggest("a") end)
    assert.is_true(s:set_search_properties("m", "max", {x = sample.uniform(0, 1)}))
    assert.equal("m", s.metric)
    assert.equal("max", s.mode)
    assert.is_true(s:suggest("a").x < 1)
    assert.is_false(RandomSearch{space = space}:set_search_properties("m", "max", {y = 1}))
    assert.has_error(function() RandomSearch{space = {x = sample.grid_search({1, 2})}} end)
    assert.has_error(function() RandomSearch{spaec = {}} end, "RandomSearch: unknown option \"spaec\" (did you mean space?)")
  end)

  it("refuses a grid that a sample_from returns or a choice draws, naming it (only its first value ran)", function()
    local grid = function() return sample.grid_search({1, 2}) end
    for _, case in ipairs({{"RandomSearch", RandomSearch}, {"TPESearch", search.TPESearch}}) do
      local name, S = case[1], case[2]
      local s = S{seed = 1, space = {a = 1, g = {h = sample.sample_from(grid)}}, metric = "m", mode = "min"}
      local ok, e = pcall(s.suggest, s, "t1")
      assert.is_false(ok)
      assert.matches(name .. ": config: g/h: grid_search is not supported by a searcher, nor one that a sample_from "
        .. "returns or a choice draws", tostring(e), 1, true)
    end
    local s = RandomSearch{seed = 1, space = {c = sample.choice({sample.grid_search({1, 2})})}}
    assert.has_error(function() s:suggest("t1") end, "RandomSearch: config: c: grid_search is not supported by a "
      .. "searcher, nor one that a sample_from returns or a choice draws (use BasicVariantGenerator, the default "
      .. "search_alg, for grids)")
  end)

  it("continues identically after save and restore", function()
    local a = RandomSearch{space = space, seed = 3, points_to_evaluate = {{x = 0.1}, {x = 0.2}}}
    a:suggest("1")
    local state = core.json_decode(assert(core.json_encode(a:save())))
    local b = RandomSearch{space = space, seed = 99}
    b:restore(state)
    for i = 1, 5 do assert.same(a:suggest("n" .. i), b:suggest("n" .. i)) end
  end)

  it("replaces a list of the space with a point's list (Ray's merge_dicts), merges dicts key by key", function()
    -- The point's [64] was merged element by element: [64, 128, 32].
    local s = RandomSearch{space = {x = sample.uniform(0, 1), layers = {256, 128, 32}, opt = {a = 1, b = 2}},
      seed = 1, points_to_evaluate = {{layers = {64}, opt = {b = 3}}}}
    local c = s:suggest("a")
    assert.same({64}, c.layers)
    assert.same({a = 1, b = 3}, c.opt)
    assert.same({256, 128, 32}, s:suggest("b").layers)
  end)

  it("saves to a file and restores from it given a path (Ray's save/restore(checkpoint_path))", function()
    local dir = require("spec.support").tmpdir("random-save")
    local a = RandomSearch{space = space, seed = 3, points_to_evaluate = {{x = 0.1}, {x = 0.2}}}
    a:suggest("1")
    a:save(dir .. "/random.json")
    local b = RandomSearch{space = space, seed = 99}
    b:restore(dir .. "/random.json")
    for i = 1, 5 do assert.same(a:suggest("n" .. i), b:suggest("n" .. i)) end
    local ok, err = pcall(b.restore, b, dir .. "/none.json")
    assert.is_false(ok)
    assert.matches("RandomSearch:restore: cannot read " .. dir .. "/none.json (No such file or directory)", err, 1,
      true)
  end)

  it("works under a ConcurrencyLimiter", function()
    local lim = search.ConcurrencyLimiter(RandomSearch{space = space, seed = 1}, {max_concurrent = 2})
    assert.is_table(lim:suggest("a"))
    assert.is_table(lim:suggest("b"))
    assert.is_nil(lim:suggest("c"))
    lim:on_trial_complete("a", {m = 1})
    assert.is_table(lim:suggest("c"))
  end)
end)

describe("ConcurrencyLimiter", function()
  it("refuses an option it does not know, and a batch that is not a boolean", function()
    local s = RandomSearch{space = {x = sample.uniform(0, 1)}}
    assert.has_error(function() search.ConcurrencyLimiter(s, {max_concurrent = 2, bacth = true}) end,
      "ConcurrencyLimiter: unknown option \"bacth\" (did you mean batch?)")
    assert.has_error(function() search.ConcurrencyLimiter(s, {max_concurrent = 2, batch = "yes"}) end,
      "ConcurrencyLimiter: batch must be true or false, got string \"yes\"")
    assert.has_no.errors(function() search.ConcurrencyLimiter(s, 2, true) end)
    -- A batch after an options table was dropped without a word.
    assert.has_error(function() search.ConcurrencyLimiter(s, {max_concurrent = 2}, true) end,
      "ConcurrencyLimiter: give batch in the options table or after max_concurrent (searcher, n, batch), "
      .. "not after a table: it was ignored")
  end)

  it("saves to a file and restores from it given a path, its searcher's state with its own", function()
    local dir = require("spec.support").tmpdir("limiter-save")
    local function make(seed)
      return search.ConcurrencyLimiter(RandomSearch{space = {x = sample.uniform(0, 1)}, seed = seed}, 1)
    end
    local a = make(1)
    a:suggest("a")
    a:save(dir .. "/lim.json")
    local b = make(2)
    b:restore(dir .. "/lim.json")
    assert.is_nil(b:suggest("b")) -- "a" is still live
    a:on_trial_complete("a", {m = 1})
    b:on_trial_complete("a", {m = 1})
    assert.same(a:suggest("c"), b:suggest("c"))
  end)
end)

describe("Repeater", function()
  it("is tune.search.Repeater", function()
    assert.equal(Repeater, search.Repeater)
  end)

  it("repeats each suggestion and sets __trial_index__", function()
    local r = recorder()
    local rep = Repeater(r, {["repeat"] = 3})
    local configs = {}
    for i = 1, 7 do configs[i] = rep:suggest("t" .. i) end
    assert.equal(3, r.k) -- the searcher was asked once per group
    for i = 1, 7 do
      assert.equal((i - 1) // 3 + 1, configs[i].n)
      assert.equal((i - 1) % 3, configs[i].__trial_index__)
    end
    -- Each trial has its own copy.
    configs[1].nested.a = 99
    assert.equal(1, configs[2].nested.a)
  end)

  it("tells the searcher the mean once the whole group completed", function()
    local r = recorder()
    local rep = Repeater(r, {repeats = 2})
    rep:suggest("a"); rep:suggest("b"); rep:suggest("c"); rep:suggest("d")
    rep:on_trial_complete("a", {m = 1})
    assert.equal(0, #r.told)
    rep:on_trial_complete("b", {m = 3})
    assert.same({{id = "a", value = 2, error = nil}}, r.told)
    -- A trial without the metric counts as NaN and is left out of the mean.
    rep:on_trial_complete("d", nil, true)
    rep:on_trial_complete("c", {m = 5}, false)
    assert.equal(2, #r.told)
    assert.same({id = "c", value = 5, error = false}, r.told[2])
    -- Completed twice: told once.
    rep:on_trial_complete("c", {m = 5})
    assert.equal(2, #r.told)
  end)

  it("reports NaN when no repeat has the metric", function()
    local r = recorder()
    local rep = Repeater(r, 2)
    rep:suggest("a"); rep:suggest("b")
    rep:on_trial_complete("a", nil, true)
    rep:on_trial_complete("b", {other = 1}, true)
    assert.equal(1, #r.told)
    assert.is_true(r.told[1].value ~= r.told[1].value)
    assert.is_true(r.told[1].error)
  end)

  it("tells a searcher without a metric of a finished group with an empty result", function()
    local r = recorder()
    r.metric = nil
    local rep = Repeater(r, 2)
    rep:suggest("a"); rep:suggest("b")
    rep:on_trial_complete("a", {m = 1})
    rep:on_trial_complete("b", {m = 2})
    assert.same({{id = "a"}}, r.told)
  end)

  it("runs under tune.run without a metric", function()
    local support = require("spec.support")
    local out = support.run_script(support.tmpdir("repeater_nometric"), [[
local tune = require("tune")
local a = tune.run(function(c) tune.report{loss = c.x} end, {num_samples = 4, verbose = 0,
  search_alg = tune.search.Repeater(tune.search.RandomSearch{seed = 1}, 2), config = {x = tune.uniform(0, 1)}})
for _, t in ipairs(a.trials) do print(t.status) end
]])
    assert.equal(("TERMINATED\n"):rep(4), out)
  end)

  it("can leave __trial_index__ out, passes FINISHED and nil through", function()
    local r = recorder()
    r.finish_after = 1
    local rep = Repeater(r, {["repeat"] = 1, set_index = false})
    assert.is_nil(rep:suggest("a").__trial_index__)
    assert.equal(Searcher.FINISHED, rep:suggest("b"))
    assert.has_error(function() Repeater(r, {["repeat"] = 0}) end)
    assert.has_error(function() Repeater(r, {["repeat"] = 2, repeats = 2}) end)
    assert.has_error(function() Repeater(r, {times = 2}) end, "Repeater: unknown option \"times\"")
  end)

  it("saves its groups and the searcher's state, and restores both", function()
    local r = recorder()
    local rep = Repeater(r, {["repeat"] = 2})
    rep:suggest("a"); rep:suggest("b"); rep:suggest("c")
    rep:on_trial_complete("a", {m = 4})
    local state = core.json_decode(assert(core.json_encode(rep:save())))
    local r2 = recorder()
    local rep2 = Repeater(r2, {["repeat"] = 2})
    rep2:restore(state)
    assert.equal(2, r2.k)
    rep2:on_trial_complete("b", {m = 6})
    assert.same({{id = "a", value = 5, error = nil}}, r2.told)
    -- The open group goes on: "d" joins "c".
    local d = rep2:suggest("d")
    assert.equal(2, d.n)
    assert.equal(1, d.__trial_index__)
  end)

  it("saves to a file and restores from it given a path", function()
    local dir = require("spec.support").tmpdir("repeater-save")
    local rep = Repeater(recorder(), {["repeat"] = 2})
    rep:suggest("a"); rep:suggest("b"); rep:suggest("c")
    rep:on_trial_complete("a", {m = 4})
    rep:save(dir .. "/rep.json")
    local r2 = recorder()
    local rep2 = Repeater(r2, {["repeat"] = 2})
    rep2:restore(dir .. "/rep.json")
    assert.equal(2, r2.k)
    rep2:on_trial_complete("b", {m = 6})
    assert.same({{id = "a", value = 5, error = nil}}, r2.told)
    local ok, err = pcall(rep2.restore, rep2, dir .. "/none.json")
    assert.is_false(ok)
    assert.matches("Repeater:restore: cannot read " .. dir .. "/none.json", err, 1, true)
  end)

  it("averages repeats for TPESearch under a ConcurrencyLimiter", function()
    local tpe = search.TPESearch{space = {x = sample.uniform(-5, 5)}, metric = "m", mode = "min", seed = 1}
    local lim = search.ConcurrencyLimiter(Repeater(tpe, {["repeat"] = 3}), {max_concurrent = 3})
    local noise = {0.5, -0.5, 0}
    for g = 1, 6 do
      local ids = {}
      for k = 1, 3 do
        local id = "g" .. g .. "k" .. k
        local c = lim:suggest(id)
        ids[k] = {id, c}
      end
      assert.is_nil(lim:suggest("extra"))
      for k, e in ipairs(ids) do lim:on_trial_complete(e[1], {m = e[2].x ^ 2 + noise[k]}) end
    end
    assert.equal(6, tpe:num_observations())
    -- The model saw the means: x^2 exactly.
    for _, t in ipairs(tpe._hist.trials) do assert.near(t.p.x ^ 2, t.v, 1e-12) end
  end)
end)

describe("a searcher of one's own under tune.run", function()
  local support = require("spec.support")
  require("spec.fixtures.run_trainables")
  after_each(support.check_clean)

  it("is refused options that are not a table, in its own name at the caller's line", function()
    -- Searcher.__init indexed the number: a Lua error inside the library.
    local S = Searcher:extend(nil, "Mine")
    local ok, e = pcall(function() return S(5) end)
    assert.is_false(ok)
    assert.matches("search_random_repeater_spec.lua:%d+: Mine: the options must be a table, got number", e)
  end)

  it("refuses a grid_search of the config that its suggestions leave unset, naming it", function()
    -- The grid was resolved as the default generator resolves it, at its
    -- first value: every trial ran x = 1.
    local S = Searcher:extend(nil, "Mine")
    function S:set_search_properties() return true end
    function S:suggest() return {iters = 1} end
    local tune = require("tune")
    local ok, e = pcall(tune.run, "steps", {local_dir = support.tmpdir("grid_left"), verbose = 0, num_samples = 3,
      search_alg = S{metric = "loss", mode = "min"}, config = {opt = {x = tune.grid_search({1, 2, 3})}}})
    assert.is_false(ok)
    assert.matches("searcher Mine: its suggestion leaves opt/x, a grid_search of tune.run's config, unset",
      tostring(e), 1, true)
    -- Set by the suggestion, the grid is replaced and the run goes on.
    function S:suggest() return {iters = 1, opt = {x = 2}} end
    local a = tune.run("steps", {local_dir = support.tmpdir("grid_set"), verbose = 0, num_samples = 2,
      search_alg = S{metric = "loss", mode = "min"}, config = {opt = {x = tune.grid_search({1, 2, 3})}}})
    assert.equal(2, #a.trials)
    assert.equal(2, a.trials[1].config.opt.x)
    -- A grid the suggestion holds (TPESearch drawing a choice's category)
    -- was said to be left unset by it, "set c in the suggestion".
    ok, e = pcall(tune.run, "steps", {local_dir = support.tmpdir("grid_drawn"), verbose = 0, num_samples = 2,
      metric = "loss", mode = "min", search_alg = tune.search.TPESearch{seed = 1},
      config = {iters = 1, c = tune.choice({tune.grid_search({1, 2})})}})
    assert.is_false(ok)
    assert.matches("searcher TPESearch: its suggestion sets c to a grid_search (a choice's category?): a searcher "
      .. "suggests one config per trial and walks no grid", tostring(e), 1, true)
  end)
end)
