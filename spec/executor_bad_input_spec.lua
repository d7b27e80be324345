-- Bad input never crashes the driver or another trial: a worker that exits,
-- segfaults or is killed; malformed, oversize or unknown messages; a
-- trainable that raises; a checkpoint that cannot be written. Each ends its
-- own trial in ERROR with a message naming the cause.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

describe("bad input", function()
  local dir, ex
  before_each(function()
    dir = support.tmpdir("bad")
    ex = support.executor{num_cpus = 4, max_message_bytes = 65536}
  end)
  after_each(support.check_clean)

  local function start(trial)
    local ev = ex:get_next_executor_event({trial}, true)
    assert.equal("PG_READY", ev.type)
    assert.is_true(ex:start_trial(trial))
  end

  --- Runs `bad` next to a healthy trial; returns the bad trial's ERROR
  --- event after checking the healthy one went on to finish its 5 steps.
  local function alongside_healthy(bad_name, config)
    local good = tune.Trial("counter", {config = {steps = 5}, local_dir = dir})
    local bad = tune.Trial(bad_name, {config = config or {}, local_dir = dir})
    start(good)
    start(bad)
    local err_ev
    local good_done = false
    local deadline = core.now() + 30
    while (not err_ev or not good_done) and core.now() < deadline do
      local ev = ex:get_next_executor_event({good, bad}, false, 1)
      if ev.type == "ERROR" then
        assert.equal(bad, ev.trial, "only the bad trial fails: " .. tostring(ev.error))
        err_ev = ev
        ex:stop_trial(bad, true, ev.error)
      elseif ev.type == "TRAINING_RESULT" and ev.trial == good then
        for _, r in ipairs(ev.result) do good:update_last_result(r) end
        if good.last_result.done then
          good_done = true
          ex:stop_trial(good)
        else
          ex:continue_training(good)
        end
      elseif ev.type == "TRAINING_RESULT" then
        ex:continue_training(bad)
      end
    end
    assert.truthy(err_ev, "the bad trial produced no ERROR")
    assert.is_true(good_done, "the healthy trial did not finish")
    assert.equal(5, good.last_result.step)
    assert.equal(tune.Trial.ERROR, bad.status)
    -- The error is kept in the trial's error file.
    local text = core.read_file(bad.logdir .. "/error.txt")
    assert.truthy(text and text:find(err_ev.error, 1, true))
    return err_ev, bad
  end

  it("a trainable that raises: the Lua traceback is kept", function()
    local ev, bad = alongside_healthy("raises")
    assert.matches("boom in the trainable", ev.error)
    assert.matches("stack traceback", ev.traceback)
    assert.matches("trainables.lua:%d+", core.read_file(bad.logdir .. "/error.txt"))
  end)

  it("a worker that exits", function()
    local ev = alongside_healthy("exits")
    assert.matches("exited unexpectedly with status 3", ev.error)
  end)

  it("a worker that segfaults: the message names the signal and stderr's last lines", function()
    local ev = alongside_healthy("segfaults")
    assert.matches("killed by signal 11", ev.error)
    assert.matches("about to crash", ev.traceback)
  end)

  it("a worker killed from outside", function()
    local ev = alongside_healthy("killed")
    assert.matches("killed by signal 9", ev.error)
  end)

  it("a malformed message", function()
    local ev = alongside_healthy("malformed")
    assert.matches("malformed message from worker.*not JSON", ev.error)
  end)

  it("an output message with an unknown stream (the TCP channel's framing)", function()
    local ev = alongside_healthy("bad_output_message")
    assert.matches("malformed output message", ev.error)
  end)

  it("an unknown message type", function()
    local ev = alongside_healthy("unknown_message")
    assert.matches('unknown message type "teleport"', ev.error)
  end)

  it("a config too large for the protocol fails its trial, naming the limit", function()
    local t = tune.Trial("counter", {config = {steps = 1, blob = string.rep("x", 100000)}, local_dir = dir})
    local ev = ex:get_next_executor_event({t}, true)
    assert.equal("PG_READY", ev.type)
    local ok = ex:start_trial(t)
    local msg = t.error_msg
    if ok then
      repeat ev = ex:get_next_executor_event({t}, false, 5) until ev.type == "ERROR"
      msg = ev.error
    end
    assert.matches("over the protocol's limit of 65536 %(TUNE_MAX_MESSAGE_BYTES%)", msg)
    -- The size it names is the request's: the 100,000-byte blob and a little.
    local size = tonumber(msg:match("request is (%d+) bytes"))
    assert.is_true(size > 100000 and size < 101000, msg)
  end)

  it("a second hello", function()
    local ev = alongside_healthy("second_hello")
    assert.matches("a second hello", ev.error)
  end)

  it("error(nil) and error({}) say what was raised", function()
    local ev = alongside_healthy("raises_nil")
    assert.matches("raised error%(nil%), an error without a message", ev.error)
    ev = alongside_healthy("raises_table")
    assert.matches("raised a table as its error", ev.error)
  end)

  it("an oversize message", function()
    local ev = alongside_healthy("oversize", {size = 200000})
    assert.matches("longer than the limit of 65536 bytes", ev.error)
  end)

  it("a result that cannot be encoded", function()
    local ev = alongside_healthy("unencodable")
    assert.matches("cannot report the result: cannot encode a function value as JSON at 'f'", ev.error, 1, true)
  end)

  it("a setup() that raises", function()
    local ev = alongside_healthy("bad_setup")
    assert.matches("setup failed on purpose", ev.error)
  end)

  it("a save_checkpoint() that raises", function()
    local good = tune.Trial("counter", {config = {steps = 3}, local_dir = dir})
    local bad = tune.Trial("bad_save", {local_dir = dir})
    start(good)
    start(bad)
    -- The bad trial's first result (the good one's may come first).
    repeat local ev = support.wait_event(ex, {good, bad}, "TRAINING_RESULT") until ev.trial == bad
    ex:save(bad, tune.CheckpointStorage.PERSISTENT)
    local ev = support.wait_event(ex, {good, bad}, "ERROR")
    assert.equal(bad, ev.trial)
    assert.matches("could not write checkpoint .*checkpoint_000000: .*disk on fire", ev.error)
    -- No half-written checkpoint is left.
    for _, name in ipairs(core.listdir(bad.logdir)) do
      assert.is_nil(name:match("checkpoint"), "left behind: " .. name)
    end
    ex:stop_trial(bad, true)
    ex:stop_trial(good)
  end)

  it("a file that creates an executor before its registration runs the trial, with a stand-in executor", function()
    -- It failed the trial; a real executor there would start workers of
    -- its own.
    local fixture = require("spec.fixtures.executor_first")
    local t = tune.Trial("late", {local_dir = dir})
    start(t)
    local ev = support.wait_event(ex, {t}, "TRAINING_RESULT")
    assert.equal(1, ev.result[1].x)
    assert.is_true(ev.result[1].stand_in)
    ex:stop_trial(t)
    fixture.executor:cleanup()
    assert.is_true(fixture.executor:close())
  end)

  it("a checkpoint directory that cannot be written", function()
    local trial = tune.Trial("class_counter", {local_dir = dir})
    start(trial)
    local ev = support.wait_event(ex, {trial}, "TRAINING_RESULT")
    trial:update_last_result(ev.result[1])
    -- A file where the checkpoint directory must go: the commit fails.
    assert(core.write_atomic(trial.logdir .. "/checkpoint_000001", "in the way"))
    ex:save(trial, tune.CheckpointStorage.PERSISTENT)
    ev = support.wait_event(ex, {trial}, "ERROR")
    assert.matches("could not write checkpoint .*checkpoint_000001", ev.error)
    ex:stop_trial(trial, true)
  end)

  it("executor options out of range are refused at the constructor, naming the option", function()
    local cases = {
      {{result_buffer_length = 1.5}, "result_buffer_length must be a whole number from 0 to 1000000, got 1.5"},
      {{max_message_bytes = -3}, "max_message_bytes must be a whole number from 0 to 2^40, got -3"},
      {{get_executor_event_wait_s = -1}, "get_executor_event_wait_s must be a finite number of seconds >= 0"},
      {{result_buffer_max_time_s = math.huge}, "result_buffer_max_time_s must be a finite number of seconds"},
      -- A node's amounts in fixed point would overflow; its GPUs each get a slot.
      {{num_cpus = 2 ^ 62}, "resource 'CPU' must be at most 1e14"},
      {{num_gpus = 2 ^ 62}, "resource 'GPU' must be at most 1e14"},
      {{num_gpus = 5000}, "a node has at most 4096 GPUs, got 5000"},
      {{resources = "x"}, "resources must be a table of name = amount, got string"},
      {{worker_path = true}, "worker_path must be a string, got boolean"},
      {{backend = 3}, "backend must be a string, got number"},
      -- Options that were accepted and ignored, or failed deep inside.
      {{backend = "sim"}, 'the simulator is tune.SimulatedExecutor{curve = ...} (or replay = ...), not backend "sim"'},
      {{backend_options = {partition = "x"}}, "backend_options is not for the local backend"},
      {{sim_host = {}}, "sim_host is not for the local backend"},
      {{console_stdout_fd = -3}, "console_stdout_fd must be a file descriptor (an integer >= 0), got -3"},
      {{console_stderr_fd = "x"}, 'console_stderr_fd must be a file descriptor (an integer >= 0), got string "x"'},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(tune.TrialExecutor, c[1])
      assert.is_false(ok)
      assert.matches("^TrialExecutor: [a-z ]*" .. c[2]:gsub("%p", "%%%0"), err)
    end
    -- The simulator's clock moves only while the runner waits.
    local ok, err = pcall(tune.SimulatedExecutor, {curve = function() end, get_executor_event_wait_s = 0})
    assert.is_false(ok)
    assert.matches("SimulatedExecutor: get_executor_event_wait_s", err, 1, true)
  end)

  it("refuses a NaN wait (it reached an undefined cast); tune.sleep too", function()
    local ex = tune.TrialExecutor{num_cpus = 1}
    local ok, err = pcall(function() return ex:get_next_executor_event({}, false, 0 / 0) end)
    ex:close()
    assert.is_false(ok)
    assert.matches("get_next_executor_event: timeout must be a number of seconds, got %-?nan", err)
    ok, err = pcall(function() tune.sleep(0 / 0) end)
    assert.is_false(ok)
    assert.matches("tune.sleep expects a number of seconds, got nan", err)
    ok, err = pcall(function() tune.sleep("0.5") end)
    assert.is_false(ok)
    assert.matches('executor_bad_input_spec%.lua:%d+: tune%.sleep expects a number of seconds, got string "0%.5"', err)
  end)

  it("a TUNE_* variable out of range is warned about and the default kept", function()
    local out = support.run_script(dir, [[
      local ex = require("tune").TrialExecutor{}
      print(ex.options.result_buffer_length, ex.options.get_executor_event_wait_s)
      ex:close()
    ]], nil, "TUNE_RESULT_BUFFER_LENGTH=-5 TUNE_GET_EXECUTOR_EVENT_WAIT_S=-1")
    assert.matches("TUNE_RESULT_BUFFER_LENGTH: result_buffer_length must be a whole number", out, 1, true)
    assert.matches("TUNE_GET_EXECUTOR_EVENT_WAIT_S: get_executor_event_wait_s must be a finite", out, 1, true)
    assert.matches("1\t5.0", out)
  end)
end)
