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

--- Runs the experiment file `file` with --local-dir `dir`: its exit
--- status, output and how it ended ("exit" or "signal").
local function run_file(dir, file, env, extra)
  local p = io.popen(string.format("env %s %s --local-dir %s %s %s 2>&1", env or "", tunelua, dir, extra or "", file))
  local out = p:read("a")
  local _, how, code = p:close()
  return code, out, how
end

local function state(dir)
  return (support.statuses(dir .. "/resume"))
end

local function starts(dir)
  return support.lines(dir .. "/starts.log")
end

--- The `i` column of a trial's result.json and progress.csv, in order.
local function logged_iterations(logdir)
  local from_json = {}
  for _, line in ipairs(support.lines(logdir .. "/result.json")) do
    from_json[#from_json + 1] = assert(core.json_decode(line), "a torn line in result.json: " .. line).i
  end
  return from_json, support.csv_column(logdir .. "/progress.csv", "i")
end

--- Every trial is TERMINATED and logged 1..6 exactly once each, in order,
--- in result.json and progress.csv, with its last checkpoint (unless
--- `no_checkpoints`).
local function check_complete(dir, no_checkpoints)
  local analysis = require("tune.analysis").ExperimentAnalysis(dir .. "/resume")
  assert.equal(4, #analysis.trials)
  for _, t in ipairs(analysis.trials) do
    assert.equal("TERMINATED", t.status, t.trial_id)
    local json, csv = logged_iterations(t.logdir)
    assert.same({1, 2, 3, 4, 5, 6}, json, t.trial_id .. ": result.json")
    assert.same({1, 2, 3, 4, 5, 6}, csv, t.trial_id .. ": progress.csv")
    if not no_checkpoints then
      assert.truthy(core.stat(t.logdir .. "/checkpoint_000006"), t.trial_id .. " lost its last checkpoint")
    end
  end
end

--- The trials that had finished when the driver died: TERMINATED in the
--- journal, or logged their last result (i = 6) and were being stopped,
--- with the checkpoint that result came with on disk.
local function finished_trials(dir)
  local out, stopping = {}, {}
  for id, s in pairs(state(dir)) do if s == "TERMINATED" then out[id] = true end end
  if not persistence.exists(dir .. "/resume") then return out end
  local s, entries = persistence.load(dir .. "/resume")
  for _, t in ipairs(s.trials) do if t.finishing then stopping[t.trial_id] = true end end
  for _, e in ipairs(entries) do if e.event == "finishing" then stopping[e.trial_id] = true end end
  for _, d in ipairs(core.listdir(dir .. "/resume") or {}) do
    local lines = support.lines(dir .. "/resume/" .. d .. "/result.json")
    local last = lines[#lines] and core.json_decode(lines[#lines])
    if type(last) == "table" and last.i == 6 and stopping[last.trial_id]
        and (not last.should_checkpoint or core.stat(dir .. "/resume/" .. d .. "/checkpoint_000006")) then
      out[last.trial_id] = true
    end
  end
  return out
end

--- Resumes the experiment a crash (`what`) left in `dir` (`env`: the
--- run's environment): it must finish complete (check_complete), and no
--- trial that had finished when the driver died may start again.
local function resume_after_crash(dir, env, what, no_checkpoints)
  local terminated = finished_trials(dir)
  local nstarts = #starts(dir)
  -- AUTO: a crash at the very first write leaves nothing to resume.
  local how, code, out = run(dir, env, "--resume=AUTO")
  assert.same({"exit", 0}, {how, code}, "resume after " .. what .. ": " .. out)
  assert.matches("DONE 4", out)
  check_complete(dir, no_checkpoints)
  for i, line in ipairs(starts(dir)) do
    if i > nstarts then
      local id = line:match("^(%S+)")
      assert.is_nil(terminated[id], "finished trial " .. id .. " ran again (" .. what .. ")")
    end
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
    -- Every write the driver makes (every CRASH_WRITE_STEP-th under the
    -- sanitizers, where a run is slower), until a run no longer reaches n.
    local step = tonumber(os.getenv("CRASH_WRITE_STEP") or "") or 1
    local tried = 0
    for n = 1, 10 * total, step do
      local reached = false
      for _, mode in ipairs({"", "torn"}) do
        local d = support.tmpdir("resume-" .. n .. mode)
        how, code = run(d, "TUNE_TEST_CRASH_AT_WRITE=" .. n .. " TUNE_TEST_CRASH_MODE=" .. mode)
        if how == "exit" and code == 0 then break end
        reached = true
        assert.same({"signal", 9}, {how, code}, "crash at write " .. n)
        resume_after_crash(d, "", "crash at write " .. n)
      end
      if not reached then break end
      tried = n
    end
    assert.is_true(tried + step > total, "crashed up to write " .. tried .. " only, of " .. total)
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

  it("refuses a second driver on a running experiment; the first finishes it alone", function()
    -- Both ran the same trials: every iteration logged twice, and each
    -- removed the other's directories made ahead.
    local dir = support.tmpdir("resume-two")
    local _, wait = start(dir, "", "", "0.1")
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 1 do core.sleep(0.02) end
    local how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 2}, {how, code}, out)
    assert.matches("tune.run: the experiment [^\n]*/resume is in use by another driver", out)
    how, code, out = wait()
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
  end)

  it("keeps each earlier run's journal when a name is reused, also within one second", function()
    -- The archives were named by the second: the later overwrote the earlier.
    local dir = support.tmpdir("archive-same-second")
    local tune = require("tune")
    require("spec.fixtures.run_trainables")
    for _ = 1, 4 do
      tune.run("steps", {name = "again", local_dir = dir, verbose = 0, config = {iters = 1}, resume = false})
    end
    local archived = 0
    for _, f in ipairs(core.listdir(dir .. "/again")) do
      if f:match("^experiment_journal%.jsonl%.previous%-") then archived = archived + 1 end
    end
    assert.equal(3, archived)
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

  it("SIGUSR1 does the same; the running trials' saves are read at once", function()
    local dir = support.tmpdir("resume-usr1")
    local pid, wait = start(dir, "TUNE_SIGNAL_CHECKPOINT_TIMEOUT_S=30", "", "0.2")
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 1 do core.sleep(0.02) end
    local t0 = core.now()
    core.kill(pid, "USR1")
    local how, code, out = wait()
    assert.same({"exit", 130}, {how, code}, out)
    -- The driver reads its workers' replies while the signal is pending:
    -- the saves complete long before the 30 s it would wait for them.
    assert.is_true(core.now() - t0 < 15, "took " .. (core.now() - t0))
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

  it("a SIGTERM while the run waits at its end for a trainable that ignores stop ends it within seconds", function()
    -- The run's own end (its time budget) waits for its workers without a
    -- bound (TUNE_FORCE_TRIAL_CLEANUP_S=0); a SIGTERM then was never
    -- looked at, so `timeout` or a Slurm preemption could not end it.
    local dir = support.tmpdir("resume-term-cleanup")
    local busy = support.marker_sleep(dir, "tl-busy-5454")
    assert(core.write_atomic(dir .. "/exp.lua", string.format([[
      local tune = require("tune")
      tune.run(function() tune.report{i = 1}; os.execute(%q .. " 60") end,
        {local_dir = %q, name = "x", verbose = 0, time_budget_s = 0.3})
    ]], busy, dir)))
    local p = io.popen(string.format("sh -c 'echo $$; exec env TUNE_STOP_WARN_S=0.1 TUNE_INTERRUPT_CLEANUP_S=0.5 %s %s "
      .. "2> %s/err.log'", tunelua, dir .. "/exp.lua", dir))
    local pid = tonumber(p:read("l"))
    -- The event: the driver says it waits for the worker at the end.
    local deadline = core.now() + 30
    while core.now() < deadline and not (core.read_file(dir .. "/err.log") or ""):find("has not stopped", 1, true) do
      core.sleep(0.02)
    end
    assert.matches("has not stopped", core.read_file(dir .. "/err.log"))
    local t0 = core.now()
    core.kill(pid, "TERM")
    p:read("a")
    p:close()
    assert.is_true(core.now() - t0 < 10, "took " .. (core.now() - t0) .. " s")
    assert.same({}, support.processes_named("tl-busy-5454", support.tmp_root .. "/"))
  end)

  it("the first SIGINT ends within seconds even when a trainable ignores stop", function()
    local dir = support.tmpdir("resume-ignore")
    support.marker_sleep(dir, "tl-busy-4343")
    local pid, wait = start(dir, "IGNORE_STOP=1 TUNE_INTERRUPT_CLEANUP_S=1", "")
    local deadline = core.now() + 20
    while core.now() < deadline and #starts(dir) < 2 do core.sleep(0.02) end
    local t0 = core.now()
    core.kill(pid, "INT")
    local how, code, out = wait()
    assert.same({"exit", 130}, {how, code}, out)
    assert.is_true(core.now() - t0 < 4, "took " .. (core.now() - t0) .. " s")
    assert.truthy(persistence.find_state(dir .. "/resume"))
    -- What the trainables started went with their workers.
    assert.same({}, support.processes_named("tl-busy-4343", support.tmp_root .. "/"))
  end)

  it("says which trial does not stop, and how to force it", function()
    local dir = support.tmpdir("resume-warn")
    local how, code, out = run(dir, "SLOW_CLEANUP=1 SLOW_ITERS=2 TUNE_STOP_WARN_S=0.2")
    assert.same({"exit", 0}, {how, code}, out)
    assert.matches("Slow_%S+ %(pid %d+%) has not stopped 0.2 s after it was asked to", out)
    assert.matches("TUNE_FORCE_TRIAL_CLEANUP_S", out)
  end)

  it("TUNE_DISABLE_SIGINT_HANDLER leaves SIGINT its default action", function()
    -- Ray's `not int(...)`: any integer but 0 (2 kept the handler).
    for _, value in ipairs({"1", "2"}) do
      local dir = support.tmpdir("resume-nosig" .. value)
      local pid, wait = start(dir, "TUNE_DISABLE_SIGINT_HANDLER=" .. value, "", "0.2", true)
      local deadline = core.now() + 20
      while core.now() < deadline and #starts(dir) < 1 do core.sleep(0.02) end
      core.kill(pid, "INT")
      local how, code, out = wait()
      -- Killed by the signal (the shell says 130): no "SIGINT received" save.
      assert.equal(130, code, out)
      assert.is_nil(out:find("SIGINT received", 1, true))
    end
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

  it("refuses a journal with a garbage line, changing nothing on disk", function()
    local dir = support.tmpdir("resume-garbage")
    local how, code, out = run(dir, "TUNE_TEST_CRASH_AT_WRITE=20")
    assert.same({"signal", 9}, {how, code})
    local jpath = dir .. "/resume/experiment_journal.jsonl"
    local lines = support.lines(jpath)
    -- Every file under the experiment, with its contents (read in Lua: an
    -- external tool would run with the sanitizer preloaded).
    local function snapshot()
      local files = {}
      local function walk(d)
        for _, name in ipairs(core.listdir(d) or {}) do
          local p = d .. "/" .. name
          if core.stat(p) == "directory" then walk(p) else files[p] = core.read_file(p) end
        end
      end
      walk(dir .. "/resume")
      return files
    end
    for _, bad in ipairs({"not json", '{"seq": 5}', '{"seq": 6, "event": "teleport", "trial_id": "x"}',
        '{"seq": 7, "event": "status", "trial_id": "x", "status": "SLEEPING"}', "[1, 2]"}) do
      local text = table.concat(lines, "\n", 1, 3) .. "\n" .. bad .. "\n" .. table.concat(lines, "\n", 4) .. "\n"
      assert(core.write_atomic(jpath, text))
      local before = snapshot()
      how, code, out = run(dir, "", "--resume")
      assert.same({"exit", 2}, {how, code}, out)
      assert.matches("experiment_journal.jsonl:4: .*refusing to resume", out)
      assert.same(before, snapshot(), "a refused resume changed the experiment's files")
    end
    -- A torn last line is what a crash leaves: accepted, and cut off.
    assert(core.write_atomic(jpath, table.concat(lines, "\n") .. '\n{"seq": 99, "ev'))
    how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
    for _, line in ipairs(support.lines(jpath)) do assert.truthy(core.json_decode(line), line) end
  end)

  it("refuses a state whose search algorithm or trial list does not hold together", function()
    local dir = support.tmpdir("resume-searcher")
    local how, code = run(dir, "TUNE_TEST_CRASH_AT_WRITE=25")
    assert.same({"signal", 9}, {how, code})
    local path = persistence.find_state(dir .. "/resume")
    local good = core.read_file(path)
    local s = core.json_decode(good)
    local cases = {
      {function(x) x.search_alg.counter = "zz" end, "counter must be a count"},
      {function(x) x.search_alg.queue = 5 end, "queue must be a list"},
      {function(x) table.remove(x.trials, 1) end, "the search algorithm made trial %S+, which the experiment has no record of"},
      {function(x) x.trials[1].status = "SLEEPING" end, "trial 1 has an unknown status SLEEPING"},
      {function(x) x.scheduler = 7 end, "the scheduler's state is not a table"},
    }
    for _, c in ipairs(cases) do
      local x = core.json_decode(good)
      c[1](x)
      assert(core.write_atomic(path, assert(core.json_encode(x))))
      local before = core.read_file(path)
      local journal = core.read_file(dir .. "/resume/experiment_journal.jsonl")
      local out
      how, code, out = run(dir, "", "--resume")
      assert.same({"exit", 2}, {how, code}, out)
      assert.matches(c[2], out)
      assert.matches("refusing to resume", out)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.equal(before, core.read_file(path))
      assert.equal(journal, core.read_file(dir .. "/resume/experiment_journal.jsonl"))
    end
    assert(s)
  end)

  for _, ckpt in ipairs({true, false}) do
    it("finishes after a crash at any result-log write, the two logs agreeing ("
        .. (ckpt and "a checkpoint each result" or "no checkpoints") .. ")", function()
      -- TUNE_TEST_CRASH_AT_LOG_WRITE=n: the driver dies just before its nth
      -- write to a result.json or progress.csv, also between a batch's two
      -- files. The trials are ended by the driver (a stop criterion): their
      -- last rows are written after the journal has their end. One whose
      -- last result reached result.json (and the checkpoint it came with,
      -- the disk) had finished, so progress.csv must hold that result too.
      local env = "STOP_AT_6=1" .. (ckpt and "" or " NO_CHECKPOINT=1")
      local step = tonumber(os.getenv("CRASH_WRITE_STEP") or "") or 1
      local n, crashed = 1, 0
      while true do
        local d = support.tmpdir("resume-log-" .. n)
        local how, code, out = run(d, env .. " TUNE_TEST_CRASH_AT_LOG_WRITE=" .. n)
        if how == "exit" and code == 0 then break end
        assert.same({"signal", 9}, {how, code}, "crash at log write " .. n .. ": " .. out)
        crashed = crashed + 1
        resume_after_crash(d, env, "crash at log write " .. n, not ckpt)
        n = n + step
      end
      assert.is_true(crashed * step >= 8, "only " .. crashed * step .. " log writes")
    end)
  end

  it("a log write cut short by a full disk leaves no torn line behind", function()
    for _, n in ipairs({1, 2, 3, 7, 12}) do
      local dir = support.tmpdir("resume-torn-log-" .. n)
      local how, code, out = run(dir, "TUNE_TEST_TORN_LOG_WRITE=" .. n)
      -- Its trial failed (spec/full_disk_spec.lua has the rest).
      assert.same({"exit", 1}, {how, code}, out)
      assert.matches("Trials did not complete: [^\n]*%(ERROR: cannot write [^\n]*: No space left on device", out)
      local exp = dir .. "/resume"
      for _, d in ipairs(core.listdir(exp)) do
        local p = exp .. "/" .. d
        for _, line in ipairs(support.lines(p .. "/result.json")) do
          assert.truthy(core.json_decode(line), "a torn line in result.json (write " .. n .. "): " .. line)
        end
        local rows = support.lines(p .. "/progress.csv")
        if #rows > 0 then
          local ncols = select(2, rows[1]:gsub(",", ""))
          assert.is_truthy(rows[1]:find("training_iteration", 1, true), "progress.csv lost its header")
          for _, r in ipairs(rows) do assert.equal(ncols, select(2, r:gsub(",", "")), r) end
        end
      end
    end
  end)

  it("keeps one header in a progress.csv over 16 MiB", function()
    local dir = support.tmpdir("resume-bigcsv")
    local how, code = run(dir, "TUNE_TEST_CRASH_AT_WRITE=25")
    assert.same({"signal", 9}, {how, code})
    local exp = dir .. "/resume"
    local csvs = {}
    for _, d in ipairs(core.listdir(exp)) do
      -- Those with a header (a directory made ahead for a trial that had
      -- not started holds an empty one).
      local p = exp .. "/" .. d .. "/progress.csv"
      if core.stat(p) and support.lines(p)[1] then csvs[#csvs + 1] = p end
    end
    assert.is_true(#csvs > 0)
    -- Rows of empty cells (no iteration: every trim keeps them).
    for _, p in ipairs(csvs) do
      local header = support.lines(p)[1]
      local row = string.rep(",", select(2, header:gsub(",", ""))) .. "\n"
      local f = assert(io.open(p, "a"))
      f:write(string.rep(row, 17 * 1024 * 1024 // #row))
      f:close()
    end
    local out
    how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code}, out)
    for _, p in ipairs(csvs) do
      local headers = 0
      for line in io.lines(p) do if line:find("training_iteration", 1, true) then headers = headers + 1 end end
      assert.equal(1, headers, p)
    end
  end)

  it("a snapshot is written in pieces: nothing appears until commit, an abort leaves nothing", function()
    local dir = support.tmpdir()
    local path = dir .. "/state.json"
    local f = assert(core.open_atomic(path))
    for i = 1, 5000 do f:write(string.format("%05d,", i)) end -- beyond the 64 KiB buffer
    assert.is_nil(core.stat(path))
    assert(f:commit())
    local text = assert(core.read_file(path))
    assert.equal(30000, #text)
    assert.equal("00001,", text:sub(1, 6))
    assert.equal("05000,", text:sub(-6))
    assert.has_error(function() f:write("x") end, "the atomic file was already committed or aborted")
    local g = assert(core.open_atomic(path))
    g:write("new")
    g:abort()
    assert.equal(text, core.read_file(path))
    assert.same({"state.json"}, core.listdir(dir))
    -- A store's snapshot of many trials reads back whole.
    local store = persistence.Store(dir)
    local trials = {}
    for i = 1, 300 do trials[i] = i end
    local spath = assert(store:snapshot({name = "x"}, trials, function(i) return {trial_id = "t" .. i} end))
    local state = core.json_decode(assert(core.read_file(spath)))
    assert.equal(300, #state.trials)
    assert.equal("t300", state.trials[300].trial_id)
    assert.equal("x", state.name)
    assert.equal(persistence.FORMAT, state.format)
    assert.is_nil(core.open_atomic(dir .. "/no/such/dir/state.json"))
  end)

  -- Six trials, four finished, for the snapshot specs: the trials, the
  -- serializer (counting what it encodes), `final`, and what a snapshot
  -- of them must hold.
  local function snapshot_fixture()
    local fx = {trials = {}, encoded = 0}
    for i = 1, 6 do fx.trials[i] = {trial_id = "t" .. i, status = i <= 4 and "TERMINATED" or "RUNNING", v = i} end
    function fx.ser(t)
      fx.encoded = fx.encoded + 1
      return {trial_id = t.trial_id, status = t.status, v = t.v}
    end
    function fx.final(t) return t.status == "TERMINATED" and t.trial_id or nil end
    function fx.expected()
      local out = {}
      for i, t in ipairs(fx.trials) do out[i] = {trial_id = t.trial_id, status = t.status, v = t.v} end
      return out
    end
    return fx
  end

  it("a snapshot copies the last one's finished entries that nothing journaled since", function()
    local dir = support.tmpdir()
    local store = persistence.Store(dir)
    local fx = snapshot_fixture()
    local trials, expected = fx.trials, fx.expected
    local function snapshot()
      fx.encoded = 0
      local path = assert(store:snapshot({name = "x"}, trials, fx.ser, fx.final))
      return core.json_decode(assert(core.read_file(path))).trials
    end
    assert.same(expected(), snapshot())
    assert.equal(6, fx.encoded)
    -- The four finished trials are copied; the running ones encoded.
    trials[5].v = 50
    assert.same(expected(), snapshot())
    assert.equal(2, fx.encoded)
    -- A journal entry about t2 (a checkpoint registered after its end):
    -- from t2 on, entries are encoded again.
    trials[2].v = 20
    store:journal{event = "checkpoint", trial_id = "t2"}
    assert.same(expected(), snapshot())
    assert.equal(5, fx.encoded)
    assert.equal(2, snapshot() and fx.encoded)
    -- A trial that is no longer finished (requeued) is encoded again.
    trials[3].status = "PENDING"
    assert.same(expected(), snapshot())
    assert.equal(4, fx.encoded)
    -- The last snapshot changed on disk: nothing is copied from it.
    local last = persistence.find_state(dir)
    core.append(last, " ")
    trials[5].status = "TERMINATED"
    assert.same(expected(), snapshot())
    assert.equal(6, fx.encoded)
    local states = 0
    for _, f in ipairs(core.listdir(dir)) do
      if f:match("^experiment_state") then states = states + 1 end
    end
    assert.equal(1, states)
  end)

  it("a snapshot committed in the background appears once settled, replaces the last one, is copied from", function()
    local dir = support.tmpdir()
    -- The primitive: the synced commit, then the removal of the file given,
    -- on the directory thread.
    local old = dir .. "/old.json"
    assert(core.write_atomic(old, "old"))
    local f = assert(core.open_atomic(dir .. "/new.json"))
    for i = 1, 5000 do f:write(string.format("%05d,", i)) end -- beyond the 64 KiB buffer
    local job = assert(f:commit_async(old))
    assert.has_error(function() f:write("x") end, "the atomic file was already committed or aborted")
    assert.is_true(job:wait())
    assert.equal(30000, #assert(core.read_file(dir .. "/new.json")))
    assert.is_nil(core.stat(old))
    -- A commit that fails (its directory went away) says why when waited
    -- for, and removes nothing.
    local sub = dir .. "/sub"
    assert(core.mkdir_p(sub))
    local g = assert(core.open_atomic(sub .. "/x.json"))
    g:write("x")
    assert(core.remove_tree(sub))
    local ok, err = assert(g:commit_async(dir .. "/new.json")):wait()
    assert.is_nil(ok)
    assert.matches("x.json", err, 1, true)
    assert(core.stat(dir .. "/new.json"))
    -- A store: the first snapshot is committed in place, the later ones
    -- in the background; each next snapshot takes the last one's outcome
    -- first, and copies its finished entries.
    local sdir = dir .. "/exp"
    assert(core.mkdir_p(sdir))
    local store = persistence.Store(sdir)
    local fx = snapshot_fixture()
    local trials, ser, final, expected = fx.trials, fx.ser, fx.final, fx.expected
    local function states()
      local n = 0
      for _, name in ipairs(core.listdir(sdir)) do if name:match("^experiment_state") then n = n + 1 end end
      return n
    end
    local first = assert(store:snapshot({name = "x"}, trials, ser, final, true))
    assert.same(expected(), core.json_decode(assert(core.read_file(first))).trials)
    trials[5].v = 50
    fx.encoded = 0
    assert(store:snapshot({name = "x"}, trials, ser, final, true))
    assert.equal(2, fx.encoded)
    trials[6].v = 60
    fx.encoded = 0
    local third = assert(store:snapshot({name = "x"}, trials, ser, final, true))
    assert.equal(2, fx.encoded) -- copied from the second, committed in the background
    assert.is_true(store:settle())
    assert.same(expected(), core.json_decode(assert(core.read_file(third))).trials)
    assert.equal(1, states())
    assert.same(expected(), core.json_decode(assert(core.read_file(persistence.find_state(sdir)))).trials)
  end)

  it("a run's last snapshot, made of copied entries, equals its trials encoded anew", function()
    local dir = support.tmpdir()
    local tune = require("tune")
    local run = require("tune.experiment.run")
    require("spec.fixtures.run_trainables")
    tune.run("steps", {config = {iters = 3, x = tune.grid_search({1, 2, 3, 4, 5, 6, 7, 8})}, local_dir = dir,
      verbose = 0, global_checkpoint_s = 0, name = "copied"})
    local runner = run.last_runner
    local text = assert(core.read_file(persistence.find_state(dir .. "/copied")))
    local saved = core.json_decode(text).trials
    assert.equal(8, #saved)
    for i, t in ipairs(runner.trials) do
      local fresh = core.json_decode(core.json_encode(persistence.serialize_trial(t, dir .. "/copied")))
      assert.same(fresh, saved[i])
    end
  end)

  it("tells the search algorithm once of a trial journaled TERMINATED, then ERROR (its last rows lost)", function()
    local dir = support.tmpdir()
    local tune = require("tune")
    require("spec.fixtures.run_trainables")
    local opts = {config = {iters = 2, x = tune.grid_search({1, 2})}, local_dir = dir, verbose = 0, name = "told",
      raise_on_failed_trial = false}
    tune.run("steps", opts)
    local exp = dir .. "/told"
    -- A snapshot from before the trials (everything else in the journal),
    -- and the journal's second end of the first trial, as a full disk
    -- leaves it (experiment/failures.lua, an ended trial's rows lost).
    local path = persistence.find_state(exp)
    local state = core.json_decode(assert(core.read_file(path)))
    local first = state.trials[1]
    state.trials, state.journal_seq = {}, 0
    assert(core.write_atomic(path, core.json_encode(state)))
    local lines = support.lines(exp .. "/" .. persistence.JOURNAL)
    local seq = core.json_decode(lines[#lines]).seq
    assert(core.append(exp .. "/" .. persistence.JOURNAL, core.json_encode{event = "status", trial_id = first.trial_id,
      status = "ERROR", num_failures = 1, error_msg = "rows lost", logdir = first.logdir, seq = seq + 1} .. "\n"))
    local BVG = require("tune.search.basic_variant")
    local orig, told = BVG.on_trial_complete, {}
    BVG.on_trial_complete = function(self, id, ...)
      told[id] = (told[id] or 0) + 1
      return orig(self, id, ...)
    end
    opts.resume = true
    local ok, err = pcall(tune.run, "steps", opts)
    BVG.on_trial_complete = orig
    assert(ok, err)
    -- Each of the two trials once (the first not twice).
    local n = 0
    for id, count in pairs(told) do
      n = n + 1
      assert.equal(1, count, id)
    end
    assert.equal(2, n)
  end)

  it("commits the last snapshot before on_experiment_end: a callback finds every trial finished in it", function()
    -- Its commit overlaps the final report and the workers' exit.
    local dir = support.tmpdir()
    local tune = require("tune")
    require("spec.fixtures.run_trainables")
    local run = require("tune.experiment.run")
    local seen, committing
    tune.run("steps", {config = {iters = 2, x = tune.grid_search({1, 2, 3, 4, 5})}, local_dir = dir, verbose = 0,
      name = "settled", callbacks = {{on_experiment_end = function()
        -- (The commit is quick here: that it was waited for is seen in
        -- the store, not left to the race.)
        committing = run.last_runner.store._committing
        local path = persistence.find_state(dir .. "/settled")
        local state = path and core.json_decode(assert(core.read_file(path)))
        seen = {}
        for _, t in ipairs(state and state.trials or {}) do seen[#seen + 1] = t.status end
      end}}})
    assert.is_nil(committing)
    assert.same({"TERMINATED", "TERMINATED", "TERMINATED", "TERMINATED", "TERMINATED"}, seen)
    -- One snapshot: the last one replaced the first.
    local states = 0
    for _, f in ipairs(core.listdir(dir .. "/settled")) do
      if f:match("^experiment_state%-.*%.json$") then states = states + 1 end
    end
    assert.equal(1, states)
  end)

  it("removes what a killed driver left half-written, and torn log lines", function()
    local dir = support.tmpdir("resume-tmp")
    local how, code = run(dir, "TUNE_TEST_CRASH_AT_WRITE=30")
    assert.same({"signal", 9}, {how, code})
    local exp = dir .. "/resume"
    assert(core.write_atomic(exp .. "/experiment_state-x.json.tmp-999999", "half"))
    -- A trial the saved state knows with its directory (one made ahead
    -- for a trial whose start was not recorded yet is checked below).
    local a_trial
    local saved, entries = persistence.load(exp)
    local function pick(t)
      if type(t.relative_logdir) == "string" then a_trial = exp .. "/" .. t.relative_logdir end
    end
    for _, t in ipairs(saved.trials) do pick(t) end
    for _, e in ipairs(entries) do
      if e.event == "trial_added" then pick(e.trial) end
    end
    assert.equal("directory", core.stat(assert(a_trial)))
    assert(core.mkdir_p(a_trial .. "/.checkpoint_000009.tmp-999999-1"))
    assert(core.write_atomic(a_trial .. "/params.json.tmp-999999", "{"))
    assert(core.append(a_trial .. "/result.json", '{"i": 3, "tor'))
    -- Directories made ahead for trials that had not started: removed.
    -- Anything with more in it (a log written to, another file) stays.
    for _, name in ipairs({"ahead_1", "ahead_2", "kept_1", "kept_2"}) do
      assert(core.mkdir_p(exp .. "/" .. name))
      assert(core.write_file(exp .. "/" .. name .. "/params.json", "{}"))
      assert(core.write_file(exp .. "/" .. name .. "/result.json", ""))
    end
    assert(core.write_file(exp .. "/ahead_2/progress.csv", ""))
    assert(core.write_file(exp .. "/kept_1/result.json", "{}\n"))
    assert(core.write_file(exp .. "/kept_2/notes.txt", "mine"))
    -- Half-written files in directories no saved trial names: removed too,
    -- and then a directory made ahead with nothing else goes.
    assert(core.mkdir_p(exp .. "/ahead_2/.checkpoint_000001.tmp-999999-2"))
    assert(core.write_atomic(exp .. "/kept_2/params.json.tmp-999999", "{"))
    how, code = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code})
    check_complete(dir)
    assert.is_nil(core.stat(exp .. "/experiment_state-x.json.tmp-999999"))
    assert.is_nil(core.stat(a_trial .. "/.checkpoint_000009.tmp-999999-1"))
    assert.is_nil(core.stat(a_trial .. "/params.json.tmp-999999"))
    assert.is_nil(core.stat(exp .. "/ahead_1"))
    assert.is_nil(core.stat(exp .. "/ahead_2"))
    assert.equal("{}\n", core.read_file(exp .. "/kept_1/result.json"))
    assert.equal("mine", core.read_file(exp .. "/kept_2/notes.txt"))
    assert.is_nil(core.stat(exp .. "/kept_2/params.json.tmp-999999"))
  end)

  --- A sim trial of 8 iterations with the options `opts` (Lua text) sent
  --- SIGUSR1 while its 5th is on its way, then resumed; its directory.
  local function inflight(name, opts)
    local dir = support.tmpdir(name)
    local file = dir .. "/inflight.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
local core = require("tune.core")
local sent = os.getenv("RESUMING") ~= nil
tune.run("s", {name = "inflight", backend = "sim", num_samples = 1, config = {x = 1}, verbose = 0, ]] .. opts .. [[
  sim = {curve = function(c, i)
    if i == 5 and not sent then sent = true; core.kill(core.getpid(), "USR1") end
    if i <= 8 then return {loss = i} end end}})
]]))
    local code, out = run_file(dir, file)
    assert.equal(130, code, out)
    code, out = run_file(dir, file, "RESUMING=1", "--resume")
    assert.equal(0, code, out)
    for _, d in ipairs(assert(core.listdir(dir .. "/inflight"))) do
      if d:match("^s_") then return dir .. "/inflight/" .. d end
    end
  end

  it("a save asked for while a result is on its way names that result: nothing is lost on --resume", function()
    -- The runner asks for the next result as soon as one is accepted; a
    -- SIGUSR1 then has the trial save after that next result. The
    -- checkpoint is the state after it, and resume keeps that result.
    local logdir = inflight("resume-inflight", "")
    local its = {}
    for _, line in ipairs(support.lines(logdir .. "/result.json")) do
      its[#its + 1] = core.json_decode(line).training_iteration
    end
    assert.same({1, 2, 3, 4, 5, 6, 7, 8}, its)
    assert.same({1, 2, 3, 4, 5, 6, 7, 8}, support.csv_column(logdir .. "/progress.csv", "training_iteration"))
    -- One checkpoint, holding iteration 5 (its directory keeps the name
    -- the request gave it).
    local ckpts = {}
    for _, d in ipairs(core.listdir(logdir)) do if d:match("^checkpoint_") then ckpts[#ckpts + 1] = d end end
    assert.equal(1, #ckpts)
    local meta = core.json_decode(assert(core.read_file(logdir .. "/" .. ckpts[1] .. "/.tune_metadata.json")))
    assert.equal(5, meta.training_iteration)
  end)

  it("a save asked for when the last result has its checkpoint already does not replace that checkpoint", function()
    -- checkpoint_freq = 1: checkpoint_000004 was there when SIGUSR1 came
    -- with iteration 5 on its way; the save, named after result 4, held 5
    -- and replaced it (the checkpoint of iteration 4 lost; ranked by
    -- result 5 under keep_checkpoints_num).
    local logdir = inflight("resume-inflight-saved", "checkpoint_freq = 1,")
    assert.same({1, 2, 3, 4, 5, 6, 7, 8}, support.csv_column(logdir .. "/progress.csv", "training_iteration"))
    local n = 0
    for _, d in ipairs(core.listdir(logdir)) do
      if d:match("^checkpoint_") then
        n = n + 1
        local meta = core.json_decode(assert(core.read_file(logdir .. "/" .. d .. "/.tune_metadata.json")))
        assert.equal(tonumber(d:match("%d+$")), meta.training_iteration, d)
      end
    end
    assert.equal(8, n)
  end)

  it("with the CSV logger alone, a crash and --resume keep the finished trials' last results", function()
    local file = support.tmpdir("resume-csvonly-file") .. "/csvonly.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
local a = tune.run("c", {name = "csvonly", backend = "sim", config = {x = tune.grid_search({1, 2, 3, 4})},
  metric = "loss", mode = "min", max_concurrent_trials = 1, verbose = 0, callbacks = {tune.CSVLoggerCallback()},
  sim = {curve = function(c, i) if i <= 5 then return {loss = c.x * 10 + i} end end}})
local parts = {}
for _, t in ipairs(a.trials) do parts[#parts + 1] = tostring(t.last_result.loss) end
print("BEST " .. tostring(a.best_config.x) .. " LOSSES " .. table.concat(parts, " "))
]]))
    -- Killed at several of its journal writes: trials finished after the
    -- last snapshot are known from the journal and their logs alone.
    local crashed = 0
    for at = 6, 22 do
      local dir = support.tmpdir("resume-csvonly-" .. at)
      local code, out, how = run_file(dir, file, "TUNE_TEST_CRASH_AT_WRITE=" .. at)
      if how ~= "exit" or code ~= 0 then
        crashed = crashed + 1
        code, out, how = run_file(dir, file, "", "--resume")
        assert.same({"exit", 0}, {how, code}, out)
        assert.matches("BEST 1 LOSSES 15 25 35 45", out, 1, true)
      end
    end
    assert.is_true(crashed >= 10, "crashed " .. crashed .. " times")
  end)

  it("a resume refused after its restore (a callback's setup fails) leaves the trials' logs whole", function()
    local dir = support.tmpdir("resume-refused-setup")
    local file = dir .. "/refused.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
local core = require("tune.core")
local sent = os.getenv("RESUMING") ~= nil
local cb = {setup = function() if os.getenv("BAD_SETUP") then error("setup refused") end end}
tune.run("r", {name = "refused", backend = "sim", config = {x = tune.grid_search({1, 2})}, verbose = 0,
  callbacks = {cb}, sim = {curve = function(c, i)
    if c.x == 2 and i == 3 and not sent then sent = true; core.kill(core.getpid(), "INT") end
    if i <= 6 then return {loss = i} end end}})
]]))
    local code, out = run_file(dir, file)
    assert.equal(130, code, out)
    local function logs()
      local t = {}
      for _, d in ipairs(core.listdir(dir .. "/refused")) do
        local p = dir .. "/refused/" .. d
        if core.stat(p) == "directory" then
          t[d] = (core.read_file(p .. "/result.json") or "") .. (core.read_file(p .. "/progress.csv") or "")
        end
      end
      return t
    end
    local before = logs()
    local rows = 0
    for _, text in pairs(before) do for _ in text:gmatch("\n") do rows = rows + 1 end end
    assert.is_true(rows > 0)
    code, out = run_file(dir, file, "RESUMING=1 BAD_SETUP=1", "--resume")
    assert.is_not.equal(0, code, out)
    assert.matches("setup refused", out)
    assert.same(before, logs())
    code, out = run_file(dir, file, "RESUMING=1", "--resume")
    assert.equal(0, code, out)
    for d in pairs(before) do
      local its = {}
      for _, line in ipairs(support.lines(dir .. "/refused/" .. d .. "/result.json")) do
        its[#its + 1] = core.json_decode(line).training_iteration
      end
      assert.same({1, 2, 3, 4, 5, 6}, its, d)
    end
  end)

  it("a callback's get_state is saved with the experiment and given to its set_state on --resume", function()
    local dir = support.tmpdir("resume-callback-state")
    local file = dir .. "/counter.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
local core = require("tune.core")
local sent = os.getenv("RESUMING") ~= nil or os.getenv("NO_SIGNAL") ~= nil
local Counter = tune.Callback:extend(nil, "Counter")
function Counter:__init() self.n = 0 end
function Counter:on_trial_result() self.n = self.n + 1 end
function Counter:get_state() return {n = self.n} end
function Counter:set_state(s) print("SET_STATE " .. s.n) self.n = s.n end
function Counter:on_experiment_end() print("COUNT " .. self.n) end
-- Stateful in name only: its get_state fails, then returns a function.
local Broken = tune.Callback:extend(nil, "Broken")
function Broken:get_state() error("no state here") end
local Odd = tune.Callback:extend(nil, "Odd")
function Odd:get_state() return {f = print} end
tune.run("c", {name = "counter", backend = "sim", config = {x = tune.grid_search({1, 2})}, verbose = 0,
  callbacks = {Broken(), Counter(), Odd()}, sim = {curve = function(c, i)
    if c.x == 2 and i == 3 and not sent then sent = true; core.kill(core.getpid(), "USR1") end
    if i <= 6 then return {loss = i} end end}})
]]))
    local code, out = run_file(support.tmpdir("resume-callback-state-whole"), file, "NO_SIGNAL=1")
    assert.equal(0, code, out)
    local whole = tonumber(out:match("COUNT (%d+)"))
    assert.equal(12, whole)
    -- A get_state that fails, or returns what JSON cannot hold: one
    -- warning each, however many snapshots; the run goes on.
    local _, n1 = out:gsub("callback Broken failed in get_state: [^\n]*no state here", "")
    local _, n2 = out:gsub("callback Odd: get_state returned [^\n]*cannot hold", "")
    assert.same({1, 1}, {n1, n2}, out)
    code, out = run_file(dir, file)
    assert.equal(130, code, out)
    local before = tonumber(out:match("COUNT (%d+)"))
    assert.is_true(before > 0 and before < whole, out)
    code, out = run_file(dir, file, "RESUMING=1", "--resume")
    assert.equal(0, code, out)
    assert.matches("SET_STATE " .. before, out, 1, true)
    -- Counted across the interruption as if there had been none.
    assert.equal(whole, tonumber(out:match("COUNT (%d+)")), out)
    -- By position and class: another callback there gets nothing.
    assert(core.write_atomic(file, (core.read_file(file):gsub("Broken%(%), Counter%(%), Odd%(%)", "Counter(), Broken()"))))
    code, out = run_file(dir, file, "RESUMING=1", "--resume")
    assert.equal(0, code, out)
    assert.is_nil(out:find("SET_STATE", 1, true), out)
    assert.matches("holds the state of callback Counter %(callbacks%[2%]%), which this run does not have there", out)
  end)

  it("resumes a moved or copied experiment in its new directory, pending trials too, and writes nothing in the old", function()
    -- Pending trials kept the old local_dir, and trials started after the
    -- last snapshot the old logdir (the journal's): their directories,
    -- results and checkpoints went to the old place (made again after a mv).
    local root = support.tmpdir("resume-moved")
    local file = root .. "/moved.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
local core = require("tune.core")
-- KILL_FROM=x: the driver dies at the first result i = 2 of a trial whose
-- x is x or more (no trial has finished then: on two CPUs, the last two
-- wait, made and not started).
local from = tonumber(os.getenv("KILL_FROM") or "")
local Kill = tune.Callback:extend(nil, "Kill")
function Kill:on_trial_result(_, _, trial, result)
  if from and result.i == 2 and trial.config.x >= from then core.raise_signal("KILL") end
end
local function train(config)
  local c = tune.get_checkpoint()
  for i = (c and c.i or 0) + 1, 4 do
    tune.sleep(0.01)
    tune.report({i = i}, {checkpoint = {i = i}})
  end
end
tune.run(train, {name = "moved", config = {x = tune.grid_search({1, 2, 3, 4})}, verbose = 0,
  global_checkpoint_s = tonumber(os.getenv("PERIOD")), callbacks = {Kill()}})
]]))
    -- Every file under `dir`, with its contents.
    local function tree(dir)
      local files = {}
      local function walk(d)
        for _, name in ipairs(core.listdir(d) or {}) do
          local p = d .. "/" .. name
          if core.stat(p) == "directory" then files[p .. "/"] = true walk(p) else files[p] = core.read_file(p) end
        end
      end
      walk(dir)
      return files
    end
    local function inside(path, dir, what)
      assert.is_true(type(path) == "string" and path:sub(1, #dir + 1) == dir .. "/", what .. ": " .. tostring(path))
    end
    -- Every snapshot (PERIOD 0), or only the empty first one: then the
    -- trials and their directories are all in the journal, written by two runs.
    for _, period in ipairs({"0", "1000"}) do
      local a, b, c = root .. "/a" .. period, root .. "/b" .. period, root .. "/c" .. period
      local code, out = run_file(a, file, "PERIOD=" .. period .. " KILL_FROM=1", "--num-cpus 2")
      assert.equal(137, code, out)
      local pending = support.statuses(a .. "/moved")
      local n = 0
      for _, st in pairs(pending) do if st == "PENDING" then n = n + 1 end end
      assert.is_true(n >= 2, "the killed run left no trial that had not started")
      -- The pause checkpoints the dead driver left in its trials' directories.
      local started = {}
      for _, name in ipairs(core.listdir(a .. "/moved")) do
        if core.stat(a .. "/moved/" .. name .. "/checkpoint_000001") then
          started[#started + 1] = name
          assert(core.mkdir_p(a .. "/moved/" .. name .. "/.memory_checkpoint_000001"))
        end
      end
      -- (The other running trial may not have saved its first checkpoint
      -- yet when the driver died: slower under the sanitizers.)
      assert.is_true(#started >= 1 and #started <= 2, #started .. " trials with a checkpoint")
      -- A copy resumed (and killed once a trial that waited has started),
      -- then moved and resumed to the end.
      support.must("env -u LD_PRELOAD cp -a " .. a .. " " .. b)
      local a_files = tree(a)
      code, out = run_file(b, file, "PERIOD=" .. period .. " KILL_FROM=3", "--num-cpus 2 --resume")
      assert.equal(137, code, out)
      assert.same(a_files, tree(a), "the resumed copy wrote in the original")
      for _, name in ipairs(started) do assert.is_nil(core.stat(b .. "/moved/" .. name .. "/.memory_checkpoint_000001")) end
      support.must("env -u LD_PRELOAD mv " .. b .. " " .. c)
      code, out = run_file(c, file, "PERIOD=" .. period, "--num-cpus 2 --resume")
      assert.equal(0, code, out)
      assert.is_nil(core.stat(b), "the resumed experiment wrote in the directory it was moved from")
      assert.same(a_files, tree(a), "the resumed experiment wrote in the one it was copied from")
      local exp = c .. "/moved"
      -- Each trial directory the journal names, it names also by its place
      -- in the experiment: a run killed before its first snapshot leaves
      -- such entries after the snapshot of a run elsewhere.
      for _, line in ipairs(support.lines(exp .. "/experiment_journal.jsonl")) do
        local e = core.json_decode(line)
        if e.event == "status" and e.logdir then assert.equal(e.logdir:match("[^/]+$"), e.relative_logdir, line) end
      end
      local done = assert(persistence.load(exp))
      assert.equal(4, #done.trials)
      assert.equal(exp, done.experiment_dir)
      for _, t in ipairs(done.trials) do
        assert.equal("TERMINATED", t.status, t.trial_id)
        assert.equal(exp, t.local_dir, t.trial_id)
        inside(t.logdir, exp, t.trial_id .. " logdir")
        assert.equal(4, #t.checkpoints, t.trial_id)
        for _, ck in ipairs(t.checkpoints) do inside(ck.dir, exp, t.trial_id .. " checkpoint") end
        local its = {}
        for _, line in ipairs(support.lines(t.logdir .. "/result.json")) do its[#its + 1] = core.json_decode(line).i end
        assert.same({1, 2, 3, 4}, its, t.trial_id)
      end
    end
  end)

  it("resumes a moved or copied project with the script run now, from where it runs now", function()
    -- Each trial's worker ran the old place's file, in the old directory:
    -- a copy's trials reported the original's code, a moved one's failed.
    local root = support.tmpdir("resume-project")
    local bin = tunelua:sub(1, 1) == "/" and tunelua or core.getcwd() .. "/" .. tunelua
    assert(core.mkdir_p(root .. "/proj1"))
    assert(core.write_atomic(root .. "/proj1/s.lua", [[
local tune = require("tune")
local core = require("tune.core")
local WHO = "orig"
local Kill = tune.Callback:extend(nil, "Kill")
function Kill:on_trial_result(_, _, _, result)
  if os.getenv("KILL") and result.i == 2 then core.raise_signal("KILL") end
end
local function train(config)
  local c = tune.get_checkpoint()
  for i = (c and c.i or 0) + 1, 4 do
    tune.sleep(0.01)
    tune.report({i = i, who = WHO}, {checkpoint = {i = i}})
  end
end
tune.run(train, {name = "p", local_dir = "res", config = {x = tune.grid_search({1, 2})}, verbose = 0,
  callbacks = {Kill()}})
]]))
    local function resume(dir, env, extra)
      local ok, out, code = support.sh(string.format("cd %s && env %s %s %s s.lua", dir, env, bin, extra))
      return ok, out, code
    end
    local ok, out, code = resume(root .. "/proj1", "KILL=1", "--num-cpus 2")
    assert.is_false(ok, out)
    assert.equal(137, code, out)
    support.must(string.format("cd %s && cp -a proj1 proj2 && sed -i 's/\"orig\"/\"copy\"/' proj2/s.lua", root))
    -- Resumed in the copy (the original still there), then moved elsewhere.
    support.must(string.format("cd %s && mv proj1 proj3", root))
    for _, case in ipairs({{"proj2", "copy"}, {"proj3", "orig"}}) do
      local dir = root .. "/" .. case[1]
      ok, out = resume(dir, "", "--resume")
      assert.is_true(ok, out)
      assert.no_match("init%.lua:%d+", out)
      local st, snap = support.statuses(dir .. "/res/p")
      local n = 0
      for id, status in pairs(st) do
        n = n + 1
        assert.equal("TERMINATED", status, id .. " in " .. case[1] .. ": " .. out)
      end
      assert.equal(2, n)
      for _, t in ipairs(snap.trials) do
        assert.equal(dir .. "/s.lua", t.loader.script)
        assert.equal(dir, t.loader.cwd)
        local rows = support.lines(dir .. "/res/p/" .. t.relative_logdir .. "/result.json")
        local last = core.json_decode(rows[#rows])
        assert.same({4, case[2]}, {last.i, last.who}, case[1])
      end
    end
    assert.is_nil(core.stat(root .. "/proj1"))
  end)

  it("moves every path of the files into the directory resumed, by the run that wrote it", function()
    local replay = require("tune.experiment.replay")
    local a, b, c, d = "/old/a/exp", "/old/b/exp", "/new/exp", "/old/d/exp"
    local state = {experiment_dir = a, trials = {
      -- Started under a: its directory relative to a, a checkpoint, an error.
      {trial_id = "t1", status = "ERROR", local_dir = a, relative_local_dir = "", logdir = a .. "/t1",
        relative_logdir = "t1", error_file = a .. "/t1/error.txt",
        checkpoints = {{dir = a .. "/t1/checkpoint_000001"}, {dir = "/data/given/checkpoint"}}},
      -- Pending, written before the relative fields: a's by the snapshot.
      {trial_id = "t2", status = "PENDING", local_dir = a, checkpoints = {}},
    }}
    local entries = {
      -- Runs resumed in d, then in b, each killed before its first snapshot.
      {event = "trial_added", trial = {trial_id = "t3", status = "PENDING", local_dir = d, relative_local_dir = "",
        checkpoints = {}}},
      {event = "status", trial_id = "t2", status = "RUNNING", logdir = b .. "/t2", relative_logdir = "t2"},
      {event = "checkpoint", trial_id = "t2", dir = b .. "/t2/checkpoint_000002"},
      {event = "checkpoint", trial_id = "t1", dir = c .. "/t1/checkpoint_000003"},
    }
    local by_id, order, ckpts = replay.trials(state, entries, c)
    assert.same({"t1", "t2", "t3"}, order)
    assert.same({c, c, c}, {by_id.t1.local_dir, by_id.t2.local_dir, by_id.t3.local_dir})
    assert.same({c .. "/t1", c .. "/t2"}, {by_id.t1.logdir, by_id.t2.logdir})
    assert.is_nil(by_id.t3.logdir)
    assert.equal(c .. "/t1/error.txt", by_id.t1.error_file)
    -- A checkpoint outside the experiment (a restore's) stays where it is.
    assert.same({c .. "/t1/checkpoint_000001", "/data/given/checkpoint"},
      {by_id.t1.checkpoints[1].dir, by_id.t1.checkpoints[2].dir})
    assert.equal(c .. "/t2/checkpoint_000002", ckpts.t2[1].dir)
    assert.equal(c .. "/t1/checkpoint_000003", ckpts.t1[1].dir)
    -- Not moved: every path stays.
    by_id = replay.trials({experiment_dir = a, trials = {{trial_id = "t1", status = "PENDING", local_dir = a,
      logdir = a .. "/t1", relative_logdir = "t1", checkpoints = {{dir = a .. "/t1/checkpoint_000001"}}}}}, {}, a)
    assert.same({a, a .. "/t1", a .. "/t1/checkpoint_000001"},
      {by_id.t1.local_dir, by_id.t1.logdir, by_id.t1.checkpoints[1].dir})
  end)

  --- Makes `d` unwritable: a read-only bind mount as root (chmod does not
  --- stop root), else chmod a-w. Returns the function that undoes it, or
  --- nil when a mount is not allowed here.
  local function read_only(d)
    local function sh(cmd) return support.sh("env -u LD_PRELOAD sh -c '" .. cmd .. "'") end
    if sh("test \"$(id -u)\" = 0") then
      if not sh("mount --bind " .. d .. " " .. d .. " && mount -o remount,ro,bind " .. d) then
        sh("umount " .. d)
        return nil
      end
      return function() sh("umount " .. d) end
    end
    assert(sh("chmod a-w " .. d))
    return function() sh("chmod u+w " .. d) end
  end

  it("refuses to resume an experiment directory it cannot write, naming it, before writing anything", function()
    -- The journal's and the snapshot's writes failed with warnings first,
    -- then the run refused naming a trial's result.json.
    local dir = support.tmpdir("resume-read-only")
    local how, code = run(dir, "TUNE_TEST_CRASH_AT_WRITE=20")
    assert.same({"signal", 9}, {how, code})
    local exp = dir .. "/resume"
    local undo = read_only(exp)
    if not undo then
      pending("a read-only bind mount needs CAP_SYS_ADMIN")
      return
    end
    local files = {}
    for _, name in ipairs(core.listdir(exp)) do files[name] = core.read_file(exp .. "/" .. name) or "dir" end
    local out
    how, code, out = run(dir, "", "--resume")
    undo()
    assert.same({"exit", 2}, {how, code}, out)
    assert.matches("cannot resume: the experiment directory cannot be written: " .. exp:gsub("%p", "%%%0")
      .. ": [^\n]*\n$", out)
    assert.is_nil(out:find("warning", 1, true), out)
    local after = {}
    for _, name in ipairs(core.listdir(exp)) do after[name] = core.read_file(exp .. "/" .. name) or "dir" end
    assert.same(files, after)
    -- Writable again, it resumes.
    how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
  end)

  it("refuses to resume when a trial that runs again cannot write its directory, changing nothing", function()
    local dir = support.tmpdir("resume-read-only-trial")
    local how, code = run(dir, "TUNE_TEST_CRASH_AT_WRITE=20")
    assert.same({"signal", 9}, {how, code})
    local exp = dir .. "/resume"
    -- A trial that had not finished, with its directory: it runs again.
    local tdir
    for id, status in pairs(state(dir)) do
      for _, name in ipairs(core.listdir(exp)) do
        if status ~= "TERMINATED" and status ~= "ERROR" and name:find(id, 1, true)
          and core.stat(exp .. "/" .. name) == "directory" then tdir = exp .. "/" .. name end
      end
    end
    assert.truthy(tdir, "no unfinished trial with a directory")
    local undo = read_only(tdir)
    if not undo then
      pending("a read-only bind mount needs CAP_SYS_ADMIN")
      return
    end
    local function snapshot()
      local files = {}
      local function walk(d)
        for _, name in ipairs(core.listdir(d) or {}) do
          local p = d .. "/" .. name
          if core.stat(p) == "directory" then files[p] = "dir" walk(p) else files[p] = core.read_file(p) end
        end
      end
      walk(exp)
      return files
    end
    local files = snapshot()
    local out
    how, code, out = run(dir, "", "--resume")
    local after = snapshot()
    undo()
    assert.same({"exit", 2}, {how, code}, out)
    assert.matches("cannot resume: [^\n]*" .. tdir:gsub("%p", "%%%0") .. ": [^\n]*\n$", out)
    assert.same(files, after)
    -- Writable again, it resumes.
    how, code, out = run(dir, "", "--resume")
    assert.same({"exit", 0}, {how, code}, out)
    check_complete(dir)
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
