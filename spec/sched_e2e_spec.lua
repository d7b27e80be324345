-- Schedulers end to end through the tunelua binary (experiment files in
-- spec/fixtures/experiments/): ASHA stops bad trials early, HyperBand
-- pauses trials and resumes them where they stopped, the median rule
-- stops early, Ray's anonymous-metric runs, and an experiment killed
-- mid-way (TUNE_TEST_CRASH_AT_WRITE) finishes with `tunelua --resume`
-- under each scheduler without any checkpointed trial starting over.
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local support = require("spec.support")

local EXP = "spec/fixtures/experiments/"

local run = support.tunelua

--- The SUMMARY line an experiment prints, as a table.
local function summary(out)
  local line = out:match("\nSUMMARY ([^\n]*)") or out:match("^SUMMARY ([^\n]*)")
  assert(line, "no SUMMARY line in:\n" .. out)
  local t = {}
  for k, v in line:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

--- Journal entries (a torn last line is skipped).
local function journal(exp_dir)
  local out = {}
  local text = core.read_file(exp_dir .. "/" .. persistence.JOURNAL) or ""
  for line in text:gmatch("[^\n]+") do
    local e = core.json_decode(line)
    if type(e) == "table" then out[#out + 1] = e end
  end
  return out
end

local function lines(path)
  local out = {}
  for line in (core.read_file(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local statuses = support.statuses

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

--- Kills the experiment at write `crash_at`, resumes it, and checks:
--- exit 0, every trial TERMINATED, the scheduler's state was in the
--- snapshot, and no trial that had a checkpoint before the crash started
--- from scratch after it. Returns how many trials were PAUSED at the crash.
local function crash_and_resume(file, name, extra, crash_at, want_trials, scheduler)
  local dir = support.tmpdir("sched-resume-" .. name .. "-" .. crash_at)
  local exp_dir = dir .. "/" .. name
  local args = string.format("%s%s %s %s", EXP, file, dir, extra or "")
  local code, out = run(args, "TUNE_TEST_CRASH_AT_WRITE=" .. crash_at)
  assert.equal(137, code, out)
  -- Before the resume: what had a checkpoint, who was paused.
  local had_checkpoint = {}
  for _, e in ipairs(journal(exp_dir)) do
    if e.event == "checkpoint" and e.storage == "PERSISTENT" then had_checkpoint[e.trial_id] = true end
  end
  local before, state = statuses(exp_dir)
  local paused = 0
  for _, s in pairs(before) do
    if s == "PAUSED" then paused = paused + 1 end
  end
  if count(before) > 0 then
    assert.is_table(state.scheduler, "the snapshot holds no scheduler state")
    assert.equal(scheduler, state.scheduler.scheduler)
  end
  local starts_before = #lines(dir .. "/starts.log")

  code, out = run("--resume " .. args)
  assert.equal(0, code, out)
  local sum = summary(out)
  assert.equal(want_trials, sum.trials, out)
  local after = statuses(exp_dir)
  assert.equal(want_trials, count(after), out)
  for id, s in pairs(after) do assert.equal("TERMINATED", s, id) end
  local starts = lines(dir .. "/starts.log")
  for i = starts_before + 1, #starts do
    local id, from = starts[i]:match("^(%S+) (%d+)$")
    if had_checkpoint[id] then
      assert.is_true(tonumber(from) > 0, string.format("trial %s had a checkpoint but started over (%s)", id, starts[i]))
    end
  end
  -- Nobody started from scratch twice after it checkpointed.
  local from_zero = {}
  for _, l in ipairs(starts) do
    local id, from = l:match("^(%S+) (%d+)$")
    if from == "0" then from_zero[id] = (from_zero[id] or 0) + 1 end
  end
  for id, n in pairs(from_zero) do
    if n > 1 then assert.is_nil(had_checkpoint[id], id .. " ran from scratch twice") end
  end
  return paused, sum
end

describe("schedulers end to end", function()
  after_each(support.check_clean)

  it("ASHA stops bad trials early: fewer iterations than FIFO, the best reaches max_t", function()
    local dir = support.tmpdir("sched-asha")
    local code, out = run(EXP .. "asha_experiment.lua " .. dir .. " asha")
    assert.equal(0, code, out)
    local asha = summary(out)
    code, out = run(EXP .. "asha_experiment.lua " .. dir .. " fifo")
    assert.equal(0, code, out)
    local fifo = summary(out)
    assert.equal(12, asha.trials)
    assert.equal(12 * 27, fifo.total_iterations)
    assert.is_true(asha.total_iterations < fifo.total_iterations,
      string.format("ASHA ran %d iterations, FIFO %d", asha.total_iterations, fifo.total_iterations))
    assert.is_true(asha.stopped_early >= 3, asha.stopped_early)
    assert.equal(12, asha.best_x)
    assert.equal(27, asha.best_iterations)
    -- Its state went into the experiment snapshot.
    local _, state = statuses(dir .. "/asha")
    assert.equal("AsyncHyperBandScheduler", state.scheduler.scheduler)
    assert.is_true(state.scheduler.num_stopped >= asha.stopped_early)
  end)

  it("HyperBand pauses trials and resumes them from where they stopped", function()
    local dir = support.tmpdir("sched-hyperband")
    local code, out = run(EXP .. "hyperband_experiment.lua " .. dir)
    assert.equal(0, code, out)
    local sum = summary(out)
    assert.equal(17, sum.trials, out)
    assert.equal(17, sum.terminated, out)
    -- Brackets of 3 (to 9), 5 (3, then 2 to 9) and 9 (1, 3 to 3, 1 to 9).
    assert.equal(27 + (15 + 12) + (9 + 6 + 6), sum.total_iterations, out)
    assert.equal(17, sum.best_x, out)
    assert.equal(9, sum.best_iterations, out)

    -- The journal shows RUNNING -> PAUSED -> RUNNING.
    local seq = {}
    local paused = 0
    for _, e in ipairs(journal(dir .. "/hyperband")) do
      if e.event == "status" then
        seq[e.trial_id] = (seq[e.trial_id] or "") .. " " .. e.status
        if e.status == "PAUSED" then paused = paused + 1 end
      end
    end
    assert.is_true(paused >= 5, "only " .. paused .. " pauses")
    local resumed = 0
    for _, s in pairs(seq) do
      -- HyperBand may set a paused trial PENDING before it runs again.
      if s:find("RUNNING PAUSED RUNNING", 1, true) or s:find("RUNNING PAUSED PENDING RUNNING", 1, true) then
        resumed = resumed + 1
      end
    end
    assert.is_true(resumed >= 3, "only " .. resumed .. " trials resumed after a pause")

    -- Every trial's results go 1, 2, 3, ... with no repeat, and its own
    -- step (restored from the pause checkpoint) matches.
    local seen = {}
    for _, l in ipairs(lines(dir .. "/seen.log")) do
      local id, it, i = l:match("^(%S+) (%d+) (%d+)$")
      seen[id] = seen[id] or {}
      local list = seen[id]
      assert.equal(#list + 1, tonumber(it), id .. " reported iteration " .. it .. " after " .. #list)
      assert.equal(tonumber(it), tonumber(i), id .. ": training_iteration and its step differ")
      list[#list + 1] = tonumber(it)
    end
    assert.equal(17, count(seen), table.concat(lines(dir .. "/seen.log"), "\n"))
    -- Resumed workers started from the pause checkpoint, not from 0.
    local from_checkpoint = 0
    for _, l in ipairs(lines(dir .. "/starts.log")) do
      if not l:match(" 0$") then from_checkpoint = from_checkpoint + 1 end
    end
    assert.is_true(from_checkpoint >= resumed, from_checkpoint .. " restores for " .. resumed .. " resumptions")
  end)

  it("the median stopping rule stops trials below the median", function()
    local dir = support.tmpdir("sched-median")
    local code, out = run(EXP .. "median_experiment.lua " .. dir)
    assert.equal(0, code, out)
    local sum = summary(out)
    assert.equal(12, sum.trials)
    assert.is_true(sum.stopped_early >= 3, sum.stopped_early)
    assert.is_true(sum.total_iterations < 12 * 12)
    assert.equal(12, sum.best_x)
    local _, state = statuses(dir .. "/median")
    assert.equal("MedianStoppingRule", state.scheduler.scheduler)
  end)

  it("testAnonymousMetricEndToEnd (ASHA, HyperBand, Median)", function()
    local dir = support.tmpdir("sched-anon")
    local code, out = run(EXP .. "asha_anonymous_metric.lua " .. dir)
    assert.equal(0, code, out)
    for _, name in ipairs({"ASHAScheduler", "HyperBandScheduler", "MedianStoppingRule"}) do
      assert.matches("\nANONYMOUS " .. name .. " metric=_metric best=true\n", "\n" .. out)
    end
  end)

  it("resumes an ASHA experiment killed mid-way", function()
    for _, n in ipairs({5, 60}) do
      local _, sum = crash_and_resume("asha_experiment.lua", "asha", "asha", n, 12, "AsyncHyperBandScheduler")
      assert.equal(12, sum.best_x)
      assert.equal(27, sum.best_iterations)
    end
  end)

  it("resumes a HyperBand experiment killed mid-way, paused trials included", function()
    local paused_total = 0
    for _, n in ipairs({120, 200}) do
      local paused, sum = crash_and_resume("hyperband_experiment.lua", "hyperband", "reuse", n, 17,
        "HyperBandScheduler")
      paused_total = paused_total + paused
      assert.equal(17, sum.best_x, n .. ": " .. tostring(sum.best_x))
      assert.equal(9, sum.best_iterations, n .. ": " .. tostring(sum.best_iterations))
    end
    assert.is_true(paused_total > 0, "no crash point left a trial PAUSED")
  end)

  it("resumes a median-stopping experiment killed mid-way", function()
    for _, n in ipairs({7, 70}) do
      local _, sum = crash_and_resume("median_experiment.lua", "median", nil, n, 12, "MedianStoppingRule")
      assert.equal(12, sum.best_x)
    end
  end)
end)
