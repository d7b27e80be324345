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

--- Factorises K + ratio * I, the kernel's entries given as `e` (row i:
--- exp(-distance / ls), lower triangle) times `p` (the time factor): L,
--- alpha = K^-1 y, and the log marginal likelihood with the best
--- variance; nil when singular. Only the lower triangle is built and
--- factorised.
local function factor(e, p, y, ratio)
  local n = #y
  local K = {}
  for i = 1, n do
    local row, ei, pi = {}, e[i], p[i]
    for j = 1, i do row[j] = ei[j] * pi[j] end
    row[i] = row[i] + ratio + 1e-8
    K[i] = row
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

--- The kernel's parts for rows X, computed once per fit: the squared
--- distances past the time column and the time gaps (lower triangles),
--- and, memoised by lengthscale and epsilon, their exp(-d / ls) and
--- (1 - eps) ^ (gap / 2) (the same expressions as kbase, so the same
--- numbers).
local function parts(X)
  local n, D, T = #X, {}, {}
  for i = 1, n do
    local xi, di, ti = X[i], {}, {}
    for j = 1, i do
      di[j] = sqdist(xi, X[j], 2)
      ti[j] = math.abs(xi[1] - X[j][1]) / 2
    end
    D[i], T[i] = di, ti
  end
  local by_ls, by_eps = {}, {}
  local function map(cache, key, src, f)
    local m = cache[key]
    if m then return m end
    m = {}
    for i = 1, n do
      local si, mi = src[i], {}
      for j = 1, i do mi[j] = f(si[j]) end
      m[i] = mi
    end
    cache[key] = m
    return m
  end
  return {
    e = function(ls) return map(by_ls, ls, D, function(d) return math.exp(-d / ls) end) end,
    p = function(eps) return map(by_eps, eps, T, function(t) return (1 - eps) ^ t end) end,
  }
end

local LS = {0.01, 0.03, 0.1, 0.3, 1, 3, 10}
local EPS = {0.0, 0.05, 0.1, 0.25, 0.5}
local RATIO = {1e-3, 1e-2, 0.1, 0.5}

local function model(X, ls, eps, ratio, f)
  return {X = X, n = #X, ls = ls, eps = eps, ratio = ratio, L = f.L, alpha = f.alpha, scale = f.scale, ll = f.ll}
end

--- A GP fitted to rows X (normalised) and targets y: {X, ls, eps, ratio,
--- L, alpha, scale, grid}. The lengthscale is clipped to [1e-5, 1] after
--- the fit, as Ray fixes it. The coordinate search starts from `start`
--- (a previous fit's `grid`: the data change little between exploits)
--- or from lengthscale 1, epsilon 0.1, ratio 0.1, and sweeps each
--- coordinate over its grid twice; a setting visited twice is
--- factorised once (a sweep that moved nothing costs no second one).
function M.fit(X, y, start)
  local kp = parts(X)
  local best = start and {ls = start.ls, eps = start.eps, ratio = start.ratio} or {ls = 1, eps = 0.1, ratio = 0.1}
  local seen = {}
  local function try(ls, eps, ratio)
    local key = ls .. "/" .. eps .. "/" .. ratio
    if seen[key] then return end
    seen[key] = true
    local f = factor(kp.e(ls), kp.p(eps), y, ratio)
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
  local m
  if best.f and ls == best.ls then m = model(X, ls, best.eps, best.ratio, best.f)
  else m = M.with(X, y, ls, best.eps, best.ratio) end
  if m then m.grid = {ls = best.ls, eps = best.eps, ratio = best.ratio} end
  return m
end

--- A GP on X, y with given kernel parameters (no fit); nil when singular.
function M.with(X, y, ls, eps, ratio)
  eps = math.min(eps, EPS_MAX)
  local kp = parts(X)
  local e, p = kp.e(ls), kp.p(eps)
  local f = factor(e, p, y, ratio) or factor(e, p, y, ratio + 1e-3)
  if not f then return nil end
  return model(X, ls, eps, ratio, f)
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

--- The kernel's values k(X[i], x) against each row of `g` at the points
--- x = fixed .. h, for many h: the fixed columns' part of each row's
--- distance, and its time factor, are computed once (summed in kbase's
--- order, so the values are the same).
local function kernel_at(g, fixed)
  local nf, n, X, ls = #fixed, g.n, g.X, g.ls
  local s0, tf = {}, {}
  for i = 1, n do
    local xi, s = X[i], 0
    for c = 2, nf do
      local dc = xi[c] - fixed[c]
      s = s + dc * dc
    end
    s0[i] = s
    tf[i] = (1 - g.eps) ^ (math.abs(xi[1] - fixed[1]) / 2)
  end
  return function(h)
    local ks, d = {}, #h
    for i = 1, n do
      local xi, s = X[i], s0[i]
      for c = 1, d do
        local dc = xi[nf + c] - h[c]
        s = s + dc * dc
      end
      ks[i] = math.exp(-s / ls) * tf[i]
    end
    return ks
  end
end

--- Ray's UCB at x = fixed .. h, as a function of h: the mean of `m` plus
--- kappa times the variance of `m1` (the model that also holds the
--- points already chosen this round), with kappa = sqrt(0.2 log(0.4 n))
--- (0 while that is negative); `kappa` overrides it. The same numbers as
--- M.predict's, without the variance of `m` (unused).
local function ucb(m, m1, fixed, kappa)
  if kappa == nil then kappa = math.sqrt(math.max(0.2 * math.log(0.4 * m.n), 0)) end
  local k, k1 = kernel_at(m, fixed), m1 ~= m and kernel_at(m1, fixed)
  local n, n1, alpha, L1, scale1 = m.n, m1.n, m.alpha, m1.L, m1.scale
  return function(h)
    local ks = k(h)
    local mean = 0
    for i = 1, n do mean = mean + ks[i] * alpha[i] end
    if kappa == 0 then return mean end
    local v = forward(L1, k1 and k1(h) or ks, n1)
    local s = 0
    for i = 1, n1 do s = s + v[i] * v[i] end
    return mean + kappa * math.max(scale1 * (1 - s), 0)
  end
end

--- The pattern search's smallest step, in a hyperparameter's range;
--- every start goes down to STEP_COARSE, the best one on to STEP_MIN.
local STEP_COARSE, STEP_MIN = 1e-3, 1e-7

--- Pattern search from h (value v) with steps halving from `step` while
--- they are above `stop`: the value reached and the next step.
local function search(value, h, v, step, stop)
  while step > stop do
    local moved = false
    for i = 1, #h do
      for dir = -1, 1, 2 do
        local old = h[i]
        h[i] = math.min(math.max(old - dir * step, 0), 1)
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
  return v, step
end

--- The hyperparameters (d values in [0, 1]) that maximise the UCB with
--- the first columns fixed to `fixed`: 10 random starts (Ray's), each
--- refined by a pattern search (steps halving from 0.25) to STEP_COARSE,
--- and the best of them on to STEP_MIN (a start behind by then differs
--- by less than the rest of a search moves; the last 13 halvings cost
--- each start 4 d evaluations, O(n^2) each).
function M.optimize(m, m1, fixed, d, rng, kappa)
  local value = ucb(m, m1, fixed, kappa)
  local best, best_v, best_step = nil, -math.huge, nil
  for _ = 1, 10 do
    local h = {}
    for i = 1, d do h[i] = rng:random() end
    local v, step = search(value, h, value(h), 0.25, STEP_COARSE)
    if v > best_v then best, best_v, best_step = h, v, step end
  end
  search(value, best, best_v, best_step, STEP_MIN)
  return best
end

return M
