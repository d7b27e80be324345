-- The three peer workloads of bench/peer/optuna-side/README.md, defined exactly as
-- there: the test functions of workload 2 and the learning curve of
-- workload 3 (splitmix64 noise, a 1/1000-decade lr grid). All arithmetic is
-- IEEE double; squares are products; Lua 5.4 integers wrap modulo 2^64.
local M = {}

local pi = math.pi

--- -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2): the Hartmann family.
function M.hartmann(x, alpha, A, P)
  local total = 0
  for i = 1, #alpha do
    local inner = 0
    for j = 1, #x do
      local d = x[j] - P[i][j]
      inner = inner + A[i][j] * (d * d)
    end
    total = total + alpha[i] * math.exp(-inner)
  end
  return -total
end

M.functions = {
  branin = {
    dim = 2, f_min = 0.39788735772973816,
    bounds = {{-5, 10}, {0, 15}},
    f = function(x)
      local a, b, c, r, s, t = 1, 5.1 / (4 * pi * pi), 5 / pi, 6, 10, 1 / (8 * pi)
      local u = x[2] - b * x[1] * x[1] + c * x[1] - r
      return a * u * u + s * (1 - t) * math.cos(x[1]) + s
    end,
  },
  hartmann6 = {
    dim = 6, f_min = -3.3223680114155147,
    bounds = {{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}},
    f = function(x)
      local alpha = {1.0, 1.2, 3.0, 3.2}
      local A = {{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8},
        {17, 8, 0.05, 10, 0.1, 14}}
      local P = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886}, {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
        {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650}, {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}}
      return M.hartmann(x, alpha, A, P)
    end,
  },
  rosenbrock4 = {
    dim = 4, f_min = 0,
    bounds = {{-5, 10}, {-5, 10}, {-5, 10}, {-5, 10}},
    f = function(x)
      local s = 0
      for i = 1, 3 do
        local a, b = x[i + 1] - x[i] * x[i], 1 - x[i]
        s = s + 100 * (a * a) + b * b
      end
      return s
    end,
  },
  ackley5 = {
    dim = 5, f_min = 0,
    bounds = {{-32.768, 32.768}, {-32.768, 32.768}, {-32.768, 32.768}, {-32.768, 32.768}, {-32.768, 32.768}},
    f = function(x)
      local d, sq, cs = 5, 0, 0
      for i = 1, d do
        sq = sq + x[i] * x[i]
        cs = cs + math.cos(2 * pi * x[i])
      end
      return -20 * math.exp(-0.2 * math.sqrt(sq / d)) - math.exp(cs / d) + 20 + math.exp(1)
    end,
  },
}
M.function_names = {"branin", "hartmann6", "rosenbrock4", "ackley5"}

--- splitmix64 modulo 2^64 (hex literals wrap to int64; >> is logical).
function M.splitmix64(x)
  local z = x + 0x9E3779B97F4A7C15
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

--- k = floor(1000 (log10(lr) + 4) + 0.5), clamped to 0..3000.
function M.lr_index(lr)
  local k = math.floor(1000.0 * (math.log(lr, 10) + 4.0) + 0.5)
  if k < 0 then k = 0 elseif k > 3000 then k = 3000 end
  return k
end

--- Validation loss of config (k, width) after epoch t.
function M.curve_loss(k, width, t)
  local a = -4.0 + k / 1000.0
  local w = math.log(width, 2)
  local a_opt = -2.0 - 0.25 * (w - 6.5)
  local d = a - a_opt
  local u = math.max(0.0, 7.0 - w)
  local v = math.max(0.0, w - 7.0)
  local floor = 0.08 + 0.15 * (d * d) + 0.02 * (u * u)
  local rate = 0.08 * 10.0 ^ (0.5 * (a + 2.0)) * math.sqrt(w / 6.5)
  local over = 0.02 * (v * v)
  local h = M.splitmix64((k * 1024 + width) * 128 + t)
  local noise = 0.01 * (2.0 * ((h >> 11) * 2.0 ^ -53) - 1.0)
  local s = t / 100.0
  return floor + (2.5 - floor) * math.exp(-rate * t) + over * (s * s) + noise
end

M.TRUE_OPTIMUM = 0.071525032513552425

--- The second pruning workload (docs/benchmarks.md, "a second curve
--- family"), defined before any scheduler was tuned: power-law curves
--- instead of exponential ones, another optimum, more noise, and a slow
--- divergence for learning rates above 1e-2. Same space and grid as
--- curve_loss; bench/peer/pruning2.py computes the same values in Python.
function M.curve2_loss(k, width, t)
  local a = -4.0 + k / 1000.0
  local w = math.log(width, 2)
  local a_opt = -2.6 + 0.3 * (w - 6.5)
  local d = a - a_opt
  local u = math.max(0.0, 6.0 - w)
  local floor = 0.12 + 0.25 * (d * d) + 0.015 * (u * u)
  local tau = 8.0 * 10.0 ^ (-(a + 2.5))
  local beta = 0.6 + 0.1 * (w - 6.5)
  local drift = 0.0008 * math.max(0.0, a + 2.0)
  local h = M.splitmix64((k * 1024 + width) * 128 + t + 0x5EED)
  local noise = 0.015 * (2.0 * ((h >> 11) * 2.0 ^ -53) - 1.0)
  return floor + (3.0 - floor) * (1.0 + t / tau) ^ (-beta) + drift * t + noise
end

--- numpy.percentile (linear, Hyndman-Fan type 7) of a list.
function M.percentile(values, p)
  local v = {}
  for i, x in ipairs(values) do v[i] = x end
  table.sort(v)
  local n = #v
  if n == 0 then return nil end
  local pos = (n - 1) * p / 100
  local lo = math.floor(pos)
  local frac = pos - lo
  if lo + 1 >= n then return v[n] end
  return v[lo + 1] + frac * (v[lo + 2] - v[lo + 1])
end

function M.median(values) return M.percentile(values, 50) end

--- The environment part of every JSON line.
function M.env()
  local core = require("tune.core")
  local p = io.popen("uname -m")
  local machine = p and p:read("l") or "?"
  if p then p:close() end
  local q = io.popen("nproc")
  local nproc = q and tonumber(q:read("l")) or 0
  if q then q:close() end
  return {tunelua = core.version, lua = _VERSION, nproc = nproc, machine = machine}
end

return M
