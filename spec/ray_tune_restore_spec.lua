-- Ray's test_tune_restore, ported: a run restored from a checkpoint path,
-- experiments that fail part-way and resume (grids, preset points, new
-- resources), fail_fast = "raise" and the driver's working directory.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")

-- The fail-and-resume experiment of TuneFailResumeGridTest, run by tunelua
-- (one pending trial at a time, as Ray's TUNE_MAX_PENDING_TRIALS_PG = 1):
-- FailureInjectorCallback ends the first run when it has `fail_at`
-- trials; the resume checks how many it starts with (CheckStateCallback)
-- and what the pending trials ask for (CheckTrialResourcesCallback);
-- prints the trials' counts per config value and their CPUs.
local FAIL_RESUME = [==[
local tune = require("tune")
package.path = %q .. "/?.lua;" .. package.path
require("spec.fixtures.run_trainables")
local dir, fail_at, preset, cpus = arg[1], tonumber(arg[2]), arg[3] == "preset", tonumber(arg[4])
local function options(callbacks)
  local o = {num_samples = preset and 6 or 3, fail_fast = true, stop = {training_iteration = 2},
    config = {test = tune.grid_search({1, 2, 3}), test2 = tune.grid_search({1, 2, 3})},
    local_dir = dir, name = "grid", verbose = 0, callbacks = callbacks}
  if preset then
    o.search_alg = tune.search.BasicVariantGenerator{
      points_to_evaluate = {{test = -1, test2 = -1}, {test = -1}, {test2 = -1}}}
  end
  return o
end
local function check_resources(expected)
  local checked = false
  return {on_step_begin = function(_, iteration, trials)
    if checked or iteration < 1 then return end
    for _, t in ipairs(trials) do
      local cpu = t.placement_group_factory:required_resources().CPU
      if t.status == "PENDING" and cpu ~= expected then print("pending", t.trial_id, "asks for", cpu) end
    end
    checked = true
  end}
end
local inject = {on_step_end = function(_, _, trials)
  if #trials == fail_at then error("Failing after " .. fail_at .. " trials.") end
end}
local ok, err = pcall(tune.run, "scored", options({inject, check_resources(1)}))
print("first run raised", not ok, (tostring(err):match("Failing after %%d+ trials")))
local seen
local o = options({{on_step_begin = function(_, _, trials) seen = seen or #trials end}, check_resources(cpus or 1)})
o.resume, o.resources_per_trial = true, cpus and {cpu = cpus} or nil
local a = tune.run("scored", o)
print("resumed with", seen, "trials", #a.trials)
for _, key in ipairs({"test", "test2"}) do
  local n = {}
  for _, t in ipairs(a.trials) do n[t.config[key]] = (n[t.config[key]] or 0) + 1 end
  print(key, n[-1] or 0, n[1], n[2], n[3])
end
]==]

local function fail_resume(dir, fail_at, preset, cpus)
  return support.run_script(dir, string.format(FAIL_RESUME, assert(core.getcwd())),
    string.format("%s %d %s %s", dir .. "/out", fail_at, preset and "preset" or "grid", cpus or ""),
    "TUNE_MAX_PENDING_TRIALS_PG=1")
end

describe("Ray's test_tune_restore", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-restore") end)
  after_each(support.check_clean)

  local function first_checkpoint()
    tune.run("scored", {name = "TuneRestoreTest", stop = {training_iteration = 1}, checkpoint_freq = 1,
      local_dir = dir, verbose = 0})
    local path = support.must("find " .. dir .. " -type d -name checkpoint_000001"):match("[^\n]+")
    assert.is_truthy(path)
    return path
  end

  it("testTuneRestore: a run restored from a checkpoint trains on from it", function()
    local path = first_checkpoint()
    local a = tune.run("scored", {name = "TuneRestoreTest", stop = {training_iteration = 2}, checkpoint_freq = 1,
      restore = path, local_dir = dir, verbose = 0})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.equal(2, a.trials[1].last_result.i) -- one more iteration than the checkpoint's
  end)

  it("testPostRestoreCheckpointExistence: the checkpoint restored from is not deleted", function()
    local path = first_checkpoint()
    tune.run("scored", {name = "TuneRestoreTest", stop = {training_iteration = 2}, checkpoint_freq = 1,
      keep_checkpoints_num = 1, restore = path, local_dir = dir, verbose = 0})
    assert.is_true(support.exists(path .. "/.tune_metadata.json"))
  end)

  it("testFailResumeGridSearch: the resumed grid makes every variant once", function()
    local out = fail_resume(dir, 20)
    assert.matches("first run raised\ttrue\tFailing after 20 trials", out)
    assert.matches("resumed with\t20\ttrials\t27", out)
    assert.matches("test\t0\t9\t9\t9", out)
    assert.matches("test2\t0\t9\t9\t9", out)
  end)

  it("testResourceUpdateInResume: the pending trials take the resuming run's resources_per_trial", function()
    local out = fail_resume(dir, 20, false, 2)
    assert.matches("resumed with\t20\ttrials\t27", out)
    assert.not_matches("pending", out)
  end)

  for _, case in ipairs({{"testFailResumeWithPreset", 5, "early"}, {"testFailResumeAfterPreset", 15, "after the points"}}) do
    it(case[1] .. ": preset points and samples resumed " .. case[3], function()
      local out = fail_resume(dir, case[2], true)
      assert.matches("resumed with\t" .. case[2] .. "\ttrials\t34", out)
      assert.matches("test\t4\t10\t10\t10", out)
      assert.matches("test2\t4\t10\t10\t10", out)
    end)
  end

  it("TrainableCrashWithFailFast: fail_fast = 'raise' raises the trainable's own error; testWorkingDir", function()
    local out = support.run_script(dir, [=[
local tune = require("tune")
local ok, err = pcall(tune.run, function()
  tune.report({a = 1})
  tune.sleep(0.1)
  error("Error happens in trainable!!")
end, {fail_fast = "raise", local_dir = arg[1], verbose = 0, name = "crash"})
print("raised", not ok, tostring(err):match("Error happens in trainable!!"))
-- Trainables know the driver's working directory.
local cwd = os.getenv("PWD")
local a = tune.run(function()
  tune.report({same = os.getenv("TUNE_ORIG_WORKING_DIR") == cwd})
end, {local_dir = arg[1], verbose = 0, name = "wd"})
print("working dir", a.trials[1].last_result.same)
]=], dir .. "/out")
    assert.matches("raised\ttrue\tError happens in trainable!!", out)
    assert.matches("working dir\ttrue", out)
  end)

  it("SearcherTest testSaveRestoreDir: save_to_dir, then restore_from_dir in another searcher", function()
    local Searcher = tune.search.Searcher
    local Mock = Searcher:extend(nil, "MockSearcher")
    function Mock:__init(data) Searcher.__init(self) self.data = data end
    function Mock:save() return {data = self.data} end
    function Mock:restore(state) self.data = state.data end
    assert.is_true(Mock("hello-its-me"):save_to_dir(dir))
    assert.is_true(support.exists(dir .. "/searcher-state-default.json"))
    local searcher_2 = Mock("no-its-not-me")
    searcher_2:restore_from_dir(dir)
    assert.equal("hello-its-me", searcher_2.data)
    local ok, err = pcall(searcher_2.restore_from_dir, searcher_2, dir .. "/empty")
    assert.is_false(ok)
    assert.matches("MockSearcher:restore_from_dir: no searcher state in .*/empty", err)
  end)

  it("restore_from_dir of an experiment directory gives the searcher tune.run's searcher's state", function()
    local space = {x = tune.uniform(0, 1), iters = 1}
    local tpe = tune.search.TPESearch{seed = 1}
    tune.run("steps", {search_alg = tpe, metric = "loss", mode = "min", num_samples = 4, config = space, name = "tpe",
      local_dir = dir, verbose = 0})
    local again = tune.search.TPESearch{seed = 2}
    again:set_search_properties("loss", "min", space)
    again:restore_from_dir(dir .. "/tpe")
    assert.same(support.nan_free(tpe:save()), support.nan_free(again:save()))
  end)
end)
