-- Resume after the driver dies: deterministically at its Nth journal or
-- state write (TUNE_TEST_CRASH_AT_WRITE), at random instants (kill -9),
-- and after SIGINT / SIGUSR1. Nothing terminated runs again; no reported
-- result or checkpoint is lost. Timing-sensitive parts: RUN_SERIAL.
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local exp = "spec/fixtures/experiments/resume_exp.lua"

--- Starts a driver; returns its pid and a function that waits for its end
--- and returns how it ended ("exit", code | "signal", n) and its output.
local function start(dir, env, extra, sleep, default_sigint)
  -- A SIGINT ignored by whoever started the tests stays ignored across
  -- exec; perl (Debian's essential perl-base) gives it its default back.
  local pre = ""
  if default_sigint then
    pre = dir .. "/default-sigint "
    assert(core.write_atomic(dir .. "/default-sigint", '#!/usr/bin/perl\n$SIG{INT} = "DEFAULT"; exec @ARGV;\n'))
    os.execute("chmod +x " .. dir .. "/default-sigint")
  end
  local cmd = string.format("sh -c 'echo $$; exec env %s %s%s %s %s %s %s 2>&1'", env or "", pre, tunelua,
    extra or "", exp, dir, sleep or "")
  local p = io.popen(cmd)
  local pid = tonumber(p:read("l"))
  return pid, function()
    local out = p:read("a")
    local _, how, code = p:close()
    -- The shell in between reports a death by signal n as status 128 + n.
    if how == "exit" and code > 128 and code ~= 130 then how, code = "signal", code - 128 end
    return how, code, out
  end
end

local function run(dir, env, extra)
  local _, wait = start(dir, env, extra)
  return wait()
end

local function state(dir)
  local s, entries = persistence.load(dir .. "/resume")
  assert(s, entries)
  local status = {}
  for _, t in ipairs(s.trials) do status[t.trial_id] = t.status end
  for _, e in ipairs(entries) do
    if e.event == "trial_added" then status[e.trial.trial_id] = e.trial.status end
    if e.event == "status" then status[e.trial_id] = e.status end
  end
  return status
end

local function starts(dir)
  return support.lines(dir .. "/starts.log")
end

--- Every trial reported 1..6 and is TERMINATED.
local function check_complete(dir)
  local analysis = require("tune.analysis").ExperimentAnalysis(dir .. "/resume")
  assert.equal(4, #analysis.trials)
  for _, t in ipairs(analysis.trials) do
    assert.equal("TERMINATED", t.status, t.trial_id)
    local seen = {}
    for _, row in ipairs(analysis:trial_dataframes()[t.logdir]) do seen[row.i] = true end
    for i = 1, 6 do assert.is_true(seen[i] == true, t.trial_id .. " lost result " .. i) end
    assert.truthy(core.stat(t.logdir .. "/checkpoint_000006"), t.trial_id .. " lost its last checkpoint")
  end
end

describe("resume", function()
  after_each(support.check_clean)

  it("finishes after a crash at any journal or state write", function()
    -- Count the writes of a whole run first.
    local dir = support.tmpdir("resume-count")
    local how, code, out = run(dir)
    assert.equal("exit", how)
    assert.equal(0, code, out)
    local text = core.read_file(dir .. "/resume/experiment_journal.jsonl")
    local total = select(2, text:gsub("\n", ""))
    assert.is_true(total > 20)
    for _, n in ipairs({1, 2, 3, 5, 8, 13, total // 2, total - 3, total}) do
      for _, mode in ipairs({"", "torn"}) do
        local d = support.tmpdir("resume-" .. n .. mode)
        how, code = run(d, "TUNE_TEST_CRASH_AT_WRITE=" .. n .. " TUNE_TEST_CRASH_MODE=" .. mode)
        assert.same({"signal", 9}, {how, code}, "crash at write " .. n)
        local before = state(d)
        local terminated = {}
        for id, s in pairs(before) do if s == "TERMINATED" then terminated[id] = true end end
        local nstarts = #starts(d)
        -- AUTO: a crash at the very first write leaves nothing to resume.
        how, code, out = run(d, "", "--resume=AUTO")
        assert.same({"exit", 0}, {how, code}, "resume after crash at write " .. n .. ": " .. out)
        assert.matches("DONE 4", out)
        check_complete(d)
        for i, line in ipairs(starts(d)) do
          if i > nstarts then
            local id = line:match("^(%S+)")
            assert.is_nil(terminated[id], "terminated trial " .. id .. " ran again (crash at write " .. n .. ")")
          end
        end
      end
    end
  end)

  it("finishes after kill -9 at random instants", function()
    local dir = support.tmpdir("resume-random")
    math.randomseed(1234)
    local kills = 0
    for _ = 1, 6 do
      local pid, wait = start(dir, "", "--resume=AUTO")
      core.sleep(0.1 + math.random() * 0.6)
      if core.kill(pid, "KILL") then kills = kills + 1 end
      wait()
      if not persistence.exists(dir .. "/resume") then kills = 0 end
    end
    local how, code, out = run(dir, "", "--resume=AUTO")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
  end)

  it("SIGINT saves the experiment and exits 130; --resume finishes it", function()
    local dir = support.tmpdir("resume-sigint")
    local pid, wait = start(dir, "", "", "0.2")
    -- Wait until some results exist, then interrupt.
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 2 do core.sleep(0.05) end
    core.kill(pid, "INT")
    local how, code, out = wait()
    assert.same({"exit", 130}, {how, code}, out)
    assert.matches("SIGINT received", out)
    assert.truthy(persistence.find_state(dir .. "/resume"))
    how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
  end)

  it("SIGUSR1 does the same", function()
    local dir = support.tmpdir("resume-usr1")
    local pid, wait = start(dir, "", "")
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 1 do core.sleep(0.02) end
    core.kill(pid, "USR1")
    local how, code = wait()
    assert.same({"exit", 130}, {how, code})
  end)

  it("a second SIGINT ends at once, even while workers clean up", function()
    local dir = support.tmpdir("resume-sigint2")
    local pid, wait = start(dir, "SLOW_CLEANUP=5", "")
    local deadline = core.now() + 20
    while core.now() < deadline and not core.stat(dir .. "/resume/experiment_journal.jsonl") do core.sleep(0.05) end
    core.sleep(0.5)
    core.kill(pid, "INT")
    core.sleep(0.5)
    local t0 = core.now()
    core.kill(pid, "INT")
    local how, code = wait()
    -- Well before the 5 s cleanup would have ended.
    assert.is_true(core.now() - t0 < 2, "took " .. (core.now() - t0))
    assert.is_true(code == 130 or code == 2)
  end)

  it("TUNE_DISABLE_SIGINT_HANDLER leaves SIGINT its default action", function()
    local dir = support.tmpdir("resume-nosig")
    local pid, wait = start(dir, "TUNE_DISABLE_SIGINT_HANDLER=1", "", "0.2", true)
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 1 do core.sleep(0.02) end
    core.kill(pid, "INT")
    local how, code, out = wait()
    -- Killed by the signal (the shell says 130): no "SIGINT received" save.
    assert.equal(130, code, out)
    assert.is_nil(out:find("SIGINT received", 1, true))
  end)

  it("refuses a corrupt or foreign state file and overwrites nothing", function()
    local dir = support.tmpdir("resume-corrupt")
    local how, code = run(dir)
    assert.equal(0, code)
    local path = persistence.find_state(dir .. "/resume")
    for _, bad in ipairs({'{"format": "ray.tune", "trials": []}', "{not json", '{"format": "tunelua.experiment_state", "version": 99, "trials": []}'}) do
      assert(core.write_atomic(path, bad))
      local journal = core.read_file(dir .. "/resume/experiment_journal.jsonl")
      how, code, out = run(dir, "", "--resume")
      assert.same({"exit", 2}, {how, code})
      assert.matches("refusing to resume", out)
      assert.equal(bad, core.read_file(path))
      assert.equal(journal, core.read_file(dir .. "/resume/experiment_journal.jsonl"))
    end
  end)

  it("--resume without an experiment is an error; AUTO starts a new one", function()
    local dir = support.tmpdir("resume-auto")
    local how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 2}, {how, code})
    assert.matches("holds no experiment", out)
    how, code, out = run(dir, "", "--resume=AUTO")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
    -- AUTO on a finished experiment resumes it: nothing runs again.
    local n = #starts(dir)
    how, code = run(dir, "", "--resume=auto")
    assert.equal(0, code)
    assert.equal(n, #starts(dir))
  end)
end)
