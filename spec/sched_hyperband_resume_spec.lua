-- HyperBand and HyperBandForBOHB resumed after a crash (the driver killed
-- at its n-th journal write, TUNE_TEST_CRASH_AT_WRITE) while trials wait
-- at a milestone, with the results since the last snapshot only in the
-- trials' logs: the scheduler learns them again (on_trial_restored).
-- Simulated trials (spec/fixtures/experiments/hb_resume.lua): fast. The
-- resumed run's debug_string (num_stopped, the trials' status by bracket)
-- is the uninterrupted run's, also when every trial had finished, and on
-- a mock runner when the halving came after a snapshot that had the
-- brackets.
local core = require("tune.core")
local support = require("spec.support")
local tune = require("tune")

local EXP = "spec/fixtures/experiments/hb_resume.lua"

local function run(args, env) return support.tunelua(args, env, 30) end

local function paused_entries(exp_dir)
  local n = 0
  for line in (io.open(exp_dir .. "/experiment_journal.jsonl"):read("a")):gmatch("[^\n]+") do
    if line:find('"status":"PAUSED"', 1, true) then n = n + 1 end
  end
  return n
end

local function crash_and_resume(kind, n, extra)
  local dir = support.tmpdir("hb-resume-" .. kind .. "-" .. n)
  local args = EXP .. " " .. dir .. " " .. kind .. (extra and " " .. extra or "")
  local code, out = run(args, "TUNE_TEST_CRASH_AT_WRITE=" .. n)
  assert.equal(137, code, out)
  local paused = paused_entries(dir .. "/" .. kind)
  code, out = run("--resume " .. args)
  assert.equal(0, code, string.format("crash at write %d (%d PAUSED entries): %s", n, paused, out))
  return out, paused
end

local function line(out, tag) return out:match("\n" .. tag .. " [^\n]*") or out:match("^" .. tag .. " [^\n]*") end

describe("HyperBand resumed with trials at a milestone", function()
  after_each(support.check_clean)

  it("keeps the trials an uninterrupted run keeps, whatever the crash point", function()
    local code, ref = run(EXP .. " " .. support.tmpdir("hb-resume-ref") .. " hb")
    assert.equal(0, code, ref)
    local want = ref:match("\nLAST [^\n]*") or ref:match("^LAST [^\n]*")
    -- The bracket of 5 (milestone 2) keeps x = 0.36 and 0.22 to 6.
    assert.matches("0.220000=6 0.360000=6 0.450000=2 0.550000=6 0.600000=2 0.750000=2", want)
    local seen = {}
    for _, n in ipairs({26, 30, 34, 38, 42, 44}) do
      local out, paused = crash_and_resume("hb", n)
      seen[paused] = true
      assert.matches("SUMMARY trials=8 terminated=8", out, 1, true)
      local got = out:match("\nLAST [^\n]*") or out:match("^LAST [^\n]*")
      assert.equal(want, got, string.format("crash at write %d, %d PAUSED entries", n, paused))
    end
    for _, p in ipairs({1, 3, 5, 6}) do assert.is_true(seen[p], p .. " PAUSED entries never seen") end
  end)

  it("counts the trials stopped after the snapshot: num_stopped, debug_string as uninterrupted", function()
    local code, ref = run(EXP .. " " .. support.tmpdir("hb-resume-ref2") .. " hb")
    assert.equal(0, code, ref)
    local want = line(ref, "DEBUG")
    assert.matches("num_stopped=3 total_brackets=2", want, 1, true)
    assert.matches("{TERMINATED: 5}", want, 1, true)
    -- The snapshot is the one at the start, older than the trials: the
    -- halving of the bracket of 5 (its 3 trials stopped at the milestone)
    -- came after it, and at 76 every trial's end (the final snapshot not
    -- written); 50, 60 and 70 leave trials to run.
    for _, n in ipairs({50, 60, 70, 76}) do
      local out = crash_and_resume("hb", n)
      assert.equal(line(ref, "LAST"), line(out, "LAST"), "crash at write " .. n)
      assert.equal(want, line(out, "DEBUG"), "crash at write " .. n)
    end
  end)

  it("a resume of a finished experiment shows its trials' status (no UNKNOWN), HyperBandForBOHB too", function()
    for _, case in ipairs({{"hb", "--resume"}, {"bohb", "--resume=ERRORED_ONLY"}}) do
      local dir = support.tmpdir("hb-resume-done-" .. case[1])
      local code, ref = run(EXP .. " " .. dir .. " " .. case[1])
      assert.equal(0, code, ref)
      local out
      code, out = run(case[2] .. " " .. EXP .. " " .. dir .. " " .. case[1])
      assert.equal(0, code, out)
      assert.is_nil(out:find("UNKNOWN", 1, true), out)
      assert.equal(line(ref, "DEBUG"), line(out, "DEBUG"))
    end
  end)

  it("HyperBandForBOHB with TuneBOHB finishes (no bracket waits for ever on results it lost)", function()
    for _, n in ipairs({44, 48, 51, 56}) do
      local out, paused = crash_and_resume("bohb", n)
      assert.is_true(paused >= 4, n .. ": " .. paused)
      assert.matches("SUMMARY trials=8 terminated=8", out, 1, true)
    end
  end)

  it("TuneBOHB learns each trial's result at a budget once, however often it reports it again", function()
    -- A snapshot at every step and no checkpoints: a trial that learnt its
    -- budget before the crash reports it again after the resume. It was
    -- learnt twice (budget 2 had 7 or 8 results where the run has 4).
    local code, ref = run(EXP .. " " .. support.tmpdir("bohb-learnt-ref") .. " bohb 0 0")
    assert.equal(0, code, ref)
    local want = line(ref, "LEARNT")
    assert.matches("LEARNT 2=4 6=3$", want)
    for _, n in ipairs({18, 26, 30, 38}) do
      local out = crash_and_resume("bohb", n, "0 0")
      assert.equal(want, line(out, "LEARNT"), "crash at write " .. n)
    end
  end)
end)

describe("Searchers resumed after a crash", function()
  after_each(support.check_clean)

  it("TuneBOHB learns the results logged after the snapshot: its model and suggestions are the uninterrupted run's", function()
    -- The only snapshot is the one at the start: every result is in the
    -- trials' logs alone. Before, the resumed searcher learnt only what the
    -- trials reported again (LEARNT 2=2 6=3 at 26, nothing at all at 70)
    -- and suggested other configs. One trial at a time, so that the
    -- resumed run's trials report in the uninterrupted run's order.
    for _, extra in ipairs({"100000 0", "100000 1"}) do
      local code, ref = run("--num-cpus 1 " .. EXP .. " " .. support.tmpdir("bohb-missed-ref") .. " bohb " .. extra)
      assert.equal(0, code, ref)
      assert.matches("LEARNT 2=4 6=3$", line(ref, "LEARNT"))
      for _, n in ipairs(extra == "100000 0" and {18, 26, 34, 38} or {18, 26, 42, 60, 70}) do
        local dir = support.tmpdir("bohb-missed-" .. n)
        local out = support.crash_and_resume("--num-cpus 1 " .. EXP .. " " .. dir .. " bohb " .. extra, n)
        assert.equal(line(ref, "LEARNT"), line(out, "LEARNT"), extra .. ", crash at write " .. n)
        assert.equal(line(ref, "LAST"), line(out, "LAST"), extra .. ", crash at write " .. n)
      end
    end
  end)

  it("a searcher of the user's is given each result it missed, once", function()
    -- FIFO, the only snapshot at the start: before, a trial that ended
    -- after it never gave its results again (at 18 the searcher had none).
    local exp = "spec/fixtures/experiments/searcher_results_resume.lua"
    local code, ref = run("--num-cpus 1 " .. exp .. " " .. support.tmpdir("rec-ref"))
    assert.equal(0, code, ref)
    assert.matches("SEEN 1:1 1:2 1:3 2:1 2:2 2:3 3:1 3:2 3:3 4:1 4:2 4:3", ref, 1, true)
    for _, n in ipairs({12, 14, 18}) do
      local args = "--num-cpus 1 " .. exp .. " " .. support.tmpdir("rec-" .. n)
      local out
      code, out = run(args, "TUNE_TEST_CRASH_AT_WRITE=" .. n)
      assert.equal(137, code, out)
      code, out = run("--resume " .. args)
      assert.equal(0, code, out)
      assert.equal(line(ref, "SEEN"), line(out, "SEEN"), "crash at write " .. n)
      assert.equal(line(ref, "COMPLETE"), line(out, "COMPLETE"), "crash at write " .. n)
    end
  end)

  --- The searcher experiment crashed at write 18 in a fresh DIR, then each
  --- trial's result.json rewritten to what rewrite(path, text) returns
  --- (unchanged where nil; at least one must change): its arguments and DIR.
  local function crashed_and_rewritten(name, rewrite)
    local dir = support.tmpdir(name)
    local args = "--num-cpus 1 spec/fixtures/experiments/searcher_results_resume.lua " .. dir
    local code, out = run(args, "TUNE_TEST_CRASH_AT_WRITE=18")
    assert.equal(137, code, out)
    local changed = 0
    for _, trial in ipairs(core.listdir(dir .. "/rec")) do
      local path = dir .. "/rec/" .. trial .. "/result.json"
      local text = rewrite(path, core.read_file(path))
      if text then
        assert(core.write_atomic(path, text))
        changed = changed + 1
      end
    end
    assert.is_true(changed > 0)
    return args, dir
  end

  it("a searcher given missed results from progress.csv (result.json lost) reads them nested", function()
    -- The crash can come between a row's two files: then the rows are
    -- read back from progress.csv, where they are flat (config/x); the
    -- searcher was given result["config/x"] and no result.config.
    local exp = "spec/fixtures/experiments/searcher_results_resume.lua"
    local code, ref = run("--num-cpus 1 " .. exp .. " " .. support.tmpdir("rec-csv-ref"))
    assert.equal(0, code, ref)
    local args = crashed_and_rewritten("rec-csv", function(path, text)
      if text and core.stat(path:gsub("result%.json$", "progress.csv")) then return "" end
    end)
    local out
    code, out = run("--resume " .. args)
    assert.equal(0, code, out)
    assert.equal(line(ref, "SEEN"), line(out, "SEEN"))
  end)

  it("says which logged line it cannot give again to the searcher", function()
    local args, dir = crashed_and_rewritten("rec-damaged", function(_, text)
      local first, rest = (text or ""):match("^([^\n]*)\n(.*)$")
      if first then return first:sub(1, 10) .. "#\n" .. rest end
    end)
    local code, out = run("--resume " .. args)
    assert.equal(0, code, out)
    local warning = "tunelua warning: resuming, line 1 of " .. dir .. "/rec/"
    assert.truthy(out:find(warning, 1, true), out)
    assert.truthy(out:find("/result.json is not a result: the search algorithm is not given it again\n", 1, true), out)
  end)
end)

describe("HyperBand restored from a snapshot older than a halving", function()
  local mock_runner_of = require("spec.fixtures.mock_runner")
  local HyperBand = tune.schedulers.HyperBandScheduler
  local OPTS = {metric = "episode_reward_mean", mode = "max", max_t = 9}
  local function res(i) return {training_iteration = 3, time_total_s = 3, episode_reward_mean = i} end

  it("counts its bad trials (num_stopped, state()) and keeps the same ones", function()
    local sched = HyperBand(OPTS)
    local runner = mock_runner_of(sched, res(0))
    for i = 0, 7 do runner:add_trial(tune.Trial("__fake", {trial_id = string.format("ft_%04d", i)})) end
    -- The bracket of 5 (milestone 3): four pause there, the snapshot is
    -- taken, the fifth's result halves it (3 stopped), then the driver dies.
    local ids = sched._hyperbands[1][2]:current_trials()
    local function report(i)
      local t = runner:get_trial(ids[i])
      runner:_launch_trial(t)
      t.last_result = res(i)
      runner:process_action(t, sched:on_trial_result(runner, t, res(i)))
    end
    for i = 1, 4 do report(i) end
    local state = support.json_roundtrip(sched:save())
    report(5)
    assert.same({num_brackets = 2, num_stopped = 3}, sched:state())
    -- The resume: the journal has the bad ones TERMINATED, the good ones
    -- restart from their checkpoint at the milestone.
    local fresh = HyperBand(OPTS)
    local r2 = mock_runner_of(fresh, res(0))
    fresh:restore(state, r2)
    for _, t in ipairs(runner.trials) do
      r2.trials[#r2.trials + 1] = t
      r2.by_id[t.trial_id] = t
      if t.status ~= "TERMINATED" then
        if t.status ~= "PAUSED" then t.status = "PENDING" end
        fresh:on_trial_add(r2, t)
      end
    end
    for i = 4, 5 do fresh:on_trial_restored(r2, runner:get_trial(ids[i]), 3) end
    fresh:choose_trial_to_run(r2)
    assert.same({ids[4], ids[5]}, fresh._hyperbands[1][2]:current_trials())
    assert.same({num_brackets = 2, num_stopped = 3}, fresh:state())
    -- (The two schedulers show the same trial objects.)
    assert.matches("{PENDING: 2, TERMINATED: 3}", fresh:debug_string(), 1, true)
    assert.equal(sched:debug_string(), fresh:debug_string())
  end)
end)
