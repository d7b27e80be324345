-- tunelua embedded in a stock lua5.4 host (`require "tune"`): what a host
-- does around its tune.run calls.
local core = require("tune.core")
local support = require("spec.support")

--- Runs `source` (a format string, given the directory as %q) as
--- host.lua in a new directory `name` under lua5.4 (the spec's LUA_PATH
--- and LUA_CPATH find the library); its exit status and output.
local function host(name, source, stdin)
  local dir = support.tmpdir(name)
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
end)
