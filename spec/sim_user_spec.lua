-- The simulator as a user drives it: a curve that calls the executor, a
-- curve that changes its config, replays of trials that share a config,
-- and the messages for a curve that returns a list and for a recording
-- with no result.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")

local function lines(path)
  local out = {}
  for line in (core.read_file(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("the simulator, driven by a user's curve", function()
  local dir
  before_each(function() dir = support.tmpdir("simuser") end)

  -- The curve calls an executor method at iteration 2. Each case runs in a
  -- tunelua process of its own (a crash or a hang must not take the spec
  -- run with it): the trial fails with a message naming the method at the
  -- curve's line, after one result, and the run goes on.
  it("fails a trial whose curve calls an executor method, naming it, and never crashes", function()
    local calls = {
      {"ex:stop_trial(trial)", "stop_trial"},
      {"ex:pause_trial(trial)", "pause_trial"},
      {"ex:close()", "close"},
      {"ex:cleanup()", "cleanup"},
      {"ex:get_next_executor_event({trial}, false, 0.1)", "get_next_executor_event"},
      {"ex:continue_training(trial)", "continue_training"},
      {"ex:save(trial, 'MEMORY')", "save"},
      {"ex:reset_trial(trial, {x = 2}, 'x')", "reset_trial"},
      {"ex:start_trial(trial)", "start_trial"},
      {"ex:flush_logs()", "flush_logs"},
    }
    for i, c in ipairs(calls) do
      local sub = dir .. "/c" .. i
      assert(core.mkdir_p(sub))
      local script = sub .. "/exp.lua"
      assert(core.write_atomic(script, string.format([[
local tune = require("tune")
local ex
ex = tune.SimulatedExecutor{curve = function(config, i, trial)
  if i == 2 then %s end
  if i <= 3 then return {loss = i} end
end}
local a = tune.run(function() end, {trial_executor = ex, metric = "loss", mode = "min", num_samples = 2,
  verbose = 0, local_dir = %q, name = "e", raise_on_failed_trial = false})
for _, t in ipairs(a.trials) do
  print("STATUS " .. t.status .. " " .. #assert(io.open(t.logdir .. "/result.json")):read("a"):gsub("[^\n]", ""))
end
assert(ex:close())
print("DONE")
]], c[1], sub)))
      local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
      local ok, out = support.sh(string.format("env -u LD_PRELOAD timeout 60 %s %s", bin, quote(script)))
      assert(ok, c[1] .. ":\n" .. out)
      assert.matches("DONE", out, 1, true)
      assert.same({"ERROR 1", "ERROR 1"}, (function()
        local s = {}
        for st in out:gmatch("STATUS ([^\n]+)") do s[#s + 1] = st end
        return s
      end)())
      local a = tune.ExperimentAnalysis(sub .. "/e")
      local err = core.read_file(a.trials[1].logdir .. "/error.txt")
      -- (Lua shortens a long script path in the position: its tail is kept.)
      assert.matches("^Failure # 1 [^\n]*\nthe simulated trial failed: [^\n]*exp%.lua:4: ", err)
      assert.matches("exp.lua:4: the simulator's curve called ex:" .. c[2]
        .. "(): executor methods cannot be called from inside the curve", err, 1, true)
    end
  end)

  it("ends with the time budget as Ray does: trials stopped then, or never started, are not completed", function()
    -- (on_trial_complete and --events' trial_complete fired for all ten.)
    local started, completed = 0, 0
    tune.run(function() end, {backend = "sim", verbose = 0, num_samples = 10, time_budget_s = 2, local_dir = dir,
      sim = {curve = function(_, it) if it <= 3 then return {loss = it} end end},
      callbacks = {{on_trial_start = function() started = started + 1 end,
        on_trial_complete = function() completed = completed + 1 end}}})
    assert.equal(1, started)
    assert.equal(0, completed)
    local a = tune.ExperimentAnalysis(dir .. "/" .. core.listdir(dir)[1])
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
  end)

  it("refuses executor misuse before it drops a trial's config copy, at the caller's line", function()
    -- (A refused start dropped the running trial's copy of its config; a nil failed inside sim.lua.)
    local changed
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = function(config, i)
      if i == 1 then config.mark = "mine" end
      changed = config.mark
      if i <= 3 then return {l = i} end
    end}
    local a = tune.Trial("__fake", {local_dir = dir})
    ex:get_next_executor_event({a}, true, 1)
    assert.is_true(ex:start_trial(a))
    assert.equal("TRAINING_RESULT", ex:get_next_executor_event({a}, false, 10).type)
    for _, m in ipairs({"start_trial", "stop_trial", "pause_trial", "reset_trial"}) do
      local line = debug.getinfo(1, "l").currentline
      local ok, err = pcall(function() local r = ex[m](ex, nil) return r end)
      assert.is_false(ok)
      assert.equal(string.format("spec/sim_user_spec.lua:%d: %s: expected a Trial, got nil", line + 1, m), err)
    end
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function() local r = ex:start_trial(a) return r end)
    assert.is_false(ok)
    assert.matches("sim_user_spec.lua:" .. (line + 1) .. ": start_trial: trial .* is already running", err)
    local other = tune.SimulatedExecutor{num_cpus = 1, curve = function() end}
    line = debug.getinfo(1, "l").currentline
    ok, err = pcall(function() other:stop_trial(a) end)
    assert.is_false(ok)
    assert.matches("sim_user_spec.lua:" .. (line + 1) .. ": stop_trial: trial .* runs on another executor", err)
    other:close()
    ex:continue_training(a)
    assert.equal("TRAINING_RESULT", ex:get_next_executor_event({a}, false, 10).type)
    assert.equal("mine", changed)
    ex:stop_trial(a)
    ex:cleanup()
    ex:close()
  end)

  it("caps one wait at the engine's longest, so that the clock goes on moving", function()
    -- (A wait of 1e17 s put the clock where a second no longer moved it.)
    local ex = tune.SimulatedExecutor{num_cpus = 1, curve = function(_, i) if i <= 2 then return {l = i} end end}
    assert.equal("NO_RUNNING_TRIAL_TIMEOUT", ex:get_next_executor_event({}, false, 1e17).type)
    local t0 = ex:now()
    assert.equal(core.max_wait_s, t0)
    local a = tune.Trial("__fake", {local_dir = dir})
    ex:get_next_executor_event({a}, true, 1)
    assert.is_true(ex:start_trial(a))
    local ev = ex:get_next_executor_event({a}, false, 10)
    assert.equal("TRAINING_RESULT", ev.type)
    assert.equal(t0 + 1, ex:now())
    ex:stop_trial(a)
    ex:cleanup()
    ex:close()
  end)

  it("lets a curve read the virtual clock", function()
    local ex
    local seen = {}
    ex = tune.SimulatedExecutor{time_per_iteration = 2, curve = function(_, i)
      seen[#seen + 1] = ex:now()
      if i <= 3 then return {loss = i} end
    end}
    local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "clock"})
    ex:close()
    assert.equal("TERMINATED", a.trials[1].status)
    assert.equal(4, #seen)
  end)

  it("gives each trial its own copy of its config, made once when it starts", function()
    local tables, trial_configs = {}, {}
    local ex = tune.SimulatedExecutor{curve = function(c, i, trial)
      local list = tables[trial.trial_id] or {}
      tables[trial.trial_id] = list
      list[i] = c
      trial_configs[trial.trial_id] = trial.config
      if i == 1 then
        assert(c.x ~= 99)
        c.x = 99
        c.nested.y = 99
      else
        assert.equal(99, c.x)   -- the worker's copy keeps what its curve did
      end
      if i <= 3 then return {loss = i} end
    end}
    local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "copy",
      metric = "loss", mode = "min", config = {x = tune.grid_search({1, 2}), nested = {y = 5}}})
    ex:close()
    local xs = {}
    for _, t in ipairs(a.trials) do
      xs[#xs + 1] = t.config.x
      assert.equal(5, t.config.nested.y)
      assert.equal(t.config.x, t.last_result.config.x)
      local list = tables[t.trial_id]
      assert.equal(4, #list)
      for i = 2, 4 do assert.equal(list[1], list[i]) end      -- one copy per trial
      assert.are_not.equal(trial_configs[t.trial_id], list[1])
      assert.equal(t.config.x, core.json_decode(core.read_file(t.logdir .. "/params.json")).x)
    end
    table.sort(xs)
    assert.same({1, 2}, xs)
    local b = tune.ExperimentAnalysis(dir .. "/copy")
    for _, t in ipairs(b.trials) do assert.is_true(t.config.x == 1 or t.config.x == 2) end
  end)

  it("replays trials that share a config from their own recordings, in order", function()
    tune.register_trainable("sim_user_dup", function() end)
    local ex = tune.SimulatedExecutor{curve = function(_, i, t)
      if i <= 2 then return {loss = tonumber(t.trial_id:sub(-1)) + i} end
    end}
    local first = tune.run("sim_user_dup", {trial_executor = ex, num_samples = 3, seed = 1, verbose = 0,
      local_dir = dir, name = "recorded", config = {lr = tune.grid_search({0.1})}})
    ex:close()
    local function losses(a)
      local out = {}
      for _, t in ipairs(a.trials) do out[#out + 1] = t.last_result.loss end
      return out
    end
    assert.same({2, 3, 4}, losses(first))
    -- A fourth trial of that config has no recording left: the curve's.
    local replay = tune.SimulatedExecutor{replay = dir .. "/recorded", curve = function(_, i)
      if i <= 2 then return {loss = 100 + i} end
    end}
    local second = tune.run("sim_user_dup", {trial_executor = replay, num_samples = 4, seed = 1, verbose = 0,
      local_dir = dir, name = "replayed", config = {lr = tune.grid_search({0.1})}})
    replay:close()
    assert.same({2, 3, 4, 102}, losses(second))
    -- Without a curve, that trial fails, saying why.
    local strict = tune.SimulatedExecutor{replay = dir .. "/recorded"}
    local third = tune.run("sim_user_dup", {trial_executor = strict, num_samples = 4, seed = 1, verbose = 0,
      local_dir = dir, name = "strict", config = {lr = tune.grid_search({0.1})}, raise_on_failed_trial = false})
    strict:close()
    assert.same({"TERMINATED", "TERMINATED", "TERMINATED", "ERROR"},
      {third.trials[1].status, third.trials[2].status, third.trials[3].status, third.trials[4].status})
    assert.matches("has a config that " .. dir .. "/recorded recorded for 3 trials, each replayed already",
      core.read_file(third.trials[4].logdir .. "/error.txt"), 1, true)
  end)

  it("keeps each trial's recording when a replay resumes, after SIGUSR1 or a kill -9", function()
    -- Two configs, two trials each, one CPU: a recorded trial's losses say
    -- which it was (100 * its number + the iteration). The replay stops
    -- at trial 2's second result, trial 3 not started yet; resumed, trial
    -- 2 goes on with its own recording (not trial 0's), and trial 3 takes
    -- its config's recording not taken yet (not trial 1's).
    local script = [[
local tune = require("tune")
local core = require("tune.core")
local sent = false
local cb = {on_trial_result = function(_, _, _, trial, result)
  if arg[3] and not sent and trial.trial_id:match("00002$") and result.training_iteration == 2 then
    sent = true
    if arg[3] == "USR1" then core.kill(core.getpid(), "USR1") else core.raise_signal("KILL") end
  end
end}
local a = tune.run(function() end, {backend = "sim", local_dir = arg[1], name = arg[2], verbose = 0,
  checkpoint_freq = 1, callbacks = {cb}, config = {x = tune.grid_search({1, 2})}, num_samples = 2,
  sim = {num_cpus = 1, curve = function(_, i, t) if i <= 4 then return {loss = tonumber(t.trial_id:sub(-1)) * 100 + i} end end}})
for _, t in ipairs(a.trials) do
  local losses = {}
  for line in io.lines(t.logdir .. "/result.json") do losses[#losses + 1] = core.json_decode(line).loss end
  print("TRIAL " .. t.trial_id:sub(-1) .. " " .. t.status .. " " .. table.concat(losses, ","))
end
]]
    local file = dir .. "/rs.lua"
    assert(core.write_atomic(file, script))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    local function tunelua(args)
      return support.sh(string.format("env -u LD_PRELOAD timeout 60 %s %s", bin, args))
    end
    local want = "TRIAL 0 TERMINATED 1,2,3,4\nTRIAL 1 TERMINATED 101,102,103,104\n"
      .. "TRIAL 2 TERMINATED 201,202,203,204\nTRIAL 3 TERMINATED 301,302,303,304\n"
    local ok, out = tunelua(string.format("%s %s rec", quote(file), quote(dir)))
    assert(ok, out)
    assert.equal(want, out)
    for _, how in ipairs({"USR1", "KILL"}) do
      local rec, name = quote(dir .. "/rec"), "rp_" .. how
      local _, killed, code = tunelua(string.format("--replay %s %s %s %s %s", rec, quote(file), quote(dir), name, how))
      assert.equal(how == "USR1" and 130 or 137, code, killed)
      ok, out = tunelua(string.format("--replay %s --resume %s %s %s", rec, quote(file), quote(dir), name))
      assert(ok, out)
      assert.equal(want, out, how)
    end
  end)

  it("names a curve that returns a list as one that returns what is not a table of metrics", function()
    local ex = tune.SimulatedExecutor{curve = function() return {1, 2, 3} end}
    local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "list",
      raise_on_failed_trial = false})
    ex:close()
    local err = core.read_file(a.trials[1].logdir .. "/error.txt")
    assert.matches("the simulator's curve returned a list, not a table of metrics or nil", err, 1, true)
    assert.is_nil(err:find("malformed", 1, true))
  end)

  it("moves the virtual clock by a result's own time_this_iter_s, replayed or from the curve", function()
    local function run(name, sim, budget)
      return tune.run(function() end, {name = name, backend = "sim", local_dir = dir, verbose = 0,
        config = {x = tune.grid_search({1})}, time_budget_s = budget, sim = sim})
    end
    -- Ten virtual seconds an iteration: a budget of 35 s allows four.
    local a = run("timed", {curve = function(_, i) if i <= 20 then return {loss = i, time_this_iter_s = 10} end end})
    assert.equal(20, a.trials[1].last_result.training_iteration)
    local b = run("budget", {curve = function(_, i) if i <= 20 then return {loss = i, time_this_iter_s = 10} end end}, 35)
    local r = b.trials[1].last_result
    assert.is_true(r.training_iteration >= 3 and r.training_iteration <= 5, tostring(r.training_iteration))
    assert.equal(10 * r.training_iteration, r.time_total_s)
    -- A replay of the first: the recorded times, on the clock too.
    local c = run("replayed", {replay = dir .. "/timed"}, 35)
    assert.same(r.training_iteration, c.trials[1].last_result.training_iteration)
    -- Without the key, time_per_iteration (1 s): the budget allows about 35.
    local d = run("plain", {curve = function(_, i) if i <= 100 then return {loss = i} end end}, 35)
    assert.is_true(d.trials[1].last_result.training_iteration >= 30)
  end)

  -- A trial asked past its recorded rows ends there: under a recording's
  -- early-stopping scheduler that was silent, and a replay under FIFO
  -- looked like trainables that had returned after one iteration.
  it("says once when a trial asks past a recording its scheduler may have cut short", function()
    local function run(name, sim, scheduler)
      return tune.run(function() end, {name = name, backend = "sim", local_dir = dir, verbose = 0, metric = "loss",
        mode = "min", config = {x = tune.grid_search({1, 2, 3, 4})}, sim = sim, scheduler = scheduler})
    end
    local curve = function(c, i) if i <= 9 then return {loss = c.x / i} end end
    run("pruned", {curve = curve}, tune.schedulers.ASHAScheduler{max_t = 100, reduction_factor = 2})
    run("full", {curve = curve})
    local real = io.stderr
    local said = {}
    io.stderr = {write = function(_, s) said[#said + 1] = s end}
    local ok, a = pcall(run, "again", {replay = dir .. "/pruned"})
    local ok2, err = pcall(run, "again_full", {replay = dir .. "/full"})
    io.stderr = real
    assert(ok, a)
    assert(ok2, err)
    local last = {}
    for _, t in ipairs(a.trials) do last[t.config.x] = t.last_result.training_iteration end
    assert.same({9, 1, 1, 1}, last)
    assert.equal(1, #said, table.concat(said))
    assert.matches("tunelua warning: replay: trial trainable_%w+_00001 asked for iteration 2, but its recording ends at "
      .. "row 1, so it ends there: AsyncHyperBandScheduler, the recording's scheduler, may have stopped it early %(in "
      .. dir:gsub("%p", "%%%0") .. "/pruned;", said[1])
  end)

  it("says once that a recording holds no results", function()
    local ex = tune.SimulatedExecutor{curve = function(_, i) if i <= 2 then return {loss = i} end end}
    local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "recorded",
      num_samples = 2})
    ex:close()
    for _, t in ipairs(a.trials) do assert(core.write_atomic(t.logdir .. "/result.json", "")) end
    local ok, err = pcall(tune.SimulatedExecutor, {replay = dir .. "/recorded"})
    assert.is_false(ok)
    assert.matches("SimulatedExecutor: replay: " .. dir .. "/recorded holds no recorded results to replay", err, 1,
      true)
    local _, n = err:gsub("SimulatedExecutor", "")
    assert.equal(1, n)
  end)

  -- params.json holds the config each start runs with (Ray's
  -- log_trial_start): the keys PBT's on_trial_add adds to a trial's
  -- config in place, and the config an exploit restarts a trial with.
  it("writes params.json with the config each start of a trial runs with (PBT)", function()
    local ex = tune.SimulatedExecutor{num_cpus = 4, curve = function(c, it)
      if it > 12 then return nil end
      return {acc = it * c.lr}
    end}
    tune.register_trainable("simuser_params", function() end)
    local a = tune.run("simuser_params", {trial_executor = ex, verbose = 0, local_dir = dir, name = "p", seed = 3,
      metric = "acc", mode = "max", num_samples = 4, config = {x = tune.randint(0, 5)},
      scheduler = tune.schedulers.PopulationBasedTraining{time_attr = "training_iteration", perturbation_interval = 3,
        hyperparam_mutations = {lr = tune.uniform(0, 1)}, seed = 1}})
    ex:close()
    local exploited = 0
    for _, t in ipairs(a.trials) do
      if t.experiment_tag:find("@perturbed", 1, true) then exploited = exploited + 1 end
      local params = core.json_decode(assert(core.read_file(t.logdir .. "/params.json")))
      assert.is_number(params.lr)
      assert.are.same(t.config, params)
    end
    assert.is_true(exploited > 0)
    for _, c in pairs(a:get_all_configs()) do assert.is_number(c.lr) end
  end)

  -- What a replay takes from a recording (a user's bug hunt): every digit
  -- of a float config, the iterations as training_iteration says (a
  -- restarted trial logged some twice), a recorded failure, the state's
  -- order of creation (random ids), and files inside the directory only.
  describe("replays a recording as it was", function()
    local function loss_rows(t)
      local out = {}
      for line in (core.read_file(t.logdir .. "/result.json") or ""):gmatch("[^\n]+") do
        local r = core.json_decode(line)
        out[#out + 1] = {r.training_iteration, r.loss}
      end
      return out
    end

    it("tells configs apart by every digit of a float", function()
      local run = function(name, sim, grid)
        return tune.run(function() end, {backend = "sim", sim = sim, verbose = 0, local_dir = dir, name = name,
          config = {lr = tune.grid_search(grid)}})
      end
      run("rec", {curve = function(c, i) if i <= 2 then return {loss = c.lr == 0.3 and 111 or 222} end end},
        {0.3, 0.1 + 0.2})
      local a = run("rp", {replay = dir .. "/rec"}, {0.1 + 0.2, 0.3})
      for _, t in ipairs(a.trials) do assert.equal(t.config.lr == 0.3 and 111 or 222, t.last_result.loss) end
    end)

    it("undoes a recorded restart (iterations_since_restore), and fails a recorded failure again", function()
      local failed = false
      local rec = tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rec",
        max_failures = 1, raise_on_failed_trial = false, config = {k = tune.grid_search({1, 2, 3})}, sim = {
        curve = function(c, i)
          if c.k == 1 and i == 3 and not failed then failed = true error("transient") end
          if c.k == 2 and i == 3 then error("dies at 3") end
          if c.k == 3 then error("dies before reporting") end
          if i <= 5 then return {loss = 100 * c.k + i} end
        end}})
      assert.same({{1, 101}, {2, 102}, {1, 101}, {2, 102}, {3, 103}, {4, 104}, {5, 105}}, loss_rows(rec.trials[1]))
      local a = tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rp",
        raise_on_failed_trial = false, config = {k = tune.grid_search({1, 2, 3})}, sim = {replay = dir .. "/rec"}})
      assert.same({{1, 101}, {2, 102}, {3, 103}, {4, 104}, {5, 105}}, loss_rows(a.trials[1]))
      assert.equal("TERMINATED", a.trials[1].status)
      assert.same({"ERROR", 2}, {a.trials[2].status, a.trials[2].last_result.training_iteration})
      assert.matches("replayed the recorded failure: .*dies at 3", core.read_file(a.trials[2].logdir .. "/error.txt"))
      assert.equal("ERROR", a.trials[3].status)
      assert.matches("replayed the recorded failure: .*dies before reporting",
        core.read_file(a.trials[3].logdir .. "/error.txt"))
    end)

    it("gives trials of one config its recorded trials in the order they were created, with random ids", function()
      local n, rep = {}, {}
      local function run(name, sim)
        return tune.run(function() end, {backend = "sim", sim = sim, verbose = 0, local_dir = dir, name = name,
          metric = "loss", mode = "min", num_samples = 9, config = {lr = tune.uniform(0, 1)},
          search_alg = tune.search.Repeater(tune.search.RandomSearch{seed = 1}, {["repeat"] = 3, set_index = false})})
      end
      local rec = run("rec", {curve = function(c, i, t)
        if not rep[t.trial_id] then n[c.lr] = (n[c.lr] or 0) + 1 rep[t.trial_id] = n[c.lr] end
        if i <= 2 then return {loss = c.lr, rep = rep[t.trial_id]} end
      end})
      local a = run("rp", {replay = dir .. "/rec"})
      local function reps(x)
        local out = {}
        for _, t in ipairs(x.trials) do out[#out + 1] = t.last_result.rep end
        return out
      end
      assert.same({1, 2, 3, 1, 2, 3, 1, 2, 3}, reps(rec))
      assert.same(reps(rec), reps(a))
    end)

    it("replays a trainable's own training_iteration values row by row, and a retried trial's to its creator", function()
      -- Its own values were taken for row numbers (rows made up up to
      -- them); the retried trial, at the back of the state's list, gave
      -- its recording to the next trial of the same config.
      local failed = false
      local rec = tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rec",
        num_samples = 3, max_failures = 1, config = {x = 1}, sim = {curve = function(_, i, t)
          local k = tonumber(t.trial_id:match("_(%d+)$"))
          if k == 0 and i == 2 and not failed then failed = true error("once") end
          if i <= 2 then return {loss = 10 * k + i, training_iteration = 1000 * i} end
        end}})
      assert.is_true(failed)
      -- The state file itself may be given too.
      local state
      for _, f in ipairs(core.listdir(dir .. "/rec")) do if f:match("^experiment_state") then state = f end end
      local a = tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rp",
        num_samples = 3, config = {x = 1}, sim = {replay = dir .. "/rec/" .. state}})
      assert.equal(3, #rec.trials)
      for _, t in ipairs(a.trials) do
        local k = tonumber(t.trial_id:match("_(%d+)$"))
        local l = {}
        for i, r in ipairs(loss_rows(t)) do l[i] = r[2] end
        assert.same({10 * k + 1, 10 * k + 2}, l, t.trial_id)
      end
    end)

    it("replays a recorded failure after the recorded rows with a result buffer too", function()
      -- A batch the host failed in was one error: the rows before it were lost.
      tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rec",
        raise_on_failed_trial = false, sim = {curve = function(_, i)
          if i == 6 then error("dies at 6") end
          return {loss = i}
        end}})
      local ex = tune.SimulatedExecutor{replay = dir .. "/rec", result_buffer_length = 16}
      local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, name = "rp",
        raise_on_failed_trial = false})
      ex:close()
      assert.same({"ERROR", 5}, {a.trials[1].status, a.trials[1].last_result.training_iteration})
      assert.equal(5, #loss_rows(a.trials[1]))
      assert.matches("replayed the recorded failure: .*dies at 6", core.read_file(a.trials[1].logdir .. "/error.txt"))
    end)

    it("reads no file outside the recording's directory", function()
      tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "orig",
        config = {k = tune.grid_search({1, 2})}, sim = {curve = function(c, i) if i <= 2 then return {loss = c.k} end end}})
      support.must(string.format("cp -r %s/orig %s/moved && rm -rf %s/moved/*_00001_*", dir, dir, dir))
      local a = tune.run(function() end, {backend = "sim", verbose = 0, local_dir = dir, name = "rp",
        raise_on_failed_trial = false, config = {k = tune.grid_search({1, 2})}, sim = {replay = dir .. "/moved"}})
      assert.same({"TERMINATED", "ERROR"}, {a.trials[1].status, a.trials[2].status})
      assert.matches("recorded no result for", core.read_file(a.trials[2].logdir .. "/error.txt"), 1, true)
    end)
  end)

  it("runs the same on any host: the simulated node has no memory unless given", function()
    local ex = tune.SimulatedExecutor{num_cpus = 4, curve = function() end}
    assert.is_true((ex:resources().memory or 0) == 0)
    ex:close()
    ex = tune.SimulatedExecutor{num_cpus = 4, memory = 2 ^ 30, curve = function() end}
    assert.equal(2 ^ 30, ex:resources().memory)
    ex:close()
  end)

  it("fails a trial whose curve reports a time_this_iter_s that is no time, naming it", function()
    for _, v in ipairs({-5, 0 / 0, 1e300, math.huge, "abc"}) do
      local ex = tune.SimulatedExecutor{curve = function(_, i) if i <= 3 then return {loss = i, time_this_iter_s = v} end end}
      local a = tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = dir, raise_on_failed_trial = false})
      ex:close()
      assert.equal("ERROR", a.trials[1].status)
      assert.matches("trial reported time_this_iter_s = .*: an iteration's virtual seconds must be a number in %[0, 1e9%]",
        core.read_file(a.trials[1].logdir .. "/error.txt"))
    end
  end)

  it("says a zero time_per_iteration may never end a time budget, and refuses a closed executor", function()
    local out = support.run_script(dir, [[
local tune = require("tune")
local ex = tune.SimulatedExecutor{time_per_iteration = 0, curve = function(_, i)
  if i <= 3 then return {loss = i, time_this_iter_s = 1} end end}
tune.run(function() end, {trial_executor = ex, verbose = 0, local_dir = arg[1], time_budget_s = 100})
ex:close()
print(select(2, pcall(tune.run, function() end, {trial_executor = ex, verbose = 0, local_dir = arg[1]})))
]], dir .. "/out")
    assert.matches("time_per_iteration is 0, so the virtual clock moves only by the time_this_iter_s", out, 1, true)
    assert.matches("tune.run: trial_executor was closed (ex:close()): make a new one", out, 1, true)
  end)

  it("goes on when the --events reader goes away (a broken pipe is a warning, as on the local backend)", function()
    -- (The simulator's driver was killed by SIGPIPE: exit 141, half the trials.)
    local script, out = dir .. "/pipe.lua", dir .. "/pipe"
    assert(core.write_atomic(script, [[
local tune = require("tune")
tune.run(function() end, {backend = "sim", name = "pipe", local_dir = arg[1], verbose = 0, num_samples = 20,
  sim = {curve = function(_, it) if it <= 20 then return {loss = 1 / it} end end}})
]]))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    os.execute(string.format("(env -u LD_PRELOAD %s --events - %s %s 2> %s/pipe.err; echo $? > %s/pipe.rc) | head -c 1 > /dev/null",
      bin, quote(script), quote(out), dir, dir))
    assert.equal("0", core.read_file(dir .. "/pipe.rc"):match("%d+"))
    assert.matches("tunelua warning: cannot write the event stream to -: Broken pipe; no more events are written to it",
      core.read_file(dir .. "/pipe.err"), 1, true)
    local a = tune.ExperimentAnalysis(out .. "/pipe")
    assert.equal(20, #a.trials)
    for _, t in ipairs(a.trials) do assert.equal(20, t.last_result.training_iteration) end
  end)

  it("names wrong options of its own and trim_cache's wrong list", function()
    local f = function() end
    local ok, err = pcall(tune.SimulatedExecutor, {curve = f, time_per_iteration = "1"})
    assert.matches('time_per_iteration must be a number of virtual seconds in %[0, .*%], got string "1"', err)
    ok, err = pcall(tune.SimulatedExecutor, {curve = f, backend = "local"})
    assert.matches('backend is the simulator\'s own (got string "local")', err, 1, true)
    -- A misspelt option of its own was named without the right one, and
    -- a misspelt curve was taken for none ("give a curve ... or replay").
    for _, c in ipairs({{{curve = f, time_per_iter = 2}, '"time_per_iter" (did you mean time_per_iteration?)'},
        {{curv = f}, '"curv" (did you mean curve?)'}, {{curve = f, reuse_actor = true}, "(did you mean reuse_actors?)"}}) do
      ok, err = pcall(function()
        local ex = tune.SimulatedExecutor(c[1])
        return ex
      end)
      assert.is_false(ok)
      assert.matches("sim_user_spec.lua:%d+: SimulatedExecutor: unknown option ", err)
      assert.matches(c[2], err, 1, true)
    end
    local ex = tune.SimulatedExecutor{curve = f}
    ok, err = pcall(ex.trim_cache, ex, {5})
    assert.is_false(ok)
    assert.matches("trim_cache: element 1 of the list is not a trial (a number)", err, 1, true)
    ok, err = pcall(ex.trim_cache, ex, "x")
    assert.matches("trim_cache: expected a list of trials (or nothing), got string", err, 1, true)
    ex:close()
  end)
end)
