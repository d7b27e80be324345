--- The trainable registry: names -> trainables, and where each was
--- registered, so a worker process can load it again (docs/protocol.md,
--- "Loading the trainable").
local proc = require("tune.process")
local util = require("tune.util")

local M = {}

local entries = {}
local builtins_loaded = false
-- How many times each name was registered from each file: a worker running
-- the file again takes over at the same registration of the name.
local counts = {}

--- An instance of a Trainable class (not the class): its class's name, or
--- false when the class has none (a local subclass).
local function instance_of(trainable)
  if type(trainable) ~= "table" or rawget(trainable, "__index") ~= nil or rawget(trainable, "_command") then
    return nil
  end
  local cls = getmetatable(trainable)
  if type(cls) == "table" and rawget(cls, "__index") == cls and type(trainable.step) == "function" then
    -- A subclass made without a name has its parent's (tune.class).
    local name, parent = rawget(cls, "__name"), rawget(cls, "super")
    if name == nil or (type(parent) == "table" and parent.__name == name) then return false end
    return name
  end
  return nil
end

local function kind_of(trainable)
  local t = type(trainable)
  if t == "function" then return "function" end
  if t == "table" then
    if rawget(trainable, "_command") then return "command" end
    if instance_of(trainable) ~= nil then return nil end
    if type(trainable.step) == "function" then return "class" end
  end
  return nil
end
M.kind_of = kind_of

--- A callable table (one whose metatable has __call) as a function
--- trainable, as any callable is Ray's: a function that calls it; nil for
--- anything else, a class (tune.search.Searcher: a call makes an
--- instance, not a trial's run, as Ray refuses a class that is not a
--- Trainable) and an instance of a Trainable class included.
function M.callable(t)
  local mt = type(t) == "table" and getmetatable(t)
  if type(mt) ~= "table" or mt.__call == nil or kind_of(t) or rawget(t, "__index") ~= nil
      or instance_of(t) ~= nil then
    return nil
  end
  return function(...) return t(...) end
end

--- Why `trainable` is not one: the words for an error after "got ".
function M.what_is(trainable)
  local cls = instance_of(trainable)
  if cls then return string.format("an instance of %s (pass the class %s itself, as Ray requires)", cls, cls) end
  if cls == false then
    return "an instance of a tune.Trainable class (pass the class itself, as Ray requires)"
  end
  local name = type(trainable) == "table" and rawget(trainable, "__index") == trainable and rawget(trainable, "__name")
  if type(name) ~= "string" then return type(trainable) end
  if require("tune.class").is_subclass(trainable, require("tune.worker.trainable").Trainable) then
    return string.format("the class %s, whose step is a %s (a method must be a function)", name, type(trainable.step))
  end
  return string.format("the class %s, which is not derived from tune.Trainable", name)
end

--- Absolute form of a path given relative to where the process started
--- (arg[0], a chunk's source): from that directory when the file is there
--- (the experiment file may have changed directory since), else from the
--- current one.
function M.from_start(p)
  local start = proc.start_cwd
  if p:sub(1, 1) == "/" or not start then return util.abspath(p) end
  local there = start .. "/" .. p:gsub("^%./", "")
  if require("tune.core").stat(there) then return there end
  return util.abspath(p)
end

--- arg[0] when it names the file being run (lua5.4 file, a C host): it
--- ends in .lua, or tune.run's caller (`level` up) or the trainable `fn`
--- was loaded from it (a script without the extension: `lua5.4 train`,
--- `./train` with a #! line, was refused as run from no file). Not
--- lua5.4's own name under -e, nor a launcher's (busted) whose files do.
function M.script_of_arg(level, fn)
  local a0 = rawget(_G, "arg") and arg[0]
  if type(a0) ~= "string" then return nil end
  if a0:match("%.lua$") then return a0 end
  local caller = debug.getinfo(level + 1, "S")
  local defined = type(fn) == "function" and debug.getinfo(fn, "S")
  if (caller and caller.source == "@" .. a0) or (defined and defined.source == "@" .. a0) then return a0 end
  return nil
end

--- The call whose experiment runs around this point: one whose callback
--- (or stopper, ...) made this call, in its coroutine or one it resumed;
--- not a run suspended in a coroutine that is not running (a callback
--- yielded, and the host went on without resuming it).
function M.enclosing_run()
  local here = coroutine.running()
  for i = #proc.running, 1, -1 do
    local r = proc.running[i]
    if r.co == here or coroutine.status(r.co) == "normal" then return r.index end
  end
  return nil
end

--- The file of the caller `level` frames up, as an absolute path: the
--- first frame from there that runs a file (past a pcall, or a chunk of
--- load(): the worker runs that file, which calls them again), or nil.
function M.caller_file(level)
  for lv = level + 1, level + 100 do
    local info = debug.getinfo(lv, "S")
    if not info then return nil end
    if info.source:sub(1, 1) == "@" then return M.from_start(info.source:sub(2)) end
  end
  return nil
end

--- Where a Lua function was defined, as an absolute path, or nil.
function M.function_file(fn)
  local info = debug.getinfo(fn, "S")
  if not info or info.source:sub(1, 1) ~= "@" then return nil end
  return M.from_start(info.source:sub(2))
end

local function load_builtins()
  if builtins_loaded then return end
  builtins_loaded = true
  local builtin = require("tune.worker.builtin")
  for name, t in pairs(builtin) do
    entries[name] = {name = name, trainable = t, kind = kind_of(t), builtin = true}
  end
end

--- tune.register_trainable(name, trainable): a function, a class derived
--- from tune.Trainable, or a tune.command{...}.
--- Names given to anonymous wrappers (tune.with_parameters): the name of
--- what they wrap, for the trials' names (weak keys).
local wrapper_names = setmetatable({}, {__mode = "k"})

function M.name_wrapper(wrapper, name) wrapper_names[wrapper] = name end

function M.wrapper_name(trainable) return wrapper_names[trainable] end

function M.register_trainable(name, trainable, origin)
  -- The built-ins first: a registration of one of their names ("__fake")
  -- replaces it, as a later registration does in Ray (the built-ins,
  -- loaded at the first look-up, replaced it).
  load_builtins()
  if type(name) ~= "string" or name == "" or name:find("\0", 1, true) then
    error("register_trainable: the name must be a non-empty string without a NUL character, got "
      .. (type(name) == "string" and string.format("%q", name) or type(name)), 2)
  end
  local original = trainable
  trainable = M.callable(trainable) or trainable
  if not kind_of(trainable) then
    error(string.format("register_trainable(%q): expected a function, a tune.Trainable class or a tune.command, got %s",
      name, M.what_is(trainable)), 2)
  end
  origin = origin or M.caller_file(2)
  local key = name .. "\0" .. tostring(origin)
  counts[key] = (counts[key] or 0) + 1
  entries[name] = {
    name = name,
    trainable = trainable,
    original = original, -- a callable table, of which trainable is the function
    kind = kind_of(trainable),
    origin = origin,
    nth = counts[key],
    -- Where the file started: a worker runs it from the top again.
    cwd = proc.start_cwd or require("tune.core").getcwd(),
    -- The driver's tune.run calls before it (run.lua's registered_loader).
    runs_before = package.loaded["tune.experiment.run"] and package.loaded["tune.experiment.run"].calls() or 0,
  }
  -- In a worker loading a file for this name, the file has done its part:
  -- the worker takes over here, so the rest of it (an executor, say) never
  -- runs in the worker (docs/protocol.md, "Loading the trainable").
  local worker = package.loaded["tune.worker"]
  if worker and worker.wants(name, counts[key]) then worker.serve_from_run(trainable) end
end


--- The registry entry for `name`, or nil.
function M.get(name)
  load_builtins()
  return entries[name]
end

--- The entry registered for a trainable value, or nil.
function M.find(trainable)
  load_builtins()
  for _, e in pairs(entries) do
    if e.trainable == trainable or e.original == trainable then return e end
  end
  return nil
end

--- Trainable is resettable (worker reuse, reset_trial): functions always
--- (they restart), classes when they override reset_config.
function M.resettable(trainable)
  local k = kind_of(trainable)
  if k == "function" then return true end
  if k == "class" then
    local Trainable = require("tune.worker.trainable").Trainable
    return trainable.reset_config ~= nil and trainable.reset_config ~= Trainable.reset_config
  end
  return false
end

--- The arguments the experiment file started with, which a worker runs
--- it again with: the CLI's, or `arg` as it was when tune was first
--- required (unless the host has set another table since), not what is
--- left after the file took some out (`table.remove(arg, 1)`: the worker's
--- file then took them out of what was left).
function M.start_args()
  local cli = package.loaded["tune.cli"]
  local a = cli and cli.args
  if not a then
    a = rawget(_G, "arg")
    if a ~= nil and a == proc.start_arg_table then a = proc.start_args end
  end
  local args = {}
  for i = 1, type(a) == "table" and #a or 0 do args[i] = a[i] end
  return args
end

--- How a worker loads an entry: {builtin=true, name=} or {script=, name=}.
function M.loader(entry)
  -- One per registration, shared by its trials (read only).
  local loader = rawget(entry, "_loader")
  if loader then return loader end
  if entry.builtin then
    loader = {builtin = true, name = entry.name}
  else
    -- The worker runs the file where the driver did (relative requires and
    -- paths keep working), with the driver's arguments.
    loader = {script = entry.origin, name = entry.name, nth = entry.nth, cwd = entry.cwd,
      args = require("tune.core").array(M.start_args())}
  end
  entry._loader = loader
  return loader
end

--- Test hook: forget user registrations.
function M._reset()
  entries, counts = {}, {}
  builtins_loaded = false
end

return M
