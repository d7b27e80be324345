-- tune.schedulers.PB2, judged by Ray's own PB2 tests
-- (test_trial_scheduler_pbt.py: test_pb2_perturbation,
-- test_pb2_nested_hyperparams, test_pb2_missing_hyperparam_init,
-- test_pb2_hyperparam_bounds_validation, test_pb2_custom_explore_fn, and
-- the serialisation test as save/restore), the GP it rests on, and a run
-- through tune.run.
local tune = require("tune")
local core = require("tune.core")
local gp = require("tune.schedulers.pb2_gp")
local sample = require("tune.search.sample")
local support = require("spec.support")

local PB2 = tune.schedulers.PB2

local function create(bounds, extra)
  local opts = {metric = "score", mode = "max", time_attr = "training_iteration", perturbation_interval = 1,
    quantile_fraction = 0.25, hyperparam_bounds = bounds or {a = {0.0, 1.0}}, seed = 7}
  for k, v in pairs(extra or {}) do opts[k] = v end
  return PB2(opts)
end

local n = 0
local function trial(config)
  n = n + 1
  return {trial_id = "pb2_" .. n, config = config or {}, experiment_tag = tostring(n), status = "RUNNING"}
end

local function save_result(pb2, t, time, val)
  pb2:_save_trial_state(pb2._trial_state[t.trial_id], time, {training_iteration = time, score = val}, t)
end

local function flatten(c, prefix, out)
  out = out or {}
  for _, k in ipairs(require("tune.util").sorted_keys(c)) do
    if type(c[k]) == "table" then flatten(c[k], (prefix or "") .. k, out) else out[(prefix or "") .. k] = c[k] end
  end
  return out
end

describe("PB2", function()
  it("test_pb2_perturbation: with kappa 0 the new value lies toward the better trial", function()
    local pb2 = create({a = {1.0, 2.0}})
    local trials = {trial({a = 1.0}), trial({a = 2.0})}
    for _, t in ipairs(trials) do pb2:on_trial_add({}, t) end
    -- Trial 1's score rises by 10 a step, trial 2's by 20.
    for time = 1, 10 do
      for i, t in ipairs(trials) do save_result(pb2, t, time, time * i * 10) end
    end
    pb2._ucb_kappa = 0
    local new_config = pb2:_get_new_config(trials[1], trials[2])
    assert.is_true(new_config.a > 1.5, tostring(new_config.a))
    local lower, upper = pb2:_quantiles({})
    assert.same({trials[1].trial_id}, {lower[1].trial_id})
    assert.same({trials[2].trial_id}, {upper[1].trial_id})
    assert.equal(1, #lower)
    assert.equal(1, #upper)
  end)

  it("explores past a trial whose score went NaN or infinite (its points are left out of the data)", function()
    for _, bad in ipairs({0 / 0, math.huge, -math.huge}) do
      local pb2 = create({a = {1.0, 2.0}})
      local trials = {trial({a = 1.0}), trial({a = 2.0}), trial({a = 1.5})}
      for _, t in ipairs(trials) do pb2:on_trial_add({}, t) end
      for time = 1, 10 do
        for i, t in ipairs(trials) do save_result(pb2, t, time, (i == 3 and time > 4) and bad or time * i * 10) end
      end
      for _, p in ipairs(pb2:_points()) do assert.is_true(math.abs(p.y) < math.huge) end
      pb2._ucb_kappa = 0
      -- One such point made every target NaN: nothing was fitted, and the
      -- exploited trial kept the clone's value.
      local values = pb2:_select(trials[2].trial_id)
      assert.is_table(values, tostring(bad))
      assert.is_true(values[1] >= 1.0 and values[1] <= 2.0, tostring(values[1]))
    end
  end)

  it("test_pb2_nested_hyperparams: nested bounds behave as the same bounds flattened", function()
    local nested = create({a = {1.0, 2.0}, b = {c = {2.0, 4.0}, d = {4.0, 10.0}}})
    local flat = create({a = {1.0, 2.0}, bc = {2.0, 4.0}, bd = {4.0, 10.0}})
    local tn, tf = {}, {}
    for i = 1, 3 do
      tn[i] = trial()
      nested:on_trial_add({}, tn[i])
      tf[i] = trial(flatten(tn[i].config))
      flat:on_trial_add({}, tf[i])
    end
    for time = 1, 9 do
      for i = 1, 3 do
        save_result(nested, tn[i], time, time * i * 10)
        save_result(flat, tf[i], time, time * i * 10)
      end
      local cn = nested:_get_new_config(tn[1], tn[3])
      local cf = flat:_get_new_config(tf[1], tf[3])
      assert.same({"a", "b"}, require("tune.util").sorted_keys(cn))
      assert.same({"c", "d"}, require("tune.util").sorted_keys(cn.b))
      local fl = flatten(cn)
      -- np.allclose's tolerance: both searches converge to the same optimum.
      for k, v in pairs(cf) do assert.near(v, fl[k], 1e-8 + 1e-5 * math.abs(v)) end
    end
  end)

  it("test_pb2_missing_hyperparam_init: fills every missing hyperparameter within its bounds", function()
    local bounds = {a = {1.0, 2.0}, b = {c = {2.0, 4.0}, d = {4.0, 10.0}}}
    local pb2 = create(bounds)
    local function validate(config, b)
      for k, v in pairs(b) do
        if v[1] == nil then validate(config[k], v)
        else assert.is_true(config[k] >= v[1] and config[k] < v[2], k .. "=" .. tostring(config[k])) end
      end
    end
    local t = trial()
    pb2:on_trial_add({}, t)
    validate(t.config, bounds)
    t = trial({b = {c = 3.0}})
    pb2:on_trial_add({}, t)
    validate(t.config, bounds)
    assert.equal(3.0, t.config.b.c)
  end)

  it("test_pb2_hyperparam_bounds_validation: refuses a bound that is not {min, max}", function()
    local function err(bounds)
      local ok, e = pcall(create, bounds)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("must be a list of size 2", err({a = {1.0, 2.0}, b = {c = {2.0, 4.0, 6.0}}}), 1, true)
    assert.matches("min < max, got {4.0, 2.0} for b/c", err({a = {1.0, 2.0}, b = {c = {4.0, 2.0}}}), 1, true)
    assert.matches("`hyperparam_bounds` must be specified", err({}), 1, true)
    assert.matches('unknown option "hyperparam_mutations"',
      select(2, pcall(PB2, {hyperparam_bounds = {a = {0, 1}}, hyperparam_mutations = {}})), 1, true)
  end)

  it("refuses bounds that are not two finite numbers by config key, saying what it was given, at the caller's line",
      function()
    local function err(opts)
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, e = pcall(function() local x = PB2(opts); return x end)
      assert.is_false(ok)
      e = tostring(e)
      -- At the caller's line, never inside tunelua (sample.lua made the {0, inf} message before).
      assert.matches("sched_pb2_spec.lua:" .. line .. ": PB2: ", e, 1, true)
      return e
    end
    local function bounds(b) return err({hyperparam_bounds = b}) end
    assert.matches("PB2: `hyperparam_bounds` values must be finite numbers, {min, max}, but lr is {0, inf}",
      bounds({lr = {0, math.huge}}), 1, true)
    assert.matches("values must be finite numbers, {min, max}, but lr is {nan, 1}", bounds({lr = {0 / 0, 1}}), 1, true)
    assert.matches('values must be numbers, {min, max}, but lr is {"a", "b"}', bounds({lr = {"a", "b"}}), 1, true)
    assert.matches("values must be a list of size 2, {min, max}, but lr is {0.1}", bounds({lr = {0.1}}), 1, true)
    assert.matches("or a table of them, but b is an empty table", bounds({b = {}}), 1, true)
    assert.matches("PB2: `hyperparam_bounds` must be a table of {min, max} bounds by config key, got number",
      bounds(5), 1, true)
    -- A list of bounds (config key 1) is not bounds by config key.
    assert.matches("PB2: `hyperparam_bounds` keys must be config key names (strings), got number key 1",
      bounds({{0, 1}}), 1, true)
    assert.matches("keys must be config key names (strings), got number key 2 in b",
      bounds({b = {c = {0, 1}, [2] = {0, 1}}}), 1, true)
    -- A number given as a string is shown as the string it is.
    assert.matches('PB2: quantile_fraction must be a number, got string "0.2"',
      err({hyperparam_bounds = {lr = {0, 1}}, quantile_fraction = "0.2"}), 1, true)
  end)

  it("refuses a bounded key whose value is not a number when it first sees it, and leaves it as it was", function()
    local pb2 = create({opt = {0, 1}, b = {c = {0, 1}}})
    for _, case in ipairs({
        {{opt = "adam"}, 'holds string "adam" at opt'},
        {{opt = true}, "holds boolean at opt"},
        {{opt = {1, 2}}, "holds table at opt"},
        {{opt = 0.5, b = 3}, "holds 3 at b: PB2 explores numbers only"}}) do
      local t = trial(case[1])
      local before = require("tune.util").deepcopy(t.config)
      local ok, e = pcall(pb2.on_trial_add, pb2, {}, t)
      assert.is_false(ok)
      local msg = require("tune.experiment.refusal").message(e)
      assert.is_string(msg, tostring(e))
      assert.matches("^PB2: hyperparam_bounds has ", msg)
      assert.matches(case[2], msg, 1, true)
      assert.same(before, t.config)
      assert.is_nil(pb2._trial_state[t.trial_id])
    end
    -- Numbers, and keys left out (drawn within the bounds), are taken.
    local t = trial({opt = 1})
    pb2:on_trial_add({}, t)
    assert.equal(1, t.config.opt)
    assert.is_number(t.config.b.c)
  end)

  it("refuses through tune.run a categorical value of a bounded key, at the user's line", function()
    local dir = support.tmpdir("pb2_cat")
    local ex = tune.SimulatedExecutor{num_cpus = 2, curve = function(_, it) if it <= 3 then return {acc = it} end end}
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function() local a = tune.run("sim", {trial_executor = ex, verbose = 0, local_dir = dir,
      metric = "acc", mode = "max", num_samples = 2, config = {opt = tune.choice({"adam", "sgd"})},
      scheduler = PB2{perturbation_interval = 1, hyperparam_bounds = {opt = {0, 1}}, seed = 1}}); return a end)
    ex:close()
    assert.is_false(ok)
    assert.matches("sched_pb2_spec.lua:" .. line .. ": PB2: hyperparam_bounds has opt = {0, 1}, but trial ",
      tostring(e), 1, true)
    assert.not_matches("stack traceback", tostring(e), 1, true)
  end)

  it("takes back a trial it refuses mid-run: neither the journal nor the snapshot holds it", function()
    -- Refused after the first trial ran, the trial stayed in the runner's
    -- lists: the snapshot kept it PENDING and the journal had its status
    -- without its trial_added entry.
    local dir = support.tmpdir("pb2_mid")
    local ok = pcall(tune.run, "sim", {backend = "sim", sim = {curve = function(_, it) if it <= 3 then return {acc = it} end end},
      verbose = 0, local_dir = dir, name = "m", metric = "acc", mode = "max",
      config = {lr = tune.grid_search({0.1, "x"})}, search_alg = tune.search.BasicVariantGenerator{max_concurrent = 1},
      scheduler = PB2{hyperparam_bounds = {lr = {0, 1}}}})
    assert.is_false(ok)
    local a = tune.ExperimentAnalysis(dir .. "/m")
    assert.equal(1, #a.trials)
    assert.equal("TERMINATED", a.trials[1].status)
    for line in core.read_file(dir .. "/m/experiment_journal.jsonl"):gmatch("[^\n]+") do
      assert.equal(a.trials[1].trial_id, core.json_decode(line).trial_id or core.json_decode(line).trial.trial_id)
    end
    -- No last snapshot held the search algorithm's state past the trial it
    -- took back: a resume makes the trial again (and PB2 refuses it again),
    -- where it had refused to resume an experiment it knew no trial of.
    local ok2, err = pcall(tune.run, "sim", {backend = "sim", sim = {curve = function(_, it)
      if it <= 3 then return {acc = it} end end}, verbose = 0, local_dir = dir, name = "m", metric = "acc", mode = "max",
      resume = true, config = {lr = tune.grid_search({0.1, "x"})},
      search_alg = tune.search.BasicVariantGenerator{max_concurrent = 1},
      scheduler = PB2{hyperparam_bounds = {lr = {0, 1}}}})
    assert.is_false(ok2)
    assert.matches('PB2: hyperparam_bounds has lr = {0, 1}, but trial .* holds string "x" at lr', tostring(err))
  end)

  it("test_pb2_custom_explore_fn: post-processes the config PB2 chose", function()
    local pb2 = create({a = {1.0, 2.0}, b = {c = {2.0, 4.0}, d = {4.0, 10.0}}}, {custom_explore_fn = function(config)
      config.b.c = math.tointeger(math.floor(config.b.c))
      return config
    end})
    local t = trial()
    pb2:on_trial_add({}, t)
    save_result(pb2, t, 1, 10)
    local c = pb2:_get_new_config(t, t)
    assert.equal("integer", math.type(c.b.c))
  end)

  it("takes a callable table as custom_explore_fn, as PBT does (it was refused: must be a function)", function()
    local calls = 0
    local fn = setmetatable({}, {__call = function(_, config) calls = calls + 1; return config end})
    local pb2 = create({a = {0.0, 1.0}}, {custom_explore_fn = fn})
    local t = trial({a = 0.5})
    pb2:on_trial_add({}, t)
    save_result(pb2, t, 1, 10)
    assert.is_table(pb2:_get_new_config(t, t))
    assert.equal(1, calls)
    assert.has_error(function() create({a = {0.0, 1.0}}, {custom_explore_fn = {}}) end,
      "PB2: custom_explore_fn must be a function")
  end)

  it("fails on a custom_explore_fn that returns no config table, before it records anything", function()
    local pb2 = create({a = {0.0, 1.0}}, {custom_explore_fn = function() return 5 end})
    local t = trial({a = 0.5})
    pb2:on_trial_add({}, t)
    save_result(pb2, t, 1, 10)
    save_result(pb2, t, 2, 20)
    local data = #pb2._data
    local ok, e = pcall(pb2._get_new_config, pb2, t, t)
    assert.is_false(ok)
    assert.equal("custom_explore_fn must return a config table, got number", e)
    assert.equal(data, #pb2._data)
    -- A config a trial cannot take (a function in it) too.
    pb2._pb2_explore_fn = function(c) c.f = print; return c end
    ok, e = pcall(pb2._get_new_config, pb2, t, t)
    assert.is_false(ok)
    assert.matches("the explored config holds a function at config.f", e, 1, true)
    assert.equal(data, #pb2._data)
    -- nil keeps the config PB2 chose.
    pb2._pb2_explore_fn = function() return nil end
    assert.is_number(pb2:_get_new_config(t, t).a)
  end)

  it("keeps its data through save and restore (Ray's serialisation test)", function()
    local pb2 = create({a = {0.0, 1.0}})
    local trials = {trial({a = 0.2}), trial({a = 0.8})}
    for _, t in ipairs(trials) do pb2:on_trial_add({}, t) end
    for time = 1, 5 do
      for i, t in ipairs(trials) do save_result(pb2, t, time, time * i) end
    end
    local state = core.json_decode(core.json_encode(pb2:save()))
    local again = create({a = {0.0, 1.0}})
    again:restore(state)
    assert.equal(#pb2._data, #again._data)
    again._trial_state = pb2._trial_state
    pb2._ucb_kappa, again._ucb_kappa = 0, 0
    pb2._rng, again._rng = sample.Random(3), sample.Random(3)
    assert.near(pb2:_get_new_config(trials[1], trials[2]).a, again:_get_new_config(trials[1], trials[2]).a, 1e-12)
  end)

  it("is tune.create_scheduler('pb2')", function()
    assert.equal("PB2", tune.create_scheduler("pb2", {hyperparam_bounds = {x = {0, 1}}}).__name)
  end)
end)

describe("PB2's custom_explore_fn through tune.run", function()
  it("fails the trial with a clear message when it returns no table, and logs no policy", function()
    local dir = support.tmpdir("pb2_explore")
    local ex = tune.SimulatedExecutor{num_cpus = 2, curve = function(_, it, t)
      if it > 9 then return nil end
      return {acc = it * (4 - tonumber(t.trial_id:sub(-1)))}
    end}
    local ok, e = pcall(tune.run, "sim", {trial_executor = ex, verbose = 0, local_dir = dir, name = "x",
      metric = "acc", mode = "max", num_samples = 4, config = {lr = tune.uniform(0, 1)},
      scheduler = PB2{perturbation_interval = 3, hyperparam_bounds = {lr = {0, 1}}, seed = 1,
        custom_explore_fn = function() return 5 end}})
    ex:close()
    assert.is_false(ok)
    assert.matches("scheduler PB2 failed in on_trial_result: custom_explore_fn must return a config table, got number",
      tostring(e), 1, true)
    assert.not_matches("pbt_explore.lua", tostring(e), 1, true)
    -- Nothing of the bad config was written.
    assert.is_false(support.exists(dir .. "/x/pbt_global.txt"))
    for _, name in ipairs(core.listdir(dir .. "/x")) do assert.not_matches("^pbt_policy", name) end
  end)
end)

describe("PB2's GP", function()
  it("interpolates a smooth function and is least sure far from its data", function()
    local X, y = {}, {}
    for i = 0, 10 do
      X[#X + 1] = {0, 0, i / 10}
      y[#y + 1] = math.sin(3 * i / 10)
    end
    local m = gp.fit(X, y)
    local mean, var_near = gp.predict(m, {0, 0, 0.45})
    assert.near(math.sin(1.35), mean, 0.05)
    local _, var_far = gp.predict(m, {1, 1, 0.45})
    assert.is_true(var_far > var_near)
  end)

  it("fits from a previous fit's setting to a likelihood no worse, and refits only for new data", function()
    local X, y = {}, {}
    for i = 0, 40 do
      X[#X + 1] = {i / 40, (i % 7) / 7, (i * 13 % 40) / 40}
      y[#y + 1] = math.sin(6 * X[#X][3]) + 0.1 * math.cos(i)
    end
    local cold = gp.fit(X, y)
    local warm = gp.fit(X, y, {ls = 10, eps = 0.5, ratio = 1e-3})
    assert.is_true(warm.ll >= cold.ll - 1e-9, warm.ll .. " < " .. cold.ll)
    assert.is_true(gp.fit(X, y, cold.grid).ll >= cold.ll)
    local pb2 = create()
    local ts = {trial({a = 0.2}), trial({a = 0.8})}
    for _, t in ipairs(ts) do pb2:on_trial_add({}, t) end
    for time = 1, 4 do
      for i, t in ipairs(ts) do save_result(pb2, t, time, time * i) end
    end
    pb2:_select(ts[2].trial_id)
    local m = pb2._last_fit.m
    pb2:_get_new_config(ts[1], ts[2])
    assert.equal(m, pb2._last_fit.m) -- the same points: the same fit
    save_result(pb2, ts[2], 5, 11)
    pb2:_select(ts[2].trial_id)
    assert.not_equal(m, pb2._last_fit.m)
  end)

  it("maximises the UCB's mean with kappa 0", function()
    local X, y = {}, {}
    for i = 0, 20 do
      X[#X + 1] = {0, 0, i / 20}
      y[#y + 1] = -((i / 20 - 0.7) ^ 2)
    end
    local m = gp.fit(X, y)
    local h = gp.optimize(m, m, {0, 0}, 1, sample.Random(1), 0)
    assert.near(0.7, h[1], 0.05)
  end)
end)

describe("PB2 through tune.run", function()
  it("exploits and explores within the bounds, and every trial finishes", function()
    local dir = support.tmpdir("pb2")
    local SOURCE = [[
local tune = require("tune")
-- The score rises fastest with lr near 0.3.
tune.register_trainable("pb2_curve", function(config)
  local c = tune.get_checkpoint()
  local score = c and c.score or 0
  for _ = (c and c.step or 0) + 1, 8 do
    score = score + 1 - math.abs(config.lr - 0.3)
    tune.report({score = score}, {checkpoint = {score = score, step = (c and c.step or 0) + 1}})
    c = {score = score, step = (c and c.step or 0) + 1}
  end
end)
local pb2 = tune.schedulers.PB2{time_attr = "training_iteration", perturbation_interval = 2, seed = 3,
  hyperparam_bounds = {lr = {0.0, 1.0}}}
local a = tune.run("pb2_curve", {scheduler = pb2, metric = "score", mode = "max", num_samples = 4,
  config = {lr = tune.uniform(0, 1)}, local_dir = arg[1], verbose = 0, seed = 5})
for _, t in ipairs(a.trials) do print("trial", t.status, t.config.lr) end
print("perturbs", pb2._num_perturbations)
]]
    local out = support.run_script(dir, SOURCE, dir .. "/out")
    local trials = 0
    for status, lr in out:gmatch("trial\t(%u+)\t([%d.e-]+)") do
      trials = trials + 1
      assert.equal("TERMINATED", status)
      assert.is_true(tonumber(lr) >= 0 and tonumber(lr) <= 1)
    end
    assert.equal(4, trials, out)
    assert.is_true(tonumber(out:match("perturbs\t(%d+)")) > 0, out)
    -- Every exploit is logged in PBT's policy format.
    local exp = core.listdir(dir .. "/out")
    assert.equal(1, #exp)
    local lines = support.lines(dir .. "/out/" .. exp[1] .. "/pbt_global.txt")
    assert.equal(tonumber(out:match("perturbs\t(%d+)")), #lines)
    for _, line in ipairs(lines) do
      local policy = core.json_decode(line)
      assert.is_true(policy[6].lr >= 0 and policy[6].lr <= 1)
    end
  end)
end)
