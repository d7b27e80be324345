-- The tunelua command line: options, subcommands, exit codes
-- (0 ok, 1 failed trials, 2 usage or script error), the event stream.
local core = require("tune.core")
local support = require("spec.support")

-- Absolute: some cases run it from another directory (env -C).
local tunelua = require("tune.util").abspath(os.getenv("TUNELUA_BIN") or "build/tunelua")
local X = "spec/fixtures/experiments/"

local function run(args, env)
  local p = io.popen(string.format("env %s %s %s 2>&1", env or "", tunelua, args))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

describe("tunelua", function()
  local dir
  before_each(function() dir = support.tmpdir("cli") end)
  after_each(support.check_clean)

  it("--help and --version", function()
    local code, out = run("--help")
    assert.equal(0, code)
    assert.matches("usage: tunelua", out)
    code, out = run("--version")
    assert.equal(0, code)
    assert.matches("^tunelua %d+%.%d+%.%d+", out)
    -- A value given to either was dropped without a word.
    code, out = run("--help=all")
    assert.equal(2, code)
    assert.equal("tunelua: --help takes no value, got --help=all\n", out)
    code, out = run("--version=2 x.lua")
    assert.equal(2, code)
    assert.equal("tunelua: --version takes no value, got --version=2\n", out)
  end)

  it("refuses, with one line and before anything is written, flags a run cannot use", function()
    local cases = {
      {"--events " .. dir .. "/no/such/dir/events.jsonl", "tune.run: %-%-events: the event stream cannot be written: "},
      {"--num-cpus 1e20", "^tunelua: %-%-num%-cpus: expected a non%-negative number up to 1e14, got 1e20\n"},
      {"--num-gpus 99999999", "a node has at most 4096 GPUs"},
      {"--resources '{\"x\": 1e30}'", "^tunelua: %-%-resources: x must be a non%-negative number up to 1e14, got 1e%+30\n"},
      {"--events=", "%-%-events: expected a file %(or %- for stdout%), got an empty name"},
      {"--local-dir=", "%-%-local%-dir: expected a directory, got an empty name"},
      {"--num-cpus -1", "^tunelua: %-%-num%-cpus: expected a non%-negative number up to 1e14, got %-1\n"},
      {"--num-cpus 1e400", "^tunelua: %-%-num%-cpus: expected a non%-negative number up to 1e14, got 1e400\n"},
      {"--num-gpus=-2", "^tunelua: %-%-num%-gpus: expected a non%-negative number up to 1e14, got %-2\n"},
      {"--num-gpus 1.5", "^tunelua: %-%-num%-gpus: expected a whole number of GPUs, got 1%.5\n"},
      {"--resources '{\"cpu\": 1e999}'", "^tunelua: %-%-resources: cpu must be a non%-negative number up to 1e14, got inf\n"},
      {"--resources '{\"x\": NaN}'", "^tunelua: %-%-resources: x must be a non%-negative number up to 1e14, got nan\n"},
      {"--resources '{\"GPU\": 1.5}'", "^tunelua: %-%-resources: GPU must be a non%-negative number up to 1e14 %(whole for GPU%), got 1%.5\n"},
      -- Any case names the GPUs: "gpu" failed later, as a script error at tune.run.
      {"--resources '{\"gpu\": 0.5}'", "^tunelua: %-%-resources: gpu must be a non%-negative number up to 1e14 %(whole for GPU%), got 0%.5\n"},
      {"--dashboard-host 01.2.3.4", "^tunelua: %-%-dashboard%-host: expected an IPv4 address such as 0%.0%.0%.0, got 01%.2%.3%.4\n"},
      {"--resources '{\"\": 1}'", "^tunelua: %-%-resources: a resource needs a name"},
      -- tonumber took these: 0x1F90 served on 8080, 8e3 on 8000.
      {"--dashboard=0x1F90", "^tunelua: %-%-dashboard: expected a port 0%-65535, got 0x1F90\n"},
      {"--dashboard=8e3", "^tunelua: %-%-dashboard: expected a port 0%-65535, got 8e3\n"},
      {"--dashboard-host ::1", "^tunelua: %-%-dashboard%-host: expected an IPv4 address such as 0%.0%.0%.0, got ::1\n"},
      -- Both give the CPUs: which one won was not said.
      {"--num-cpus 2 --resources '{\"cpu\": 1}'", "^tunelua: %-%-num%-cpus and %-%-resources %(\"cpu\"%) both give the CPUs: give one\n"},
      {"--num-gpus 0 --resources '{\"GPU\": 0}'", "^tunelua: %-%-num%-gpus and %-%-resources %(\"GPU\"%) both give the GPUs: give one\n"},
      -- Twice in one --resources: blamed on the file's tune.run line ("tune.run: TrialExecutor: resources: ...").
      {"--resources '{\"CPU\": 2, \"cpu\": 3}'", "^tunelua: %-%-resources: CPU given twice %(as \"c?p?u?C?P?U?\" and \"[cC][pP][uU]\"%)\n"},
    }
    for _, c in ipairs(cases) do
      local code, out = run("-v 0 --local-dir " .. dir .. "/results " .. c[1] .. " " .. X .. "cli_ok.lua")
      assert.equal(2, code, out)
      assert.matches(c[2], out)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.is_nil(core.stat(dir .. "/results"), c[1] .. " wrote the experiment")
    end
  end)

  it("a resource flag wins over the file's options that give that resource either way", function()
    -- --num-cpus 1 lost to the file's resources = {CPU = 4}: the node had 4.
    local script = dir .. "/cpus.lua"
    assert(core.write_file(script, [[
local tune = require("tune")
local opts = {verbose = 1, local_dir = arg[1], resources = {CPU = 4, lic = 1}}
if arg[2] == "sim" then
  opts.backend, opts.sim = "sim", {curve = function(_, i) if i == 1 then return {x = 1} end end, num_cpus = 3}
end
if arg[2] == "num" then opts.resources, opts.num_cpus = nil, 5 end
tune.run(function() tune.report{x = 1} end, opts)
]]))
    local function cpus(flags, ...)
      local code, out = run(flags .. " " .. script .. " " .. dir .. "/results " .. table.concat({...}, " "))
      assert.equal(0, code, out)
      core.remove_tree(dir .. "/results")
      return out:match("Resources requested: %d+/(%d+) CPUs")
    end
    assert.equal("4", cpus(""))
    assert.equal("1", cpus("--num-cpus 1"))
    assert.equal("2", cpus("--resources '{\"cpu\": 2}'", "num"))
    assert.equal("5", cpus("", "num"))
    -- The sim table's num_cpus over the run's resources, the flag over both.
    assert.equal("3", cpus("", "sim"))
    assert.equal("2", cpus("--num-cpus 2", "sim"))
  end)

  it("-- ends the options: the next argument is the script", function()
    local code, out = run("-v 0 --local-dir " .. dir .. "/results -- " .. X .. "cli_ok.lua")
    assert.equal(0, code, out)
    code, out = run("-- --frobnicate")
    assert.equal(2, code)
    assert.matches("cannot open %-%-frobnicate", out)
  end)

  it("after Ctrl-C, names an unnamed experiment in the advice to resume it", function()
    -- Its dated name is made again for the next run: --resume alone found
    -- no experiment.
    local script = dir .. "/unnamed.lua"
    assert(core.write_file(script, string.format([[
local tune = require("tune")
local core = require("tune.core")
tune.run(function(config)
  tune.report{i = 1}
  os.execute("kill -INT " .. config.driver)
  for i = 2, 200 do tune.report{i = i}; core.sleep(0.05) end
end, {local_dir = %q, verbose = 0, config = {driver = core.getpid()}})
]], dir .. "/unnamed")))
    local code, out = run(script)
    assert.equal(130, code, out)
    local name = out:match("continue it with %-%-resume %-%-name (%S+) %(or resume = true, name = \"[^\"]+\"%)")
    assert.is_truthy(name, out)
    assert.truthy(core.stat(dir .. "/unnamed/" .. name .. "/experiment_journal.jsonl"))
  end)

  it("an unknown option is a usage error", function()
    local code, out = run("--frobnicate x.lua")
    assert.equal(2, code)
    assert.matches("unknown option %-%-frobnicate", out)
    -- A value after a space, where only --flag=value is read, was taken
    -- for the file, which the error named with no hint.
    code, out = run("--resume AUTO " .. X .. "cli_ok.lua")
    assert.equal(2, code)
    assert.equal("tunelua: cannot open AUTO: No such file or directory (--resume takes its value as --resume=AUTO)\n", out)
    code, out = run("--dashboard 8080 " .. X .. "cli_ok.lua")
    assert.equal(2, code)
    assert.equal("tunelua: cannot open 8080: No such file or directory (--dashboard takes its value as "
      .. "--dashboard=8080)\n", out)
    code, out = run("--resume missing.lua")
    assert.equal("tunelua: cannot open missing.lua: No such file or directory\n", out)
  end)

  it("runs a file with two experiments, flags winning over the file", function()
    local code, out = run("--local-dir " .. dir .. " --num-cpus 2 " .. X .. "cli_ok.lua", "V=1")
    assert.equal(0, code, out)
    assert.matches("best a = 3", out)
    assert.matches("best b = 5 score 100", out)
    assert.matches("== Status ==", out)
    -- Not a terminal: the compact table, no box drawing.
    assert.is_nil(out:find("│", 1, true))
    assert.truthy(core.stat(dir .. "/first"))
    assert.truthy(core.stat(dir .. "/second"))
  end)

  it("--replay simulates from a finished experiment: its results again, another scheduler, no trainable run", function()
    local code, rec = run("--local-dir " .. dir .. " " .. X .. "cli_replay.lua", "NAME=rec")
    assert.equal(0, code, rec)
    assert.matches("iterations 60", rec)
    -- FIFO on the recording: the same best result, and the trainable (which
    -- would fail) never runs.
    local out
    code, out = run("--local-dir " .. dir .. " --replay " .. dir .. "/rec " .. X .. "cli_replay.lua",
      "NAME=fifo FAIL_IF_RUN=1")
    assert.equal(0, code, out)
    assert.equal(rec, out)
    -- ASHA on the same curves: the same best trial, fewer iterations.
    code, out = run("--local-dir " .. dir .. " --replay " .. dir .. "/rec " .. X .. "cli_replay.lua",
      "NAME=asha SCHED=asha FAIL_IF_RUN=1")
    assert.equal(0, code, out)
    assert.equal(rec:match("best %S+"), out:match("best %S+"))
    assert.is_true(tonumber(out:match("iterations (%d+)")) < 60, out)
    -- Replaying is simulating.
    code, out = run("--backend local --replay " .. dir .. "/rec " .. X .. "cli_replay.lua")
    assert.equal(2, code, out)
    assert.matches("%-%-replay simulates: it cannot run on the local backend", out)
  end)

  it("--replay never writes into the recording it replays: refused, the recording unchanged", function()
    local code, rec = run("--local-dir " .. dir .. " " .. X .. "cli_replay.lua", "NAME=rec")
    assert.equal(0, code, rec)
    local function listing()
      local names = core.listdir(dir .. "/rec")
      table.sort(names)
      local out = {}
      for _, n in ipairs(names) do out[#out + 1] = n .. " " .. tostring(core.read_file(dir .. "/rec/" .. n)) end
      return out
    end
    local before = listing()
    -- The file's name resolves to the recording (docs/guide/choosing.md's
    -- command as a user types it), a local_dir holding it, one inside it.
    local cases = {
      {"--local-dir " .. dir .. " --replay " .. dir .. "/rec", "NAME=rec", " is the recording"},
      {"--local-dir " .. dir .. "/rec/.. --replay " .. dir .. "/rec/", "NAME=rec", " is the recording"},
      {"--local-dir " .. dir .. " --replay " .. dir, "NAME=rec", " lies inside the recording"},
      {"--local-dir " .. dir .. "/rec --replay " .. dir .. "/rec", "NAME=rec", " lies inside the recording"},
      {"--local-dir " .. dir .. " --name rec --replay " .. dir .. "/rec", "NAME=other", " is the recording"},
    }
    for _, c in ipairs(cases) do
      local out
      code, out = run(c[1] .. " " .. X .. "cli_replay.lua", c[2] .. " FAIL_IF_RUN=1")
      assert.equal(2, code, out)
      assert.truthy(out:find("cli_replay.lua:6: tune.run: --replay " .. dir, 1, true), out)
      assert.truthy(out:find(": the replay's experiment directory " .. dir, 1, true), out)
      assert.matches(c[3] .. " it replays, which is never modified: give the replay its own directory with "
        .. "--name (e.g. --name rec_replay) or --local-dir", out, 1, true)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.same(before, listing())
    end
    -- The recording's state file names it too; a file that is no state is
    -- refused as that (it was said to hold the replay's directory).
    local state
    for _, n in ipairs(core.listdir(dir .. "/rec")) do if n:match("^experiment_state.*%.json$") then state = n end end
    local out
    code, out = run("--local-dir " .. dir .. " --replay " .. dir .. "/rec/" .. state .. " " .. X .. "cli_replay.lua",
      "NAME=rec FAIL_IF_RUN=1")
    assert.equal(2, code, out)
    assert.truthy(out:find(" is the recording it replays", 1, true), out)
    assert(core.write_atomic(dir .. "/afile", "not a state"))
    code, out = run("--local-dir " .. dir .. "/x --replay " .. dir .. "/afile " .. X .. "cli_replay.lua",
      "NAME=rec FAIL_IF_RUN=1")
    assert.equal(2, code, out)
    assert.truthy(out:find("replay: " .. dir .. "/afile is not a tunelua experiment state", 1, true), out)
    assert.is_nil(core.stat(dir .. "/x"))
    assert.same(before, listing())
    -- Another name: the replay runs beside it.
    code, out = run("--local-dir " .. dir .. " --name rec_replay --replay " .. dir .. "/rec " .. X .. "cli_replay.lua",
      "NAME=rec FAIL_IF_RUN=1")
    assert.equal(0, code, out)
    assert.equal(rec, out)
    assert.same(before, listing())
  end)

  it("--num-cpus, --num-gpus and --resources win over the file's sim table; the simulated node has 1 CPU by default", function()
    local script = dir .. "/sim.lua"
    assert(core.write_file(script, [[
local tune = require("tune")
local most = 0
local count = tune.Callback:extend()
function count:on_trial_start(_, trials)
  local n = 0
  for _, t in ipairs(trials) do if t.status == "RUNNING" then n = n + 1 end end
  most = math.max(most, n)
end
tune.run("sim", {backend = "sim", num_samples = 12, verbose = 0, callbacks = {count()},
  resources_per_trial = {cpu = 1, gpu = tonumber(os.getenv("GPU"))},
  sim = {curve = function(_, it) if it <= 3 then return {loss = it} end end,
    num_cpus = tonumber(os.getenv("CPUS")), num_gpus = tonumber(os.getenv("GPUS"))}})
print("at once " .. most)
]]))
    local cases = {
      {"--num-cpus 2", "CPUS=8", 2},
      {"--resources '{\"CPU\": 3}'", "CPUS=8", 3},
      {"", "CPUS=8", 8},
      {"", "", 1},
      {"--num-gpus 4 --num-cpus 16", "GPU=1 GPUS=1", 4},
    }
    for _, c in ipairs(cases) do
      local code, out = run("--local-dir " .. dir .. " " .. c[1] .. " " .. script, c[2])
      assert.equal(0, code, out)
      assert.matches("at once " .. c[3] .. "\n", out, 1, true)
    end
  end)

  it("refuses flags the file's own trial_executor cannot take, before anything is written", function()
    local script = dir .. "/own.lua"
    assert(core.write_file(script, [[
local tune = require("tune")
tune.run("sim", {trial_executor = tune.SimulatedExecutor{curve = function(_, it) if it <= 2 then return {loss = it} end end},
  verbose = 0})
]]))
    for _, b in ipairs({"sim", "local"}) do
      local code, out = run("--local-dir " .. dir .. "/results --backend " .. b .. " " .. script)
      assert.equal(2, code, out)
      assert.matches("own.lua:2: tune.run: --backend " .. b .. " builds the executor, but this run gives its own "
        .. "trial_executor", out, 1, true)
      assert.is_nil(core.stat(dir .. "/results"))
    end
    local code, out = run("--local-dir " .. dir .. "/results " .. script)
    assert.equal(0, code, out)
  end)

  it("fail_fast = \"raise\" uncaught: exit 2, one line naming the trial and its error", function()
    local script = dir .. "/ff.lua"
    assert(core.write_file(script, [[
local tune = require("tune")
tune.run(function(config) error("boom " .. config.x) end, {config = {x = tune.grid_search({1, 2})},
  fail_fast = "raise", verbose = 0, max_concurrent_trials = 1})
print("not reached")
]]))
    local code, out = run("--local-dir " .. dir .. " " .. script)
    assert.equal(2, code, out)
    assert.matches('^tunelua: fail_fast = "raise": trial [%w_]+_00000 failed: [^\n]*ff%.lua:2: boom 1\n$', out)
  end)

  it("--dashboard and --dashboard-host win over the fields they give, not the file's others", function()
    local file = dir .. "/dash.lua"
    local function write(option)
      assert(core.write_atomic(file, string.format([[
local tune = require("tune")
tune.run(function() tune.report{loss = 1} end, {local_dir = %q, verbose = 0, dashboard = %s})
]], dir, option)))
    end
    -- The file's port (0: a free one) stays with the flag's host; it was
    -- dropped for the default 8265.
    write("0")
    local code, out = run("--dashboard-host 127.0.0.1 " .. file)
    assert.equal(0, code, out)
    local port = assert(tonumber(out:match("Dashboard: http://127%.0%.0%.1:(%d+)/")), out)
    assert.not_equal(8265, port)
    -- A wrong value in the file is refused with a flag too (it was ignored).
    write('"yes"')
    code, out = run("--dashboard-host 127.0.0.1 " .. file)
    assert.equal(2, code, out)
    assert.matches("tune.run: dashboard must be true, a port number or a table", out)
  end)

  it("--events - with a dashboard: stdout holds the events alone, the URL line goes to stderr", function()
    -- The URL line was printed among the JSON lines.
    local file = dir .. "/dash_events.lua"
    assert(core.write_atomic(file, string.format([[
local tune = require("tune")
tune.run(function() tune.report{loss = 1} end, {local_dir = %q, verbose = 0, dashboard = 0})
]], dir)))
    local p = io.popen(string.format("%s -v 0 --events - %s 2> %s/err", tunelua, file, dir))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(0, code, out)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      assert.is_table(core.json_decode(line), line)
      n = n + 1
    end
    assert.is_true(n > 0)
    assert.matches("Dashboard: http://127%.0%.0%.1:%d+/", core.read_file(dir .. "/err"))
  end)

  it("--name and --local-dir place the experiment; -v 0 is silent", function()
    local code, out = run("-v 0 --name renamed --local-dir " .. dir .. " " .. X .. "cli_ok.lua")
    assert.equal(0, code, out)
    assert.is_nil(out:find("== Status ==", 1, true))
    assert.truthy(core.stat(dir .. "/renamed"))
    assert.truthy(core.stat(dir .. "/renamed_2"))
  end)

  it("--resources adds custom resources trials can ask for", function()
    local code, out = run("-v 0 --local-dir " .. dir .. " " .. X .. "cli_ok.lua", "CUSTOM=1")
    assert.equal(1, code)
    assert.matches("can never run: asked for {1 CPU, 0 GPUs, 1 custom}", out)
    code, out = run("-v 0 --resources '{\"custom\": 1}' --local-dir " .. dir .. " " .. X .. "cli_ok.lua", "CUSTOM=1")
    assert.equal(0, code, out)
  end)

  it("exits 1 when a trial failed, naming it", function()
    local code, out = run("--local-dir " .. dir .. " " .. X .. "cli_fail.lua")
    assert.equal(1, code)
    assert.matches("Trials did not complete: bad_%x+_00000 %(ERROR: .*this trial fails%)", out)
    assert.is_nil(out:find("not reached", 1, true))
  end)

  it("exits 2 on a syntax error, with file:line", function()
    local code, out = run(X .. "cli_syntax.lua")
    assert.equal(2, code)
    assert.matches("cli_syntax%.lua:2:", out)
  end)

  it("exits 2 on a runtime error, with file:line and a traceback", function()
    local code, out = run(X .. "cli_runtime.lua")
    assert.equal(2, code)
    assert.matches("cli_runtime%.lua:2: boom at runtime", out)
    assert.matches("stack traceback", out)
    assert.matches("cli_runtime%.lua:3:", out)
    -- The script's frames only, not the command's own.
    assert.is_nil(out:find("cli/init.lua", 1, true), out)
    assert.is_nil(out:find("in function 'xpcall'", 1, true), out)
  end)

  it("--events=~/FILE writes to the home directory (no shell expands ~ after =)", function()
    local f = dir .. "/ev.lua"
    assert(core.write_atomic(f, string.format([[
local tune = require("tune")
tune.run(function() tune.report{loss = 1} end, {local_dir = %q, verbose = 0})
]], dir)))
    local code, out = run("--events=~/ev.jsonl " .. f, "HOME=" .. dir)
    assert.equal(0, code, out)
    assert.equal(5, #support.lines(dir .. "/ev.jsonl"))
  end)

  it("exits 2 on a table raised as the error, showing its contents", function()
    local f = dir .. "/table_error.lua"
    assert(core.write_atomic(f, "error({code = 1})\n"))
    local code, out = run(f)
    assert.equal(2, code)
    assert.matches("(error object is a table: {\"code\":1})", out, 1, true)
    assert.is_nil(out:find("table: 0x", 1, true), out)
  end)

  it("exits 2 when the file is missing", function()
    local code, out = run(dir .. "/nope.lua")
    assert.equal(2, code)
    assert.matches("nope%.lua", out)
  end)

  it("--events writes the event stream as JSON lines", function()
    local events = dir .. "/events.jsonl"
    local code, out = run("-v 0 --events " .. events .. " --local-dir " .. dir .. " " .. X .. "cli_ok.lua")
    assert.equal(0, code, out)
    local kinds = {}
    for _, line in ipairs(support.lines(events)) do
      local e = core.json_decode(line)
      assert.is_table(e, line)
      kinds[e.event] = (kinds[e.event] or 0) + 1
      if e.event == "trial_result" then
        assert.is_string(e.trial_id)
        assert.is_number(e.result.score)
      end
    end
    assert.equal(2, kinds.experiment_start)
    assert.equal(5, kinds.trial_start)
    assert.equal(7, kinds.trial_result)
    assert.equal(5, kinds.trial_complete)
    assert.equal(2, kinds.experiment_end)
    -- To stdout with "-".
    code, out = run("-v 0 --events - --local-dir " .. dir .. " " .. X .. "cli_ok.lua")
    assert.equal(0, code)
    assert.matches('"event":"trial_result"', out)
    -- A stream that cannot be written: one warning per experiment (the
    -- file runs two), and the runs go on.
    code, out = run("-v 0 --events /dev/full --local-dir " .. dir .. " " .. X .. "cli_ok.lua")
    assert.equal(0, code, out)
    local _, warned = out:gsub("tunelua warning: cannot write the event stream to /dev/full: No space left on device; "
      .. "no more events are written to it\n", "")
    assert.equal(2, warned, out)
  end)

  it("analyze prints an experiment's trials, best first, and CSV", function()
    assert.equal(0, (run("-v 0 --local-dir " .. dir .. " " .. X .. "cli_ok.lua")))
    local code, out = run("analyze " .. dir .. "/first")
    assert.equal(0, code, out)
    local a3 = out:find("first_%x+_00001")
    local a1 = out:find("first_%x+_00000")
    assert.truthy(a3 and a1 and a3 < a1, out)
    code, out = run("analyze " .. dir .. "/first --csv --top 1")
    assert.equal(0, code)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(2, #lines)
    assert.matches("score", lines[1])
    assert.matches(",3", lines[2])
    code, out = run("analyze " .. dir .. "/missing")
    assert.equal(2, code)
    assert.matches("tunelua analyze:", out)
    -- "--" ends the options, as for an experiment file: a directory whose
    -- name starts with "-" was an unknown option "--".
    assert(os.rename(dir .. "/first", dir .. "/-first"))
    code, out = run("analyze --csv -- -first", "-C " .. dir)
    assert.equal(0, code, out)
    assert.matches("^Trial name,", out)
    code, out = run("report -o " .. dir .. "/r.html -- -first", "-C " .. dir)
    assert.equal(0, code, out)
    assert.equal("Report: " .. dir .. "/r.html\n", out)
    code, out = run("analyze --help=all")
    assert.equal(2, code, out)
    assert.equal("tunelua analyze: --help takes no value\n", out)
    -- Rows that cannot be written (a full disk) are an error: it exited 0,
    -- the CSV lost.
    local p = io.popen(string.format("%s analyze --csv -- %s/-first 2>&1 >/dev/full", tunelua, dir))
    out = p:read("a")
    code = select(3, p:close())
    assert.equal(2, code, out)
    assert.equal("tunelua analyze: cannot write the output: No space left on device\n", out)
    code, out = run("report -- -first --", "-C " .. dir)
    assert.equal(2, code, out)
    assert.equal("tunelua report: one experiment directory at a time (got -first and --)\n", out)
  end)
  it("refuses a second tune.run of a script into the directory of an earlier one", function()
    local dir = support.tmpdir("cli-two-runs")
    local file = dir .. "/two.lua"
    assert(core.write_atomic(file, string.format([[
local tune = require("tune")
local function f(config) tune.report{loss = config.x} end
local function opts(space)
  return {config = {x = space}, metric = "loss", mode = "min", local_dir = %q, name = "two", verbose = 0}
end
local a = tune.run(f, opts(tune.grid_search({1, 2})))
tune.run(f, opts(tune.grid_search({a.best_config.x + 10})))
]], dir)))
    local code, out = run(file)
    assert.equal(2, code, out)
    assert.matches("two.lua:7: tune.run: this run's experiment directory .* is tune.run number 1's of this script", out)
    -- The first run's experiment is whole.
    assert.equal(2, #require("tune.analysis").ExperimentAnalysis(dir .. "/two").trials)
    -- Default names that meet: the later run gets <name>_<N>.
    assert(core.write_atomic(file, string.format([[
local tune = require("tune")
local function f(config) tune.report{loss = config.x} end
local a = tune.run(f, {config = {x = tune.grid_search({1, 2})}, local_dir = %q, verbose = 0, metric = "loss", mode = "min"})
local b = tune.run(f, {config = {x = tune.grid_search({a.best_config.x + 10})}, local_dir = %q, verbose = 0})
print("DIRS " .. a.experiment_dir .. " " .. b.experiment_dir)
]], dir, dir)))
    code, out = run(file, "TUNE_DISABLE_DATED_SUBDIR=1")
    assert.equal(0, code, out)
    assert.matches("DIRS " .. dir:gsub("%p", "%%%0") .. "/f " .. dir:gsub("%p", "%%%0") .. "/f_2\n", out)
    assert.equal(2, #require("tune.analysis").ExperimentAnalysis(dir .. "/f").trials)
    assert.equal(1, #require("tune.analysis").ExperimentAnalysis(dir .. "/f_2").trials)
  end)
end)
