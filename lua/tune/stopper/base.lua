--- tune.stopper.base: the Stopper base class and the small stoppers
--- (NoopStopper, FunctionStopper, MaximumIterationStopper,
--- CombinedStopper), with the helpers the other stopper modules share:
--- option and state checks, JSON arrays, a stable order of trial ids.
--- tune.stopper gathers these with tune.stopper.plateau and
--- tune.stopper.timeout; its header describes the whole API.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

-------------------------------------------------------------------------------
-- Helpers (also used by tune.stopper, tune.stopper.plateau, tune.stopper.timeout)
-------------------------------------------------------------------------------

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- Checks that `opts` (a table) has only the keys in `allowed`.
local function check_opts(name, opts, allowed, level)
  util.check_options(name, opts, allowed, level + 1)
end

-- A JSON array (stays [] when empty).
local function array(t) return core.array(t or {}) end

-- Trial ids of a map in a stable order (by their text).
local function sorted_ids(map)
  local ids = {}
  for id in pairs(map) do ids[#ids + 1] = id end
  table.sort(ids, function(x, y)
    local sx, sy = tostring(x), tostring(y)
    if sx == sy then return type(x) < type(y) end
    return sx < sy
  end)
  return ids
end

local function check_state(name, state, level)
  if type(state) ~= "table" then
    error(string.format("%s:restore: state must be a table, got %s", name, type(state)), level + 1)
  end
end

-- `v` is a number, NaN excepted (a NaN bound never compares true: the
-- stopper would never stop); else an error naming `who` and `what`.
local function check_number(who, what, v, level)
  if type(v) ~= "number" or v ~= v then
    error(string.format("%s: %s must be a number, got %s", who, what, type(v) == "number" and tostring(v) or type(v)),
      level + 1)
  end
end

M.is_callable, M.check_opts, M.check_state, M.check_number = is_callable, check_opts, check_state, check_number
M.array, M.sorted_ids = array, sorted_ids

-- True when v is plain JSON data (numbers, strings, booleans, null, plain
-- or array-marked tables of those; no cycles).
local function is_json_data(v, seen, depth)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if v == core.null then return true end
  if t ~= "table" or depth > 32 or seen[v] then return false end
  local mt = getmetatable(v)
  if mt ~= nil and mt ~= core.array_mt then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if (type(k) ~= "string" and math.type(k) ~= "integer") or not is_json_data(x, seen, depth + 1) then
      seen[v] = nil
      return false
    end
  end
  seen[v] = nil
  return true
end

-------------------------------------------------------------------------------
-- Stopper (base)
-------------------------------------------------------------------------------

local Stopper = class.class("Stopper")
M.Stopper = Stopper

--- stopper(trial_id, result) -> true if the trial should be terminated.
--- The base raises: a subclass overrides __call(self, trial_id, result).
function Stopper:__call(trial_id, result) -- luacheck: no unused args
  error(string.format("%s does not implement __call(self, trial_id, result)", self.__name), 2)
end

--- stopper:stop_all() -> true if the experiment should be terminated.
--- The base raises: a subclass overrides stop_all(self).
function Stopper:stop_all()
  error(string.format("%s does not implement stop_all(self)", self.__name), 2)
end

--- The stopper's state for an experiment checkpoint: by default a copy of
--- the instance's own fields that are JSON data.
function Stopper:save()
  local out = {}
  for k, v in pairs(self) do
    if type(k) == "string" and is_json_data(v, {}, 0) then out[k] = util.deepcopy(v) end
  end
  return out
end

--- Puts back what save() returned.
function Stopper:restore(state)
  check_state(self.__name, state, 2)
  for k, v in pairs(state) do
    if type(k) == "string" then rawset(self, k, util.deepcopy(v)) end
  end
end

--- True when `v` is a stopper: a Stopper instance, or a table whose
--- `stop_all` is a function, or a table with a `__call` field or metamethod
--- (not a class: its hooks would run with the class as self).
function M.is_stopper(v)
  if class.is_instance(v, Stopper) then return true end
  if type(v) ~= "table" or class.is_class(v) then return false end
  if type(v.stop_all) == "function" then return true end
  if type(rawget(v, "__call")) == "function" then return true end
  return is_callable(v)
end

-------------------------------------------------------------------------------
-- NoopStopper
-------------------------------------------------------------------------------

local NoopStopper = Stopper:extend("NoopStopper")
M.NoopStopper = NoopStopper

function NoopStopper:__call() return false end

function NoopStopper:stop_all() return false end

-------------------------------------------------------------------------------
-- FunctionStopper
-------------------------------------------------------------------------------

local FunctionStopper = Stopper:extend("FunctionStopper")
M.FunctionStopper = FunctionStopper

--- FunctionStopper(fn): stops a trial when fn(trial_id, result) is true.
function FunctionStopper:__init(fn)
  if not is_callable(fn) then
    error(string.format("FunctionStopper: expected a function(trial_id, result), got %s", type(fn)), 3)
  end
  self._fn = fn
end

function FunctionStopper:__call(trial_id, result)
  return not not self._fn(trial_id, result)
end

function FunctionStopper:stop_all() return false end

--- The function's own state, when it is a table with save().
function FunctionStopper:save()
  local fn = self._fn
  if type(fn) == "table" and type(fn.save) == "function" then return fn:save() end
  return nil
end

function FunctionStopper:restore(state)
  local fn = self._fn
  if state ~= nil and type(fn) == "table" and type(fn.restore) == "function" then fn:restore(state) end
end

--- Ray's FunctionStopper.is_valid_function: a plain function or callable
--- table that is not a Stopper (a callable with stop_all is one).
function FunctionStopper.is_valid_function(fn)
  if not is_callable(fn) or class.is_instance(fn, Stopper) then return false end
  return not (type(fn) == "table" and type(fn.stop_all) == "function")
end

-------------------------------------------------------------------------------
-- MaximumIterationStopper
-------------------------------------------------------------------------------

local MaximumIterationStopper = Stopper:extend("MaximumIterationStopper")
M.MaximumIterationStopper = MaximumIterationStopper

--- MaximumIterationStopper(max_iter) or MaximumIterationStopper{max_iter = n}:
--- stops each trial at its max_iter-th result (counted by this stopper).
function MaximumIterationStopper:__init(max_iter)
  if type(max_iter) == "table" and getmetatable(max_iter) == nil then
    check_opts("MaximumIterationStopper", max_iter, {max_iter = true}, 3)
    max_iter = max_iter.max_iter
  end
  check_number("MaximumIterationStopper", "max_iter", max_iter, 3)
  self._max_iter = max_iter
  self._iter = {}
end

function MaximumIterationStopper:__call(trial_id, result) -- luacheck: no unused args
  local n = (self._iter[trial_id] or 0) + 1
  self._iter[trial_id] = n
  return n >= self._max_iter
end

function MaximumIterationStopper:stop_all() return false end

--- {iter = [{trial_id =, count =}, ...]}
function MaximumIterationStopper:save()
  local iter = array()
  for _, id in ipairs(sorted_ids(self._iter)) do iter[#iter + 1] = {trial_id = id, count = self._iter[id]} end
  return {iter = iter}
end

function MaximumIterationStopper:restore(state)
  check_state("MaximumIterationStopper", state, 2)
  local iter = {}
  for _, e in ipairs(state.iter or {}) do iter[e.trial_id] = e.count end
  self._iter = iter
end

-------------------------------------------------------------------------------
-- CombinedStopper
-------------------------------------------------------------------------------

local CombinedStopper = Stopper:extend("CombinedStopper")
M.CombinedStopper = CombinedStopper

-- A plug-in table without a hook has no opinion (false).
local function call_stopper(s, trial_id, result)
  if is_callable(s) then return s(trial_id, result) end
  local f = s.__call
  if f == nil then return false end
  return f(s, trial_id, result)
end

local function stop_all_of(s)
  local f = s.stop_all
  if f == nil then return false end
  return f(s)
end

--- CombinedStopper(s1, s2, ...) (or one array of stoppers): stops when any
--- of them does, asking them in order and stopping at the first yes.
function CombinedStopper:__init(...)
  local list = table.pack(...)
  if list.n == 1 and type(list[1]) == "table" and getmetatable(list[1]) == nil and not M.is_stopper(list[1]) then
    list = table.pack(table.unpack(list[1]))
  end
  local stoppers = {}
  for i = 1, list.n do
    local s = list[i]
    if not M.is_stopper(s) then
      error(string.format("CombinedStopper: argument %d is not a stopper (%s)", i,
        class.is_class(s) and ("the class " .. s.__name .. ": call it") or type(s)), 3)
    end
    stoppers[i] = s
  end
  self._stoppers = stoppers
end

function CombinedStopper:__call(trial_id, result)
  for _, s in ipairs(self._stoppers) do
    if call_stopper(s, trial_id, result) then return true end
  end
  return false
end

function CombinedStopper:stop_all()
  for _, s in ipairs(self._stoppers) do
    if stop_all_of(s) then return true end
  end
  return false
end

--- {stoppers = [state or null, ...]} in argument order.
function CombinedStopper:save()
  local states = array()
  for i, s in ipairs(self._stoppers) do
    local st = nil
    if type(s.save) == "function" then st = s:save() end
    states[i] = st == nil and core.null or st
  end
  return {stoppers = states}
end

function CombinedStopper:restore(state)
  check_state("CombinedStopper", state, 2)
  local states = state.stoppers or {}
  for i, s in ipairs(self._stoppers) do
    local st = states[i]
    if st ~= nil and st ~= core.null and type(s.restore) == "function" then s:restore(st) end
  end
end

return M
