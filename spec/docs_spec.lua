-- Every Lua example in docs/ and the README: each block compiles (as a
-- chunk, or as table fields for an option snippet), and each complete
-- experiment (it requires "tune" and calls tune.run) runs with tunelua and
-- exits 0, in a directory holding the files that earlier blocks of the
-- same page name in their first line ("-- mylib/walkers.lua"). A block
-- after a line "<!-- not run: why -->" is only compiled; one after a line
-- "<!-- run with spec/fixtures/docs/NAME.lua -->" (a snippet that uses a
-- `train`, a `config` or a class of the page) runs after that file, which
-- defines them. Every relative
-- link between the pages names a file that exists, and its #anchor a
-- heading of that page (GitHub's slug of it).
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
    local prelude = before:match("^<!%-%- run with (spec/fixtures/docs/[%w_]+%.lua) %-%->$")
    blocks[#blocks + 1] = {where = file .. " (Lua block " .. n .. ")", code = block, files = given,
      prelude = prelude and assert(core.read_file(prelude), prelude),
      complete = prelude ~= nil or (not before:find("<!%-%- not run:") and block:find('require%(?%s*"tune"%)?') ~= nil
        and block:find("tune%.run%(") ~= nil)}
  end
end

--- GitHub's anchors of a page's headings (outside code blocks): lower
--- case, punctuation but - and _ dropped, spaces as -, -1, -2 ... after
--- repeats.
local function anchors(path)
  local text = assert(core.read_file(path)):gsub("\n```.-\n```", "")
  local out, seen = {}, {}
  for title in ("\n" .. text):gmatch("\n#+ +([^\n]*)") do
    local slug = title:gsub("%s+#*%s*$", ""):lower():gsub("<[^>]*>", ""):gsub("[%p]", function(c)
      if c == "-" or c == "_" then return c end
      return ""
    end):gsub(" ", "-")
    local n = seen[slug]
    seen[slug] = (n or -1) + 1
    out[n and (slug .. "-" .. (n + 1)) or slug] = true
  end
  return out
end

describe("docs", function()
  it("have Lua examples", function()
    assert.is_true(#blocks > 40)
  end)

  it("link to files and headings that exist", function()
    local bad = {}
    for _, file in ipairs(markdown_files()) do
      local text = assert(core.read_file(file)):gsub("\n```.-\n```", "")
      local dir = file:match("^(.*)/[^/]*$") or "."
      for link in text:gmatch("%]%(([^%)%s]+)%)") do
        local path, anchor = link:match("^([^#]*)#?(.*)$")
        if not link:match("^%a[%w+.-]*:") then
          local target = path == "" and file or dir .. "/" .. path
          if not core.stat(target) then
            bad[#bad + 1] = file .. ": " .. link .. " (no such file)"
          elseif anchor ~= "" and target:match("%.md$") and not anchors(target)[anchor] then
            bad[#bad + 1] = file .. ": " .. link .. " (no such heading)"
          end
        end
      end
    end
    assert(#bad == 0, "broken links:\n" .. table.concat(bad, "\n"))
  end)

  it("have tables whose rows follow a header (a blank line in one starts a table of text)", function()
    local bad = {}
    for _, file in ipairs(markdown_files()) do
      local lines, code = {}, false
      for line in (assert(core.read_file(file)) .. "\n"):gmatch("([^\n]*)\n") do
        if line:find("^```") then code = not code end
        lines[#lines + 1] = code and "" or line
      end
      -- A table starts with its header, which the delimiter row follows.
      for n, line in ipairs(lines) do
        if line:find("^|") and not (lines[n - 1] or ""):find("^|") and not (lines[n + 1] or ""):find("^|%s*:?%-%-%-") then
          bad[#bad + 1] = file .. ":" .. n .. ": " .. line:sub(1, 60)
        end
      end
    end
    assert(#bad == 0, "table rows without a header:\n" .. table.concat(bad, "\n"))
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
        -- The prelude's lines first, the block's after them on one line
        -- of its own: its line numbers shift by the prelude's.
        b.files["example.lua"] = b.prelude and (b.prelude .. "\n" .. b.code) or b.code
        for name, code in pairs(b.files) do
          local sub = name:match("^(.*)/[^/]*$")
          if sub then assert(core.mkdir_p(dir .. "/" .. sub)) end
          local f = assert(io.open(dir .. "/" .. name, "w"))
          f:write(code)
          f:close()
        end
        local ok, out, code = support.sh(string.format("cd %s && TUNE_DOCS_ROOT=%s TUNE_RESULT_DIR=%s/results %s example.lua",
          dir, core.getcwd(), dir, core.realpath(tunelua) or tunelua))
        assert(ok, string.format("%s exited with %s:\n%s", b.where, tostring(code), out))
      end)
    end
  end
end)
