-- Installing tunelua as a user would (issue: "install like a real
-- package"): cmake --install into a temporary prefix, then, from another
-- directory with a clean environment, the installed tunelua, a stock
-- lua5.4 and the C embedding example (examples/embed/, built with
-- pkg-config); luarocks make into a temporary tree; BUILD_TESTING=OFF.
local support = require("spec.support")

local build = assert(os.getenv("TUNE_TEST_BUILD_DIR"), "TUNE_TEST_BUILD_DIR is not set")
local src = io.popen("pwd"):read("l")

-- Tools run without the sanitizer runtime the sanitized suite preloads.
local CLEAN = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS "

local function wrap(cmd) return CLEAN .. "sh -c '" .. cmd:gsub("'", "'\\''") .. "'" end
local function sh(cmd) return support.sh(wrap(cmd)) end
local function must(cmd) return support.must(wrap(cmd)) end

-- A clean environment: no LUA_PATH, no TUNELUA_BIN, nothing of the build.
local function clean_env(extra)
  return "env -i PATH=/usr/bin:/bin HOME=/tmp " .. (extra or "")
end

local function files_under(dir)
  local out = must("find " .. dir .. " -type f")
  local t = {}
  for line in out:gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

local function contains(path, needle)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data:find(needle, 1, true) ~= nil
end

local sanitized = os.getenv("LD_PRELOAD") ~= nil

describe("install", function()
  local tmp, prefix, work

  setup(function()
    tmp = support.tmpdir("install")
    prefix = tmp .. "/prefix"
    work = tmp .. "/elsewhere"
    must("mkdir -p " .. work)
    must(string.format("cmake --install %s --prefix %s", build, prefix))
    must(string.format("cp examples/quickstart.lua examples/embed/experiment.lua %s/", work))
  end)

  it("puts each part where Lua 5.4 and pkg-config look, naming no source or build tree", function()
    for _, f in ipairs{"bin/tunelua", "share/lua/5.4/tune/init.lua", "lib/lua/5.4/tune/core.so",
                       "include/tunelua/tunelua.h", "include/tunelua/executor.h",
                       "lib/libtunelua.a", "lib/libtunelua_engine.a", "lib/pkgconfig/tunelua.pc"} do
      assert.is_true(support.exists(prefix .. "/" .. f), f .. " is not installed")
    end
    -- (Not in the sanitizer build: AddressSanitizer's descriptors of
    -- globals carry the source file's full name, whatever the prefix maps.)
    if sanitized then return end
    for _, f in ipairs(files_under(prefix)) do
      assert.is_false(contains(f, src), f .. " names the source tree " .. src)
      assert.is_false(contains(f, build), f .. " names the build tree " .. build)
    end
  end)

  it("installs headers that each compile on their own with pkg-config's flags", function()
    local headers = {}
    for _, f in ipairs(files_under(prefix .. "/include/tunelua")) do headers[#headers + 1] = f:match("[^/]+$") end
    assert.is_true(#headers >= 2)
    for _, h in ipairs(headers) do
      local c = string.format("%s/inc_%s.c", tmp, h:gsub("%.", "_"))
      local f = assert(io.open(c, "w"))
      f:write(string.format("#include <%s>\nint main(void) { return 0; }\n", h))
      f:close()
      must(string.format("cc -Wall -Werror -c %s -o %s.o $(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags tunelua)",
        c, c, prefix))
    end
  end)

  it("runs the installed tunelua from another directory with no environment", function()
    if sanitized then pending("the sanitizer build needs its preloaded runtime") return end
    local out = must(string.format("cd %s && %s %s/bin/tunelua quickstart.lua",
      work, clean_env("TUNE_RESULT_DIR=" .. tmp .. "/r1"), prefix))
    assert.matches("Best config: lr=", out)
  end)

  it("is found by a stock lua5.4 with the LUA_PATH and LUA_CPATH the docs give", function()
    if sanitized then pending("the sanitizer build needs its preloaded runtime") return end
    local env = clean_env(string.format("LUA_PATH='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua;;' "
      .. "LUA_CPATH='%s/lib/lua/5.4/?.so;;' TUNE_RESULT_DIR=%s/r2", prefix, prefix, prefix, tmp))
    must(string.format("cd %s && %s lua5.4 -e 'require \"tune\"'", work, env))
    assert.matches("trials=3 best_x=3", must(string.format("cd %s && %s lua5.4 experiment.lua", work, env)))
  end)

  it("installs to /usr/local where a stock lua5.4 looks by default", function()
    local stage = tmp .. "/stage"
    must(string.format("DESTDIR=%s cmake --install %s --prefix /usr/local", stage, build))
    local paths = must("lua5.4 -e 'print(package.path) print(package.cpath)'")
    local function found(template_list, mod_file)
      for template in template_list:gmatch("[^;\n]+") do
        local p = template:gsub("%?", mod_file)
        if p:sub(1, 1) == "/" and support.exists(stage .. p) then return true end
      end
      return false
    end
    assert.is_true(found(paths, "tune/init"), "tune/init.lua is not on lua5.4's default package.path")
    assert.is_true(found(paths, "tune/core"), "tune/core.so is not on lua5.4's default package.cpath")
  end)

  it("links the C embedding example with pkg-config and runs it", function()
    if sanitized then pending("the sanitizer build needs its preloaded runtime") return end
    must(string.format("cp -r examples/embed %s/embed && make -s -C %s/embed PKG_CONFIG_PATH=%s/lib/pkgconfig",
      tmp, tmp, prefix))
    local out = must(string.format("cd %s && %s %s/embed/host experiment.lua", work,
      clean_env("TUNE_RESULT_DIR=" .. tmp .. "/r3"), tmp))
    assert.matches("trials=3 best_x=3", out)
    -- A run whose trials failed raises a TuneError (a table): the host
    -- prints its message, not "(null)".
    local function script(name, source)
      local f = assert(io.open(work .. "/" .. name, "w"))
      f:write(source)
      f:close()
    end
    script("failing.lua", 'local tune = require("tune")\ntune.run(function() error("bad trial") end, {verbose = 0})\n')
    local ok, failed = sh(string.format("cd %s && %s %s/embed/host failing.lua", work,
      clean_env("TUNE_RESULT_DIR=" .. tmp .. "/r3"), tmp))
    assert.is_false(ok, failed)
    assert.matches("host: Trials did not complete: %S+ %(ERROR: [^)]*failing.lua:2: bad trial%)", failed)
    -- A host that reloads the library (package.loaded cleared) finds the
    -- linked-in tune.core again.
    script("reload.lua", [[
local tune = require("tune")
for k in pairs(package.loaded) do
  if k == "tune" or k:match("^tune%.") then package.loaded[k] = nil end
end
print("reloaded", require("tune") ~= tune, package.loaded["tune.core"] ~= nil)
]])
    assert.matches("reloaded\ttrue\ttrue", must(string.format("cd %s && %s %s/embed/host reload.lua", work,
      clean_env(""), tmp)))
  end)

  it("configures with -DBUILD_TESTING=OFF without busted", function()
    local dir = tmp .. "/notest"
    must(string.format("cmake -S . -B %s -DBUILD_TESTING=OFF -DBUSTED=BUSTED-NOTFOUND -DLUA54=LUA54-NOTFOUND", dir))
    assert.is_false(contains(dir .. "/Makefile", "spec/"), "the spec directory was configured")
  end)

  it("builds and installs with luarocks make into a tree the module loads from", function()
    if sanitized then pending("luarocks builds its own, unsanitized copy") return end
    local ok = sh("command -v luarocks")
    if not ok then error("luarocks is not installed (.ci/deps installs it)") end
    local copy, tree = tmp .. "/rocksrc", tmp .. "/rocks"
    must(string.format("mkdir -p %s && cp -r CMakeLists.txt tunelua.pc.in tunelua-*.rockspec engine bindings lua %s/",
      copy, copy))
    must(string.format("cd %s && luarocks --lua-version 5.4 make --tree=%s tunelua-*.rockspec", copy, tree))
    local paths = must(string.format("luarocks --lua-version 5.4 path --tree=%s", tree))
    local lp = paths:match("LUA_PATH='([^']*)'")
    local lcp = paths:match("LUA_CPATH='([^']*)'")
    assert.is_truthy(lp and lcp, paths)
    local out = must(string.format("cd %s && %s lua5.4 experiment.lua", work,
      clean_env(string.format("LUA_PATH='%s' LUA_CPATH='%s' TUNE_RESULT_DIR=%s/r4", lp, lcp, tmp))))
    assert.matches("trials=3 best_x=3", out)
  end)
end)
