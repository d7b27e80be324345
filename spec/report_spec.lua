-- tunelua report (without a browser: spec/browser_spec.lua opens it),
-- tunelua analyze over several experiments, tune.command's PATH lookup.
local core = require("tune.core")
local support = require("spec.support")
local command = require("tune.worker.command")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"

local run = support.sh

local function experiment(dir, name)
  local ok, out = run(string.format("REPORT_NAME=%s TUNE_RESULT_DIR=%s %s spec/fixtures/report_exp.lua",
    name, dir, tunelua))
  assert(ok or out:find("Trials did not complete"), out)
  return dir .. "/" .. name
end

describe("tunelua report", function()
  it("writes one self-contained page: Chart.js inlined, no network reference", function()
    local dir = support.tmpdir("report")
    local exp = experiment(dir, "r")
    local ok, out = run(string.format("%s report %s -o %s/page.html", tunelua, exp, dir))
    assert.is_true(ok, out)
    local html = assert(core.read_file(dir .. "/page.html"))
    assert.is_truthy(html:find("Chart.js v", 1, true), "Chart.js is not inlined")
    assert.is_nil(html:find("<script[^>]*src="), "the page loads a script from elsewhere")
    assert.is_nil(html:find("<link[^>]*href=", 1), "the page loads a stylesheet from elsewhere")
    local data = html:match('<script id="tune%-data" type="application/json">(.-)</script>')
    local decoded = core.json_decode(data)
    assert.equal(6, #decoded.state.trials)
    local n = 0
    for _ in pairs(decoded.rows) do n = n + 1 end
    assert.equal(6, n)
    -- Given a state file, the page goes beside it by default.
    local state = assert(require("tune.experiment.persistence").find_state(exp))
    ok, out = run(string.format("%s report %s", tunelua, state))
    assert.is_true(ok, out)
    assert.truthy(core.stat(exp .. "/report.html"))
    -- A page that cannot be written names its path once.
    ok, out = run(string.format("%s report %s -o %s/no/such/page.html", tunelua, exp, dir))
    assert.is_false(ok)
    local path, n, at = dir .. "/no/such/page.html", 0, 1
    while true do
      local i = out:find(path, at, true)
      if not i then break end
      n, at = n + 1, i + #path
    end
    assert.equal(1, n, out)
    -- An empty name (--output=) was "cannot write : No such file or directory".
    for _, flag in ipairs({"--output=", "-o ''", "--output"}) do
      ok, out = run(string.format("%s report %s %s", tunelua, exp, flag))
      assert.is_false(ok)
      assert.matches("^tunelua report: %-[%-%w]+ needs a file name\n$", out)
    end
  end)

  it("expands ~/ in its paths, as the analysis does (a shell leaves --output=~/... alone)", function()
    local dir = support.tmpdir("report-home")
    local exp = experiment(dir, "r")
    -- It read the experiment from ~/r, then could not write ~/r/report.html.
    local ok, out = run(string.format("HOME=%s %s report '~/r'", dir, tunelua))
    assert.is_true(ok, out)
    assert.truthy(core.stat(exp .. "/report.html"))
    ok, out = run(string.format("HOME=%s %s report %s --output=~/page.html", dir, tunelua, exp))
    assert.is_true(ok, out)
    assert.truthy(core.stat(dir .. "/page.html"))
    -- "~name" is not the home followed by "name".
    assert.equal("~r/x", require("tune.util").expanduser("~r/x"))
    assert.equal(os.getenv("HOME") .. "/x", require("tune.util").expanduser("~/x"))
  end)

  it("keeps the curves of each experiment of a directory apart, a copy's trial ids too", function()
    local dir = support.tmpdir("report-copy")
    local exp = experiment(dir, "r")
    support.must(string.format("cp -r %s %s/r_copy", exp, dir))
    -- The copy's result files keep their first line only.
    for _, d in ipairs(core.listdir(dir .. "/r_copy")) do
      local f = dir .. "/r_copy/" .. d .. "/result.json"
      local lines = core.stat(f) and support.lines(f) or {}
      if #lines > 1 then assert(core.write_atomic(f, lines[1] .. "\n")) end
    end
    local ok, out = run(string.format("%s report %s", tunelua, dir))
    assert.is_true(ok, out)
    local html = assert(core.read_file(dir .. "/report.html"))
    local data = core.json_decode(html:match('<script id="tune%-data" type="application/json">(.-)</script>'))
    assert.equal(12, #data.state.trials)
    local ids = {}
    for _, t in ipairs(data.state.trials) do
      assert.is_nil(ids[t.id], "two trials share the rows of " .. t.id)
      ids[t.id] = true
    end
    -- Each trial's rows are its own result file's (the copy's were the
    -- original's, or the other way round).
    local copies = 0
    for _, t in ipairs(data.state.trials) do
      local rows = data.rows[t.id]
      if #rows > 0 and t.id:find("#", 1, true) then copies = copies + 1 end
      local first = rows[1]
      local exp_dir = t.id:find("#", 1, true) and dir .. "/r_copy" or exp
      local f = exp_dir .. "/" .. t.dir .. "/result.json"
      local n = core.stat(f) and #support.lines(f) or 0
      assert.equal(n, #rows, t.id)
      if first then assert.equal(1, first.training_iteration) end
    end
    assert.is_true(copies > 0)
  end)

  it("refuses a directory that holds no experiment, writing nothing", function()
    local dir = support.tmpdir("report-none")
    local ok, out, code = run(string.format("%s report %s", tunelua, dir))
    assert.is_false(ok)
    assert.equal(2, code)
    assert.matches("tunelua report: .*does not contain a tunelua experiment state", out)
    assert.same({}, core.listdir(dir))
  end)

  it("writes through a symbolic link and into a fifo, as a shell's > does", function()
    local dir = support.tmpdir("report-link")
    local exp = experiment(dir, "r")
    -- A link to a page elsewhere: the page was written in the link's place.
    assert(core.write_atomic(dir .. "/target.html", "old"))
    support.must(string.format("ln -s target.html %s/link.html", dir))
    local ok, out = run(string.format("%s report %s -o %s/link.html", tunelua, exp, dir))
    assert.is_true(ok, out)
    assert.equal(dir .. "/target.html", core.realpath(dir .. "/link.html"))
    assert.matches("^<!DOCTYPE html>", core.read_file(dir .. "/target.html"))
    -- A link to a directory is refused as the directory is.
    support.must(string.format("mkdir %s/d && ln -s d %s/dlink", dir, dir))
    ok, out = run(string.format("%s report %s -o %s/dlink", tunelua, exp, dir))
    assert.is_false(ok)
    assert.equal(string.format("tunelua report: cannot write %s/dlink: Is a directory\n", dir), out)
    assert.equal(dir .. "/d", core.realpath(dir .. "/dlink"))
    -- A fifo (as -o /dev/stdout is a device): it was replaced by a file,
    -- and its reader waited forever. The path is said on stderr then.
    support.must(string.format("mkfifo %s/fifo", dir))
    ok, out = run(string.format("timeout 20 cat %s/fifo > %s/read.html & %s report %s -o %s/fifo 2>%s/err; wait",
      dir, dir, tunelua, exp, dir, dir))
    assert.is_true(ok, out)
    assert.equal("other", core.stat(dir .. "/fifo"))
    assert.matches("</html>\n$", core.read_file(dir .. "/read.html"))
    assert.equal("Report: " .. dir .. "/fifo\n", core.read_file(dir .. "/err"))
  end)
end)

describe("tunelua analyze over several experiments", function()
  it("skips a corrupt one with a warning and labels each trial with its experiment", function()
    local dir = support.tmpdir("multi")
    experiment(dir, "alpha")
    local bad = experiment(dir, "beta")
    experiment(dir, "gamma")
    for _, name in ipairs(core.listdir(bad)) do
      if name:match("^experiment_state") then assert(core.write_atomic(bad .. "/" .. name, "{not json")) end
    end
    local ok, out = run(string.format("%s analyze %s", tunelua, dir))
    assert.is_true(ok, out)
    assert.matches("WARNING: skipping an experiment: .*beta.*corrupt", out)
    assert.matches("2 experiments in .* %(alpha, gamma%): 12 trials", out)
    assert.matches("| experiment | Trial name", out, 1, true)
    local alpha, gamma = 0, 0
    for line in out:gmatch("[^\n]+") do
      if line:match("^| alpha ") then alpha = alpha + 1 end
      if line:match("^| gamma ") then gamma = gamma + 1 end
    end
    assert.equal(6, alpha)
    assert.equal(6, gamma)
    -- A copy of an experiment is labelled by its directory: both were
    -- "alpha" (the name in their states).
    support.must(string.format("cp -r %s/alpha %s/alpha_copy", dir, dir))
    ok, out = run(string.format("%s analyze %s", tunelua, dir))
    assert.is_true(ok, out)
    assert.matches("3 experiments in .* %(alpha, alpha_copy, gamma%): 18 trials", out)
    local copy = 0
    for line in out:gmatch("[^\n]+") do
      if line:match("^| alpha_copy ") then copy = copy + 1 end
    end
    assert.equal(6, copy)
  end)

  it("still fails on the one experiment asked for when it is corrupt", function()
    local dir = support.tmpdir("one-bad")
    local exp = experiment(dir, "solo")
    for _, name in ipairs(core.listdir(exp)) do
      if name:match("^experiment_state") then assert(core.write_atomic(exp .. "/" .. name, "[]")) end
    end
    local ok, out = run(string.format("%s analyze %s", tunelua, exp))
    assert.is_false(ok)
    assert.matches("not a tunelua experiment state", out)
  end)
end)

describe("tune.command's program lookup", function()
  local dir
  setup(function()
    dir = support.tmpdir("path")
    assert(core.mkdir_p(dir .. "/bin1"))
    assert(core.mkdir_p(dir .. "/bin2"))
    for _, p in ipairs{dir .. "/bin1/tool", dir .. "/bin2/tool", dir .. "/bin1/plain"} do
      local f = assert(io.open(p, "w"))
      f:write("#!/bin/sh\necho '{\"x\": 1}'\n")
      f:close()
    end
    os.execute(string.format("env -u LD_PRELOAD chmod +x %s/bin1/tool %s/bin2/tool", dir, dir))
  end)

  it("takes the first directory of PATH holding an executable file", function()
    assert.equal(dir .. "/bin1/tool", command.find_program("tool", dir .. "/bin1:" .. dir .. "/bin2"))
    assert.equal(dir .. "/bin2/tool", command.find_program("tool", dir .. "/nothing:" .. dir .. "/bin2"))
    assert.equal(dir .. "/bin2/tool", command.find_program("tool", dir .. "/bin2:" .. dir .. "/bin1"))
  end)

  it("uses the PATH of the command's env when it sets one", function()
    local c = require("tune").command{"tool", env = {PATH = dir .. "/bin2"}}
    assert.equal(dir .. "/bin2/tool", c.argv[1])
  end)

  it("says permission denied for a file that is not executable, not found otherwise", function()
    local p, err = command.find_program("plain", dir .. "/bin1")
    assert.is_nil(p)
    assert.matches("plain: permission denied", err)
    p, err = command.find_program("absent", dir .. "/bin1:/nonexistent")
    assert.is_nil(p)
    assert.matches('program "absent" not found on PATH', err)
    assert.has_error(function() require("tune").command{"absent-tool-xyz"} end)
  end)
end)
