--- The Gaussian-process bandit under tune.schedulers.PB2 (Ray's
--- pb2_utils): a GP with PB2's time-varying squared-exponential kernel,
--- fitted by maximum marginal likelihood, and the UCB acquisition
--- maximised over the hyperparameters with the time and reward fixed.
---
--- Rows are {t, r, x1, ..., xd} already normalised to [0, 1]; column 1 is
--- time. The kernel is
---   k(a, b) = variance * exp(-|a[2..] - b[2..]|^2 / lengthscale)
---             * (1 - epsilon) ^ (|a[1] - b[1]| / 2)
--- plus a Gaussian noise variance on the diagonal. Ray fits variance,
--- lengthscale, epsilon and the noise with GPy's L-BFGS-B; here a
--- coordinate search over a log grid for lengthscale, epsilon and the
--- noise-to-signal ratio, with the variance in closed form (for a fixed
--- ratio the likelihood's best scale is y' K^-1 y / n).
local M = {}

local EPS_MAX = 0.5 -- Ray clips epsilon to 0.5

local function sqdist(a, b, from)
  local s = 0
  for i = from, #a do
    local d = a[i] - b[i]
    s = s + d * d
  end
  return s
end

--- The kernel without its variance (the variance scales it).
local function kbase(a, b, ls, eps)
  return math.exp(-sqdist(a, b, 2) / ls) * (1 - eps) ^ (math.abs(a[1] - b[1]) / 2)
end

--- Cholesky factor (lower) of the n x n matrix `a` (rows of a table), in
--- place; false when it is not positive definite.
local function cholesky(a, n)
  for j = 1, n do
    local rj = a[j]
    local s = rj[j]
    for k = 1, j - 1 do s = s - rj[k] * rj[k] end
    if s <= 0 or s ~= s then return false end
    local d = math.sqrt(s)
    rj[j] = d
    for i = j + 1, n do
      local ri = a[i]
      local v = ri[j]
      for k = 1, j - 1 do v = v - ri[k] * rj[k] end
      ri[j] = v / d
    end
  end
  return true
end

--- Solves L z = b (forward) for lower-triangular L.
local function forward(l, b, n)
  local z = {}
  for i = 1, n do
    local li, v = l[i], b[i]
    for k = 1, i - 1 do v = v - li[k] * z[k] end
    z[i] = v / li[i]
  end
  return z
end

--- Solves L' x = z (backward).
local function backward(l, z, n)
  local x = {}
  for i = n, 1, -1 do
    local v = z[i]
    for k = i + 1, n do v = v - l[k][i] * x[k] end
    x[i] = v / l[i][i]
  end
  return x
end

--- Factorises K + ratio * I for these parameters: L, alpha = K^-1 y, and
--- the log marginal likelihood with the best variance; nil when singular.
local function factor(X, y, ls, eps, ratio)
  local n = #X
  local K = {}
  for i = 1, n do
    local row = {}
    for j = 1, i do row[j] = kbase(X[i], X[j], ls, eps) end
    row[i] = row[i] + ratio + 1e-8
    K[i] = row
  end
  for i = 1, n do
    for j = i + 1, n do K[i][j] = K[j][i] end
  end
  if not cholesky(K, n) then return nil end
  local z = forward(K, y, n)
  local quad = 0
  for i = 1, n do quad = quad + z[i] * z[i] end
  local scale = math.max(quad / n, 1e-10)
  local logdet = 0
  for i = 1, n do logdet = logdet + math.log(K[i][i]) end
  -- log N(y | 0, scale * (Kb + ratio I)), with scale at its optimum.
  local ll = -0.5 * n * (1 + math.log(2 * math.pi * scale)) - logdet -- quad / scale == n there
  return {L = K, alpha = backward(K, z, n), scale = scale, ll = ll}
end

local LS = {0.01, 0.03, 0.1, 0.3, 1, 3, 10}
local EPS = {0.0, 0.05, 0.1, 0.25, 0.5}
local RATIO = {1e-3, 1e-2, 0.1, 0.5}

--- A GP fitted to rows X (normalised) and targets y: {X, ls, eps, ratio,
--- L, alpha, scale}. The lengthscale is clipped to [1e-5, 1] after the
--- fit, as Ray fixes it.
function M.fit(X, y)
  local best = {ls = 1, eps = 0.1, ratio = 0.1}
  local function try(ls, eps, ratio)
    local f = factor(X, y, ls, eps, ratio)
    if f and (best.f == nil or f.ll > best.f.ll) then best = {ls = ls, eps = eps, ratio = ratio, f = f} end
  end
  try(best.ls, best.eps, best.ratio)
  for _ = 1, 2 do
    local b = best
    for _, ls in ipairs(LS) do try(ls, b.eps, b.ratio) end
    b = best
    for _, eps in ipairs(EPS) do try(b.ls, eps, b.ratio) end
    b = best
    for _, r in ipairs(RATIO) do try(b.ls, b.eps, r) end
  end
  local ls = math.min(math.max(best.ls, 1e-5), 1)
  return M.with(X, y, ls, best.eps, best.ratio)
end

--- A GP on X, y with given kernel parameters (no fit); nil when singular.
function M.with(X, y, ls, eps, ratio)
  eps = math.min(eps, EPS_MAX)
  local f = factor(X, y, ls, eps, ratio)
  if not f then f = factor(X, y, ls, eps, ratio + 1e-3) end
  if not f then return nil end
  return {X = X, n = #X, ls = ls, eps = eps, ratio = ratio, L = f.L, alpha = f.alpha, scale = f.scale}
end

--- Predictive mean and variance at x.
function M.predict(gp, x)
  local n = gp.n
  local ks = {}
  for i = 1, n do ks[i] = kbase(gp.X[i], x, gp.ls, gp.eps) end
  local mean = 0
  for i = 1, n do mean = mean + ks[i] * gp.alpha[i] end
  local v = forward(gp.L, ks, n)
  local s = 0
  for i = 1, n do s = s + v[i] * v[i] end
  return mean, math.max(gp.scale * (1 - s), 0)
end

--- Ray's UCB: the mean of `m` plus kappa times the variance of `m1` (the
--- model that also holds the points already chosen this round), with
--- kappa = sqrt(0.2 log(0.4 n)) (0 while that is negative); `kappa`
--- overrides it.
function M.ucb(m, m1, x, kappa)
  if kappa == nil then kappa = math.sqrt(math.max(0.2 * math.log(0.4 * m.n), 0)) end
  local mean = M.predict(m, x)
  if kappa == 0 then return mean end
  local _, var = M.predict(m1, x)
  return mean + kappa * var
end

--- The hyperparameters (d values in [0, 1]) that maximise the UCB with
--- the first columns fixed to `fixed`: 10 random starts, each refined by
--- a pattern search (steps halving from 0.25 to 1e-7).
function M.optimize(m, m1, fixed, d, rng, kappa)
  local nf = #fixed
  local function value(h)
    local x = {}
    for i = 1, nf do x[i] = fixed[i] end
    for i = 1, d do x[nf + i] = h[i] end
    return M.ucb(m, m1, x, kappa)
  end
  local best, best_v = nil, -math.huge
  for _ = 1, 10 do
    local h = {}
    for i = 1, d do h[i] = rng:random() end
    local v = value(h)
    local step = 0.25
    while step > 1e-7 do
      local moved = false
      for i = 1, d do
        for _, dir in ipairs({step, -step}) do
          local old = h[i]
          h[i] = math.min(math.max(old + dir, 0), 1)
          local nv = value(h)
          if nv > v then
            v, moved = nv, true
          else
            h[i] = old
          end
        end
      end
      if not moved then step = step / 2 end
    end
    if v > best_v then best, best_v = h, v end
  end
  return best
end

return M
