--- A small class helper. A class is a table of methods; calling it
--- constructs an instance (`Cls{...}` or `Cls(a, b)`), which runs the
--- `__init` method when there is one. `Cls:extend([methods])` derives a
--- subclass; `Cls.super` is the parent. `Cls.__size`, when set, is how
--- many fields an instance will hold (its table is made that size).
local M = {}

local table_new = require("tune.core").table_new

-- `cls.__size`, when set: how many fields an instance gets, made room for
-- at once rather than as they are set.
local function construct(cls, ...)
  local size = cls.__size
  local obj = setmetatable(size and table_new(0, size) or {}, cls)
  local init = cls.__init
  if init then init(obj, ...) end
  return obj
end

local function extend(parent, methods, name)
  -- The name names trials, directories and errors: a number (extend(nil,
  -- 5)) failed far from here, inside the library; "" named them "_".
  local where = parent and tostring(rawget(parent, "__name")) .. ":extend" or "class"
  if methods ~= nil and type(methods) ~= "table" and type(methods) ~= "string" then
    error(string.format("%s: the methods must be a table, got %s", where, type(methods)), 2)
  end
  local given = name or (type(methods) == "string" and methods) or nil
  if given ~= nil and (type(given) ~= "string" or given == "" or given:find("\0", 1, true)) then
    error(string.format("%s: the class name must be a non-empty string without a NUL character, got %s", where,
      type(given) == "string" and string.format("%q", given) or type(given)), 2)
  end
  local cls = {}
  if type(methods) == "table" then
    for k, v in pairs(methods) do cls[k] = v end
  end
  cls.__index = cls
  cls.__name = name or (type(methods) == "string" and methods) or (parent and parent.__name) or "object"
  cls.super = parent
  -- Metamethods are not inherited through __index: copy the parent's.
  if parent then
    for _, mm in ipairs({"__tostring", "__eq", "__lt", "__le", "__len", "__call", "__close"}) do
      if cls[mm] == nil and rawget(parent, mm) ~= nil then cls[mm] = parent[mm] end
    end
  end
  cls.extend = function(self, m, n) return extend(self, m, n) end
  return setmetatable(cls, {__index = parent, __call = construct})
end

--- A new root class named `name`.
function M.class(name, methods)
  local cls = extend(nil, methods, name)
  return cls
end

--- True when `obj` is an instance of `cls` or of a subclass.
function M.is_instance(obj, cls)
  if type(obj) ~= "table" then return false end
  local mt = getmetatable(obj)
  while mt do
    if mt == cls then return true end
    mt = rawget(mt, "super")
  end
  return false
end

--- True when `v` is a class itself (ASHAScheduler rather than
--- ASHAScheduler{}): given where an instance belongs, its methods would
--- run with the class as self.
function M.is_class(v)
  return type(v) == "table" and rawget(v, "__index") == v and rawget(v, "__name") ~= nil
end

--- True when `sub` is `cls` or derives from it.
function M.is_subclass(sub, cls)
  while type(sub) == "table" do
    if sub == cls then return true end
    sub = rawget(sub, "super")
  end
  return false
end

return M
