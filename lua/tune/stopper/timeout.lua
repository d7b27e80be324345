--- tune.stopper.timeout: TimeoutStopper, and the timedelta-like tables
--- ({days =, hours =, minutes =, seconds =, ...}) it and tune.run's
--- time_budget_s take (to_seconds). Part of tune.stopper, whose `_clock`
--- it reads (tune.stopper hands itself over: no require back to it).
local base = require("tune.stopper.base")
local core = require("tune.core")

local M = {}

-- Where the replaceable clock is read: tune.stopper's table once it is
-- loaded (it calls use_clock_of with itself), so that a test replacing
-- `stopper._clock` reaches every TimeoutStopper; until then, core.now.
local clock_source = {_clock = function() return core.now() end}
function M.use_clock_of(t) clock_source = t end

local Stopper = base.Stopper
local check_opts, check_state = base.check_opts, base.check_state

-- Microseconds per unit of Python's timedelta.
local TIMEDELTA = {
  weeks = 604800e6, days = 86400e6, hours = 3600e6, minutes = 60e6, seconds = 1e6, milliseconds = 1e3,
  microseconds = 1,
}

-- Rounds half to even, as timedelta rounds to whole microseconds.
local round_half_even = require("tune.util").round_half_even

-- Seconds from a number or a timedelta-like table (total_seconds(): whole
-- microseconds over 10^6); nil when neither.
local function to_seconds(v)
  -- NaN is no duration: a budget of NaN never ran out.
  if type(v) == "number" then return v == v and v or nil end
  if type(v) ~= "table" or getmetatable(v) ~= nil or next(v) == nil then return nil end
  local micro = 0
  for k, x in pairs(v) do
    if TIMEDELTA[k] == nil or type(x) ~= "number" then return nil end
    micro = micro + x * TIMEDELTA[k]
  end
  if micro ~= micro then return nil end
  return round_half_even(micro) / 1e6
end
M.to_seconds = to_seconds

-------------------------------------------------------------------------------
-- TimeoutStopper
-------------------------------------------------------------------------------

local TimeoutStopper = Stopper:extend("TimeoutStopper")
M.TimeoutStopper = TimeoutStopper

--- TimeoutStopper(seconds), TimeoutStopper{timeout = seconds} or a
--- timedelta-like table: stops the experiment once `seconds` have passed.
--- The clock starts at the first stop_all() (setup is not charged) and the
--- budget shrinks by the time between two stop_all() calls.
function TimeoutStopper:__init(timeout)
  local t = timeout
  if type(t) == "table" and getmetatable(t) == nil then
    if t.timeout ~= nil then
      check_opts("TimeoutStopper", t, {timeout = true}, 3)
      t = t.timeout
    else
      local allowed = {timeout = true}
      for k in pairs(TIMEDELTA) do allowed[k] = true end
      check_opts("TimeoutStopper", t, allowed, 3)
    end
  end
  local seconds = to_seconds(t)
  if seconds == nil then
    error(string.format("`timeout` parameter has to be either a number or a timedelta table "
      .. "({days =, hours =, minutes =, seconds =, ...}). Found: %s", type(t) == "number" and tostring(t) or type(t)), 3)
  end
  self._timeout_seconds = seconds
  self._budget = seconds
  self._last_check = nil
end

function TimeoutStopper:__call() return false end

function TimeoutStopper:stop_all()
  -- Else tune.stopper._clock, looked up on each call (it is replaceable).
  local now = (self._clock or clock_source._clock)()
  if self._last_check ~= nil then self._budget = self._budget - (now - self._last_check) end
  self._last_check = now
  return self._budget <= 0
end

--- {timeout_seconds =, budget =}
function TimeoutStopper:save()
  return {timeout_seconds = self._timeout_seconds, budget = self._budget}
end

--- The budget left is kept; the next stop_all() starts counting again.
function TimeoutStopper:restore(state)
  check_state("TimeoutStopper", state, 2)
  if type(state.budget) ~= "number" then
    error("TimeoutStopper:restore: state.budget must be a number", 2)
  end
  self._budget = state.budget
  if type(state.timeout_seconds) == "number" then self._timeout_seconds = state.timeout_seconds end
  self._last_check = nil
end

return M
