-- TPESearch, RandomSearch and Repeater through tune.run, and a TPESearch
-- experiment resumed after the driver died (TUNE_TEST_CRASH_AT_WRITE) or
-- was interrupted (SIGINT).
local tune = require("tune")
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local support = require("spec.support")
require("spec.fixtures.experiments.tpe_trainables")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local exp = "spec/fixtures/experiments/tpe_resume.lua"

local function xs(analysis)
  local out = {}
  for i, t in ipairs(analysis.trials) do out[i] = t.config.x end
  return out
end

describe("TPESearch through tune.run", function()
  local dir
  before_each(function() dir = support.tmpdir("tpe-e2e") end)
  after_each(support.check_clean)

  it("learns from every trial and closes in on the optimum", function()
    local searcher = tune.search.TPESearch{seed = 1, n_startup_trials = 5}
    local analysis = tune.run("tpe_quad", {search_alg = searcher, metric = "loss", mode = "min", num_samples = 25,
      config = {x = tune.uniform(-10, 10), iters = 2}, num_cpus = 1, verbose = 0, local_dir = dir, name = "quad"})
    assert.equal(25, #analysis.trials)
    for _, t in ipairs(analysis.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(2, t.config.iters)
      assert.equal(t.config.x, t.evaluated_params.x)
    end
    assert.equal(25, searcher:num_observations())
    -- Each observation is the trial's last loss.
    local by_x = {}
    for _, t in ipairs(analysis.trials) do by_x[t.config.x] = t.last_result.loss end
    for _, o in ipairs(searcher._hist.trials) do assert.equal(by_x[o.p.x], o.v) end
    assert.is_true(math.abs(analysis.best_config.x - 3) < 1, "best x " .. analysis.best_config.x)
  end)

  it("optimises the anonymous metric _metric when given only a mode, as Ray's searchers do", function()
    -- (They failed at their first suggestion: "the `metric` (nil) or `mode` (min) parameters have not been set".)
    local tpe, bohb = tune.search.TPESearch{seed = 3, n_startup_trials = 4}, tune.search.TuneBOHB{seed = 3}
    for i, searcher in ipairs({tpe, bohb, tune.search.TPESearch{seed = 3, mode = "min"}}) do
      local analysis = tune.run("tpe_anon", {search_alg = searcher, mode = i < 3 and "min" or nil, num_samples = 8,
        config = {x = tune.uniform(-10, 10)}, num_cpus = 1, verbose = 0, local_dir = dir, name = "anon" .. i})
      assert.equal(8, #analysis.trials)
      assert.equal("_metric", searcher.metric)
    end
    assert.equal(8, tpe:num_observations())
  end)

  it("is reproducible with tune.run's seed and search_alg = 'tpe'", function()
    local function go(name)
      return xs(tune.run("tpe_quad", {search_alg = "tpe", seed = 5, metric = "loss", mode = "min", num_samples = 12,
        config = {x = tune.uniform(-10, 10), iters = 1}, num_cpus = 1, verbose = 0, local_dir = dir, name = name}))
    end
    local a, b = go("a"), go("b")
    assert.equal(12, #a)
    assert.same(a, b)
  end)

  it("samples only the chosen branch of a conditional space", function()
    local searcher = tune.search.TPESearch{seed = 2, n_startup_trials = 4}
    local analysis = tune.run("tpe_quad", {search_alg = searcher, metric = "loss", mode = "min", num_samples = 10,
      config = {x = tune.uniform(-10, 10), iters = 1, opt = tune.choice({
        {name = "sgd", lr = tune.loguniform(1e-4, 1)}, {name = "adam", beta = tune.uniform(0, 1)}})},
      num_cpus = 1, verbose = 0, local_dir = dir})
    for _, t in ipairs(analysis.trials) do
      local opt = t.config.opt
      if opt.name == "sgd" then
        assert.is_nil(opt.beta)
        assert.is_true(opt.lr >= 1e-4 and opt.lr < 1)
      else
        assert.equal("adam", opt.name)
        assert.is_nil(opt.lr)
        assert.is_true(opt.beta >= 0 and opt.beta < 1)
      end
    end
    assert.equal(10, searcher:num_observations())
  end)

  it("repeats suggestions with Repeater under max_concurrent_trials", function()
    local searcher = tune.search.TPESearch{seed = 3, n_startup_trials = 2}
    local analysis = tune.run("tpe_quad", {search_alg = tune.search.Repeater(searcher, {["repeat"] = 2}),
      metric = "loss", mode = "min", num_samples = 8, max_concurrent_trials = 2,
      config = {x = tune.uniform(-10, 10), iters = 1}, verbose = 0, local_dir = dir})
    assert.equal(8, #analysis.trials)
    local groups = {}
    for _, t in ipairs(analysis.trials) do
      assert.equal("TERMINATED", t.status)
      local g = groups[t.config.x] or {}
      g[#g + 1] = t.config.__trial_index__
      groups[t.config.x] = g
    end
    local n = 0
    for _, g in pairs(groups) do
      n = n + 1
      table.sort(g)
      assert.same({0, 1}, g)
    end
    assert.equal(4, n)
    assert.equal(4, searcher:num_observations())
  end)

  it("runs RandomSearch, points to evaluate first", function()
    local analysis = tune.run("tpe_quad", {search_alg = tune.search.RandomSearch{seed = 1,
      points_to_evaluate = {{x = 3.0}}}, metric = "loss", mode = "min", num_samples = 4,
      config = {x = tune.uniform(-10, 10), iters = 1}, num_cpus = 1, verbose = 0, local_dir = dir})
    assert.equal(4, #analysis.trials)
    assert.equal(3.0, analysis.trials[1].config.x)
    assert.equal(3.0, analysis.best_config.x)
  end)
end)

--- Starts `tunelua [extra] tpe_resume.lua DIR [sleep]` with `env`; returns
--- its pid and a function that waits for its end: exit code, output.
local function start(dir, env, extra, sleep)
  -- The braces keep the shell's "Killed" notice out of the test's output.
  local cmd = string.format("{ sh -c 'echo $$; exec env %s %s %s %s %s %s 2>&1'; } 2>/dev/null", env or "", tunelua,
    extra or "", exp, dir, sleep or "")
  local p = io.popen(cmd)
  local pid = tonumber(p:read("l"))
  return pid, function()
    local out = p:read("a")
    local _, how, code = p:close()
    if how == "exit" and code > 128 and code ~= 130 then how, code = "signal", code - 128 end
    return how, code, out
  end
end

local function run(dir, env, extra, sleep)
  local _, wait = start(dir, env, extra, sleep)
  return wait()
end

local function trial_lines(out)
  local lines = {}
  for line in out:gmatch("TRIAL [^\n]*") do lines[#lines + 1] = line end
  return lines
end

describe("TPESearch resumed", function()
  after_each(support.check_clean)

  it("finishes after a crash at any journal or state write, exactly as a run that never stopped", function()
    -- The runner replays the journal into the restored searcher, so the
    -- suggestions after a resume are the ones an uninterrupted run makes.
    for _, limiter in ipairs({"", "limiter"}) do
      local ref_dir = support.tmpdir("tpe-ref")
      local how, code, ref = run(ref_dir, "", "", "0 " .. limiter)
      assert.same({"exit", 0}, {how, code}, ref)
      assert.matches("DONE 12 OBS 12", ref)
      local reference = trial_lines(ref)
      for _, n in ipairs({2, 3, 5, 6, 9, 10, 17, 21, 38}) do
        local d = support.tmpdir("tpe-crash-" .. n)
        local out
        how, code, out = run(d, "TUNE_TEST_CRASH_AT_WRITE=" .. n, "", "0 " .. limiter)
        assert.same({"signal", 9}, {how, code}, "crash at write " .. n .. ": " .. out)
        how, code, out = run(d, "", "--resume=AUTO", "0 " .. limiter)
        assert.same({"exit", 0}, {how, code}, "resume after crash at write " .. n .. " " .. limiter .. ": " .. out)
        assert.same(reference, trial_lines(out), "crash at write " .. n .. " " .. limiter)
        assert.matches("DONE 12 OBS 12", out)
      end
    end
  end)

  it("continues identically after SIGINT and --resume", function()
    local ref_dir = support.tmpdir("tpe-sigref")
    local _, _, ref = run(ref_dir)
    local d = support.tmpdir("tpe-sigint")
    local pid, wait = start(d, "", "", "0.05")
    -- Interrupt once a few trials have finished.
    local deadline = core.now() + 30
    while core.now() < deadline do
      local n = 0
      for _, name in ipairs(core.listdir(d .. "/tpe_resume") or {}) do
        if name:match("^train_") then n = n + 1 end
      end
      if n >= 4 then break end
      core.sleep(0.05)
    end
    core.kill(pid, "INT")
    local how, code, out = wait()
    assert.same({"exit", 130}, {how, code}, out)
    how, code, out = run(d, "", "--resume", "0.05")
    assert.same({"exit", 0}, {how, code}, out)
    assert.same(trial_lines(ref), trial_lines(out))
    assert.matches("DONE 12 OBS 12", out)
  end)
end)
