-- One executor layer (issue 8): placement-group factories encoded once,
-- trim_cache as documented, results logged only once the runner accepted
-- them, asynchronous reservations, and the simulator backend: deterministic
-- runs, replays of a recorded experiment, and tune.run's backend option.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

local function lines(path)
  local out = {}
  for line in (core.read_file(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function iterations(path)
  local out = {}
  for _, l in ipairs(lines(path)) do out[#out + 1] = core.json_decode(l).training_iteration end
  return out
end

describe("the executor layer", function()
  local dir
  before_each(function() dir = support.tmpdir("layer") end)
  after_each(support.check_clean)

  it("encodes a placement-group factory once for any number of trials", function()
    local ex = support.executor{num_cpus = 1}
    local pgf = tune.PlacementGroupFactory({{CPU = 1}})
    local before = core.pgf_encodes()
    local trials = {}
    for i = 1, 100 do trials[i] = tune.Trial("__fake", {placement_group_factory = pgf, local_dir = dir}) end
    ex:set_max_pending_trials(200)
    ex:stage_and_update_status(trials)
    ex:stage_and_update_status(trials)
    for _, t in ipairs(trials) do assert.is_true(ex:has_resources_for_trial(t)) end
    assert.equal(1, core.pgf_encodes() - before)
    assert.equal(100, ex:pg_counts().staging + ex:pg_counts().ready)
  end)

  it("gives equal factories one key, computed in C", function()
    local a = tune.PlacementGroupFactory({{CPU = 2, custom = 1}}, {strategy = "SPREAD"})
    local b = tune.PlacementGroupFactory({{custom = 1, cpu = 2}}, {strategy = "SPREAD"})
    local c = tune.PlacementGroupFactory({{CPU = 2, custom = 1}})
    assert.equal(a:key(), b:key())
    assert.are_not.equal(a:key(), c:key())
  end)

  it("trim_cache stops the cached workers no pending or paused trial needs", function()
    local ex = support.executor{num_cpus = 4, reuse_actors = true}
    local pgf = tune.PlacementGroupFactory({{CPU = 1}})
    local t1 = tune.Trial("resettable", {placement_group_factory = pgf, local_dir = dir})
    local t2 = tune.Trial("resettable", {placement_group_factory = pgf, local_dir = dir})
    local t3 = tune.Trial("resettable", {placement_group_factory = pgf, local_dir = dir})
    for _, t in ipairs({t1, t2}) do
      local ev
      repeat ev = ex:get_next_executor_event({t}, true, 10) until ev.type == "PG_READY"
      assert.is_true(ex:start_trial(t))
    end
    ex:stop_trial(t1)
    ex:stop_trial(t2)
    assert.equal(2, ex:pg_counts().cached)
    -- One pending trial of that factory: one cached worker is kept.
    ex:trim_cache({t1, t2, t3})
    assert.equal(1, ex:pg_counts().cached)
    -- None: no cached worker is left.
    t3:set_status("TERMINATED")
    ex:trim_cache({t1, t2, t3})
    assert.equal(0, ex:pg_counts().cached)
  end)

  it("logs only the results the runner accepted: none after a STOP in a buffered batch", function()
    local ex = support.executor{num_cpus = 1, result_buffer_length = 8, result_buffer_min_time_s = 10}
    local trial = tune.Trial("__fake", {stopping_criterion = {training_iteration = 3}, local_dir = dir})
    local runner = tune.TrialRunner{experiment_dir = dir, checkpoint_period = 0, trial_executor = ex,
      callbacks = {tune.JsonLoggerCallback(), tune.CSVLoggerCallback()}}
    runner:add_trial(trial)
    while not runner:is_finished() do runner:step() end
    assert.equal("TERMINATED", trial.status)
    assert.same({1, 2, 3}, iterations(trial.logdir .. "/result.json"))
    local csv = lines(trial.logdir .. "/progress.csv")
    assert.equal(4, #csv) -- the header and three rows
    assert.is_true(core.json_decode(lines(trial.logdir .. "/result.json")[3]).done)
    local a = tune.ExperimentAnalysis(dir)
    assert.equal(3, #a:trial_dataframes()[trial.logdir])
  end)

  it("keeps every row under a small ulimit -n: few files wait for the writer to close them", function()
    -- The log files' closes are written behind the driver: held open
    -- there, they would take the descriptors a new trial's logs need.
    local d = support.tmpdir("ulimit")
    local script = d .. "/exp.lua"
    assert(core.write_atomic(script, [[
local tune = require("tune")
local a = tune.run(function() for i = 1, 3 do tune.report{x = i} end end,
  {num_samples = 300, reuse_actors = true, local_dir = arg[1], verbose = 0})
local rows = 0
for _, t in ipairs(a.trials) do
  for _ in io.lines(t.logdir .. "/progress.csv") do rows = rows + 1 end
  for _ in io.lines(t.logdir .. "/result.json") do rows = rows + 1 end
end
print("rows", rows)
]]))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    local out = support.must(string.format("ulimit -n 40 && env -u LD_PRELOAD %s %s %s", bin, script, d .. "/exp"))
    assert.is_nil(out:find("open files", 1, true), out)
    assert.matches("rows\t2100", out)
  end)
end)

describe("the simulator backend", function()
  local dir
  before_each(function() dir = support.tmpdir("sim") end)

  local function curve(config, it)
    if it > 20 then return nil end
    return {loss = (config.x - 0.3) ^ 2 + 1 / it, it2 = it * it}
  end

  local HOST_FIELDS = {pid = true, hostname = true, node_ip = true, date = true, timestamp = true,
    trial_id = true, experiment_id = true, config = true}

  -- What a run did, in order: every result (host fields excepted) and
  -- every scheduler decision.
  local function record(name, seed)
    local trace = {}
    local cb = tune.Callback:extend()
    function cb:on_trial_result(_, _, trial, result)
      local keys = {}
      for k in pairs(result) do if not HOST_FIELDS[k] then keys[#keys + 1] = k end end
      table.sort(keys)
      local parts = {string.format("%.17g", trial.config.x)}
      for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(result[k]) end
      trace[#trace + 1] = table.concat(parts, " ")
    end
    function cb:on_trial_complete(_, _, trial) trace[#trace + 1] = "complete " .. trial.experiment_tag end
    local ex = tune.SimulatedExecutor{num_cpus = 3, curve = curve, time_per_iteration = 0.5}
    tune.run("sim_trainable", {trial_executor = ex, num_samples = 12, seed = seed, metric = "loss", mode = "min",
      config = {x = tune.uniform(0, 1)}, verbose = 0, local_dir = dir, name = name, callbacks = {cb()},
      scheduler = tune.schedulers.ASHAScheduler{max_t = 20, grace_period = 2}})
    ex:close()
    return trace
  end

  it("asks for the next result before the callbacks see this one, unless a checkpoint is saved first", function()
    tune.register_trainable("sim_trainable", function() end)
    local function order(opts)
      local events = {}
      local ex = tune.SimulatedExecutor{num_cpus = 1, curve = function(_, it)
        if it > 3 then return nil end
        return {loss = it}
      end}
      local continue = ex.continue_training
      ex.continue_training = function(self, trial)
        events[#events + 1] = "train"
        return continue(self, trial)
      end
      local cb = tune.Callback:extend()
      function cb:on_trial_result(_, _, _, result) events[#events + 1] = "result " .. result.training_iteration end
      function cb:on_checkpoint() events[#events + 1] = "checkpoint" end
      local run_opts = {trial_executor = ex, num_samples = 1, config = {x = 0.5}, verbose = 0, local_dir = dir,
        callbacks = {cb()}}
      for k, v in pairs(opts) do run_opts[k] = v end
      tune.run("sim_trainable", run_opts)
      ex:close()
      return events
    end
    assert.same({"train", "result 1", "train", "result 2", "train", "result 3"}, order{name = "plain"})
    -- A result that ends the trial asks for nothing more.
    assert.same({"train", "result 1", "train", "result 2", "result 3"},
      order{name = "stopped", stop = {training_iteration = 3}})
    -- With a checkpoint every second iteration, the save goes first there;
    -- the request for result 3 follows it, and result 3's own comes early.
    assert.same({"train", "result 1", "result 2", "checkpoint", "train", "train", "result 3"},
      order{name = "saved", checkpoint_freq = 2})
  end)

  it("ends a buffered batch where ASHA or the stop criterion may stop the trial: no result after it is computed", function()
    -- One trial at a time (the same order of results at any buffer length,
    -- so the same decisions); the highest iteration each trial's curve was
    -- asked for is counted.
    local function run(buffer, name, stop)
      local computed = {}
      local ex = tune.SimulatedExecutor{num_cpus = 1, result_buffer_length = buffer, curve = function(config, it)
        if it > 40 then return nil end
        computed[config.x] = math.max(computed[config.x] or 0, it)
        return {loss = (config.x - 0.3) ^ 2 + 1 / it}
      end}
      local a = tune.run("sim_trainable", {trial_executor = ex, num_samples = 12, seed = 5, metric = "loss",
        mode = "min", config = {x = tune.uniform(0, 1)}, verbose = 0, local_dir = dir, name = name, stop = stop,
        scheduler = tune.schedulers.ASHAScheduler{max_t = 40, grace_period = 4, reduction_factor = 2}})
      ex:close()
      local rows = {}
      for _, t in ipairs(a.trials) do
        rows[#rows + 1] = string.format("%.17g %d %s", t.config.x, t.last_result.training_iteration, t.status)
      end
      table.sort(rows)
      return rows, computed, a
    end
    local rows1 = run(1, "b1")
    local rows8, computed8, a8 = run(8, "b8")
    assert.same(rows1, rows8)
    local early = 0
    for _, t in ipairs(a8.trials) do
      local last = t.last_result.training_iteration
      assert.equal(last, computed8[t.config.x])
      if last < 40 then early = early + 1 end
    end
    assert.is_true(early >= 6)
    local _, computed, a = run(8, "criterion", {training_iteration = 6})
    for _, t in ipairs(a.trials) do
      assert.is_true(t.last_result.training_iteration <= 6)
      assert.equal(t.last_result.training_iteration, computed[t.config.x])
    end
    -- A scheduler whose hook answers nonsense: its answer is dropped (with a
    -- warning), the run goes on, and the criterion's cap still holds.
    local Odd = tune.schedulers.FIFOScheduler:extend(nil, "OddScheduler")
    function Odd:results_before_decision() return "soon" end
    local asked = 0
    local ex = tune.SimulatedExecutor{num_cpus = 1, result_buffer_length = 8, curve = function(_, it)
      asked = math.max(asked, it)
      return {loss = 1 / it}
    end}
    local b = tune.run("sim_trainable", {trial_executor = ex, num_samples = 1, verbose = 0, local_dir = dir,
      name = "odd", scheduler = Odd(), stop = {training_iteration = 3}})
    ex:close()
    assert.equal("TERMINATED", b.trials[1].status)
    assert.equal(3, b.trials[1].last_result.training_iteration)
    assert.equal(3, asked)
  end)

  it("runs the same twice with the same seed: trials, results, time fields and decisions", function()
    tune.register_trainable("sim_trainable", function() end)
    local a, b = record("a", 7), record("b", 7)
    assert.is_true(#a > 12)
    assert.same(a, b)
    -- Time comes from the virtual clock: half a second an iteration.
    assert.matches("time_total_s=1.5", table.concat(a, "\n"), 1, true)
    local c = record("c", 8)
    assert.are_not.same(a, c)
  end)

  it("serves each trial on a reused simulated worker from its first iteration, whatever its id", function()
    tune.register_trainable("sim_trainable", function() end)
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = curve, reuse_actors = true}
    local a = tune.run("sim_trainable", {trial_executor = ex, num_samples = 3, seed = 2, config = {x = tune.uniform(0, 1)},
      verbose = 0, local_dir = dir, name = "reuse"})
    local pids = {}
    for _, t in ipairs(a.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(20, t.last_result.training_iteration)
      assert.equal(curve(t.config, 20).loss, t.last_result.loss)
      pids[t.last_result.pid] = true
    end
    local npids = 0
    for _ in pairs(pids) do npids = npids + 1 end
    assert.equal(1, npids, "one simulated worker served the three trials")
    ex:close()
    -- A start and a reset request name their trial: ids a scan cannot take
    -- as they are (a quote, a backslash) are read by the parser.
    local odd = tune.SimulatedExecutor{num_cpus = 1, curve = curve, reuse_actors = true}
    local trials = {tune.Trial("sim_trainable", {trial_id = 'q"1', config = {x = 0.1}, local_dir = dir}),
      tune.Trial("sim_trainable", {trial_id = "b\\2", config = {x = 0.9}, local_dir = dir})}
    for _, t in ipairs(trials) do
      local ev = odd:get_next_executor_event({t}, true)
      assert.equal("PG_READY", ev.type)
      assert.is_true(odd:start_trial(t))
      local done = false
      while not done do
        ev = odd:get_next_executor_event({t}, false)
        assert.equal("TRAINING_RESULT", ev.type, tostring(ev.error))
        for _, r in ipairs(ev.result) do
          assert.equal(t.trial_id, r.trial_id)
          t:update_last_result(r)
        end
        if t.last_result.done then
          done = true
          odd:stop_trial(t)
        else
          odd:continue_training(t)
        end
      end
      assert.equal(20, t.last_result.training_iteration)
      assert.equal(curve(t.config, 20).loss, t.last_result.loss)
    end
    odd:close()
  end)

  it("hands on every kind of value a curve reports as it is, to the runner and to result.json", function()
    -- Odd iterations report plain values only (made into the result
    -- directly), even ones also a nested table and non-ASCII text (written
    -- as JSON and read back): both must give the same values.
    local function kinds(_, it)
      if it > 4 then return nil end
      local m = {i = 5, big = (1 << 60) + 1, f = 2.5, whole = 3.0, neg0 = -0.0, nan = 0 / 0, inf = -math.huge,
        s = "plain", q = 'a"b\\c', t = true, loss = it}
      if it % 2 == 0 then
        m.nested = {a = 1, b = {2, 3}}
        m.u = "\u{e9}\n"
      end
      return m
    end
    local seen = {}
    local cb = tune.Callback:extend()
    function cb:on_trial_result(_, _, _, result) seen[#seen + 1] = result end
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = kinds}
    local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, callbacks = {cb()}})
    ex:close()
    local logged = {}
    for _, l in ipairs(lines(a.trials[1].logdir .. "/result.json")) do logged[#logged + 1] = core.json_decode(l) end
    assert.equal(4, #seen)
    assert.equal(4, #logged)
    for _, list in ipairs({seen, logged}) do
      for it, r in ipairs(list) do
        assert.equal(it, r.loss)
        assert.equal("integer", math.type(r.i))
        assert.equal(5, r.i)
        assert.equal("integer", math.type(r.big)) -- exact beyond 2^53
        assert.equal((1 << 60) + 1, r.big)
        assert.equal(2.5, r.f)
        assert.equal("float", math.type(r.whole))
        assert.equal(-math.huge, 1 / r.neg0)
        assert.is_true(r.nan ~= r.nan)
        assert.equal(-math.huge, r.inf)
        assert.equal("plain", r.s)
        assert.equal('a"b\\c', r.q)
        assert.is_true(r.t)
        if it % 2 == 0 then
          assert.same({a = 1, b = {2, 3}}, r.nested)
          assert.equal("\u{e9}\n", r.u)
        else
          assert.is_nil(r.nested)
        end
      end
    end
  end)

  it("fails a trial whose curve raises or reports what is not a table of JSON values, naming why", function()
    local cases = {
      {function(_, it) if it == 3 then error("boom", 0) end return {loss = it} end, "the simulated trial failed: boom"},
      {function() return {loss = 1, bad = print} end, "metrics that are not JSON: cannot encode a function value"},
      {function() return "fast" end, "returned a string, not a table of metrics or nil"},
    }
    for i, c in ipairs(cases) do
      local ex = tune.SimulatedExecutor{num_cpus = 1, curve = c[1]}
      local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "e" .. i,
        raise_on_failed_trial = false})
      ex:close()
      local t = a.trials[1]
      assert.equal("ERROR", t.status)
      assert.matches(c[2], core.read_file(t.logdir .. "/error.txt"), 1, true)
      assert.equal(i == 1 and 2 or 0, #lines(t.logdir .. "/result.json"))
    end
  end)

  it("replays a recorded experiment: FIFO reproduces its metrics", function()
    tune.register_trainable("sim_trainable", function() end)
    local ex = tune.SimulatedExecutor{num_cpus = 2, curve = curve}
    local first = tune.run("sim_trainable", {trial_executor = ex, num_samples = 5, seed = 3,
      config = {x = tune.uniform(0, 1)}, verbose = 0, local_dir = dir, name = "recorded"})
    ex:close()
    local replay = tune.SimulatedExecutor{num_cpus = 2, replay = dir .. "/recorded"}
    local second = tune.run("sim_trainable", {trial_executor = replay, num_samples = 5, seed = 3,
      config = {x = tune.uniform(0, 1)}, verbose = 0, local_dir = dir, name = "replayed"})
    replay:close()
    local function metrics(a)
      local out = {}
      for _, t in ipairs(a.trials) do
        for _, l in ipairs(lines(t.logdir .. "/result.json")) do
          local r = core.json_decode(l)
          out[#out + 1] = string.format("%.17g %d %.17g %d", r.config.x, r.training_iteration, r.loss, r.it2)
        end
      end
      table.sort(out)
      return out
    end
    assert.equal(100, #metrics(first))
    assert.same(metrics(first), metrics(second))
  end)

  it("replays what it can read of a damaged recording, and names what it cannot", function()
    tune.register_trainable("sim_trainable", function() end)
    local ex = tune.SimulatedExecutor{num_cpus = 2, curve = curve}
    local first = tune.run("sim_trainable", {trial_executor = ex, config = {x = tune.grid_search({0.1, 0.2, 0.3})},
      verbose = 0, local_dir = dir, name = "recorded"})
    ex:close()
    -- Trial 1: two of its 20 lines are not results (a torn line, an
    -- array); trial 2: an empty result.json.
    local torn = first.trials[1].logdir .. "/result.json"
    local rows = lines(torn)
    rows[2], rows[3] = "{\"loss\": 0.5, \"training_it", "[1, 2, 3]"
    assert(core.write_atomic(torn, table.concat(rows, "\n") .. "\n"))
    assert(core.write_atomic(first.trials[2].logdir .. "/result.json", ""))
    local warned = {}
    local stderr = io.stderr
    io.stderr = {write = function(self, ...) for _, s in ipairs({...}) do warned[#warned + 1] = s end return self end}
    local ok, replay = pcall(tune.SimulatedExecutor, {num_cpus = 2, replay = dir .. "/recorded"})
    io.stderr = stderr
    assert(ok, replay)
    assert.matches(torn .. ": 2 lines that are not results left out", table.concat(warned), 1, true)
    local ok2, err = pcall(tune.run, "sim_trainable", {trial_executor = replay, verbose = 0, local_dir = dir,
      config = {x = tune.grid_search({0.1, 0.2, 0.3})}, name = "replayed"})
    replay:close()
    assert.is_false(ok2)
    assert.matches("has a config that " .. dir .. "/recorded recorded no result for", tostring(err), 1, true)
    local a = tune.ExperimentAnalysis(dir .. "/replayed")
    local n = {}
    for _, t in ipairs(a.trials) do n[t.config.x] = #lines(t.logdir .. "/result.json") end
    assert.same({[0.1] = 18, [0.3] = 20}, {[0.1] = n[0.1], [0.3] = n[0.3]})
  end)

  it("refuses a simulator with neither a curve nor a recording", function()
    assert.has_error(function() tune.SimulatedExecutor{num_cpus = 1} end,
      "SimulatedExecutor: give a curve (function(config, iteration, trial)) or replay (a finished "
        .. "experiment directory): the simulator has nothing to report otherwise")
    local ok, err = pcall(tune.run, function() end, {backend = "sim", verbose = 0, local_dir = dir})
    assert.is_false(ok)
    assert.matches('backend = "sim" needs sim = {curve', err, 1, true)
    assert.is_nil(core.listdir(dir)[1])
  end)

  it("takes about as many runner steps for an iteration of an hour as for one of a second: the clock jumps", function()
    -- The runner waits at most 1 s at a time; with nothing due before the
    -- next result, the virtual clock goes there in one wait.
    local function steps_for(tpi)
      local n = 0
      local ex = tune.SimulatedExecutor{num_cpus = 2, curve = curve, time_per_iteration = tpi}
      local a = tune.run("sim_trainable", {trial_executor = ex, num_samples = 3, seed = 1, verbose = 0,
        config = {x = tune.uniform(0, 1)}, local_dir = dir, callbacks = {{on_step_end = function() n = n + 1 end}}})
      ex:close()
      return n, a.trials[1].last_result.time_total_s
    end
    local n1, t1 = steps_for(1)
    local n3600, t3600 = steps_for(3600)
    assert.equal(20.0, t1)
    assert.equal(20 * 3600.0, t3600)
    -- (A timer of the executor's may land in a step of its own.) Without
    -- the jump: some 72,000 steps.
    assert.is_true(n3600 < 2 * n1, n1 .. " steps at 1 s an iteration, " .. n3600 .. " at 3600 s")
  end)

  it("counts time_budget_s and a TimeoutStopper in virtual seconds, for that run only", function()
    -- 2 slots, 20 iterations of 100 virtual seconds per trial: the whole
    -- experiment would take 6,000 virtual seconds (a few ms of wall time).
    local function run(opts)
      local ex = tune.SimulatedExecutor{num_cpus = 2, curve = curve, time_per_iteration = 100}
      opts.trial_executor, opts.num_samples, opts.seed, opts.verbose = ex, 6, 1, 0
      opts.config, opts.local_dir = {x = tune.uniform(0, 1)}, dir
      local a = tune.run("sim_trainable", opts)
      ex:close()
      local its = 0
      for _, t in ipairs(a.trials) do its = its + (t.last_result.training_iteration or 0) end
      return its, a
    end
    local full = run({})
    assert.equal(6 * 20, full)
    -- 1,000 virtual seconds: 2 slots x 10 iterations, give or take the
    -- iteration in flight when it runs out.
    local budget = run({time_budget_s = 1000})
    assert.is_true(budget >= 18 and budget <= 24, budget .. " iterations within a 1,000 s budget")
    -- A TimeoutStopper of the user's, inside a CombinedStopper, the same;
    -- afterwards it is back on the real clock.
    local timeout = tune.stopper.TimeoutStopper(1000)
    local combined = run({stop = tune.stopper.CombinedStopper(tune.stopper.MaximumIterationStopper(100), timeout)})
    assert.is_true(combined >= 18 and combined <= 24, combined .. " iterations with a TimeoutStopper of 1,000 s")
    assert.is_nil(rawget(timeout, "_clock"))
  end)

  it("saves the running trials at once on SIGTERM: their replies come on the virtual clock", function()
    -- The saves' replies are due an iteration (an hour) later on the
    -- virtual clock; the waits for them go on with the signal pending.
    assert(core.write_atomic(dir .. "/term.lua", [[
local tune = require("tune")
local core = require("tune.core")
local ex = tune.SimulatedExecutor{num_cpus = 2, time_per_iteration = 3600,
  curve = function(c, i) if i <= 3 then return {loss = i} end end}
local cb = {
  on_trial_result = function() core.kill(core.getpid(), "TERM") end,
  on_experiment_end = function(_, trials)
    local n = 0
    for _, t in ipairs(trials) do n = n + #t.checkpoint_manager.persistent end
    print("checkpoints " .. n)
  end,
}
tune.run("sim_trainable", {trial_executor = ex, num_samples = 4, verbose = 0, local_dir = "out", callbacks = {cb}})
]]))
    local ok, out = support.sh(string.format("cd %s && TUNE_SIGNAL_CHECKPOINT_TIMEOUT_S=5 env -u LD_PRELOAD %s term.lua",
      dir, os.getenv("TUNELUA_BIN") or "build/tunelua"))
    assert.matches("SIGTERM received", out, 1, true)
    assert.matches("checkpoints 2\n", out, 1, true)
    assert.is_false(ok)
  end)

  it("refuses bad options at the caller's line, as SimulatedExecutor's own", function()
    local cases = {
      {function() local x = tune.SimulatedExecutor(5); return x end, "expected a table of options, got number"},
      {function() local x = tune.SimulatedExecutor{curve = curve, num_cpus = "x"}; return x end,
        "SimulatedExecutor: resource 'CPU' must be a non-negative number"},
      {function() local x = tune.SimulatedExecutor{curve = curve, bogus = 1}; return x end,
        'SimulatedExecutor: unknown option "bogus"'},
      {function() local x = tune.SimulatedExecutor{replay = dir .. "/none"}; return x end,
        "SimulatedExecutor: replay: the path"},
      {function() local x = tune.TrialExecutor(5); return x end, "TrialExecutor: expected a table of options"},
      -- A clock past ~1e9 s would no longer move by a runner's timeout.
      {function() local x = tune.SimulatedExecutor{curve = curve, time_per_iteration = 0 / 0}; return x end,
        "SimulatedExecutor: time_per_iteration must be a number of virtual seconds in [0, 1e+09], got "},
      {function() local x = tune.SimulatedExecutor{curve = curve, time_per_iteration = math.huge}; return x end,
        "time_per_iteration must be a number of virtual seconds in [0, 1e+09], got inf"},
      {function() local x = tune.SimulatedExecutor{curve = curve, time_per_iteration = 2 ^ 62}; return x end,
        "time_per_iteration must be a number of virtual seconds in [0, 1e+09]"},
      {function() local x = tune.SimulatedExecutor{curve = curve, reserve_delay = -1}; return x end,
        "reserve_delay must be a number of virtual seconds in [0, 1e+09], got -1"},
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      -- Each call is on its function's first line.
      assert.matches("executor_layer_spec.lua:" .. debug.getinfo(c[1], "S").linedefined .. ": ", err, 1, true)
      assert.matches(c[2], err, 1, true)
    end
  end)

  it("fails a trial that reports a training_iteration that is not a number; keeps a number, as Ray", function()
    local a = tune.run("not_registered", {backend = "sim", verbose = 0, local_dir = dir, raise_on_failed_trial = false,
      stop = {training_iteration = 3},
      sim = {curve = function(_, it) if it < 5 then return {loss = 1, training_iteration = "x"} end end}})
    assert.equal("ERROR", a.trials[1].status)
    assert.matches("reported a training_iteration that is not a number", a.trials[1].error_msg, 1, true)
    a = tune.run("not_registered", {backend = "sim", verbose = 0, local_dir = dir,
      sim = {curve = function(_, it) if it < 5 then return {loss = 1, training_iteration = 10 * it} end end}})
    assert.equal(40, a.trials[1].last_result.training_iteration)
  end)

  it("runs a trainable name nothing is registered as: the simulator runs no trainable", function()
    local ex = tune.SimulatedExecutor{curve = curve}
    local a = tune.run("not_registered", {trial_executor = ex, verbose = 0, local_dir = dir,
      config = {x = tune.grid_search({0.1, 0.3})}})
    assert.equal(2, #a.trials)
    assert.equal("not_registered", a.trials[1].trainable_name)
    assert.equal(20, a.trials[1].last_result.training_iteration)
    a = tune.run("not_registered", {backend = "sim", sim = {curve = curve}, verbose = 0, local_dir = dir,
      config = {x = 0.5}})
    assert.equal("TERMINATED", a.trials[1].status)
    -- Any other backend refuses it before writing anything.
    local other = support.tmpdir("sim-unregistered")
    local ok, err = pcall(tune.run, "not_registered", {verbose = 0, local_dir = other})
    assert.is_false(ok)
    assert.matches('tune.run: no trainable registered as "not_registered"', err, 1, true)
    assert.is_nil(core.listdir(other)[1])
  end)

  it("runs tune.run with backend = \"sim\"", function()
    local a = tune.run(function() end, {backend = "sim", sim = {curve = curve}, verbose = 0, local_dir = dir,
      config = {x = tune.grid_search({0.1, 0.3, 0.9})}, metric = "loss", mode = "min"})
    assert.equal(3, #a.trials)
    assert.equal(0.3, a.best_config.x)
    assert.same(iterations(a.trials[1].logdir .. "/result.json"), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
      14, 15, 16, 17, 18, 19, 20})
  end)

  it("groups result rows: written at a save, at the trial's end and at a flush, not for each result", function()
    -- On the virtual clock the driver never waits, so only those write.
    local seen, at_checkpoint = {}, {}
    local cb = tune.Callback:extend()
    function cb:on_trial_result(_, _, trial, result)
      seen[result.training_iteration] = #lines(trial.logdir .. "/result.json")
    end
    function cb:on_checkpoint(_, _, trial)
      at_checkpoint[#at_checkpoint + 1] = {trial.last_result.training_iteration,
        #lines(trial.logdir .. "/result.json"), #lines(trial.logdir .. "/progress.csv")}
    end
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = curve}
    local a = tune.run("sim_trainable", {trial_executor = ex, num_samples = 1, checkpoint_freq = 8,
      config = {x = 0.5}, verbose = 0, local_dir = dir, callbacks = {cb()}})
    -- Before the first save nothing is written; the save writes rows 1..7
    -- and row 8 goes with its commit; then nothing until the next save.
    for it = 1, 8 do assert.equal(0, seen[it], "result " .. it) end
    for it = 9, 16 do assert.equal(8, seen[it], "result " .. it) end
    for it = 17, 20 do assert.equal(16, seen[it], "result " .. it) end
    -- The rows up to a checkpoint are on disk before it is known.
    assert.same({{8, 8, 9}, {16, 16, 17}}, at_checkpoint)
    -- The trial's end writes the rest.
    assert.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
      iterations(a.trials[1].logdir .. "/result.json"))
    assert.equal(21, #lines(a.trials[1].logdir .. "/progress.csv"))
    ex:close()
    -- And flush_logs writes what is pending at once.
    local ex2 = support.executor{num_cpus = 1}
    ex2:set_loggers{json = true, csv = true}
    local trial = tune.Trial("counter", {local_dir = dir})
    assert.equal("PG_READY", ex2:get_next_executor_event({trial}, true).type)
    assert.is_true(ex2:start_trial(trial))
    local ev = support.wait_event(ex2, {trial}, "TRAINING_RESULT")
    ex2:commit_results(trial, #ev.result, false)
    local n = #lines(trial.logdir .. "/result.json")
    ex2:flush_logs()
    assert.equal(n + #ev.result, #lines(trial.logdir .. "/result.json"))
    ex2:stop_trial(trial)
    ex2:cleanup()
  end)

  it("groups journal entries, written ahead of the result rows", function()
    -- On the virtual clock the driver never waits: the entries made since
    -- the run's first snapshot reach the disk with the first rows written
    -- (the save at iteration 8), before them.
    local journal = dir .. "/exp/experiment_journal.jsonl"
    local running_on_disk = {}
    local at_checkpoint
    local cb = tune.Callback:extend()
    function cb:on_trial_result(_, _, _, result)
      running_on_disk[result.training_iteration] = (core.read_file(journal) or ""):find('"RUNNING"', 1, true) ~= nil
    end
    function cb:on_checkpoint(_, _, trial)
      at_checkpoint = at_checkpoint or {#lines(trial.logdir .. "/result.json"),
        (core.read_file(journal) or ""):find('"RUNNING"', 1, true) ~= nil}
    end
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = curve}
    local a = tune.run("sim_trainable", {trial_executor = ex, num_samples = 1, checkpoint_freq = 8, name = "exp",
      config = {x = 0.5}, verbose = 0, local_dir = dir, callbacks = {cb()}, global_checkpoint_s = 1000})
    for it = 1, 8 do assert.is_false(running_on_disk[it], "result " .. it) end
    assert.same({8, true}, at_checkpoint)
    for it = 9, 20 do assert.is_true(running_on_disk[it], "result " .. it) end
    -- In the end every entry is there, once, in order.
    local seqs = {}
    for _, l in ipairs(lines(journal)) do seqs[#seqs + 1] = core.json_decode(l).seq end
    for i = 2, #seqs do assert.equal(seqs[i - 1] + 1, seqs[i]) end
    assert.matches('"TERMINATED"', core.read_file(journal))
    assert.equal(1, #a.trials)
    ex:close()
  end)

  it("has a buffered append handle: written when flushed, synced, closed or by its executor", function()
    local path = dir .. "/j.jsonl"
    local f = assert(core.open_append(path, true))
    assert(f:write("a\n"))
    assert.equal("", core.read_file(path))
    assert(f:flush())
    assert.equal("a\n", core.read_file(path))
    assert(f:write("b\n"))
    assert(f:write("c\n", true))
    assert.equal("a\nb\nc\n", core.read_file(path))
    assert(f:write("d\n"))
    f:close()
    assert.equal("a\nb\nc\nd\n", core.read_file(path))
    assert(f:flush())
    assert.has_error(function() f:write("e\n") end, "write to a closed append handle")
    -- An executor given the handle writes it before it would wait.
    local ex = support.executor{num_cpus = 1}
    local g = assert(core.open_append(path, true))
    ex:set_journal(g)
    assert(g:write("e\n"))
    assert.equal("a\nb\nc\nd\n", core.read_file(path))
    ex:flush_logs()
    assert.equal("a\nb\nc\nd\ne\n", core.read_file(path))
    assert(g:write("f\n"))
    ex:get_next_executor_event({}, false, 0.01)
    assert.equal("a\nb\nc\nd\ne\nf\n", core.read_file(path))
    g:close()
    ex:cleanup()
  end)

  it("completes reservations later, and fails the trials whose reservation never can be met", function()
    tune.register_trainable("sim_trainable", function() end)
    local function steps(_, it) if it <= 3 then return {loss = 1 / it} end end
    local late = tune.SimulatedExecutor{num_cpus = 2, curve = steps, reserve_delay = 3}
    local seen = {}
    local cb = tune.Callback:extend()
    function cb:on_trial_start(_, _, trial) seen[#seen + 1] = late._core:now() end
    local a = tune.run("sim_trainable", {trial_executor = late, num_samples = 2, verbose = 0, local_dir = dir,
      name = "late", callbacks = {cb()}, raise_on_failed_trial = false})
    late:close()
    assert.equal("TERMINATED", a.trials[1].status)
    assert.is_true(seen[1] >= 3)
    local never = tune.SimulatedExecutor{num_cpus = 2, curve = steps, reserve_error = "no such partition 'gpu'"}
    local b = tune.run("sim_trainable", {trial_executor = never, num_samples = 2, verbose = 0, local_dir = dir,
      name = "never", raise_on_failed_trial = false})
    never:close()
    for _, t in ipairs(b.trials) do
      assert.equal("ERROR", t.status)
      assert.matches("no such partition 'gpu'", t.error_msg, 1, true)
      assert.matches("no such partition 'gpu'", core.read_file(t.logdir .. "/error.txt"), 1, true)
    end
  end)
end)
