--- tune.schedulers.curve_fit: extrapolates a learning curve (internal;
--- used by CurveASHAScheduler). A curve y(t) is fitted by least squares
--- to each of two three-parameter families,
---   exponential:  y = c + a * exp(-theta * t)
---   power law:    y = c + a * t ^ (-theta)
--- (theta on a fixed logarithmic grid from 1e-3 to about 3, c and a in
--- closed form for each theta), and the fit with the smallest squared
--- error gives y(T). Both families saturate, as learning curves do; which
--- one fits is decided per curve. docs/reference/schedulers/curve_asha.md.
local M = {}

local exp = math.exp

--- theta's grid: 48 values, logarithmically spaced over 1e-3 .. 10^0.5.
local GRID = {}
for i = 0, 47 do GRID[i + 1] = 10 ^ (-3 + 3.5 * i / 47) end
M.GRID = GRID

M.FAMILIES = {
  exp = function(t, theta) return exp(-theta * t) end,
  pow = function(t, theta) return t ^ (-theta) end,
}
M.FAMILY_NAMES = {"exp", "pow"}

--- y ~ c + a * g by least squares over the first n points: c, a and the
--- sum of squared residuals, or nil when g does not vary.
local function linear_fit(ys, g, n)
  local sg, sy, sgg, sgy = 0, 0, 0, 0
  for i = 1, n do
    local gi, yi = g[i], ys[i]
    sg, sy, sgg, sgy = sg + gi, sy + yi, sgg + gi * gi, sgy + gi * yi
  end
  local den = n * sgg - sg * sg
  if not (den > 1e-12 * n * sgg) then return nil end
  local a = (n * sgy - sg * sy) / den
  local c = (sy - a * sg) / n
  local sse = 0
  for i = 1, n do
    local r = ys[i] - c - a * g[i]
    sse = sse + r * r
  end
  return c, a, sse
end

--- The value at time T of the best fit to the points (ts[i], ys[i]);
--- times must be positive. Returns the value and the family's name, or
--- nil when fewer than 3 points or no fit (all times equal).
function M.extrapolate(ts, ys, T)
  local n = #ts
  if n < 3 then return nil end
  local best_sse, best_value, best_family = math.huge, nil, nil
  local g = {}
  for _, name in ipairs(M.FAMILY_NAMES) do
    local f = M.FAMILIES[name]
    for _, theta in ipairs(GRID) do
      for i = 1, n do g[i] = f(ts[i], theta) end
      local c, a, sse = linear_fit(ys, g, n)
      if c and sse < best_sse then
        local v = c + a * f(T, theta)
        if v == v and v > -math.huge and v < math.huge then
          best_sse, best_value, best_family = sse, v, name
        end
      end
    end
  end
  return best_value, best_family
end

return M
