-- HyperBandScheduler: ports of Ray's HyperbandSuite (test_trial_scheduler.py)
-- through a mock runner that applies decisions as the real one does
-- (PAUSE pauses, STOP ends the trial through runner:stop_trial, which calls
-- on_trial_remove or on_trial_complete back), plus debug strings,
-- validation, and save/restore through JSON with trials re-linked by id.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
local TrialScheduler = tune.schedulers.TrialScheduler
local HyperBand = tune.schedulers.HyperBandScheduler

local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
local NAN, INF = 0 / 0, math.huge

local function result(t, rew)
  return {time_total_s = t, episode_reward_mean = rew, training_iteration = math.floor(t)}
end

local mock_runner_of = require("spec.fixtures.mock_runner")
local function mock_runner(sched) return mock_runner_of(sched, result(100, 10)) end

local function fake(i)
  return tune.Trial("__fake", {trial_id = i and string.format("ft_%04d", i) or nil})
end

local function scheduler_setup(num_trials, max_t, opts)
  opts = opts or {}
  opts.metric, opts.mode, opts.max_t = "episode_reward_mean", "max", max_t or 81
  local sched = HyperBand(opts)
  local runner = mock_runner(sched)
  for i = 0, num_trials - 1 do runner:add_trial(fake(i)) end
  return sched, runner
end

local function default_statistics()
  local sched = HyperBand()
  local res = {}
  local max_trials = 0
  for s = 0, sched._s_max_1 - 1 do
    res[s] = {n = sched:_get_n0(s), r = sched:_get_r0(s)}
    max_trials = max_trials + res[s].n
  end
  res.max_trials = max_trials
  res.brack_count = sched._s_max_1
  res.s_max = sched._s_max_1 - 1
  return res
end

local function downscale(n, sched) return math.ceil(n / sched._eta) end

describe("HyperBandScheduler", function()
  it("has Ray's defaults and does not support buffered results", function()
    local s = HyperBand()
    assert.equal("training_iteration", s._time_attr)
    assert.equal(81, s._max_t_attr)
    assert.equal(3, s._eta)
    assert.equal(5, s._s_max_1)
    assert.is_true(s._stop_last_trials)
    assert.is_false(s.supports_buffered_results)
    assert.equal(HyperBand, tune.schedulers.HyperBandScheduler)
    assert.is_true(require("tune.class").is_instance(tune.create_scheduler("hyperband"), HyperBand))
  end)

  it("validates its options as Ray does", function()
    for _, c in ipairs({
      {{max_t = 0}, "Max %(time_attr%) not valid!"},
      {{mode = "up"}, "`mode` must be 'min' or 'max'!"},
      {{reduction_factor = 1}, "Reduction Factor not valid!"},
      {{grace_period = 1}, "unknown option \"grace_period\""},
      {{reduction_factr = 2}, "did you mean reduction_factor"},
    }) do
      local ok, err = pcall(function()
        local s = HyperBand(c[1])
        return s
      end)
      assert.is_false(ok)
      assert.matches(c[2], err)
      assert.matches("sched_hyperband_spec.lua:%d+:", err)
    end
    local s = HyperBand()
    local ok, err = pcall(s.on_trial_add, s, nil, fake())
    assert.is_false(ok)
    assert.matches("HyperBandScheduler has been instantiated without a valid `metric` %(nil%)", err)
    assert.is_true(s:set_search_properties(nil, "min"))
    assert.equal("_metric", s.metric)
    assert.is_false(s:set_search_properties("x", nil))
  end)

  it("basicSetup: a full band of filled brackets", function()
    local stats = default_statistics()
    assert.equal(143, stats.max_trials)
    local sched = scheduler_setup(stats.max_trials)
    assert.equal(1, #sched._hyperbands)
    assert.is_true(sched:_cur_band_filled())
    for _, bracket in ipairs(sched._hyperbands[1]) do assert.is_true(bracket:filled()) end
  end)

  it("testConfigSameEta", function()
    local sched = HyperBand{metric = "episode_reward_mean", mode = "max"}
    while not sched:_cur_band_filled() do sched:on_trial_add(nil, fake()) end
    local band = sched._hyperbands[1]
    assert.equal(5, #band)
    assert.equal(5, band[1]._n)
    assert.equal(81, band[1]._r)
    assert.equal(81, band[#band]._n)
    assert.equal(1, band[#band]._r)

    sched = HyperBand{metric = "episode_reward_mean", mode = "max", max_t = 1000, reduction_factor = 10}
    while not sched:_cur_band_filled() do sched:on_trial_add(nil, fake()) end
    band = sched._hyperbands[1]
    assert.equal(4, #band)
    assert.equal(4, band[1]._n)
    assert.equal(1000, band[1]._r)
    assert.equal(1000, band[#band]._n)
    assert.equal(1, band[#band]._r)
  end)

  it("testConfigSameEtaSmall", function()
    local sched = HyperBand{metric = "episode_reward_mean", mode = "max", max_t = 1}
    while #sched._hyperbands < 2 do sched:on_trial_add(nil, fake()) end
    assert.equal(1, #sched._hyperbands[1])
  end)

  it("testSuccessiveHalving", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats.max_trials)
    local big = sched._state.bracket
    local cur_units = stats[stats.s_max].r
    local action
    -- The last bracket downscales 4 times.
    for _ = 1, stats.brack_count - 1 do
      local trials = big:current_trials()
      local current_length = #trials
      for _, id in ipairs(trials) do runner:_launch_trial(runner:get_trial(id)) end
      -- Results 0..n-1 in order: all but the last pause.
      for i, id in ipairs(trials) do
        local t = runner:get_trial(id)
        action = sched:on_trial_result(runner, t, result(cur_units, i - 1))
        if i < current_length then assert.equal(PAUSE, action) end
        runner:process_action(t, action)
      end
      assert.equal(CONTINUE, action)
      assert.equal(downscale(current_length, sched), #big:current_trials())
      cur_units = math.floor(cur_units * sched._eta)
    end
    assert.equal(1, #big:current_trials())
  end)

  it("testHalvingStop", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n + stats[1].n)
    local big = sched._state.bracket
    local trials = big:current_trials()
    for _, id in ipairs(trials) do runner:_launch_trial(runner:get_trial(id)) end
    -- Results in reverse order: the last one (worst) is stopped.
    local action
    for i = #trials, 1, -1 do
      local t = runner:get_trial(trials[i])
      action = sched:on_trial_result(runner, t, result(stats[1].r, i - 1))
      runner:process_action(t, action)
    end
    assert.equal(STOP, action)
  end)

  it("testStopsLastOne", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n) -- one bracket
    local big = sched._state.bracket
    local trials = big:current_trials()
    for _, id in ipairs(trials) do runner:_launch_trial(runner:get_trial(id)) end
    local action
    for i, id in ipairs(trials) do
      local t = runner:get_trial(id)
      action = sched:on_trial_result(runner, t, result(stats[0].r, i - 1))
      runner:process_action(t, action)
    end
    assert.equal(STOP, action)
    for _, t in ipairs(runner.trials) do assert.equal("TERMINATED", t.status) end
  end)

  local function three_in_second_bracket()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n + 3)
    local ids = sched._state.bracket:current_trials()
    local t1, t2, t3 = runner:get_trial(ids[1]), runner:get_trial(ids[2]), runner:get_trial(ids[3])
    for _, t in ipairs({t1, t2, t3}) do runner:_launch_trial(t) end
    return stats, sched, runner, t1, t2, t3
  end

  it("testTrialErrored", function()
    local stats, sched, runner, t1, t2, t3 = three_in_second_bracket()
    sched:on_trial_error(runner, t3)
    assert.equal(PAUSE, sched:on_trial_result(runner, t1, result(stats[1].r, 10)))
    assert.equal(CONTINUE, sched:on_trial_result(runner, t2, result(stats[1].r, 10)))
  end)

  it("testTrialErrored2", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n + stats[1].n)
    local ids = sched._state.bracket:current_trials()
    for i = 1, #ids - 1 do
      local t = runner:get_trial(ids[i])
      runner:_launch_trial(t)
      sched:on_trial_result(runner, t, result(stats[1].r, 10))
    end
    local last = runner:get_trial(ids[#ids])
    runner:_launch_trial(last)
    sched:on_trial_error(runner, last)
    assert.equal(downscale(stats[1].n, sched), #sched._state.bracket:current_trials())
  end)

  it("testTrialEndedEarly", function()
    local stats, sched, runner, t1, t2, t3 = three_in_second_bracket()
    sched:on_trial_complete(runner, t3, result(1, 12))
    assert.equal(PAUSE, sched:on_trial_result(runner, t1, result(stats[1].r, 10)))
    assert.equal(CONTINUE, sched:on_trial_result(runner, t2, result(stats[1].r, 10)))
  end)

  it("testTrialEndedEarly2", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n + stats[1].n)
    local ids = sched._state.bracket:current_trials()
    for i = 1, #ids - 1 do
      local t = runner:get_trial(ids[i])
      runner:_launch_trial(t)
      sched:on_trial_result(runner, t, result(stats[1].r, 10))
    end
    local last = runner:get_trial(ids[#ids])
    runner:_launch_trial(last)
    sched:on_trial_complete(runner, last, result(100, 12))
    assert.equal(downscale(stats[1].n, sched), #sched._state.bracket:current_trials())
  end)

  it("testAddAfterHalving", function()
    local stats = default_statistics()
    local sched, runner = scheduler_setup(stats[0].n + 1)
    local ids = sched._state.bracket:current_trials()
    local init_units = stats[1].r
    for _, id in ipairs(ids) do runner:_launch_trial(runner:get_trial(id)) end
    local action
    for i, id in ipairs(ids) do
      action = sched:on_trial_result(runner, runner:get_trial(id), result(init_units, i - 1))
    end
    assert.equal(CONTINUE, action)
    local t = fake()
    sched:on_trial_add(nil, t)
    runner:_launch_trial(t)
    assert.equal(2, #sched._state.bracket:current_trials())
    -- The newly added trial gets fair computation (not just 1).
    assert.equal(CONTINUE, sched:on_trial_result(runner, t, result(init_units, 12)))
    local new_units = init_units + math.floor(init_units * sched._eta)
    assert.equal(PAUSE, sched:on_trial_result(runner, t, result(new_units, 12)))
  end)

  local function test_metrics(result_func, metric, mode)
    local sched = HyperBand{time_attr = "time_total_s", metric = metric, mode = mode}
    local stats = default_statistics()
    local runner = mock_runner(sched)
    for _ = 1, stats.max_trials do
      local t = fake()
      runner.by_id[t.trial_id] = t
      sched:on_trial_add(nil, t)
    end
    local bands = sched._hyperbands[1]
    local big = bands[#bands]
    for _, id in ipairs(big:current_trials()) do runner:_launch_trial(runner:get_trial(id)) end
    local current_length = #big:current_trials()
    local action
    for i, id in ipairs(big:current_trials()) do
      local t = runner:get_trial(id)
      action = sched:on_trial_result(runner, t, result_func(1, i - 1))
      runner:process_action(t, action)
    end
    assert.equal(CONTINUE, action)
    assert.equal(downscale(current_length, sched), #big:current_trials())
  end

  it("testAlternateMetrics", function()
    test_metrics(function(t, rew) return {time_total_s = t, neg_mean_loss = rew} end, "neg_mean_loss", "max")
  end)

  it("testAlternateMetricsMin", function()
    test_metrics(function(t, rew) return {time_total_s = t, mean_loss = -rew} end, "mean_loss", "min")
  end)

  it("testJumpingTime", function()
    local sched, runner = scheduler_setup(81)
    local band = sched._hyperbands[1]
    local big = band[#band]
    local ids = big:current_trials()
    for _, id in ipairs(ids) do runner:_launch_trial(runner:get_trial(id)) end
    -- Results 0..n-2 in order, keeping the last one running.
    local i
    for k = 1, #ids - 1 do
      i = k - 1
      local t = runner:get_trial(ids[k])
      local action = sched:on_trial_result(runner, t, result(1, i))
      runner:process_action(t, action)
    end
    local jump = runner:get_trial(ids[#ids])
    assert.equal(PAUSE, sched:on_trial_result(runner, jump, result(4, i)))
    assert.is_true(#big:current_trials() < 27)
  end)

  it("testRemove", function()
    local sched, runner = scheduler_setup(4)
    local trials = {}
    for _, t in ipairs(runner.trials) do trials[#trials + 1] = t end
    table.sort(trials, function(a, b) return a.trial_id < b.trial_id end)
    runner:_launch_trial(trials[1])
    sched:on_trial_result(runner, trials[1], result(1, 5))
    assert.equal("RUNNING", trials[1].status)
    assert.equal("PENDING", trials[2].status)
    local bracket = sched._trial_info[trials[2].trial_id].bracket
    assert.is_true(bracket:has(trials[2].trial_id))
    sched:on_trial_remove(runner, trials[2])
    assert.is_false(bracket:has(trials[2].trial_id))
    local trial
    for _ = 1, 2 do
      trial = fake()
      sched:on_trial_add(nil, trial)
    end
    bracket = sched._trial_info[trial.trial_id].bracket
    assert.is_true(bracket:has(trial.trial_id))
    sched:on_trial_remove(runner, trial) -- a trial that is not running
    assert.is_false(bracket:has(trial.trial_id))
  end)

  it("testFilterNoneBracket", function()
    local sched, runner = scheduler_setup(100, 20)
    local none = 0
    for _, band in ipairs(sched._hyperbands) do
      for _, b in ipairs(band) do
        if not b then none = none + 1 end
      end
    end
    assert.is_true(none > 0)
    assert.is_not_nil(sched:choose_trial_to_run(runner))
  end)

  -- testSmallMaxTStop / testSmallMaxTContinue (Ray after 2.0; with Ray
  -- 2.0's decisions, good paused trials become PENDING and the runner starts
  -- them: "execute delayed actions" starts every PENDING trial).
  local function small_max_t(stop_last_trials, overstep)
    local sched, runner = scheduler_setup(8, 8, {reduction_factor = 2, stop_last_trials = stop_last_trials})
    local trials = runner:get_trials()
    for _, t in ipairs(trials) do runner:start_trial(t) end
    local function report(i, timestep, reward)
      local t = trials[i + 1]
      local action = sched:on_trial_result(runner, t, {training_iteration = timestep, episode_reward_mean = reward})
      runner:process_action(t, action)
    end
    local function execute_delayed_actions()
      for _, t in ipairs(trials) do
        if t.status == "PENDING" then runner:start_trial(t) end
      end
    end
    local function statuses(from, to)
      local out = {}
      for i = from, to do out[#out + 1] = trials[i + 1].status end
      return out
    end
    -- First bracket (s=0): no halving.
    for i = 0, 3 do report(i, 4, 10 * (i + 1)) end
    assert.same({"RUNNING", "RUNNING", "RUNNING", "RUNNING"}, statuses(0, 3))
    -- Second bracket (s=1): halves after 4 (or, overstepping, all report 8 at once).
    for i = 4, 7 do report(i, overstep and 8 or 4, 10 * (i - 3)) end
    execute_delayed_actions()
    assert.same({"TERMINATED", "TERMINATED"}, statuses(4, 5))
    if overstep then
      local want = stop_last_trials and "TERMINATED" or "RUNNING"
      assert.same({want, want}, statuses(6, 7))
      return
    end
    assert.same({"RUNNING", "RUNNING"}, statuses(6, 7))
    -- First bracket at max_t: terminated when stop_last_trials.
    for i = 0, 3 do report(i, 8, 10 * (i + 1)) end
    execute_delayed_actions()
    local want = stop_last_trials and "TERMINATED" or "RUNNING"
    assert.same({want, want, want, want}, statuses(0, 3))
    -- Second bracket at max_t.
    report(6, 8, 30)
    report(7, 8, 40)
    execute_delayed_actions()
    assert.same({want, want}, statuses(6, 7))
  end

  it("testSmallMaxTStop", function() small_max_t(true, false) end)
  it("testSmallMaxTContinue", function() small_max_t(false, false) end)
  it("testSmallMaxTOverstepStop", function() small_max_t(true, true) end)
  it("testSmallMaxTOverstepContinue", function() small_max_t(false, true) end)

  it("testHyperbandNanInf: NaN and infinite rewards raise nothing", function()
    local sched = HyperBand{metric = "episode_reward_mean", mode = "max"}
    local ts = {fake(), fake(), fake()}
    for _, t in ipairs(ts) do sched:on_trial_add(nil, t) end
    for i, v in ipairs({NAN, INF, -INF}) do
      for k = 0, 9 do sched:on_trial_result(nil, ts[i], result(k, v)) end
    end
    for i, v in ipairs({NAN, INF, -INF}) do sched:on_trial_complete(nil, ts[i], result(10, v)) end
  end)

  it("ranks a NaN or missing metric below every number when halving", function()
    -- max_t 9, eta 3: bracket s=0 (3 trials, r=9), then s=1 (5 trials, r=3).
    local sched, runner = scheduler_setup(8, 9)
    local ids = sched._hyperbands[1][2]:current_trials()
    assert.equal(5, #ids)
    local values = {NAN, -INF, 5, 1, INF}
    for i, id in ipairs(ids) do
      local t = runner:get_trial(id)
      runner:_launch_trial(t)
      local action = sched:on_trial_result(runner, t, {training_iteration = 3, episode_reward_mean = values[i]})
      runner:process_action(t, action)
    end
    -- ceil(5/3) = 2 go on: Infinity and 5.
    local kept = sched._hyperbands[1][2]:current_trials()
    table.sort(kept)
    local want = {ids[3], ids[5]}
    table.sort(want)
    assert.same(want, kept)
    assert.equal("TERMINATED", runner:get_trial(ids[1]).status)
    assert.equal("RUNNING", runner:get_trial(ids[5]).status)
    assert.equal("PENDING", runner:get_trial(ids[3]).status)
  end)

  it("resumes paused trials through choose_trial_to_run, bracket trials first", function()
    local sched, runner = scheduler_setup(8, 9)
    local b1 = sched._hyperbands[1][2]
    local ids = b1:current_trials()
    for i, id in ipairs(ids) do
      local t = runner:get_trial(id)
      runner:_launch_trial(t)
      runner:process_action(t, sched:on_trial_result(runner, t, {training_iteration = 3, episode_reward_mean = i}))
    end
    -- ids[5] continues, ids[4] was paused and is PENDING again. Brackets
    -- go least complete first: the s=0 bracket (0%) has fresh trials.
    local first = sched._hyperbands[1][1]:current_trials()
    for k = 1, 3 do
      local chosen = sched:choose_trial_to_run(runner)
      assert.equal(first[k], chosen.trial_id)
      runner:start_trial(chosen)
    end
    assert.equal(ids[4], sched:choose_trial_to_run(runner).trial_id)
  end)

  it("prints Ray's debug string", function()
    local sched, runner = scheduler_setup(4)
    local t = runner.trials[1]
    runner:_launch_trial(t)
    sched:on_trial_result(runner, t, result(12, 1))
    assert.equal("Using HyperBand: num_stopped=0 total_brackets=1\nRound #0:\n"
      .. "  Bracket(Max Size (n)=5, Milestone (r)=81, completed=3.0%): {PENDING: 3, RUNNING: 1} ",
      sched:debug_string())
    assert.same({num_brackets = 1, num_stopped = 0}, sched:state())
  end)

  it("is idempotent in on_trial_add", function()
    local sched, runner = scheduler_setup(6)
    local before = core.json_encode(sched:save())
    for _, t in ipairs(runner.trials) do sched:on_trial_add(runner, t) end
    assert.equal(before, core.json_encode(sched:save()))
  end)

  it("save/restore through JSON mid-halving: the same decisions follow", function()
    local function run(restore_at)
      local sched, runner = scheduler_setup(20, 27, {reduction_factor = 3})
      local log = {}
      local step = 0
      local function drive()
        for _ = 1, 400 do
          step = step + 1
          if step == restore_at then
            local state = support.json_roundtrip(sched:save())
            local fresh = HyperBand{metric = "episode_reward_mean", mode = "max", max_t = 27}
            fresh:restore(state)
            -- A new runner with the same trials, re-added as a resume does.
            local r2 = mock_runner(fresh)
            for _, t in ipairs(runner.trials) do
              r2.trials[#r2.trials + 1] = t
              r2.by_id[t.trial_id] = t
            end
            for _, t in ipairs(r2.trials) do
              if t.status ~= "TERMINATED" then fresh:on_trial_add(r2, t) end
            end
            sched, runner = fresh, r2
          end
          local t = sched:choose_trial_to_run(runner)
          local running = {}
          for _, x in ipairs(runner.trials) do
            if x.status == "RUNNING" then running[#running + 1] = x end
          end
          if t and #running < 3 then
            runner:start_trial(t)
          elseif #running > 0 then
            local x = running[1 + step % #running]
            x._it = (x._it or 0) + 1
            local reward = tonumber(x.trial_id:sub(4)) % 7 + x._it / 100
            local action = sched:on_trial_result(runner, x, {training_iteration = x._it, episode_reward_mean = reward})
            log[#log + 1] = x.trial_id .. "@" .. x._it .. "=" .. action
            runner:process_action(x, action)
          else
            break
          end
        end
        return log, runner
      end
      return drive()
    end
    local plain, r1 = run(nil)
    assert.is_true(#plain > 50)
    for _, at in ipairs({5, 23, 41, 60}) do
      local restored, r2 = run(at)
      assert.same(plain, restored)
      for i, t in ipairs(r1.trials) do assert.equal(t.status, r2.trials[i].status) end
    end
    for _, t in ipairs(r1.trials) do assert.equal("TERMINATED", t.status) end
  end)

  it("after a restore, drops trials the runner finished and processes their bracket", function()
    local sched, runner = scheduler_setup(8, 9)
    local ids = sched._hyperbands[1][2]:current_trials()
    -- Four of five reach the milestone and pause; the state is saved then.
    for i = 1, 4 do
      local t = runner:get_trial(ids[i])
      runner:_launch_trial(t)
      runner:process_action(t, sched:on_trial_result(runner, t, {training_iteration = 3, episode_reward_mean = i}))
    end
    local state = support.json_roundtrip(sched:save())
    -- ... the fifth ended (the journal says TERMINATED) before the crash.
    runner:get_trial(ids[5]).status = "TERMINATED"
    local fresh = HyperBand{metric = "episode_reward_mean", mode = "max", max_t = 9}
    fresh:restore(state)
    local r2 = mock_runner(fresh)
    for _, t in ipairs(runner.trials) do
      r2.trials[#r2.trials + 1] = t
      r2.by_id[t.trial_id] = t
      if t.status ~= "TERMINATED" then fresh:on_trial_add(r2, t) end
    end
    fresh:choose_trial_to_run(r2)
    -- The bracket was halved without it: the best two (3, 4) go on.
    assert.equal("TERMINATED", runner:get_trial(ids[1]).status)
    assert.equal("TERMINATED", runner:get_trial(ids[2]).status)
    assert.equal("PENDING", runner:get_trial(ids[3]).status)
    assert.equal("PENDING", runner:get_trial(ids[4]).status)
    assert.same({ids[3], ids[4]}, fresh._hyperbands[1][2]:current_trials())
  end)

  it("runs a PAUSED trial that its bracket lets continue (a resume lost its PENDING)", function()
    local sched, runner = scheduler_setup(8, 9)
    local ids = sched._hyperbands[1][2]:current_trials()
    for i = 1, 5 do
      local t = runner:get_trial(ids[i])
      runner:_launch_trial(t)
      runner:process_action(t, sched:on_trial_result(runner, t, {training_iteration = 3, episode_reward_mean = i}))
    end
    local t4 = runner:get_trial(ids[4])
    assert.equal("PENDING", t4.status)
    t4.status = "PAUSED" -- what the journal said
    for _, t in ipairs(runner.trials) do
      if t.status == "PENDING" then t.status = "RUNNING" end -- keep the s=0 bracket out of the way
    end
    assert.equal(ids[4], sched:choose_trial_to_run(runner).trial_id)
  end)

  it("restores NaN metrics and keeps its debug string", function()
    local sched, runner = scheduler_setup(8, 9)
    local ids = sched._hyperbands[1][2]:current_trials()
    local t = runner:get_trial(ids[1])
    runner:_launch_trial(t)
    runner:process_action(t, sched:on_trial_result(runner, t, {training_iteration = 3, episode_reward_mean = NAN}))
    local state = support.json_roundtrip(sched:save())
    local fresh = HyperBand()
    fresh:restore(state)
    local r2 = mock_runner(fresh)
    for _, x in ipairs(runner.trials) do
      r2.trials[#r2.trials + 1] = x
      r2.by_id[x.trial_id] = x
    end
    fresh:choose_trial_to_run(r2)
    assert.same(support.nan_free(sched:save()), support.nan_free(support.json_roundtrip(fresh:save())))
    assert.equal(sched:debug_string(), fresh:debug_string())
  end)

  -- Ray asserts a non-negative time; the trial failed with the library's
  -- "hyperband.lua:205: update_trial_stats: negative time".
  it("names a negative or NaN time_attr of a result, and the trial", function()
    for _, t in ipairs({-1, NAN}) do
      local sched, runner = scheduler_setup(2, 9)
      local trial = runner:get_trials()[1]
      runner:_launch_trial(trial)
      local r = result(1, 1)
      r.training_iteration = t
      local ok, err = pcall(sched.on_trial_result, sched, runner, trial, r)
      assert.is_false(ok)
      assert.equal(string.format('HyperBandScheduler: the time_attr "training_iteration" of trial ft_0000 must be >= 0, '
        .. "got %s", t == -1 and "-1" or "nan"), err)
    end
  end)
end)
