-- Port of Ray's testTrialCleanup: a graceful stop lets cleanup() run
-- (4 s step + 4 s cleanup), and TUNE_FORCE_TRIAL_CLEANUP_S cuts it short.
-- Timing-sensitive: registered RUN_SERIAL.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

describe("testTrialCleanup", function()
  local dir
  before_each(function() dir = support.tmpdir("cleanup") end)
  after_each(support.check_clean)

  local function start(ex, trial)
    local ev = ex:get_next_executor_event({trial}, true)
    assert.equal("PG_READY", ev.type)
    assert.is_true(ex:start_trial(trial))
    assert.equal(tune.Trial.RUNNING, trial.status)
  end

  it("terminates gracefully by default (the whole cleanup runs)", function()
    local ex = support.executor{num_cpus = 2}
    local trial = tune.Trial("cleanup_b", {config = {foo = 0}, local_dir = dir,
      log_to_file = {"stdout", "stderr"}})
    start(ex, trial)
    core.sleep(1)
    ex:stop_trial(trial)
    local t0 = core.now()
    ex:cleanup({trial})
    -- 4 - 1 + 4 seconds.
    assert.is_true(core.now() - t0 >= 6, "cleanup took " .. (core.now() - t0))
    local out = table.concat(support.lines(trial.logdir .. "/stdout"), "|")
    assert.equal("Step start|Step done|Cleanup start|Cleanup done", out)
  end)

  it("kills the worker after TUNE_FORCE_TRIAL_CLEANUP_S", function()
    local ex = support.executor{num_cpus = 2, force_trial_cleanup_s = 1}
    local trial = tune.Trial("cleanup_b", {config = {foo = 0}, local_dir = dir,
      log_to_file = {"stdout", "stderr"}})
    start(ex, trial)
    core.sleep(2)
    ex:stop_trial(trial)
    local t0 = core.now()
    ex:cleanup({trial})
    -- Less than 1 s plus a margin: the 4 s cleanup was cut short.
    assert.is_true(core.now() - t0 < 2.0, "cleanup took " .. (core.now() - t0))
    local out = support.lines(trial.logdir .. "/stdout")
    assert.not_equal("Cleanup done", out[#out])
    -- Auto-filled metrics were there before any report.
    assert.is_number(trial.last_result.pid)
    assert.equal(trial.trial_id, trial.last_result.trial_id)
    assert.is_nil(trial.last_result.my_metric)
  end)
end)
