-- tune.reporter: Ray 2.0's CLIReporter / ProgressReporter. Output is checked
-- in the compact style (deterministic) with both clocks frozen.
local core = require("tune.core")
local reporter = require("tune.reporter")

local TRIAL_MT = {__tostring = function(t) return "train_" .. t.trial_id end}

local function trial(id, status, opts)
  opts = opts or {}
  return setmetatable({
    trial_id = id, status = status, config = opts.config or {},
    evaluated_params = opts.evaluated_params or {}, last_result = opts.last_result or {},
    error_file = opts.error_file, num_failures = opts.num_failures or 0,
  }, TRIAL_MT)
end

local function lines(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

-- The table rows of a compact progress string: the lines after the dashed
-- rule that start with a trial name.
local function rows(s)
  local out, seen_rule = {}, false
  for _, l in ipairs(lines(s)) do
    if l:match("^%-%-%-") then seen_rule = true
    elseif seen_rule and l:match("^train_") then out[#out + 1] = l
    elseif seen_rule then break end
  end
  return out
end

local function header(s)
  local ls = lines(s)
  for i, l in ipairs(ls) do
    if l:match("^%-%-%-") then return ls[i - 1] end
  end
end

local NOW, WALL = 1065.25, 1706702400
local orig_clock, orig_wall = reporter.clock, reporter.wall_clock
local CURRENT = "Current time: " .. os.date("%Y-%m-%d %H:%M:%S", WALL)

local function compact(opts)
  opts = opts or {}
  opts.compact = true
  return reporter.CLIReporter(opts)
end

describe("tune.reporter", function()
  before_each(function()
    reporter.clock = function() return NOW end
    reporter.wall_clock = function() return WALL end
  end)
  after_each(function()
    reporter.clock, reporter.wall_clock = orig_clock, orig_wall
  end)

  describe("progress_string", function()
    local function three()
      local a = trial("a_00000", "RUNNING", {
        config = {lr = 0.01, model = {depth = 2}}, evaluated_params = {lr = 0.01, ["model/depth"] = 2},
        last_result = {mean_loss = 0.25, training_iteration = 3, time_total_s = 1.5, node_ip = "10.0.0.1", pid = 42},
      })
      local b = trial("a_00001", "TERMINATED", {
        config = {lr = 0.1, model = {depth = 4}}, evaluated_params = {lr = 0.1, ["model/depth"] = 4},
        last_result = {mean_loss = 0.125, training_iteration = 10, time_total_s = 12.0, node_ip = "10.0.0.1", pid = 43},
      })
      local c = trial("a_00002", "PENDING", {
        config = {lr = 0.001, model = {depth = 8}}, evaluated_params = {lr = 0.001, ["model/depth"] = 8},
      })
      return {a, b, c}
    end

    it("matches Ray's status block for three trials (compact)", function()
      local r = compact{metric = "mean_loss", mode = "min", total_samples = 4}
      r:setup{start_time = NOW - 65.25}
      local got = r:progress_string(three(), false, "Resources requested: 2.0/2 CPUs, 0/0 GPUs")
      local want = table.concat({
        "== Status ==",
        CURRENT .. " (running for 00:01:05.25)",
        "Resources requested: 2.0/2 CPUs, 0/0 GPUs",
        "Current best trial: a_00001 with mean_loss=0.125 and parameters={'lr': 0.1, 'model': {'depth': 4}}",
        "Number of trials: 3/4 (1 PENDING, 1 RUNNING, 1 TERMINATED)",
        "Trial name     status      loc             lr  model/depth   loss  iter  total time (s)",
        "-------------  ----------  -----------  -----  -----------  -----  ----  --------------",
        "train_a_00000  RUNNING     10.0.0.1:42  0.01             2  0.25      3             1.5",
        "train_a_00002  PENDING                  0.001            8",
        "train_a_00001  TERMINATED  10.0.0.1:43  0.1              4  0.125    10            12",
        "",
        "",
      }, "\n")
      assert.equal(want, got)
    end)

    it("draws the same table in Ray's psql frame", function()
      local r = reporter.CLIReporter{table_format = "psql", metric_columns = {"mean_loss"}}
      local t = three()
      local got = r:progress_string({t[1], t[2]}, false)
      local want = table.concat({
        "+---------------+------------+-------------+------+---------------+-------------+",
        "| Trial name    | status     | loc         |   lr |   model/depth |   mean_loss |",
        "|---------------+------------+-------------+------+---------------+-------------|",
        "| train_a_00000 | RUNNING    | 10.0.0.1:42 | 0.01 |             2 |       0.25  |",
        "| train_a_00001 | TERMINATED | 10.0.0.1:43 | 0.1  |             4 |       0.125 |",
        "+---------------+------------+-------------+------+---------------+-------------+",
      }, "\n")
      assert.truthy(got:find(want, 1, true), got)
    end)

    it("lays out cells as tabulate 0.8.9 does in Ray's psql format", function()
      -- goldens printed by python3 tabulate 0.8.9, tablefmt="psql"
      local nan = 0 / 0
      assert.equal(table.concat({
        "+--------------+----------+-------+--------+---------+",
        "| Trial name   | status   | loc   |   loss |   score |",
        "|--------------+----------+-------+--------+---------|",
        "| n0           | RUNNING  |       |  nan   |   inf   |",
        "| n1           | RUNNING  |       | -inf   |     0.5 |",
        "| n2           | RUNNING  |       |    2.5 |         |",
        "| n3           | RUNNING  |       |        |         |",
        "+--------------+----------+-------+--------+---------+",
      }, "\n"), reporter._tabulate({"Trial name", "status", "loc", "loss", "score"}, {
        {"n0", "RUNNING", "", nan, math.huge}, {"n1", "RUNNING", "", -math.huge, 0.5},
        {"n2", "RUNNING", "", 2.5}, {"n3", "RUNNING", ""},
      }, "psql"))
      assert.equal(table.concat({
        "+--------------+----------+-------+---------+-------------+---------+",
        "| Trial name   | status   | loc   |     big |       ratio |    tiny |",
        "|--------------+----------+-------+---------+-------------+---------|",
        "| f0           | RUNNING  |       | 1234567 | 1.23457e+06 |   1e-07 |",
        "| f1           | RUNNING  |       |      12 | 0.5         | 100     |",
        "+--------------+----------+-------+---------+-------------+---------+",
      }, "\n"), reporter._tabulate({"Trial name", "status", "loc", "big", "ratio", "tiny"}, {
        {"f0", "RUNNING", "", 1234567, 1234567.0, 1e-7}, {"f1", "RUNNING", "", 12, 0.5, 100},
      }, "psql"))
      -- A number's text is made once per value: 1 and 1.0 share theirs,
      -- 0 and -0.0 do not, and NaN is formatted each time.
      assert.equal(table.concat({
        "+-------+-----+",
        "|     a |   b |",
        "|-------+-----|",
        "|   0   |   3 |",
        "|  -0   |   3 |",
        "|   1   |   7 |",
        "|   1   |   3 |",
        "|   2.5 |   7 |",
        "| nan   |   3 |",
        "|  -0   |   0 |",
        "|   1   |   3 |",
        "+-------+-----+",
      }, "\n"), reporter._tabulate({"a", "b"}, {{0, 3}, {-0.0, 3}, {1, 7}, {1.0, 3}, {2.5, 7}, {nan, 3},
        {-0.0, 0}, {1, 3}}, "psql"))
      -- A text cell is one line: CR, LF and tabs become spaces (Python's
      -- str of the value, tabulate's cell).
      local values = require("tune.reporter.values")
      assert.equal("a b  c d", values.text("a\tb\r\nc d"))
      assert.equal("plain", values.text("plain"))
      assert.equal("['x\\ny']", values.text({"x\ny"})) -- repr escapes it first
      assert.equal("", core.one_line(""))
      -- Headers too (a result key may hold a newline).
      assert.equal(table.concat({
        "+-------+--------+",
        "| n l   |   t ab |",
        "|-------+--------|",
        "| x y   |      1 |",
        "+-------+--------+",
      }, "\n"), reporter._tabulate({"n\nl", "t\tab"}, {{"x\ny", 1}}, "psql"))
    end)

    it("uses box drawing on a terminal and plain ASCII otherwise", function()
      local orig_isatty, orig_env = core.isatty, os.getenv("TUNE_COMPACT_REPORT")
      local ok, err = pcall(function()
        assert(core.setenv("TUNE_COMPACT_REPORT", nil))
        core.isatty = function() return true end
        local boxed = reporter.CLIReporter{}
        assert.equal("outline", boxed.table_format)
        local s = boxed:progress_string(three(), false)
        assert.truthy(s:find("┌───────────────┬", 1, true), s)
        assert.truthy(s:find("│ train_a_00000 │ RUNNING    │", 1, true), s)
        assert.truthy(s:find("└───────────────┴", 1, true), s)
        -- compact = true, and TUNE_COMPACT_REPORT=1, win over the terminal
        assert.equal("compact", reporter.CLIReporter{compact = true}.table_format)
        assert(core.setenv("TUNE_COMPACT_REPORT", "1"))
        local env_compact = reporter.CLIReporter{}
        assert(core.setenv("TUNE_COMPACT_REPORT", "0"))
        local env_boxed = reporter.CLIReporter{}
        assert(core.setenv("TUNE_COMPACT_REPORT", nil))
        assert.equal("compact", env_compact.table_format)
        assert.equal("outline", env_boxed.table_format)
        local plain = env_compact:progress_string(three(), false)
        assert.falsy(plain:find("[\128-\255|+]"), plain)
        core.isatty = function() return false end
        assert.equal("compact", reporter.CLIReporter{}.table_format)
        -- an `out` sink is not the terminal
        core.isatty = function() return true end
        assert.equal("compact", reporter.CLIReporter{out = function() end}.table_format)
      end)
      core.isatty = orig_isatty
      core.setenv("TUNE_COMPACT_REPORT", orig_env)
      assert(ok, err)
    end)

    it("prints only the counts without trials' table at low verbosity", function()
      local r = compact{}
      r:setup{verbose = 2}
      local s = r:progress_string(three(), false)
      assert.truthy(s:find("Number of trials: 3 (1 PENDING, 1 RUNNING, 1 TERMINATED)", 1, true), s)
      assert.falsy(s:find("Trial name", 1, true), s)
      assert.truthy(r:progress_string(three(), true):find("Trial name", 1, true))
      r:setup{verbose = 0}
      assert.falsy(r:progress_string(three(), true):find("Number of trials", 1, true))
      local forced = compact{print_intermediate_tables = false}
      assert.falsy(forced:progress_string(three(), false):find("Trial name", 1, true))
    end)

    it("formats the running time with days and an infinite sample count", function()
      local r = compact{total_samples = math.huge}
      r:setup{start_time = NOW - (2 * 86400 + 3 * 3600 + 4 * 60 + 5.5)}
      local s = r:progress_string(three(), false)
      assert.truthy(s:find("(running for 2 days, 03:04:05.50)", 1, true), s)
      assert.truthy(s:find("Number of trials: 3/infinite (", 1, true), s)
    end)

    it("joins sys_info strings and lists, one line each", function()
      local s = compact{}:progress_string({}, false, "Using FIFO scheduling algorithm.", {"line a", "line b"})
      assert.same({"== Status ==", CURRENT .. " (running for 00:00:00.00)", "Using FIFO scheduling algorithm.",
        "line a", "line b", "", "", ""}, lines(s))
    end)
  end)

  describe("metric columns", function()
    local function result_trials()
      return {
        trial("m_00000", "RUNNING", {last_result = {
          mean_accuracy = 0.5, training_iteration = 2, time_total_s = 3.0, pid = 7, timestamp = 1700000000,
          time_this_iter_s = 0.1, hostname = "h", node_ip = "1.2.3.4", done = false, trial_id = "m_00000",
          zeta = 1, alpha = 2, beta = 3, gamma = 4, val = {loss = 0.75},
        }}),
      }
    end

    it("shows Ray's default columns that trials report and infers user metrics", function()
      local r = compact{}
      local s = r:progress_string(result_trials(), false)
      -- defaults in Ray's order, then up to infer_limit=3 user metrics by name
      assert.equal("Trial name     status   loc        acc  iter  total time (s)  alpha  beta  gamma", header(s))
      assert.equal("train_m_00000  RUNNING  1.2.3.4:7  0.5     2               3      2     3      4", rows(s)[1])
    end)

    it("honours infer_limit, and nested metrics flatten with '/'", function()
      local s = compact{infer_limit = 5}:progress_string(result_trials(), false)
      assert.truthy(header(s):find("alpha  beta  gamma  val/loss  zeta$"), header(s))
      s = compact{infer_limit = 0}:progress_string(result_trials(), false)
      assert.truthy(header(s):find("total time %(s%)$"), header(s))
    end)

    it("infers from trials that report later, past the finished ones it has read", function()
      local r = compact{}
      local list = {}
      for i = 1, 3 do
        list[i] = trial("f_0000" .. i, "TERMINATED", {last_result = {trial_id = "f_0000" .. i, alpha = i}})
      end
      list[4] = trial("f_00004", "RUNNING", {last_result = {trial_id = "f_00004"}})
      list[5] = trial("f_00005", "TERMINATED", {last_result = {trial_id = "f_00005", beta = 5}})
      assert.truthy(header(r:progress_string(list, false)):find("alpha%s+beta$"), header(r:progress_string(list, false)))
      -- The running trial reports a new key, and a new trial another.
      list[4].last_result.gamma = 1
      list[6] = trial("f_00006", "RUNNING", {last_result = {trial_id = "f_00006", delta = 2}})
      local h = header(r:progress_string(list, false))
      assert.truthy(h:find("alpha%s+beta%s+gamma$"), h)
      -- Up to five: a key the running trial reports after a report is
      -- found by the next one (in the order found).
      list[4].last_result.gamma = nil
      r = compact{infer_limit = 5}
      h = header(r:progress_string(list, false))
      assert.truthy(h:find("alpha%s+beta%s+delta$"), h)
      list[4].last_result.gamma = 1
      h = header(r:progress_string(list, false))
      assert.truthy(h:find("alpha%s+beta%s+delta%s+gamma$"), h)
    end)

    it("uses metric_columns as given, with no inference", function()
      local s = compact{metric_columns = {"zeta", "val/loss"}}:progress_string(result_trials(), false)
      assert.truthy(header(s):find("loc%s+zeta%s+val/loss$"), header(s))
      s = compact{metric_columns = {{"val/loss", "L"}, {"zeta", "Z"}}}:progress_string(result_trials(), false)
      assert.truthy(header(s):find("loc%s+L%s+Z$"), header(s))
      s = compact{metric_columns = {zeta = "Z", alpha = "A"}}:progress_string(result_trials(), false)
      assert.truthy(header(s):find("loc%s+A%s+Z$"), header(s))
    end)

    it("adds columns and rejects duplicates", function()
      local r = compact{metric_columns = {"zeta"}}
      r:add_metric_column("beta")
      assert.truthy(header(r:progress_string(result_trials(), false)):find("zeta%s+beta$"))
      assert.has_error(function() r:add_metric_column("beta") end, "Column beta already exists.")
      assert.has_error(function() r:add_metric_column("gamma", "G") end)
      local m = compact{}
      m:add_metric_column("zeta", "Z")
      local h = header(m:progress_string(result_trials(), false))
      assert.truthy(h:find("total time %(s%)%s+Z$"), h)
    end)

    it("abbreviates long headers and long values to max_column_length", function()
      local t = trial("x_00000", "RUNNING", {
        config = {name = "a_very_long_model_name_indeed"}, evaluated_params = {name = "a_very_long_model_name_indeed"},
        last_result = {validation_loss_of_model = 0.5},
      })
      local s = compact{max_column_length = 12}:progress_string({t}, false)
      assert.truthy(header(s):find("name%s+%.%.%._of_model$"), header(s))
      local value = rows(s)[1]:match("RUNNING%s+(%S+)")
      assert.equal(12, #value)
      assert.truthy(value:match("^a_very_%_%x%x%x%x$"), value)
    end)
  end)

  describe("parameter columns", function()
    local function trials()
      return {
        trial("p_00000", "RUNNING", {config = {lr = 0.5, opt = {name = "sgd", momentum = 0.9}, seed = 1},
          evaluated_params = {lr = 0.5, ["opt/name"] = "sgd"}}),
        trial("p_00001", "RUNNING", {config = {lr = 0.25, opt = {name = "adam"}, seed = 1, flag = false},
          evaluated_params = {lr = 0.25, ["opt/name"] = "adam", flag = false}}),
      }
    end

    it("default to the evaluated parameters, sorted, '/' for nested", function()
      local s = compact{}:progress_string(trials(), false)
      assert.equal("Trial name     status   loc  flag     lr  opt/name", header(s))
      assert.same({
        "train_p_00000  RUNNING              0.5   sgd",
        "train_p_00001  RUNNING       False  0.25  adam",
      }, rows(s))
    end)

    it("follow parameter_columns and add_parameter_column", function()
      local s = compact{parameter_columns = {"opt/momentum", "seed"}}:progress_string(trials(), false)
      assert.equal("Trial name     status   loc  opt/momentum  seed", header(s))
      assert.same({
        "train_p_00000  RUNNING" .. string.rep(" ", 16) .. "0.9     1",
        "train_p_00001  RUNNING" .. string.rep(" ", 24) .. "1",
      }, rows(s))
      local r = compact{}
      r:add_parameter_column("opt/name", "optimizer")
      assert.equal("Trial name     status   loc  optimizer", header(r:progress_string(trials(), false)))
      assert.has_error(function() r:add_parameter_column("opt/name") end, "Column opt/name already exists.")
    end)

    it("show a list's elements under the names the variants give them (lst/1, lst/2/a)", function()
      -- (The cells were empty: "1" was looked up as a string key.)
      local t = trial("p_00002", "RUNNING", {config = {lst = {4, {a = "q"}}},
        evaluated_params = {["lst/1"] = 4, ["lst/2/a"] = "q"}})
      local s = compact{}:progress_string({t}, false)
      assert.equal("Trial name     status   loc  lst/1  lst/2/a", header(s))
      assert.same({"train_p_00002  RUNNING           4  q"}, rows(s))
    end)
  end)

  describe("truncation", function()
    local function fifty()
      local ts = {}
      for i = 0, 49 do
        local status = i < 5 and "RUNNING" or (i < 10 and "PENDING" or "TERMINATED")
        -- listed newest first, so the table's order is not the input order
        table.insert(ts, 1, trial(string.format("t_%05d", i), status, {last_result = {training_iteration = i}}))
      end
      return ts
    end

    it("splits max_progress_rows fairly between statuses, RUNNING first", function()
      local s = compact{max_progress_rows = 10}:progress_string(fifty(), false)
      local names = {}
      for _, row in ipairs(rows(s)) do names[#names + 1] = row:match("^(%S+%s+%S+)"):gsub("%s+", " ") end
      assert.same({
        "train_t_00000 RUNNING", "train_t_00001 RUNNING", "train_t_00002 RUNNING", "train_t_00003 RUNNING",
        "train_t_00005 PENDING", "train_t_00006 PENDING", "train_t_00007 PENDING",
        "train_t_00010 TERMINATED", "train_t_00011 TERMINATED", "train_t_00012 TERMINATED",
      }, names)
      assert.truthy(s:find("\n... 40 more trials not shown (1 RUNNING, 2 PENDING, 37 TERMINATED)\n", 1, true), s)
      assert.truthy(s:find("Number of trials: 50 (5 PENDING, 5 RUNNING, 40 TERMINATED)", 1, true), s)
    end)

    it("shows every trial when done", function()
      local s = compact{max_progress_rows = 10}:progress_string(fifty(), true)
      assert.equal(50, #rows(s))
      assert.falsy(s:find("more trials not shown", 1, true))
    end)
  end)

  describe("errored trials", function()
    local function failing()
      return {
        trial("e_00000", "ERROR", {error_file = "/r/e0/error.txt", num_failures = 3}),
        trial("e_00001", "RUNNING"),
        trial("e_00002", "ERROR", {error_file = "/r/e2/error.txt", num_failures = 1}),
        trial("e_00003", "TERMINATED", {error_file = "/r/e3/error.txt", num_failures = 12}),
      }
    end

    it("lists trials with an error file", function()
      local s = compact{}:progress_string(failing(), false)
      local tail = s:match("Number of errored trials: 3\n.*$")
      assert.equal(table.concat({
        "Number of errored trials: 3",
        "Trial name     # failures  error file",
        "-------------  ----------  ---------------",
        "train_e_00000           3  /r/e0/error.txt",
        "train_e_00002           1  /r/e2/error.txt",
        "train_e_00003          12  /r/e3/error.txt",
        "",
      }, "\n"), tail)
    end)

    it("truncates to max_error_rows unless done", function()
      local r = compact{max_error_rows = 2}
      local s = r:progress_string(failing(), false)
      assert.truthy(s:find("Number of errored trials: 3\nTable truncated to 2 rows (1 overflow)\n", 1, true), s)
      local errors = s:match("Number of errored trials:.*$")
      assert.truthy(errors:find("train_e_00002", 1, true), errors)
      assert.falsy(errors:find("train_e_00003", 1, true), errors)
      local all = r:progress_string(failing(), true)
      assert.falsy(all:find("Table truncated", 1, true))
      assert.truthy(all:find("train_e_00003          12  /r/e3/error.txt", 1, true), all)
    end)
  end)

  describe("numbers", function()
    it("prints nan, inf and -inf, never crashes, and leaves missing values empty", function()
      local ts = {
        trial("n_00000", "RUNNING", {last_result = {mean_loss = 0 / 0, score = math.huge}}),
        trial("n_00001", "RUNNING", {last_result = {mean_loss = -math.huge, score = 0.5}}),
        trial("n_00002", "RUNNING", {last_result = {mean_loss = 2.5}}),
        trial("n_00003", "RUNNING", {last_result = {}}),
      }
      local r = compact{metric = "mean_loss", mode = "max"}
      local s = r:progress_string(ts, false)
      assert.equal("Trial name     status   loc    loss  score", header(s))
      assert.same({
        "train_n_00000  RUNNING        nan    inf",
        "train_n_00001  RUNNING       -inf      0.5",
        "train_n_00002  RUNNING          2.5",
        "train_n_00003  RUNNING",
      }, rows(s))
      -- NaN is never the best trial
      assert.truthy(s:find("Current best trial: n_00002 with mean_loss=2.5 and parameters={}", 1, true), s)
      local low = compact{metric = "mean_loss", mode = "min"}:progress_string(ts, false)
      assert.truthy(low:find("Current best trial: n_00001 with mean_loss=-inf ", 1, true), low)
    end)

    it("formats floats as %g and integers exactly, aligned on the point", function()
      local ts = {
        trial("f_00000", "RUNNING", {last_result = {big = 1234567, ratio = 1234567.0, tiny = 1e-7}}),
        trial("f_00001", "RUNNING", {last_result = {big = 12, ratio = 0.5, tiny = 100}}),
      }
      local s = compact{metric_columns = {"big", "ratio", "tiny"}}:progress_string(ts, false)
      assert.same({
        "train_f_00000  RUNNING       1234567  1.23457e+06    1e-07",
        "train_f_00001  RUNNING            12  0.5          100",
      }, rows(s))
    end)
  end)

  describe("sort_by_metric", function()
    local function finished()
      return {
        trial("s_00000", "TERMINATED", {last_result = {mean_loss = 0.5}}),
        trial("s_00001", "TERMINATED", {last_result = {mean_loss = 0.25}}),
        trial("s_00002", "TERMINATED", {last_result = {}}),
        trial("s_00003", "TERMINATED", {last_result = {mean_loss = 0.75}}),
        trial("s_00004", "RUNNING", {last_result = {mean_loss = 0.1}}),
      }
    end
    local function order(s)
      local out = {}
      for _, row in ipairs(rows(s)) do out[#out + 1] = row:match("^train_(%S+)") end
      return out
    end

    it("sorts terminated trials by metric and mode, missing values last", function()
      local up = compact{metric = "mean_loss", mode = "min", sort_by_metric = true}
      assert.same({"s_00004", "s_00001", "s_00000", "s_00003", "s_00002"}, order(up:progress_string(finished(), false)))
      local down = compact{sort_by_metric = true}
      down:setup{metric = "mean_loss", mode = "max"}
      assert.same({"s_00004", "s_00003", "s_00000", "s_00001", "s_00002"}, order(down:progress_string(finished(), false)))
      -- the sorted order also decides which terminated trials a short table keeps
      local short = compact{metric = "mean_loss", mode = "max", sort_by_metric = true, max_progress_rows = 2}
      assert.same({"s_00004", "s_00003"}, order(short:progress_string(finished(), false)))
    end)

    it("keeps the given order without sort_by_metric or without a mode", function()
      local plain = compact{metric = "mean_loss", mode = "min"}
      assert.same({"s_00004", "s_00000", "s_00001", "s_00002", "s_00003"}, order(plain:progress_string(finished(), false)))
      local nomode = compact{metric = "mean_loss", sort_by_metric = true}
      assert.same({"s_00004", "s_00000", "s_00001", "s_00002", "s_00003"}, order(nomode:progress_string(finished(), false)))
    end)
  end)

  describe("should_report", function()
    it("reports at most every max_report_frequency seconds, and when done", function()
      local now = 100
      reporter.clock = function() return now end
      local r = compact{max_report_frequency = 5}
      assert.is_true(r:should_report({}))
      now = 103
      assert.is_false(r:should_report({}))
      assert.is_true(r:should_report({}, true))
      now = 105 -- exactly 5 s after the last report: not yet (Ray's strict >)
      assert.is_false(r:should_report({}, false))
      now = 105.01
      assert.is_true(r:should_report({}))
      now = 106
      assert.is_false(r:should_report({}))
    end)

    it("refuses a TUNE_COMPACT_REPORT that is not an integer at the caller's line", function()
      -- It raised inside the library, with a traceback and no line of the caller's.
      local orig = os.getenv("TUNE_COMPACT_REPORT")
      -- 1.0 too, as Ray's int() and tune.run refuse it (it was the plain table).
      for _, v in ipairs({"abc", "0.5", "1.0"}) do
        assert(core.setenv("TUNE_COMPACT_REPORT", v))
        local ok, err = pcall(function()
          local r = reporter.CLIReporter{}
          return r
        end)
        assert(core.setenv("TUNE_COMPACT_REPORT", orig))
        assert.is_false(ok)
        assert.matches("reporter_spec%.lua:%d+: CLIReporter: environment variable TUNE_COMPACT_REPORT=\"" .. v:gsub("%.", "%%.")
          .. "\" is not an integer", err)
      end
    end)

    it("refuses a NaN frequency or sample count (a NaN frequency reported only at the end)", function()
      assert.has_error(function() compact{max_report_frequency = 0 / 0} end,
        "CLIReporter: max_report_frequency must be a number of seconds >= 0")
      assert.has_error(function() compact{total_samples = 0 / 0} end, "CLIReporter: total_samples must be a number >= 0")
      local r = compact{max_report_frequency = math.huge, total_samples = math.huge}
      assert.has_error(function() r:set_total_samples(0 / 0) end, "set_total_samples: expected a number >= 0")
      assert.has_error(function() r:setup{total_samples = 0 / 0} end)
    end)
  end)

  describe("setup and search properties", function()
    it("takes metric and mode once, as Ray does", function()
      local r = compact{metric = "acc"}
      assert.has_error(function() r:setup{metric = "loss"} end)
      r:setup{mode = "max"}
      local only_mode = compact{}
      only_mode:set_search_properties(nil, "min")
      local ts = {trial("d_00000", "RUNNING", {last_result = {_metric = 3}})}
      assert.truthy(only_mode:progress_string(ts, false):find("Current best trial: d_00000 with _metric=3 ", 1, true))
      assert.has_error(function() r:set_search_properties(nil, "sideways") end)
    end)

    it("infers the best-trial metric when exactly one user metric is reported", function()
      local ts = {
        trial("i_00000", "RUNNING", {config = {x = 1}, last_result = {score = 1}}),
        trial("i_00001", "RUNNING", {config = {x = 2}, last_result = {score = 7}}),
      }
      -- no mode: no best trial
      assert.falsy(compact{}:progress_string(ts, false):find("Current best trial", 1, true))
      -- a mode given to the constructor alone: the one inferred metric
      local out = compact{mode = "max"}:progress_string(ts, false)
      assert.truthy(out:find("Current best trial: i_00001 with score=7 and parameters={'x': 2}", 1, true), out)
      -- two user metrics: nothing to infer
      ts[1].last_result.other = 1
      assert.falsy(compact{mode = "max"}:progress_string(ts, false):find("Current best trial", 1, true))
    end)

    it("rejects bad options with the caller's position", function()
      local ok, err = pcall(function()
        local r = reporter.CLIReporter{max_progres_rows = 3}
        return r
      end)
      assert.is_false(ok)
      assert.truthy(err:find("reporter_spec.lua", 1, true), err)
      assert.truthy(err:find("did you mean max_progress_rows", 1, true), err)
      assert.has_error(function() reporter.CLIReporter{mode = "up"} end)
      assert.has_error(function() reporter.CLIReporter{max_progress_rows = 0} end)
      assert.has_error(function() reporter.CLIReporter{table_format = "html"} end)
      assert.has_error(function() reporter.CLIReporter{out = "stdout"} end)
      assert.has_error(function() compact{}:progress_string({{}}, false) end)
    end)
  end)

  describe("report and plug-ins", function()
    it("writes the progress string and a newline to out", function()
      local got = {}
      local r = reporter.CLIReporter{out = function(s) got[#got + 1] = s end}
      local ts = {trial("r_00000", "RUNNING")}
      r:report(ts, false, "sys")
      assert.equal(1, #got)
      assert.equal(r:progress_string(ts, false, "sys") .. "\n", got[1])
    end)

    it("detect_reporter returns a CLIReporter", function()
      local r = reporter.detect_reporter{max_progress_rows = 7}
      assert.equal(reporter.CLIReporter, getmetatable(r))
      assert.equal(7, r._max_progress_rows)
    end)

    it("lets users derive their own from ProgressReporter", function()
      local My = reporter.ProgressReporter:extend(nil, "MyReporter")
      local seen = {}
      function My:should_report(trials, done) return done or #trials > 1 end
      function My:report(trials, done) seen[#seen + 1] = #trials .. tostring(done) end
      local m = My()
      m:setup{metric = "x", mode = "min"}
      assert.is_false(m:should_report({1}))
      m:report({1, 2}, true)
      assert.same({"2true"}, seen)
      local Bare = reporter.ProgressReporter:extend(nil, "Bare")
      assert.has_error(function() Bare():should_report({}) end, "Bare must implement should_report(trials, done)")
      assert.has_error(function() Bare():report({}, false) end)
    end)
  end)

  it("a final report that fails is one warning; the run and its state stand", function()
    -- (It was silent.)
    local support = require("spec.support")
    local dir = support.tmpdir("final-report")
    local out = support.run_script(dir, [[
local tune = require("tune")
local rep = tune.CLIReporter{}
rep.report = function(self, trials, done) if done then error("final rep boom") end end
tune.run(function() end, {verbose = 1, progress_reporter = rep, local_dir = arg[1], name = "e", backend = "sim",
  sim = {curve = function(c, it) if it < 2 then return {x = 1} end end}})
]], dir .. "/out")
    assert.matches("tunelua warning: the final report failed: reporter CLIReporter failed in report: .*final rep boom", out)
    assert.equal(1, #require("tune").ExperimentAnalysis(dir .. "/out/e").trials)
  end)

  it("a reporter's report gets Ray's sys_info as two strings: the scheduler's line, then the resources'", function()
    local support = require("spec.support")
    local dir = support.tmpdir("sys-info")
    local out = support.run_script(dir, [[
local tune = require("tune")
local rep = tune.ProgressReporter:extend(nil, "Two")()
function rep:should_report(trials, done) return done end
function rep:report(trials, done, ...)
  print(string.format("ARGS %d [%s] [%s]", select("#", ...), ...))
end
tune.run(function() end, {verbose = 1, progress_reporter = rep, local_dir = arg[1], name = "e", backend = "sim",
  sim = {curve = function(c, it) if it < 2 then return {x = 1} end end}})
]], dir .. "/out")
    assert.matches("ARGS 2 %[Using FIFO scheduling algorithm%.%] %[Resources requested: 0/1 CPUs, 0/0 GPUs%]", out)
  end)

  describe("TrialProgressCallback (verbose 2)", function()
    it("without a metric, reports what the trainable reported, not the automatic fields (Ray's _print_result)", function()
      local P = require("tune.reporter.trial_progress").TrialProgressCallback
      local out = {}
      local p = P{verbose = 2, out = function(s) out[#out + 1] = s end, clock = function() return 0 end}
      local t = setmetatable({trial_id = "a", config = {x = 1}}, {__tostring = function() return "t_a" end})
      p:on_trial_result(1, {}, t, {loss = 2, acc = 0.5, training_iteration = 1, time_total_s = 0.1, pid = 7,
        trial_id = "a", done = false, experiment_tag = "0", config = {x = 1}})
      assert.same({"Trial t_a reported acc=0.5, loss=2 with parameters={\"x\":1}.\n"}, out)
      -- Nothing but automatic fields: those two.
      local t2 = setmetatable({trial_id = "b", config = {}}, {__tostring = function() return "t_b" end})
      p:on_trial_result(1, {}, t2, {training_iteration = 3, time_total_s = 1.5, pid = 7, done = true})
      assert.equal("Trial t_b reported training_iteration=3, time_total_s=1.5 with parameters={}. This trial completed.\n",
        out[2])
    end)

    it("says once that a trial completed without a done result, as Ray's on_trial_complete", function()
      -- (A function that returned without `done`, a stopped trial: nothing was printed.)
      local P = require("tune.reporter.trial_progress").TrialProgressCallback
      local out, now = {}, 0
      local p = P{verbose = 2, out = function(s) out[#out + 1] = s end, clock = function() return now end}
      local t = setmetatable({trial_id = "a", config = {}}, {__tostring = function() return "t_a" end})
      -- Its last result printed already: "completed" with it.
      t.last_result = {acc = 7, training_iteration = 1}
      p:on_trial_result(1, {}, t, t.last_result)
      p:on_trial_complete(1, {}, t)
      p:on_trial_complete(1, {}, t)
      assert.same({"Trial t_a reported acc=7 with parameters={}.\n", "Trial t_a completed. Last result: acc=7\n"}, out)
      -- A result not printed (within the interval): that result, done as a
      -- returned function's last one is.
      out = {}
      local u = setmetatable({trial_id = "b", config = {}}, {__tostring = function() return "t_b" end})
      p:on_trial_result(1, {}, u, {acc = 7})
      u.last_result = {acc = 8, done = true}
      p:on_trial_result(1, {}, u, {acc = 8})
      p:on_trial_complete(1, {}, u)
      assert.same({"Trial t_b reported acc=7 with parameters={}.\n",
        "Trial t_b reported acc=8 with parameters={}. This trial completed.\n"}, out)
      -- A done result printed: nothing more.
      out = {}
      local w = setmetatable({trial_id = "c", config = {}}, {__tostring = function() return "t_c" end})
      w.last_result = {acc = 1, done = true}
      p:on_trial_result(1, {}, w, w.last_result)
      p:on_trial_complete(1, {}, w)
      assert.equal(1, #out)
      -- A trial a scheduler stopped within the print interval of its last
      -- line, its last result not shown (no line came at all).
      out = {}
      local x = setmetatable({trial_id = "d", config = {}}, {__tostring = function() return "t_d" end})
      p:on_trial_result(1, {}, x, {acc = 1})
      x.last_result = {acc = 2}
      p:on_trial_result(1, {}, x, x.last_result)
      p:on_trial_complete(1, {}, x)
      assert.same({"Trial t_d reported acc=1 with parameters={}.\n",
        "Trial t_d reported acc=2 with parameters={}. This trial completed.\n"}, out)
      -- At verbose 3 the same: the whole result once more, or "completed".
      out = {}
      local p3 = P{verbose = 3, out = function(s) out[#out + 1] = s end, clock = function() return now end}
      p3:on_trial_result(1, {}, x, {acc = 1})
      p3:on_trial_result(1, {}, x, x.last_result)
      p3:on_trial_complete(1, {}, x)
      local y = setmetatable({trial_id = "e", config = {}}, {__tostring = function() return "t_e" end})
      y.last_result = {acc = 3}
      p3:on_trial_result(1, {}, y, y.last_result)
      p3:on_trial_complete(1, {}, y)
      assert.same({"Result for t_d:\n  acc: 1\n", "Result for t_d:\n  acc: 2\n", "Result for t_e:\n  acc: 3\n",
        "Trial t_e completed. Last result: acc=3\n"}, out)
    end)
  end)

  describe("TrialProgressCallback (verbose 3)", function()
    it("prints a trial's first result with its keys sorted, config left out, floats short", function()
      local P = require("tune.reporter.trial_progress").TrialProgressCallback
      local out = {}
      local p = P{verbose = 3, out = function(s) out[#out + 1] = s end, clock = function() return 0 end}
      local t1 = setmetatable({trial_id = "a"}, {__tostring = function() return "t_a" end})
      local t2 = setmetatable({trial_id = "b"}, {__tostring = function() return "t_b" end})
      p:on_trial_result(1, {}, t1, {loss = 0.123456, b = "x", a = 1, config = {lr = 1}})
      -- The same keys again (another trial), then other keys: each sorted.
      p:on_trial_result(1, {}, t2, {a = 2, loss = 2.5, b = "y", config = {}})
      p:on_trial_result(1, {}, setmetatable({trial_id = "c"}, {__tostring = function() return "t_c" end}),
        {zeta = true, a = 3, config = {}, loss = 1.0})
      assert.same({
        "Result for t_a:\n  a: 1\n  b: x\n  loss: 0.1235\n",
        "Result for t_b:\n  a: 2\n  b: y\n  loss: 2.5\n",
        "Result for t_c:\n  a: 3\n  loss: 1\n  zeta: true\n",
      }, out)
      -- Within the print interval a trial is not printed again, unless done.
      p:on_trial_result(1, {}, t1, {loss = 0.1})
      assert.equal(3, #out)
      p:on_trial_result(1, {}, t1, {loss = 0.1, done = true})
      assert.equal("Result for t_a:\n  done: true\n  loss: 0.1\n", out[4])
      -- Nested tables as JSON, small and large floats, integers, a value
      -- with __tostring, a key that is not a string.
      local P2 = P{verbose = 3, out = function(s) out[#out + 1] = s end, clock = function() return 0 end}
      P2:on_trial_result(1, {}, t1, {info = {k = 1}, lr = 1e-7, big = 123456789.0, n = -12,
        obj = setmetatable({}, {__tostring = function() return "OBJ" end, __index = {}}), [7] = "seven"})
      assert.equal("Result for t_a:\n  7: seven\n  big: 1.235e+08\n  info: {\"k\":1}\n  lr: 1e-07\n  n: -12\n"
        .. "  obj: {}\n", out[5])
      assert.equal("{...}", core.short_text({f = print}))
      assert.equal("true", core.short_text(true))
      assert.equal("x", core.short_text("x"))
    end)
  end)
end)
