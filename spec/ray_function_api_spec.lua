-- Ray's test_function_api.py, ported: a function trainable's checkpoints
-- (tune.report(metrics, {checkpoint = t}) for Ray's save_checkpoint, read
-- back with tune.get_checkpoint()) across a retry, a restart without one,
-- and a second tune.run restored from the first's last checkpoint.
local support = require("spec.support")

describe("Ray's test_function_api", function()
  local dir
  before_each(function() dir = support.tmpdir("rayfn") end)
  after_each(support.check_clean)

  -- Prints each trial's rows as "training_iteration/test" pairs.
  local ROWS = [[
local function rows(a)
  for _, v in pairs(a:trial_dataframes()) do
    local out = {}
    for _, r in ipairs(v) do out[#out + 1] = r.training_iteration .. "/" .. r.test end
    print("rows " .. #v .. ": " .. table.concat(out, " "))
  end
end
-- Ray's train(config, checkpoint): goes on from the checkpoint's step; one
-- that starts without one fails at config.fail_at.
local function train(config)
  local ck = tune.get_checkpoint()
  for i = ck and ck.i + 1 or 0, config.max_iter - 1 do
    if i == config.fail_at and not ck then error("try to fail me") end
    tune.report({test = i}, {checkpoint = {i = i}})
  end
end
]]

  it("testRetry: a failed trial is retried from its last checkpoint, and its history goes on", function()
    local out = support.run_script(dir, [[
local tune = require("tune")
]] .. ROWS .. [[
local a = tune.run(train, {config = {max_iter = 10, fail_at = 5}, max_failures = 3, local_dir = arg[1], verbose = 0, name = "retry"})
rows(a)
print("last " .. a.trials[1].checkpoint.dir_or_data:match("[^/]+$"))
]], dir)
    assert.matches("rows 10: 1/0 2/1 3/2 4/3 5/4 6/5 7/6 8/7 9/8 10/9\n", out, 1, true)
    assert.matches("last checkpoint_000010\n", out, 1, true)
  end)

  it("testReuseCheckpoint: a second tune.run restores the first one's last checkpoint (trial.checkpoint)", function()
    -- The second tune.run's workers run the file again: there the first
    -- tune.run returns its analysis read from its directory, whose trial
    -- had no `checkpoint` (a Lua error at the line below in every worker).
    local out = support.run_script(dir, [[
local tune = require("tune")
]] .. ROWS .. [[
local first = tune.run(train, {config = {max_iter = 5}, local_dir = arg[1], verbose = 0, name = "first"})
local last = first.trials[1].checkpoint.dir_or_data
assert(last:match("checkpoint_000005$"), last)
local second = tune.run(train, {config = {max_iter = 10}, restore = last, local_dir = arg[1], verbose = 0,
  name = "second"})
rows(second)
]], dir)
    assert.matches("rows 5: 6/5 7/6 8/7 9/8 10/9\n", out, 1, true)
  end)

  it("testReuseCheckpoint (analysis read back): a loaded trial's checkpoint is its newest persistent one", function()
    support.run_script(dir, [[
local tune = require("tune")
tune.run(function(config)
  for i = 1, 4 do tune.report({test = i}, i % 2 == 0 and {checkpoint = {i = i}} or nil) end
end, {local_dir = arg[1], verbose = 0, name = "loaded"})
tune.run(function(config) tune.report({test = 1}) end, {local_dir = arg[1], verbose = 0, name = "none"})
]], dir)
    local tune = require("tune")
    local c = tune.ExperimentAnalysis(dir .. "/loaded").trials[1].checkpoint
    assert.equal("PERSISTENT", c.storage_mode)
    assert.matches("/checkpoint_000004$", c.dir_or_data)
    assert.equal(4, c.metrics.training_iteration)
    assert.is_nil(tune.ExperimentAnalysis(dir .. "/none").trials[1].checkpoint.dir_or_data)
  end)

  it("test_api's testTrialInfoAccess and testTrialInfoAccessFunction: tune.get_trial_name() and self.trial_name", function()
    -- tune.get_trial_name, Ray's, was missing: "attempt to call a nil value".
    local out = support.run_script(dir, [[
local tune = require("tune")
local T = tune.Trainable:extend()
function T:step() return {name = self.trial_name, trial_id = self.trial_id} end
function T:reset_config() return true end
local function track_train(config) tune.report({name = tune.get_trial_name(), trial_id = tune.get_trial_id()}) end
for _, trainable in ipairs({T, track_train}) do
  local a = tune.run(trainable, {stop = {training_iteration = 1}, num_samples = 2, reuse_actors = true,
    trial_name_creator = function(t) return "named_" .. t.trial_id end, verbose = 0, local_dir = arg[1]})
  for _, t in ipairs(a.trials) do
    print(string.format("same %s %s", t.last_result.name == tostring(t), t.last_result.trial_id == t.trial_id))
  end
end
print("driver " .. tostring(tune.get_trial_name()))
]], dir)
    local n = 0 -- the driver's lines (a worker's have its trial's prefix)
    for line in out:gmatch("[^\n]+") do
      if line == "same true true" then n = n + 1 else assert.not_matches("^same", line) end
    end
    assert.equal(4, n, out)
    assert.matches("\ndriver nil\n", out, 1, true)
  end)

  it("test_api's testNestedResults: nested results stop by their path; a scheduler sees them flattened", function()
    local out = support.run_script(dir, [[
local tune = require("tune")
local function train(config)
  for i = 0, 99 do tune.report({test = {["1"] = {["2"] = {["3"] = i, ["4"] = false}}}}) end
end
local seen, complete = {}, nil
local S = tune.schedulers.FIFOScheduler:extend()
function S:on_trial_result(runner, trial, result) seen[#seen + 1] = result["test/1/2/3"] return "CONTINUE" end
function S:on_trial_complete(runner, trial, result) complete = result end
local t = tune.run(train, {scheduler = S(), stop = {["test/1/2/3"] = 20}, verbose = 0, local_dir = arg[1]}).trials[1]
local r = t.last_result
print(string.format("nested %s %s %s %s", t.status, r.test["1"]["2"]["3"], r.test["1"]["2"]["4"], r.training_iteration))
if complete then print(string.format("scheduler %d %s %s", #seen, seen[20], complete["test/1/2/4"])) end
for _, stop in ipairs({{["1/2/3"] = 20}, {test = 1}}) do
  local ok, err = pcall(tune.run, train, {stop = stop, verbose = 0, local_dir = arg[1]})
  print("raised " .. tostring(not ok and tostring(err):match("stopping criterion \"[^\"]+\" is not in the result")))
end
]], dir)
    assert.matches("\nnested TERMINATED 20 false 21\n", "\n" .. out, 1, true)
    assert.matches("\nscheduler 20 19 false\n", out, 1, true)
    assert.matches('raised stopping criterion "1/2/3" is not in the result\n', out, 1, true)
    assert.matches('raised stopping criterion "test" is not in the result\n', out, 1, true)
  end)

  it("testFunctionNoCheckpointing: a trial that never checkpoints starts again at iteration 1", function()
    local out = support.run_script(dir, [[
local tune = require("tune")
]] .. ROWS .. [[
local function train(config)
  for i = 0, 2 do
    tune.report({test = i})
    local f = i == 1 and io.open(config.marker, "r")
    if f then f:close() elseif i == 1 then
      io.open(config.marker, "w"):close()
      error("fail once")
    end
  end
end
local a = tune.run(train, {config = {marker = arg[1] .. "/failed"}, max_failures = 1, local_dir = arg[1],
  verbose = 0, name = "nock"})
print("status " .. a.trials[1].status .. " iter " .. a.trials[1].last_result.training_iteration)
print("ckpt " .. tostring(a.trials[1].checkpoint.dir_or_data))
]], dir)
    assert.matches("status TERMINATED iter 3\n", out, 1, true)
    assert.matches("ckpt nil\n", out, 1, true)
  end)
end)
