--- TuneBOHB: the searcher half of BOHB (Ray's TuneBOHB), to be used with
--- tune.schedulers.HyperBandForBOHB (docs/reference/schedulers/bohb.md).
--- It learns from the results HyperBandForBOHB marks with a budget and
--- proposes configs with BOHB's densities (tune.search.bohb_kde).
---
--- TuneBOHB{space=, bohb_config=, metric=, mode=, points_to_evaluate=,
--- seed=, max_concurrent=0}
---
--- Each parameter becomes one dimension in [0, 1]: a bounded float or int
--- by its range (log domains in log space, ints and quantized values
--- widened by half a step, as tune.search.tpe_space does), a normal
--- (randn) through its CDF, a choice by its index. Grid searches, nested
--- choices of parameters and sample_from are refused, as Ray refuses what
--- ConfigSpace cannot hold.
local Searcher = require("tune.search.searcher")
local kde = require("tune.search.bohb_kde")
local parzen = require("tune.search.tpe_parzen")
local preset = require("tune.search.points")
local sample = require("tune.search.sample")
local tspace = require("tune.search.tpe_space")
local util = require("tune.util")

local TuneBOHB = Searcher:extend(nil, "TuneBOHB")

local OPTIONS = {space = true, bohb_config = true, metric = true, mode = true, points_to_evaluate = true,
  seed = true, max_concurrent = true}

-- ---------------------------------------------------------------------
-- The standard normal's CDF (TPE's) and its inverse (for randn parameters).

local phi = parzen.ndtr

--- Acklam's rational approximation, refined by one Halley step.
local function phi_inv(p)
  p = math.min(math.max(p, 1e-12), 1 - 1e-12)
  local a = {-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716,
    2.506628277459239}
  local b = {-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572}
  local c = {-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783}
  local d = {0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416}
  local x
  if p < 0.02425 then
    local q = math.sqrt(-2 * math.log(p))
    x = (((((c[1] * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) * q + c[6])
      / ((((d[1] * q + d[2]) * q + d[3]) * q + d[4]) * q + 1)
  elseif p > 1 - 0.02425 then
    local q = math.sqrt(-2 * math.log(1 - p))
    x = -(((((c[1] * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) * q + c[6])
      / ((((d[1] * q + d[2]) * q + d[3]) * q + d[4]) * q + 1)
  else
    local q = p - 0.5
    local r = q * q
    x = (((((a[1] * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * r + a[6]) * q
      / (((((b[1] * r + b[2]) * r + b[3]) * r + b[4]) * r + b[5]) * r + 1)
  end
  local e = phi(x) - p
  local u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
  return x - u / (1 + x * u / 2)
end
TuneBOHB._phi, TuneBOHB._phi_inv = phi, phi_inv

-- ---------------------------------------------------------------------
-- The space.

local function convert(config)
  local sp, err = tspace.parse(config)
  if not sp then error("TuneBOHB: " .. err, 0) end
  if sp.has_functions then
    error("TuneBOHB does not support parameters of type `Function` (sample_from): give it Domains only", 0)
  end
  local dims = {}
  for i, p in ipairs(sp.params) do
    if p.cond or p.branches then
      error(string.format("TuneBOHB does not support a choice of parameters (%s): flatten the space", p.name), 0)
    end
    dims[i] = {K = p.kind == "cat" and p.K or 0}
  end
  return {sp = sp, dims = dims}
end

--- A parameter's value (external) as its dimension's coordinate.
local function to_unit(p, internal)
  if p.kind == "cat" then return internal - 1 end
  if not p.finite then return phi((internal - p.prior_mu) / p.prior_sigma) end
  return math.min(math.max((internal - p.low) / (p.high - p.low), 0), 1)
end

local function from_unit(p, u)
  if p.kind == "cat" then return math.tointeger(math.floor(u + 0.5)) + 1 end
  if not p.finite then return p.external(p.prior_mu + p.prior_sigma * phi_inv(u)) end
  return p.external(p.low + u * (p.high - p.low))
end

--- The internal value of a point's value `v` for parameter p, or nil when
--- it lies outside p's domain.
local function point_internal(p, v)
  if p.kind ~= "cat" then return type(v) == "number" and p.contains(v) and p.internal(v) or nil end
  for i, c in ipairs(p.categories) do
    if preset.same(c, v) then return i end
  end
  return nil
end

-- ---------------------------------------------------------------------

function TuneBOHB:__init(opts)
  opts = util.check_options("TuneBOHB", opts, OPTIONS, 3)
  Searcher.__init(self, opts)
  local cfg = opts.bohb_config or {}
  if type(cfg) ~= "table" then error("TuneBOHB: bohb_config must be a table", 3) end
  util.check_options("TuneBOHB: bohb_config", cfg, kde.DEFAULTS, 3)
  local bad = kde.check(cfg)
  if bad then error("TuneBOHB: bohb_config." .. bad, 3) end
  self._bohb_config = cfg
  local mc = opts.max_concurrent or 0
  if type(mc) ~= "number" or math.tointeger(mc) == nil or mc < 0 then
    error("TuneBOHB: max_concurrent must be an integer >= 0 (0: no limit), got " .. util.show_got(opts.max_concurrent),
      3)
  end
  self._max_concurrent = math.tointeger(mc)
  self._seed = opts.seed
  self._rng = sample.Random(opts.seed)
  self._points = {}
  -- (Searcher.__init checked them: a list of config tables.)
  for i, pt in ipairs(opts.points_to_evaluate or {}) do
    self._points[i] = sample._plain_copy(pt)
  end
  self.running, self.paused = {}, {}
  self.trial_to_params = {}   -- trial_id -> its vector
  self.reported = {}          -- trial_id -> {[budget] = true}: the budgets its results were learnt at
  self._warned = false
  if Searcher.given_space(opts.space) then
    local ok, s = pcall(convert, opts.space)
    if not ok then error(s, 3) end
    self:_setup(s)
  end
end

function TuneBOHB:_setup(s)
  self._space = s
  self.bohber = kde.new(s.dims, self._bohb_config, self._rng)
end

function TuneBOHB:set_search_properties(metric, mode, config)
  if self._space then
    if self.metric == nil then self.metric = metric end
    if self.mode == nil then self.mode = mode end
    self:_anonymous_metric()
    return false
  end
  local ok, s = pcall(convert, config or {})
  if not ok then error(s, 0) end
  self:_setup(s)
  if metric then self.metric = metric end
  if mode then self.mode = mode end
  self:_anonymous_metric()
  return true
end

function TuneBOHB:set_max_concurrency(max_concurrent)
  self._max_concurrent = max_concurrent
  return true
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

function TuneBOHB:suggest(trial_id)
  local s = self._space
  if not s then
    error("Trying to sample a configuration from TuneBOHB, but no search space has been defined. Either pass "
      .. "the `space` argument when instantiating the search algorithm, or pass a `config` to `tune.run()`.", 2)
  end
  self:_anonymous_metric()
  if not self.metric or not self.mode then
    error(string.format("Trying to sample a configuration from TuneBOHB, but the `metric` (%s) or `mode` (%s) "
      .. "parameters have not been set. Either pass these arguments when instantiating the search algorithm, "
      .. "or pass them to `tune.run()`.", tostring(self.metric), tostring(self.mode)), 2)
  end
  if self._max_concurrent > 0 and count(self.running) >= self._max_concurrent then return nil end
  local ext, vector = {}, {}
  local point = table.remove(self._points, 1)
  local fixed, learn = {}, true
  if point then
    -- Used as given (Ray's TuneBOHB pops the point and returns it), with
    -- BasicVariantGenerator's warnings; the model does not learn from a
    -- trial whose value lies outside its parameter's dimension.
    preset.warn(s.sp.template, point)
    for _, p in ipairs(s.sp.params) do
      local v = tspace.value_at(point, p)
      if v ~= nil then
        fixed[p.name] = point_internal(p, v)
        if fixed[p.name] == nil then learn = false end
      end
    end
  end
  local proposed = not point and self.bohber:propose() or nil
  for i, p in ipairs(s.sp.params) do
    local internal
    if fixed[p.name] ~= nil then
      internal = fixed[p.name]
      ext[p.name] = p.kind == "cat" and internal or tspace.value_at(point, p)
    elseif proposed then
      ext[p.name] = from_unit(p, proposed[i])
      internal = p.kind == "cat" and ext[p.name] or p.internal(ext[p.name])
    elseif p.kind == "cat" then
      internal = self._rng:randint(1, p.K + 1)
      ext[p.name] = internal
    else
      ext[p.name] = p.domain:sample(self._rng)
      internal = p.internal(ext[p.name])
    end
    vector[i] = to_unit(p, internal)
  end
  local config = tspace.realize(s.sp, ext)
  if point then config = preset.merge(config, point) end
  self.trial_to_params[trial_id] = learn and vector or nil
  self.running[trial_id] = true
  return config
end

function TuneBOHB:on_trial_result(trial_id, result)
  if not self.paused[trial_id] then self.running[trial_id] = true end
  local info = result.hyperband_info
  if type(info) ~= "table" then
    if not self._warned then
      self._warned = true
      io.stderr:write("tunelua warning: BOHB Info not detected in result. Are you using HyperBandForBOHB as a "
        .. "scheduler?\n")
    end
    return
  end
  local budget, vector = info.budget, self.trial_to_params[trial_id]
  if type(budget) ~= "number" or not vector then return end
  -- A trial that runs again from an earlier checkpoint (a retry, a resume)
  -- reports a budget again: learnt once, as the uninterrupted run does.
  local seen = self.reported[trial_id] or {}
  if seen[budget] then return end
  seen[budget] = true
  self.reported[trial_id] = seen
  local v = result[self.metric]
  if v == nil then v = util.get_path(result, self.metric, "/") end
  local loss = type(v) == "number" and (self.mode == "max" and -v or v) or math.huge
  self.bohber:new_result(vector, loss, budget)
end

function TuneBOHB:on_trial_complete(trial_id, result, error_)
  self.trial_to_params[trial_id], self.reported[trial_id] = nil, nil
  self.paused[trial_id] = nil
  self.running[trial_id] = nil
end

--- HyperBandForBOHB's notices: a paused trial does not count as running.
function TuneBOHB:on_pause(trial_id)
  self.paused[trial_id] = true
  self.running[trial_id] = nil
end

function TuneBOHB:on_unpause(trial_id)
  self.paused[trial_id] = nil
  self.running[trial_id] = true
end

function TuneBOHB:save()
  local core = require("tune.core")
  local params = {}
  for id, v in pairs(self.trial_to_params) do params[id] = core.array(v) end
  local reported = {}
  for id, seen in pairs(self.reported) do reported[id] = core.array(util.sorted_keys(seen)) end
  local function ids(set)
    local out = util.sorted_keys(set)
    return core.array(out)
  end
  return {searcher = "TuneBOHB", metric = self.metric, mode = self.mode, rng = self._rng:get_state(),
    points = core.array(self._points), results = core.array(self.bohber and self.bohber:state() or {}),
    trial_to_params = params, reported = reported, running = ids(self.running), paused = ids(self.paused)}
end

function TuneBOHB:restore(state)
  if type(state) ~= "table" or state.searcher ~= "TuneBOHB" then error("TuneBOHB:restore: not a TuneBOHB state", 2) end
  self.metric = self.metric or util.nonnull(state.metric)
  self.mode = self.mode or util.nonnull(state.mode)
  if type(state.rng) == "table" then self._rng:set_state(state.rng) end
  self._points = type(state.points) == "table" and state.points or {}
  if self.bohber then self.bohber:load(state.results) end
  self.trial_to_params = type(state.trial_to_params) == "table" and state.trial_to_params or {}
  self.reported = {}
  for id, budgets in pairs(type(state.reported) == "table" and state.reported or {}) do
    local seen = {}
    for _, b in ipairs(type(budgets) == "table" and budgets or {}) do seen[b] = true end
    self.reported[id] = seen
  end
  self.running, self.paused = {}, {}
  for _, id in ipairs(state.running or {}) do self.running[id] = true end
  for _, id in ipairs(state.paused or {}) do self.paused[id] = true end
end

-- save(path) and restore(path), Ray's checkpoint files.
return Searcher.file_state(TuneBOHB)
