-- Ray's test_tune_save_restore (SerialTuneRelativeLocalDirTest), ported: a
-- class trainable trained under a local_dir given as "./x", "x", "~/x",
-- an absolute path or a temporary directory, then restored from its
-- checkpoint by that relative path.
local core = require("tune.core")
local support = require("spec.support")

-- Trains MockTrainable one iteration with a checkpoint under local_dir
-- (arg[1]), then restores from the checkpoint's path relative to it and
-- trains one more; prints the trial's directories and the restored run.
local SOURCE = [[
local tune = require("tune")
local MockTrainable = tune.Trainable:extend(nil, "MockTrainable")
function MockTrainable:setup() self.state = {hi = 1} end
function MockTrainable:step() return {timesteps_this_iter = 1} end
function MockTrainable:save_checkpoint(dir)
  local f = assert(io.open(dir .. "/checkpoint-" .. self.iteration, "w"))
  f:write("hi = 1")
  f:close()
  return dir
end
function MockTrainable:load_checkpoint() end
tune.register_trainable("MockTrainable", MockTrainable)
local local_dir, exp_name = arg[1], arg[2]
local a = tune.run("MockTrainable", {name = exp_name, stop = {training_iteration = 1}, checkpoint_freq = 1,
  local_dir = local_dir, verbose = 0})
local t = a.trials[1]
print("trained", t.error_file, t.local_dir, t.logdir)
local checkpoint = local_dir .. "/" .. exp_name .. "/" .. t.logdir:match("[^/]+$") .. "/checkpoint_000001"
local b = tune.run("MockTrainable", {name = exp_name, stop = {training_iteration = 2}, restore = checkpoint,
  local_dir = local_dir, verbose = 0})
print("restored", b.trials[1].status, b.trials[1].error_file, b.trials[1].last_result.training_iteration)
]]

describe("Ray's SerialTuneRelativeLocalDirTest", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-save-restore") end)
  after_each(support.check_clean)

  for _, case in ipairs({
    {"testDottedRelativePath", "./test_dotted_relative_local_dir", "cwd"},
    {"testRelativePath", "test_relative_local_dir", "cwd"},
    {"testTildeAbsolutePath", "~/test_tilde_absolute_local_dir", "home"},
    {"testAbsolutePath", "ABS/test_absolute_local_dir", "abs"},
  }) do
    it(case[1] .. ": trains under local_dir " .. case[2] .. " and restores from the checkpoint by that path", function()
      local cwd, home = dir .. "/cwd", dir .. "/home"
      assert(core.mkdir_p(cwd) and core.mkdir_p(home))
      local local_dir = case[2]:gsub("^ABS", dir)
      local absolute = case[3] == "cwd" and (cwd .. "/" .. local_dir:gsub("^%./", ""))
        or (case[3] == "home" and (home .. local_dir:sub(2)) or local_dir)
      local script = dir .. "/exp.lua"
      assert(core.write_atomic(script, SOURCE))
      local out = support.must(string.format("cd '%s' && env -u LD_PRELOAD HOME='%s' %s %s '%s' Exp", cwd, home,
        os.getenv("TUNELUA_BIN") or "build/tunelua", script, local_dir))
      local exp_dir = absolute .. "/Exp"
      local logdir = out:match("trained\tnil\t" .. exp_dir:gsub("%p", "%%%0") .. "\t(%S+)")
      assert(logdir, out)
      assert.equal(exp_dir, logdir:match("^(.*)/MockTrainable_[^/]+$"))
      assert.is_true(support.exists(logdir .. "/checkpoint_000001/checkpoint-1"))
      assert.matches("restored\tTERMINATED\tnil\t2", out)
    end)
  end
end)
