--- Space-filling start-up points for TPESearch (startup_design = "lhs"):
--- the first n_startup_trials suggestions form a Latin hypercube. Each
--- numeric parameter's range (its internal scale: log for log domains,
--- half a step beyond the ends for quantized ones) is cut into n equal
--- strata, and each stratum gets exactly one of the n points, at a random
--- place inside it; the strata are matched to the points by an independent
--- random permutation per parameter. A categorical parameter cycles
--- through its categories in the same way (n = 10 over 3 categories: 4, 3
--- and 3 points). Parameters drawn from a normal distribution, and points
--- beyond the n-th (more suggestions out than start-up trials told), are
--- drawn at random as before.
local M = {}

--- The design's state: n points, k of them handed out, one permutation
--- per parameter (made when the parameter is first seen). A plain table,
--- saved and restored with the searcher's state.
function M.new(n)
  return {n = n, k = 0, perms = {}}
end

--- The index of the next point (1-based), or nil once all n are out.
function M.next_index(d)
  if d.k >= d.n then return nil end
  d.k = d.k + 1
  return d.k
end

--- The strata 0..n-1 in a random order (rng: tune.search.sample.Random).
local function permutation(n, rng)
  local perm = {}
  for i = 1, n do perm[i] = i - 1 end
  return rng:shuffle(perm)
end

--- Parameter p's value at point k: its external and internal value, or
--- nil where the design does not cover it (the caller draws at random).
function M.value(d, p, k, rng)
  if k == nil or (p.kind ~= "cat" and not p.finite) then return nil end
  local perm = d.perms[p.name]
  if perm == nil then
    perm = permutation(d.n, rng)
    d.perms[p.name] = perm
  end
  local s = perm[k]
  if p.kind == "cat" then
    local i = s % p.K + 1
    return i, i
  end
  local u = (s + rng:random()) / d.n
  local ext = p.external(p.low + u * (p.high - p.low))
  return ext, p.internal(ext)
end

--- A copy for the searcher's saved state, and back.
function M.save(d)
  local perms = {}
  for name, perm in pairs(d.perms) do perms[name] = {table.unpack(perm)} end
  return {n = d.n, k = d.k, perms = perms}
end

function M.restore(state, n)
  local d = M.new(n)
  if type(state) == "table" then
    d.k = math.tointeger(state.k) or 0
    for name, perm in pairs(state.perms or {}) do d.perms[name] = {table.unpack(perm)} end
    if state.n ~= n then d.k = n end -- another n: the rest at random
  end
  return d
end

return M
