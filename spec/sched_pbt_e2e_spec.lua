-- PopulationBasedTraining, its replay and ResourceChangingScheduler end to
-- end through the tunelua binary, on the experiment files in
-- spec/fixtures/experiments/ (pbt_*.lua, resource_*.lua):
--   * an exploited trial continues from the state of the trial it cloned;
--   * a replay applies the recorded policy at the recorded iterations;
--   * a resource change reaches the trial's worker (OMP_NUM_THREADS);
--   * an experiment killed mid-way (TUNE_TEST_CRASH_AT_WRITE) is finished
--     by `tunelua --resume`, the scheduler's state restored.
-- Timing-sensitive (trial interleaving): run it alone (RUN_SERIAL).
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local EXPERIMENTS = "spec/fixtures/experiments/"

--- Runs `tunelua ARGS` with `env` ("K=V K=V"); returns ok, exit code, output.
local function run(env, args)
  local cmd = string.format("%s %s %s 2>&1", env or "", tunelua, args)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok, how, code = p:close()
  if how == "signal" then code = 128 + code end
  return ok, code, out
end

local function rows(path)
  local out = {}
  for _, line in ipairs(support.lines(path)) do
    local r = core.json_decode(line)
    if type(r) == "table" then out[#out + 1] = r end
  end
  return out
end

--- The trial directories of an experiment, by trial_id, with their results.
local function trials_of(exp_dir)
  local out = {}
  for _, name in ipairs(core.listdir(exp_dir) or {}) do
    local dir = exp_dir .. "/" .. name
    if core.read_file(dir .. "/params.json") then
      local rs = rows(dir .. "/result.json")
      if #rs > 0 then out[rs[1].trial_id] = {dir = dir, rows = rs, name = name} end
    end
  end
  return out
end

local function memory_dirs(trials)
  local n = 0
  for _, t in pairs(trials) do
    for _, name in ipairs(core.listdir(t.dir) or {}) do
      if name:match("^%.memory_checkpoint") then n = n + 1 end
    end
  end
  return n
end

local function newest_state(exp_dir)
  for _, name in ipairs(core.listdir(exp_dir) or {}) do
    if name:match("^experiment_state%-.*%.json$") then
      return core.json_decode(assert(core.read_file(exp_dir .. "/" .. name)))
    end
  end
  return nil
end

describe("schedulers end to end", function()
  after_each(support.check_clean)

  -- One PBT run serves the clone and the replay checks.
  local clone_dir
  local function pbt_clone()
    if clone_dir then return clone_dir end
    local dir = support.tmpdir("pbt-e2e-clone")
    local ok, code, out = run(nil, "--local-dir " .. dir .. " " .. EXPERIMENTS .. "pbt_clone.lua")
    assert.is_true(ok, string.format("pbt_clone.lua exited with %s:\n%s", tostring(code), out))
    local n = tonumber(out:match("pbt_clone: (%d+) perturbations"))
    assert.is_true(n ~= nil and n >= 1, out)
    clone_dir = dir .. "/pbt_clone"
    return clone_dir
  end

  it("PBT: an exploited trial continues from the cloned trial's checkpoint", function()
    local exp = pbt_clone()
    local trials = trials_of(exp)
    local exploited = 0
    for id, t in pairs(trials) do
      assert.equal(8, t.rows[#t.rows].training_iteration)
      -- Each line's config is the one its result was made with, after an
      -- exploit too (a trial started again kept its first config's text).
      for _, r in ipairs(t.rows) do assert.equal(r.rate, r.config.rate, id) end
      for i = 2, #t.rows do
        local r, prev = t.rows[i], t.rows[i - 1]
        assert.equal(prev.training_iteration + 1, r.training_iteration)
        if r.origin ~= prev.origin or r.w ~= prev.w + r.rate then
          -- Not its own state going on: some other trial had exactly this
          -- origin and w one iteration earlier (its checkpoint), and the
          -- next step added the new rate to it.
          exploited = exploited + 1
          local found = false
          for other, o in pairs(trials) do
            if other ~= id then
              for _, s in ipairs(o.rows) do
                if s.origin == r.origin and s.training_iteration == r.training_iteration - 1
                    and s.w + r.rate == r.w then
                  found = true
                end
              end
            end
          end
          assert.is_true(found, string.format("trial %s at iteration %d continues no clone (w=%s, origin=%s)",
            id, r.training_iteration, tostring(r.w), tostring(r.origin)))
        end
      end
    end
    assert.is_true(exploited >= 1)
    -- Each exploit is logged (Ray's policy files), and no memory
    -- checkpoint directory is left behind.
    local global = support.lines(exp .. "/pbt_global.txt")
    assert.is_true(#global >= exploited)
    for _, line in ipairs(global) do
      local p = core.json_decode(line)
      assert.equal(6, #p)
      assert.equal("integer", math.type(p[4]))
    end
    assert.equal(0, memory_dirs(trials))
  end)

  it("PBT on a plateau (every score equal, or NaN) perturbs each trial once an interval and ends", function()
    local tune = require("tune")
    for _, value in ipairs({1, 0 / 0}) do
      local calls = 0
      local dir = support.tmpdir("pbt-plateau")
      tune.run("plateau", {backend = "sim", local_dir = dir, verbose = 0, num_samples = 6, seed = 1,
        metric = "loss", mode = "min", config = {lr = tune.uniform(0.001, 0.1)},
        sim = {num_cpus = 2, curve = function(_, it)
          calls = calls + 1
          if calls > 1000 then error("still exploiting after 1000 iterations") end
          if it <= 20 then return {loss = value} end
        end},
        scheduler = tune.schedulers.PopulationBasedTraining{time_attr = "training_iteration", seed = 1,
          perturbation_interval = 2, hyperparam_mutations = {lr = tune.uniform(0.001, 0.1)}}})
      -- Six trials of 20 iterations (and the call that finds each done):
      -- none went back to another's checkpoint.
      assert.equal(6 * 21, calls)
    end
  end)

  it("PBT replay: the recorded config changes happen at the recorded iterations", function()
    local exp = pbt_clone()
    -- The longest policy: the trial with the most exploits in its lineage.
    local best, best_n
    for _, name in ipairs(core.listdir(exp)) do
      if name:match("^pbt_policy_.*%.txt$") then
        local n = #support.lines(exp .. "/" .. name)
        if not best_n or n > best_n then best, best_n = name, n end
      end
    end
    assert.truthy(best, "no policy file")
    local policy = {}
    for _, line in ipairs(support.lines(exp .. "/" .. best)) do policy[#policy + 1] = core.json_decode(line) end
    local dir = support.tmpdir("pbt-e2e-replay")
    local ok, code, out = run(nil, string.format("--local-dir %s %spbt_replay.lua %s/%s 8", dir, EXPERIMENTS, exp, best))
    assert.is_true(ok, string.format("pbt_replay.lua exited with %s:\n%s", tostring(code), out))
    assert.matches("pbt_replay: " .. #policy .. " perturbations", out)
    local replayed
    for _, t in pairs(trials_of(dir .. "/pbt_replay")) do replayed = t.rows end
    assert.equal(8, #replayed)
    -- The config in force at each iteration: the first change's old config
    -- up to its clone iteration, then each new config in turn.
    local function expected_rate(it)
      local rate = policy[1][5].rate
      for _, p in ipairs(policy) do
        if it > p[4] then rate = p[6].rate end
      end
      return rate
    end
    for _, r in ipairs(replayed) do
      assert.equal(expected_rate(r.training_iteration), r.rate, "iteration " .. r.training_iteration)
    end
    -- And it is the history of the PBT trial itself: after its last
    -- exploit, the replay reports what the trial reported.
    local trial_id = best:match("^pbt_policy_(.*)%.txt$")
    local pbt_rows = trials_of(exp)[trial_id].rows
    for _, r in ipairs(replayed) do
      if r.training_iteration > policy[#policy][4] then
        assert.equal(pbt_rows[r.training_iteration].rate, r.rate)
      end
    end
  end)

  it("ResourceChangingScheduler: the worker runs with the new CPU count", function()
    local dir = support.tmpdir("rcs-e2e")
    local ok, code, out = run(nil, "--num-cpus 4 --local-dir " .. dir .. " " .. EXPERIMENTS .. "resource_change.lua")
    assert.is_true(ok, string.format("resource_change.lua exited with %s:\n%s", tostring(code), out))
    assert.matches("resource_change: done", out)
    local by_name = {}
    for _, t in pairs(trials_of(dir .. "/resource_change")) do by_name[t.rows[1].name] = t.rows end
    local short, long = by_name.short, by_name.long
    assert.equal(3, #short)
    assert.equal(14, #long)
    -- Both start on one CPU, get half the node (2 of 4) after their first
    -- result, and the long one the whole node once the short one is done.
    assert.equal(1, short[1].omp)
    assert.equal(1, long[1].omp)
    assert.equal(2, short[#short].omp)
    assert.equal(4, long[#long].omp)
    -- A change restarts the trial in a new worker, from its checkpoint.
    for _, list in ipairs({short, long}) do
      for i = 2, #list do
        assert.equal(i, list[i].metric)
        if list[i].omp ~= list[i - 1].omp then assert.is_not.equal(list[i - 1].pid, list[i].pid) end
        assert.is_true(list[i].omp >= list[i - 1].omp)
      end
    end
  end)

  it("PBT: a driver killed mid-way is finished by --resume", function()
    local dir = support.tmpdir("pbt-e2e-resume")
    local file = EXPERIMENTS .. "pbt_resume.lua"
    local ok, code, out = run("TUNE_GLOBAL_CHECKPOINT_S=0 TUNE_TEST_CRASH_AT_WRITE=100",
      "--local-dir " .. dir .. " " .. file)
    assert.is_falsy(ok, "the experiment finished before its 100th write:\n" .. out)
    assert.equal(137, code)
    local exp = dir .. "/pbt_resume"
    local before = newest_state(exp)
    assert.truthy(before, "no experiment state was written before the crash")
    local sched = before.scheduler
    assert.equal("PopulationBasedTraining", sched.scheduler)
    local unfinished = 0
    for _, t in ipairs(before.trials) do
      if t.status ~= "TERMINATED" then unfinished = unfinished + 1 end
    end
    assert.is_true(unfinished > 0)
    -- The trials that had a checkpoint on disk when the driver died.
    local had_checkpoint, any = {}, false
    for id, t in pairs(trials_of(exp)) do
      for _, name in ipairs(core.listdir(t.dir) or {}) do
        if name:match("^checkpoint_%d+$") then had_checkpoint[id], any = true, true end
      end
    end
    assert.is_true(any)

    ok, code, out = run("TUNE_GLOBAL_CHECKPOINT_S=0", "--resume --local-dir " .. dir .. " " .. file)
    assert.is_true(ok, string.format("the resumed run exited with %s:\n%s", tostring(code), out))
    local c, p = out:match("pbt_resume: PopulationBasedTraining: (%d+) checkpoints, (%d+) perturbs")
    assert.truthy(c, out)
    -- The counters go on from the restored state.
    assert.is_true(tonumber(c) >= sched.num_checkpoints)
    assert.is_true(tonumber(p) >= sched.num_perturbations)
    local after = newest_state(exp)
    assert.equal(4, #after.trials)
    assert.equal(4, #after.scheduler.trial_state)
    for _, t in ipairs(after.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(10, t.last_result.training_iteration)
    end
    -- A trial with a checkpoint did not start over: it continued from it.
    for id, t in pairs(trials_of(exp)) do
      if had_checkpoint[id] then
        local firsts = 0
        for _, r in ipairs(t.rows) do if r.training_iteration == 1 then firsts = firsts + 1 end end
        assert.equal(1, firsts, "trial " .. id .. " restarted from scratch")
      end
    end
    -- The previous run's memory checkpoints that PBT held are gone.
    for _, d in ipairs(sched.owned_checkpoints or {}) do assert.is_nil(core.stat(d), d) end
  end)
end)
