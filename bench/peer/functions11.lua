-- The eleven test functions of issue 13's quality study: workload 2's four
-- (bench/peer/workloads.lua, exactly as bench/peer/optuna-side defines them) and
-- seven more standard ones, defined here and, identically, in
-- bench/peer/quality11.py (the Optuna side). Each: dim, bounds, f_min
-- (the known global minimum), f(x) with x a list.
local W = require("bench.peer.workloads")

local pi = math.pi
local M = {functions = {}}

for name, fn in pairs(W.functions) do M.functions[name] = fn end

local function box(d, lo, hi)
  local b = {}
  for i = 1, d do b[i] = {lo, hi} end
  return b
end

M.functions.camel6 = {
  dim = 2, f_min = -1.0316284534898774, bounds = {{-3, 3}, {-2, 2}},
  f = function(x)
    local a, b = x[1], x[2]
    local a2, b2 = a * a, b * b
    return (4 - 2.1 * a2 + a2 * a2 / 3) * a2 + a * b + (-4 + 4 * b2) * b2
  end,
}

M.functions.goldstein_price = {
  dim = 2, f_min = 3, bounds = {{-2, 2}, {-2, 2}},
  f = function(x)
    local a, b = x[1], x[2]
    local s, t = a + b + 1, 2 * a - 3 * b
    local p = 1 + s * s * (19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b)
    local q = 30 + t * t * (18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b)
    return p * q
  end,
}

M.functions.hartmann3 = {
  dim = 3, f_min = -3.862779787332663, bounds = box(3, 0, 1),
  f = function(x)
    local alpha = {1.0, 1.2, 3.0, 3.2}
    local A = {{3.0, 10, 30}, {0.1, 10, 35}, {3.0, 10, 30}, {0.1, 10, 35}}
    local P = {{0.3689, 0.1170, 0.2673}, {0.4699, 0.4387, 0.7470}, {0.1091, 0.8732, 0.5547},
      {0.0381, 0.5743, 0.8828}}
    return W.hartmann(x, alpha, A, P)
  end,
}

M.functions.rastrigin4 = {
  dim = 4, f_min = 0, bounds = box(4, -5.12, 5.12),
  f = function(x)
    local s = 10 * 4
    for i = 1, 4 do s = s + x[i] * x[i] - 10 * math.cos(2 * pi * x[i]) end
    return s
  end,
}

M.functions.griewank5 = {
  dim = 5, f_min = 0, bounds = box(5, -600, 600),
  f = function(x)
    local s, p = 0, 1
    for i = 1, 5 do
      s = s + x[i] * x[i] / 4000
      p = p * math.cos(x[i] / math.sqrt(i))
    end
    return s - p + 1
  end,
}

M.functions.michalewicz5 = {
  dim = 5, f_min = -4.687658179088149, bounds = box(5, 0, pi),
  f = function(x)
    local s = 0
    for i = 1, 5 do s = s - math.sin(x[i]) * math.sin(i * x[i] * x[i] / pi) ^ 20 end
    return s
  end,
}

M.functions.dixon_price6 = {
  dim = 6, f_min = 0, bounds = box(6, -10, 10),
  f = function(x)
    local s = (x[1] - 1) * (x[1] - 1)
    for i = 2, 6 do
      local t = 2 * x[i] * x[i] - x[i - 1]
      s = s + i * t * t
    end
    return s
  end,
}

M.names = {"branin", "camel6", "goldstein_price", "hartmann3", "hartmann6", "rosenbrock4", "ackley5", "rastrigin4",
  "griewank5", "michalewicz5", "dixon_price6"}

return M
