-- Ray's test_progress_reporter, ported where it is about what a run
-- prints: testVerboseReporting (which lines each verbose level writes for
-- three trials). Ray writes the parameters of a trial's line as a Python
-- dict ({'do': 'once'}); tunelua writes JSON ({"do":"once"}), as
-- docs/guide/output.md shows.
local support = require("spec.support")

-- Ray's VERBOSE_CMD: one trial completes with done, one reports a bare
-- value (the anonymous metric), one reports twice.
local VERBOSE_CMD = [[
local tune = require("tune")
local function train(config)
  if config["do"] == "complete" then
    tune.sleep(0.1)
    tune.report{acc = 5, done = true}
  elseif config["do"] == "once" then
    tune.sleep(0.5)
    tune.report(6)
  else
    tune.sleep(1.0)
    tune.report{acc = 7}
    tune.report{acc = 8}
  end
end
tune.run(train, {config = {["do"] = tune.grid_search({"complete", "once", "twice"})}, local_dir = arg[1],
  verbose = tonumber(arg[2])})
]]

local EXP_OUT_1 = "Number of trials: 3/3 (2 PENDING, 1 RUNNING)"
local EXP_OUT_2 = "Number of trials: 3/3 (3 TERMINATED)"
local TRIAL_NORM_1 = 'Trial train_%w+_00000 reported acc=5 with parameters={"do":"complete"}%. This trial completed%.\n'
local TRIAL_NORM_2 = 'Trial train_%w+_00001 reported _metric=6 with parameters={"do":"once"}%.\n.*'
  .. "Trial train_%w+_00001 completed%. Last result: _metric=6\n"
local TRIAL_NORM_3 = 'Trial train_%w+_00002 reported acc=7 with parameters={"do":"twice"}%.\n'
local TRIAL_NORM_4 = 'Trial train_%w+_00002 reported acc=8 with parameters={"do":"twice"}%. This trial completed%.\n'
local TRIAL_DETAIL = "train_%w+_00000%s+RUNNING%s+pid=%d+%s+complete"

describe("Ray's ProgressReporterTest", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-reporter") end)
  after_each(support.check_clean)

  it("testVerboseReporting: each verbose level prints what Ray's does", function()
    local function run(verbose)
      return support.run_script(dir, VERBOSE_CMD, string.format("%s/out%d %d", dir, verbose, verbose))
    end
    local expected = {
      [0] = {},
      [1] = {exp = true},
      [2] = {exp = true, norm = true},
      [3] = {exp = true, detail = true},
    }
    for verbose = 0, 3 do
      local out, want = run(verbose), expected[verbose]
      local function check(pattern, present)
        local found = out:find(pattern) ~= nil
        assert(found == (present or false), string.format("verbose = %d: %q %s in\n%s", verbose, pattern,
          present and "not found" or "found", out))
      end
      check(EXP_OUT_1:gsub("[%(%)]", "%%%0"), want.exp)
      check(EXP_OUT_2:gsub("[%(%)]", "%%%0"), want.exp)
      for _, p in ipairs({TRIAL_NORM_1, TRIAL_NORM_2, TRIAL_NORM_3, TRIAL_NORM_4}) do check(p, want.norm) end
      check(TRIAL_DETAIL, want.detail)
    end
  end)
end)
