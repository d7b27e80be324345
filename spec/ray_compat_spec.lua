-- Ray's own tests of the variant generator and tune.run's naming, ported
-- (issue 13): test_sample's points_to_evaluate cases (what
-- BasicVariantGenerator counts and makes, the warnings for a pre-set value
-- outside its domain or unlike a constant), test_var's testRecursiveDep
-- wording (in search_space_spec), TUNE_DISABLE_DATED_SUBDIR, what
-- search_alg = "random" creates, Repeater's num_samples warning, and a class
-- trainable's iteration when its checkpoint is loaded.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")

describe("Ray compatibility", function()
  local dir
  before_each(function() dir = support.tmpdir("raycompat") end)
  after_each(support.check_clean)

  local function run_points(points, n)
    local gen = tune.search.BasicVariantGenerator{points_to_evaluate = points, seed = 1}
    local a = tune.run("steps", {search_alg = gen, num_samples = n, local_dir = dir, verbose = 0,
      config = {a = tune.grid_search({1, 2}), b = tune.randint(0, 3), steps = 1}})
    local got = {}
    for _, t in ipairs(a.trials) do got[#got + 1] = {a = t.config.a, b = t.config.b} end
    return gen, got
  end

  it("counts and makes trials from points_to_evaluate as Ray's BasicVariantGenerator docstring says", function()
    -- Four samples, three of them points: {a=2,b=2} one trial, {a=1} one,
    -- {b=2} and the free sample two each (the grid over a).
    local gen, got = run_points({{a = 2, b = 2}, {a = 1}, {b = 2}}, 4)
    assert.equal(6, gen.total_samples)
    assert.equal(6, #got)
    assert.same({a = 2, b = 2}, got[1])
    assert.equal(1, got[2].a)
    assert.same({{a = 1, b = 2}, {a = 2, b = 2}}, {got[3], got[4]})
    assert.same({1, 2}, {got[5].a, got[6].a})
  end)

  it("evaluates every point even beyond num_samples, and counts them", function()
    local gen, got = run_points({{a = 2, b = 2}, {a = 1}, {b = 2}}, 1)
    assert.equal(4, gen.total_samples)
    assert.equal(4, #got)
  end)

  it("warns about a pre-set value outside its domain or grid, or unlike a constant, and uses it", function()
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("t", function(config) tune.report({x = config.b}) end)
local gen = tune.search.BasicVariantGenerator{points_to_evaluate = {{a = 3, b = 7, c = 6, d = {e = 2}, f = 1,
  g = tune.core.null}}}
local a = tune.run("t", {search_alg = gen, num_samples = 1, verbose = 0, local_dir = arg[1],
  config = {a = tune.grid_search({1, 2}), b = tune.randint(0, 3), c = 5, d = {e = 2}, f = {h = tune.uniform(0, 1)},
    g = tune.randint(0, 3)}})
print("config", a.trials[1].config.a, a.trials[1].config.b, a.trials[1].config.c)
]]
    local out = support.run_script(dir, SOURCE, dir .. "/out")
    assert.matches("Pre-set value `7` is not within valid values of parameter `b`: randint(0, 3)", out, 1, true)
    assert.matches("Pre-set value `3` is not within valid values of parameter `a`: [1,2]", out, 1, true)
    assert.matches("Pre-set value `6` is not equal to the value of parameter `c`: 5", out, 1, true)
    assert.not_matches("parameter `d/e`", out, 1, true) -- equal to the constant
    -- A table holding Domains shows them as they print (it showed their
    -- fields: {"h":{"log":false,"kind":"float",...}}), JSON's null as null.
    assert.matches('Pre-set value `1` is not equal to the value of parameter `f`: {"h": uniform(0, 1)}', out, 1, true)
    assert.matches("Pre-set value `null` is not within valid values of parameter `g`: randint(0, 3)", out, 1, true)
    assert.matches("config\t3\t7\t6", out, 1, true)
  end)

  it("takes a point's table for a choice of tables whole, in the generator and in a searcher", function()
    -- The point's table replaces the domain (Ray's assign_value and
    -- merge_dicts merge into dicts only); it was merged into the choice,
    -- whose `kind` it then overwrote ("unknown domain kind adam").
    local space = {opt = tune.choice({{kind = "sgd", lr = tune.uniform(0, 1)}, {kind = "adam", m = tune.uniform(0, 1)}})}
    local point = {opt = {kind = "adam", m = 0.125}}
    for _, alg in ipairs({tune.search.BasicVariantGenerator{points_to_evaluate = {point}},
        tune.search.TPESearch{points_to_evaluate = {point}, seed = 1}}) do
      local a = tune.run("steps",
        {search_alg = alg, config = {opt = space.opt, iters = 1}, num_samples = 3, metric = "loss", mode = "min", verbose = 0,
          local_dir = dir .. "/" .. (alg.suggest and "tpe" or "bvg")})
      assert.same({kind = "adam", m = 0.125}, a.trials[1].config.opt)
      for i = 2, 3 do
        local opt = a.trials[i].config.opt
        local x = opt.kind == "adam" and opt.m or opt.lr
        assert.is_number(x)
        assert.is_true(x >= 0 and x < 1)
      end
    end
    -- The warning shows the categories' contents, not table addresses.
    assert.equal('choice([{"kind": "sgd", "lr": uniform(0, 1)}, {"kind": "adam", "m": uniform(0, 1)}])',
      tostring(space.opt))
  end)

  it("replaces the config's list with a point's or a suggestion's list under every searcher", function()
    -- Ray's assign_value and merge_dicts merge dicts only: a list is
    -- replaced whole ([64], not [64,128,32] merged element by element, nor
    -- the config's own list), and the generator's warning is about the list.
    local SOURCE = [[
local tune = require("tune")
local json = require("tune.core").json_encode
tune.register_trainable("t", function(config)
  tune.report({loss = 1, got = json(config.layers), o = config.opt.a .. "," .. config.opt.b})
end)
local Plain = tune.search.Searcher:extend(nil, "Plain")
function Plain:set_search_properties() return true end
function Plain:suggest(id) return {x = 0.5, layers = {64}, opt = {b = 3}} end
for _, alg in ipairs({"bvg", "random_search", "tpe", "custom"}) do
  local pts = {{layers = {64}, opt = {b = 3}}}
  local sa = alg == "bvg" and tune.search.BasicVariantGenerator{points_to_evaluate = pts}
    or alg == "tpe" and tune.search.TPESearch{points_to_evaluate = pts}
    or alg == "random_search" and tune.search.RandomSearch{points_to_evaluate = pts}
    or Plain{}
  local a = tune.run("t", {local_dir = arg[1] .. "/" .. alg, verbose = 0, metric = "loss", mode = "min",
    search_alg = sa, num_samples = 1, config = {x = tune.uniform(0, 1), layers = {256, 128, 32}, opt = {a = 1, b = 2}}})
  print(alg, a.trials[1].last_result.got, a.trials[1].last_result.o)
end
]]
    local out = support.run_script(dir, SOURCE, dir)
    for _, alg in ipairs({"bvg", "random_search", "tpe", "custom"}) do
      assert.matches(alg .. "\t[64]\t1,3", out, 1, true)
    end
    assert.matches("Pre-set value `[64]` is not equal to the value of parameter `layers`: [256,128,32]", out, 1, true)
    assert.not_matches("layers/1", out, 1, true)
  end)

  it("takes a point equal to one of a choice's tables as valid, without a warning, and uses it", function()
    local SOURCE = [[
local tune = require("tune")
local json = require("tune.core").json_encode
tune.register_trainable("t", function(config) tune.report({loss = 1, c = json(config.c), l = json(config.l)}) end)
local a = tune.run("t", {local_dir = arg[1], verbose = 0, metric = "loss", mode = "min", num_samples = 3,
  search_alg = tune.search.BasicVariantGenerator{seed = 1, points_to_evaluate = {{c = {b = 2}, l = {5, 6}},
    {c = {b = 2}, l = {5, 6}}, {c = {b = 2}, l = {5, 6}}}},
  config = {c = tune.choice({{a = 1}, {b = 2}}), l = tune.choice({{1, 2}, {5, 6}})}})
for _, t in ipairs(a.trials) do print("got", t.last_result.c, t.last_result.l) end
]]
    local out = support.run_script(dir, SOURCE, dir)
    assert.not_matches("Pre-set value", out, 1, true)
    local n = 0
    for _ in out:gmatch('got\t{"b":2}\t%[5,6%]') do n = n + 1 end
    assert.equal(3, n, out)
  end)

  it("keeps max_concurrent_trials with search_alg = 'random' or 'variant_generator', as with the default", function()
    for _, name in ipairs({"random", "variant_generator", "default"}) do
      local cb, most = support.running_peak()
      local a = tune.run("steps", {search_alg = name ~= "default" and name or nil, num_samples = 4,
        config = {x = tune.uniform(0, 1), iters = 3}, max_concurrent_trials = 1, num_cpus = 4, callbacks = {cb},
        local_dir = dir .. "/" .. name, verbose = 0})
      assert.equal(4, #a.trials)
      assert.equal(1, most(), name)
    end
  end)

  it("names an unnamed experiment <trainable> with TUNE_DISABLE_DATED_SUBDIR=1, <trainable>_<date> without", function()
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("my_trainable", function() tune.report({x = 1}) end)
tune.run("my_trainable", {verbose = 0, local_dir = arg[1]})
]]
    support.run_script(dir, SOURCE, dir .. "/a", "TUNE_DISABLE_DATED_SUBDIR=1")
    assert.same({"my_trainable"}, core.listdir(dir .. "/a"))
    support.run_script(dir, SOURCE, dir .. "/b")
    local names = core.listdir(dir .. "/b")
    assert.equal(1, #names)
    assert.matches("^my_trainable_%d%d%d%d%-%d%d%-%d%d_%d%d%-%d%d%-%d%d$", names[1])
    -- Ray reads it with int(): any integer but 0 leaves the date out; what
    -- int() refuses is an error, before anything is written.
    support.run_script(dir, SOURCE, dir .. "/c", "TUNE_DISABLE_DATED_SUBDIR=2")
    assert.same({"my_trainable"}, core.listdir(dir .. "/c"))
    support.run_script(dir, SOURCE, dir .. "/d", "TUNE_DISABLE_DATED_SUBDIR=0")
    assert.matches("^my_trainable_%d", core.listdir(dir .. "/d")[1])
    local code, out = support.tunelua(dir .. "/exp.lua " .. dir .. "/e", "TUNE_DISABLE_DATED_SUBDIR=true")
    assert.are_not.equal(0, code)
    assert.matches('TUNE_DISABLE_DATED_SUBDIR="true" is not a number', out, 1, true)
    -- At the user's line, without the library's traceback.
    assert.matches("exp%.lua:%d+: tune%.run: environment variable TUNE_DISABLE_DATED_SUBDIR", out)
    assert.is_nil(out:find("stack traceback", 1, true), out)
    assert.is_nil(core.listdir(dir .. "/e"))
  end)

  it("takes TUNE_GLOBAL_CHECKPOINT_S=auto and TUNE_MAX_PENDING_TRIALS_PG=auto, Ray's defaults, as the defaults", function()
    -- Each was refused: 'TUNE_GLOBAL_CHECKPOINT_S="auto" is not a number'.
    local out = support.run_script(dir, [[
local tune = require("tune")
tune.run(function() tune.report({x = 1}) end, {verbose = 0, local_dir = arg[1], name = "auto"})
]], dir .. "/auto", "TUNE_GLOBAL_CHECKPOINT_S=auto TUNE_MAX_PENDING_TRIALS_PG=auto")
    assert.is_nil(out:find("TUNE_", 1, true), out)
    assert.equal("directory", core.stat(dir .. "/auto/auto"))
  end)

  it("cuts a trial directory's name before its date at TUNE_MAX_LEN_IDENTIFIER bytes, as Ray", function()
    -- It was read nowhere: the name kept 130 bytes.
    support.run_script(dir, [[
local tune = require("tune")
tune.run(function() tune.report({x = 1}) end, {verbose = 0, local_dir = arg[1], name = "short",
  config = {long_parameter_name = tune.grid_search({1})}})
]], dir .. "/short", "TUNE_MAX_LEN_IDENTIFIER=7")
    local trials = {}
    for _, name in ipairs(core.listdir(dir .. "/short/short")) do
      if core.stat(dir .. "/short/short/" .. name) == "directory" then trials[#trials + 1] = name end
    end
    assert.equal(1, #trials)
    assert.matches("^trainab_%d%d%d%d%-%d%d%-%d%d_%d%d%-%d%d%-%d%d$", trials[1])
  end)

  it("warns as Ray when num_samples is not a multiple of a Repeater's repeat", function()
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("t", function(config) tune.report({x = config.x}) end)
tune.run("t", {search_alg = tune.search.Repeater(tune.search.RandomSearch{seed = 1}, {["repeat"] = 3}),
  num_samples = tonumber(arg[2]), metric = "x", mode = "min", verbose = 0, local_dir = arg[1],
  config = {x = tune.uniform(0, 1)}})
]]
    local out = support.run_script(dir, SOURCE, dir .. "/a 4")
    assert.matches("`num_samples` is now expected to be the total number of trials, including the repeat trials",
      out, 1, true)
    out = support.run_script(dir, SOURCE, dir .. "/b 6")
    assert.not_matches("num_samples", out, 1, true)
  end)

  it("gives a class trainable's load_checkpoint the checkpoint's iteration, an integer (Ray's restore)", function()
    local SOURCE = [[
local tune = require("tune")
local core = require("tune.core")
local Flaky = tune.Trainable:extend(nil, "Flaky")
function Flaky:setup(config) self.marker = config.marker end
function Flaky:step()
  if self.iteration == 2 and not core.stat(self.marker) then
    core.write_atomic(self.marker, "failed once")
    error("fails once after its second checkpoint")
  end
  return {loss = 1, seen = self.seen or ""}
end
function Flaky:save_checkpoint() return {i = self.iteration} end
function Flaky:load_checkpoint(c) self.seen = math.type(self.iteration) .. ":" .. self.iteration .. "/" .. c.i end
tune.register_trainable("flaky", Flaky)
local a = tune.run("flaky", {config = {marker = arg[1] .. "/marker"}, checkpoint_freq = 1, max_failures = 1,
  stop = {training_iteration = 4}, verbose = 0, local_dir = arg[1], raise_on_failed_trial = false})
local t = a.trials[1]
print("status", t.status, t.last_result.training_iteration, t.last_result.seen)
]]
    local out = support.run_script(dir, SOURCE, dir)
    assert.matches("status\tTERMINATED\t4\tinteger:2/2", out, 1, true)
  end)

  it("refuses to register or run an instance of a Trainable class (test_api testRegisterTrainable)", function()
    local B = tune.Trainable:extend(nil, "B")
    function B:step() return {x = 1} end
    assert.has_no.errors(function() tune.register_trainable("ray_compat_b", B) end)
    local ok, err = pcall(tune.register_trainable, "ray_compat_b", B())
    assert.is_false(ok)
    assert.matches("got an instance of B (pass the class B itself", err, 1, true)
    ok, err = pcall(tune.run, B(), {local_dir = dir, verbose = 0})
    assert.is_false(ok)
    assert.matches("tune.run: expected a trainable .* got an instance of B", err)
    assert.is_nil(core.stat(dir .. "/B"))
    -- A subclass made without a name is not called by its parent's.
    local Anon = B:extend()
    ok, err = pcall(tune.register_trainable, "ray_compat_anon", Anon())
    assert.is_false(ok)
    assert.matches("got an instance of a tune.Trainable class (pass the class itself", err, 1, true)
  end)

  it("lets a registration replace a built-in trainable, as a later one does in Ray", function()
    -- The built-ins, loaded at the first look-up, replaced a "__fake"
    -- registered before it: Ray's _MockTrainer ran instead, without end.
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("__fake", function() tune.report{mine = 1} end)
local a = tune.run("__fake", {verbose = 0, local_dir = arg[1], stop = {training_iteration = 2}})
print("mine", a.trials[1].last_result.mine)
]]
    assert.matches("mine\t1", support.run_script(dir, SOURCE, dir), 1, true)
  end)

  it("registers a callable table as a function trainable, as Ray any callable", function()
    local SOURCE = [[
local tune = require("tune")
tune.register_trainable("callable", setmetatable({}, {__call = function(self, config) tune.report{x = config.v} end}))
local a = tune.run("callable", {config = {v = 3}, verbose = 0, local_dir = arg[1]})
print("status", a.trials[1].status, a.trials[1].last_result.x)
]]
    assert.matches("status\tTERMINATED\t3", support.run_script(dir, SOURCE, dir .. "/out"), 1, true)
  end)

  it("refuses an option a scheduler does not take, through create_scheduler as through the class", function()
    for name in pairs(require("tune.schedulers").SCHEDULERS) do
      local ok, err = pcall(tune.create_scheduler, name, {no_such_option = 1})
      assert.is_false(ok, name)
      assert.matches('unknown option "no_such_option"', err, 1, true)
    end
  end)

  it("requeues a failed trial it cannot restart at once as Ray: the scheduler sees an error, then an add", function()
    local calls = {}
    local Recorder = tune.schedulers.FIFOScheduler:extend(nil, "Recorder")
    function Recorder:on_trial_add(runner, trial) calls[#calls + 1] = "add " .. trial.config.name end
    function Recorder:on_trial_error(runner, trial) calls[#calls + 1] = "error " .. trial.config.name end
    function Recorder:on_trial_complete(runner, trial) calls[#calls + 1] = "complete " .. trial.config.name end
    local ex = tune.TrialExecutor{num_cpus = 1}
    -- No room at the moment of the failure: the trial must wait in the queue.
    local deny = false
    local has_resources = ex.has_resources_for_trial
    function ex:has_resources_for_trial(trial)
      if deny then
        deny = false
        return false
      end
      return has_resources(self, trial)
    end
    local cb = tune.Callback:extend()
    function cb:on_trial_result(_, _, trial, result)
      if trial.config.name == "a" and result.step == 1 and trial.num_failures == 0 then deny = true end
    end
    local marker = dir .. "/failures"
    local a = tune.run("flaky", {trial_executor = ex, scheduler = Recorder(), callbacks = {cb()}, local_dir = dir,
      verbose = 0, max_failures = 1, config = tune.grid_search({
        {name = "a", steps = 3, fail_at = 2, fail_times = 1, marker = marker},
        {name = "b", steps = 1, fail_at = 0, fail_times = 0, marker = marker}})})
    ex:close()
    assert.same({"add a", "add b", "error a", "add a", "complete b", "complete a"}, calls)
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
    -- Requeued at the end: b ran before a restarted.
    assert.equal("b", a.trials[1].config.name)
  end)

  it("makes search_alg = 'random' Ray's BasicVariantGenerator (grid crossed with samples)", function()
    local a = tune.run("steps", {search_alg = "random", num_samples = 2, local_dir = dir, verbose = 0,
      config = {g = tune.grid_search({1, 2, 3}), steps = 1}})
    assert.equal(6, #a.trials)
  end)

  it("keeps the best keep_checkpoints_num checkpoints and the newest, as Ray's checkpoint manager", function()
    local ckpt = require("tune.executor.checkpoint")
    local function manager(n, attr)
      local deleted = {}
      local m = ckpt.CheckpointManager{keep_checkpoints_num = n, checkpoint_score_attr = attr,
        on_delete = function(c) deleted[#deleted + 1] = c.dir_or_data end}
      local function add(dir, metrics)
        m:on_checkpoint(ckpt.Checkpoint{dir_or_data = dir, metrics = metrics})
      end
      local function kept()
        local out = {}
        for _, c in ipairs(m.persistent) do out[#out + 1] = c.dir_or_data end
        return out
      end
      return add, kept, deleted
    end
    -- testBestCheckpoints: 16 shuffled scores, 4 kept: the best 4 (12..15),
    -- and the newest as long as it is the newest.
    local add, kept = manager(4, "i")
    local order = {7, 13, 2, 15, 0, 9, 12, 4, 11, 1, 14, 6, 3, 10, 8, 5}
    for _, i in ipairs(order) do add(i, {i = i}) end
    local got = kept()
    table.sort(got)
    assert.same({5, 12, 13, 14, 15}, got)
    -- One kept, the best early: it stays beside the newest (it was deleted).
    local deleted
    add, kept, deleted = manager(1, "acc")
    for i, acc in ipairs({5, 9, 3, 2, 1}) do add("c" .. i, {acc = acc}) end
    assert.same({"c2", "c5"}, kept())
    assert.same({"c1", "c3", "c4"}, deleted)
    -- min-: lower is better; a tie keeps the newer; NaN and a missing key rank last.
    add, kept = manager(2, "min-loss")
    add("a", {loss = 1}); add("b", {loss = 0 / 0}); add("c", {}); add("d", {loss = 1}); add("e", {loss = 5})
    assert.same({"a", "d", "e"}, kept())
    add("f", {loss = 1})
    assert.same({"d", "f"}, kept())
    -- A boolean is 1 or 0, as Python's bool: true ranks above false.
    add, kept = manager(1, "ok")
    add("g", {ok = true}); add("h", {ok = false}); add("i", {ok = false})
    assert.same({"g", "i"}, kept())
  end)

  it("testOnCheckpointOrdered and testOnCheckpointUnordered: the worst is deleted once the newest is not it", function()
    local ckpt = require("tune.executor.checkpoint")
    -- Scores in order, and what stays: the best two, and the newest while it is the newest.
    for _, case in ipairs({{scores = {0, 1, 2}, kept = {1, 2}}, {scores = {3, 2, 1, 0}, kept = {3, 2, 0}}}) do
      local deleted = {}
      local m = ckpt.CheckpointManager{keep_checkpoints_num = 2, checkpoint_score_attr = "i",
        on_delete = function(c) deleted[#deleted + 1] = c.metrics.i end}
      for j, i in ipairs(case.scores) do
        local c = ckpt.Checkpoint{dir_or_data = "/t/c" .. i, metrics = {i = i}}
        m:on_checkpoint(c)
        assert.equal(c, m:newest_persistent())
        assert.equal(j == #case.scores and 1 or 0, #deleted)
      end
      local kept = {}
      for _, c in ipairs(m.persistent) do kept[#kept + 1] = c.metrics.i end
      assert.same(case.kept, kept)
    end
  end)

  it("warns once per trial of a checkpoint without checkpoint_score_attr, as Ray logs it", function()
    local ckpt = require("tune.executor.checkpoint")
    local m = ckpt.CheckpointManager{keep_checkpoints_num = 1, checkpoint_score_attr = "min-los",
      on_delete = function() end}
    local warned, stderr = {}, io.stderr
    io.stderr = {write = function(self, ...) for _, x in ipairs({...}) do warned[#warned + 1] = x end return self end}
    local ok, err = pcall(function()
      m:on_checkpoint(ckpt.Checkpoint{dir_or_data = "/t/checkpoint_000001", metrics = {loss = 1}}, "t_00000")
      m:on_checkpoint(ckpt.Checkpoint{dir_or_data = "/t/checkpoint_000002", metrics = {loss = 2}}, "t_00000")
      -- Registered again (a resume): no trial named, no warning.
      local again = ckpt.CheckpointManager{keep_checkpoints_num = 1, checkpoint_score_attr = "los"}
      again:on_checkpoint(ckpt.Checkpoint{dir_or_data = "/t/checkpoint_000001", metrics = {loss = 1}})
      -- NaN is a score (the worst), as in Ray: no warning.
      local nan = ckpt.CheckpointManager{keep_checkpoints_num = 1, checkpoint_score_attr = "loss"}
      nan:on_checkpoint(ckpt.Checkpoint{dir_or_data = "/t/checkpoint_000001", metrics = {loss = 0 / 0}}, "t_00001")
    end)
    io.stderr = stderr
    assert.is_true(ok, err)
    assert.equal(1, #warned)
    assert.matches('trial t_00000: checkpoint_score_attr "los" is not in the result its checkpoint checkpoint_000001 '
      .. "was saved with %(keys: loss%)", warned[1])
  end)
end)
