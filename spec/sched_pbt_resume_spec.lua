-- Synchronous PopulationBasedTraining after a resume, on a mock runner:
-- the scheduler's state is the snapshot's, older or newer than where each
-- trial restarts (its checkpoint, on_trial_restored). The sync point and
-- the trials' last perturbation times follow from the restart times, so
-- that PBT perturbs only at multiples of perturbation_interval, every
-- trial pauses at the same sync point, and a donor is always of the
-- exploiting trial's sync point. The interleavings are those kill -9 left
-- in the hunt (docs/reliability.md, "Known limits"); spec/crash_spec.lua
-- kills real runs.
local tune = require("tune")
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local mocks = require("spec.fixtures.pbt_mocks")

local CONTINUE, PAUSE, NOOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.NOOP
local INTERVAL = 3

local function new_pbt(log_config)
  return tune.schedulers.PopulationBasedTraining{
    time_attr = "training_iteration", metric = "score", mode = "max", perturbation_interval = INTERVAL,
    synch = true, quantile_fraction = 0.25, resample_probability = 0, log_config = log_config or false, seed = 1,
    hyperparam_mutations = {lr = tune.uniform(0.1, 1.0)},
  }
end

--- The snapshot's scheduler state: every trial last perturbed at `lpt`,
--- its last score (its index) at `ltt`, the sync point `next_sync`.
local function snapshot(n, lpt, ltt, next_sync)
  local pbt = new_pbt()
  local runner = mocks.mock_runner(pbt)
  for i = 0, n - 1 do runner:add_trial(mocks.mock_trial(i, {lr = 0.1 * (i + 1)})) end
  local state = pbt:save()
  for i, st in ipairs(state.trial_state) do
    st.last_perturbation_time, st.last_train_time, st.last_score = lpt, ltt, i
  end
  state.next_perturbation_sync = next_sync
  return state
end

--- A resumed PBT: restored from `state`, its trials added again and
--- restored at `at[i]` (their checkpoints' iterations), PENDING. Its
--- exploits are recorded as {trial's time, donor's time}.
local function resumed(state, at)
  local pbt = new_pbt()
  pbt:restore(state)
  local runner = mocks.mock_runner(pbt)
  for i, it in ipairs(at) do
    local t = mocks.mock_trial(i - 1, {lr = 0.1 * i})
    t.last_result = {training_iteration = it, score = it * 10 + i}
    runner:add_trial(t)
  end
  for i, t in ipairs(runner.trials) do pbt:on_trial_restored(runner, t, at[i]) end
  local exploits = {}
  local exploit = pbt._exploit
  pbt._exploit = function(self, r, trial, donor)
    exploits[#exploits + 1] = {self._trial_state[trial.trial_id].last_train_time,
      self._trial_state[donor.trial_id].last_train_time}
    return exploit(self, r, trial, donor)
  end
  return pbt, runner, exploits
end

--- Runs the population as a synch runner would: the scheduler picks a
--- trial, it reports its next iterations until PBT pauses it, up to
--- `upto`. Returns each trial's reported iterations and the iterations
--- where it paused.
local function drive(pbt, runner, at, upto)
  local reported, paused = {}, {}
  local now = {}
  for i, t in ipairs(runner.trials) do now[t.trial_id], reported[i], paused[i] = at[i], {}, {} end
  local index = {}
  for i, t in ipairs(runner.trials) do index[t.trial_id] = i end
  for _ = 1, 200 do
    local t = pbt:choose_trial_to_run(runner)
    if t == nil then break end
    -- It restarts from its own checkpoint, or from the donor's it cloned.
    local st = pbt._trial_state[t.trial_id]
    now[t.trial_id] = st.last_train_time
    t.status = "RUNNING"
    while true do
      local it = now[t.trial_id] + 1
      if it > upto then t.status = "TERMINATED" break end
      now[t.trial_id] = it
      local i = index[t.trial_id]
      table.insert(reported[i], it)
      local decision = pbt:on_trial_result(runner, t, {training_iteration = it, score = it * 10 + i})
      t.last_result = {training_iteration = it, score = it * 10 + i}
      if decision == PAUSE or decision == NOOP or t.status == "PAUSED" then
        table.insert(paused[i], it)
        if t.status == "RUNNING" then runner:process_action(t, PAUSE) end
        break
      end
      assert.equal(CONTINUE, decision)
    end
  end
  return reported, paused
end

local function consecutive(list, from)
  for n, it in ipairs(list) do
    if it ~= from + n then return false end
  end
  return true
end

describe("synch PBT resumed from a snapshot older or newer than the trials' checkpoints", function()
  it("a snapshot from before the perturbation at 3, trials restarted at 3 to 6: the next sync point is 6", function()
    -- The hunt's seed 39: the snapshot says sync point 3, nobody perturbed
    -- yet; the journal's checkpoints show the perturbation at 3 happened
    -- and two trials already wait at 6. (Before: PBT perturbed at once
    -- with the trials at 3, 4 and 6, and a trial at 6 cloned one at 3.)
    local at = {6, 6, 4, 4, 3, 3}
    local pbt, runner, exploits = resumed(snapshot(6, 0, 3, 3), at)
    local reported, paused = drive(pbt, runner, at, 12)
    for i = 1, #at do
      assert.is_true(consecutive(reported[i], at[i]), "trial " .. i .. ": " .. table.concat(reported[i], ","))
      for _, p in ipairs(paused[i]) do assert.equal(0, p % INTERVAL, "trial " .. i .. " paused at " .. p) end
    end
    assert.is_true(#exploits > 0)
    for _, e in ipairs(exploits) do
      assert.equal(0, e[1] % INTERVAL)
      assert.equal(e[1], e[2], "a donor of another sync point")
    end
  end)

  it("a trial behind the others' sync point (its checkpoint there lost) runs through it", function()
    -- The hunt's seed 25: sync point 6 in the snapshot; the trials went on
    -- to 7 and 9, one restarts at 5 (exploited at 6, its checkpoint there
    -- never written). (Before: it paused at 6 and PBT perturbed there
    -- again with trials at 6, 7 and 9: a trial at 7 cloned one at 9.)
    local at = {9, 9, 7, 7, 6, 5}
    local pbt, runner, exploits = resumed(snapshot(6, 3, 6, 6), at)
    assert.equal(runner.trials[6], pbt:choose_trial_to_run(runner))
    assert.equal(9, pbt._next_perturbation_sync)
    local reported, paused = drive(pbt, runner, at, 12)
    for i = 1, #at do
      assert.is_true(consecutive(reported[i], at[i]), "trial " .. i .. ": " .. table.concat(reported[i], ","))
      for _, p in ipairs(paused[i]) do assert.equal(0, p % INTERVAL, "trial " .. i .. " paused at " .. p) end
    end
    assert.equal(9, paused[6][1])
    assert.is_true(#exploits > 0)
    for _, e in ipairs(exploits) do
      assert.is_true(e[1] == 9 or e[1] == 12)
      assert.equal(e[1], e[2], "a donor of another sync point")
    end
  end)

  it("every trial at the sync point: PBT perturbs there once, ranked by what they logged there", function()
    local at = {6, 6, 6, 6}
    -- The snapshot is older (sync point 3) and newer ones are alike.
    for _, state in ipairs({snapshot(4, 0, 3, 3), snapshot(4, 6, 6, 9)}) do
      local pbt, runner, exploits = resumed(state, at)
      assert.is_not_nil(pbt:choose_trial_to_run(runner))
      assert.equal(9, pbt._next_perturbation_sync)
      assert.equal(1, #exploits)
      assert.same({6, 6}, exploits[1])
      -- The worst at 6 (the first trial) cloned one of the best.
      assert.truthy(runner.trials[1].restored_checkpoint == "trial_3")
      for _, t in ipairs(runner.trials) do assert.equal(6, pbt._trial_state[t.trial_id].last_perturbation_time) end
    end
  end)

  it("a snapshot newer than every trial's checkpoint: they run up to the sync point they had not reached", function()
    local at = {5, 4, 4, 3}
    local pbt, runner, exploits = resumed(snapshot(4, 6, 6, 9), at)
    assert.equal(runner.trials[4], pbt:choose_trial_to_run(runner))
    assert.equal(6, pbt._next_perturbation_sync)
    local reported, paused = drive(pbt, runner, at, 9)
    for i = 1, #at do
      assert.is_true(consecutive(reported[i], at[i]), "trial " .. i .. ": " .. table.concat(reported[i], ","))
      assert.equal(6, paused[i][1])
    end
    for _, e in ipairs(exploits) do assert.equal(e[1], e[2]) end
  end)

  it("a donor waiting since the resume lends a copy of its persistent checkpoint, which PBT owns", function()
    local support = require("spec.support")
    local core = require("tune.core")
    local ckpt = require("tune.executor.checkpoint")
    local persistence = require("tune.experiment.persistence")
    local dir = support.tmpdir("pbt-lend")
    local src = dir .. "/checkpoint_000006"
    assert(core.mkdir_p(src .. "/sub"))
    assert(core.write_file(src .. "/data.json", '{"w": 6}'))
    assert(core.write_file(src .. "/sub/x.bin", "\0\1\2"))
    local pbt = new_pbt()
    local trial = {trial_id = "t", logdir = dir, status = "PENDING", checkpoint = ckpt.Checkpoint{
      dir_or_data = src, storage_mode = "PERSISTENT", metrics = {training_iteration = 6}}}
    local c = require("tune.schedulers.pbt_resume").lendable_checkpoint(pbt, trial)
    assert.equal("MEMORY", c.storage_mode)
    assert.is_not.equal(src, c.dir_or_data)
    assert.equal('{"w": 6}', core.read_file(c.dir_or_data .. "/data.json"))
    assert.equal("\0\1\2", core.read_file(c.dir_or_data .. "/sub/x.bin"))
    assert.equal(6, c.metrics.training_iteration)
    assert.is_true(pbt._owned[c.dir_or_data])
    -- Once nothing refers to it PBT deletes it, never the original.
    pbt:_collect()
    assert.is_nil(core.stat(c.dir_or_data))
    assert.equal("directory", core.stat(src))
    -- One a driver left when it died goes at the next resume.
    c = require("tune.schedulers.pbt_resume").lendable_checkpoint(pbt, trial)
    assert.equal("directory", core.stat(c.dir_or_data))
    persistence.remove_memory_checkpoints(trial)
    assert.is_nil(core.stat(c.dir_or_data))
    assert.equal("directory", core.stat(src))
  end)

  it("a trial the snapshot did not know keeps its original tag, not an undone exploit's", function()
    local pbt = new_pbt()
    pbt:restore(new_pbt():save())
    local runner = mocks.mock_runner(pbt)
    local t = mocks.mock_trial(1, {lr = 0.5})
    t.experiment_tag = "1_lr=0.2@perturbed[lr=0.5]"
    runner:add_trial(t)
    assert.equal("1_lr=0.2", pbt._trial_state["1"].orig_tag)
  end)

  it("before the first sync point, with a burn-in period", function()
    local pbt = tune.schedulers.PopulationBasedTraining{
      time_attr = "training_iteration", metric = "score", mode = "max", perturbation_interval = 2,
      burn_in_period = 5, synch = true, hyperparam_mutations = {lr = tune.uniform(0.1, 1.0)}, seed = 1,
    }
    local runner = mocks.mock_runner(pbt)
    local at = {4, 1, 0}
    for i = 1, #at do runner:add_trial(mocks.mock_trial(i - 1, {lr = 0.1 * i})) end
    pbt:restore(pbt:save())
    for i, t in ipairs(runner.trials) do pbt:on_trial_restored(runner, t, at[i]) end
    assert.equal(runner.trials[3], pbt:choose_trial_to_run(runner))
    assert.equal(5, pbt._next_perturbation_sync)
    for _, t in ipairs(runner.trials) do assert.equal(0, pbt._trial_state[t.trial_id].last_perturbation_time) end
  end)
end)

describe("synch PBT's counters after a resume (debug_string)", function()
  local support = require("spec.support")

  --- A PBT that logs its exploits in `dir` (pbt_global.txt), on 4 mock
  --- trials there at `at` (PENDING, their last result there), restored
  --- from `state` when given (what TrialRunner:resume does).
  local function population(dir, at, state)
    local pbt = new_pbt(true)
    local runner = mocks.mock_runner(pbt)
    runner.experiment_dir = dir
    if state then pbt:restore(state, runner) end
    for i, it in ipairs(at) do
      local t = mocks.mock_trial(i - 1, {lr = 0.1 * i})
      t.local_dir = dir
      if it > 0 then t.last_result = {training_iteration = it, score = it * 10 + i} end
      runner:add_trial(t)
    end
    if state then
      for i, t in ipairs(runner.trials) do pbt:on_trial_restored(runner, t, at[i]) end
    end
    return pbt, runner
  end

  local function uninterrupted(upto)
    local pbt, runner = population(support.tmpdir("pbt-count-ref"), {0, 0, 0, 0})
    drive(pbt, runner, {0, 0, 0, 0}, upto)
    return pbt:debug_string()
  end

  it("adds the perturbation made after the snapshot at a sync point the trials had gone past", function()
    local want = uninterrupted(9)
    assert.equal("PopulationBasedTraining: 3 checkpoints, 3 perturbs", want)
    local dir = support.tmpdir("pbt-count-lost")
    local pbt, runner = population(dir, {0, 0, 0, 0})
    drive(pbt, runner, {0, 0, 0, 0}, 2)
    -- The snapshot: every trial at 2, nobody perturbed yet.
    local state = support.json_roundtrip(pbt:save())
    for _, t in ipairs(runner.trials) do t.status = "PAUSED" end
    drive(pbt, runner, {2, 2, 2, 2}, 4)
    assert.equal("PopulationBasedTraining: 1 checkpoints, 1 perturbs", pbt:debug_string())
    -- The driver died with every trial at 4: resumed there.
    local resumed_pbt, resumed_runner = population(dir, {4, 4, 4, 4}, state)
    drive(resumed_pbt, resumed_runner, {4, 4, 4, 4}, 9)
    assert.equal(want, resumed_pbt:debug_string())
  end)

  it("takes back a perturbation the snapshot counted at a sync point it makes again", function()
    local want = uninterrupted(9)
    local dir = support.tmpdir("pbt-count-again")
    local pbt, runner = population(dir, {0, 0, 0, 0})
    drive(pbt, runner, {0, 0, 0, 0}, 3)
    -- The snapshot after the perturbation at 3; every trial restarts at 3
    -- (its exploit's clone died with the driver): PBT perturbs there again.
    local state = support.json_roundtrip(pbt:save())
    assert.equal("PopulationBasedTraining: 1 checkpoints, 1 perturbs", pbt:debug_string())
    local resumed_pbt, resumed_runner = population(dir, {3, 3, 3, 3}, state)
    drive(resumed_pbt, resumed_runner, {3, 3, 3, 3}, 9)
    assert.equal(want, resumed_pbt:debug_string())
  end)
end)
