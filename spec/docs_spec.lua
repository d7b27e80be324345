-- Every Lua example in docs/ and the README: each block compiles (as a
-- chunk, or as table fields for an option snippet), and each complete
-- experiment (it requires "tune" and calls tune.run) runs with tunelua and
-- exits 0, in a directory holding the files that earlier blocks of the
-- same page name in their first line ("-- mylib/walkers.lua"). A block
-- after a line "<!-- not run: why -->" is only compiled.
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"

local function markdown_files()
  local files = {"README.md"}
  local function walk(dir)
    local names = core.listdir(dir) or {}
    table.sort(names)
    for _, name in ipairs(names) do
      local path = dir .. "/" .. name
      if core.stat(path) == "directory" then walk(path)
      elseif name:match("%.md$") then files[#files + 1] = path end
    end
  end
  walk("docs")
  return files
end

local blocks = {}
for _, file in ipairs(markdown_files()) do
  local text = assert(core.read_file(file))
  local n, files = 0, {}
  for before, block in text:gmatch("([^\n]*)\n```lua\n(.-)```") do
    n = n + 1
    local named = block:match("^%-%- ([%w_/%.%-]+%.lua)\n")
    local given = {}
    for k, v in pairs(files) do given[k] = v end
    if named and named ~= "experiment.lua" then files[named] = block end
    blocks[#blocks + 1] = {where = file .. " (Lua block " .. n .. ")", code = block, files = given,
      complete = not before:find("<!%-%- not run:") and block:find('require%(?%s*"tune"%)?') ~= nil
        and block:find("tune%.run%(") ~= nil}
  end
end

describe("docs", function()
  it("have Lua examples", function()
    assert.is_true(#blocks > 40)
  end)

  it("have Lua blocks that all compile", function()
    for _, b in ipairs(blocks) do
      local ok, err = load(b.code, "=" .. b.where)
      if not ok then
        local ok2 = load("return {\n" .. b.code .. "\n}", "=" .. b.where)
        assert(ok2, b.where .. " does not compile: " .. tostring(err))
      end
    end
  end)

  for _, b in ipairs(blocks) do
    if b.complete then
      it("run " .. b.where, function()
        local dir = support.tmpdir("doc")
        b.files["example.lua"] = b.code
        for name, code in pairs(b.files) do
          local sub = name:match("^(.*)/[^/]*$")
          if sub then assert(core.mkdir_p(dir .. "/" .. sub)) end
          local f = assert(io.open(dir .. "/" .. name, "w"))
          f:write(code)
          f:close()
        end
        local ok, out, code = support.sh(string.format("cd %s && TUNE_RESULT_DIR=%s/results %s example.lua", dir, dir,
          core.realpath(tunelua) or tunelua))
        assert(ok, string.format("%s exited with %s:\n%s", b.where, tostring(code), out))
      end)
    end
  end
end)
