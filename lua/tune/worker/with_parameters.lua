--- tune.with_parameters(trainable, params): Ray's wrapper that hands a
--- trainable extra objects besides its config. Lua has no keyword
--- arguments: a function trainable gets them as a second argument,
--- train(config, params); a class's setup gets setup(config, params).
--- Nothing is sent to the worker: it runs the experiment file (or the
--- registering module) again, which builds the wrapper and its params
--- there as it did in the driver (docs/guide/trainables.md).
local registry = require("tune.worker.registry")

local M = {}

-- What with_parameters made: function wrappers and the setup of wrapper
-- classes (which subclasses inherit). Weak keys.
local made = setmetatable({}, {__mode = "k"})

function M.with_parameters(trainable, params)
  local inner = trainable
  if type(trainable) == "string" then
    local e = registry.get(trainable)
    if not e then
      error(string.format("tune.with_parameters: no trainable registered as %q", trainable), 2)
    end
    inner = e.trainable
  end
  local original = inner
  inner = registry.callable(inner) or inner
  local kind = registry.kind_of(inner)
  if kind ~= "function" and kind ~= "class" then
    error("tune.with_parameters() only works with function trainables or classes that inherit from "
      .. "tune.Trainable, got " .. (kind == "command" and "a tune.command" or registry.what_is(inner)), 2)
  end
  -- The wrapper would pass its own params and drop these (Ray's raises a
  -- TypeError when it is called).
  if made[inner] or (kind == "class" and made[inner.setup]) then
    error("tune.with_parameters: the trainable is already wrapped by tune.with_parameters, whose params it "
      .. "would be given instead of these: pass all the parameters in one call", 2)
  end
  -- None given is none (Ray's **kwargs may be empty).
  if params == nil then params = {} end
  if type(params) ~= "table" then
    error("tune.with_parameters: params must be a table of the extra parameters, got " .. type(params), 2)
  end
  -- Its trials are named after what it wraps (Ray's): the registered
  -- name, the class's own name, or the caller's local variable holding it.
  local name = type(trainable) == "string" and trainable or nil
  if kind == "class" and rawget(inner, "__name") ~= "Trainable" then name = rawget(inner, "__name") end
  for i = 1, 250 do
    if name or not debug.getinfo(2, "l") then break end
    local n, v = debug.getlocal(2, i)
    if n == nil then break end
    if v == original and n:sub(1, 1) ~= "(" then name = n end
  end
  if kind == "function" then
    -- A tail call: the worker's traceback shows the trainable, not this.
    local wrapper = function(config) return inner(config, params) end
    made[wrapper] = true
    if name then registry.name_wrapper(wrapper, name) end
    return wrapper
  end
  -- Ray's _Inner: a subclass, of the same name, whose setup passes them on.
  local cls = inner:extend(nil, name)
  function cls:setup(config) return inner.setup(self, config, params) end
  made[cls.setup] = true
  return cls
end

return M
