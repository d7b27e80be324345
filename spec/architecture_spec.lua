-- The rules docs/architecture.md states about the code's shape, checked on
-- the files themselves: no module of lua/tune/ requires one that requires
-- it back (at load time or inside a function); no C file of engine/ or
-- bindings/ includes, through its headers, one that includes it back; and
-- a file over 400 lines is named, with its reason, under "Files over 400
-- lines" (the executor's and the loop's own files stay under it).
local core = require("tune.core")

local LIMIT = 400

local function files_under(dir, pattern, out)
  out = out or {}
  local names = core.listdir(dir) or {}
  table.sort(names)
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    if core.stat(path) == "directory" then files_under(path, pattern, out)
    elseif name:match(pattern) then out[#out + 1] = path end
  end
  return out
end

local function lines(path)
  local n = 0
  for _ in assert(core.read_file(path)):gmatch("\n") do n = n + 1 end
  return n
end

--- The first cycle of `graph` (node -> list of nodes), as a list ending
--- where it began, or nil.
local function find_cycle(graph)
  local state, stack = {}, {}
  local function visit(u)
    state[u] = "open"
    stack[#stack + 1] = u
    for _, v in ipairs(graph[u] or {}) do
      if state[v] == "open" then
        local cycle = {}
        for i = #stack, 1, -1 do
          table.insert(cycle, 1, stack[i])
          if stack[i] == v then break end
        end
        cycle[#cycle + 1] = v
        return cycle
      elseif state[v] == nil then
        local c = visit(v)
        if c then return c end
      end
    end
    stack[#stack] = nil
    state[u] = "done"
  end
  local nodes = {}
  for u in pairs(graph) do nodes[#nodes + 1] = u end
  table.sort(nodes)
  for _, u in ipairs(nodes) do
    if state[u] == nil then
      local c = visit(u)
      if c then return c end
    end
  end
end

describe("architecture", function()
  it("has no require cycle in lua/tune", function()
    local graph = {}
    for _, path in ipairs(files_under("lua/tune", "%.lua$")) do
      local mod = path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      local deps = {}
      for name in assert(core.read_file(path)):gmatch("require%(?%s*[\"'](tune[%w_%.]*)[\"']") do
        deps[#deps + 1] = name
      end
      graph[mod] = deps
    end
    assert.is_true(next(graph) ~= nil)
    local cycle = find_cycle(graph)
    assert(cycle == nil, "require cycle: " .. table.concat(cycle or {}, " -> "))
  end)

  it("has no include cycle in engine/ and bindings/", function()
    local graph, known = {}, {}
    local sources = files_under("engine", "%.[ch]$")
    files_under("bindings", "%.[ch]$", sources)
    for _, path in ipairs(sources) do known[path:match("[^/]+$")] = path end
    for _, path in ipairs(sources) do
      local deps = {}
      for name in assert(core.read_file(path)):gmatch('#include%s+"([^"]+)"') do
        local target = known[name:match("[^/]+$")]
        if target and target ~= path then deps[#deps + 1] = target end
      end
      graph[path] = deps
    end
    local cycle = find_cycle(graph)
    assert(cycle == nil, "include cycle: " .. table.concat(cycle or {}, " -> "))
  end)

  it("names every file over " .. LIMIT .. " lines under \"Files over 400 lines\"", function()
    local doc = assert(core.read_file("docs/architecture.md"))
    local section = assert(doc:match("\n## Files over 400 lines\n(.-)\n## "), "the section is gone")
    local sources = files_under("engine", "%.[ch]$")
    files_under("bindings", "%.[ch]$", sources)
    files_under("lua/tune", "%.lua$", sources)
    local missing = {}
    for _, path in ipairs(sources) do
      local base = path:match("[^/]+$")
      if lines(path) > LIMIT and not section:find("`[^`]*" .. base:gsub("%p", "%%%0") .. "`") then
        missing[#missing + 1] = path .. " (" .. lines(path) .. " lines)"
      end
    end
    assert(#missing == 0, "over " .. LIMIT .. " lines, no reason given: " .. table.concat(missing, ", "))
    -- Issue 8's own: the executor and the experiment loop stay under it.
    for _, path in ipairs({"engine/executor.c", "lua/tune/executor/init.lua", "lua/tune/experiment/runner.lua",
        "lua/tune/experiment/run.lua"}) do
      assert(lines(path) <= LIMIT, path .. " has " .. lines(path) .. " lines")
    end
  end)
end)
