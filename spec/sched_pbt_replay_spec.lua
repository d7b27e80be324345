-- PopulationBasedTrainingReplay: ports of Ray 2.0's testReplay and
-- testReplaySynch (test_trial_scheduler.py): a PBT run is scripted through
-- a mock runner with log_config, then each trial's policy file is replayed
-- with tune.run and the configs the replay trained with must be the
-- trial's history. Plus the policy reader, the errors, and save/restore.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
local util = require("tune.util")
local TrialScheduler = require("tune.schedulers.trial_scheduler")
require("spec.fixtures.pbt_trainables")

local CONTINUE, NOOP = TrialScheduler.CONTINUE, TrialScheduler.NOOP
local Replay = tune.schedulers.PopulationBasedTrainingReplay

local function result(t, rew)
  return {time_total_s = t, episode_reward_mean = rew, training_iteration = t}
end

-- Ray's _MockTrial / _MockTrialRunner.
local mocks = require("spec.fixtures.pbt_mocks")
local mock_trial, mock_runner = mocks.mock_trial, mocks.mock_runner

local function on_trial_result(pbt, runner, trial, res)
  trial.status = "RUNNING"
  return pbt:on_trial_result(runner, trial, res)
end

-- Returns unique increasing values (Ray's _Counter).
local function counter(start)
  local count = start - 1
  return function()
    count = count + 1
    return count
  end
end

local function setup(synch)
  local pbt = tune.schedulers.PopulationBasedTraining{
    time_attr = "training_iteration", metric = "episode_reward_mean", mode = "max",
    perturbation_interval = 5, resample_probability = 0.0, quantile_fraction = 0.25, log_config = true,
    synch = synch, seed = 1,
    hyperparam_mutations = {float_factor = function() return 100.0 end, int_factor = counter(1000)},
  }
  local runner = mock_runner(pbt)
  for i = 0, 3 do
    local trial = mock_trial(i, {float_factor = 2.0, const_factor = 3, int_factor = 10, id_factor = i})
    runner:add_trial(trial)
    trial.status = "RUNNING"
  end
  return pbt, runner
end

-- The real PBT history of each trial: the config at every step.
local function trial_states(trials, tmpdir)
  local states = {}
  for i, trial in ipairs(trials) do
    trial.local_dir = tmpdir
    trial.last_result = {training_iteration = 0}
    states[i] = {step = 0, config = trial.config, history = {}}
  end
  return states
end

local function forward(state, t)
  while state.step < t do
    state.history[#state.history + 1] = state.config
    state.step = state.step + 1
  end
end

local function copy_history_from_source(states, trials, k)
  local source
  for m, cand in ipairs(trials) do
    if cand.trainable_name == trials[k].restored_checkpoint then source = m end
  end
  assert(source, "no source trial for " .. trials[k].trial_id)
  states[k].history = util.deepcopy(states[source].history)
  states[k].step = states[source].step
end

local function replay_all(trials, states, tmpdir, dir)
  for i, trial in ipairs(trials) do
    if trial.trial_id ~= "1" then -- trial 1 exploited nothing
      local replay = Replay(tmpdir .. "/pbt_policy_" .. trial.trial_id .. ".txt")
      local out = tune.run("pbt_playback", {scheduler = replay, stop = {training_iteration = states[i].step},
        verbose = 0, local_dir = dir})
      local replayed = out.trials[1].last_result.replayed
      assert.equal(#states[i].history, #replayed, "trial " .. trial.trial_id)
      for s, config in ipairs(states[i].history) do
        assert.same(config, replayed[s], "trial " .. trial.trial_id .. " step " .. s)
      end
    end
  end
  -- Trial 1 exploited nothing: it has no policy file.
  assert.has_error(function() Replay(tmpdir .. "/pbt_policy_" .. trials[2].trial_id .. ".txt") end)
end

describe("PopulationBasedTrainingReplay", function()
  local dir
  before_each(function() dir = support.tmpdir("pbt-replay") end)
  after_each(support.check_clean)

  it("testReplay", function()
    local pbt, runner = setup(false)
    local trials = runner:get_trials()
    local tmpdir = support.tmpdir("pbt-replay-policy")
    local states = trial_states(trials, tmpdir)
    local function trial_step(k, steps, score)
      k = k + 1
      local res = result(states[k].step + steps, score)
      trials[k].last_result = res
      forward(states[k], res.training_iteration)
      local old_config = trials[k].config
      on_trial_result(pbt, runner, trials[k], res)
      local new_config = trials[k].config
      states[k].config = util.deepcopy(new_config)
      if old_config ~= new_config then copy_history_from_source(states, trials, k) end
    end
    -- Initial steps.
    trial_step(0, 10, 0)
    trial_step(1, 11, 10)
    trial_step(2, 12, 0)
    trial_step(3, 13, 0)
    -- Next block.
    trial_step(0, 10, -10) -- 0 <-- 1, new_t=11
    trial_step(2, 8, -20)  -- 2 <-- 1, new_t=11
    trial_step(3, 9, 0)
    trial_step(1, 7, 0)
    -- Next block.
    trial_step(1, 12, 0)
    trial_step(2, 13, 0)
    trial_step(3, 14, 10)
    trial_step(0, 11, 0)   -- 0 <-- 3, new_t=13+9+14=36
    -- Next block.
    trial_step(0, 6, 20)
    trial_step(3, 9, -40)  -- 3 <-- 0, new_t=42
    trial_step(2, 8, -50)  -- 2 <-- 0, new_t=42
    trial_step(1, 7, 30)
    trial_step(2, 8, -60)  -- 2 <-- 1, new_t=37
    -- Next block.
    trial_step(0, 10, 0)
    trial_step(1, 10, 0)
    trial_step(2, 10, 0)
    trial_step(3, 10, 0)
    assert.is_true(pbt._num_perturbations >= 5)
    replay_all(trials, states, tmpdir, dir)
  end)

  it("testReplaySynch", function()
    local pbt, runner = setup(true)
    local trials = runner:get_trials()
    local tmpdir = support.tmpdir("pbt-replay-synch-policy")
    local states = trial_states(trials, tmpdir)
    local function trial_step(k, steps, score, synced)
      k = k + 1
      local res = result(states[k].step + steps, score)
      trials[k].last_result = res
      forward(states[k], res.training_iteration)
      if not synced then
        runner:process_action(trials[k], on_trial_result(pbt, runner, trials[k], res))
        return
      end
      -- The synchronisation point.
      local old_configs = {}
      for i, t in ipairs(trials) do old_configs[i] = t.config end
      runner:process_action(trials[k], on_trial_result(pbt, runner, trials[k], res))
      for i, t in ipairs(trials) do
        if old_configs[i] ~= t.config then
          copy_history_from_source(states, trials, i)
          states[i].config = util.deepcopy(t.config)
        end
      end
    end
    -- Initial steps.
    trial_step(0, 10, 0)
    trial_step(1, 11, 10)
    trial_step(2, 12, 0)
    trial_step(3, 13, -1, true)
    -- 3 <-- 1, new_t 11; next_perturb_sync = 13
    trial_step(0, 17, -10) -- 20
    trial_step(2, 15, -20) -- 20
    trial_step(3, 16, 0)   -- 20
    trial_step(1, 7, 1, true) -- 18
    -- 2 <-- 1, new_t=11+7=18; next_perturb_sync = 20
    trial_step(2, 13, 0)   -- 31
    trial_step(3, 14, 10)  -- 34
    trial_step(0, 11, -1)  -- 31
    trial_step(1, 12, 0, true) -- 30
    -- 0 <-- 3, new_t=11+9+14=34; next_perturb_sync = 34
    trial_step(0, 6, 20)   -- 40
    trial_step(3, 9, -40)  -- 43
    trial_step(2, 8, -50)  -- 39
    trial_step(1, 7, 30, true) -- 37
    -- 2 <-- 1, new_t=18+13+8=37; next_perturb_sync = 43
    assert.is_true(pbt._num_perturbations >= 3, "perturbations: " .. pbt._num_perturbations)
    replay_all(trials, states, tmpdir, dir)
  end)

  local function write_policy(lines)
    local path = support.tmpdir("pbt-policy") .. "/pbt_policy_x.txt"
    local text = {}
    for i, l in ipairs(lines) do text[i] = assert(core.json_encode(l)) end
    assert(core.write_atomic(path, table.concat(text, "\n") .. "\n"))
    return path
  end

  it("reads the chain of exploits that led to the trial", function()
    -- An exploit of a trial whose tag is not the source of the next one
    -- was overwritten by it: only the last chain counts.
    -- (pbt_policy_0.txt: 3's history, then 0 <-- 3.)
    local path = write_policy({
      {"0tag", "1tag", 5, 6, {lr = 1}, {lr = 2}},    -- not in the chain
      {"3tag", "2tag", 9, 10, {lr = 10}, {lr = 20}},
      {"0tag", "3tag", 14, 15, {lr = 30}, {lr = 40}},
    })
    local r = Replay(path)
    assert.same({lr = 10}, r.config)
    assert.equal(2, #r._policy)
    assert.same({step = 10, config = {lr = 20}}, r._policy[1])
    assert.same({step = 15, config = {lr = 40}}, r._policy[2])
    assert.equal("replay_pbt_policy_x.txt", r.experiment_tag)
    assert.equal("PopulationBasedTraining replay: Step 0, perturb 0", r:debug_string())
  end)

  it("errors as Ray's", function()
    assert.has_error(function() Replay(dir .. "/missing.txt") end, "Policy file not found: " .. dir .. "/missing.txt")
    local ok, err = pcall(function() Replay(dir .. "/missing.txt") end)
    assert.is_false(ok)
    assert.matches("sched_pbt_replay_spec.lua:%d+: Policy file not found", err)
    assert(core.write_atomic(dir .. "/bad.txt", "not json\n"))
    assert.has_error(function() Replay(dir .. "/bad.txt") end, "Could not read PBT policy file: " .. dir .. "/bad.txt.")
    assert.has_error(function() Replay(42) end)
    -- Two trials: the same schedule would be trained twice.
    local r = Replay(write_policy({{"0tag", "1tag", 5, 6, {lr = 1}, {lr = 2}}}))
    local runner = mock_runner(r)
    runner:add_trial(mock_trial(0, {}))
    r:on_trial_add(runner, runner.trials[1]) -- the same trial again: fine
    assert.has_error(function() runner:add_trial(mock_trial(1, {})) end,
      "More than one trial added to PBT replay run. This means the same schedule will be trained multiple "
        .. "times. Do you want to set `num_samples=1`?")
    -- An empty policy and no config.
    assert(core.write_atomic(dir .. "/empty.txt", ""))
    local e = Replay(dir .. "/empty.txt")
    assert.has_error(function() mock_runner(e):add_trial(mock_trial(0, {})) end)
    -- An empty policy with a config trains with that config.
    local e2 = Replay(dir .. "/empty.txt")
    local t = mock_trial(0, {lr = 5})
    mock_runner(e2):add_trial(t)
    assert.same({lr = 5}, t.config)
  end)

  it("changes the config at the recorded iterations", function()
    local r = Replay(write_policy({
      {"3tag", "2tag", 2, 3, {lr = 1}, {lr = 2}},
      {"0tag", "3tag", 5, 6, {lr = 3}, {lr = 4}},
    }))
    local runner = mock_runner(r)
    local t = mock_trial(0, {lr = 99})
    local warned
    function r:_warn(msg) warned = msg end
    runner:add_trial(t)
    assert.matches("overwritten", warned)
    assert.same({lr = 1}, t.config)
    t.status = "RUNNING"
    assert.equal(CONTINUE, r:on_trial_result(runner, t, {training_iteration = 1}))
    assert.equal(CONTINUE, r:on_trial_result(runner, t, {training_iteration = 2}))
    assert.equal(NOOP, r:on_trial_result(runner, t, {training_iteration = 3}))
    assert.equal("PAUSED", t.status)
    assert.same({lr = 2}, t.config)
    assert.equal("trial_0", t.restored_checkpoint)
    assert.equal("replay_pbt_policy_x.txt@perturbed[lr=2]", t.experiment_tag)
    t.status = "RUNNING"
    assert.equal(CONTINUE, r:on_trial_result(runner, t, {training_iteration = 4}))
    -- Save and restore in the middle: the rest of the schedule follows.
    local state = core.json_decode(assert(core.json_encode(r:save())))
    local r2 = Replay(r.policy_file)
    r2:restore(state)
    local t2 = mock_trial(0, {lr = 1})
    local runner2 = mock_runner(r2)
    runner2:add_trial(t2) -- the resumed trial: the current config, no error
    assert.same({lr = 2}, t2.config)
    t2.status = "RUNNING"
    assert.equal(NOOP, r2:on_trial_result(runner2, t2, {training_iteration = 7}))
    assert.same({lr = 4}, t2.config)
    t2.status = "RUNNING"
    assert.equal(CONTINUE, r2:on_trial_result(runner2, t2, {training_iteration = 8}))
    assert.equal("PopulationBasedTraining replay: Step 7, perturb 2", r2:debug_string())
    assert.equal(CONTINUE, r2:on_trial_result(runner2, t2, {}))
    -- Restoring removes no file: the memory checkpoint a state names may
    -- be a copied experiment's original's (the resume removes its own).
    local owned = support.tmpdir("replay-restore-owned") .. "/t/.memory_checkpoint_000001"
    assert(core.mkdir_p(owned))
    state.owned_checkpoint = owned
    Replay(r.policy_file):restore(state)
    assert.equal("directory", core.stat(owned))
  end)
end)
