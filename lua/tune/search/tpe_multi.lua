--- tune.search.tpe_multi: Optuna 3.1's multivariate TPE (TPESampler with
--- multivariate=True), internal to TPESearch. The unconditional
--- parameters are modelled jointly: each side (below, above) is a mixture
--- whose components are whole observations (one per trial, plus the prior),
--- so a candidate is drawn as one trial's neighbourhood in every dimension
--- at once, and scored by the joint densities l(x) / g(x). Bandwidths are
--- Optuna's multivariate rule: 0.2 * n^(-1 / (D + 4)) * range for every
--- observation of a numeric parameter (D parameters), the prior's the
--- whole range, clipped as Optuna clips them; a categorical component is
--- its observation smoothed by the prior weight.
local parzen = require("tune.search.tpe_parzen")

local M = {}

local log, exp, sqrt, huge = math.log, math.exp, math.sqrt, math.huge
local HALF_LOG_2PI = 0.5 * log(2 * math.pi)

--- One side's mixture over `params` from the observations `obs` (lists of
--- internal values by parameter name, oldest first) with raw weights `ws`.
local function build(params, obs, ws, o, D)
  local n = #obs
  local consider_prior = o.consider_prior or n == 0
  local mix = {n = n + (consider_prior and 1 or 0), lw = {}, dims = {}}
  local total = 0
  for i = 1, n do total = total + ws[i] end
  if consider_prior then total = total + o.prior_weight end
  for i = 1, n do mix.lw[i] = log(ws[i] / total) end
  if consider_prior then mix.lw[n + 1] = log(o.prior_weight / total) end
  for _, p in ipairs(params) do
    local d = {p = p}
    if p.kind == "cat" then
      -- Rows: each observation's category plus prior_weight / (n + prior)
      -- spread evenly, normalised (Optuna's _calculate_categorical_params).
      local base = o.prior_weight / mix.n
      d.logp = {}
      for i = 1, mix.n do
        local row, sum = {}, 0
        for k = 1, p.K do
          row[k] = base + ((i <= n and obs[i][p.name] == k) and 1 or 0)
          sum = sum + row[k]
        end
        for k = 1, p.K do row[k] = log(row[k] / sum) end
        d.logp[i] = row
      end
    else
      local range = p.finite and (p.high - p.low) or p.range
      local sigma = 0.2 * math.max(n, 1) ^ (-1 / (D + 4)) * range
      local minsigma = o.consider_magic_clip and range / math.min(100, 1 + mix.n) or parzen.EPS
      d.mu, d.sg, d.lz = {}, {}, {}
      for i = 1, mix.n do
        local mu, sg
        if i <= n then mu, sg = obs[i][p.name], sigma
        else mu, sg = p.finite and 0.5 * (p.low + p.high) or p.prior_mu, range end
        sg = math.min(math.max(sg, minsigma), range)
        d.mu[i], d.sg[i] = mu, sg
        d.lz[i] = p.finite and parzen.log_gauss_mass((p.low - mu) / sg, (p.high - mu) / sg) or 0.0
      end
    end
    mix.dims[#mix.dims + 1] = d
  end
  return mix
end

--- log density of the mixture at internal values x (by parameter name).
local function logpdf(mix, x, exact)
  local terms, best = {}, -huge
  for i = 1, mix.n do
    local s = mix.lw[i]
    for _, d in ipairs(mix.dims) do
      local p, v = d.p, x[d.p.name]
      if p.kind == "cat" then
        s = s + d.logp[i][v]
      elseif p.q then
        local mu, sg = d.mu[i], d.sg[i]
        local lo, hi = v - 0.5 * p.q, v + 0.5 * p.q
        if p.finite then lo, hi = math.max(lo, p.low), math.min(hi, p.high) end
        s = s + parzen.log_gauss_mass((lo - mu) / sg, (hi - mu) / sg) - d.lz[i]
      else
        local z = (v - d.mu[i]) / d.sg[i]
        s = s - 0.5 * z * z - HALF_LOG_2PI - d.lz[i]
        -- Optuna 3.1's truncated normal leaves out log(sigma) (see tpe_parzen).
        if exact then s = s - log(d.sg[i]) end
      end
    end
    terms[i] = s
    if s > best then best = s end
  end
  if best == -huge then return best end
  local sum = 0
  for i = 1, mix.n do sum = sum + exp(terms[i] - best) end
  return best + log(sum)
end

--- One joint draw from the mixture: a component, then each dimension from
--- it. Returns external and internal values by name.
local function draw(mix, rng)
  local u, c, k = rng:random(), 0, mix.n
  for i = 1, mix.n do
    c = c + exp(mix.lw[i])
    if u < c then k = i break end
  end
  local ext, int = {}, {}
  for _, d in ipairs(mix.dims) do
    local p = d.p
    if p.kind == "cat" then
      local v, acc, pick = rng:random(), 0, p.K
      for j = 1, p.K do
        acc = acc + exp(d.logp[k][j])
        if v < acc then pick = j break end
      end
      ext[p.name], int[p.name] = pick, pick
    else
      local x
      repeat x = rng:normal(d.mu[k], d.sg[k]) until not p.finite or (x >= p.low and x <= p.high)
      local e = p.external(x)
      ext[p.name], int[p.name] = e, p.internal(e)
    end
  end
  return ext, int
end

--- The joint TPE choice for `params` (unconditional, not fixed): the best
--- of n_ei_candidates joint draws from l by log l - log g. `trials` are
--- the history's observations ({p = internal values}), `below` the set of
--- below indices; weights(n) the n observations' raw weights, oldest
--- first. Returns external and internal values by name.
function M.sample(params, trials, below, weights, o, ncand, rng)
  local ob, oa, wb, wa = {}, {}, nil, nil
  for ti, t in ipairs(trials) do
    local complete = true
    for _, p in ipairs(params) do
      if t.p[p.name] == nil then complete = false break end
    end
    if complete then
      if below[ti] then ob[#ob + 1] = t.p else oa[#oa + 1] = t.p end
    end
  end
  wb, wa = weights(#ob), weights(#oa)
  local D = #params
  local l, g = build(params, ob, wb, o, D), build(params, oa, wa, o, D)
  local best_e, best_i, best_s
  for _ = 1, ncand do
    local e, i = draw(l, rng)
    local s = logpdf(l, i, o.exact_density) - logpdf(g, i, o.exact_density)
    if best_s == nil or s > best_s then best_e, best_i, best_s = e, i, s end
  end
  return best_e, best_i
end

M._build, M._logpdf = build, logpdf

return M
