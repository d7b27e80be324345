--- tune.schedulers.CurveASHAScheduler: asynchronous successive halving
--- (AsyncHyperBandScheduler's brackets and rungs, unchanged) that judges a
--- trial at a rung by where its learning curve is heading instead of where
--- it is: the value recorded and compared at a rung is the metric at max_t
--- extrapolated from the trial's results so far (tune.schedulers.curve_fit:
--- the better of an exponential and a power-law fit). On curves that cross
--- (a high learning rate ahead early, behind at the end) the trials kept
--- are those that end best, so the first rung can come early.
---
--- An extrapolation is trusted only so far: the improvement it predicts
--- from now to max_t is capped at `max_improvement` times the improvement
--- seen from the first result to now. With fewer than `min_points`
--- results, or no fit, the current value is used, as ASHA does.
--- docs/reference/schedulers/curve_asha.md.
local util = require("tune.util")
local curve_fit = require("tune.schedulers.curve_fit")
local asha = require("tune.schedulers.async_hyperband")

local ASHA = asha.AsyncHyperBandScheduler

local OPTIONS = {max_improvement = 4, min_points = 3}
for k, v in pairs(ASHA.OPTIONS) do OPTIONS[k] = v end
-- Defaults chosen on bench/peer's pruning workload, seeds 0-4 only
-- (docs/benchmarks.md).
OPTIONS.grace_period = 5
OPTIONS.reduction_factor = 5

local CurveASHAScheduler = ASHA:extend(nil, "CurveASHAScheduler")
CurveASHAScheduler.OPTIONS = OPTIONS

--- CurveASHAScheduler{time_attr=, metric=, mode=, max_t=100,
--- grace_period=5, reduction_factor=5, brackets=1, stop_last_trials=true,
--- max_improvement=4, min_points=3, seed=}
function CurveASHAScheduler:__init(opts)
  local name = "CurveASHAScheduler"
  -- ASHA's options, checked as ASHA checks them, with this class's defaults.
  opts = self:_setup(opts, name, OPTIONS, 4)
  local gain = util.with_default(opts, OPTIONS, "max_improvement")
  local points = util.with_default(opts, OPTIONS, "min_points")
  if type(gain) ~= "number" or not (gain >= 0) or gain == math.huge then
    error(name .. ": max_improvement must be a number >= 0, got " .. util.show_got(gain), 3)
  end
  if math.type(points) ~= "integer" or points < 3 then
    error(name .. ": min_points must be an integer >= 3, got " .. util.show_got(points), 3)
  end
  self._max_improvement = gain
  self._min_points = points
  self._curves = {}   -- trial_id -> {ts = {...}, ys = {...}} (rewards)
end

--- The reward at max_t, extrapolated (see the module's header).
function CurveASHAScheduler:_predict(curve, reward)
  -- No improvement allowed: the current value, as ASHA judges (a
  -- falling fit would otherwise predict less).
  if self._max_improvement == 0 then return reward end
  local n = #curve.ts
  if n < self._min_points then return reward end
  local v = curve_fit.extrapolate(curve.ts, curve.ys, self._max_t)
  if v == nil then return reward end
  local cap = reward + self._max_improvement * math.max(0, reward - curve.ys[1])
  if v > cap then v = cap end
  return v
end

function CurveASHAScheduler:_rung_value(trial_id, t, reward, bracket)
  local curve = self._curves[trial_id]
  if not curve then
    curve = {ts = {}, ys = {}}
    self._curves[trial_id] = curve
  end
  -- Times must be positive (the power law needs t > 0); a trial restored
  -- from an earlier checkpoint reports times again, and its new results
  -- replace those from that time on. A NaN reward is judged as ASHA
  -- judges it, and not fitted.
  local ts, ys = curve.ts, curve.ys
  local n = #ts
  if reward == reward and t > 0 then
    while n > 0 and ts[n] >= t do
      ts[n], ys[n] = nil, nil
      n = n - 1
    end
    ts[n + 1], ys[n + 1] = t, reward
  end
  if reward ~= reward or not bracket:rung_for(trial_id, t) then return reward end
  return self:_predict(curve, reward)
end

function CurveASHAScheduler:_forget(trial_id)
  self._curves[trial_id] = nil
end

function CurveASHAScheduler:debug_string()
  return (ASHA.debug_string(self):gsub("^Using AsyncHyperBand", "Using CurveASHA"))
end

function CurveASHAScheduler:save()
  local state = ASHA.save(self)
  state.scheduler = "CurveASHAScheduler"
  state.max_improvement = self._max_improvement
  state.min_points = self._min_points
  local curves = {}
  for id, c in pairs(self._curves) do curves[#curves + 1] = {id, c.ts, c.ys} end
  table.sort(curves, function(a, b) return a[1] < b[1] end)
  state.curves = curves
  return state
end

function CurveASHAScheduler:restore(state)
  local copy = {}
  for k, v in pairs(state) do copy[k] = v end
  copy.scheduler = "AsyncHyperBandScheduler"
  ASHA.restore(self, copy)
  self._max_improvement = tonumber(state.max_improvement) or OPTIONS.max_improvement
  self._min_points = math.tointeger(state.min_points) or OPTIONS.min_points
  self._curves = {}
  for _, c in ipairs(state.curves or {}) do
    self._curves[c[1]] = {ts = c[2], ys = c[3]}
  end
end

return {CurveASHAScheduler = CurveASHAScheduler}
