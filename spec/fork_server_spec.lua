-- The fork server (engine/zygote.h): workers forked from a prepared
-- `tunelua --zygote` are processes like the ones started from the binary:
-- the driver's children, each in its own session, in its trial's
-- directory, with its own environment and random numbers.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

local N = 9

local function run(opts)
  local dir = support.tmpdir("fork-server")
  local ex = support.executor(opts)
  local analysis = tune.run("proc_info", {trial_executor = ex, num_samples = N // 3, local_dir = dir, verbose = 0,
    config = {i = tune.grid_search({1, 2, 3}), sleep = 0.05}, reuse_actors = false})
  return analysis.trials, ex
end

--- Every worker is a process of its own; returns how many were forked.
local function check_workers(trials)
  assert.equal(N, #trials)
  local pids, randoms, ids, forked = {}, {}, {}, 0
  for _, t in ipairs(trials) do
    assert.equal(tune.Trial.TERMINATED, t.status)
    local r = t.last_result
    if r.forked then forked = forked + 1 end
    assert.equal(core.getpid(), r.ppid)
    assert.equal(tostring(core.getpid()), r.driver)
    assert.equal(r.pid, r.session)
    assert.equal(r.pid, r.pgrp)
    assert.matches("tunelua %-%-worker", r.cmdline)
    assert.equal(t.logdir, r.cwd)
    assert.equal("1", r.omp)
    assert.is_nil(pids[r.pid], "a pid twice")
    assert.is_nil(randoms[r.random], "two workers drew the same random number")
    assert.is_nil(ids[r.worker_id], "a worker id twice")
    pids[r.pid], randoms[r.random], ids[r.worker_id] = true, true, true
  end
  return forked
end

describe("fork server", function()
  after_each(support.check_clean)

  it("forks the workers by default, each a process of its own", function()
    if support.backend() == "slurm" then return end -- srun steps are not forked
    local trials, ex = run({num_cpus = 2})
    assert.is_true(ex.options.fork_server)
    -- The first three are spawned (the third starts the zygote, which is
    -- never waited for); the trials take 50 ms, its load a few.
    local forked = check_workers(trials)
    assert.is_true(forked >= 1 and forked <= N - 3, forked .. " forked")
  end)

  it("fork_server = false starts each worker from the binary, with the same properties", function()
    if support.backend() == "slurm" then return end
    local trials, ex = run({num_cpus = 2, fork_server = false})
    assert.is_false(ex.options.fork_server)
    assert.equal(0, check_workers(trials))
  end)

  it("TUNE_FORK_SERVER=0 turns it off", function()
    core.setenv("TUNE_FORK_SERVER", "0")
    local ok, ex = pcall(support.executor, {num_cpus = 1})
    core.setenv("TUNE_FORK_SERVER", nil)
    assert.is_true(ok, ex)
    assert.is_false(ex.options.fork_server)
  end)

  it("takes TUNE_MAX_PENDING_TRIALS_PG=auto, Ray's default, as its automatic 0", function()
    core.setenv("TUNE_MAX_PENDING_TRIALS_PG", "auto")
    local ok, ex = pcall(support.executor, {num_cpus = 1})
    core.setenv("TUNE_MAX_PENDING_TRIALS_PG", nil)
    assert.is_true(ok, ex)
    -- The automatic count (it was warned about as not a number, and 0 used).
    core.setenv("TUNE_MAX_PENDING_TRIALS_PG", "3")
    local three = support.executor({num_cpus = 1})
    core.setenv("TUNE_MAX_PENDING_TRIALS_PG", nil)
    assert.equal(3, three.options.max_pending_trials_pg)
    assert.equal(support.executor({num_cpus = 1}).options.max_pending_trials_pg, ex.options.max_pending_trials_pg)
  end)

  it("refuses a fork_server that is neither true nor false, 1 nor 0", function()
    -- 0.5 and -1 were taken as true without a word (and TUNE_FORK_SERVER=2 too).
    for _, v in ipairs({0.5, -1, 2}) do
      local ok, err = pcall(support.executor, {num_cpus = 1, fork_server = v})
      assert.is_false(ok)
      assert.matches("fork_server must be true or false (1 or 0), got " .. v, tostring(err), 1, true)
    end
  end)

  it("a worker killed right after its fork exits, and the executor cleans up", function()
    if support.backend() == "slurm" then return end
    -- The race this guards: the driver kills a worker's process group
    -- before the new worker made it (its first step). The test hook holds
    -- each forked worker 200 ms before that step; a start request over the
    -- protocol's limit makes the driver kill the worker it just started.
    core.setenv("TUNE_TEST_FORK_DELAY_MS", "200")
    local ok, ex = pcall(support.executor, {num_cpus = 1, max_message_bytes = 65536})
    core.setenv("TUNE_TEST_FORK_DELAY_MS", nil)
    assert(ok, ex)
    local dir = support.tmpdir("fork-kill")
    local function run_one(config)
      local trial = tune.Trial("proc_info", {config = config, local_dir = dir})
      local ev = ex:get_next_executor_event({trial}, true)
      assert.equal("PG_READY", ev.type)
      if not ex:start_trial(trial) then return trial, nil end
      repeat ev = ex:get_next_executor_event({trial}, false, 5)
      until ev.type == "ERROR" or ev.type == "TRAINING_RESULT"
      ex:stop_trial(trial, ev.type == "ERROR", ev.error)
      return trial, ev
    end
    -- Until the zygote serves (the third worker starts it).
    local forked = false
    for _ = 1, 20 do
      local _, ev = run_one({})
      assert.equal("TRAINING_RESULT", ev.type)
      forked = ev.result[1].forked
      if forked then break end
    end
    assert.is_true(forked, "no worker was forked")
    for _ = 1, 3 do
      local trial, ev = run_one({blob = string.rep("x", 100000)})
      assert.matches("TUNE_MAX_MESSAGE_BYTES", ev and ev.error or trial.error_msg)
    end
    ex:cleanup()
  end)
end)
