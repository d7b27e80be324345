--- tune.stopper: stopping trials and experiments (Ray Tune 2.0's
--- ray.tune.stopper).
---
--- A stopper is called once per trial result:
---
---     stopper(trial_id, result)  --> true to stop that trial
---     stopper:stop_all()         --> true to stop the whole experiment
---
--- `result` is a plain Lua table: the result as reported, as Ray's
--- (result.val.loss), with its flattened "/" keys too (result["val/loss"]).
--- The runner calls the stopper for every result
--- and asks stop_all() once per step, as Ray's TrialRunner does.
---
--- Built-in stoppers (same defaults, semantics and validation as Ray 2.0):
---
---     Stopper                     the base class (both hooks raise: override them)
---     NoopStopper()               never stops
---     FunctionStopper(fn)         stops a trial when fn(trial_id, result) is true
---     MaximumIterationStopper(max_iter) | {max_iter = n}
---                                 stops a trial after max_iter results
---     TrialPlateauStopper{metric, std = 0.01, num_results = 4, grace_period = 4,
---                         metric_threshold = nil, mode = nil}
---                                 stops a trial whose last num_results values
---                                 of metric have a std below `std`
---     ExperimentPlateauStopper{metric, std = 0.001, top = 10, mode = "min",
---                              patience = 0}
---                                 stops the experiment once the top values of
---                                 metric have plateaued for `patience` results
---     TimeoutStopper(seconds) | {timeout = seconds}
---                                 stops the experiment once the time budget is
---                                 spent (counted between stop_all() calls)
---     CombinedStopper(s1, s2, ...) stops when any of them does (Ray's `any`,
---                                 short-circuiting in order)
---
--- Constructors that take a metric also accept it positionally, with the
--- other options after it: `TrialPlateauStopper("loss", {std = 0.1})`.
--- An unknown option is an error naming it and the closest valid name.
--- A duration may also be given as a timedelta-like table
--- ({days =, hours =, minutes =, seconds =, milliseconds =, microseconds =,
--- weeks =}), Lua's stand-in for Python's datetime.timedelta.
---
--- Writing your own: derive from Stopper and override both hooks.
---
---     local MyStopper = stopper.Stopper:extend("MyStopper")
---     function MyStopper:__init() self.count = 0 end
---     function MyStopper:__call(trial_id, result)
---       self.count = self.count + 1
---       return result.loss < 0.1
---     end
---     function MyStopper:stop_all() return self.count > 100 end
---
--- A plain table with `__call(self, trial_id, result)` and
--- `stop_all(self)` fields is accepted too (the runner calls the fields),
--- and so is a table with `stop_all` that a metatable's __call makes callable.
---
--- Resume: every stopper has `save()` -> a JSON-serialisable table (or nil
--- when there is nothing to keep) and `restore(state)`, so an experiment
--- checkpoint can carry it, as Ray pickles its stopper with the runner.
--- restore() expects a stopper built with the same arguments. Built-ins
--- keep: MaximumIterationStopper the per-trial counts; TrialPlateauStopper
--- the per-trial counts and value windows; ExperimentPlateauStopper the top
--- values and plateau count; TimeoutStopper the budget left (the time
--- between the last check and the restore is not charged, as in Ray);
--- CombinedStopper each child's state; FunctionStopper the function's state
--- when it is a table with save/restore. A user subclass that does not
--- override them saves and restores its own fields whose values are JSON
--- data (numbers, strings, booleans, plain tables of those); functions and
--- other values are skipped.
---
--- Time: TimeoutStopper reads `self._clock` when set, else the module's
--- `stopper._clock` (tune.core.now(), monotonic seconds). Tests replace
--- `stopper._clock`; a runner on a virtual clock sets `s._clock`.
---
--- stopper.from_option(stop [, time_budget_s]) turns tune.run's `stop`
--- (and `time_budget_s`) into a stopper or nil; see there.
---
--- The code: tune.stopper.base (Stopper, NoopStopper, FunctionStopper,
--- MaximumIterationStopper, CombinedStopper), tune.stopper.plateau (the
--- plateau stoppers), tune.stopper.timeout (TimeoutStopper); this module
--- gathers them and reads tune.run's `stop`.
local class = require("tune.class")
local core = require("tune.core")
local base = require("tune.stopper.base")
local plateau = require("tune.stopper.plateau")
local timeout = require("tune.stopper.timeout")

local M = {}

--- The clock TimeoutStopper reads: seconds, monotonic. Replaceable.
M._clock = function() return core.now() end
timeout.use_clock_of(M)

M.Stopper = base.Stopper
M.is_stopper = base.is_stopper
M.NoopStopper = base.NoopStopper
M.FunctionStopper = base.FunctionStopper
M.MaximumIterationStopper = base.MaximumIterationStopper
M.TrialPlateauStopper = plateau.TrialPlateauStopper
M.ExperimentPlateauStopper = plateau.ExperimentPlateauStopper
M.TimeoutStopper = timeout.TimeoutStopper
M.CombinedStopper = base.CombinedStopper
M._np_std = plateau._np_std
M._py_sorted = plateau._py_sorted

local Stopper, FunctionStopper = base.Stopper, base.FunctionStopper
local TimeoutStopper, CombinedStopper = timeout.TimeoutStopper, base.CombinedStopper
local is_callable, to_seconds = base.is_callable, timeout.to_seconds

-------------------------------------------------------------------------------
-- tune.run's `stop`
-------------------------------------------------------------------------------

local function is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

--- stopper.use_clock(s, clock) -> undo: every TimeoutStopper in `s` (a
--- CombinedStopper's members too, at any depth) without a clock of its
--- own reads `clock` instead of M._clock, until undo() is called (tune.run
--- on the simulator: its time budget counts virtual seconds).
function M.use_clock(s, clock)
  local given, seen = {}, {}
  local function walk(x)
    if type(x) ~= "table" or seen[x] then return end
    seen[x] = true
    if class.is_instance(x, TimeoutStopper) and rawget(x, "_clock") == nil then
      x._clock = clock
      given[#given + 1] = x
    elseif class.is_instance(x, CombinedStopper) then
      for _, m in ipairs(x._stoppers) do walk(m) end
    end
  end
  walk(s)
  return function()
    for _, x in ipairs(given) do
      if rawget(x, "_clock") == clock then x._clock = nil end
    end
  end, #given
end

--- use_clock with an executor's clock (ex:now()): the undo, and how many
--- TimeoutStoppers took it.
function M.use_executor_clock(ex, s)
  return M.use_clock(s, function() return ex:now() end)
end

--- stopper.from_option(stop [, time_budget_s]) -> stopper or nil, as Ray's
--- Experiment reads `stop`:
---   nil or {}                    -> nil
---   a table of thresholds        -> nil (the runner compares them through
---     ({training_iteration = 10})   Trial.stopping_criterion)
---   an array of stoppers         -> CombinedStopper of them
---   a function(trial_id, result) -> FunctionStopper
---   a Stopper, or a table with stop_all / a `__call` field -> as is
---   a callable table without stop_all -> FunctionStopper (Ray: a callable
---     that is not a Stopper)
---   anything else                -> error naming its type
--- With time_budget_s (seconds or a timedelta table; nil or 0 = none) the
--- result is combined with a TimeoutStopper, as Ray does.
function M.from_option(stop, time_budget_s)
  local s
  local t = type(stop)
  if stop == nil then
    s = nil
  elseif t == "function" then
    s = FunctionStopper(stop)
  elseif t == "table" then
    if class.is_instance(stop, Stopper) then
      s = stop
    elseif type(stop.stop_all) == "function" or type(rawget(stop, "__call")) == "function" then
      s = stop
    elseif is_callable(stop) then
      s = FunctionStopper(stop)
    elseif getmetatable(stop) ~= nil and getmetatable(stop) ~= core.array_mt then
      error("Provided stop object must be either a table of thresholds, a function, or a Stopper "
        .. "(a table with __call and stop_all). Got a table with a metatable ("
        .. tostring(getmetatable(stop).__name or "table") .. ").", 2)
    elseif is_list(stop) then
      local types = {}
      local bad = false
      for i, x in ipairs(stop) do
        types[i] = class.is_instance(x, Stopper) and x.__name
          or class.is_class(x) and ("the class " .. x.__name .. " (call it)") or type(x)
        if not M.is_stopper(x) then bad = true end
      end
      if bad then
        error("If you pass a list as the `stop` argument to `tune.run()`, each element must be a "
          .. "Stopper. Got [" .. table.concat(types, ", ") .. "].", 2)
      end
      s = CombinedStopper(table.unpack(stop))
    elseif stop[1] ~= nil then
      -- (Neither thresholds nor a list: it was ignored, and nothing stopped.)
      local keys = {}
      for k in pairs(stop) do if type(k) == "string" then keys[#keys + 1] = k end end
      table.sort(keys)
      if #keys == 0 then error("a list of stoppers must have the keys 1..n, with no holes", 2) end
      error("a table cannot hold both thresholds (" .. table.concat(keys, ", ") .. ") and a list of stoppers: "
        .. "give a list of stoppers, with the thresholds as a FunctionStopper", 2)
    else
      s = nil
    end
  else
    error(string.format("Invalid stop criteria: %s. Must be a function, a Stopper or a table. Got %s.",
      tostring(stop), t), 2)
  end

  if time_budget_s ~= nil and time_budget_s ~= 0 then
    local seconds = to_seconds(time_budget_s)
    -- A negative budget (Ray's ran out at once) is a mistake, not a wish.
    if seconds == nil or seconds < 0 then
      error(string.format("time_budget_s must be a number of seconds >= 0 or a timedelta table, got %s",
        type(time_budget_s) == "number" and tostring(time_budget_s) or type(time_budget_s)), 2)
    end
    if seconds ~= 0 then
      local timeout = TimeoutStopper(seconds)
      s = s and CombinedStopper(s, timeout) or timeout
    end
  end
  return s
end

return M
