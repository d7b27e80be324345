-- tunelua embedded in a stock lua5.4 host (`require "tune"`): what a host
-- does around its tune.run calls.
local core = require("tune.core")
local support = require("spec.support")

--- Runs `source` (a format string, given the directory as %q) as
--- host.lua in a new directory `name` under lua5.4 (the spec's LUA_PATH
--- and LUA_CPATH find the library; `prepare(dir)` first, when given); its
--- exit status and output.
local function host(name, source, stdin, prepare)
  local dir = support.tmpdir(name)
  if prepare then prepare(dir) end
  assert(core.write_atomic(dir .. "/host.lua", string.format(source, dir)))
  -- stdin: the chunk is read from stdin, as no file.
  local p = io.popen(string.format("cd %q && lua5.4 %s 2>&1", dir, stdin and "- < host.lua" or "host.lua"))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

describe("embedding", function()
  after_each(support.check_clean)

  it("counts tune.run calls across a reload of the modules (package.loaded cleared)", function()
    local code, out = host("embed-reload", [[
local tune = require("tune")
local function opts(name)
  return {name = name, metric = "s", mode = "max", verbose = 0, local_dir = %q,
    config = {x = tune.grid_search({1, 2})}}
end
local a = tune.run(function(c) tune.report{s = c.x} end, opts("a"))
for k in pairs(package.loaded) do
  if k == "tune" or k:match("^tune%%.") then package.loaded[k] = nil end
end
local tune2 = require("tune")
local b = tune2.run(function(c) tune2.report{s = c.x * 10} end, opts("b"))
local c = tune.run(function(c) tune.report{s = c.x * 100} end, opts("c"))
print(string.format("RESULT %%d %%d %%d", a.best_result.s, b.best_result.s, c.best_result.s))
]])
    assert.equal(0, code, out)
    assert.matches("RESULT 2 20 200\n", out)
  end)

  it("says, for a file the workers cannot find, that a host sets arg[0] to it", function()
    local code, out = host("embed-no-arg", [[
arg = nil
local tune = require("tune")
tune.run(function(c) tune.report{s = c.x} end, {verbose = 0, local_dir = %q, config = {x = 1}})
]])
    assert.equal(1, code, out)
    assert.matches("host.lua:3: tune.run: the worker cannot find this trainable: .*"
      .. "or a C host that sets arg%[0%] to the file, as lua5.4 does%)", out)
  end)

  it("refuses at tune.run a name registered by code run from no file, which no worker could find", function()
    -- Each trial failed with "the start request names no trainable".
    local code, out = host("embed-no-file", [[
local tune = require("tune")
tune.register_trainable("nowhere", function(c) tune.report{s = 1} end)
tune.run("nowhere", {verbose = 0, local_dir = %q})
]], true)
    assert.equal(1, code, out)
    assert.matches('stdin:3: tune.run: the worker cannot find trainable "nowhere": it was registered by code run from no '
      .. "file (lua5.4 -e, stdin, a C host's string); register it in a module or in the experiment file", out, 1, true)
  end)

  it("finds the file and runs it from where it started when it changed directory before tune.run", function()
    -- The worker looked for sub/host.lua ("the worker cannot load the
    -- experiment file") and started in sub/, where the chdir failed.
    local code, out = host("embed-chdir", [[
local tune = require("tune")
local dir = %q
assert(tune.core.chdir("sub"))
tune.register_trainable("reg", function(c) tune.report{s = 2} end)
local opts = {verbose = 0, local_dir = dir, raise_on_failed_trial = false}
for _, t in ipairs({function(c) tune.report{s = 1} end, "reg"}) do
  local trial = tune.run(t, opts).trials[1]
  print("RESULT " .. trial.status .. " " .. tostring(trial.error_msg))
end
]], nil, function(dir) assert(core.mkdir_p(dir .. "/sub")) end)
    assert.equal(0, code, out)
    local _, n = out:gsub("RESULT TERMINATED nil\n", "")
    assert.equal(2, n, out)
  end)

  it("runs a function of a script whose name has no .lua (lua5.4 train, ./train with a #! line)", function()
    -- Refused: "the worker cannot find this trainable: ... run the
    -- experiment from its file (... `lua5.4 file.lua` ...)", as it was.
    local dir = support.tmpdir("embed-noext")
    assert(core.write_atomic(dir .. "/train", string.format([[
local tune = require("tune")
local a = tune.run(function(c) tune.report{s = 1} end, {verbose = 0, local_dir = %q})
print("RESULT " .. a.trials[1].status)
]], dir)))
    local p = io.popen(string.format("cd %q && lua5.4 train 2>&1", dir))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(0, code, out)
    assert.matches("RESULT TERMINATED\n", out)
  end)

  it("gives the workers the file's arguments as it started, not what the file took out of arg", function()
    -- The worker got arg without the argument the file had removed: its
    -- file took the next one (none) and the trainable failed on a nil.
    local dir = support.tmpdir("embed-args")
    assert(core.write_atomic(dir .. "/exp.lua", string.format([[
local tune = require("tune")
local scale = tonumber(table.remove(arg, 1))
tune.register_trainable("reg", function(c) tune.report{s = scale * 3} end)
local opts = {verbose = 0, local_dir = %q, raise_on_failed_trial = false}
for _, t in ipairs({function(c) tune.report{s = scale * 2} end, "reg"}) do
  local trial = tune.run(t, opts).trials[1]
  print("RESULT " .. trial.status .. " " .. tostring(trial.last_result.s))
end
]], dir)))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    for _, runner in ipairs({"lua5.4", bin}) do
      local p = io.popen(string.format("cd %q && %s exp.lua 5 2>&1", dir, runner))
      local out = p:read("a")
      p:close()
      assert.matches("RESULT TERMINATED 10\nRESULT TERMINATED 15\n", out)
    end
  end)

  it("refuses a function's tune.run made inside another run (its callback), which no worker re-running the file reaches", function()
    -- Each of the inner run's trials failed with "host.lua did not reach
    -- its tune.run call #2 when run again in the worker".
    local code, out = host("embed-nested", [[
local tune = require("tune")
local dir, inner = %q, nil
local outer = tune.run(function(c) tune.report{s = 1} end, {verbose = 0, local_dir = dir, name = "outer",
  callbacks = {{on_trial_start = function()
    if inner == nil then
      inner = select(2, pcall(tune.run, function(c) tune.report{s = 2} end, {verbose = 0, local_dir = dir, name = "in"}))
    end
  end}}})
print("OUTER " .. outer.trials[1].status)
print("INNER " .. tostring(inner))
]])
    assert.equal(0, code, out)
    assert.matches("OUTER TERMINATED\n", out)
    assert.matches("INNER tune.run: the worker cannot find this trainable: this call runs inside tune.run call #1 (from "
      .. "one of its callbacks, stoppers or other plug-ins), where a worker that runs the file again never comes; "
      .. "register it with tune.register_trainable(name, fn), or call tune.run after call #1 returns\n", out, 1, true)
  end)

  it("runs a function's tune.run after a run left suspended in a coroutine (not inside it)", function()
    -- A callback yielded and the host never resumed that run: the next
    -- run is not made from its callback and its workers reach it.
    local code, out = host("embed-suspended", [[
local tune = require("tune")
local dir = %q
tune.register_trainable("slow", function(c) for i = 1, 50 do tune.sleep(0.05) tune.report{s = i} end end)
local co = coroutine.wrap(function()
  tune.run("slow", {verbose = 0, local_dir = dir, name = "first", callbacks = {{
    on_trial_result = function(_, _, _, _, result) coroutine.yield(result.s) end}}})
end)
print("FIRST", co())
local b = tune.run(function(c) tune.report{s = 2} end, {verbose = 0, local_dir = dir, name = "second"})
print("SECOND " .. b.trials[1].status)
]])
    assert.equal(0, code, out)
    assert.matches("FIRST\t1\n", out)
    assert.matches("SECOND TERMINATED\n", out)
  end)

  --- Runs, with `runner` (lua5.4 or the tunelua binary), a host whose
  --- "slow" run starts a run of `inner` from its first result's callback;
  --- SIGINT once the marker file `mark` is there. Its exit status and
  --- output, and the directory.
  local function nested_sigint(name, runner, inner, mark)
    local dir = support.tmpdir(name)
    assert(core.write_atomic(dir .. "/host.lua", string.format([[
local tune = require("tune")
local dir, inner = %q, %q
tune.register_trainable("quick", function(c) tune.report{s = 1} end)
tune.register_trainable("slow", function(c)
  for i = 1, 300 do require("tune.core").sleep(0.1) tune.report{s = i} end
end)
local started = false
local mark = {name = "mark", on_trial_result = function() io.open(dir .. "/inner-started", "w"):close() end}
local ok, a = pcall(tune.run, "slow", {verbose = 0, local_dir = dir, name = "outer", callbacks = {{
  on_trial_result = function()
    if not started then
      started = true
      tune.run(inner, {verbose = 0, local_dir = dir, name = "inner", callbacks = {mark}})
      io.open(dir .. "/inner-done", "w"):close()
    end
  end}}})
print("OUTER", ok, ok and a.interrupted or a)
]], dir, inner)))
    local p = io.popen(string.format("cd %q && (%s host.lua & p=$!; i=0; while [ ! -e %s ] && [ $i -lt 400 ]; "
      .. "do sleep 0.05; i=$((i+1)); done; kill -INT $p; wait $p) 2>&1", dir, runner, mark))
    local out = p:read("a")
    local _, _, code = p:close()
    return code, out, dir
  end

  it("saves on Ctrl-C after a tune.run made from its callback returned (the handlers are the outer run's again)", function()
    -- The inner run's end restored the interpreter's SIGINT handler: the
    -- outer run died with lua5.4's "interrupted!", not saved.
    local code, out, dir = nested_sigint("embed-nested-sigint", "lua5.4", "quick", "inner-done")
    assert.equal(0, code, out)
    assert.matches("SIGINT received: the experiment was saved in " .. dir:gsub("%p", "%%%0") .. "/outer", out)
    assert.matches("OUTER\ttrue\ttrue\n", out)
  end)

  it("stops and saves both runs on Ctrl-C during a tune.run made from a callback, also under the CLI", function()
    -- The tunelua CLI exited 130 at the inner run's end, the outer run
    -- not saved.
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    for _, runner in ipairs({"lua5.4", bin}) do
      local code, out, dir = nested_sigint("embed-nested-sigint2", runner, "slow", "inner-started")
      local d = dir:gsub("%p", "%%%0")
      assert.equal(runner == bin and 130 or 0, code, out)
      assert.matches("SIGINT received: the experiment was saved in " .. d .. "/inner;.*saved in " .. d .. "/outer;", out)
    end
  end)

  it("runs with stdout or stderr closed (tunelua exp.lua >&-), under lua5.4 and the CLI", function()
    -- libuv aborted ("uv__close: Assertion `fd > STDERR_FILENO' failed")
    -- on a descriptor that took the free number 1.
    local dir = support.tmpdir("embed-closed-std")
    assert(core.write_atomic(dir .. "/host.lua", string.format([[
local tune = require("tune")
local a = tune.run(function(c) print("out") tune.report{s = c.x} end, {verbose = 3, local_dir = %q,
  config = {x = tune.grid_search({1, 2})}})
local f = assert(io.open(arg[1], "w"))
for _, t in ipairs(a.trials) do f:write(t.status, " ", t.last_result.s, "\n") end
f:close()
]], dir)))
    local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
    for i, cmd in ipairs({"lua5.4 host.lua out1 >&-", "lua5.4 host.lua out2 2>&-", bin .. " host.lua out3 >&- 2>&-"}) do
      local p = io.popen(string.format("cd %q && (%s; echo rc=$?) 2>&1", dir, cmd))
      local out = p:read("a")
      p:close()
      assert.matches("rc=0\n", out, 1, true)
      assert.equal("TERMINATED 1\nTERMINATED 2\n", core.read_file(dir .. "/out" .. i), cmd)
    end
  end)
end)
