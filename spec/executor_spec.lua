-- Ports of Ray's RayTrialExecutorTest (../shared/seeds), against
-- tune.TrialExecutor. Every test runs twice: on a 2-CPU node (Ray's setUp)
-- and in the "local mode" variant (one CPU, one pending group: trials run
-- one at a time; tunelua has no in-process mode, see docs/reference/executor.md).
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.trainables")

local function suite(label, executor_opts)
  describe("TrialExecutor " .. label, function()
    local ex, dir

    local function new_executor(extra)
      local o = {}
      for k, v in pairs(executor_opts) do o[k] = v end
      for k, v in pairs(extra or {}) do o[k] = v end
      return support.executor(o)
    end

    before_each(function()
      dir = support.tmpdir("executor")
      ex = new_executor()
    end)
    after_each(support.check_clean)

    local function new_trial(name, opts)
      opts = opts or {}
      opts.local_dir = dir
      return tune.Trial(name, opts)
    end

    local function simulate_starting_trial(trial)
      local ev = ex:get_next_executor_event({trial}, true)
      assert.equal("PG_READY", ev.type)
      assert.is_true(ex:start_trial(trial))
      assert.equal(tune.Trial.RUNNING, trial.status)
    end

    local function simulate_getting_result(trial)
      local ev = support.wait_event(ex, {trial}, "TRAINING_RESULT")
      for _, r in ipairs(ev.result) do trial:update_last_result(r) end
      return ev
    end

    local function process_trial_save(trial, value)
      local checkpoint = trial.saving_to
      checkpoint.dir_or_data = value
      trial:on_checkpoint(checkpoint)
    end

    local function simulate_saving(trial)
      local checkpoint = ex:save(trial, tune.CheckpointStorage.PERSISTENT)
      assert.equal(checkpoint, trial.saving_to)
      assert.is_nil(trial.checkpoint.dir_or_data)
      local ev = ex:get_next_executor_event({trial}, false)
      assert.equal("SAVING_RESULT", ev.type)
      process_trial_save(trial, ev.result)
      assert.equal(checkpoint, trial.checkpoint)
      return checkpoint
    end

    it("testStartStop", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    it("testAsyncSave: the checkpoint is set only when the save completes", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      simulate_getting_result(trial)
      local c = simulate_saving(trial)
      -- The directory is complete on disk, with the counters at save time.
      assert.equal(trial.logdir .. "/checkpoint_000001", c.dir_or_data)
      assert.truthy(core.stat(c.dir_or_data .. "/mock_agent.json"))
      local meta = core.json_decode(core.read_file(c.dir_or_data .. "/.tune_metadata.json"))
      assert.equal(1, meta.training_iteration)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    it("testSaveRestore", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      simulate_getting_result(trial)
      simulate_saving(trial)
      -- Two more iterations, then back to the checkpoint at iteration 1.
      ex:continue_training(trial)
      simulate_getting_result(trial)
      assert.equal(2, trial.last_result.training_iteration)
      assert.is_true(ex:restore(trial))
      assert.is_true(trial:is_restoring())
      local ev = support.wait_event(ex, {trial}, "RESTORING_RESULT")
      assert.equal(trial, ev.trial)
      trial:on_restore()
      ex:continue_training(trial)
      simulate_getting_result(trial)
      assert.equal(2, trial.last_result.training_iteration)
      assert.equal(20, trial.last_result.timesteps_total)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    it("testPauseResume: pausing works for trials in flight", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      ex:pause_trial(trial)
      assert.equal(tune.Trial.PAUSED, trial.status)
      simulate_starting_trial(trial)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    it("testSavePauseResumeErrorRestore: a pause checkpoint does not replace the restore checkpoint", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      simulate_getting_result(trial)
      local persistent = simulate_saving(trial)
      ex:continue_training(trial)
      simulate_getting_result(trial)
      assert.equal(2, trial.last_result.training_iteration)
      ex:pause_trial(trial)
      assert.equal(tune.Trial.PAUSED, trial.status)
      assert.equal(tune.CheckpointStorage.MEMORY, trial.checkpoint.storage_mode)
      simulate_starting_trial(trial)
      -- Resumed from the pause checkpoint: iteration 3 comes next.
      simulate_getting_result(trial)
      assert.equal(3, trial.last_result.training_iteration)
      trial:set_status(tune.Trial.ERROR)
      assert.equal(persistent, trial.checkpoint)
      assert.is_true(ex:restore(trial))
      support.wait_event(ex, {trial}, "RESTORING_RESULT")
      trial:on_restore()
      ex:continue_training(trial)
      simulate_getting_result(trial)
      assert.equal(2, trial.last_result.training_iteration)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    it("testStartFailure", function()
      local trial = new_trial("asdf", {resources = tune.Resources(1, 0)})
      assert.is_false(ex:start_trial(trial))
      assert.equal(tune.Trial.ERROR, trial.status)
      assert.matches("Invalid trainable", trial.error_msg)
    end)

    it("testPauseResume2: pausing works for trials being processed", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      simulate_getting_result(trial)
      ex:pause_trial(trial)
      assert.equal(tune.Trial.PAUSED, trial.status)
      simulate_starting_trial(trial)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end)

    local function pause_and_start(buffer_length)
      ex = new_executor{result_buffer_length = buffer_length, result_buffer_min_time_s = 1}
      local base = math.max(buffer_length, 1)
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      local ev = simulate_getting_result(trial)
      assert.equal(base, #ev.result)
      assert.equal(base, trial.last_result.training_iteration)
      ex:pause_trial(trial)
      assert.equal(tune.Trial.PAUSED, trial.status)
      simulate_starting_trial(trial)
      simulate_getting_result(trial)
      assert.equal(base * 2, trial.last_result.training_iteration)
      ex:stop_trial(trial)
      assert.equal(tune.Trial.TERMINATED, trial.status)
    end

    it("testPauseAndStartNoBuffer", function() pause_and_start(0) end)
    it("testPauseAndStartTrivialBuffer", function() pause_and_start(1) end)
    it("testPauseAndStartActualBuffer", function() pause_and_start(8) end)

    it("testNoResetTrial: reset_trial is false without reset_config", function()
      local trial = new_trial("__fake")
      simulate_starting_trial(trial)
      local exists = ex:reset_trial(trial, {}, "modified_mock")
      assert.is_false(exists)
      assert.equal(tune.Trial.RUNNING, trial.status)
    end)

    it("testResetTrial", function()
      local trial = new_trial("reset_b", {config = {foo = 0}})
      simulate_starting_trial(trial)
      local exists = ex:reset_trial(trial, {hi = 1}, "modified_mock")
      assert.is_true(exists)
      assert.equal(1, trial.config.hi)
      assert.equal("modified_mock", trial.experiment_tag)
      assert.equal(tune.Trial.RUNNING, trial.status)
      -- The worker took the reset (an error would come back as an event).
      local ev = simulate_getting_result(trial)
      assert.equal(1, ev.result[#ev.result].config.hi)
    end)

    it("testExperimentTagTruncation: trial directory names stay within 200 characters", function()
      local tag = "0_" .. string.rep("a", 50) .. "=0.71429," .. string.rep("b", 50) .. "=" .. string.rep("long", 40)
      local trial = new_trial("__fake", {experiment_tag = tag,
        config = {[string.rep("a", 50)] = 5.0 / 7, [string.rep("b", 50)] = string.rep("long", 40)}})
      simulate_starting_trial(trial)
      local base = trial.logdir:match("[^/]+$")
      assert.is_true(#base <= 200, "basename has " .. #base .. " characters")
      ex:stop_trial(trial)
    end)
  end)
end

suite("(2 CPUs)", {num_cpus = 2})
if support.backend() == "local" then
  -- The allocation of the Slurm run is two CPUs: the variant is local only.
  suite("(local mode: 1 CPU, one trial at a time)", {num_cpus = 1, max_pending_trials_pg = 1})
end
