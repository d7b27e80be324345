-- A user's mistakes through tune.run (issue 10): every option of the wrong
-- type, a name that is not one directory, a NUL character, a local_dir
-- that cannot hold the experiment, refused before anything starts and
-- with nothing written; and what a trainable prints or reports that is not
-- text (no newline for megabytes, bytes that are not UTF-8).
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")
require("spec.fixtures.trainables")

describe("bad input through tune.run", function()
  local dir
  before_each(function() dir = support.tmpdir("badrun") .. "/results" end)
  after_each(support.check_clean)

  --- The refusal of `opts`; the run must have left no trace on disk.
  local function refusal(opts, trainable)
    opts.local_dir = opts.local_dir or dir
    if opts.verbose == nil then opts.verbose = 0 end
    local ok, e = pcall(tune.run, trainable or "steps", opts)
    assert.is_false(ok, "accepted")
    assert.is_nil(core.stat(dir), "a refused run wrote to local_dir")
    return tostring(e)
  end

  it("refuses options of the wrong type, naming option, value and what is expected", function()
    assert.matches("config must be a table.*got \"x\"", refusal{config = "x"})
    -- A Domain as the whole config: each trial's config was the number drawn.
    assert.matches("tune.run: config must be a table of parameters (the search space), got uniform(0, 1): name it, "
      .. "config = {x = ...}", refusal{config = tune.uniform(0, 1)}, 1, true)
    assert.matches("got sample_from%(", refusal{config = tune.sample_from(function() return 5 end)})
    assert.matches("name must be a string, got 5 %(number%)", refusal{name = 5})
    assert.matches("verbose must be 0, 1, 2 or 3, got \"high\"", refusal{verbose = "high"})
    assert.matches("verbose must be 0, 1, 2 or 3, got 5", refusal{verbose = 5})
    assert.matches("checkpoint_freq must be a non%-negative integer, got \"3\"", refusal{checkpoint_freq = "3"})
    assert.matches("keep_checkpoints_num must be a positive integer or nil, got \"2\"",
      refusal{keep_checkpoints_num = "2"})
    assert.matches("checkpoint_at_end must be true or false", refusal{checkpoint_at_end = 1})
    assert.matches("max_failures must be an integer", refusal{max_failures = 1.5})
    assert.matches("reuse_actors must be true or false", refusal{reuse_actors = "yes"})
    assert.matches("trial_name_creator must be a function", refusal{trial_name_creator = "t"})
    assert.matches("local_dir must be a directory path %(string%), got 3", refusal{local_dir = 3})
    -- Paths travel as JSON text: a Latin-1 one named another directory.
    assert.matches("local_dir must be a directory path %(UTF%-8 text%)", refusal{local_dir = dir .. "/caf\xe9"})
    assert.matches("name must be UTF%-8 text", refusal{name = "caf\xe9"})
  end)

  it("refuses plug-ins, executors and values of the wrong kind before anything is written", function()
    for _, v in ipairs({5, true, function() end, io.stdout}) do
      assert.matches("tune.run: scheduler must be a trial scheduler .*got .*" .. type(v), refusal{scheduler = v})
      assert.matches("tune.run: search_alg must be a searcher .*got .*" .. type(v), refusal{search_alg = v})
      assert.matches("tune.run: trial_executor must be a TrialExecutor", refusal{trial_executor = v})
      assert.matches("tune.run: progress_reporter must be a progress reporter", refusal{progress_reporter = v})
      assert.matches("tune.run: restore must be a checkpoint's path %(string%)", refusal{restore = v})
    end
    assert.matches("search_alg must be a searcher .*got a table with neither suggest nor next_trial",
      refusal{search_alg = {1, 2}})
    assert.matches("trial_executor must be a TrialExecutor", refusal{trial_executor = {}})
    assert.matches("tune.run: callbacks%[2%] must be a callback .*got 5 %(number%)",
      refusal{callbacks = {tune.Callback(), 5}})
    -- A hook that is not a method failed every trial, the experiment written.
    assert.matches("tune.run: callbacks[1].on_trial_result must be a method (a function), got 5 (number)",
      refusal{callbacks = {{on_trial_result = 5}}}, 1, true)
    local Cb = tune.Callback:extend(nil, "Cb")
    Cb.on_experiment_end = "x"
    assert.matches('tune.run: callbacks[2].on_experiment_end must be a method (a function), got "x"',
      refusal{callbacks = {tune.Callback(), Cb()}}, 1, true)
    -- One callback where a list goes was ignored, silently; so was a
    -- reporter without the hooks that report.
    -- Ray's loggers take no arguments: an option given was ignored.
    for _, name in ipairs({"JsonLoggerCallback", "CSVLoggerCallback", "TBXLoggerCallback"}) do
      local ok, err = pcall(function() local cb = tune[name]{filename = "x"}; return cb end)
      assert.is_false(ok)
      assert.matches("bad_input_spec%.lua:%d+: " .. name .. " takes no arguments, as Ray's, got table", err)
    end
    for _, v in ipairs({tune.Callback(), {on_trial_result = function() end}}) do
      assert.matches("tune.run: callbacks must be a list of callbacks, got a table that is not a list",
        refusal{callbacks = v}, 1, true)
    end
    assert.matches("tune.run: progress_reporter must be a progress reporter (a table with should_report and report",
      refusal{progress_reporter = {}, verbose = 1}, 1, true)
    -- A hook that is not a method failed the run at its first report, its
    -- experiment and first trials already written.
    local function hook() return true end
    assert.matches('tune.run: progress_reporter.report must be a method (a function), got "x"',
      refusal{progress_reporter = {should_report = hook, report = "x"}, verbose = 1}, 1, true)
    assert.matches("tune.run: progress_reporter.should_report must be a method (a function), got true (boolean)",
      refusal{progress_reporter = {should_report = true, report = hook}, verbose = 1}, 1, true)
    assert.matches("tune.run: progress_reporter.setup must be a method (a function), got 5 (number)",
      refusal{progress_reporter = {setup = 5, should_report = hook, report = hook}, verbose = 1}, 1, true)
    -- A subclass that left one out inherits ProgressReporter's, which raises.
    local Partial = tune.ProgressReporter:extend("Partial")
    function Partial.report() end
    assert.matches("tune.run: progress_reporter Partial must implement should_report(trials, done)",
      refusal{progress_reporter = Partial(), verbose = 1}, 1, true)
    Partial.should_report, Partial.report = hook, nil
    assert.matches("tune.run: progress_reporter Partial must implement report(trials, done, sys_info)",
      refusal{progress_reporter = Partial(), verbose = 1}, 1, true)
    local callable = setmetatable({}, {__call = hook})
    local a = tune.run("steps", {config = {iters = 1}, local_dir = dir, verbose = 1,
      progress_reporter = {setup = callable, should_report = callable, report = callable}})
    assert.equal("TERMINATED", a.trials[1].status)
    core.remove_tree(dir)
    assert.matches("tune.run: resources_per_trial: resource \"a\" must be a non%-negative number",
      refusal{resources_per_trial = {a = {}}})
    assert.matches("tune.run: resources_per_trial: bundle 1: resource 'CPU' must be at most 1e14",
      refusal{resources_per_trial = {cpu = 1e20}})
    -- A list of bundles, Ray's extra_* amounts and a key of tune.Resources
    -- it does not know were ignored: the trial got 1 CPU.
    assert.matches("tune.run: resources_per_trial: a table maps resource names to amounts, got the key 1 (bundles go "
      .. "in tune.PlacementGroupFactory({...}))", refusal{resources_per_trial = {{cpu = 2}, {cpu = 1}}}, 1, true)
    assert.matches("tune.run: resources_per_trial: Passing `extra_*` resource requirements to `resources_per_trial` is "
      .. "deprecated.", refusal{resources_per_trial = {cpu = 1, extra_cpu = 1}}, 1, true)
    -- The class itself, not called: "resource \"__tostring\" must be a non-negative number".
    assert.matches("tune.run: resources_per_trial is the class PlacementGroupFactory, not an instance: call it",
      refusal{resources_per_trial = tune.PlacementGroupFactory}, 1, true)
    local ok, e = pcall(tune.Resources, {cpus = 2})
    assert.is_false(ok)
    assert.matches('Resources: unknown option "cpus" %(did you mean cpu%?%)', tostring(e))
    ok, e = pcall(tune.Resources, {cpu = 1, extra_gpu = 1})
    assert.matches("Passing `extra_*` resource requirements", tostring(e), 1, true)
    assert.equal(2, tune.Resources{cpu = 2, extra_cpu = 0, extra_custom_resources = {}}:to_pgf()._spec.bundles[1].CPU)
    local a = tune.run("steps", {config = {iters = 1}, local_dir = dir, verbose = 0,
      resources_per_trial = {cpu = 1, extra_gpu = 0, extra_custom_resources = {}}})
    assert.same({{CPU = 1}}, a.trials[1].placement_group_factory._spec.bundles)
    core.remove_tree(dir)
    -- Named once (it was "resources_per_trial: resources_per_trial.custom_resources").
    assert.equal("tune.run: resources_per_trial.custom_resources must be a table",
      refusal{resources_per_trial = {custom_resources = 3}}:match("tune%.run: .*"))
    -- cpu and gpu in any case, once ({cpu = 1, CPU = 1} was 2 CPUs, and
    -- {cPU = 1} got the default CPU added).
    assert.matches('resources_per_trial: .*resource CPU given twice %(as "%a+" and "%a+"%)',
      refusal{resources_per_trial = {cpu = 1, CPU = 1}})
    assert.same({{CPU = 1}}, require("tune.executor.placement").to_pgf({cPU = 1}).bundles)
    assert.same({{CPU = 2, GPU = 1}}, require("tune.executor.placement").to_pgf({Cpu = 2, gPu = 1}).bundles)
    -- A node's GPUs are whole and each listed once, no more than
    -- CUDA_VISIBLE_DEVICES shows (trials shared them).
    assert.matches("num_gpus must be a whole number of GPUs, got 1.5", refusal{num_gpus = 1.5})
    -- A resource without a name was taken (the trial asked for "{1 CPU, 0 GPUs, 1 }").
    assert.matches('resources must be a table of name = amount, got a key ""', refusal{resources = {[""] = 1}})
    assert.matches("resources_per_trial: resource names must be non%-empty strings",
      refusal{resources_per_trial = {[""] = 1}})
    -- An infinite amount was said not to be non-negative.
    assert.matches("resource 'CPU' must be a non%-negative number up to 1e14, got inf", refusal{num_cpus = math.huge})
    assert.matches("resource 'license' must be a non%-negative number up to 1e14, got a string",
      refusal{resources = {license = "2"}})
    -- Which of the two set the node's GPUs depended on the table's order.
    assert.matches('resources: GPU given twice %(as "%a+" and "%a+"%)', refusal{resources = {gpu = 2, GPU = 1}})
    -- The key won over num_cpus without a word.
    assert.matches("CPU given twice: num_cpus = 3 and resources.cpu = 1", refusal{num_cpus = 3, resources = {cpu = 1}},
      1, true)
    assert.matches("GPU given twice: num_gpus = 0 and resources.Gpu = 0", refusal{num_gpus = 0, resources = {Gpu = 0}},
      1, true)
    local d = support.tmpdir("cvd")
    for _, case in ipairs({{"2,3", 4, "num_gpus = 4, but CUDA_VISIBLE_DEVICES lists 2 GPUs %(2,3%)"},
        {"0,0", 1, "CUDA_VISIBLE_DEVICES lists GPU 0 twice"}, {"2,3", 2, "ok"},
        -- Hidden GPUs were numbered from 0: trials got the device it hid.
        {"", 1, 'num_gpus = 1, but CUDA_VISIBLE_DEVICES="" hides every GPU'},
        {"-1", 2, 'num_gpus = 2, but CUDA_VISIBLE_DEVICES="%-1" hides every GPU'}, {"", 0, "ok"}}) do
      local out = support.run_script(d, string.format([[
        local tune = require("tune")
        local ok, e = pcall(tune.run, function() end, {num_gpus = %d, verbose = 0, local_dir = %q})
        print(ok and "ok" or tostring(e))
      ]], case[2], d .. "/out"), nil, "CUDA_VISIBLE_DEVICES=" .. case[1])
      assert.matches(case[3], out)
    end
    -- Slurm's and Grid Engine's "no GPUs" was taken for a GPU named
    -- NoDevFiles, given to trials as their CUDA_VISIBLE_DEVICES (Ray: none).
    -- CUDA shows none after a -1: "0,-1,1" counted GPU 1 too.
    for cvd, n in pairs({NoDevFiles = 0, [""] = 0, ["-1"] = 0, ["0,-1,1"] = 1, ["2, -1"] = 1}) do
      local out = support.run_script(d, 'print("GPU=" .. require("tune.core").detect_node().GPU)', nil,
        string.format("CUDA_VISIBLE_DEVICES=%q", cvd))
      assert.matches("^GPU=" .. n .. "%.?0?\n$", out)
    end
    assert.matches("tune.run: config.x: a function cannot be given to a trial .*tune.sample_from",
      refusal{config = {x = function() return 1 end}})
    assert.matches("tune.run: config.x: a userdata cannot be given to a trial", refusal{config = {x = io.stdout}})
    local cyclic = {}
    cyclic.t = cyclic
    assert.matches("tune.run: config.x.t: a table that contains itself cannot be given to a trial", refusal{config = {x = cyclic}})
    -- A table met twice (not inside itself) is fine: each place gets a copy.
    local shared = {lr = 0.1}
    local a = tune.run("steps", {local_dir = dir, verbose = 0, config = {a = shared, b = shared, steps = 1}})
    assert.equal(0.1, a.trials[1].config.b.lr)
    core.remove_tree(dir)
    assert.matches("checkpoint_freq must be a non%-negative integer, got inf", refusal{checkpoint_freq = math.huge})
    assert.matches("tune.run: stop: the threshold of loss is NaN", refusal{stop = {loss = 0 / 0}})
    assert.matches("time_budget_s must be a number of seconds >= 0 or a timedelta table, got %-?nan",
      refusal{time_budget_s = 0 / 0})
    -- A negative one ran without end.
    assert.matches("time_budget_s must be a number of seconds >= 0 or a timedelta table, got %-1",
      refusal{time_budget_s = -1})
    assert.matches("time_budget_s must be a number of seconds >= 0 or a timedelta table, got table",
      refusal{time_budget_s = {minutes = -1}})
    -- A NaN wait for the dashboard's page never ran out.
    assert.matches("dashboard.wait_s must be a finite non%-negative number of seconds, got %-?nan",
      refusal{dashboard = {port = 0, wait_s = 0 / 0}})
    assert.matches("dashboard.linger_s must be a finite non%-negative number of seconds, got inf",
      refusal{dashboard = {port = 0, linger_s = math.huge}})
    -- A port with a fraction was "must be true, a port number or ...".
    assert.matches("dashboard.port must be an integer 0%-65535 %(0: any free port%), got 8080.5",
      refusal{dashboard = 8080.5})
    assert.matches('dashboard.host must be an IPv4 address such as 0.0.0.0, got string "localhst"',
      refusal{dashboard = {port = 0, host = "localhst"}})
    assert.matches("seed must be an integer, got inf", refusal{seed = math.huge})
    assert.matches("max_concurrent_trials", refusal{max_concurrent_trials = 0 / 0})
    assert.matches('max_concurrent_trials must be an integer %(0 or nil: no limit%), got "2" %(string%)',
      refusal{max_concurrent_trials = "2"})
    assert.matches("max_concurrent_trials must be an integer .*got 1.5 %(number%)", refusal{max_concurrent_trials = 1.5})
    assert.matches("metric must not contain a NUL character", refusal{metric = "a\0b"})
    assert.matches("but the reporter you are using was already instantiated with their own `metric`",
      refusal{metric = "loss", mode = "min", progress_reporter = tune.CLIReporter{metric = "loss", mode = "min"}})
    -- A local_dir under a directory that takes no new entries (/proc).
    local ok, e = pcall(tune.run, "steps", {local_dir = "/proc/tunelua-x", verbose = 0})
    assert.is_false(ok)
    assert.matches("tune.run: local_dir /proc/tunelua%-x cannot be", tostring(e))
    -- A file where the experiment directory goes: it failed the runner's
    -- mkdir, at a line inside the library.
    local parent = support.tmpdir("badrun_file")
    assert(core.write_file(parent .. "/exp", "not a directory"))
    ok, e = pcall(tune.run, "steps", {local_dir = parent, name = "exp", verbose = 0})
    assert.is_false(ok)
    assert.equal("tune.run: the experiment directory " .. parent .. "/exp is not a directory", tostring(e))
    assert.equal("not a directory", core.read_file(parent .. "/exp"))
  end)

  it("says that a default name, dated, is not the experiment a resume was asked for", function()
    -- It named a directory of this second's date, with no hint that the
    -- experiment must be named (its directory is another run's date).
    local e = refusal{resume = true}
    assert.matches("tune.run: resume was asked for, but .*/steps_%d%d%d%d%-%d%d%-%d%d_[%d-]+ holds no experiment %(its "
      .. "default name has this run's date: to resume, give the experiment's name with name or %-%-name%)", e)
    e = refusal{resume = true, name = "named"}
    assert.matches("/named holds no experiment$", e)
  end)

  it("refuses a local_dir on a full file system before writing anything", function()
    -- It ran, warned about every write and exited 0 with nothing recorded.
    local fs, sh = support.tmpfs("fullfs", "size=256k")
    if not fs then
      pending("mounting a tmpfs needs root")
      return
    end
    sh("fallocate -l $(df -B1 --output=avail " .. fs .. " | tail -1) " .. fs .. "/filler 2>/dev/null || "
      .. "dd if=/dev/zero of=" .. fs .. "/filler bs=4k 2>/dev/null")
    local ok, e = pcall(tune.run, "steps", {local_dir = fs .. "/results", verbose = 0})
    local listing = core.listdir(fs)
    sh("umount " .. fs)
    assert.is_false(ok)
    assert.matches("tune.run: local_dir .* cannot be written: .*No space left on device", tostring(e))
    assert.same({"filler"}, listing)
  end)

  it("refuses a scheduler's or searcher's bad option at the caller's line, naming the class", function()
    local S, Q = tune.schedulers, tune.search
    local cases = {
      {function() local x = S.ASHAScheduler{max_t = math.huge}; return x end, "AsyncHyperBandScheduler: max_t must be a finite number"},
      {function() local x = S.HyperBandScheduler{max_t = 0.5}; return x end, "max_t = 0.5 leaves no bracket"},
      {function() local x = S.HyperBandScheduler{max_t = math.huge}; return x end, "max_t must be a finite number"},
      {function() local x = S.HyperBandForBOHB{reduction_factor = "x"}; return x end,
        "HyperBandForBOHB: reduction_factor must be a finite number"},
      {function() local x = S.PB2{hyperparam_bounds = {lr = {0, 1}}, quantile_fraction = "zz"}; return x end,
        "PB2: quantile_fraction must be a number"},
      {function() local x = Q.TPESearch{points_to_evaluate = 5}; return x end,
        "TPESearch: points_to_evaluate expected to be a list, got number"},
      {function() local x = Q.TPESearch{seed = 0.5}; return x end,
        "TPESearch: seed must be an integer or nil (got 0.5)"},
      {function() local x = Q.TuneBOHB{seed = "x"}; return x end,
        "TuneBOHB: seed must be an integer or nil (got string)"},
      -- These two were refused as "Random: ...", a class the user never named.
      {function() local x = Q.BasicVariantGenerator{seed = "x"}; return x end,
        "BasicVariantGenerator: seed must be an integer or nil (got string)"},
      {function() local x = S.ASHAScheduler{seed = 1.5}; return x end,
        "AsyncHyperBandScheduler: seed must be an integer or nil (got 1.5)"},
      -- A string passed PBT's own check, then Random refused it in its name.
      {function() local x = S.PopulationBasedTraining{seed = "1"}; return x end,
        "PopulationBasedTraining: seed must be an integer or nil (got string)"},
      {function() local x = S.PB2{seed = "1", hyperparam_bounds = {lr = {0, 1}}}; return x end,
        "PB2: seed must be an integer or nil (got string)"},
      -- A library line's "uniform: the range upper - lower must be finite".
      {function() local x = S.PB2{hyperparam_bounds = {lr = {-1e308, 1e308}}}; return x end,
        "PB2: `hyperparam_bounds` values must be {min, max} with a finite max - min, got {-1e+308, 1e+308} for lr"},
      {function() local x = Q.TPESearch{metric = print}; return x end, "metric must be a string (a result key), got function"},
      -- A boolean option given anything else (a string "false" would mean true).
      {function() local x = S.ASHAScheduler{stop_last_trials = "false"}; return x end,
        'AsyncHyperBandScheduler: stop_last_trials must be true or false, got string "false"'},
      {function() local x = S.HyperBandScheduler{stop_last_trials = 0}; return x end,
        "HyperBandScheduler: stop_last_trials must be true or false, got number"},
      {function() local x = S.MedianStoppingRule{hard_stop = "no"}; return x end, "MedianStoppingRule: hard_stop must be"},
      {function() local x = S.PopulationBasedTraining{synch = "yes"}; return x end, "PopulationBasedTraining: synch must be"},
      {function() local x = S.PB2{log_config = 1}; return x end, "PB2: log_config must be true or false"},
      {function() local x = Q.TPESearch{consider_prior = "no"}; return x end, "TPESearch: consider_prior must be"},
      {function() local x = Q.BasicVariantGenerator{constant_grid_search = 1}; return x end,
        "BasicVariantGenerator: constant_grid_search must be"},
      -- Accepted silently before: a fraction, a string, two seeds, an unknown key, ranges BOHB cannot work in.
      {function() local x = Q.BasicVariantGenerator{max_concurrent = 1.5}; return x end,
        "BasicVariantGenerator: max_concurrent must be a non-negative integer (0: no limit), got 1.5"},
      {function() local x = Q.BasicVariantGenerator{seed = 1, random_state = 2}; return x end,
        "BasicVariantGenerator: give seed or random_state, not both"},
      {function() local x = Q.TPESearch{n_startup_trials = "10"}; return x end,
        'TPESearch: n_startup_trials must be an integer >= 0, got "10"'},
      {function() local x = Q.TPESearch{n_startup = 5}; return x end,
        'TPESearch: unknown option "n_startup" (did you mean n_startup_trials?)'},
      {function() local x = Q.ConcurrencyLimiter(Q.TPESearch{}, {max_concurrent = 2, bacth = true}); return x end,
        'ConcurrencyLimiter: unknown option "bacth" (did you mean batch?)'},
      {function() local x = Q.TuneBOHB{max_concurrent = -1}; return x end,
        "TuneBOHB: max_concurrent must be an integer >= 0"},
      {function() local x = Q.TuneBOHB{bohb_config = {num_samples = 0}}; return x end,
        "TuneBOHB: bohb_config.num_samples must be an integer >= 1, got 0"},
      {function() local x = Q.TuneBOHB{bohb_config = {top_n_percent = 200}}; return x end,
        "TuneBOHB: bohb_config.top_n_percent must be a number in (0, 100), got 200"},
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      -- Each call is on its function's first line.
      assert.matches("bad_input_spec.lua:" .. debug.getinfo(c[1], "S").linedefined .. ": ", tostring(e), 1, true)
      assert.matches(c[2], tostring(e), 1, true)
    end
  end)

  it("refuses in a trial's worker the tune.run calls the driver refused: the script takes the same branch", function()
    -- The worker runs the file again up to its trial's call; a call the
    -- driver refused returned a stub there, so `refused` was false.
    local mirror = support.tmpdir("mirror")
    local out = support.run_script(mirror, string.format([[
      local tune = require("tune")
      local refused = not pcall(tune.run, function() end, {verbose = 0, max_failures = 0 / 0})
      local a = tune.run(function() tune.report{refused = refused} end, {verbose = 0, local_dir = %q})
      print("driver", refused, "trial", a.trials[1].last_result.refused)
    ]], mirror .. "/out"))
    assert.matches("driver\ttrue\ttrial\ttrue", out, 1, true)
    -- So does a worker that runs the file up to a registration after the
    -- calls (it got a stub: the refused call returned, the finished one's
    -- analysis raised "not available in this worker").
    out = support.run_script(mirror, string.format([[
      local tune = require("tune")
      local refused = not pcall(tune.run, function() end, {verbose = 0, max_failures = 0 / 0})
      local a = tune.run(function(c) tune.report{v = c.x} end, {verbose = 0, local_dir = %q, name = "one",
        config = {x = tune.grid_search({4, 7})}, metric = "v", mode = "max"})
      local best = a.best_config.x
      tune.register_trainable("mirror_registered", function() tune.report{refused = refused, best = best} end)
      local b = tune.run("mirror_registered", {verbose = 0, local_dir = %q, name = "two"})
      print("registered", refused, best, "trial", b.trials[1].last_result.refused, b.trials[1].last_result.best)
    ]], mirror .. "/out", mirror .. "/out"))
    assert.matches("registered\ttrue\t7\ttrial\ttrue\t7", out, 1, true)
  end)

  it("raises in a trial's worker what an earlier call raised in the driver, and keeps a failed start there", function()
    -- The worker's earlier call returned its analysis, though the driver's
    -- had raised (a trial failed): the file took another branch there.
    -- A class's setup raising went back into the script's pcall, which ran
    -- the code after tune.run in the worker and failed the trial with
    -- "did not reach its tune.run call".
    local mirror = support.tmpdir("mirror2")
    local out = support.run_script(mirror, string.format([[
      local tune = require("tune")
      local core = require("tune.core")
      local ok, e = pcall(tune.run, function() error("first fails") end, {verbose = 0, local_dir = %q, name = "one"})
      local failed = not ok and type(e) == "table" and #e.trials or -1
      local ok2, e2 = pcall(tune.run, function() end, {verbose = 0, local_dir = %q, name = "two",
        callbacks = {{on_trial_complete = function() error("cb fails") end}}})
      local a = tune.run(function() tune.report{failed = failed, second = ok2 and "ok" or tostring(e2):match("cb fails")} end,
        {verbose = 0, local_dir = %q, name = "three"})
      print("driver", failed, ok2 and "ok" or tostring(e2):match("cb fails"), "trial", a.trials[1].last_result.failed,
        a.trials[1].last_result.second)
      -- A tail call in a coroutine has no caller's locals to name it by.
      local co = coroutine.wrap(function() return tune.run(function() end, {verbose = 0, local_dir = %q, name = "four"}) end)
      print("coroutine", #co().trials)
      local Model = tune.Trainable:extend(nil, "Model")
      function Model:setup() error("boom setup") end
      local ok3, e3 = pcall(tune.run, Model, {verbose = 0, local_dir = %q, name = "five"})
      core.write_atomic(%q .. "/after-" .. core.getpid(), "x") -- the last call's worker must not get here
      print("setup", ok3, e3.trials[1].error_msg:match("^[^\n]*"))
    ]], mirror .. "/out", mirror .. "/out", mirror .. "/out", mirror .. "/out", mirror .. "/out", mirror))
    assert.matches("driver\t1\tcb fails\ttrial\t1\tcb fails", out, 1, true)
    assert.matches("setup\tfalse\t[^\n]*exp.lua:%d+: boom setup\n", out)
    assert.matches("coroutine\t1", out, 1, true)
    local after = 0
    for _, name in ipairs(core.listdir(mirror)) do if name:match("^after%-") then after = after + 1 end end
    assert.equal(1, after) -- the driver's only
  end)

  it("fails a trial whose scheduler sets a running trial's status or requeues it, instead of waiting forever", function()
    -- The runner waited for resources the trial's worker still held; a
    -- status that is none was also saved, and --resume refused the run.
    local TS = tune.schedulers.TrialScheduler
    for _, misuse in ipairs({
        {function(runner, trial) runner.trial_executor:set_status(trial, "TERMINATED") end, "set_status: trial .* is RUNNING"},
        {function(runner, trial) runner:requeue_trial(trial) end, "requeue_trial: trial .* is RUNNING"},
        {function(_, trial) trial:set_status("TERMINATE") end, 'unknown status "TERMINATE"'}}) do
      local S = TS:extend(nil, "Misuse")
      function S:on_trial_result(runner, trial, result)
        if result.training_iteration == 2 then misuse[1](runner, trial) end
        return TS.CONTINUE
      end
      local a = tune.run("steps", {scheduler = S(), config = {x = tune.grid_search({1, 2})}, local_dir = dir, verbose = 0,
        raise_on_failed_trial = false})
      for _, t in ipairs(a.trials) do
        assert.equal("ERROR", t.status)
        assert.matches("scheduler Misuse failed in on_trial_result: .*" .. misuse[2], t.error_msg)
      end
    end
  end)

  it("names a table a plug-in raises by its contents", function()
    local S = tune.schedulers.TrialScheduler:extend(nil, "Raiser")
    function S:on_trial_add() error({code = 3, why = "bad"}) end
    local ok, e = pcall(tune.run, "steps", {scheduler = S(), verbose = 0, local_dir = dir})
    assert.is_false(ok)
    assert.matches("scheduler Raiser failed in on_trial_add: %(error object is a table: {[^\n]*}%)", tostring(e))
    assert.matches('"code":3', tostring(e), 1, true)
    assert.matches('"why":"bad"', tostring(e), 1, true)
  end)

  it("warns once when a scheduler's debug_string fails or is not a string (the report's first lines)", function()
    local d = support.tmpdir("debugstr")
    local out = support.run_script(d, string.format([[
      local tune = require("tune")
      local S = tune.schedulers.TrialScheduler:extend(nil, "BadDebug")
      function S:debug_string() error("boom in debug_string") end
      tune.run(function() tune.report{x = 1} end, {scheduler = S(), verbose = 1, local_dir = %q, num_samples = 2})
      print("done")
    ]], d .. "/out"))
    local _, n = out:gsub("tunelua warning: scheduler BadDebug failed in debug_string: [^\n]*boom in debug_string", "")
    assert.equal(1, n)
    assert.matches("done", out)
  end)

  it("stops at a sample_from that returns what a config cannot hold, naming it", function()
    -- A table inside itself hung the generator; the others failed in the
    -- journal's encoder, deep in the library.
    local cyclic = {}
    cyclic.self = cyclic
    local deep = {}
    local cur = deep
    for _ = 1, 300 do cur.n = {}; cur = cur.n end
    for _, c in ipairs({{print, "a function"}, {io.stdout, "a userdata"}, {cyclic, "a table that contains itself"},
        {deep, "tables nested more than 100 deep"}}) do
      local ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0,
        config = {x = tune.sample_from(function() return c[1] end)}})
      assert.is_false(ok)
      assert.matches("config.x: sample_from returned " .. c[2] .. ", which a trial's config cannot hold", tostring(e), 1, true)
    end
    -- The same from a searcher's suggestion (a table inside itself hung).
    for _, c in ipairs({{print, "a function"}, {cyclic, "a table that contains itself"}}) do
      local S = tune.search.Searcher:extend()
      function S:suggest() return {x = c[1]} end
      local ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, search_alg = S{metric = "loss", mode = "min"}})
      assert.is_false(ok)
      assert.matches("suggest returned a config holding " .. c[2] .. ", which a trial's config cannot hold", tostring(e), 1, true)
    end
    -- And from a scheduler giving a trial a new config (PBT's explore):
    -- the error is raised at the scheduler's call, naming the trial.
    local t = tune.Trial("steps", {config = {x = 1}})
    for _, c in ipairs({{{x = print}, "a function"}, {cyclic, "a table that contains itself"}, {5, "a number"}}) do
      local ok, e = pcall(function() t:set_config(c[1]) end)
      assert.is_false(ok)
      assert.matches("bad_input_spec.lua:%d+: trial steps_%S+: its new config holds " .. c[2], tostring(e))
    end
    t:set_config({x = 2, y = {core.null}})
    assert.equal(2, t.config.x)
    -- JSON's null is plain data.
    local a = tune.run("steps", {local_dir = dir, verbose = 0, config = {steps = 1, tag = tune.sample_from(function() return core.null end)}})
    assert.equal("TERMINATED", a.trials[1].status)
  end)

  it("names a failing searcher and its hook once, and a failing sample_from without the library's position", function()
    -- Wrapped twice: "search algorithm SearchGenerator failed in
    -- set_search_properties: searcher TPESearch failed in set_search_properties: ...".
    local ok, e = pcall(tune.run, "steps", {local_dir = dir .. "/a", verbose = 0, metric = "loss", mode = "min",
      num_samples = 2, search_alg = tune.search.TPESearch{seed = 1}, config = {x = tune.grid_search({1, 2})}})
    assert.is_false(ok)
    e = tostring(e)
    assert.matches("^searcher TPESearch failed in set_search_properties: TPESearch: config: x: grid_search is not "
      .. "supported by a searcher", e)
    assert.equal(1, select(2, e:gsub("failed in ", "")), e)
    -- Inside a Repeater inside the ConcurrencyLimiter of max_concurrent_trials.
    local Failing = tune.search.Searcher:extend(nil, "Failing")
    function Failing:set_search_properties() return true end
    function Failing:suggest() error("no suggestion today") end
    ok, e = pcall(tune.run, "steps", {local_dir = dir .. "/b", verbose = 0, metric = "loss", mode = "min",
      num_samples = 2, max_concurrent_trials = 1, search_alg = tune.search.Repeater(Failing{}, 1),
      config = {x = tune.uniform(0, 1)}})
    assert.is_false(ok)
    e = tostring(e)
    assert.matches("^searcher Failing failed in suggest: [^\n]*no suggestion today", e)
    assert.equal(1, select(2, e:gsub("failed in ", "")), e)
    -- The function's error says where; the library's position was before it
    -- (".../basic_variant.lua:151: config.a: sample_from function failed: ...").
    ok, e = pcall(tune.run, "steps", {local_dir = dir .. "/c", verbose = 0, num_samples = 2,
      config = {a = tune.sample_from(function(spec) return spec.config.nope.deeper end)}})
    assert.is_false(ok)
    assert.matches("^search algorithm BasicVariantGenerator failed in next_trial: config%.a: sample_from function "
      .. "failed: [^\n]*bad_input_spec%.lua:%d+: attempt to index", tostring(e))
    -- Nor the generator's frames after it, nor for a cycle: all the
    -- library's, they told nothing more (TUNE_DEBUG=1 keeps them).
    assert.is_nil(tostring(e):find("\n"), tostring(e))
    ok, e = pcall(tune.run, "steps", {local_dir = dir .. "/d", verbose = 0,
      config = {a = tune.sample_from(function(spec) return spec.config.a end)}})
    assert.is_false(ok)
    assert.matches("^search algorithm BasicVariantGenerator failed in next_trial: config%.a: sample_from could not be "
      .. "resolved: `a` recursively depends on [^\n]*$", tostring(e))
  end)

  it("warns when a callback fails in on_experiment_end; the finished run stands", function()
    local where = support.tmpdir("endcb")
    local out = support.run_script(where, string.format([[
      local tune = require("tune")
      local a = tune.run(function() tune.report{loss = 1} end, {verbose = 0, local_dir = %q,
        callbacks = {{on_experiment_end = function() error("end boom") end}}})
      print("trials", #a.trials, a.trials[1].status)
    ]], where .. "/out"))
    assert.matches("tunelua warning: callback #1 failed in on_experiment_end: [^\n]*end boom", out)
    assert.matches("trials\t1\tTERMINATED", out, 1, true)
  end)

  it("names a failing callback without a class by its place in the list; its traceback is its own", function()
    local where = support.tmpdir("cbplace")
    local script = where .. "/exp.lua"
    assert(core.write_atomic(script, string.format([[
      local tune = require("tune")
      local function deep(t) return t.x.y end
      tune.run(function() tune.report{loss = 1} end, {verbose = 0, local_dir = %q,
        callbacks = {tune.CSVLoggerCallback(), {on_trial_start = function() local v = deep({}); return v end}}})
    ]], where .. "/out")))
    local ok, out, code = support.sh(string.format("env -u LD_PRELOAD %s %s", os.getenv("TUNELUA_BIN") or "build/tunelua", script))
    assert.is_false(ok)
    assert.equal(2, code)
    assert.matches("callback #2 failed in on_trial_start: [^\n]*attempt to index a nil value", out)
    -- The user's frames, then nothing of the experiment loop's.
    assert.matches("stack traceback:\n\t[^\n]*:2: in [^\n]*deep[^\n]*\n\t[^\n]*:4: in function", out)
    assert.is_nil(out:find("runner.lua", 1, true), out)
    assert.is_nil(out:find("in function 'xpcall'", 1, true), out)
  end)

  it("stops at a scheduler that chooses to start what cannot start, naming what it chose", function()
    -- A table not of the experiment crashed in the executor; a finished
    -- trial was started again and again, forever.
    local foreign = {choose_trial_to_run = function() return {trial_id = "zzz", status = "PENDING"} end}
    local finished = {choose_trial_to_run = function(_, runner)
      for _, t in ipairs(runner:get_trials()) do if t.status == "TERMINATED" then return t end end
      for _, t in ipairs(runner:get_trials()) do if t.status == "PENDING" then return t end end
    end}
    local ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, num_samples = 2, scheduler = foreign})
    assert.is_false(ok)
    assert.matches("choose_trial_to_run returned a table that is not one of its trials", tostring(e), 1, true)
    ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, num_samples = 2, scheduler = finished})
    assert.is_false(ok)
    assert.matches("choose_trial_to_run returned trial steps_[%w_]+, which is TERMINATED, where a PENDING or PAUSED", tostring(e))
  end)

  it("runs a scheduler that is a plain table of hooks: a missing hook gets the base's default", function()
    local seen = 0
    local a = tune.run("steps", {local_dir = dir, verbose = 0, config = {x = tune.grid_search({1, 2, 3})},
      scheduler = {on_trial_result = function(_, _, _, result) seen = seen + 1 end}})
    assert.equal(3, #a.trials)
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
    assert.is_true(seen > 0)
  end)

  it("fails a trial whose trainable reports or saves what cannot be stored, naming it", function()
    local cases = {
      {"report_function_key", "cannot report the result: cannot encode a table key of type function"},
      {"report_nul_value", "cannot report the result: a string with a NUL character (C strings end there) at 'note'"},
      {"report_nul_key", "cannot report the result: a key with a NUL character (C strings end there) at 'info.a'"},
      {"report_deep", "cannot report the result: table nested too deeply (a cycle?) at 'deep.n.n.n.n... (depth "},
      -- A list would cross as a JSON array, which no result is.
      {"report_list", "a result must be a table of metrics by name, got a list of 2 values"},
      {"steps_list", "a result must be a table of metrics by name, got a list of 3 values"},
      {"report_function_checkpoint", "tune.report(): checkpoint must be a table of plain data, got function"},
      {"saves_function", "save_checkpoint() must return a table, the checkpoint's directory (a string) or nil, got function"},
    }
    for _, c in ipairs(cases) do
      local a = tune.run(c[1], {local_dir = dir, verbose = 0, raise_on_failed_trial = false, checkpoint_freq = 1,
        stop = {training_iteration = 2}})
      assert.equal("ERROR", a.trials[1].status)
      assert.matches(c[2], a.trials[1].error_msg, 1, true)
      -- A key of the result itself has no path to name.
      assert.is_nil(a.trials[1].error_msg:find("at ''", 1, true), a.trials[1].error_msg)
    end
  end)

  it("ends the run at the user's line when trial_name_creator fails or returns what is not a name", function()
    local ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, trial_name_creator = function() return {} end})
    assert.is_false(ok)
    assert.matches("trial_name_creator must return the trial's name %(a string%), got table", tostring(e))
    -- A NUL failed the snapshot instead, in two messages from inside the library.
    ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, trial_name_creator = function() return "a\0b" end})
    assert.is_false(ok)
    assert.matches('trial_name_creator must return a name without a NUL character, got "a\\0b"', tostring(e), 1, true)
    -- The user's function failed, not the search algorithm that asked for
    -- the trial (it was blamed, with the library's traceback): one line.
    ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, config = {x = tune.grid_search({1, 2})},
      trial_name_creator = function(t) if t.config.x == 2 then error("no name for 2") end return "t" end})
    assert.is_false(ok)
    assert.matches("^tune.run: trial_name_creator failed: [^\n]*no name for 2$", tostring(e))
  end)

  it("refuses a Slurm option of a wrong name or type before asking Slurm anything", function()
    assert.matches("unknown slurm option 'nodes' %(known: partition,", refusal{backend = "slurm", slurm = {nodes = 3}})
    assert.matches("slurm option 'partition' must be a string", refusal{backend = "slurm", slurm = {partition = 3}})
    assert.matches("slurm option 'srun_args' must be a list of strings",
      refusal{backend = "slurm", slurm = {srun_args = {"--mpi=none", 2}}})
    assert.matches("slurm option 'channel' must be \"tcp\" or \"stdio\", got \"udp\"",
      refusal{backend = "slurm", slurm = {channel = "udp"}})
    assert.matches("slurm option 'allocation' must be a boolean", refusal{backend = "slurm", slurm = {allocation = 0}})
    assert.matches("slurm options given but the backend is local", refusal{slurm = {partition = "p"}})
    -- A list is a table, but not of options.
    assert.matches("unknown slurm option '1': slurm options are a table of name = value, not a list %(known: partition,",
      refusal{backend = "slurm", slurm = {"x"}})
    assert.matches("unknown slurm option '1' %(known: partition,", refusal{backend = "slurm", slurm = {"x", qos = "q"}})
  end)

  it("refuses a TUNE_SLURM_STEP_START_S that is not a number of seconds, before asking Slurm anything", function()
    local cases = {
      {"abc", 'environment variable TUNE_SLURM_STEP_START_S="abc" is not a number'},
      {"-1", 'environment variable TUNE_SLURM_STEP_START_S="-1" must be a finite number of seconds, 0 or more'},
      {"1e999", 'environment variable TUNE_SLURM_STEP_START_S="1e999" must be a finite number of seconds, 0 or more'},
    }
    for _, c in ipairs(cases) do
      assert(core.setenv("TUNE_SLURM_STEP_START_S", c[1]))
      local ok, e = pcall(refusal, {backend = "slurm"})
      assert(core.setenv("TUNE_SLURM_STEP_START_S", nil))
      assert.is_true(ok, tostring(e))
      assert.matches(c[2], e, 1, true)
    end
  end)

  it("refuses num_cpus, num_gpus and resources with the slurm backend (Slurm says what the nodes have)", function()
    for _, k in ipairs({"num_cpus", "num_gpus", "resources"}) do
      local v = k == "resources" and {custom = 1} or 1
      assert.matches("tune.run: " .. k .. " is not for the slurm backend: Slurm says what each node has",
        refusal{backend = "slurm", [k] = v}, 1, true)
    end
    local ok, e = pcall(tune.TrialExecutor, {backend = "slurm", num_cpus = 2})
    assert.is_false(ok)
    assert.matches("TrialExecutor: num_cpus is not for the slurm backend", tostring(e), 1, true)
    -- The flags, and the backend from the environment; one line, nothing written.
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    for _, c in ipairs({{"--backend slurm --num-cpus 2", "--num-cpus"}, {"--num-gpus 0", "--num-gpus"},
        {"--resources '{\"custom\": 1}'", "--resources"}}) do
      local p = io.popen(string.format("TUNE_BACKEND=slurm %s -v 0 --local-dir %s %s spec/fixtures/experiments/cli_ok.lua 2>&1",
        bin, dir, c[1]))
      local out = p:read("a")
      local _, _, code = p:close()
      assert.equal(2, code, out)
      assert.matches("cli_ok.lua:%d+: tune.run: " .. c[2]:gsub("%-", "%%-") .. " is not for the slurm backend", out)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.is_nil(core.stat(dir), c[1] .. " wrote the experiment")
    end
  end)

  -- The two read at an interrupt were read only then: a wrong one failed
  -- the interrupted run with a traceback, exit 2 instead of 130.
  it("refuses a TUNE_GLOBAL_CHECKPOINT_S (and the other variables tune.run reads) that is not a number in one line", function()
    for _, c in ipairs({{"TUNE_GLOBAL_CHECKPOINT_S=abc", '"abc" is not a number'},
        -- Taken as it was, though the option refuses it.
        {"TUNE_GLOBAL_CHECKPOINT_S=-1", '"-1" must be a finite number of seconds, 0 or more'},
        {"TUNE_INTERRUPT_CLEANUP_S=abc", '"abc" is not a number'},
        {"TUNE_INTERRUPT_CLEANUP_S=-1", '"-1" must be a finite number of seconds, 0 or more'},
        {"TUNE_SIGNAL_CHECKPOINT_TIMEOUT_S=1e999", '"1e999" must be a finite number of seconds, 0 or more'},
        -- It failed inside the library: "bad argument #1 to 'set_max_pending'".
        {"TUNE_MAX_PENDING_TRIALS_PG=-3", '"-3" must be a whole number of placement groups, 0 (automatic) or more'},
        {"TUNE_MAX_PENDING_TRIALS_PG=abc", '"abc" is not a number'},
        {"TUNE_MAX_LEN_IDENTIFIER=-1", '"-1" must be a whole number of bytes, 0 or more'},
        -- Read by the engine with strtod: "abc" and 0 were the default 5 s, silently.
        {"TUNE_STOP_WARN_S=abc", '"abc" is not a number'},
        {"TUNE_STOP_WARN_S=0", '"0" must be a finite number of seconds, more than 0'},
        -- Read as Ray's int(): "true" kept the handler, and the check, silently.
        {"TUNE_DISABLE_SIGINT_HANDLER=true", '"true" is not a number'},
        {"TUNE_DISABLE_STRICT_METRIC_CHECKING=yes", '"yes" is not a number'},
        {"TUNE_DISABLE_STRICT_METRIC_CHECKING=1.5", '"1.5" is not an integer'},
        -- Read by the default reporter (-v 1): it came with the library's traceback.
        {"TUNE_COMPACT_REPORT=yes", '"yes" is not a number', "-v 1"}}) do
      local p = io.popen(string.format("%s %s %s --local-dir %s spec/fixtures/experiments/cli_ok.lua 2>&1",
        c[1], os.getenv("TUNELUA_BIN") or "build/tunelua", c[3] or "-v 0", dir))
      local out = p:read("a")
      local _, _, code = p:close()
      assert.equal(2, code, out)
      assert.matches("cli_ok.lua:%d+: tune.run: environment variable " .. c[1]:match("^[%u_]+"), out)
      assert.matches(c[2], out, 1, true)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.is_nil(core.stat(dir), "the refused run wrote the experiment")
    end
  end)

  it("a worker that cannot reach its driver says so in one line, without a traceback", function()
    for _, c in ipairs({{"127.0.0.1:1:token", "127.0.0.1 port 1"}, {"no.such.host.invalid:1:token", "no.such.host.invalid port 1"}}) do
      local p = io.popen(string.format("TUNE_CHANNEL=%s %s --worker 2>&1 </dev/null", c[1],
        os.getenv("TUNELUA_BIN") or "build/tunelua"))
      local out = p:read("a")
      local _, _, code = p:close()
      assert.equal(2, code, out)
      assert.matches("^tunelua: cannot connect to the driver at " .. c[2]:gsub("%.", "%%.") .. ": [^\n]+\n$", out)
    end
  end)

  it("a TUNELUA_LUA_DIR without the library says so in one line", function()
    -- The repository's root instead of its lua directory: 'module 'tune.cli' not found' and every path tried.
    local p = io.popen(string.format("TUNELUA_LUA_DIR=%s %s spec/fixtures/experiments/cli_ok.lua 2>&1", dir,
      os.getenv("TUNELUA_BIN") or "build/tunelua"))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(2, code, out)
    assert.equal("tunelua: TUNELUA_LUA_DIR=" .. dir .. " holds no tune library (no tune/init.lua there): name a "
      .. "source tree's lua directory, or unset it to use the library built in\n", out)
  end)

  it("points the refusal at the caller's line", function()
    local ok, e = pcall(function() tune.run("steps", {verbose = "high", local_dir = dir}) end)
    assert.is_false(ok)
    assert.matches("bad_input_spec.lua:%d+: tune.run: verbose", tostring(e))
  end)

  it("refuses names that are not one directory under local_dir", function()
    for _, name in ipairs({"", ".", ".."}) do
      assert.matches("name must name a directory under local_dir", refusal{name = name})
    end
    assert.matches("must not contain '/'", refusal{name = "a/../../b"})
    assert.matches("name must not contain a NUL character", refusal{name = "a\0b"})
    -- Longer than a directory's name may be: mkdir failed inside the library.
    assert.matches("tune.run: name is too long for a directory's name (256 bytes, at most 255)",
      refusal{name = string.rep("n", 256)}, 1, true)
  end)

  it("names the trainable when the default experiment name made of it is not a directory's name", function()
    -- It said "name ... " though no name was given, or failed inside the library (File name too long).
    local Long = tune.Trainable:extend(nil, string.rep("L", 240))
    assert.matches('tune.run: the experiment\'s default name (made of the trainable\'s name "' .. string.rep("L", 240)
      .. '": give name =) is too long for a directory\'s name (260 bytes, at most 255)', refusal({}, Long), 1, true)
    local Latin = tune.Trainable:extend(nil, "caf\xe9")
    assert.matches('default name (made of the trainable\'s name "caf\xe9": give name =) must be UTF-8 text',
      refusal({}, Latin), 1, true)
  end)

  it("refuses a NUL character, or bytes that are not UTF-8, in the config's strings and keys", function()
    assert.matches("config%.opt%.s: a string with a NUL character cannot be given to a trial",
      refusal{config = {opt = {s = "a\0b"}}})
    assert.matches("config: a key with a NUL character cannot be given to a trial", refusal{config = {["k\0"] = 1}})
    -- They reached the trial as U+FFFD: its config was another string.
    assert.matches("config%.s: a string with bytes that are not UTF%-8 cannot be given to a trial",
      refusal{config = {s = "a\xffb"}})
    assert.matches("config: a key with bytes that are not UTF%-8 cannot be given to a trial",
      refusal{config = {["caf\xe9"] = 1}})
  end)

  it("refuses a config key that is neither a string nor a number, from the config or a searcher", function()
    -- It failed in the journal's encoder, deep in the library.
    assert.matches("config%.z: a boolean key cannot be given to a trial", refusal{config = {z = {[true] = 1}}})
    assert.matches("config: a table key cannot be given to a trial", refusal{config = {[{}] = 1}})
    local S = tune.search.Searcher:extend(nil, "BoolKey")
    function S:suggest() return {x = {[false] = 1}} end
    local ok, e = pcall(tune.run, "steps", {local_dir = dir, verbose = 0, search_alg = S{metric = "loss", mode = "min"}})
    assert.is_false(ok)
    assert.matches("searcher BoolKey: suggest returned a config holding a boolean key, which a trial's config cannot hold",
      tostring(e), 1, true)
  end)

  it("refuses a local_dir under a file before creating anything", function()
    local base = support.tmpdir("badrun-file")
    assert(core.write_atomic(base .. "/file", "x"))
    local ok, e = pcall(tune.run, "steps", {local_dir = base .. "/file/results", verbose = 0})
    assert.is_false(ok)
    assert.matches("local_dir .*/file/results: .*/file is not a directory", tostring(e))
  end)

  it("keeps one config and one column where a result repeats a key (its own config, an a/b beside a.b)", function()
    local a = tune.run(function() end, {backend = "sim", local_dir = dir, verbose = 0, config = {x = 1},
      sim = {curve = function(_, i) if i <= 2 then return {loss = i, config = 5, ["a/b"] = 1, a = {b = 2}} end end}})
    local t = a.trials[1]
    local lines = support.lines(t.logdir .. "/result.json")
    assert.equal(2, #lines)
    for _, line in ipairs(lines) do
      assert.same({x = 1}, core.json_decode(line).config)
      local n = 0
      for _ in line:gmatch('"config":') do n = n + 1 end
      assert.equal(1, n, line)
    end
    assert.same({x = 1}, t.last_result.config)
    local header = support.lines(t.logdir .. "/progress.csv")[1]
    local seen = {}
    for name in (header .. ","):gmatch("([^,]*),") do
      assert.is_nil(seen[name], "column " .. name .. " twice: " .. header)
      seen[name] = true
    end
    assert.truthy(seen["a/b"] and seen["config/x"] and seen.loss, header)
  end)

  it("a run that fails before its first trial leaves the earlier experiment of its name as it was", function()
    local function run(extra, trainable)
      local opts = {name = "keep", backend = "sim", local_dir = dir, verbose = 0, num_samples = 3,
        config = {x = tune.uniform(0, 1)}, sim = {curve = function(_, i) if i <= 2 then return {loss = i} end end}}
      for k, v in pairs(extra or {}) do opts[k] = v end
      return pcall(tune.run, trainable or function() end, opts)
    end
    local Cls = tune.Trainable:extend(nil, "Cls")
    function Cls.default_resource_request() return 5 end
    assert.is_true((run()))
    local exp = dir .. "/keep"
    local function listing()
      local names = core.listdir(exp)
      table.sort(names)
      local out = {}
      for _, n in ipairs(names) do out[n] = core.stat(exp .. "/" .. n) == "file" and core.read_file(exp .. "/" .. n) or "dir" end
      return out
    end
    local before = listing()
    local failing = {
      {{config = {x = tune.sample_from(function(spec) return spec.config.y.z end)}}, "sample_from function failed"},
      {{callbacks = {{setup = function() error("setup refused") end}}}, "setup refused"},
      {{trial_name_creator = function() error("no name") end}, "trial_name_creator failed: .*no name"},
      {{name = "keep"}, "Cls:default_resource_request%(config%) returned a number", Cls},
    }
    for i, case in ipairs(failing) do
      local ok, e = run(case[1], case[3])
      assert.is_false(ok, "case " .. i)
      assert.matches(case[2], tostring(e))
      assert.same(before, listing(), "case " .. i)
    end
    assert.equal(3, #require("tune.analysis").ExperimentAnalysis(exp).trials)
    -- The class's mistake is the user's, at their line: not the search
    -- algorithm's, and without a traceback.
    local _, e = run({name = "keep"}, Cls)
    assert.matches("^[^\n]*tune.run: Cls:default_resource_request%(config%) returned a number: [^\n]*$",
      tostring(e))
    -- One that raises likewise (it was "search algorithm BasicVariantGenerator
    -- failed in next_trial", with the library's traceback).
    local Raising = tune.Trainable:extend(nil, "Raising")
    function Raising.default_resource_request() error("no resources here") end
    _, e = run({name = "keep"}, Raising)
    assert.matches("^[^\n]*tune.run: Raising:default_resource_request%(config%) failed: [^\n]*: no resources here$",
      tostring(e))
    assert.same(before, listing())
    -- A new experiment refused the same ways leaves no directory behind,
    -- nor the local_dir it made (a scheduler's save returning a function
    -- failed the first snapshot; TPESearch without a metric, the first
    -- suggestion).
    local BadSave = tune.schedulers.TrialScheduler:extend(nil, "BadSave")
    function BadSave:save() return {f = print} end
    failing[#failing + 1] = {{scheduler = BadSave()}, "scheduler BadSave: save returned a state holding a function at .f"}
    failing[#failing + 1] = {{search_alg = tune.search.TPESearch()}, "the `metric` %(nil%) or `mode` %(nil%)"}
    for i, case in ipairs(failing) do
      case[1].name = "new" .. i
      case[1].local_dir = dir .. "/made/deeper"
      local ok, e = run(case[1], case[3])
      assert.is_false(ok, "case " .. i)
      assert.matches(case[2], tostring(e))
      assert.is_nil(core.stat(dir .. "/made"), "case " .. i)
    end
  end)

  it("refuses to resume an experiment with another search algorithm or scheduler, changing nothing", function()
    -- The default generator took TPESearch's state as its own and made the
    -- samples again (13 trials of 8); a ConcurrencyLimiter died saving it.
    local opts = {name = "kinds", local_dir = dir, verbose = 0, metric = "loss", mode = "min", num_samples = 3,
      config = {x = tune.uniform(0, 1), iters = 1}, search_alg = tune.search.TPESearch()}
    tune.run("steps", opts)
    local exp = dir .. "/kinds"
    local function listing()
      local out = {}
      for _, n in ipairs(core.listdir(exp)) do out[n] = core.read_file(exp .. "/" .. n) or "dir" end
      return out
    end
    local before = listing()
    for _, change in ipairs({{search_alg = false, "BasicVariantGenerator"},
        {search_alg = tune.search.ConcurrencyLimiter(tune.search.TPESearch(), {max_concurrent = 1}), "ConcurrencyLimiter"},
        {scheduler = tune.schedulers.ASHAScheduler(), "AsyncHyperBandScheduler"}}) do
      local o = {search_alg = tune.search.TPESearch()}
      for k, v in pairs(opts) do if k ~= "search_alg" then o[k] = v end end
      for k, v in pairs(change) do if type(k) == "string" then o[k] = v or nil end end
      o.resume = true
      local ok, e = pcall(tune.run, "steps", o)
      assert.is_false(ok)
      assert.matches("cannot resume: .*the experiment was made with the .*, this run has [^\n]*" .. change[1], tostring(e))
      assert.same(before, listing())
    end
    opts.resume, opts.search_alg = true, tune.search.TPESearch()
    assert.equal(3, #tune.run("steps", opts).trials)
  end)

  it("keeps an experiment's num_samples on resume whatever the search algorithm, and says so", function()
    -- TPESearch took the new count, the default generator the old one.
    local d = support.tmpdir("resume-samples")
    local out = support.run_script(d, string.format([[
      local tune = require("tune")
      tune.register_trainable("one", function(config) tune.report{loss = config.x} end)
      for _, alg in ipairs({"tpe", "default"}) do
        local function go(n, resume)
          return tune.run("one", {name = alg, local_dir = %q, verbose = 0, metric = "loss", mode = "min",
            num_samples = n, config = {x = tune.uniform(0, 1)}, resume = resume,
            search_alg = alg == "tpe" and tune.search.TPESearch() or nil})
        end
        go(3, false)
        print(alg, #go(5, true).trials)
      end
    ]], d .. "/out"))
    assert.matches("tpe\t3\n", out)
    assert.matches("default\t3\n", out)
    local _, n = out:gsub("the experiment was made with num_samples = 3; the resume keeps it %(this run asked for 5%)", "")
    assert.equal(2, n, out)
  end)

  it("refuses a plug-in class where an instance belongs, and a search algorithm where a searcher belongs", function()
    assert.matches("scheduler is the class AsyncHyperBandScheduler, not an instance",
      refusal{scheduler = tune.schedulers.ASHAScheduler})
    assert.matches("search_alg is the class TPESearch, not an instance", refusal{search_alg = tune.search.TPESearch})
    -- A logger class without its call failed its trials with a Lua error
    -- from tensorboard.lua (self._files is nil), or did nothing.
    assert.matches("callbacks%[2%] is the class TBXLoggerCallback, not an instance: call it %(TBXLoggerCallback%(%)%)",
      refusal{callbacks = {tune.CSVLoggerCallback(), tune.TBXLoggerCallback}})
    local Q = tune.search
    local ok, e = pcall(Q.ConcurrencyLimiter, Q.BasicVariantGenerator{}, {max_concurrent = 2})
    assert.is_false(ok)
    assert.matches("ConcurrencyLimiter: expected a searcher, got the search algorithm BasicVariantGenerator", tostring(e))
    ok, e = pcall(Q.Repeater, Q.BasicVariantGenerator{}, 3)
    assert.is_false(ok)
    assert.matches("Repeater: expected a searcher as the first argument, got the search algorithm", tostring(e))
    -- Refused before anything is written: a scheduler that ranks by a
    -- metric without one, PBT beside a searcher, points that are not configs.
    for _, sch in ipairs({tune.schedulers.ASHAScheduler{}, tune.schedulers.HyperBandScheduler{},
        tune.schedulers.MedianStoppingRule{}}) do
      assert.matches("has been instantiated without a valid `metric` %(nil%)", refusal{scheduler = sch})
    end
    assert.matches("Search algorithms cannot be used with PopulationBasedTraining schedulers. Please remove RandomSearch",
      refusal{metric = "loss", mode = "min", search_alg = Q.RandomSearch{},
        scheduler = tune.schedulers.PopulationBasedTraining{hyperparam_mutations = {x = tune.uniform(0, 1)}}})
    ok, e = pcall(Q.BasicVariantGenerator, {points_to_evaluate = {5}})
    assert.is_false(ok)
    assert.matches("points_to_evaluate must be a list of config tables, got number at %[1%]", tostring(e))
    -- Ray's positional form.
    local limited = Q.ConcurrencyLimiter(Q.TPESearch{}, 2, true)
    assert.equal(2, limited.max_concurrent)
    assert.is_true(limited.batch)
  end)

  it("refuses -v 5 on the command line", function()
    local p = io.popen((os.getenv("TUNELUA_BIN") or "build/tunelua")
      .. " -v 5 spec/fixtures/experiments/cli_ok.lua 2>&1")
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(2, code)
    assert.matches("%-v: verbosity must be 0, 1, 2 or 3, got 5", out)
  end)

  it("bounds console text without newlines and writes non-UTF-8 text as valid JSON", function()
    local function hwm()
      return tonumber(core.read_file("/proc/self/status"):match("VmHWM:%s*(%d+)")) / 1024
    end
    local before = hwm()
    -- Into the trial's log files (log_to_file), not onto the test's output;
    -- the driver still splits it into lines as it comes.
    local analysis = tune.run("no_newline", {config = {chunks = 512}, local_dir = dir, verbose = 0,
      log_to_file = true})
    -- 32 MiB of output without a newline: the driver holds at most a line's
    -- limit of it at a time. (Under AddressSanitizer freed memory stays in
    -- its quarantine, so the peak says nothing there.)
    if not os.getenv("ASAN_OPTIONS") then
      assert.is_true(hwm() - before < 16, "the driver's peak RSS grew by " .. (hwm() - before) .. " MB")
    end
    local out = core.read_file(analysis.trials[1].logdir .. "/stdout")
    assert.equal(512 * 65536, #out)
    local trial = analysis.trials[1]
    assert.equal("TERMINATED", trial.status)
    local text = core.read_file(trial.logdir .. "/result.json")
    assert.truthy(utf8.len(text), "result.json is not valid UTF-8")
    local row = assert(core.json_decode(text:match("^[^\n]+")))
    assert.equal("bad \u{FFFD}\u{FFFD} bytes \u{FFFD}\u{FFFD}", row.text)
  end)
end)
