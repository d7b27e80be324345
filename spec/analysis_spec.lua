-- ExperimentAnalysis and `tunelua analyze`, on synthetic experiment
-- directories written here the way the runner writes them.
local analysis = require("tune.analysis")
local cli = require("tune.cli.analyze")
local core = require("tune.core")
local support = require("spec.support")
local tune = require("tune")

local ExperimentAnalysis = analysis.ExperimentAnalysis

local function write(path, text)
  assert(core.mkdir_p(path:match("^(.*)/[^/]*$")))
  assert(core.write_atomic(path, text))
end

local function json(v) return assert(core.json_encode(v)) end

--- Runs f with io.stdout and io.stderr captured; returns f's result, out, err.
local function capture(f)
  local out, err = {}, {}
  local saved_out, saved_err = io.stdout, io.stderr
  io.stdout = {write = function(self, ...)
    for _, s in ipairs({...}) do out[#out + 1] = tostring(s) end
    return self
  end, flush = function(self) return self end}
  io.stderr = {write = function(self, ...)
    for _, s in ipairs({...}) do err[#err + 1] = tostring(s) end
    return self
  end}
  local ok, r = pcall(f)
  io.stdout, io.stderr = saved_out, saved_err
  if not ok then error(r, 0) end
  return r, table.concat(out), table.concat(err)
end

local function lines(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local NAME_A = 'he said "hi", ok'
local NAME_B = 'b "quoted", name'

-- Loss curves chosen so that each scope has its own winner (mode min):
-- last B, avg A, last-5-avg B, last-10-avg A, all C.
local LOSS = {
  A = {12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
  B = {20, 20, 20, 20, 20, 20, 20, 1, 1, 1, 1, 0.9},
  C = {0.05, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50},
}

local function result_row(id, i, loss, acc, config, n)
  return json({training_iteration = i, time_total_s = i * 1.5, trial_id = id, done = i == n,
    loss = loss, val = {loss = 100 - loss}, acc = acc, config = config})
end

--- A trial record plus its directory; returns the record.
local function trial_rec(exp_dir, id, status, config, tag)
  local rel = "train_" .. id .. "_" .. tag .. "_2024-01-01_00-00-00"
  return {trial_id = id, trainable_name = "train", config = config, evaluated_params = {},
    experiment_tag = tag, status = status, logdir = exp_dir .. "/" .. rel, relative_logdir = rel,
    last_result = {}, num_failures = 0, error_msg = core.null, error_file = core.null, checkpoints = {}}
end

local function state_json(exp_dir, name, metric, mode, trials, extra)
  local s = {format = "tunelua.experiment_state", version = 1, name = name, timestamp = 1704067200.5,
    experiment_dir = exp_dir, metric = metric or core.null, mode = mode or core.null, journal_seq = 7,
    runner = {session = name}, stats = {start_time = 1704067200, trials = #trials}, trials = trials}
  for k, v in pairs(extra or {}) do s[k] = v end
  return json(s)
end

--- The main experiment: trials A, B (progress.csv only), C (ERROR) and a
--- PENDING D that never started, in the runner's order.
local function make_main(root)
  local D = root .. "/main"
  local A = trial_rec(D, "aaaa_00000", "TERMINATED", {lr = 0.01, model = {layers = 2}, name = NAME_A}, "0_lr=0.01")
  local B = trial_rec(D, "bbbb_00001", "TERMINATED", {lr = 0.1, model = {layers = 4}, name = NAME_B}, "1_lr=0.1")
  local C = trial_rec(D, "cccc_00002", "ERROR", {lr = 1 / 3, model = {layers = 8}, name = "c"}, "2_lr=0.33")
  local Dt = trial_rec(D, "dddd_00003", "PENDING", {lr = 0.5, model = {layers = 1}, name = "d"}, "3_lr=0.5")
  Dt.logdir, Dt.relative_logdir = core.null, core.null
  C.error_msg = "boom"
  C.error_file = C.logdir .. "/error.txt"
  C.num_failures = 1

  -- A: result.json with a torn last line; three checkpoints, one without the metric.
  local text = {}
  for i, loss in ipairs(LOSS.A) do text[#text + 1] = result_row(A.trial_id, i, loss, i * 3 / 40, A.config, 12) end
  write(A.logdir .. "/result.json", table.concat(text, "\n") .. "\n" .. '{"training_iteration": 13, "loss": -100, "val": {"lo')
  write(A.logdir .. "/params.json", json(A.config))
  A.last_result = core.json_decode(result_row(A.trial_id, 12, 1, 0.9, A.config, 12))
  for _, it in ipairs({4, 8, 12}) do
    local dir = string.format("%s/checkpoint_%06d", A.logdir, it)
    write(dir .. "/.tune_metadata.json", json({training_iteration = it, time_total_s = it * 1.5}))
    write(dir .. "/model.json", "{}")
    local metrics = {training_iteration = it}
    if it ~= 8 then metrics.loss = LOSS.A[it] end
    A.checkpoints[#A.checkpoints + 1] = {dir = dir, storage = "PERSISTENT", metrics = metrics}
  end

  -- B: progress.csv only (quoted field, torn last row); a checkpoint on disk
  -- that the state does not list.
  local csv = {"training_iteration,time_total_s,trial_id,done,loss,val/loss,acc,config/lr,config/model/layers,config/name"}
  for i, loss in ipairs(LOSS.B) do
    csv[#csv + 1] = string.format('%d,%s,%s,%s,%s,%s,%s,0.1,4,"%s"', i, i * 1.5, B.trial_id, i == 12 and "True" or "False",
      tostring(loss), tostring(100 - loss), "0.6", (NAME_B:gsub('"', '""')))
  end
  write(B.logdir .. "/progress.csv", table.concat(csv, "\r\n") .. "\r\n" .. '13,19.5,bbbb_00001,False,-100,200,0.3,0.1,4,"b')
  B.last_result = core.json_decode(result_row(B.trial_id, 12, 0.9, 0.6, B.config, 12))
  write(B.logdir .. "/checkpoint_000010/.tune_metadata.json", json({training_iteration = 10}))

  -- C: errored after 12 results.
  text = {}
  for i, loss in ipairs(LOSS.C) do text[#text + 1] = result_row(C.trial_id, i, loss, 0.2, C.config, 0) end
  write(C.logdir .. "/result.json", table.concat(text, "\n") .. "\n")
  write(C.logdir .. "/error.txt", "boom\n")
  C.last_result = core.json_decode(result_row(C.trial_id, 12, 50, 0.2, C.config, 0))

  -- An older state (one trial, another metric) and a temporary file from an
  -- interrupted atomic write must both lose to the newest state.
  write(D .. "/experiment_state-2023-12-31_23-59-59.json", state_json(D, "main", "acc", "max", {A}))
  write(D .. "/experiment_state-2024-01-02_00-00-00.json", state_json(D, "main", "loss", "min", {A, B, C, Dt}))
  write(D .. "/experiment_state-2099-01-01_00-00-00.json.tmp-42", "{torn")
  write(D .. "/experiment_journal.jsonl", "")
  return D, {A = A, B = B, C = C, D = Dt}
end

--- Three trials: one ends in NaN, one in -Infinity, one finite.
local function make_nan(root)
  local D = root .. "/nan"
  local I = trial_rec(D, "00000_inf", "TERMINATED", {x = 1}, "0_x=1")
  local N = trial_rec(D, "00001_nan", "TERMINATED", {x = 2}, "1_x=2")
  local F = trial_rec(D, "00002_ok", "TERMINATED", {x = 3}, "2_x=3")
  local curves = {[I] = {3, -math.huge}, [N] = {1, 0.2, 0 / 0}, [F] = {0.5, 0.4}}
  for t, curve in pairs(curves) do
    local text = {}
    for i, v in ipairs(curve) do
      text[#text + 1] = json({training_iteration = i, trial_id = t.trial_id, loss = v})
    end
    write(t.logdir .. "/result.json", table.concat(text, "\n") .. "\n")
    t.last_result = {training_iteration = #curve, loss = curve[#curve]}
  end
  -- N's checkpoints, the NaN one listed first.
  for _, it in ipairs({3, 1, 2}) do
    local dir = string.format("%s/checkpoint_%06d", N.logdir, it)
    write(dir .. "/.tune_metadata.json", json({training_iteration = it}))
    N.checkpoints[#N.checkpoints + 1] = {dir = dir, storage = "PERSISTENT",
      metrics = {training_iteration = it, loss = curves[N][it]}}
  end
  write(D .. "/experiment_state-2024-01-01_00-00-00.json", state_json(D, "nan", nil, nil, {I, N, F}))
  return D, {I = I, N = N, F = F}
end

local function by_logdir(rows)
  local out = {}
  for _, r in ipairs(rows) do out[r.logdir] = r end
  return out
end

describe("ExperimentAnalysis", function()
  local root, D, T
  before_each(function()
    root = support.tmpdir("analysis")
    D, T = make_main(root)
  end)
  after_each(function() core.remove_tree(root) end)

  it("reads the newest experiment_state, its trials in the state's order", function()
    local ea = ExperimentAnalysis(D)
    assert.are.equal(4, #ea.trials)
    local ids = {}
    for i, t in ipairs(ea.trials) do ids[i] = t.trial_id end
    assert.are.same({"aaaa_00000", "bbbb_00001", "cccc_00002", "dddd_00003"}, ids)
    assert.are.equal("loss", ea.experiment_metric)
    assert.are.equal("min", ea.experiment_mode)
    assert.are.same({start_time = 1704067200, trials = 4}, ea:stats())
    assert.are.same({session = "main"}, ea:runner_data())
    assert.are.equal(D, ea.experiment_dir)
    -- A state file path works too, and picks that file.
    local old = ExperimentAnalysis(D .. "/experiment_state-2023-12-31_23-59-59.json")
    assert.are.equal(1, #old.trials)
    assert.are.equal("acc", old.experiment_metric)
  end)

  it("keeps a Searcher's trials in the order they were created, not by their random ids", function()
    -- A Searcher's trial ids are 8 random hex digits: sorted by id, the
    -- trials were shuffled (ties, the report's best so far, analyze's list).
    local S = root .. "/searched"
    local ids = {"f3a1c2d4", "0b9e7a11", "7c2d5e60", "a0000001"}
    local recs = {}
    for i, id in ipairs(ids) do recs[i] = trial_rec(S, id, "TERMINATED", {x = i}, tostring(i - 1)) end
    write(S .. "/experiment_state-2024-01-01_00-00-00.json", state_json(S, "searched", nil, nil, recs))
    local got = {}
    for i, t in ipairs(ExperimentAnalysis(S).trials) do got[i] = t.trial_id end
    assert.are.same(ids, got)
  end)

  it("exposes the trial records with nulls dropped and a Ray-style name", function()
    local ea = ExperimentAnalysis(D)
    local C = ea.trials[3]
    assert.are.equal("ERROR", C.status)
    assert.are.equal("boom", C.error_msg)
    assert.are.equal(1, C.num_failures)
    assert.is_nil(ea.trials[1].error_msg)
    assert.are.equal("train_cccc_00002", tostring(C))
    assert.are.equal(T.C.logdir, C.logdir)
    assert.is_nil(ea.trials[4].logdir)
  end)

  it("results maps trial ids to last results", function()
    local ea = ExperimentAnalysis(D)
    local results = ea.results
    assert.are.equal(4, count(results))
    assert.are.equal(1, results["aaaa_00000"].loss)
    assert.are.equal(0.9, results["bbbb_00001"].loss)
    assert.are.same({}, results["dddd_00003"])
    local df = ea.results_df
    assert.are.equal(4, #df)
    assert.are.equal(99, df[1]["val/loss"])
  end)

  describe("get_best_trial", function()
    local cases = {
      {"loss", "min", "last", "bbbb_00001"},
      {"loss", "min", "avg", "aaaa_00000"},
      {"loss", "min", "last-5-avg", "bbbb_00001"},
      {"loss", "min", "last-10-avg", "aaaa_00000"},
      {"loss", "min", "all", "cccc_00002"},
      {"loss", "max", "last", "cccc_00002"},
      {"loss", "max", "all", "cccc_00002"},
      {"acc", "max", "last", "aaaa_00000"},
      {"acc", "max", "avg", "bbbb_00001"},
      {"acc", "min", "all", "aaaa_00000"},
      {"val/loss", "min", "last", "cccc_00002"},
      {"val/loss", "max", "last", "bbbb_00001"},
    }
    for _, c in ipairs(cases) do
      it(string.format("%s %s scope %s -> %s", c[1], c[2], c[3], c[4]), function()
        local ea = ExperimentAnalysis(D)
        local best = ea:get_best_trial(c[1], c[2], c[3])
        assert.is_not_nil(best)
        assert.are.equal(c[4], best.trial_id)
      end)
    end

    it("defaults to scope last and to default_metric/default_mode", function()
      local ea = ExperimentAnalysis(D, {default_metric = "loss", default_mode = "max"})
      assert.are.equal("cccc_00002", ea:get_best_trial().trial_id)
      assert.are.equal("aaaa_00000", ea:get_best_trial("loss", "min", "avg").trial_id)
      assert.are.equal("bbbb_00001", ea:get_best_trial(nil, "min").trial_id)
    end)

    it("computes scores as Ray's metric_analysis does", function()
      local ea = ExperimentAnalysis(D)
      local A, B = ea.trials[1], ea.trials[2]
      assert.are.equal(6.5, ea:get_trial_score(A, "loss", "min", "avg"))
      assert.are.equal(3, ea:get_trial_score(A, "loss", "min", "last-5-avg"))
      assert.are.equal(5.5, ea:get_trial_score(A, "loss", "min", "last-10-avg"))
      assert.are.equal(12, ea:get_trial_score(A, "loss", "max", "all"))
      assert.are.equal(0.9, ea:get_trial_score(B, "loss", "min", "all"))
      assert.is_nil(ea:get_trial_score(A, "nope", "min"))
      -- config and debug keys are not metrics
      assert.is_nil(ea:get_trial_score(A, "config/lr", "min"))
      assert.is_nil(ea:get_trial_score(A, "timestamp", "min"))
      -- Ray's running average weighs by training_iteration: iterations 1
      -- and 3 with values 3 and 6 average to (6 + 2 * 3) / 3 = 4, not 4.5.
      write(root .. "/w/result.json", json({training_iteration = 1, m = 3}) .. "\n"
        .. json({training_iteration = 3, m = 6}) .. "\n")
      local live = {trial_id = "w", config = {}, last_result = {}, logdir = root .. "/w"}
      local ea2 = ExperimentAnalysis(D, {trials = {live}})
      assert.are.equal(4, ea2:get_trial_score(live, "m", "min", "avg"))
    end)

    it("scores again from what fetch_trial_dataframes reads again", function()
      write(root .. "/f/result.json", json({training_iteration = 1, m = 3}) .. "\n")
      local live = {trial_id = "f", config = {}, last_result = {}, logdir = root .. "/f"}
      local ea = ExperimentAnalysis(D, {trials = {live}})
      assert.are.equal(3, ea:get_trial_score(live, "m", "max", "all"))
      write(root .. "/f/result.json", json({training_iteration = 1, m = 3}) .. "\n"
        .. json({training_iteration = 2, m = 8}) .. "\n")
      assert.are.equal(3, ea:get_trial_score(live, "m", "max", "all")) -- kept until read again
      ea:fetch_trial_dataframes()
      assert.are.equal(8, ea:get_trial_score(live, "m", "max", "all"))
      assert.are.equal(live, ea:get_best_trial("m", "max", "all"))
    end)

    it("returns nil and warns when no trial has the metric", function()
      local ea = ExperimentAnalysis(D)
      local best, _, err = capture(function() return ea:get_best_trial("nope", "min") end)
      assert.is_nil(best)
      assert.matches("Could not find best trial", err, 1, true)
    end)

    it("returns the only trial, as Ray does", function()
      local ea = ExperimentAnalysis(D .. "/experiment_state-2023-12-31_23-59-59.json")
      local best = capture(function() return ea:get_best_trial("nope", "min") end)
      assert.are.equal("aaaa_00000", best.trial_id)
    end)

    it("validates metric, mode and scope", function()
      local ea = ExperimentAnalysis(D)
      local ok, err = pcall(ea.get_best_trial, ea, "loss", "best")
      assert.is_false(ok)
      assert.matches("`mode` has to be one of [min, max]", err, 1, true)
      ok, err = pcall(ea.get_best_trial, ea, nil, "min")
      assert.is_false(ok)
      assert.matches("No `metric` has been passed", err, 1, true)
      ok, err = pcall(ea.get_best_trial, ea, "loss")
      assert.is_false(ok)
      assert.matches("No `mode` has been passed", err, 1, true)
      ok, err = pcall(ea.get_best_trial, ea, "loss", "min", "last-3-avg")
      assert.is_false(ok)
      assert.matches("scope last-3-avg not in", err, 1, true)
      ok, err = pcall(function() ea:get_best_config("loss", "mid") end)
      assert.is_false(ok)
      assert.matches("analysis_spec.lua:%d+: If set, `mode`", err)
      ok, err = pcall(ExperimentAnalysis, D, {default_mode = "up"})
      assert.is_false(ok)
      assert.matches("`default_mode` has to be nil or one of [min, max]", err, 1, true)
      ok, err = pcall(ExperimentAnalysis, D, {default_metrc = "loss"})
      assert.is_false(ok)
      assert.matches("did you mean default_metric", err, 1, true)
    end)

    it("uses the anonymous metric when only a mode is given", function()
      local ea = ExperimentAnalysis(D, {default_mode = "min"})
      assert.are.equal("_metric", ea.default_metric)
    end)
  end)

  it("reads a trial's history from progress.csv when the JSON logger did not run", function()
    local dir = support.tmpdir("analysis-csvonly")
    local returned = tune.run("c", {name = "c", backend = "sim", local_dir = dir, verbose = 0, metric = "loss", mode = "min",
      config = {early = tune.grid_search({10, 1})}, callbacks = {tune.CSVLoggerCallback()},
      sim = {curve = function(c, i) if i <= 5 then return {loss = i == 5 and (c.early == 10 and 0 or 5) or c.early} end end}})
    local a = analysis.ExperimentAnalysis(dir .. "/c")
    -- tune.run's analysis has the state's stats and runner records too.
    assert.equal(2, returned:stats().trials)
    assert.same(a:stats(), returned:stats())
    assert.equal(a:runner_data().iteration, returned:runner_data().iteration)
    local avg = {}
    for _, t in ipairs(a.trials) do
      assert.equal(0, #(core.read_file(t.logdir .. "/result.json") or ""))
      avg[t.config.early] = a:get_trial_score(t, "loss", "min", "avg")
    end
    assert.same({[10] = 8, [1] = 1.8}, avg)
    assert.equal(1, a:get_best_trial("loss", "min", "avg").config.early)
    assert.equal(2, #a:dataframe())
    for _, rows in pairs(a:trial_dataframes()) do assert.equal(5, #rows) end
    for _, rows in pairs(a:fetch_trial_dataframes()) do assert.equal(5, #rows) end
    -- A trial may be given by its directory, as to the checkpoint methods.
    local t = a.trials[1]
    assert.equal(a:get_trial_score(t, "loss", "min", "avg"), a:get_trial_score(t.logdir .. "/", "loss", "min", "avg"))
    for _, bad in ipairs({42, false}) do
      local ok, e = pcall(a.get_trial_score, a, bad, "loss", "min")
      assert.is_false(ok)
      assert.matches("trial should be a logdir string or a trial", tostring(e))
    end
  end)

  it("averages integer metrics near 2^63 in floats, as Python does (no overflow)", function()
    -- (step - 1) * avg overflowed in integers: 5e18 averaged to -4.2e18.
    local dir = support.tmpdir("ovf")
    local a = tune.run(function() end, {backend = "sim", sim = {curve = function(c, i)
      if i <= 3 then return {bytes = c.b} end end}, verbose = 0, local_dir = dir, name = "ovf",
      config = {b = tune.grid_search({5000000000000000000, 10})}})
    local big = a.trials[1].config.b == 10 and a.trials[2] or a.trials[1]
    for _, scope in ipairs({"avg", "last-5-avg", "last-10-avg"}) do
      assert.equal(5e18, a:get_trial_score(big, "bytes", "max", scope), scope)
      assert.equal(5000000000000000000, a:get_best_config("bytes", "max", scope).b, scope)
    end
  end)

  it("says what is wrong with a dot for a colon and with arguments of the wrong type", function()
    local a = tune.run(function() end, {backend = "sim", sim = {curve = function(_, i) if i <= 2 then return {loss = i} end end},
      verbose = 0, local_dir = support.tmpdir("ea-args"), num_samples = 2})
    local ok, err = pcall(a.get_best_trial, "loss", "min")
    assert.is_false(ok)
    assert.matches("call its methods with a colon", err, 1, true)
    -- Every method, naming itself (dataframe raised "attempt to index a nil
    -- value", get_best_config named get_best_trial).
    for _, name in ipairs({"dataframe", "get_best_config", "get_trial_checkpoints_paths", "get_best_checkpoint",
        "trial_dataframes", "get_all_configs"}) do
      local line = debug.getinfo(1, "l").currentline
      ok, err = pcall(function() local r = a[name]("loss", "min") return r end)
      assert.is_false(ok, name)
      assert.matches("analysis_spec.lua:" .. (line + 1) .. ": ExperimentAnalysis: call its methods with a colon "
        .. "(analysis:" .. name .. "(...))", err, 1, true)
    end
    ok, err = pcall(a.get_best_trial, a, "loss", "min", "last", "no")
    assert.matches("filter_nan_and_inf must be true or false, got string", err, 1, true)
    ok, err = pcall(a.get_all_configs, a, "yes")
    assert.matches("prefix must be true or false, got string", err, 1, true)
    -- A metric that is no string: a traceback from util.get_path's
    -- string.find (a boolean or table), or taken as given (a number).
    for _, bad in ipairs({true, {"loss"}, 1}) do
      for _, name in ipairs({"get_trial_checkpoints_paths", "get_best_checkpoint"}) do
        local line = debug.getinfo(1, "l").currentline
        ok, err = pcall(function() local r = a[name](a, a.trials[1], bad, "min") return r end)
        assert.is_false(ok, name)
        assert.matches("analysis_spec.lua:" .. (line + 1) .. ": `metric` has to be a string, got " .. type(bad), err, 1, true)
      end
      ok, err = pcall(a.dataframe, a, bad)
      assert.matches("`metric` has to be nil or a string, got " .. type(bad), err, 1, true)
    end
    -- A table that is no trial (the list of trials): it was taken for one,
    -- with no checkpoints, no score, and warnings naming "nil_nil".
    for _, name in ipairs({"get_trial_checkpoints_paths", "get_best_checkpoint", "get_last_checkpoint",
        "get_trial_score"}) do
      ok, err = pcall(a[name], a, a.trials, "loss", "min")
      assert.is_false(ok, name)
      assert.matches("trial should be a logdir string or a trial, got a table with neither trial_id nor logdir "
        .. "(a list of trials? pass one of them)", err, 1, true)
    end
    assert.equal(2, #a.trials)
    assert.is_not_nil(a:get_best_trial("loss", "min", "last", false))
  end)

  it("get_best_config and get_best_logdir follow the best trial", function()
    local ea = ExperimentAnalysis(D)
    assert.are.same({lr = 0.01, model = {layers = 2}, name = NAME_A}, ea:get_best_config("loss", "min", "avg"))
    assert.are.equal(T.C.logdir, ea:get_best_logdir("loss", "min", "all"))
    local cfg = capture(function() return ea:get_best_config("nope", "min") end)
    assert.is_nil(cfg)
  end)

  describe("checkpoints", function()
    it("get_trial_checkpoints_paths uses save-time metrics, else the result row", function()
      local ea = ExperimentAnalysis(D)
      local A = ea.trials[1]
      local paths = ea:get_trial_checkpoints_paths(A, "loss")
      assert.are.equal(3, #paths)
      assert.are.equal(A.logdir .. "/checkpoint_000004", paths[1][1])
      assert.are.equal(9, paths[1][2])
      assert.are.equal(5, paths[2][2])   -- from result.json, iteration 8
      assert.are.equal(1, paths[3].value)
      -- default metric: training_iteration
      local its = ea:get_trial_checkpoints_paths(A)
      assert.are.same({4, 8, 12}, {its[1][2], its[2][2], its[3][2]})
      -- by logdir
      local by_dir = ea:get_trial_checkpoints_paths(A.logdir, "loss")
      assert.are.equal(5, by_dir[2][2])
    end)

    it("get_best_checkpoint ranks by metric and mode", function()
      local ea = ExperimentAnalysis(D)
      local A = ea.trials[1]
      assert.are.equal(A.logdir .. "/checkpoint_000012", ea:get_best_checkpoint(A, "loss", "min"))
      assert.are.equal(A.logdir .. "/checkpoint_000004", ea:get_best_checkpoint(A, "loss", "max"))
      assert.are.equal(A.logdir .. "/checkpoint_000004", ea:get_best_checkpoint(A, "training_iteration", "min"))
      assert.are.equal(A.logdir .. "/checkpoint_000012", ea:get_last_checkpoint(A))
      local ok, err = pcall(ea.get_best_checkpoint, ea, A, "loss")
      assert.is_false(ok)
      assert.matches("No `mode` has been passed", err, 1, true)
    end)

    it("finds checkpoints on disk that the state does not list", function()
      local ea = ExperimentAnalysis(D)
      local B = ea.trials[2]
      assert.are.equal(B.logdir .. "/checkpoint_000010", ea:get_best_checkpoint(B, "loss", "min"))
      local paths = ea:get_trial_checkpoints_paths(B, "loss")
      assert.are.equal(1, #paths)
      assert.are.equal(1, paths[1][2])   -- progress.csv row of iteration 10
    end)

    it("returns nil with a message when a trial has no checkpoint", function()
      local ea = ExperimentAnalysis(D)
      local r, _, err = capture(function() return ea:get_best_checkpoint(ea.trials[3], "loss", "min") end)
      assert.is_nil(r)
      assert.matches("No checkpoints have been found for trial train_cccc_00002", err, 1, true)
      -- A directory that is no trial of it: named by its path, as Ray does (it was "nil_x").
      r, _, err = capture(function() return ea:get_best_checkpoint(D .. "/nowhere/x", "loss", "min") end)
      assert.is_nil(r)
      assert.matches("No checkpoints have been found for trial " .. D .. "/nowhere/x.", err, 1, true)
      core.remove_tree(T.A.logdir .. "/checkpoint_000012")
      r, _, err = capture(function() return ea:get_best_checkpoint(ea.trials[1], "loss", "min") end)
      assert.is_nil(r)
      assert.matches("not available", err, 1, true)
    end)
  end)

  describe("properties", function()
    it("raise a clear error without default metric and mode", function()
      local ea = ExperimentAnalysis(D)
      for _, name in ipairs({"best_trial", "best_config", "best_checkpoint", "best_logdir", "best_result",
          "best_result_df", "best_dataframe"}) do
        local ok, err = pcall(function() return ea[name] end)
        assert.is_false(ok, name)
        assert.matches("analysis_spec.lua:%d+: To fetch the `" .. name .. "`, pass a `metric` and `mode`", err)
      end
      assert.is_nil(ea.default_metric)
      assert.is_nil(ea.default_mode)
    end)

    it("use default_metric and default_mode", function()
      local ea = ExperimentAnalysis(D, {default_metric = "loss", default_mode = "min"})
      local B = ea.trials[2]
      assert.are.equal(B, ea.best_trial)
      assert.are.equal(NAME_B, ea.best_config.name)
      assert.are.equal(B.logdir, ea.best_logdir)
      assert.are.equal(B.logdir .. "/checkpoint_000010", ea.best_checkpoint)
      assert.are.equal(0.9, ea.best_result.loss)
      assert.are.equal(99.1, ea.best_result_df[1]["val/loss"])
      assert.are.equal(12, #ea.best_dataframe)
      assert.are.equal(20, ea.best_dataframe[1].loss)
    end)

    it("best_checkpoint fails when no trial has the default metric", function()
      local ea = ExperimentAnalysis(D, {default_metric = "nope", default_mode = "min"})
      local ok, err
      capture(function() ok, err = pcall(function() return ea.best_checkpoint end) end)
      assert.is_false(ok)
      assert.matches("No best trial found", err or "", 1, true)
    end)
  end)

  describe("histories", function()
    it("trial_dataframes reads result.json and progress.csv, skipping torn lines", function()
      local ea = ExperimentAnalysis(D)
      local dfs, _, err = capture(function() return ea:trial_dataframes() end)
      assert.are.equal("", err)
      assert.are.equal(3, count(dfs))
      local a = dfs[T.A.logdir]
      assert.are.equal(12, #a)
      assert.are.equal(1, a[12].loss)
      assert.are.equal(99, a[12]["val/loss"])
      assert.are.equal(0.01, a[12]["config/lr"])
      assert.is_true(a[12].done)
      local b = dfs[T.B.logdir]
      assert.are.equal(12, #b)
      assert.are.equal(0.9, b[12].loss)
      assert.are.equal(NAME_B, b[1]["config/name"])
      assert.are.equal("bbbb_00001", b[1].trial_id)
      assert.is_false(b[1].done)
      assert.is_true(b[12].done)
      assert.are.equal(4, b[3]["config/model/layers"])
    end)

    it("parses progress.csv as RFC 4180, dropping a torn last record", function()
      local rows = analysis.parse_progress_csv('a,b,trial_id,c\r\n1,"x,""y""\nz",007,nan\n2,,8,True\n3,4,9,na')
      assert.are.equal(2, #rows)
      assert.are.equal(1, rows[1].a)
      assert.are.equal('x,"y"\nz', rows[1].b)
      assert.are.equal("007", rows[1].trial_id)
      assert.is_true(rows[1].c ~= rows[1].c)
      assert.is_nil(rows[2].b)
      assert.is_true(rows[2].c)
      rows = analysis.parse_progress_csv("a,b\n1,2\n3,4\n5\n")
      assert.are.equal(2, #rows)
      assert.are.equal(4, rows[2].b)
      -- Decimal numbers only, as pandas reads them (Lua reads "0x10" as 16).
      rows = analysis.parse_progress_csv("a,b,c\n0x10,0X1p4,1e3\n")
      assert.are.same({a = "0x10", b = "0X1p4", c = 1000.0}, rows[1])
    end)

    it("decodes NaN and Infinity", function()
      local ND = make_nan(root)
      local ea = ExperimentAnalysis(ND)
      local rows = ea:trial_dataframes()[ea.trials[2].logdir]
      assert.are.equal(3, #rows)
      assert.is_true(rows[3].loss ~= rows[3].loss)
      assert.are.equal(-math.huge, ea:trial_dataframes()[ea.trials[1].logdir][2].loss)
    end)

    it("warns about unreadable lines before the last one", function()
      write(T.C.logdir .. "/result.json", '{"loss": 1, "training_iteration": 1}\n{"loss": \n{"loss": 2, "training_iteration": 2}\n')
      local ea = ExperimentAnalysis(D)
      local rows, _, err = capture(function() return ea:trial_dataframes()[T.C.logdir] end)
      assert.are.equal(2, #rows)
      assert.matches("skipped 1 unreadable line", err, 1, true)
    end)

    it("dataframe gives one row per trial: last, or best by metric and mode", function()
      local ea = ExperimentAnalysis(D)
      local rows = ea:dataframe()
      assert.are.equal(3, #rows)
      local r = by_logdir(rows)
      assert.are.equal(1, r[T.A.logdir].loss)
      assert.are.equal(0.01, r[T.A.logdir]["config/lr"])
      assert.are.equal(2, r[T.A.logdir]["config/model/layers"])
      assert.are.equal(NAME_A, r[T.A.logdir]["config/name"])
      assert.are.equal(T.A.logdir, r[T.A.logdir].logdir)
      assert.are.equal(50, r[T.C.logdir].loss)
      r = by_logdir(ea:dataframe("loss", "min"))
      assert.are.equal(1, r[T.A.logdir].loss)
      assert.are.equal(0.9, r[T.B.logdir].loss)
      assert.are.equal(0.05, r[T.C.logdir].loss)
      assert.are.equal(1, r[T.C.logdir].training_iteration)
      r = by_logdir(ea:dataframe("loss", "max"))
      assert.are.equal(12, r[T.A.logdir].loss)
      assert.are.equal(20, r[T.B.logdir].loss)
      assert.are.equal(1, r[T.B.logdir].training_iteration)
      local ok, err = pcall(ea.dataframe, ea, "loss", "best")
      assert.is_false(ok)
      assert.matches("`mode` has to be one of [min, max]", err, 1, true)
      ok, err = pcall(ea.dataframe, ea, nil, "min")
      assert.is_false(ok)
      assert.matches("you'll also have to pass a `metric`", err, 1, true)
    end)

    it("dataframe skips NaN when looking for the best row", function()
      local ND = make_nan(root)
      local ea = ExperimentAnalysis(ND)
      local r = by_logdir(ea:dataframe("loss", "max"))
      assert.are.equal(1, r[ea.trials[2].logdir].loss)
      -- these results carry no config: the config columns come from the trial
      assert.are.equal(2, r[ea.trials[2].logdir]["config/x"])
    end)

    it("get_all_configs maps logdirs to configs", function()
      local ea = ExperimentAnalysis(D)
      local configs = ea:get_all_configs()
      assert.are.equal(3, count(configs))
      assert.are.equal(4, configs[T.B.logdir].model.layers)
      local flat = ea:get_all_configs(true)
      assert.are.equal(4, flat[T.B.logdir]["config/model/layers"])
      assert.are.equal(NAME_A, flat[T.A.logdir]["config/name"])
    end)
  end)

  describe("NaN and infinity", function()
    it("are skipped by get_best_trial unless filter_nan_and_inf is false", function()
      local ND = make_nan(root)
      local ea = ExperimentAnalysis(ND)
      assert.are.equal("00002_ok", ea:get_best_trial("loss", "min").trial_id)
      assert.are.equal("00000_inf", ea:get_best_trial("loss", "min", "last", false).trial_id)
      -- avg and all of the NaN trial are NaN too (Ray's running min keeps a new NaN)
      assert.are.equal("00002_ok", ea:get_best_trial("loss", "min", "all").trial_id)
      assert.are.equal("00002_ok", ea:get_best_trial("loss", "max", "last").trial_id)
      local score = ea:get_trial_score(ea.trials[2], "loss", "min", "all")
      assert.is_true(score ~= score)
    end)

    it("are skipped among checkpoints", function()
      local ND = make_nan(root)
      local ea = ExperimentAnalysis(ND)
      local N = ea.trials[2]
      assert.are.equal(N.logdir .. "/checkpoint_000001", ea:get_best_checkpoint(N, "loss", "max"))
      assert.are.equal(N.logdir .. "/checkpoint_000002", ea:get_best_checkpoint(N, "loss", "min"))
    end)
  end)

  it("follows a moved experiment directory through relative_logdir", function()
    local moved = root .. "/elsewhere/main2"
    assert(core.mkdir_p(root .. "/elsewhere"))
    assert(core.rename(D, moved))
    local ea = ExperimentAnalysis(moved)
    local A = ea.trials[1]
    assert.are.equal(moved .. "/" .. T.A.relative_logdir, A.logdir)
    assert.are.equal("bbbb_00001", ea:get_best_trial("loss", "min").trial_id)
    assert.are.equal(A.logdir .. "/checkpoint_000012", ea:get_best_checkpoint(A, "loss", "min"))
    assert.are.equal(12, #ea:trial_dataframes()[A.logdir])
    assert.are.equal(moved, ea.experiment_dir)
  end)

  it("rebuilds a missing relative_logdir from the original experiment_dir", function()
    local state = core.json_decode(core.read_file(D .. "/experiment_state-2024-01-02_00-00-00.json"))
    for _, t in ipairs(state.trials) do t.relative_logdir = nil end
    local moved = root .. "/moved2"
    assert(core.rename(D, moved))
    write(moved .. "/experiment_state-2024-01-03_00-00-00.json", json(state))
    local ea = ExperimentAnalysis(moved)
    assert.are.equal(moved .. "/" .. T.C.relative_logdir, ea.trials[3].logdir)
    assert.are.equal(12, #ea:trial_dataframes()[ea.trials[3].logdir])
  end)

  describe("refuses", function()
    it("a foreign state file, naming it", function()
      local F = root .. "/foreign"
      local file = F .. "/experiment_state-2024-01-01_00-00-00.json"
      write(file, json({format = "ray.tune.experiment", version = 1, trials = {}}))
      local ok, err = pcall(function()
        local ea = ExperimentAnalysis(F)   -- not a tail call: the message names this line
        return ea
      end)
      assert.is_false(ok)
      assert.matches(file .. " is not a tunelua experiment state", err, 1, true)
      assert.matches("analysis_spec.lua:%d+:", err)
      local ea, err2 = analysis.load(F)
      assert.is_nil(ea)
      assert.matches(file, err2, 1, true)
    end)

    it("a state file from a newer version", function()
      local F = root .. "/newer"
      local file = F .. "/experiment_state-2024-01-01_00-00-00.json"
      write(file, json({format = "tunelua.experiment_state", version = 2, trials = {}}))
      local ea, err = analysis.load(F)
      assert.is_nil(ea)
      assert.matches(file .. " has experiment state version 2, newer", err, 1, true)
    end)

    it("a corrupt state file", function()
      local F = root .. "/corrupt"
      local file = F .. "/experiment_state-2024-01-01_00-00-00.json"
      write(file, '{"format": "tunelua.experiment_state", "version": 1, "trials": [')
      local ea, err = analysis.load(F)
      assert.is_nil(ea)
      assert.matches(file .. " is corrupt", err, 1, true)
    end)

    it("a state table of another format", function()
      local ok, err = pcall(ExperimentAnalysis, {format = "x", version = 1})
      assert.is_false(ok)
      assert.matches("the experiment state table is not a tunelua experiment state", err, 1, true)
    end)

    it("a missing path or a directory without a state", function()
      local ea, err = analysis.load(root .. "/missing")
      assert.is_nil(ea)
      assert.matches("does not exist", err, 1, true)
      assert(core.mkdir_p(root .. "/empty"))
      ea, err = analysis.load(root .. "/empty")
      assert.is_nil(ea)
      assert.matches("does not contain a tunelua experiment state", err, 1, true)
    end)
  end)

  it("takes an already decoded state table", function()
    local state = core.json_decode(core.read_file(D .. "/experiment_state-2024-01-02_00-00-00.json"))
    local ea = ExperimentAnalysis(state, {default_metric = "loss", default_mode = "min"})
    assert.are.equal(4, #ea.trials)
    assert.are.equal("bbbb_00001", ea.best_trial.trial_id)
    assert.are.equal(T.A.logdir .. "/checkpoint_000012", ea:get_best_checkpoint(ea.trials[1], "loss", "min"))
  end)

  it("reads every experiment of a directory of experiments", function()
    make_nan(root)
    local ea = ExperimentAnalysis(root)
    assert.are.equal(7, #ea.trials)
    local stats = ea:stats()
    assert.are.equal(4, stats.main.trials)
    assert.are.equal(3, stats.nan.trials)
    assert.are.same({session = "nan"}, ea:runner_data().nan)
  end)

  it("keeps the stats of each experiment of a directory when two have the same name", function()
    -- An earlier run renamed (mv exp exp_old) beside the new one: both
    -- states say "exp"; keyed by that, one experiment's stats were lost.
    local root = support.tmpdir("analysis-same-name")
    for i, dir in ipairs({"exp", "exp_old"}) do
      local trials = {}
      for j = 1, i do trials[j] = trial_rec(root .. "/" .. dir, dir .. "_" .. j, "TERMINATED", {lr = j}, tostring(j)) end
      write(root .. "/" .. dir .. "/experiment_state-2024-01-01_00-00-00.json",
        state_json(root .. "/" .. dir, "exp", "loss", "min", trials, {runner = {session = dir}}))
    end
    local ea = ExperimentAnalysis(root)
    assert.same({"exp", "exp_old"}, ea.experiment_names)
    local stats = ea:stats()
    assert.equal(1, stats.exp.trials)
    assert.equal(2, stats.exp_old.trials)
    assert.same({session = "exp_old"}, ea:runner_data().exp_old)
  end)

  it("finds a moved experiment's trial where the journal's status entry places it", function()
    -- Started by a run in /b, whose state still said /a, then moved here:
    -- the entry's absolute directory is /b's, its relative one is right.
    local root = support.tmpdir("analysis-moved")
    local here = root .. "/c"
    local t = trial_rec("/a/exp", "m1", "PENDING", {lr = 1}, "0")
    t.logdir, t.relative_logdir = nil, nil
    write(here .. "/experiment_state-2024-01-01_00-00-00.json", state_json("/a/exp", "moved", "loss", "min", {t}))
    local rel = "train_m1_0_2024-01-01_00-00-00"
    write(here .. "/experiment_journal.jsonl", json({event = "status", seq = 8, trial_id = "m1", status = "TERMINATED",
      num_failures = 0, logdir = "/b/exp/" .. rel, relative_logdir = rel}) .. "\n")
    write(here .. "/" .. rel .. "/result.json", result_row("m1", 1, 0.5, 1, {lr = 1}, 1) .. "\n")
    local ea = ExperimentAnalysis(here)
    assert.equal(here .. "/" .. rel, ea.trials[1].logdir)
    assert.equal(0.5, ea.trials[1].last_result.loss)
  end)

  it("lists no checkpoint a killed run deleted after its state (keep_checkpoints_num)", function()
    -- The state knew checkpoint 1; the journal adds 2, 3 and 4; keeping the
    -- best two by acc, the run deleted 1 and 2 before it was killed.
    local root = support.tmpdir("analysis-kept")
    local here = root .. "/kept"
    local t = trial_rec(here, "k1", "RUNNING", {lr = 1}, "0")
    local function ckpt(it) return {dir = string.format("%s/checkpoint_%06d", t.logdir, it),
      storage = "PERSISTENT", metrics = {training_iteration = it, acc = it, other = -it}} end
    t.checkpoints = {ckpt(1)}
    write(here .. "/experiment_state-2024-01-01_00-00-00.json", state_json(here, "kept", "acc", "max", {t}))
    local entries = {}
    for it = 2, 4 do
      local c = ckpt(it)
      entries[#entries + 1] = json({event = "checkpoint", seq = 6 + it, trial_id = "k1", dir = c.dir,
        storage = c.storage, metrics = c.metrics})
    end
    write(here .. "/experiment_journal.jsonl", table.concat(entries, "\n") .. "\n")
    for it = 3, 4 do write(ckpt(it).dir .. "/.tune_metadata.json", json({training_iteration = it})) end
    local ea = ExperimentAnalysis(here)
    local paths = {}
    for i, pv in ipairs(ea:get_trial_checkpoints_paths(ea.trials[1], "acc")) do paths[i] = pv.path end
    assert.same({ckpt(3).dir, ckpt(4).dir}, paths)
    -- By another metric the best kept one, not a deleted one (it was nil:
    -- "checkpoint_000001 does not exist").
    local r, _, err = capture(function() return ea:get_best_checkpoint(ea.trials[1], "other", "max") end)
    assert.equal(ckpt(3).dir, r)
    assert.equal("", err)
  end)

  describe("live trials", function()
    it("are used instead of the state's records", function()
      local t1 = tune.Trial("__fake", {trial_id = "live_1", config = {lr = 0.01}, logdir = T.A.logdir})
      t1.status = "TERMINATED"
      t1.last_result = {loss = 1, training_iteration = 12}
      local ckpt = require("tune.executor.checkpoint")
      t1:on_checkpoint(ckpt.Checkpoint{dir_or_data = T.A.logdir .. "/checkpoint_000004", metrics = {loss = 9}})
      t1:on_checkpoint(ckpt.Checkpoint{dir_or_data = T.A.logdir .. "/checkpoint_000012", metrics = {loss = 1}})
      t1:on_checkpoint(ckpt.Checkpoint{dir_or_data = T.A.logdir .. "/checkpoint_000008",
        metrics = {training_iteration = 8}})
      local t2 = {trial_id = "live_2", trainable_name = "train", config = {lr = 1}, status = "ERROR",
        logdir = T.C.logdir, last_result = {loss = 50}, error_msg = "boom", num_failures = 1,
        checkpoint_manager = {persistent = {}}}
      local ea = ExperimentAnalysis(D, {trials = {t1, t2}, default_metric = "loss", default_mode = "max"})
      assert.are.equal(2, #ea.trials)
      assert.are.equal(t2, ea.best_trial)
      assert.are.equal(t1, ea:get_best_trial("loss", "min"))
      assert.are.equal(T.A.logdir .. "/checkpoint_000004", ea:get_best_checkpoint(t1, "loss", "max"))
      assert.are.equal(T.A.logdir .. "/checkpoint_000012", ea:get_best_checkpoint(t1, "loss", "min"))
      assert.are.equal(5, ea:get_trial_checkpoints_paths(t1, "loss")[3][2])
      assert.are.equal(1, ea.results.live_1.loss)
      assert.are.same({session = "main"}, ea:runner_data())
      local r, _, err = capture(function() return ea:get_best_checkpoint(t2, "loss", "min") end)
      assert.is_nil(r)
      assert.matches("No checkpoints have been found for trial train_live_2", err, 1, true)
    end)
  end)
end)

describe("tunelua analyze", function()
  local root, D, T
  before_each(function()
    root = support.tmpdir("analyze-cli")
    D, T = make_main(root)
  end)
  after_each(function() core.remove_tree(root) end)

  local function analyze(args)
    return capture(function() return cli.main(args) end)
  end

  --- Trial names in the order the table lists them.
  local function order(out)
    local names = {}
    for _, l in ipairs(lines(out)) do
      local n = l:match("^| (train_%S+)")
      if n then names[#names + 1] = n end
    end
    return names
  end

  it("warns when no trial reported the metric it ranks by", function()
    local rc, out, err = analyze({D, "--metric", "nope", "--mode", "min"})
    assert.are.equal(0, rc)
    assert.matches("4 trials", out, 1, true)
    assert.are.equal("tunelua warning: no trial reported nope as a number: the trials are not ranked\n", err)
    -- And the summary does not say they are ("Sorted by nope (min, ...)").
    assert.is_nil(out:find("Sorted by", 1, true), out)
    -- A config key or pid was reported, and is no metric: said so (it was
    -- "no trial reported config/lr as a number").
    for _, key in ipairs({"config/lr", "pid"}) do
      rc, out, err = analyze({D, "--metric", key, "--mode", "min"})
      assert.are.equal(0, rc)
      assert.matches("^tunelua warning: " .. key .. " is not a metric %(the config's keys and trial_id, .*, as in Ray%): "
        .. "the trials are not ranked\n$", err)
    end
  end)

  it("ranks by the experiment's metric and mode by default", function()
    local rc, out, err = analyze({D})
    assert.are.equal(0, rc)
    assert.are.equal("", err)
    assert.are.same({"train_bbbb_00001", "train_aaaa_00000", "train_cccc_00002", "train_dddd_00003"}, order(out))
    assert.matches("4 trials (1 ERROR, 1 PENDING, 2 TERMINATED)", out, 1, true)
    local header = lines(out)[4]
    assert.matches("^| Trial name +| status +| iter +| loss +| lr +| model/layers +| name +|$", header)
    -- a rectangular table
    local width
    for _, l in ipairs(lines(out)) do
      if l:sub(1, 1) == "+" or l:sub(1, 1) == "|" then
        width = width or #l
        assert.are.equal(width, #l)
      end
    end
    assert.matches("| train_bbbb_00001 | TERMINATED |   12 |  0.9 |", out, 1, true)
  end)

  it("takes --metric, --mode, --scope and --top", function()
    local rc, out = analyze({D, "--metric", "loss", "--scope", "all"})
    assert.are.equal(0, rc)
    assert.are.same({"train_cccc_00002", "train_bbbb_00001", "train_aaaa_00000", "train_dddd_00003"}, order(out))
    assert.matches("loss (all)", out, 1, true)
    rc, out = analyze({D, "--metric=val/loss", "--mode=max", "--top", "2"})
    assert.are.equal(0, rc)
    assert.are.same({"train_bbbb_00001", "train_aaaa_00000"}, order(out))
    assert.matches("top 2 of 4", out, 1, true)
    rc, out = analyze({D, "--metric", "loss", "--mode", "min", "--scope", "avg", "--top", "1"})
    assert.are.same({"train_aaaa_00000"}, order(out))
  end)

  it("prints CSV with RFC 4180 quoting and exact numbers", function()
    local rc, out = analyze({D, "--metric", "acc", "--mode", "max", "--top", "2", "--csv"})
    assert.are.equal(0, rc)
    local l = lines(out)
    assert.are.equal(3, #l)
    assert.are.equal("Trial name,status,iter,acc,config/lr,config/model/layers,config/name", l[1])
    assert.are.equal('train_aaaa_00000,TERMINATED,12,0.9,0.01,2,"he said ""hi"", ok"', l[2])
    assert.are.equal('train_bbbb_00001,TERMINATED,12,0.6,0.1,4,"b ""quoted"", name"', l[3])
    rc, out = analyze({D, "--csv", "--metric", "loss", "--mode", "max", "--top", "1"})
    local fields = lines(out)[2]
    local lr = fields:match("^train_cccc_00002,ERROR,12,50,([^,]+),")
    assert.is_not_nil(lr)
    assert.are.equal(1 / 3, tonumber(lr))
  end)

  it("puts NaN and infinite scores after finite ones", function()
    local ND = make_nan(root)
    local rc, out = analyze({ND, "--metric", "loss", "--mode", "min"})
    assert.are.equal(0, rc)
    assert.are.same({"train_00002_ok", "train_00000_inf", "train_00001_nan"}, order(out))
    assert.matches(" NaN |", out, 1, true)
    assert.matches("-Infinity", out, 1, true)
  end)

  it("lists trials unsorted without a metric", function()
    local ND = make_nan(root)
    local rc, out = analyze({ND})
    assert.are.equal(0, rc)
    assert.are.same({"train_00000_inf", "train_00001_nan", "train_00002_ok"}, order(out))
    assert.is_nil(out:find("Sorted by", 1, true))
    -- Nothing to rank by: --mode and --scope are not ignored silently.
    for _, flag in ipairs({{"--mode", "max"}, {"--scope", "avg"}}) do
      local rc2, _, err = analyze({ND, flag[1], flag[2]})
      assert.are.equal(2, rc2)
      assert.matches(flag[1] .. " ranks by a metric, and this experiment has none", err, 1, true)
    end
    -- A metric and no mode: --scope asks for the mode, not a metric.
    local MD = root .. "/metric_only"
    local F = trial_rec(MD, "00000_ok", "TERMINATED", {x = 3}, "0_x=3")
    F.last_result = {training_iteration = 1, loss = 0.5}
    write(MD .. "/experiment_state-2024-01-01_00-00-00.json", state_json(MD, "metric_only", "loss", nil, {F}))
    local rc3, _, err3 = analyze({MD, "--scope", "avg"})
    assert.are.equal(2, rc3)
    assert.matches("--scope ranks by the experiment's metric loss, which has no mode: give --mode min or --mode max",
      err3, 1, true)
    rc, out = analyze({ND, "--csv"})
    assert.are.equal("Trial name,status,iter,config/x", lines(out)[1])
    assert.are.equal("train_00000_inf,TERMINATED,2,1", lines(out)[2])
  end)

  it("prints a newline or tab in a config value or key as the progress table does: a space", function()
    local W = root .. "/lines"
    local t = trial_rec(W, "00000_nl", "TERMINATED", {s = "line1\nline2", ["k\tey"] = "a\r\nb"}, "0")
    write(t.logdir .. "/result.json", json({training_iteration = 1, trial_id = t.trial_id, loss = 1}) .. "\n")
    t.last_result = {training_iteration = 1, loss = 1}
    write(W .. "/experiment_state-2024-01-01_00-00-00.json", state_json(W, "lines", nil, nil, {t}))
    local rc, out = analyze({W})
    assert.are.equal(0, rc)
    local l = lines(out)
    assert.are.equal(6, #l, out) -- summary, rule, header, rule, one row, rule
    assert.matches("| k ey +| s +|$", l[3])
    assert.matches("| a  b +| line1 line2 |$", l[5])
    for i = 2, 6 do assert.are.equal(#l[2], #l[i]) end
    -- CSV quotes them instead (RFC 4180): kept as they are.
    rc, out = analyze({W, "--csv"})
    assert.matches('"line1\nline2"', out, 1, true)
  end)

  it("fails with exit code 2 on bad input", function()
    local rc, out, err = analyze({root .. "/missing"})
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("^tunelua analyze: the path `[^`]*/missing` does not exist", err)
    local F = root .. "/foreign"
    local file = F .. "/experiment_state-2024-01-01_00-00-00.json"
    write(file, json({format = "something.else", version = 1}))
    rc, _, err = analyze({F})
    assert.are.equal(2, rc)
    assert.matches("tunelua analyze: " .. file .. " is not a tunelua experiment state", err, 1, true)
    write(file, "not json at all")
    rc, _, err = analyze({F})
    assert.are.equal(2, rc)
    assert.matches(file .. " is corrupt", err, 1, true)
    -- Another file given by name is no state, not a corrupt one.
    local other = F .. "/exp.lua"
    write(other, "local tune = require('tune')")
    rc, _, err = analyze({other})
    assert.are.equal(2, rc)
    assert.matches(other .. " is not a tunelua experiment state (not JSON", err, 1, true)
    rc, _, err = analyze({D, "--metric", "acc"})
    assert.are.equal(2, rc)
    assert.matches("--metric acc needs --mode", err, 1, true)
    rc, _, err = analyze({D, "--mode", "best"})
    assert.are.equal(2, rc)
    assert.matches("--mode has to be one of [min, max]", err, 1, true)
    rc, _, err = analyze({D, "--scope", "last-3-avg"})
    assert.are.equal(2, rc)
    assert.matches("--scope has to be one of", err, 1, true)
    rc, _, err = analyze({D, "--top", "0"})
    assert.are.equal(2, rc)
    assert.matches("--top needs a positive integer", err, 1, true)
    -- An empty name ranked by nothing, with a warning about "no trial reported  as a number".
    rc, _, err = analyze({D, "--metric=", "--mode", "min"})
    assert.are.equal(2, rc)
    assert.matches("--metric: expected a metric name, got an empty name", err, 1, true)
    rc, _, err = analyze({D, "--tpo", "3"})
    assert.are.equal(2, rc)
    assert.matches("unknown option --tpo (did you mean --top?)", err, 1, true)
    rc, _, err = analyze({})
    assert.are.equal(2, rc)
    assert.matches("missing the experiment directory", err, 1, true)
    -- An empty path was "..., got string".
    rc, _, err = analyze({""})
    assert.are.equal(2, rc)
    assert.matches("a state table, got an empty path", err, 1, true)
  end)

  it("prints its usage with --help", function()
    local rc, out = analyze({"--help"})
    assert.are.equal(0, rc)
    assert.matches("usage: tunelua analyze", out, 1, true)
  end)

  it("runs as a separate lua5.4 process", function()
    local cmd = string.format("lua5.4 -e 'os.exit(require(\"tune.cli.analyze\").main({%q, \"--csv\"}))' 2>&1", D)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.are.equal(0, code)
    assert.are.equal("Trial name,status,iter,loss,config/lr,config/model/layers,config/name", lines(out)[1])
    assert.are.equal(5, #lines(out))
    assert.matches("^train_bbbb_00001,TERMINATED,12,0.9,", lines(out)[2])
  end)
end)
