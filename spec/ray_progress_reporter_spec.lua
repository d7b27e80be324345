-- Ray's test_progress_reporter, ported where it is about what a run
-- prints: testVerboseReporting (which lines each verbose level writes for
-- three trials). Ray writes the parameters of a trial's line as a Python
-- dict ({'do': 'once'}); tunelua writes JSON ({"do":"once"}), as
-- docs/guide/output.md shows.
local reporter = require("tune.reporter")
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

  --- testProgressStr's five trials (Ray's Mock trials).
  local function five()
    local mt = {__tostring = function(t) return t.trial_id end}
    local trials = {}
    for i = 0, 4 do
      local config = {a = i, b = i * 2, n = {k = {i, 2 * i}}}
      trials[#trials + 1] = setmetatable({trial_id = string.format("%05d", i), local_dir = "/foo", config = config,
        status = i == 0 and "TERMINATED" or (i == 1 and "PENDING" or "RUNNING"), num_failures = 0,
        -- A list's elements are named from 1, as the variants name them here (Ray's from 0).
        evaluated_params = {a = i, b = i * 2, ["n/k/1"] = i, ["n/k/2"] = 2 * i},
        last_result = {config = config, metric_1 = i / 2, metric_2 = i / 4, nested = {sub = i / 2}}}, mt)
    end
    return trials
  end

  --- The psql table of a progress string, from its top border on.
  local function table_of(s)
    return s:match("\n(%+%-.*)$"):gsub("\n+$", "")
  end

  -- Ray's expected tables, but for two things of its mocks: tabulate
  -- right-aligns the names ("00002" reads as a number, as no real trial
  -- name does), and "loc" shows their `location` attribute (here: the
  -- node and pid a trial's result gives, none).
  it("testProgressStr: one metric and two parameters, three rows; every parameter, no metric", function()
    local r = reporter.CLIReporter{table_format = "psql", metric_columns = {"metric_1"}, parameter_columns = {"a", "b"},
      max_progress_rows = 3}
    local got = r:progress_string(five(), false)
    assert.matches("Result logdir: /foo\nNumber of trials: 5 (1 PENDING, 3 RUNNING, 1 TERMINATED)\n", got, 1, true)
    assert.equal(table.concat({
      "+--------------+------------+-------+-----+-----+------------+",
      "| Trial name   | status     | loc   |   a |   b |   metric_1 |",
      "|--------------+------------+-------+-----+-----+------------|",
      "| 00002        | RUNNING    |       |   2 |   4 |        1   |",
      "| 00001        | PENDING    |       |   1 |   2 |        0.5 |",
      "| 00000        | TERMINATED |       |   0 |   0 |        0   |",
      "+--------------+------------+-------+-----+-----+------------+",
      "... 2 more trials not shown (2 RUNNING)"}, "\n"), table_of(got))
    r = reporter.CLIReporter{table_format = "psql", metric_columns = {}}
    assert.equal(table.concat({
      "+--------------+------------+-------+-----+-----+---------+---------+",
      "| Trial name   | status     | loc   |   a |   b |   n/k/1 |   n/k/2 |",
      "|--------------+------------+-------+-----+-----+---------+---------|",
      "| 00002        | RUNNING    |       |   2 |   4 |       2 |       4 |",
      "| 00003        | RUNNING    |       |   3 |   6 |       3 |       6 |",
      "| 00004        | RUNNING    |       |   4 |   8 |       4 |       8 |",
      "| 00001        | PENDING    |       |   1 |   2 |       1 |       2 |",
      "| 00000        | TERMINATED |       |   0 |   0 |       0 |       0 |",
      "+--------------+------------+-------+-----+-----+---------+---------+"}, "\n"), table_of(r:progress_string(five(), false)))
  end)

  it("testCurrentBestTrial and testBestTrialZero: the best trial line; a metric of 0 can be the best", function()
    local got = reporter.CLIReporter{mode = "max", metric = "metric_1"}:progress_string(five(), false)
    assert.matches("Current best trial: 00004 with metric_1=2.0 and parameters={'a': 4, 'b': 8, 'n': {'k': [4, 8]}}",
      got, 1, true)
    local mt = {__tostring = function(t) return t.trial_id end}
    local trials = {}
    for i, m in ipairs({7, 0, 2}) do
      trials[i] = setmetatable({status = "RUNNING", trial_id = "t" .. i, config = {}, evaluated_params = {},
        last_result = {metric = m}}, mt)
    end
    got = reporter.CLIReporter{metric = "metric", mode = "min"}:progress_string(trials, false)
    assert.matches("Current best trial: t2 with metric=0 ", got, 1, true)
  end)
end)
