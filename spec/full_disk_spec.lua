-- A trial whose result rows cannot be written (a full disk, a file-size
-- limit) fails, with the file and the error named, and its logs never
-- have a hole; the other trials go on with nothing lost, and the run's
-- exit status says a trial failed. The write fails deterministically:
-- TUNE_TEST_TORN_LOG_WRITE=n (the driver's n-th log append writes half
-- and fails with ENOSPC, engine/writebehind.c) at every n of a run, and a
-- real EFBIG from RLIMIT_FSIZE (as spec/c/test_engine.c's fsize helpers).
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local exp = "spec/fixtures/experiments/full_disk_exp.lua"

--- Runs the fixture into `dir` under `env` ("K=V ..."), after the shell
--- commands `pre` (a limit); its exit code and output.
local function run(dir, env, pre, extra)
  local p = io.popen(string.format("sh -c '%sexec env %s %s %s %s %s' 2>&1", pre or "", env or "", tunelua,
    extra or "", exp, dir))
  local out = p:read("a")
  local _, how, code = p:close()
  assert(how == "exit", "the driver died: " .. out)
  return code, out
end

--- The experiment's trials by config x: {status=, num_failures=, error_msg=,
--- logdir=}, as tune.ExperimentAnalysis reads them.
local function trials(dir)
  local out = {}
  for _, t in ipairs(require("tune.analysis").ExperimentAnalysis(dir .. "/full").trials) do
    out[t.config.x] = t
  end
  return out
end

--- The `i` column of a trial's result.json and progress.csv, which must
--- agree.
local function logged(t, what)
  local from_json = {}
  for _, line in ipairs(support.lines(t.logdir .. "/result.json")) do
    from_json[#from_json + 1] = assert(core.json_decode(line), "a torn line in result.json: " .. line).i
  end
  assert.same(from_json, support.csv_column(t.logdir .. "/progress.csv", "i"), what .. ": the two logs differ")
  return from_json
end

--- Rows without a hole: from 1, each iteration the one after the row
--- before it, or an earlier one (a retry from a checkpoint logs again).
local function assert_no_hole(rows, what)
  for k, i in ipairs(rows) do
    local prev = rows[k - 1] or 0
    assert(i >= 1 and i <= prev + 1, string.format("%s: a hole in the logs: %s", what, table.concat(rows, " ")))
  end
end

--- `tunelua analyze DIR`: its exit code and output.
local function analyze(dir)
  local p = io.popen(string.format("%s analyze %s 2>&1", tunelua, dir))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

--- The statuses the journal gave a trial, in order.
local function journaled(dir, trial_id)
  local out = {}
  for _, line in ipairs(support.lines(dir .. "/full/experiment_journal.jsonl")) do
    local e = core.json_decode(line)
    if e and e.event == "status" and e.trial_id == trial_id then out[#out + 1] = e.status end
  end
  return table.concat(out, " ")
end

local WRITE_FAILED = "cannot write [^\n]*/([%a.]+): No space left on device %(the trial's results from "
  .. "training_iteration (%d+) on were not logged%)"

describe("a result row that cannot be written", function()
  for _, retry in ipairs({false, true}) do
    it("fails its trial, at every log write of a run, leaving no hole in its logs ("
        .. (retry and "max_failures = 1, a checkpoint each result" or "max_failures = 0") .. ")", function()
      local env = retry and "MAX_FAILURES=1 CHECKPOINT=1" or ""
      local n, failed, running, ended, retried = 1, 0, 0, 0, 0
      while true do
        local dir = support.tmpdir("full-torn-" .. tostring(retry) .. "-" .. n)
        local code, out = run(dir, env .. " TUNE_TEST_TORN_LOG_WRITE=" .. n)
        local what = "log write " .. n .. " failed"
        local ts = trials(dir)
        if not out:find("No space left on device", 1, true) then
          -- Past the run's last log write: nothing failed.
          assert.equal(0, code, out)
          for x = 1, 3 do assert.same({1, 2, 3, 4, 5, 6}, logged(ts[x], "x = " .. x), out) end
          break
        end
        failed = failed + 1
        local bad
        for x = 1, 3 do
          local t = ts[x]
          local rows = logged(t, what .. ", x = " .. x)
          assert_no_hole(rows, what .. ", x = " .. x)
          if t.status == "ERROR" or t.num_failures > 0 then
            assert.is_nil(bad, what .. ": two trials failed")
            bad = t
          else
            -- The others have every row, once.
            assert.equal("TERMINATED", t.status, what)
            assert.same({1, 2, 3, 4, 5, 6}, rows, what .. ", x = " .. x)
          end
        end
        assert(bad, what .. ": no trial failed\n" .. out)
        local file, from = tostring(bad.error_msg):match(WRITE_FAILED)
        assert(file == "result.json" or file == "progress.csv", what .. ": " .. tostring(bad.error_msg))
        local error_txt = core.read_file(bad.logdir .. "/error.txt") or ""
        assert.truthy(error_txt:find(bad.error_msg, 1, true), what .. ": error.txt: " .. error_txt)
        local statuses = journaled(dir, bad.trial_id)
        local rows = logged(bad, what)
        if bad.status == "ERROR" then
          -- The trial's rows end before the results that were lost.
          assert.is_true(#rows < 6 and (rows[#rows] or 0) < tonumber(from), what)
          assert.equal(1, code, out)
          assert.matches("Trials did not complete: [^\n]*" .. bad.trial_id .. " %(ERROR: cannot write", out)
          -- A trial that had ended lost its last rows: it failed after its
          -- end (not retried: the scheduler and the searcher have it complete).
          if statuses:find("TERMINATED ERROR$") then ended = ended + 1 else running = running + 1 end
        else
          -- Retried from its checkpoint: every row is there, after it.
          assert.is_true(retry, what)
          assert.equal("TERMINATED", bad.status)
          assert.equal(1, bad.num_failures)
          assert.equal(6, rows[#rows], what)
          assert.equal(0, code, out)
          retried = retried + 1
        end
        n = n + 1
      end
      assert.is_true(failed >= 8, "only " .. failed .. " log writes")
      if retry then
        -- (With a checkpoint each result, every row is written before its
        -- save: none waits for the trial's end.)
        assert.is_true(retried > 0, "no trial retried")
      else
        -- Both ways a failure reaches the driver: while the trial runs,
        -- and after its end (its last row goes with its files' close).
        assert.is_true(ended > 0 and running > 0, string.format("%d after the end, %d running", ended, running))
      end
    end)
  end

  it("fails only the trial whose file cannot grow (RLIMIT_FSIZE); a resume of the errored trial logs "
      .. "every row once", function()
    local dir = support.tmpdir("full-fsize")
    -- 128 blocks of 512 bytes (dash): the padded trial's logs outgrow
    -- 64 KiB after some rows (8 KiB each), the others' and the
    -- experiment's files stay far below it. SIGXFSZ is not trapped here:
    -- tunelua ignores it (it killed the driver, leaving a torn row).
    local code, out = run(dir, "PAD_TRIAL=2 ITERS=20", "ulimit -f 128 && ")
    assert.equal(1, code, out)
    local ts = trials(dir)
    for _, x in ipairs({1, 3}) do
      assert.equal("TERMINATED", ts[x].status)
      local rows = logged(ts[x], "x = " .. x)
      assert.equal(20, #rows)
      assert_no_hole(rows, "x = " .. x)
    end
    local bad = ts[2]
    assert.equal("ERROR", bad.status)
    assert.equal(1, bad.num_failures)
    assert.matches("cannot write [^\n]*/progress%.csv: File too large %(the trial's results from training_iteration "
      .. "%d+ on were not logged%)", bad.error_msg)
    assert.matches(bad.error_msg, core.read_file(bad.logdir .. "/error.txt"), 1, true)
    local rows = logged(bad, "x = 2")
    assert.is_true(#rows > 0 and #rows < 20, table.concat(rows, " "))
    assert_no_hole(rows, "x = 2")
    assert.matches("Trials did not complete: [^\n]*%(ERROR: cannot write [^\n]*progress%.csv: File too large", out)
    -- What the run left is read back as it ended.
    local code2, listing = analyze(dir .. "/full")
    assert.equal(0, code2, listing)
    assert.matches("3 trials %(1 ERROR, 2 TERMINATED%)", listing)
    -- The errored trial runs again (no checkpoint: from the start), its
    -- logs cut first: each iteration once.
    code, out = run(dir, "PAD_TRIAL=2 ITERS=20", nil, "--resume=ERRORED_ONLY")
    assert.equal(0, code, out)
    ts = trials(dir)
    local all = {}
    for i = 1, 20 do all[i] = i end
    for x = 1, 3 do
      assert.equal("TERMINATED", ts[x].status)
      assert.same(all, logged(ts[x], "after the resume, x = " .. x))
    end
  end)

  it("leaves an experiment whose last state could not be written readable: analyze applies the journal",
      function()
    -- The run's final snapshot failed (a full disk): the one on disk is
    -- older, from before any trial, and the journal has the rest.
    local dir = support.tmpdir("full-state")
    local code, out = run(dir, "")
    assert.equal(0, code, out)
    local exp_dir = dir .. "/full"
    local name
    for _, f in ipairs(core.listdir(exp_dir)) do
      if f:match("^experiment_state%-") then name = f end
    end
    local state = core.json_decode(core.read_file(exp_dir .. "/" .. name))
    state.trials, state.journal_seq = {}, 0
    assert(core.write_atomic(exp_dir .. "/" .. name, core.json_encode(state)))
    local ts = trials(dir)
    for x = 1, 3 do
      assert.equal("TERMINATED", ts[x].status)
      assert.equal(6, ts[x].last_result.i)
    end
    local code2, listing = analyze(exp_dir)
    assert.equal(0, code2, listing)
    assert.matches("3 trials %(3 TERMINATED%)", listing)
  end)
end)

describe("a trial directory that cannot be made", function()
  it("fails that trial naming the directory and the error, with no position of tunelua's", function()
    -- The error was "<tunelua>/lua/tune/experiment/trial.lua:415: <dir>: No
    -- space left on device". A tmpfs with few inodes: the experiment's
    -- files and the first trials' directories fit, the later ones do not.
    local tune = require("tune")
    require("spec.fixtures.run_trainables")
    local fs, sh = support.tmpfs("full-inodes", "size=2m,nr_inodes=24")
    if not fs then
      pending("mounting a tmpfs needs root")
      return
    end
    local ok, a = pcall(tune.run, "steps", {local_dir = fs, name = "inodes", config = {x = tune.uniform(0, 1), iters = 2},
      num_samples = 20, verbose = 0, raise_on_failed_trial = false, max_concurrent_trials = 2})
    sh("umount " .. fs)
    assert(ok, tostring(a))
    local failed = 0
    for _, t in ipairs(a.trials) do
      if t.status == "ERROR" then
        failed = failed + 1
        assert.matches("^cannot make the trial directory " .. fs:gsub("%p", "%%%0") .. "/inodes/steps_.*: No space left on device$",
          t.error_msg)
      else
        assert.equal("TERMINATED", t.status)
      end
    end
    assert(failed > 0 and failed < 20, "failed: " .. failed)
  end)
end)
