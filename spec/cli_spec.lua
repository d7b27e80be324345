-- The tunelua command line: options, subcommands, exit codes
-- (0 ok, 1 failed trials, 2 usage or script error), the event stream.
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
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
  end)

  it("refuses, with one line and before anything is written, flags a run cannot use", function()
    local cases = {
      {"--events " .. dir .. "/no/such/dir/events.jsonl", "tune.run: %-%-events: the event stream cannot be written: "},
      {"--num-cpus 1e20", "resource 'CPU' must be at most 1e14"},
      {"--num-gpus 99999999", "a node has at most 4096 GPUs"},
      {"--resources '{\"x\": 1e30}'", "resource 'x' must be at most 1e14"},
      {"--events=", "%-%-events: expected a file %(or %- for stdout%), got an empty name"},
    }
    for _, c in ipairs(cases) do
      local code, out = run("-v 0 --local-dir " .. dir .. "/results " .. c[1] .. " " .. X .. "cli_ok.lua")
      assert.equal(2, code, out)
      assert.matches(c[2], out)
      assert.is_nil(out:find("stack traceback", 1, true), out)
      assert.is_nil(core.stat(dir .. "/results"), c[1] .. " wrote the experiment")
    end
  end)

  it("-- ends the options: the next argument is the script", function()
    local code, out = run("-v 0 --local-dir " .. dir .. "/results -- " .. X .. "cli_ok.lua")
    assert.equal(0, code, out)
    code, out = run("-- --frobnicate")
    assert.equal(2, code)
    assert.matches("cannot open %-%-frobnicate", out)
  end)

  it("an unknown option is a usage error", function()
    local code, out = run("--frobnicate x.lua")
    assert.equal(2, code)
    assert.matches("unknown option %-%-frobnicate", out)
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
  end)
end)
