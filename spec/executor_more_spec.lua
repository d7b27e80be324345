-- Executor behaviour beyond the seed ports: exact numbers, the worker's
-- environment, GPUs by id, output routing, worker reuse, function
-- checkpoints, workers dying with the driver, the protocol handshake.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

local function start(ex, trial, others)
  local ev = ex:get_next_executor_event({trial}, true)
  assert.equal("PG_READY", ev.type)
  assert.is_true(ex:start_trial(trial))
end

--- The next result event, which must be `trial`'s (one trial running).
local function result(ex, trial)
  local ev = support.wait_event(ex, {trial}, "TRAINING_RESULT")
  assert.equal(trial, ev.trial)
  for _, r in ipairs(ev.result) do trial:update_last_result(r) end
  return trial.last_result, ev
end

--- The first result of each of several running trials, whichever order
--- they come in.
local function first_results(ex, trials)
  local got, n = {}, 0
  while n < #trials do
    local ev = support.wait_event(ex, trials, "TRAINING_RESULT")
    if not got[ev.trial] then
      for _, r in ipairs(ev.result) do ev.trial:update_last_result(r) end
      got[ev.trial] = ev.trial.last_result
      n = n + 1
    end
  end
  local out = {}
  for i, t in ipairs(trials) do out[i] = got[t] end
  return table.unpack(out)
end

describe("executor", function()
  local dir
  before_each(function() dir = support.tmpdir("more") end)
  after_each(support.check_clean)

  it("numbers cross the protocol exactly, NaN and infinities included", function()
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("numbers", {local_dir = dir})
    start(ex, t)
    local r = result(ex, t)
    assert.equal(1 / 3, r.third)
    assert.equal(5e-324, r.tiny)
    assert.equal(1.7976931348623157e308, r.big)
    assert.equal(math.pi, r.pi)
    assert.is_true(r.nan ~= r.nan)
    assert.equal(math.huge, r.inf)
    assert.equal(-math.huge, r.ninf)
    assert.equal(9007199254740991, r.int)
    assert.equal(math.type(r.int), "integer")
    assert.equal(math.type(r.one), "float")
    assert.equal("-0.0", string.format("%.1f", r.neg_zero))
    assert.equal(0.1 + 0.2, r.nested.a.b)
    assert.equal(math.type(r.training_iteration), "integer")
    ex:stop_trial(t)
  end)

  it("a worker runs in the trial directory with its own environment", function()
    local ex = support.executor{num_cpus = 4, num_gpus = 2}
    local cwd = core.getcwd()
    local a = tune.Trial("env", {local_dir = dir, resources = {cpu = 3, gpu = 1}})
    local b = tune.Trial("env", {local_dir = dir, resources = {cpu = 1, gpu = 1}})
    local c = tune.Trial("env", {local_dir = dir, resources = {cpu = 0, gpu = 0}})
    start(ex, a)
    start(ex, b)
    local ra, rb = first_results(ex, {a, b})
    assert.equal(core.realpath(a.logdir), ra.cwd)
    assert.equal(cwd, ra.orig)
    assert.equal("3", ra.omp)
    assert.equal("1", rb.omp)
    -- Each trial sees only the GPU it was given.
    assert.same({"0", "1"}, (function() local s = {ra.cuda, rb.cuda}; table.sort(s); return s end)())
    ex:stop_trial(a)
    ex:stop_trial(b)
    -- A trial that asked for no GPU sees none.
    support.wait_event(ex, {c}, "PG_READY", {next_trial_exists = true})
    assert.is_true(ex:start_trial(c))
    assert.equal("", result(ex, c).cuda)
    ex:stop_trial(c)
  end)

  it("log_to_file sends the trainable's output to the trial's files", function()
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("chatty", {local_dir = dir, log_to_file = {"stdout", "stderr"}})
    start(ex, t)
    result(ex, t)
    ex:stop_trial(t)
    ex:cleanup()
    assert.same({"hello from stdout"}, support.lines(t.logdir .. "/stdout"))
    assert.same({"hello from stderr"}, support.lines(t.logdir .. "/stderr"))
  end)

  it("log_to_file makes both files when the trial starts, even one nothing is written to", function()
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("resettable", {local_dir = dir, log_to_file = {"out.log", "logs/err.log"}})
    start(ex, t)
    result(ex, t)
    ex:stop_trial(t)
    ex:cleanup()
    assert.equal("", core.read_file(t.logdir .. "/out.log"))
    assert.equal("", core.read_file(t.logdir .. "/logs/err.log"))
  end)

  it("without log_to_file, output reaches the console prefixed with the trial's name", function()
    local p = io.popen("lua5.4 spec/fixtures/driver.lua chatty " .. dir .. " 2>&1")
    local out = p:read("a")
    assert.is_true(p:close())
    assert.matches("%(chatty_%x+ pid=%d+%) hello from stdout", out)
    assert.matches("%(chatty_%x+ pid=%d+%) hello from stderr", out)
  end)

  it("reuse_actors hands a finished trial's worker to the next trial", function()
    local ex = support.executor{num_cpus = 1, reuse_actors = true, prestart_workers = false}
    local t1 = tune.Trial("counter", {config = {steps = 2}, local_dir = dir})
    local t2 = tune.Trial("counter", {config = {steps = 2, scale = 10}, local_dir = dir})
    start(ex, t1)
    local r1 = result(ex, t1)
    ex:stop_trial(t1)
    assert.equal(1, ex:pg_counts().cached)
    start(ex, t2)
    local r2 = result(ex, t2)
    assert.equal(r1.pid, r2.pid)
    assert.equal(1, ex:pg_counts().spawned)
    -- The function restarted with the new config and fresh counters.
    assert.equal(10, r2.value)
    assert.equal(1, r2.training_iteration)
    assert.equal(t2.trial_id, r2.trial_id)
    ex:stop_trial(t2)
  end)

  it("a wait returns when its timeout passes, however short, while a worker is silent", function()
    -- A timer due at the start of the event loop's turn once left that
    -- turn's poll without a timeout: the wait lasted until the worker's
    -- next message, here never.
    local ex = support.executor{num_cpus = 1}
    local file = dir .. "/go"
    local t = tune.Trial("waits_for_file", {config = {file = file}, local_dir = dir})
    start(ex, t)
    for _, timeout in ipairs({0.0001, 0.0004, 0.0006, 0.001, 0.003}) do
      for _ = 1, 20 do
        assert.equal("YIELD", ex:get_next_executor_event({t}, false, timeout).type)
      end
    end
    assert(core.write_atomic(file, ""))
    assert.equal(1, result(ex, t).x)
    ex:stop_trial(t)
  end)

  it("a function trainable's checkpoint survives a pause onto a new worker", function()
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("counter", {config = {steps = 10}, local_dir = dir})
    start(ex, t)
    for _ = 1, 3 do
      local r = result(ex, t)
      assert.is_true(r.should_checkpoint)
      ex:continue_training(t)
    end
    local r = result(ex, t)
    assert.equal(4, r.step)
    local pid = r.pid
    ex:pause_trial(t)
    start(ex, t)
    r = result(ex, t)
    assert.not_equal(pid, r.pid)
    assert.equal(5, r.step)
    assert.equal(5, r.training_iteration)
    ex:stop_trial(t)
  end)

  it("refuses to start a running trial, to stop another executor's, to set RUNNING, and duplicate ids", function()
    -- (The second start failed the trial, its worker left running; another
    -- executor's stop marked it TERMINATED while its results still came; a
    -- trial set RUNNING without a worker kept the runner waiting for ever.)
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("counter", {config = {steps = 10}, local_dir = dir})
    start(ex, t)
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function() local r = ex:start_trial(t) return r end)
    assert.is_false(ok)
    assert.matches("executor_more_spec.lua:" .. (line + 1) .. ": start_trial: trial .* is already running: stop or "
      .. "pause it first", err)
    assert.equal("RUNNING", t.status)
    assert.equal(0, t.num_failures)
    local other = support.executor{num_cpus = 1}
    ok, err = pcall(other.stop_trial, other, t)
    assert.is_false(ok)
    assert.matches("stop_trial: trial .* runs on another executor: stop it there", err)
    assert.equal("RUNNING", t.status)
    assert.equal(1, result(ex, t).step)
    ex:stop_trial(t)
    assert.equal("TERMINATED", t.status)
    local u = tune.Trial("counter", {config = {steps = 1}, local_dir = dir})
    ok, err = pcall(ex.set_status, ex, u, "RUNNING")
    assert.is_false(ok)
    assert.matches("becomes RUNNING when start_trial starts its worker", err)
    assert.equal("PENDING", u.status)
    local r = tune.TrialRunner{trial_executor = ex}
    r:add_trial(tune.Trial("counter", {trial_id = "dup", config = {steps = 1}, local_dir = dir}))
    ok, err = pcall(r.add_trial, r, tune.Trial("counter", {trial_id = "dup", config = {steps = 1}, local_dir = dir}))
    assert.is_false(ok)
    assert.matches("add_trial: the experiment has a trial of id dup", err)
    r:cleanup()
  end)

  it("says which method was given what instead of a trial, at the caller's line", function()
    -- (Each failed inside the method: "attempt to index a nil value".)
    local ex = support.executor{num_cpus = 1}
    for _, m in ipairs({"start_trial", "stop_trial", "pause_trial", "save", "restore", "reset_trial"}) do
      local line = debug.getinfo(1, "l").currentline
      local ok, err = pcall(function() local r = ex[m](ex, "abc") return r end)
      assert.is_false(ok)
      assert.equal(string.format('spec/executor_more_spec.lua:%d: %s: expected a Trial, got string "abc"', line + 1, m), err)
    end
    local ok, err = pcall(ex.save, ex, tune.Trial("counter", {local_dir = dir}))
    assert.is_false(ok)
    assert.matches("save: trial .* has no directory yet: it has not started", err)
  end)

  it("a trial started from a saved checkpoint is restoring until its restore is done", function()
    -- (restoring_from was set from an undefined variable: never.)
    local ex = support.executor{num_cpus = 1}
    local t = tune.Trial("counter", {config = {steps = 10}, local_dir = dir})
    start(ex, t)
    result(ex, t)
    assert.is_not_nil(ex:save(t, "PERSISTENT"))
    local ev = support.wait_event(ex, {t}, "SAVING_RESULT")
    t.saving_to.dir_or_data = ev.result
    t:on_checkpoint(t.saving_to)
    ex:stop_trial(t)
    t:set_status("PENDING")
    start(ex, t)
    assert.is_true(t:is_restoring())
    assert.equal(ev.result, t.restoring_from.dir_or_data)
    support.wait_event(ex, {t}, "RESTORING_RESULT")
    ex:stop_trial(t)
  end)

  it("a class trainable keeps its state across pause and resume, with and without reuse", function()
    for _, reuse in ipairs({false, true}) do
      local ex = support.executor{num_cpus = 1, reuse_actors = reuse}
      local t = tune.Trial("class_counter", {local_dir = dir})
      start(ex, t)
      result(ex, t)
      ex:continue_training(t)
      assert.equal(2, result(ex, t).n)
      ex:pause_trial(t)
      start(ex, t)
      local r = result(ex, t)
      assert.equal(3, r.n)
      assert.equal(3, r.training_iteration)
      ex:stop_trial(t)
    end
  end)

  it("a save that is still under way delays the restore that needs it", function()
    -- Pause and restart at once: the second worker must wait for the first
    -- one's save before it restores.
    local ex = support.executor{num_cpus = 2, prestart_workers = false}
    local t = tune.Trial("slow_save_counter", {local_dir = dir})
    start(ex, t)
    result(ex, t)
    ex:pause_trial(t)
    start(ex, t)
    local r = result(ex, t)
    assert.equal(2, r.n)
    assert.equal(2, ex:pg_counts().spawned)
    ex:stop_trial(t)
  end)

  it("a prestarted worker takes the next trial, with that trial's environment", function()
    local ex = support.executor{num_cpus = 2, num_gpus = 1}
    local a = tune.Trial("env", {local_dir = dir, resources = {cpu = 1}})
    start(ex, a)
    result(ex, a)
    -- While the driver waited, a standby worker was started.
    assert.equal(1, ex:pg_counts().standby)
    local spawned = ex:pg_counts().spawned
    local b = tune.Trial("env", {local_dir = dir, resources = {cpu = 2, gpu = 1}})
    ex:stop_trial(a)
    start(ex, b)
    assert.equal(spawned, ex:pg_counts().spawned)
    assert.equal(0, ex:pg_counts().standby)
    local rb = result(ex, b)
    assert.equal("2", rb.omp)
    assert.equal("0", rb.cuda)
    assert.equal(core.realpath(b.logdir), rb.cwd)
    ex:stop_trial(b)
  end)

  it("a worker dies with its driver", function()
    local p = io.popen("lua5.4 spec/fixtures/driver.lua hang " .. dir .. " & echo driver $!")
    local driver, worker
    for line in p:lines() do
      driver = driver or tonumber(line:match("^driver (%d+)"))
      worker = worker or tonumber(line:match("^worker (%d+)"))
      if driver and worker then break end
    end
    assert.truthy(driver and worker)
    assert.truthy(core.kill(worker, 0))
    core.kill(driver, "KILL")
    p:close()
    local deadline = core.now() + 10
    while core.kill(worker, 0) and core.now() < deadline do core.sleep(0.05) end
    assert.is_nil(core.kill(worker, 0), "the worker outlived its driver")
  end)

  it("a worker that speaks another protocol version is refused", function()
    local fake = dir .. "/fake-worker.sh"
    assert(core.write_atomic(fake, '#!/bin/sh\necho \'{"type":"hello","v":99,"pid":1}\'\nsleep 5\n'))
    os.execute("chmod +x " .. fake)
    local ex = support.executor{num_cpus = 1, worker_path = fake}
    local t = tune.Trial("__fake", {local_dir = dir})
    start(ex, t)
    local ev = support.wait_event(ex, {t}, "ERROR")
    assert.matches("protocol version 99, the driver 1", ev.error)
    ex:stop_trial(t, true)
  end)

  --- A worker on two fifos, driven by hand; it dies within 30 s, so a
  --- reply held for ever ends the read (nil) rather than hanging the test.
  --- Its input and output, and a function reading its next message.
  local function hand_driven(name)
    local inp, out = dir .. "/" .. name .. "-in", dir .. "/" .. name .. "-out"
    support.must("mkfifo " .. inp .. " " .. out)
    os.execute(string.format("timeout 30 %s --worker < %s > %s &", core.worker_path(), inp, out))
    local w = assert(io.open(inp, "w"))
    local r = assert(io.open(out, "r"))
    w:setvbuf("no")
    return w, r, function() local l = r:read("l"); return l and core.json_decode(l) end
  end

  it("a worker's held ready and reset replies go out before it waits, in order", function()
    local w, r, recv = hand_driven("held")
    local function req(t) return core.json_encode(t) .. "\n" end
    local function trial(id, cfg)
      return {v = 1, trial_id = "held_" .. id, name = "held_" .. id, logdir = dir, experiment_tag = tostring(id),
        config = cfg, trainable = {cwd = core.getcwd(), script = core.getcwd() .. "/spec/fixtures/trainables.lua",
        args = {}, name = "resettable"}}
    end
    local function with(t, extra) for k, v in pairs(extra) do t[k] = v end return t end
    assert.equal("hello", recv().type)
    -- A start with nothing after it: the ready comes though nothing follows.
    w:write(req(with(trial(1, {a = 1}), {type = "start", id = 1})))
    local m = recv()
    assert.same({"ready", 1}, {m and m.type, m and m.re})
    -- A reset likewise.
    w:write(req(with(trial(2, {a = 2}), {type = "reset", id = 2})))
    m = recv()
    assert.same({"reset", 2, true}, {m and m.type, m and m.re, m and m.ok})
    -- A reset and a train in one write: the reset's reply, then the result.
    w:write(req(with(trial(3, {a = 3}), {type = "reset", id = 3})) .. req{type = "train", id = 4, n = 1})
    m = recv()
    assert.same({"reset", 3, true}, {m and m.type, m and m.re, m and m.ok})
    m = recv()
    assert.same({"result", 4}, {m and m.type, m and m.re})
    assert.equal(1, m.results[1].m._metric)
    w:write(req{type = "stop", id = 5})
    m = recv()
    assert.same({"stopped", 5}, {m and m.type, m and m.re})
    w:close()
    r:close()
  end)

  it("after a reset that failed, the train sent with it does not run the old trial", function()
    -- Driven by hand as above: reset_config() returns false, nil, raises.
    for _, mode in ipairs{"false", "nil", "raise"} do
      local w, r, recv = hand_driven("unreset-" .. mode)
      local function req(t) return core.json_encode(t) .. "\n" end
      local function trial(id, typ)
        return {type = typ, id = id, v = 1, trial_id = "unreset_" .. id, name = "unreset_" .. id, logdir = dir,
          experiment_tag = tostring(id), config = {mode = mode}, trainable = {cwd = core.getcwd(),
          script = core.getcwd() .. "/spec/fixtures/trainables.lua", args = {}, name = "no_reset_counter"}}
      end
      assert.equal("hello", recv().type)
      w:write(req(trial(1, "start")) .. req{type = "train", id = 2, n = 1})
      local m = recv()
      assert.same({"ready", 1}, {m and m.type, m and m.re})
      m = recv()
      assert.same({"result", 2, 1}, {m and m.type, m and m.re, m and m.results[1].m.n})
      -- The reset and its train in one write, as the executor sends them.
      w:write(req(trial(3, "reset")) .. req{type = "train", id = 4, n = 1})
      m = recv()
      if mode == "raise" then
        assert.same({"error", 3}, {m and m.type, m and m.re}, mode)
      else
        assert.same({"reset", 3, false}, {m and m.type, m and m.re, m and m.ok}, mode)
      end
      m = recv()
      assert.same({"error", 4}, {m and m.type, m and m.re}, mode)
      assert.matches("not reset", m.message, 1, true)
      w:write(req{type = "stop", id = 5})
      m = recv()
      assert.same({"stopped", 5}, {m and m.type, m and m.re}, mode)
      w:close()
      r:close()
    end
  end)

  it("a missing worker binary fails the start with a message", function()
    local ex = support.executor{num_cpus = 1, worker_path = dir .. "/no-such-tunelua"}
    local t = tune.Trial("__fake", {local_dir = dir})
    ex:get_next_executor_event({t}, true)
    assert.is_false(ex:start_trial(t))
    assert.equal(tune.Trial.ERROR, t.status)
    assert.matches("could not start worker .*no%-such%-tunelua", t.error_msg)
  end)
end)
