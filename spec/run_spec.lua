-- tune.run: options and their validation, search spaces end to end, the
-- on-disk layout, stopping, failures and retries, checkpoints, callbacks.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")
require("spec.fixtures.trainables")

--- The rows of a CSV text (RFC 4180: quoted fields may hold newlines).
local function csv_rows(text)
  local rows, row, field, i, quoted = {}, {}, {}, 1, false
  while i <= #text do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' and text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\n" then
      row[#row + 1] = table.concat(field); field = {}
      rows[#rows + 1] = row; row = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  return rows
end

local function run(trainable, opts)
  opts.verbose = opts.verbose or 0
  return tune.run(trainable, opts)
end

describe("tune.run", function()
  local dir
  before_each(function() dir = support.tmpdir("run") end)
  after_each(support.check_clean)

  describe("validation", function()
    local function err_of(opts, trainable)
      local ok, e = pcall(tune.run, trainable or "steps", opts)
      assert.is_false(ok)
      return tostring(e)
    end
    it("names the closest valid option for an unknown one", function()
      assert.matches("unknown option \"num_sample\" %(did you mean num_samples%?%)", err_of{num_sample = 3})
    end)
    it("points at the caller's line", function()
      local ok, e = pcall(function() tune.run("steps", {nmae = "x"}) end)
      assert.is_false(ok)
      assert.matches("run_spec.lua:%d+: tune.run: unknown option", tostring(e))
    end)
    it("checks mode", function()
      assert.matches("has to be one of %['min', 'max'%]", err_of{mode = "maximum"})
    end)
    it("refuses fail_fast with max_failures", function()
      assert.matches("max_failures must be 0 if fail_fast=True", err_of{fail_fast = true, max_failures = 2})
    end)
    it("refuses a negative max_concurrent_trials", function()
      assert.matches("max_concurrent_trials", err_of{max_concurrent_trials = -1})
    end)
    it("refuses metric and mode given twice", function()
      local s = tune.schedulers.FIFOScheduler{metric = "a", mode = "max"}
      assert.matches("already instantiated with their own `metric` and `mode`",
        err_of{scheduler = s, metric = "score", mode = "max", local_dir = dir})
      -- A ranking scheduler given only its mode: the conflict, not "instantiated
      -- without a valid `metric` (nil)" (it did not take tune.run's metric).
      for _, sched in ipairs({tune.schedulers.ASHAScheduler{mode = "min"},
          tune.schedulers.PopulationBasedTraining{mode = "min"}}) do
        assert.matches("already instantiated with their own `metric` and `mode`",
          err_of{scheduler = sched, metric = "score", mode = "max", local_dir = dir})
      end
    end)
    it("refuses an unresolved config with a searcher that has its own space", function()
      local searcher = tune.search.Searcher:extend()
      function searcher:suggest() return {x = 1} end
      assert.matches("unresolved parameters", err_of{search_alg = searcher(), config = {x = tune.uniform(0, 1)},
        local_dir = dir})
    end)
    it("names the offending key of an invalid search space", function()
      assert.matches("config%.opt%.lr", err_of{config = {opt = {lr = {grid_search = 3}}}, local_dir = dir})
    end)
    it("refuses the simulator's or Slurm's options on another backend, and with a trial_executor", function()
      local curve = function(_, it) if it <= 2 then return {loss = it} end end
      local cases = {
        {{sim = {curve = curve}, backend = "local"}, "tune.run: sim options given but the backend is local"},
        {{sim = {replay = dir}, backend = "local"}, "tune.run: sim options given but the backend is local"},
        {{slurm = {partition = "p"}, backend = "sim", sim = {curve = curve}},
          "tune.run: slurm options given but the backend is sim"},
        {{sim = {curve = curve}, trial_executor = tune.SimulatedExecutor{curve = curve}},
          "tune.run: sim options given, but this run gives its own trial_executor"},
      }
      for _, c in ipairs(cases) do
        c[1].local_dir = dir .. "/results"
        assert.matches(c[2], err_of(c[1]), 1, true)
        assert.is_nil(core.stat(dir .. "/results"))
      end
      -- No backend and no TUNE_BACKEND: the local one, which has no use for them.
      local saved = os.getenv("TUNE_BACKEND")
      if not saved or saved == "" then
        assert.matches("tune.run: sim options given but the backend is local",
          err_of{sim = {curve = curve}, local_dir = dir .. "/results"}, 1, true)
      end
    end)
    it("refuses a replay whose experiment directory is the recording, before writing anything", function()
      local rec = run("steps", {config = {steps = 2}, local_dir = dir, name = "rec"})
      local before = core.listdir(rec.experiment_dir)
      table.sort(before)
      for _, c in ipairs({{"rec", "is"}, {"rec_2", nil}}) do
        local ok, e = pcall(tune.run, "steps", {backend = "sim", sim = {replay = dir .. "/rec"}, local_dir = dir,
          name = c[1], verbose = 0, config = {steps = 2}})
        if c[2] then
          assert.is_false(ok)
          assert.matches("sim.replay " .. dir .. "/rec: the replay's experiment directory " .. dir .. "/rec "
            .. c[2] .. " the recording it replays", tostring(e), 1, true)
        else
          assert.is_true(ok, tostring(e))
        end
      end
      local ex = tune.SimulatedExecutor{replay = dir .. "/rec"}
      local ok, e = pcall(tune.run, "steps", {trial_executor = ex, local_dir = dir .. "/rec", name = "sub",
        verbose = 0, config = {steps = 2}})
      ex:close()
      assert.is_false(ok)
      assert.matches("the trial_executor's replay " .. dir .. "/rec: the replay's experiment directory "
        .. dir .. "/rec/sub lies inside the recording", tostring(e), 1, true)
      local after = core.listdir(rec.experiment_dir)
      table.sort(after)
      assert.same(before, after)
    end)
    it("refuses a restore path that does not exist, before writing anything", function()
      local e = err_of{restore = dir .. "/no/such/checkpoint", local_dir = dir .. "/results"}
      assert.matches('tune.run: restore: the checkpoint "' .. dir .. '/no/such/checkpoint" does not exist', e, 1, true)
      assert.is_nil(core.stat(dir .. "/results"))
    end)
    it("quotes a string given where a number or a mode was expected", function()
      assert.matches('tune.run: num_samples must be a positive integer or -1, got "4"', err_of{num_samples = "4"},
        1, true)
      assert.matches("tune.run: num_samples must be a positive integer or -1, got 0 (number)",
        err_of{num_samples = 0}, 1, true)
      assert.matches('tune.run: resume must be true, "LOCAL", "AUTO" or "ERRORED_ONLY", got "REMOTE"',
        err_of{resume = "REMOTE"}, 1, true)
    end)
    it("refuses an unregistered trainable name", function()
      assert.matches("no trainable registered as \"nope\"", err_of({local_dir = dir}, "nope"))
    end)
  end)

  it("crosses grid_search with num_samples, with Ray's tags and layout", function()
    local a = run("steps", {config = {x = tune.grid_search({1, 2}), y = tune.uniform(0, 1), iters = 2},
      num_samples = 3, local_dir = dir, name = "grid"})
    assert.equal(6, #a.trials)
    local tags, xs = {}, {}
    for _, t in ipairs(a.trials) do
      tags[#tags + 1] = t.experiment_tag
      xs[#xs + 1] = t.config.x
      assert.equal("TERMINATED", t.status)
      -- Ray's trial directory: <trainable>_<id>_<tag>_<date>, in the experiment dir.
      local prefix = dir .. "/grid/steps_" .. t.trial_id .. "_" .. t.experiment_tag .. "_"
      assert.equal(prefix, t.logdir:sub(1, #prefix))
      assert.same(t.config, core.json_decode(core.read_file(t.logdir .. "/params.json")))
      local lines = support.lines(t.logdir .. "/result.json")
      assert.equal(2, #lines)
      local last = core.json_decode(lines[2])
      assert.equal(2, last.training_iteration)
      assert.equal(t.config.x, last.config.x)
      local csv = support.lines(t.logdir .. "/progress.csv")
      assert.equal(3, #csv)
      assert.truthy(csv[1]:find("config/x", 1, true))
      assert.truthy(csv[1]:find("nested/loss", 1, true))
    end
    assert.same({1, 2, 1, 2, 1, 2}, xs)
    assert.matches("^0_x=1,y=0%.%d%d%d%d$", tags[1])
    assert.matches("^5_x=2,y=", tags[6])
    assert.truthy(a.experiment_dir)
    assert.truthy(core.stat(a.experiment_dir .. "/experiment_journal.jsonl"))
  end)

  it("is reproducible with seed", function()
    local function configs(seed)
      local a = run("steps", {config = {x = tune.uniform(0, 1), iters = 1}, num_samples = 4, seed = seed,
        local_dir = dir})
      local out = {}
      for i, t in ipairs(a.trials) do out[i] = t.config.x end
      return out
    end
    assert.same(configs(3), configs(3))
    assert.not_same(configs(3), configs(4))
  end)

  it("stops on a threshold table, a function and a Stopper", function()
    local a = run("steps", {config = {x = 1, iters = 10}, stop = {training_iteration = 3}, local_dir = dir})
    assert.equal(3, a.trials[1].last_result.training_iteration)
    a = run("steps", {config = {x = 1, iters = 10}, local_dir = dir,
      stop = function(trial_id, result) return result.score >= 4 end})
    assert.equal(4, a.trials[1].last_result.training_iteration)
    -- A stopper sees the nested result as Ray's does (result.nested.loss),
    -- and the flattened keys: only those were there.
    a = run("steps", {config = {x = 1, iters = 10}, local_dir = dir,
      stop = function(_, result) return result.nested.loss < 0.5 and result["nested/loss"] < 0.5 end})
    assert.equal(5, a.trials[1].last_result.training_iteration)
    a = run("steps", {config = {x = 1, iters = 10}, local_dir = dir,
      stop = tune.stopper.MaximumIterationStopper(2)})
    assert.equal(2, a.trials[1].last_result.training_iteration)
    -- A callable table with stop_all: its call was never made.
    local callable = setmetatable({stop_all = function() return false end},
      {__call = function(_, _, result) return result.training_iteration >= 3 end})
    a = run("steps", {config = {x = 1, iters = 10}, local_dir = dir, stop = callable})
    assert.equal(3, a.trials[1].last_result.training_iteration)
    -- A boolean is 1 or 0 (Python's bool >= 1): converged = true stops;
    -- a string fails the trial, as Ray's >= raises (both were ignored).
    a = run("report_kinds", {stop = {converged = 1}, local_dir = dir})
    assert.equal(3, a.trials[1].last_result.training_iteration)
    a = run("report_kinds", {stop = {phase = 1}, local_dir = dir, raise_on_failed_trial = false})
    assert.equal("ERROR", a.trials[1].status)
    assert.matches('stopping criterion "phase" of trial %S+ is not a number: "warmup"', a.trials[1].error_msg)
  end)

  it("flattens nested results for metrics (val/loss)", function()
    local a = run("steps", {config = {x = tune.grid_search({0.5, 0.1}), iters = 3}, metric = "nested/loss",
      mode = "min", local_dir = dir})
    assert.equal(3, a.best_trial.last_result.training_iteration)
    assert.near(2 / 3, a.best_result.nested.loss, 1e-12)
  end)

  -- The rows are encoded on the directory thread from the packed results
  -- (docs/architecture.md, "How a result travels"): each value as Ray's
  -- JSON and CSV loggers write it.
  it("continues a progress.csv whose header quotes a newline on resume, in its columns", function()
    local fail_file = dir .. "/fail"
    assert(core.write_atomic(fail_file, ""))
    local opts = {config = {fail_file = fail_file}, local_dir = dir, name = "nlkey", raise_on_failed_trial = false}
    local t = run("log_newline_key", opts).trials[1]
    assert.equal("ERROR", t.status)
    os.remove(fail_file)
    opts.resume = "ERRORED_ONLY"
    t = run("log_newline_key", opts).trials[1]
    assert.equal("TERMINATED", t.status)
    -- The header read back ended at the key's newline: rows 3 and 4 had
    -- the first columns only, the key's cell empty.
    local rows = csv_rows(core.read_file(t.logdir .. "/progress.csv"))
    assert.equal(5, #rows)
    local col = {}
    for j, name in ipairs(rows[1]) do col[name] = j end
    for r = 2, 5 do
      assert.equal(#rows[1], #rows[r])
      assert.equal(tostring(r - 1), rows[r][col.a])
      assert.equal(tostring(10 * (r - 1)), rows[r][col["n\nl"]])
    end
  end)

  it("writes result.json and progress.csv rows as Ray's loggers do", function()
    local a = run("log_shapes", {config = {x = "p,q"}, local_dir = dir, name = "shapes"})
    local t = a.trials[1]
    local lines = support.lines(t.logdir .. "/result.json")
    assert.equal(2, #lines)
    for i, line in ipairs(lines) do
      assert.truthy(line:find('"nan":NaN', 1, true))
      assert.truthy(line:find('"inf":Infinity', 1, true))
      assert.truthy(line:find('"ninf":-Infinity', 1, true))
      assert.truthy(line:find('"s":"a,\\"b\\"\\nc"', 1, true))
      assert.truthy(line:find('"list":[1,2.5,"z"]', 1, true))
      assert.truthy(line:find(',"config":{"x":"p,q"}}$'))
      local r = core.json_decode(line)
      assert.equal(i, r.int)
      assert.equal(math.type(i), math.type(r.int))
      assert.equal(i / 2, r.half)
      assert.equal(i, r.nested.a.b)
      assert.is_true(r.yes)
      assert.is_false(r.no)
    end
    -- progress.csv: one header, two rows; quoted fields may hold newlines.
    local rows = csv_rows(core.read_file(t.logdir .. "/progress.csv"))
    assert.equal(3, #rows)
    for r = 2, 3 do
      local cell = {}
      for j, name in ipairs(rows[1]) do cell[name] = rows[r][j] end
      assert.equal(#rows[1], #rows[r])
      assert.equal('a,"b"\nc', cell.s)
      assert.equal("nan", cell.nan)
      assert.equal("inf", cell.inf)
      assert.equal("-inf", cell.ninf)
      assert.equal("True", cell.yes)
      assert.equal("False", cell.no)
      assert.equal(tostring(r - 1), cell.int)
      assert.equal(r == 2 and "0.5" or "1.0", cell.half)
      assert.equal(tostring(r - 1), cell["nested/a/b"])
      assert.equal('[1,2.5,"z"]', cell.list)
      assert.equal("p,q", cell["config/x"])
    end
  end)

  it("gives every trial's progress.csv the same columns: the reported keys by name, then the filled ones", function()
    -- A Lua table has no order, and its traversal order differs from one
    -- worker process to the next: the columns do not follow it.
    local a = run("log_shapes", {config = {x = tune.grid_search({"p", "q", "r", "s"})}, local_dir = dir,
      name = "columns", reuse_actors = false})
    local own = {"half", "inf", "int", "list", "nan", "nested/a/b", "ninf", "no", "s", "yes"}
    local first
    for _, t in ipairs(a.trials) do
      local header = csv_rows(core.read_file(t.logdir .. "/progress.csv"))[1]
      assert.same(own, {table.unpack(header, 1, #own)})
      assert.equal("done", header[#own + 1])
      assert.equal("config/x", header[#header])
      first = first or header
      assert.same(first, header)
    end
  end)

  it("keeps integers beyond 2^53 exact from the config to the trainable, the logs and the analysis", function()
    -- They went through the engine as doubles: 2^53 + 1 came back as
    -- 9007199254740992.0, a config value changed on its way to the worker.
    local ints = {2 ^ 53 | 0, (2 ^ 53 | 0) + 1, -(2 ^ 53 | 0) - 1, (2 ^ 62 | 0) + 3, math.maxinteger, math.mininteger,
      math.maxinteger - 511, 12345}
    local a = run("report_ints", {config = {ints = ints}, local_dir = dir, name = "ints"})
    local t = a.trials[1]
    local function same_ints(got, where)
      for i, v in ipairs(ints) do
        assert.equal("integer", math.type(got[i]), where)
        assert.equal(v, got[i], where)
      end
    end
    same_ints(t.last_result.ints, "last_result")
    assert.equal(math.maxinteger - 1, t.last_result.own)
    assert.equal(-(2 ^ 53 | 0) - 3, t.last_result["nested/v"] or t.last_result.nested.v)
    local line = support.lines(t.logdir .. "/result.json")[1]
    assert.truthy(line:find("[9007199254740992,9007199254740993,-9007199254740993,4611686018427387907,"
      .. "9223372036854775807,-9223372036854775808,9223372036854775296,12345]", 1, true), line)
    assert.truthy(line:find('"own":9223372036854775806', 1, true))
    same_ints(core.json_decode(line).ints, "result.json")
    local csv = support.lines(t.logdir .. "/progress.csv")
    assert.truthy(csv[2]:find("9223372036854775806", 1, true))
    assert.truthy(csv[2]:find("-9007199254740995", 1, true))
    local ea = tune.ExperimentAnalysis(dir .. "/ints")
    same_ints(ea:get_all_configs()[t.logdir].ints, "analysis's params.json")
    same_ints(ea:trial_dataframes()[t.logdir][1].ints, "analysis's rows")
  end)

  it("ranks trials that report NaN without failing them", function()
    local a = run("diverges", {config = {x = tune.grid_search({1, -1})}, metric = "loss", mode = "min",
      local_dir = dir})
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
    assert.equal(-1, a.best_config.x)
  end)

  it("fails a trial whose result lacks the metric, naming trial and metric", function()
    local ok, e = pcall(tune.run, "wrong_metric", {metric = "loss", mode = "min", local_dir = dir, verbose = 0})
    assert.is_false(ok)
    assert.matches("Trials did not complete", tostring(e))
    local t = e.trials[1]
    assert.equal("ERROR", t.status)
    assert.matches("without the metric \"loss\" that tune.run%(%) expects %(it reported: accuracy%)", t.error_msg)
    assert.matches(t.trial_id, t.error_msg)
    -- The driver found the failure: error.txt says it all the same.
    assert.matches("without the metric \"loss\"", core.read_file(t.logdir .. "/error.txt"))
  end)

  it("retries a failed trial from its last checkpoint (max_failures)", function()
    local marker = dir .. "/failures"
    local a = run("flaky", {config = {steps = 5, fail_at = 3, fail_times = 2, marker = marker}, max_failures = 2,
      local_dir = dir})
    local t = a.trials[1]
    assert.equal("TERMINATED", t.status)
    assert.equal(2, t.num_failures)
    assert.equal(5, t.last_result.step)
    -- Restored from the checkpoint at step 2 each time, not started again
    -- from scratch (that would log 1, 2, 1, 2, ...).
    local steps = {}
    for _, l in ipairs(support.lines(t.logdir .. "/result.json")) do steps[#steps + 1] = core.json_decode(l).step end
    assert.same({1, 2, 3, 4, 5}, steps)
  end)

  it("saves again, after a retry, a checkpoint whose save had failed", function()
    -- (Each iteration was saved at most once: the retried trial passed
    -- iteration 4 again without a checkpoint.)
    local a = run("save_fails_once", {config = {fail_save = 4, marker = dir .. "/failed"}, checkpoint_freq = 2,
      stop = {training_iteration = 6}, max_failures = 1, local_dir = dir})
    local t = a.trials[1]
    assert.equal("TERMINATED", t.status)
    assert.equal(1, t.num_failures)
    local its = {}
    for _, l in ipairs(support.lines(t.logdir .. "/result.json")) do its[#its + 1] = core.json_decode(l).training_iteration end
    assert.same({1, 2, 3, 4, 3, 4, 5, 6}, its)
    local names = {}
    for _, name in ipairs(core.listdir(t.logdir)) do
      if name:match("^checkpoint_") then names[#names + 1] = name end
    end
    table.sort(names)
    assert.same({"checkpoint_000002", "checkpoint_000004", "checkpoint_000006"}, names)
  end)

  it("raise_on_failed_trial = false returns the analysis of a failed run", function()
    local a = run("flaky", {config = {steps = 5, fail_at = 2, fail_times = 9, marker = dir .. "/m"},
      raise_on_failed_trial = false, local_dir = dir})
    assert.equal("ERROR", a.trials[1].status)
    assert.matches("planned failure 1", a.trials[1].error_msg)
  end)

  it("fail_fast stops the experiment at the first error", function()
    local ok, e = pcall(tune.run, "flaky", {config = {steps = 50, fail_at = 1, fail_times = 9,
      marker = dir .. "/m", x = tune.grid_search({1, 2, 3, 4, 5, 6})}, fail_fast = true, local_dir = dir,
      verbose = 0, max_concurrent_trials = 1})
    assert.is_false(ok)
    local errored, terminated, pending = 0, 0, 0
    for _, t in ipairs(e.trials) do
      if t.status == "ERROR" then errored = errored + 1 end
    end
    assert.equal(1, errored)
  end)

  it("fail_fast = \"raise\" raises the trial's error", function()
    local ok, e = pcall(tune.run, "flaky", {config = {steps = 5, fail_at = 1, fail_times = 9, marker = dir .. "/m"},
      fail_fast = "raise", local_dir = dir, verbose = 0, name = "ffr"})
    assert.is_false(ok)
    assert.matches("planned failure 1", tostring(e))
    -- The failure is on disk before it is raised: error.txt, and ERROR in
    -- the experiment's state (it stayed RUNNING there).
    local t = e.trials[1]
    assert.equal("ERROR", t.status)
    assert.matches("planned failure 1", core.read_file(t.logdir .. "/error.txt"))
    local ea = tune.ExperimentAnalysis(dir .. "/ffr")
    assert.equal("ERROR", ea.trials[1].status)
  end)

  it("fail_fast = \"raise\" raises the failure of a trial that can never run", function()
    -- It ended in ERROR and the run went on: tune.run returned (here, with
    -- raise_on_failed_trial = false) and the failure was never raised.
    local ok, e = pcall(tune.run, "flaky", {config = {steps = 5, fail_at = 9, marker = dir .. "/m"},
      resources_per_trial = {cpu = 64}, num_cpus = 2, raise_on_failed_trial = false,
      fail_fast = "raise", local_dir = dir, verbose = 0, name = "ffr_never"})
    assert.is_false(ok)
    assert.matches("_00000 failed: trial [%w_]+ can never run: asked for {64 CPUs", tostring(e))
    assert.equal("ERROR", e.trials[1].status)
    assert.equal("ERROR", tune.ExperimentAnalysis(dir .. "/ffr_never").trials[1].status)
  end)

  it("fail_fast = \"raise\" raises the failure of a resumed trial that can never run", function()
    -- Failed while the resume added it, and no step came after: tune.run
    -- ended with "Trials did not complete", the CLI exiting 1, not 2.
    local config = {steps = 5, fail_at = 9, marker = dir .. "/m"}
    local stop = {on_step_end = function() error("stop here") end}
    assert.is_false(pcall(tune.run, "flaky", {config = config, local_dir = dir, verbose = 0, name = "ffr_resumed",
      callbacks = {stop}}))
    local ok, e = pcall(tune.run, "flaky", {config = config, local_dir = dir, verbose = 0, name = "ffr_resumed",
      resume = true, resources_per_trial = {cpu = 64}, num_cpus = 2, fail_fast = "raise"})
    assert.is_false(ok)
    assert.matches("_00000 failed: trial [%w_]+ can never run: asked for {64 CPUs", tostring(e))
    assert.is_true(e.fail_fast)
  end)

  it("the status counts the resources of running trials: none at the end, with cached workers too", function()
    for _, reuse in ipairs({true, false}) do
      local out = support.run_script(dir, string.format([[
        local tune = require("tune")
        tune.run(function() tune.report{a = 1} end, {verbose = 1, local_dir = %q, reuse_actors = %s,
          config = {x = tune.grid_search({1, 2, 3, 4})}, num_cpus = 2})
      ]], dir .. "/out", tostring(reuse)))
      local last
      for line in out:gmatch("Resources requested: [^\n]*") do last = line end
      assert.equal("Resources requested: 0/2 CPUs, 0/0 GPUs", last, out)
    end
  end)

  it("runs more trials at once than a low soft limit of descriptors allows (it raises it to the hard one)", function()
    -- Each running trial holds about seven descriptors: under `ulimit -Sn
    -- 64`, 16 at once failed for good with "Too many open files".
    local d = support.tmpdir("nofile")
    assert(core.write_atomic(d .. "/exp.lua", string.format([[
      local tune = require("tune")
      local a = tune.run(function() tune.report{a = 1} end, {verbose = 0, local_dir = %q, num_cpus = 16,
        num_samples = 16, raise_on_failed_trial = false})
      local n = 0
      for _, t in ipairs(a.trials) do if t.status == "TERMINATED" then n = n + 1 end end
      print("terminated " .. n)
    ]], d .. "/out")))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    local out = support.must(string.format("sh -c 'ulimit -Sn 64; exec env -u LD_PRELOAD %s %s' 2>&1",
      bin, d .. "/exp.lua"))
    assert.matches("terminated 16", out)
  end)

  it("runs a function of the file with an executor the file makes (a stand-in in the worker)", function()
    -- The worker, running the file again, refused to make the executor:
    -- every trial failed.
    local d = support.tmpdir("own-executor")
    local out = support.run_script(d, string.format([[
      local tune = require("tune")
      local function f() tune.report{loss = 1} end
      local ex = tune.TrialExecutor{num_cpus = 2}
      local a = tune.run(f, {trial_executor = ex, local_dir = %q, verbose = 0, num_samples = 2})
      ex:cleanup()
      ex:close()
      print("statuses " .. a.trials[1].status .. " " .. a.trials[2].status)
    ]], d .. "/out"))
    assert.matches("statuses TERMINATED TERMINATED", out)
  end)

  it("runs a function of the file after a simulated run the file made first", function()
    -- The worker, running the file again, made the SimulatedExecutor as a
    -- stand-in whose options it then compared: every real trial failed.
    local d = support.tmpdir("own-sim")
    local out = support.run_script(d, string.format([[
      local tune = require("tune")
      local ex = tune.SimulatedExecutor{num_cpus = 1, curve = function(c, it) if it == 1 then return {loss = 1} end end}
      tune.run("sim", {trial_executor = ex, verbose = 0, local_dir = %q, name = "sim"})
      local function f() tune.report{loss = 1} end
      local a = tune.run(f, {local_dir = %q, verbose = 0, num_samples = 2, name = "real"})
      print("statuses " .. a.trials[1].status .. " " .. a.trials[2].status)
    ]], d .. "/out", d .. "/out"))
    assert.matches("statuses TERMINATED TERMINATED", out)
  end)

  it("warns when a trial's directory was removed while it ran", function()
    -- Its rows went to files that were gone, silently.
    local d = support.tmpdir("removed-dir")
    local out = support.run_script(d, string.format([[
      local tune = require("tune")
      tune.run(function()
        tune.report{i = 1}
        os.execute("rm -rf '" .. tune.get_trial_dir() .. "'")
        tune.report{i = 2}
      end, {local_dir = %q, verbose = 0})
    ]], d .. "/out"))
    assert.matches("tunelua warning: trial [%w_]+'s directory [^\n]* was removed while the trial ran", out)
  end)

  it("keeps at most max_concurrent_trials running", function()
    local cb, most = support.running_peak()
    run("steps", {config = {x = tune.grid_search({1, 2, 3, 4, 5, 6}), iters = 3}, max_concurrent_trials = 2,
      callbacks = {cb}, num_cpus = 6, local_dir = dir})
    assert.equal(2, most())
  end)

  it("calls every callback hook with Ray's arguments", function()
    local calls = {}
    local cb = tune.Callback:extend()
    for _, h in ipairs({"setup", "on_trial_start", "on_trial_result", "on_trial_complete", "on_checkpoint",
        "on_experiment_end", "on_step_end"}) do
      cb[h] = function(self, ...) calls[h] = select("#", ...) end
    end
    run("scored", {stop = {training_iteration = 2}, checkpoint_freq = 1, callbacks = {cb()}, local_dir = dir})
    assert.equal(1, calls.setup)
    assert.equal(4, calls.on_trial_start)        -- iteration, trials, trial, info
    assert.equal(5, calls.on_trial_result)       -- ..., result, info
    assert.equal(5, calls.on_checkpoint)         -- ..., checkpoint, info
    assert.equal(4, calls.on_trial_complete)
    assert.equal(3, calls.on_step_end)
    assert.equal(2, calls.on_experiment_end)
  end)

  it("gives callbacks the trials read-only and a copy of each result, as Ray's copy", function()
    local sim = {curve = function(c, it) if it <= 2 then return {loss = c.x + 0.5} end end}
    -- A callback that removed finished trials emptied the experiment's state and analysis.
    local seen
    local prune = {on_step_end = function(_, _, trials)
      seen = #trials
      for i = #trials, 1, -1 do if trials[i].status == "TERMINATED" then table.remove(trials, i) end end
    end}
    local ok, err = pcall(tune.run, function() end, {backend = "sim", sim = sim, verbose = 0, local_dir = dir,
      name = "prune", config = {x = tune.grid_search({1, 2})}, callbacks = {prune}})
    assert.is_false(ok)
    assert.matches("callback #1 failed in on_step_end: .*run_spec.lua:%d+: the trials a callback is given are the "
      .. "runner's list, which it cannot change: copy it", tostring(err))
    assert.equal(2, seen)
    assert.equal(2, #tune.ExperimentAnalysis(dir .. "/prune").trials)
    -- One that changed a result changed what the searcher was told and the analysis's best.
    local told = {}
    local S = tune.search.Searcher:extend(nil, "Spy")
    local n = 0
    function S:suggest() n = n + 1 return n <= 2 and {x = n} or nil end
    function S:on_trial_complete(_, result) told[#told + 1] = result.loss end
    local negate = {on_trial_result = function(_, _, trials, _, result)
      assert.equal(2, #trials)
      result.loss = -result.loss
    end}
    local a = tune.run(function() end, {backend = "sim", sim = sim, verbose = 0, local_dir = dir, name = "negate",
      metric = "loss", mode = "min", search_alg = S{}, num_samples = 2, callbacks = {negate}})
    table.sort(told)
    assert.same({1.5, 2.5}, told)
    assert.equal(1, a.best_config.x)
    assert.equal(1.5, a.best_result.loss)
  end)

  it("calls a LoggerCallback subclass's log_trial_* methods, as Ray's LoggerCallback does", function()
    local log = {}
    local Logger = tune.LoggerCallback:extend(nil, "MyLogger")
    function Logger:log_trial_start(trial) log[#log + 1] = "start " .. trial.trial_id end
    function Logger:log_trial_result(iteration, trial, result)
      assert.equal("number", type(iteration))
      log[#log + 1] = "result " .. trial.trial_id .. " " .. result.step
    end
    function Logger:log_trial_save(trial) log[#log + 1] = "save " .. trial.trial_id end
    function Logger:log_trial_restore(trial) log[#log + 1] = "restore " .. trial.trial_id end
    function Logger:log_trial_end(trial, failed) log[#log + 1] = "end " .. trial.trial_id .. " " .. tostring(failed) end
    local a = run("flaky", {config = {steps = 3, fail_at = 2, fail_times = 5, marker = dir .. "/m"}, max_failures = 1,
      raise_on_failed_trial = false, local_dir = dir, callbacks = {Logger()}})
    local id = a.trials[1].trial_id
    -- Started, result 1 and its checkpoint, failed at 2 and restarted from
    -- the checkpoint, failed again: ended failed.
    assert.same({"start " .. id, "result " .. id .. " 1", "save " .. id, "start " .. id, "restore " .. id,
      "end " .. id .. " true"}, log)
    -- The JSON and CSV loggers a run adds do their work in C: no hook of
    -- theirs is called, and a subclass without a log_trial_* method has
    -- none either (the runner builds no per-result arguments for them).
    local callback = require("tune.experiment.callback")
    local list = callback.CallbackList({tune.JsonLoggerCallback(), tune.CSVLoggerCallback(),
      tune.LoggerCallback:extend()()})
    for _, h in ipairs(callback.HOOKS) do assert.is_false(list:has(h), h) end
    local only_end = tune.LoggerCallback:extend()
    function only_end.log_trial_end() end
    list = callback.CallbackList({only_end()})
    assert.is_true(list:has("on_trial_complete"))
    assert.is_true(list:has("on_trial_error"))
    assert.is_false(list:has("on_trial_result"))
  end)

  it("keeps no callback state that JSON would give back changed (integer keys), and says so", function()
    local CallbackList = require("tune.experiment.callback").CallbackList
    local sparse = {get_state = function() return {ik = {[10] = 1}} end}
    local fine = {get_state = function() return {n = 3, list = {1, 2}} end}
    local list = CallbackList({sparse, fine})
    list:setup({})
    local warned = {}
    local stderr = io.stderr
    io.stderr = {write = function(self, ...) for _, x in ipairs({...}) do warned[#warned + 1] = x end return self end}
    local state = list:get_state()
    io.stderr = stderr
    assert.equal(1, #state)
    assert.same({n = 3, list = {1, 2}}, state[1].state)
    assert.matches("get_state returned .* which the experiment's snapshot cannot hold", table.concat(warned))
  end)

  it("calls on_trial_recover when a failed trial will be retried, before it starts again", function()
    local calls = {}
    local cb = {}
    function cb.on_trial_start(_, _, _, trial) calls[#calls + 1] = "start " .. trial.status end
    function cb.on_trial_recover(_, iteration, trials, trial, info)
      assert.equal("number", type(iteration))
      assert.equal(trial, trials[1])
      assert.same({}, info)
      calls[#calls + 1] = "recover " .. trial.num_failures .. " " .. tostring(trial.error_msg ~= nil)
    end
    function cb.on_trial_error(_, _, _, trial) calls[#calls + 1] = "error " .. trial.status end
    run("flaky", {config = {steps = 3, fail_at = 2, fail_times = 5, marker = dir .. "/m"}, max_failures = 2,
      raise_on_failed_trial = false, local_dir = dir, callbacks = {cb}})
    -- Two failures retried, each recorded when the callback hears of it;
    -- the third ends the trial.
    assert.same({"start RUNNING", "recover 1 true", "start RUNNING", "recover 2 true", "start RUNNING",
      "error ERROR"}, calls)
  end)

  it("keep_checkpoints_num keeps the best by checkpoint_score_attr", function()
    local a = run("scored", {stop = {training_iteration = 5}, checkpoint_freq = 1, keep_checkpoints_num = 2,
      checkpoint_score_attr = "score", local_dir = dir, metric = "score", mode = "max"})
    local t = a.trials[1]
    local names = {}
    for _, n in ipairs(core.listdir(t.logdir)) do if n:match("^checkpoint_") then names[#names + 1] = n end end
    -- Iteration 3 scores best, then 4 (ties with 2, newer); the newest (5)
    -- is kept beside them, as Ray does, until a newer one arrives.
    assert.same({"checkpoint_000003", "checkpoint_000004", "checkpoint_000005"}, names)
    assert.equal(t.logdir .. "/checkpoint_000003", a:get_best_checkpoint(t, "score", "max"))
    -- A nested key, lower is better (docs/reference/run.md).
    a = run("scored", {stop = {training_iteration = 5}, checkpoint_freq = 1, keep_checkpoints_num = 2,
      checkpoint_score_attr = "min-nested/loss", local_dir = dir})
    names = {}
    for _, n in ipairs(core.listdir(a.trials[1].logdir)) do if n:match("^checkpoint_") then names[#names + 1] = n end end
    table.sort(names)
    assert.same({"checkpoint_000003", "checkpoint_000004", "checkpoint_000005"}, names)
  end)

  it("checkpoint_at_end and a function trainable's reported checkpoints", function()
    local a = run("scored", {stop = {training_iteration = 3}, checkpoint_at_end = true, local_dir = dir})
    local names = {}
    for _, n in ipairs(core.listdir(a.trials[1].logdir)) do if n:match("^checkpoint_") then names[#names + 1] = n end end
    assert.same({"checkpoint_000003"}, names)
    a = run("flaky", {config = {steps = 2, fail_at = 0, fail_times = 0, marker = dir .. "/m"}, local_dir = dir})
    local t = a.trials[1]
    assert.equal(2, #t.checkpoint_manager.persistent)
    assert.same({step = 2}, core.json_decode(core.read_file(t.checkpoint.dir_or_data .. "/tune_checkpoint.json")))
  end)

  it("expands ~ in local_dir as Python's expanduser: ~name is that user's home, an unknown user's path is kept", function()
    local home = os.getenv("HOME")
    core.setenv("HOME", dir)
    local ok, err = pcall(function()
      local a = run("steps", {config = {iters = 1}, local_dir = "~/res", name = "e"})
      assert.equal(dir .. "/res/e", a.experiment_dir)
      local util = require("tune.util")
      assert.equal(dir .. "/x", util.expanduser("~/x"))
      local root = ("\n" .. core.read_file("/etc/passwd")):match("\nroot:[^:\n]*:[^:\n]*:[^:\n]*:[^:\n]*:([^:\n]*)")
      assert.equal(root .. "/x", util.expanduser("~root/x"))
      -- It became $HOME .. "no_such_user_q/x": a directory beside the home.
      assert.equal("~no_such_user_q/x", util.expanduser("~no_such_user_q/x"))
      assert.equal("~a.b/x", util.expanduser("~a.b/x"))
    end)
    core.setenv("HOME", home)
    assert.is_true(ok, err)
  end)

  it("names the experiment of a trainable registered with a '/' in its name with a '_' there", function()
    -- It was refused: "the experiment name must not contain '/'", a name the
    -- user never gave.
    local a = run("run_spec/slash", {local_dir = dir})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.matches("/run_spec_slash_%d[%d_-]+$", a.experiment_dir)
  end)

  it("takes an integer-valued float for verbose, as for the other integer options", function()
    -- verbose = 2.0 passed the check, then the reporter's setup refused it.
    local reports = 0
    local reporter = tune.CLIReporter{out = function() reports = reports + 1 end}
    local a = run("steps", {config = {iters = 2}, local_dir = dir, verbose = 1.0, progress_reporter = reporter,
      num_samples = 2.0, checkpoint_freq = 1.0, keep_checkpoints_num = 1.0, max_failures = 1.0})
    assert.equal(2, #a.trials)
    assert.is_true(reports > 0)
  end)

  it("names trials and their directories with the creators", function()
    local a = run("steps", {config = {iters = 1}, local_dir = dir,
      trial_name_creator = function(t) return "custom_" .. t.trial_id end,
      trial_dirname_creator = function(t) return "dir_" .. t.trial_id end})
    local t = a.trials[1]
    assert.equal("custom_" .. t.trial_id, tostring(t))
    assert.matches("/dir_" .. t.trial_id .. "$", t.logdir)
    -- A long name is cut to 200 bytes where a character begins: cut inside
    -- one it read back as U+FFFD in the worker, which found no directory.
    a = run("steps", {config = {iters = 1, x = tune.grid_search({1, 2})}, local_dir = dir,
      trial_dirname_creator = function(tr) return "a" .. string.rep("\u{e9}", 150) .. "_" .. tr.trial_id end})
    for _, tr in ipairs(a.trials) do
      assert.equal("TERMINATED", tr.status)
      local name = tr.logdir:match("[^/]+$")
      assert.is_true(#name <= 200)
      assert.is_not_nil(utf8.len(name), name)
    end
    -- Bytes that are not UTF-8 (Latin-1) become "_": the path sent to the
    -- worker read them as U+FFFD, another directory, and every trial failed.
    a = run("steps", {config = {iters = 1}, local_dir = dir, trial_name_creator = function() return "caf\xe9" end})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.matches("/caf__", a.trials[1].logdir)
    a = run("steps", {config = {iters = 1}, local_dir = dir, trial_dirname_creator = function() return "\xff\xfeok" end})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.matches("/__ok$", a.trials[1].logdir)
    -- What is no name fails the trial, saying so (nil made a directory "nil").
    for _, c in ipairs({{function() return nil end, "must return the directory's name %(a string%), got nil"},
        {function() return {} end, "got table"}, {function() error("namer boom") end, "trial_dirname_creator failed: "
          .. ".*namer boom"}}) do
      a = run("steps", {config = {iters = 1}, local_dir = dir, trial_dirname_creator = c[1], raise_on_failed_trial = false})
      assert.equal("ERROR", a.trials[1].status)
      assert.matches(c[2], a.trials[1].error_msg)
    end
  end)

  it("a trial directory name already taken gets a random suffix; missing parents are made", function()
    local a = run("steps", {config = {iters = 1, x = tune.grid_search({1, 2})}, local_dir = dir .. "/new/parent",
      trial_dirname_creator = function() return "same" end})
    local l1, l2 = a.trials[1].logdir, a.trials[2].logdir
    assert.matches("/same$", l1)
    assert.matches("/same_%x%x%x%x$", l2)
    assert.equal("directory", core.stat(l2))
    assert.same({false, "exists"}, {core.mkdir_new(l1)})
    assert.is_true(core.mkdir_new(dir .. "/a/b/c"))
    local ok, err = core.mkdir_new(l1 .. "/result.json/x")
    assert.is_nil(ok)
    assert.matches("Not a directory", err)
  end)

  it("core.prepare_dir makes a directory, params.json and empty logs on its thread, or says why not", function()
    local d = dir .. "/prep"
    assert.is_true(core.mkdir_p(d))
    local jobs = {}
    for i = 1, 20 do jobs[i] = core.prepare_dir(d .. "/t" .. i, '{"i":' .. i .. "}") end
    for i = 1, 20 do
      assert.is_true(jobs[i]:wait())
      assert.is_true(jobs[i]:wait()) -- waiting again gives the same answer
      assert.equal('{"i":' .. i .. "}", core.read_file(d .. "/t" .. i .. "/params.json"))
      assert.equal("", core.read_file(d .. "/t" .. i .. "/result.json"))
      assert.equal("", core.read_file(d .. "/t" .. i .. "/progress.csv"))
    end
    -- Lazy (a waiting thread is woken for a few such jobs at once): each
    -- is made all the same, by the thread or by the one who waits for it.
    local lazy = {}
    for i = 1, 3 do lazy[i] = core.prepare_dir(d .. "/lazy" .. i, '{"l":' .. i .. "}", true) end
    for i = 3, 1, -1 do
      assert.is_true(lazy[i]:wait())
      assert.equal('{"l":' .. i .. "}", core.read_file(d .. "/lazy" .. i .. "/params.json"))
      assert.equal("", core.read_file(d .. "/lazy" .. i .. "/progress.csv"))
    end
    -- Taken: nothing is touched, and the caller learns it was there.
    core.write_file(d .. "/t1/result.json", "kept")
    local ok, err, errno, exists = core.prepare_dir(d .. "/t1", "{}"):wait()
    assert.is_nil(ok)
    assert.matches("t1: File exists", err)
    assert.is_number(errno)
    assert.is_true(exists)
    assert.equal("kept", core.read_file(d .. "/t1/result.json"))
    -- A missing parent is not made: the caller falls back to init_logdir.
    ok, err, errno, exists = core.prepare_dir(d .. "/no/such", "{}"):wait()
    assert.is_nil(ok)
    assert.matches("No such file", err)
    assert.is_false(exists)
    assert.is_nil(core.stat(d .. "/no"))
  end)

  it("a trial's params.json, made ahead, holds the config it starts with", function()
    local seen = {}
    local cb = tune.Callback:extend()
    function cb:on_trial_start(_, _, trial)
      seen[#seen + 1] = core.json_decode(core.read_file(trial.logdir .. "/params.json")).x == trial.config.x
    end
    local a = run("steps", {config = {iters = 1, x = tune.uniform(0, 1)}, num_samples = 6, num_cpus = 1,
      local_dir = dir, name = "params", callbacks = {cb()}})
    assert.same({true, true, true, true, true, true}, seen)
    for _, t in ipairs(a.trials) do
      assert.equal(t.config.x, core.json_decode(core.read_file(t.logdir .. "/params.json")).x)
    end
    -- A scheduler gives each trial a new config after it was added (its
    -- directory already on the way): params.json is written again.
    local Renamer = tune.schedulers.FIFOScheduler:extend(nil, "Renamer")
    function Renamer:on_trial_add(_, trial)
      trial:set_config({iters = 1, x = 40 + tonumber(trial.trial_id:match("_(%d+)$"))})
    end
    seen = {}
    local b = run("steps", {config = {iters = 1, x = tune.uniform(0, 1)}, num_samples = 3, num_cpus = 1,
      local_dir = dir, name = "renamed", scheduler = Renamer(), callbacks = {cb()}})
    assert.same({true, true, true}, seen)
    for _, t in ipairs(b.trials) do
      assert.is_true(t.config.x >= 40)
      assert.equal(t.config.x, core.json_decode(core.read_file(t.logdir .. "/params.json")).x)
    end
  end)

  it("runs the collector in generational mode at pause 150 and gives the host's mode and pause back", function()
    -- lua5.4's own interpreter starts in generational mode: start from
    -- incremental to see the switch.
    local host_mode = collectgarbage("incremental")
    local before = collectgarbage("setpause", 180)
    local during, mode
    local cb = {on_trial_result = function()
      during = collectgarbage("setpause", 150)
      mode = collectgarbage("generational") -- the mode it was in; it stays
    end}
    run("steps", {config = {iters = 1}, local_dir = dir, callbacks = {cb}})
    -- Lua keeps the pause in steps of 4 (150 reads back as 148).
    assert.is_true(during >= 144 and during <= 152, tostring(during))
    assert.equal("generational", mode)
    assert.equal("incremental", collectgarbage("incremental"))
    assert.equal(180, collectgarbage("setpause", before))
    -- A host in generational mode stays in it.
    collectgarbage("generational")
    run("steps", {config = {iters = 1}, local_dir = dir})
    assert.equal("generational", collectgarbage("incremental"))
    collectgarbage(host_mode)
    assert.has_error(function() run("steps", {config = {iters = 1}, local_dir = dir, callbacks = {
      {on_trial_result = function() collectgarbage("setpause", 150) error("boom") end}}}) end)
    assert.equal(before, collectgarbage("setpause", before))
  end)

  it("log_to_file: true, a name, or a pair", function()
    local a = run("chatty", {log_to_file = true, local_dir = dir})
    assert.same({"hello from stdout"}, support.lines(a.trials[1].logdir .. "/stdout"))
    a = run("chatty", {log_to_file = "both.log", local_dir = dir})
    local both = support.lines(a.trials[1].logdir .. "/both.log")
    table.sort(both)
    assert.same({"hello from stderr", "hello from stdout"}, both)
    -- A path below the trial's directory (its directories made) or an
    -- absolute one (as given): the output was dropped, with a warning a
    -- line. Something that is no file's name is refused.
    a = run("chatty", {log_to_file = {"logs/out.log", dir .. "/abs-err.log"}, local_dir = dir})
    assert.same({"hello from stdout"}, support.lines(a.trials[1].logdir .. "/logs/out.log"))
    assert.same({"hello from stderr"}, support.lines(dir .. "/abs-err.log"))
    -- Text without a newline is its trial's, with a reused worker too (it
    -- stayed in the worker's buffer until the next trial's line).
    a = run("partial_line", {log_to_file = true, reuse_actors = true, num_cpus = 1, local_dir = dir,
      config = {x = tune.grid_search({1, 2, 3})}})
    for i, t in ipairs(a.trials) do
      assert.equal("progress of " .. i .. ": 100%", core.read_file(t.logdir .. "/stdout"))
    end
    for _, bad in ipairs({"", "logs/", {"a", ".."}}) do
      local ok, e = pcall(tune.run, "chatty", {log_to_file = bad, local_dir = dir .. "/refused", verbose = 0})
      assert.is_false(ok)
      assert.matches("tune.run: log_to_file: .* is not a file's name", tostring(e))
      assert.is_nil(core.stat(dir .. "/refused"))
    end
  end)

  it("a trial that can never fit fails at once, naming what it asked and what exists", function()
    local ok, e = pcall(tune.run, "steps", {resources_per_trial = {cpu = 64}, local_dir = dir, verbose = 0,
      num_cpus = 2})
    assert.is_false(ok)
    assert.matches("asked for {64 CPUs, 0 GPUs}", e.trials[1].error_msg, 1, true)
    assert.matches("node has 2 CPUs", e.trials[1].error_msg, 1, true)
  end)

  it("uses a class trainable's default_resource_request and custom resources", function()
    local ex = support.executor{num_cpus = 4, resources = {custom = 2}}
    local a = run("steps", {config = {iters = 1, x = tune.grid_search({1, 2, 3})},
      resources_per_trial = {cpu = 1, custom_resources = {custom = 1}}, trial_executor = ex, local_dir = dir})
    for _, t in ipairs(a.trials) do assert.equal(1, t.placement_group_factory:head().custom) end
  end)

  it("restore starts the trial from a checkpoint", function()
    local a = run("scored", {stop = {training_iteration = 2}, checkpoint_at_end = true, local_dir = dir})
    local ck = a.trials[1].checkpoint.dir_or_data
    -- Given relative to the working directory as well: the worker, which
    -- runs in the trial's directory, got the path as it was and restored
    -- the counters but not the data.
    local cwd = core.getcwd() .. "/"
    local relative = ck:sub(1, #cwd) == cwd and ck:sub(#cwd + 1) or ck
    for _, path in ipairs({ck, relative}) do
      a = run("scored", {stop = {training_iteration = 4}, restore = path, local_dir = dir})
      local lines = support.lines(a.trials[1].logdir .. "/result.json")
      assert.equal(2, #lines) -- iterations 3 and 4 only
      assert.equal(3, core.json_decode(lines[1]).i)
    end
    -- A directory that is not a checkpoint is refused (it was ignored).
    local ok, e = pcall(tune.run, "scored", {restore = a.trials[1].logdir, local_dir = dir, verbose = 0})
    assert.is_false(ok)
    assert.matches("tune.run: restore: .* is not a checkpoint", tostring(e))
  end)

  it("makes the next trial's directory while it waits; logs exist at start; an unused directory goes", function()
    local at_start, waiting = {}, nil
    local cb = tune.Callback:extend()
    function cb:on_trial_start(_, _, trial)
      at_start[#at_start + 1] = core.stat(trial.logdir .. "/result.json") ~= nil
        and core.stat(trial.logdir .. "/progress.csv") ~= nil
    end
    function cb:on_trial_result(_, trials, trial)
      -- One CPU: the second trial waits for the first, its directory made.
      if trial == trials[1] and waiting == nil then
        local t2 = trials[2]
        waiting = t2.status == "PENDING" and rawget(t2, "logdir") ~= nil and core.stat(t2.logdir) ~= nil
      end
    end
    local a = run("steps", {config = {iters = 2}, num_samples = 3, num_cpus = 1, local_dir = dir,
      callbacks = {cb()}})
    assert.same({true, true, true}, at_start)
    assert.is_true(waiting)
    -- The whole experiment stops after the first result: the trial that was
    -- chosen next never starts and keeps no directory.
    local stopper = tune.stopper.Stopper:extend()
    function stopper:__call() self.seen = true return false end
    function stopper:stop_all() return self.seen == true end
    local b = run("steps", {config = {iters = 2}, num_samples = 3, num_cpus = 1, local_dir = dir, name = "cut",
      stop = stopper(), raise_on_failed_trial = false})
    local with_dir = 0
    for _, t in ipairs(b.trials) do if t.logdir then with_dir = with_dir + 1 end end
    assert.equal(1, with_dir)
    local dirs = 0
    for _, name in ipairs(core.listdir(dir .. "/cut")) do
      if name:match("^steps_") then dirs = dirs + 1 end
    end
    assert.equal(1, dirs)
    assert.equal(3, #a.trials)
  end)

  it("num_samples = -1 runs until a stopper ends the experiment", function()
    local a = run("steps", {config = {iters = 1, x = tune.uniform(0, 1)}, num_samples = -1, local_dir = dir,
      stop = tune.stopper.TimeoutStopper(1.5)})
    assert.is_true(#a.trials > 3)
  end)

  it("time_budget_s ends a long experiment", function()
    local t0 = core.now()
    local a = run("recorded", {config = {iters = 1000, sleep = 0.05, x = 1, dir = dir}, time_budget_s = 1,
      local_dir = dir, raise_on_failed_trial = false})
    assert.is_true(core.now() - t0 < 10)
    assert.is_true(a.trials[1].last_result.i < 1000)
  end)
end)
