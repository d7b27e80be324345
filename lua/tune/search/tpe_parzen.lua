--- tune.search.tpe_parzen: the univariate Parzen estimators of TPESearch
--- (internal). One estimator is a mixture of truncated normals (numeric
--- parameters, in the parameter's internal space: log for log domains) or
--- of smoothed one-hot rows (categorical parameters), built as Optuna 3.1's
--- _ParzenEstimator builds them: the prior component, bandwidths from the
--- neighbour distances, the magic clip, the weights.
---
--- The normal CDF comes from erfc, a port of FreeBSD's s_erf.c by way of
--- musl (src/math/erf.c), whose notice says:
---   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
---   Developed at SunPro, a Sun Microsystems, Inc. business.
---   Permission to use, copy, modify, and distribute this
---   software is freely granted, provided that this notice
---   is preserved.
local M = {}

local exp, log, sqrt, floor, huge = math.exp, math.log, math.sqrt, math.floor, math.huge
local HALF_LOG_2PI = 0.5 * log(2 * math.pi)
local INV_SQRT2 = 1 / sqrt(2)
--- Terms more than this below the running maximum are left out of a
--- log-sum-exp: e^-50 is 2e-22, far below a double's resolution.
local CUTOFF = 50
--- -log of the smallest truncation mass a component can have (its mean
--- inside the bounds, its sigma at most the range: Phi(1) - 1/2 = 0.341).
local LOGZ_BOUND = 1.1
M.EPS = 1e-12

-- ---------------------------------------------------------------------
-- Special functions.

local erx = 8.45062911510467529297e-01
local pp0, pp1, pp2, pp3, pp4 = 1.28379167095512558561e-01, -3.25042107247001499370e-01,
  -2.84817495755985104766e-02, -5.77027029648944159157e-03, -2.37630166566501626084e-05
local qq1, qq2, qq3, qq4, qq5 = 3.97917223959155352819e-01, 6.50222499887672944485e-02,
  5.08130628187576562776e-03, 1.32494738004321644526e-04, -3.96022827877536812320e-06
local pa0, pa1, pa2, pa3, pa4, pa5, pa6 = -2.36211856075265944077e-03, 4.14856118683748331666e-01,
  -3.72207876035701323847e-01, 3.18346619901161753674e-01, -1.10894694282396677476e-01,
  3.54783043256182359371e-02, -2.16637559486879084300e-03
local qa1, qa2, qa3, qa4, qa5, qa6 = 1.06420880400844228286e-01, 5.40397917702171048937e-01,
  7.18286544141962662868e-02, 1.26171219808761642112e-01, 1.36370839120290507362e-02,
  1.19844998467991074170e-02
local ra0, ra1, ra2, ra3, ra4, ra5, ra6, ra7 = -9.86494403484714822705e-03, -6.93858572707181764372e-01,
  -1.05586262253232909814e+01, -6.23753324503260060396e+01, -1.62396669462573470355e+02,
  -1.84605092906711035994e+02, -8.12874355063065934246e+01, -9.81432934416914548592e+00
local sa1, sa2, sa3, sa4, sa5, sa6, sa7, sa8 = 1.96512716674392571292e+01, 1.37657754143519042600e+02,
  4.34565877475229228821e+02, 6.45387271733267880336e+02, 4.29008140027567833386e+02,
  1.08635005541779435134e+02, 6.57024977031928170135e+00, -6.04244152148580987438e-02
local rb0, rb1, rb2, rb3, rb4, rb5, rb6 = -9.86494292470009928597e-03, -7.99283237680523006574e-01,
  -1.77579549177547519889e+01, -1.60636384855821916062e+02, -6.37566443368389627722e+02,
  -1.02509513161107724954e+03, -4.83519191608651397019e+02
local sb1, sb2, sb3, sb4, sb5, sb6, sb7 = 3.03380607434824582924e+01, 3.25792512996573918826e+02,
  1.53672958608443695994e+03, 3.19985821950859553908e+03, 2.55305040643316442583e+03,
  4.74528541206955367215e+02, -2.24409524465858183362e+01

--- erfc(x), accurate to about 1 ulp and relatively accurate in the tail.
local function erfc(x)
  if x ~= x then return x end
  local ax = x < 0 and -x or x
  if ax < 0.84375 then
    if ax < 0x1p-56 then return 1.0 - x end
    local z = x * x
    local r = pp0 + z * (pp1 + z * (pp2 + z * (pp3 + z * pp4)))
    local s = 1.0 + z * (qq1 + z * (qq2 + z * (qq3 + z * (qq4 + z * qq5))))
    local y = r / s
    if x < 0.25 then return 1.0 - (x + x * y) end
    return 0.5 - (x * y + (x - 0.5))
  end
  if ax < 1.25 then
    local s = ax - 1.0
    local P = pa0 + s * (pa1 + s * (pa2 + s * (pa3 + s * (pa4 + s * (pa5 + s * pa6)))))
    local Q = 1.0 + s * (qa1 + s * (qa2 + s * (qa3 + s * (qa4 + s * (qa5 + s * qa6)))))
    if x >= 0 then return (1.0 - erx) - P / Q end
    return 1.0 + (erx + P / Q)
  end
  if ax < 28 then
    if x < -6 then return 2.0 end
    local s = 1.0 / (ax * ax)
    local R, S
    if ax < 1 / 0.35 then
      R = ra0 + s * (ra1 + s * (ra2 + s * (ra3 + s * (ra4 + s * (ra5 + s * (ra6 + s * ra7))))))
      S = 1.0 + s * (sa1 + s * (sa2 + s * (sa3 + s * (sa4 + s * (sa5 + s * (sa6 + s * (sa7 + s * sa8)))))))
    else
      R = rb0 + s * (rb1 + s * (rb2 + s * (rb3 + s * (rb4 + s * (rb5 + s * rb6)))))
      S = 1.0 + s * (sb1 + s * (sb2 + s * (sb3 + s * (sb4 + s * (sb5 + s * (sb6 + s * sb7))))))
    end
    -- z: ax with its low bits cleared, so that z*z is exact.
    local z = floor(ax * 65536) / 65536
    local r = exp(-z * z - 0.5625) * exp((z - ax) * (z + ax) + R / S)
    if x > 0 then return r / ax end
    return 2.0 - r / ax
  end
  if x > 0 then return 0.0 end
  return 2.0
end
M.erfc = erfc

--- Phi(z), the standard normal CDF.
local function ndtr(z)
  return 0.5 * erfc(-z * INV_SQRT2)
end
M.ndtr = ndtr

local function log1p(x)
  local u = 1.0 + x
  if u == 1.0 then return x end
  return log(u) * x / (u - 1.0)
end
M.log1p = log1p

local function expm1(x)
  local u = exp(x)
  if u == 1.0 then return x end
  local um1 = u - 1.0
  if um1 == -1.0 then return -1.0 end
  return um1 * x / log(u)
end

--- log(1 - e^x) for x <= 0.
local function log1mexp(x)
  if x > -0.6931471805599453 then return log(-expm1(x)) end
  return log1p(-exp(x))
end

--- log Phi(z), accurate far into the lower tail.
local function log_ndtr(z)
  if z > 6 then return -ndtr(-z) end -- log1p(-tiny)
  if z > -37 then return log(ndtr(z)) end
  -- Asymptotic series: Phi(z) = phi(z)/(-z) (1 - 1/z^2 + 3/z^4 - 15/z^6 ...).
  local z2 = 1 / (z * z)
  local series = 1 - z2 * (1 - z2 * (3 - z2 * (15 - z2 * 105)))
  return -0.5 * z * z - HALF_LOG_2PI - log(-z) + log(series)
end
M.log_ndtr = log_ndtr

--- log(Phi(b) - Phi(a)) for a <= b (Optuna's _log_gauss_mass).
local function log_gauss_mass(a, b)
  if b <= 0 then
    local lb = log_ndtr(b)
    return lb + log1mexp(log_ndtr(a) - lb)
  elseif a > 0 then
    local la = log_ndtr(-a)
    return la + log1mexp(log_ndtr(-b) - la)
  end
  -- a <= 0 < b: 1 - Phi(a) - Phi(-b); Phi(a) underflows to 0 below -39.
  local pa = a > -39 and ndtr(a) or 0.0
  local pb = b < 39 and ndtr(-b) or 0.0
  return log1p(-pa - pb)
end
M.log_gauss_mass = log_gauss_mass

-- ---------------------------------------------------------------------
-- Weights (Optuna 3.1's default_weights): the newest 25 observations
-- weigh 1, older ones ramp linearly from 1/n.

--- The weight of the observation of chronological rank r (1 = oldest) out of n.
function M.default_weight(r, n)
  if n < 25 or r > n - 25 then return 1.0 end
  local num = n - 25
  if num == 1 then return 1.0 / n end -- linspace(start, stop, 1) is [start]
  if r == num then return 1.0 end     -- and otherwise ends exactly at stop
  return (r - 1) * ((1.0 - 1.0 / n) / (num - 1)) + 1.0 / n
end

-- ---------------------------------------------------------------------
-- Numeric estimators.
--
-- An estimator is a reusable table: n, and sorted by mean, mu[], sg[]
-- (sigma), lw[] (log of the normalised weight); the prior component is
-- kept apart (pmu, psg, plw, plz) so that it does not weaken the bounds
-- below. For the density at x each component adds
--   exp(la[i] - h[i] (x - mu[i])^2),  la = lw - log sqrt(2 pi) - log Z,
--   h = 1 / (2 sg^2), Z its mass inside [low, high].
-- As in Optuna 3.1 to 3.4, a component's density leaves out its 1/sigma
-- (their _truncnorm.logpdf did not subtract log(scale); Optuna 3.5 fixed
-- it): o.exact_density = true puts it back.
-- a walk outwards from x ends when the prefix (suffix) maxima of la and
-- minima of h prove that every component left is below e^-50 of the
-- largest term. Quantized parameters use the mass of the value's cell
-- instead (lz[] is then computed when first needed).

local function new_estimator()
  return {n = 0, mu = {}, sg = {}, lw = {}, lz = {}, la = {}, h = {}, kb = {},
    pk = {}, ph = {}, sk = {}, sh = {}, wr = {}, cum = {}}
end
M.new_estimator = new_estimator

--- log Z of a component: its mass inside [low, high]. A bound more than
--- 8.5 sigma away leaves out less than 1e-17 and counts as none.
local function log_mass_inside(a, b)
  if a < -8.5 and b > 8.5 then return 0.0 end
  return log_gauss_mass(a, b)
end

--- Builds `est` for parameter `p` (fields low, high, range, prior_mu,
--- prior_sigma, q, finite) from m observations: vals[1..m] sorted
--- ascending with raw weights ws[1..m]. o: {consider_prior, prior_weight,
--- consider_magic_clip, consider_endpoints}.
function M.build(est, p, vals, ws, m, o)
  local consider_prior = o.consider_prior or m == 0
  local low, high, range = p.low, p.high, p.range
  local N = consider_prior and m + 1 or m
  -- All means, the prior's inserted in order (after equal values).
  local mu, wr = est.mu, est.wr
  local ppos = 0
  do
    local pm = p.prior_mu
    local j = 1
    for i = 1, m do
      local v = vals[i]
      if consider_prior and ppos == 0 and pm < v then
        ppos = j
        mu[j], wr[j] = pm, o.prior_weight
        j = j + 1
      end
      mu[j], wr[j] = v, ws[i]
      j = j + 1
    end
    if consider_prior and ppos == 0 then
      ppos = j
      mu[j], wr[j] = pm, o.prior_weight
    end
  end
  -- Bandwidths: the larger distance to a neighbour (the bounds at the ends).
  local sg = est.sg
  for i = 1, N do
    local left = i == 1 and low or mu[i - 1]
    local right = i == N and high or mu[i + 1]
    local a, b = mu[i] - left, right - mu[i]
    sg[i] = a > b and a or b
  end
  if not o.consider_endpoints and N >= 2 then
    sg[1] = mu[2] - mu[1]
    sg[N] = mu[N] - mu[N - 1]
  end
  local maxs = range
  local mins = o.consider_magic_clip and range / math.min(100.0, 1.0 + N) or M.EPS
  local total = 0.0
  for i = 1, N do
    local s = sg[i]
    if s < mins then s = mins elseif s > maxs then s = maxs end
    sg[i] = s
    total = total + wr[i]
  end
  local quant = p.q ~= nil
  local finite = p.finite
  est.has_prior = consider_prior
  if consider_prior then
    local pm, ps = p.prior_mu, p.prior_sigma
    est.pmu, est.psg, est.plw = pm, ps, log(o.prior_weight / total)
    est.plz = finite and log_mass_inside((low - pm) / ps, (high - pm) / ps) or 0.0
    est.pla = est.plw - (o.exact_density and log(ps) or 0.0) - HALF_LOG_2PI - est.plz
    est.ph0 = 0.5 / (ps * ps)
  end
  -- The other components, the prior moved out.
  local lw, lz, la, h, kb = est.lw, est.lz, est.la, est.h, est.kb
  local zb = finite and LOGZ_BOUND or 0.0
  local exact = o.exact_density
  local j = 0
  for i = 1, N do
    if i ~= ppos then
      j = j + 1
      local s, m_ = sg[i], mu[i]
      mu[j], sg[j] = m_, s
      local w = log(wr[i] / total)
      lw[j] = w
      h[j] = 0.5 / (s * s)
      if quant then
        lz[j] = false
        kb[j] = w + zb
      else
        local z = finite and log_mass_inside((low - m_) / s, (high - m_) / s) or 0.0
        la[j] = w - (exact and log(s) or 0.0) - HALF_LOG_2PI - z
        kb[j] = la[j]
      end
    end
  end
  est.n = j
  -- Prefix and suffix maxima of kb and minima of h, to end a walk early.
  local pk, ph, sk, sh = est.pk, est.ph, est.sk, est.sh
  local k, hh = -huge, huge
  for i = 1, j do
    if kb[i] > k then k = kb[i] end
    if h[i] < hh then hh = h[i] end
    pk[i], ph[i] = k, hh
  end
  k, hh = -huge, huge
  for i = j, 1, -1 do
    if kb[i] > k then k = kb[i] end
    if h[i] < hh then hh = h[i] end
    sk[i], sh[i] = k, hh
  end
  -- Cumulative weights (prior last) for sampling.
  local cum, c = est.cum, 0.0
  for i = 1, j do
    c = c + exp(lw[i])
    cum[i] = c
  end
  est.total_w = consider_prior and (c + exp(est.plw)) or c
  return est
end

--- The last position whose mean is <= x (0 when none).
local function position(mu, n, x)
  local lo, hi = 0, n
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if mu[mid] <= x then lo = mid else hi = mid - 1 end
  end
  return lo
end

--- The walk's ends: the bound B(i) = kmax(i) - hmin(i) d(i)^2 only falls
--- as i moves away from x, so a binary search finds the last i with
--- B(i) >= cut, on the left of x (over 1..lo) and on its right (lo+1..n).
local function left_end(mu, pk, ph, lo, x, cut)
  local a, b = 1, lo + 1 -- the answer is in [a, b]; b = lo + 1: none
  while a < b do
    local mid = (a + b) // 2
    local d = x - mu[mid]
    if pk[mid] - ph[mid] * d * d >= cut then b = mid else a = mid + 1 end
  end
  return a
end

local function right_end(mu, sk, sh, lo, n, x, cut)
  local a, b = lo, n -- the answer is in [a, b]; a = lo: none
  while a < b do
    local mid = (a + b + 1) // 2
    local d = mu[mid] - x
    if sk[mid] - sh[mid] * d * d >= cut then a = mid else b = mid - 1 end
  end
  return a
end

--- log of the mixture density at x (continuous parameters).
local function logpdf_cont(est, x)
  local n, mu, la, h = est.n, est.mu, est.la, est.h
  local lo = position(mu, n, x)
  -- A reference near the largest term: the prior's and the neighbours'.
  local ref, tp = -huge, nil
  if est.has_prior then
    local d = x - est.pmu
    tp = est.pla - est.ph0 * d * d
    ref = tp
  end
  if lo >= 1 then
    local d = x - mu[lo]
    local t = la[lo] - h[lo] * d * d
    if t > ref then ref = t end
  end
  if lo < n then
    local d = mu[lo + 1] - x
    local t = la[lo + 1] - h[lo + 1] * d * d
    if t > ref then ref = t end
  end
  if ref == -huge then return -huge end
  local cut = ref - CUTOFF
  local first = left_end(mu, est.pk, est.ph, lo, x, cut)
  local last = right_end(mu, est.sk, est.sh, lo, n, x, cut)
  local S
  if tp and ref < 600 and ref > -600 then
    -- The prior's term keeps the sum a normal number: no rescaling.
    S = exp(tp)
    for i = first, last do
      local d = x - mu[i]
      S = S + exp(la[i] - h[i] * d * d)
    end
    return log(S)
  end
  S = tp and exp(tp - ref) or 0.0
  for i = first, last do
    local d = x - mu[i]
    S = S + exp(la[i] - h[i] * d * d - ref)
  end
  return ref + log(S)
end

--- log of the mixture's mass on the cell of the quantized value x.
local function logpdf_quant(est, p, x)
  local low, high, q = p.low, p.high, p.q
  local ub = x + 0.5 * q
  local lb = x - 0.5 * q
  if ub > high then ub = high end
  if lb < low then lb = low end
  local finite = p.finite
  -- Terms in log space, summed against a running maximum.
  local M_, S = -huge, 0.0
  if est.has_prior then
    local m, s = est.pmu, est.psg
    M_, S = est.plw - est.plz + log_gauss_mass((lb - m) / s, (ub - m) / s), 1.0
  end
  local n, mu, sg, lw, lz, h = est.n, est.mu, est.sg, est.lw, est.lz, est.h
  local lo = position(mu, n, x)
  local pk, ph, sk, sh = est.pk, est.ph, est.sk, est.sh
  for pass = 1, 2 do
    local first, last, step = lo, 1, -1
    if pass == 2 then first, last, step = lo + 1, n, 1 end
    for i = first, last, step do
      local m = mu[i]
      local d = pass == 1 and lb - m or m - ub
      if d > 0 then
        local bound = pass == 1 and (pk[i] - ph[i] * d * d) or (sk[i] - sh[i] * d * d)
        if bound < M_ - CUTOFF then break end
      end
      local s = sg[i]
      local z = lz[i]
      if not z then
        z = finite and log_mass_inside((low - m) / s, (high - m) / s) or 0.0
        lz[i] = z
      end
      local t = lw[i] - z + log_gauss_mass((lb - m) / s, (ub - m) / s)
      if t > M_ then
        S = S * exp(M_ - t) + 1.0
        M_ = t
      elseif t > M_ - CUTOFF then
        S = S + exp(t - M_)
      end
    end
  end
  return M_ + log(S)
end

--- log density (or cell mass, when p.q is set) of the mixture at x.
function M.logpdf(est, p, x)
  if p.q then return logpdf_quant(est, p, x) end
  return logpdf_cont(est, x)
end

--- One draw from the mixture: a component by weight, then its normal
--- truncated to [low, high] (by rejection: a component keeps at least a
--- third of its mass inside).
function M.sample(est, p, rng)
  local u = rng:random() * est.total_w
  local m, s
  local n, cum = est.n, est.cum
  if n > 0 and u < cum[n] then
    local lo, hi = 1, n
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] > u then hi = mid else lo = mid + 1 end
    end
    m, s = est.mu[lo], est.sg[lo]
  elseif est.has_prior then
    m, s = est.pmu, est.psg
  else
    m, s = est.mu[n], est.sg[n]
  end
  local low, high = p.low, p.high
  while true do
    local x = rng:normal(m, s)
    if x >= low and x <= high then return x end
  end
end

-- ---------------------------------------------------------------------
-- Categorical estimators: the mixture's probability of each category.

--- Fills probs[1..K] from m observations (category indices idx[1..m], raw
--- weights ws[1..m]).
function M.build_categorical(probs, K, idx, ws, m, o)
  local consider_prior = o.consider_prior or m == 0
  local total = 0.0
  for i = 1, m do total = total + ws[i] end
  local pw = consider_prior and o.prior_weight or 0.0
  total = total + pw
  -- Each observation's row: prior_weight / (m + 1) everywhere (m without
  -- the prior), plus 1 at its category, normalised.
  local v = consider_prior and o.prior_weight / (m + 1) or o.prior_weight / m
  local row_norm = K * v + 1.0
  local base = (total - pw) / total * v / row_norm + (pw / total) / K
  for c = 1, K do probs[c] = base end
  for i = 1, m do
    local c = idx[i]
    probs[c] = probs[c] + ws[i] / total / row_norm
  end
  return probs
end

return M
