--- BOHB's configuration generator (Falkner et al. 2018; hpbandster's
--- CG_BOHB, which Ray's TuneBOHB wraps), on vectors: each continuous
--- dimension in [0, 1], each categorical one an index 0..K-1.
---
--- Results are kept per budget. Once a budget has more than
--- `min_points_in_model` results (and no larger budget has a model), its
--- best `top_n_percent` (at least min_points_in_model) and the next ones
--- get a product-kernel density each (Gaussian for continuous dimensions,
--- Aitchison-Aitken for categorical ones; bandwidths by the normal
--- reference rule, at least `min_bandwidth`, as statsmodels'
--- KDEMultivariate). A proposal comes from the largest budget's model:
--- `num_samples` draws around good points (bandwidths widened by
--- `bandwidth_factor`, truncated to [0, 1]), the one with the least
--- bad/good density ratio; with probability `random_fraction`, or without
--- a model, the caller samples at random.
local M = {}
M.__index = M

local DEFAULTS = {min_points_in_model = false, top_n_percent = 15, num_samples = 64,
  random_fraction = 1 / 3, bandwidth_factor = 3, min_bandwidth = 1e-3}
M.DEFAULTS = DEFAULTS

local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end
local function count(v, min) v = math.tointeger(type(v) == "number" and v or nil); return v ~= nil and v >= min end

--- The ranges hpbandster's CG_BOHB works in: nil when `opts` (keys of
--- DEFAULTS) are within them, else what is wrong ("num_samples must be ...").
function M.check(opts)
  local function show(v) return type(v) == "string" and string.format("%q", v) or tostring(v) end
  local checks = {
    {"min_points_in_model", function(v) return count(v, 0) end, "an integer >= 0 (or nil: the dimension + 1)"},
    {"top_n_percent", function(v) return finite(v) and v > 0 and v < 100 end, "a number in (0, 100)"},
    {"num_samples", function(v) return count(v, 1) end, "an integer >= 1"},
    {"random_fraction", function(v) return finite(v) and v >= 0 and v <= 1 end, "a number in [0, 1]"},
    {"bandwidth_factor", function(v) return finite(v) and v > 0 end, "a number > 0"},
    {"min_bandwidth", function(v) return finite(v) and v > 0 end, "a number > 0"},
  }
  for _, c in ipairs(checks) do
    local v = opts[c[1]]
    if v ~= nil and not c[2](v) then return string.format("%s must be %s, got %s", c[1], c[3], show(v)) end
  end
  return nil
end

local SQRT2PI = math.sqrt(2 * math.pi)

--- A generator for `dims` ({K = 0} continuous, {K = n} categorical).
function M.new(dims, opts, rng)
  local self = setmetatable({}, M)
  self.dims = dims
  for k, v in pairs(DEFAULTS) do
    local o = opts[k]
    if o == nil then o = v end
    self[k] = o
  end
  local d = #dims
  if not self.min_points_in_model or self.min_points_in_model < d + 1 then self.min_points_in_model = d + 1 end
  self.rng = rng
  self.configs, self.losses = {}, {}  -- budget -> list
  self.models = {}                      -- budget -> {good =, bad =}
  return self
end

local function kde(data, dims, min_bw)
  local n, d = #data, #dims
  local bw = {}
  for j = 1, d do
    local mean = 0
    for i = 1, n do mean = mean + data[i][j] end
    mean = mean / n
    local var = 0
    for i = 1, n do var = var + (data[i][j] - mean) ^ 2 end
    bw[j] = math.max(1.06 * math.sqrt(var / n) * n ^ (-1 / (4 + d)), min_bw)
  end
  return {data = data, bw = bw}
end

--- The density of `k` at vector x.
local function pdf(k, dims, x)
  local sum = 0
  for _, row in ipairs(k.data) do
    local p = 1
    for j, dim in ipairs(dims) do
      local h = k.bw[j]
      if dim.K == 0 then
        local z = (x[j] - row[j]) / h
        p = p * math.exp(-0.5 * z * z) / (SQRT2PI * h)
      else
        p = p * (x[j] == row[j] and (1 - h) or h / (dim.K - 1))
      end
    end
    sum = sum + p
  end
  return sum / #k.data
end

--- A draw from N(m, sd) truncated to [0, 1] (rejection; the mean lies in
--- [0, 1], so at least a sixth of the draws fall inside even for wide
--- bandwidths).
local function truncnorm(rng, m, sd)
  for _ = 1, 1000 do
    local x = rng:normal(m, sd)
    if x >= 0 and x <= 1 then return x end
  end
  return math.min(math.max(m, 0), 1)
end

function M:largest_budget_with_model()
  local best = nil
  for b in pairs(self.models) do if best == nil or b > best then best = b end end
  return best
end

--- A proposed vector, or nil: sample at random instead.
function M:propose()
  local budget = self:largest_budget_with_model()
  if budget == nil or self.rng:random() < self.random_fraction then return nil end
  local good, bad = self.models[budget].good, self.models[budget].bad
  local best, best_v = nil, math.huge
  for _ = 1, self.num_samples do
    local datum = good.data[self.rng:randint(1, #good.data + 1)]
    local v = {}
    for j, dim in ipairs(self.dims) do
      local bw = math.max(good.bw[j], self.min_bandwidth)
      if dim.K == 0 then
        v[j] = truncnorm(self.rng, datum[j], self.bandwidth_factor * bw)
      elseif self.rng:random() < 1 - bw then
        v[j] = datum[j]
      else
        v[j] = self.rng:randint(0, dim.K)
      end
    end
    local l, g = pdf(good, self.dims, v), pdf(bad, self.dims, v)
    local val = math.max(1e-32, g) / math.max(l, 1e-32)
    if val ~= val or val == math.huge then
      -- A categorical value the bad model never saw: take it when the
      -- good model likes it (hpbandster does the same).
      if l == l and l < math.huge then
        best = v
        break
      end
    elseif val < best_v then
      best, best_v = v, val
    end
  end
  return best
end

--- Records a result; refits the budget's model when it can have one.
function M:new_result(vector, loss, budget)
  if loss ~= loss or loss == math.huge or loss == -math.huge then loss = math.huge end
  if not self.configs[budget] then self.configs[budget], self.losses[budget] = {}, {} end
  local largest = self:largest_budget_with_model()
  if largest and largest > budget then return end
  local configs, losses = self.configs[budget], self.losses[budget]
  configs[#configs + 1] = vector
  losses[#losses + 1] = loss
  self:_fit(budget)
end

function M:_fit(budget)
  local configs, losses = self.configs[budget], self.losses[budget]
  local n, d, mp = #configs, #self.dims, self.min_points_in_model
  if n <= mp - 1 then return end
  local n_good = math.max(mp, (self.top_n_percent * n) // 100)
  local n_bad = math.max(mp, ((100 - self.top_n_percent) * n) // 100)
  local idx = {}
  for i = 1, n do idx[i] = i end
  table.sort(idx, function(a, b)
    if losses[a] ~= losses[b] then return losses[a] < losses[b] end
    return a < b
  end)
  local good, bad = {}, {}
  for i = 1, math.min(n_good, n) do good[#good + 1] = configs[idx[i]] end
  for i = n_good + 1, math.min(n_good + n_bad, n) do bad[#bad + 1] = configs[idx[i]] end
  if #good <= d or #bad <= d then return end
  self.models[budget] = {good = kde(good, self.dims, self.min_bandwidth), bad = kde(bad, self.dims, self.min_bandwidth)}
end

--- State for save(): the results per budget (models are refitted).
function M:state()
  local out = {}
  for b, configs in pairs(self.configs) do
    out[#out + 1] = {budget = b, configs = configs, losses = self.losses[b]}
  end
  table.sort(out, function(a, c) return a.budget < c.budget end)
  return out
end

function M:load(state)
  self.configs, self.losses, self.models = {}, {}, {}
  for _, s in ipairs(state or {}) do
    if type(s) == "table" and type(s.budget) == "number" and type(s.configs) == "table" then
      self.configs[s.budget], self.losses[s.budget] = s.configs, s.losses or {}
      self:_fit(s.budget)
    end
  end
end

return M
