--- tune.search.tpe_history: the observations TPESearch learns from
--- (internal). An observation is a finished trial: its parameters (name ->
--- internal value, only those that were active), a rank key (-inf for a
--- complete trial, -step for a pruned one, 1 for one pruned before any
--- report) and a score (the value, negated for mode "max"). Optuna ranks
--- observations by (key, score); ties keep the older first.
---
--- The store keeps the observations in the order they came (`trials`),
--- their indices sorted by (key, score) (`order`), and per parameter its
--- observations in time order with a permutation sorting them by value
--- (`pobs[name] = {t = {trial index}, v = {value}, sorted = {position}}`).
--- Both sorted lists are kept up to date by binary insertion, so a
--- suggestion never sorts.
local M = {}

local function score_less(trials, a, b)
  local ta, tb = trials[a], trials[b]
  if ta.k ~= tb.k then return ta.k < tb.k end
  if ta.v ~= tb.v then return ta.v < tb.v end
  return a < b
end

--- An empty store.
function M.new()
  return {trials = {}, order = {}, pobs = {}}
end

local function pobs_of(h, name)
  local po = h.pobs[name]
  if not po then
    po = {t = {}, v = {}, sorted = {}}
    h.pobs[name] = po
  end
  return po
end

--- Adds an observation: params (name -> internal value), key, score.
function M.record(h, params, key, score)
  local trials = h.trials
  local ti = #trials + 1
  trials[ti] = {p = params, k = key, v = score}
  local order = h.order
  local lo, hi = 1, #order + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if score_less(trials, order[mid], ti) then lo = mid + 1 else hi = mid end
  end
  table.insert(order, lo, ti)
  for name, v in pairs(params) do
    local po = pobs_of(h, name)
    local j = #po.t + 1
    po.t[j], po.v[j] = ti, v
    local s, vals = po.sorted, po.v
    lo, hi = 1, #s + 1
    while lo < hi do
      local mid = (lo + hi) // 2
      local x = vals[s[mid]]
      if x < v or (x == v and s[mid] < j) then lo = mid + 1 else hi = mid end
    end
    table.insert(s, lo, j)
  end
end

--- A store holding `list` ({p =, k =, v =}, oldest first), sorted once.
function M.from_list(list)
  local h = M.new()
  local trials = h.trials
  for ti, t in ipairs(list) do
    trials[ti] = t
    h.order[ti] = ti
    for name, v in pairs(t.p) do
      local po = pobs_of(h, name)
      local j = #po.t + 1
      po.t[j], po.v[j], po.sorted[j] = ti, v, j
    end
  end
  table.sort(h.order, function(a, b) return score_less(trials, a, b) end)
  for _, po in pairs(h.pobs) do
    local vals = po.v
    table.sort(po.sorted, function(a, b)
      if vals[a] ~= vals[b] then return vals[a] < vals[b] end
      return a < b
    end)
  end
  return h
end

--- The below set: the indices of the `nbelow` best observations (a set,
--- index -> true).
function M.below(h, nbelow)
  local below = {}
  for i = 1, math.min(nbelow, #h.order) do below[h.order[i]] = true end
  return below
end

--- Splits parameter `name`'s observations by the below set into
--- out.bv/out.bw (below: values, raw weights) and out.av/out.aw (above),
--- in value order when `sorted`, else in time order. A weight is given by
--- the observation's rank in time within its side: weight(r, n), or
--- weights_fn(n)[r] when weights_fn(n) returns a list. Returns the counts.
function M.split(h, name, below, sorted, weight, weights_fn, out)
  local po = h.pobs[name]
  if not po then return 0, 0 end
  local bv, bw, av, aw, rank = out.bv, out.bw, out.av, out.aw, out.rank
  local ts, vals = po.t, po.v
  local nb, na = 0, 0
  for j = 1, #ts do
    if below[ts[j]] then nb = nb + 1; rank[j] = nb else na = na + 1; rank[j] = na end
  end
  local wfb, wfa = weights_fn(nb), weights_fn(na)
  local ib, ia = 0, 0
  local seq = sorted and po.sorted or nil
  for s = 1, #ts do
    local j = seq and seq[s] or s
    local r = rank[j]
    if below[ts[j]] then
      ib = ib + 1
      bv[ib], bw[ib] = vals[j], wfb and wfb[r] or weight(r, nb)
    else
      ia = ia + 1
      av[ia], aw[ia] = vals[j], wfa and wfa[r] or weight(r, na)
    end
  end
  return nb, na
end

return M
