--- tune.schedulers.PB2: Population Based Bandits (Ray's PB2; Parker-Holder
--- et al. 2020), docs/reference/schedulers/pb2.md.
---
--- PBT's exploit (the bottom quantile clones a top trial's checkpoint),
--- with a different explore: the new hyperparameters are those that
--- maximise a GP-UCB bandit fitted to how fast each trial's reward rose
--- with its hyperparameters, at the clone's time and reward
--- (tune.schedulers.pb2_gp). Every hyperparameter is continuous, within
--- `hyperparam_bounds`; a trial's config lacks one, it is drawn uniformly.
local PBT = require("tune.schedulers.pbt")
local gp = require("tune.schedulers.pb2_gp")
local pbt_explore = require("tune.schedulers.pbt_explore")
local core = require("tune.core")
local refusal = require("tune.experiment.refusal")
local sample = require("tune.search.sample")
local util = require("tune.util")

local PB2 = PBT:extend(nil, "PB2")

local OPTIONS = {
  time_attr = true, metric = true, mode = true, perturbation_interval = true, burn_in_period = true,
  hyperparam_bounds = true, quantile_fraction = true, log_config = true, require_attrs = true, synch = true,
  custom_explore_fn = true, seed = true,
}

--- Data points kept for the GP (Ray keeps the last 1,000 and picks 200 or
--- more of them by likelihood; here the last MAX_FIT).
local MAX_DATA, MAX_FIT = 1000, 200

local function is_bound(v)
  return type(v) == "table" and getmetatable(v) == nil and v[1] ~= nil
end

--- A bound as the user wrote it: {0, inf}, {"a", "b"}.
local function show_bound(v)
  local parts = {}
  for i, x in ipairs(v) do
    parts[i] = type(x) == "number" and util.py_repr_number(x) or type(x) == "string" and string.format("%q", x)
      or type(x)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function bounds_error(fmt, ...)
  error(string.format("PB2: `hyperparam_bounds` " .. fmt, ...), 0)
end

--- The bounds as a list of {path, key, low, high}, in sorted key order.
local function flatten(bounds, prefix, out)
  for _, k in ipairs(util.sorted_keys(bounds)) do
    local v = bounds[k]
    if type(k) ~= "string" then
      -- {{0, 1}}: a list, not bounds by config key.
      bounds_error("keys must be config key names (strings), got %s key %s%s", type(k), tostring(k),
        #prefix > 0 and (" in " .. table.concat(prefix, "/")) or "")
    end
    local path = {table.unpack(prefix)}
    path[#path + 1] = k
    local name = table.concat(path, "/")
    if is_bound(v) then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      if n ~= 2 or #v ~= 2 then
        bounds_error("values must be a list of size 2, {min, max}, but %s is %s", name, show_bound(v))
      end
      if type(v[1]) ~= "number" or type(v[2]) ~= "number" then
        bounds_error("values must be numbers, {min, max}, but %s is %s", name, show_bound(v))
      end
      for _, x in ipairs(v) do
        if x ~= x or x == math.huge or x == -math.huge then
          bounds_error("values must be finite numbers, {min, max}, but %s is %s", name, show_bound(v))
        end
      end
      if not (v[1] < v[2]) then
        bounds_error("values must be {min, max} with min < max, got %s for %s", show_bound(v), name)
      end
      if v[2] - v[1] == math.huge then -- (PB2 scales by it)
        bounds_error("values must be {min, max} with a finite max - min, got %s for %s", show_bound(v), name)
      end
      out[#out + 1] = {path = path, name = name, low = v[1], high = v[2]}
    elseif type(v) == "table" and getmetatable(v) == nil and next(v) ~= nil then
      flatten(v, path, out)
    else
      bounds_error("values must be a list of size 2, {min, max}, or a table of them, but %s is %s", name,
        sample.is_domain(v) and ("the search space " .. tostring(v))
        or (type(v) == "table" and getmetatable(v) == nil) and "an empty table" or util.show_got(v))
    end
  end
  return out
end

--- The same nesting, with uniform domains (PBT fills missing keys from them).
local function as_mutations(bounds)
  local out = {}
  for k, v in pairs(bounds) do
    out[k] = is_bound(v) and sample.uniform(v[1], v[2]) or as_mutations(v)
  end
  return out
end

local function get_path(t, path)
  for _, k in ipairs(path) do
    if type(t) ~= "table" then return nil end
    t = t[k]
  end
  return t
end

local function set_path(t, path, value)
  for i = 1, #path - 1 do
    if type(t[path[i]]) ~= "table" then t[path[i]] = {} end
    t = t[path[i]]
  end
  t[path[#path]] = value
end

--- PB2{time_attr=, metric=, mode=, perturbation_interval=, burn_in_period=,
--- hyperparam_bounds=, quantile_fraction=, log_config=, require_attrs=,
--- synch=, custom_explore_fn=, seed=}
function PB2:__init(opts)
  opts = util.check_options("PB2", opts, OPTIONS, 3)
  util.check_booleans("PB2", opts, {"log_config", "require_attrs", "synch"}, 3)
  local bounds = opts.hyperparam_bounds
  if bounds == nil or (type(bounds) == "table" and getmetatable(bounds) == nil and next(bounds) == nil) then
    error("`hyperparam_bounds` must be specified to use PB2 scheduler.", 3)
  end
  if type(bounds) ~= "table" or getmetatable(bounds) ~= nil then
    error("PB2: `hyperparam_bounds` must be a table of {min, max} bounds by config key, got "
      .. (sample.is_domain(bounds) and ("the search space " .. tostring(bounds)) or type(bounds)), 3)
  end
  local ok, flat = pcall(flatten, bounds, {}, {})
  if not ok then error(flat, 3) end
  local custom = opts.custom_explore_fn
  if custom ~= nil and not pbt_explore.is_callable(custom) then
    error("PB2: custom_explore_fn must be a function", 3)
  end
  local pbt_opts = {}
  for k, v in pairs(opts) do pbt_opts[k] = v end
  pbt_opts.hyperparam_bounds, pbt_opts.custom_explore_fn = nil, nil
  pbt_opts.hyperparam_mutations = as_mutations(bounds)
  pbt_opts.resample_probability = 0
  -- PBT's refusals, as PB2's own (at the caller's line).
  local ok2, err = pcall(PBT.__init, self, pbt_opts)
  if not ok2 then
    error((tostring(err):gsub("^[^\n]-:%d+: ", ""):gsub("^PopulationBasedTraining:", "PB2:")), 3)
  end
  self._bounds = flat
  self._pb2_explore_fn = custom
  self._data = {}                   -- {trial, time, x = {...}, reward}, in the order recorded
  self._current = nil               -- hyperparameters chosen since the last new time point
  self._last_exploration_time = 0
  self._ucb_kappa = nil             -- nil: Ray's schedule (a spec sets 0: exploitation only)
end

--- Where a bound's value in `config` is not a number (nil: nowhere; a
--- value that is missing is drawn): its path and the value found there.
local function not_number(config, b)
  local t = config
  for i, k in ipairs(b.path) do
    if t == nil then return nil end
    if type(t) ~= "table" then return table.concat(b.path, "/", 1, i - 1), t end
    t = t[k]
  end
  if t ~= nil and type(t) ~= "number" then return b.name, t end
  return nil
end

--- PBT's, then any bound the trial's config lacks at a nested path. A
--- bound's value that is not a number (a category, a flag) is refused
--- here, where PB2 first sees it (tune.run raises the message at the
--- user's line): its GP works on numbers only (Ray's PB2 fails on such a
--- value too), and replacing it with one would change its type.
function PB2:on_trial_add(runner, trial)
  for _, b in ipairs(self._bounds) do
    local path, v = not_number(trial.config, b)
    if path then
      refusal.refuse(string.format("PB2: hyperparam_bounds has %s = {%s, %s}, but trial %s's config holds %s at %s: "
        .. "PB2 explores numbers only (for categories use PopulationBasedTraining with a list in "
        .. "hyperparam_mutations)", b.name, util.py_repr_number(b.low), util.py_repr_number(b.high),
        tostring(trial.trial_id), util.show_got(v), path))
    end
  end
  PBT.on_trial_add(self, runner, trial)
  for _, b in ipairs(self._bounds) do
    if get_path(trial.config, b.path) == nil then set_path(trial.config, b.path, self._rng:uniform(b.low, b.high)) end
  end
end

--- PBT's, and one data point: the trial's time, hyperparameters and score.
function PB2:_save_trial_state(state, time, result, trial)
  local score = PBT._save_trial_state(self, state, time, result, trial)
  local x = {}
  for i, b in ipairs(self._bounds) do x[i] = tonumber(get_path(trial.config, b.path)) or b.low end
  self._data[#self._data + 1] = {trial = trial.trial_id, time = time, x = x, reward = score}
  if #self._data > 4 * MAX_DATA then
    -- Only the newest points can be used: keep twice what a fit takes.
    self._data = {table.unpack(self._data, #self._data - 2 * MAX_DATA + 1)}
  end
  return score
end

--- Ray's data preparation: per trial and hyperparameters, the reward's
--- change per unit of time between consecutive points, with the reward
--- before it; the last MAX_DATA of them, oldest first.
function PB2:_points()
  local rows = {}
  for i, r in ipairs(self._data) do rows[i] = {r = r, i = i} end
  table.sort(rows, function(a, b)
    if a.r.time ~= b.r.time then return a.r.time < b.r.time end
    return a.i < b.i
  end)
  local prev, points = {}, {}
  for _, row in ipairs(rows) do
    local r = row.r
    local parts = {r.trial}
    for i, v in ipairs(r.x) do parts[i + 1] = string.format("%.17g", v) end
    local key = table.concat(parts, "\0")
    local p = prev[key]
    if p then
      local dt = r.time - p.time
      -- A NaN or infinite score (a diverged trial) says nothing of the
      -- rise, and one in the data would leave nothing to fit.
      if dt > 0 and math.abs(r.reward) < math.huge and math.abs(p.reward) < math.huge then
        local dy = r.reward - p.reward
        points[#points + 1] = {trial = r.trial, time = r.time, r_before = p.reward, x = r.x, y = dy / dt,
          reward = r.reward}
      end
    end
    prev[key] = r
  end
  if #points > MAX_DATA then points = {table.unpack(points, #points - MAX_DATA + 1)} end
  return points
end

local function range(points, f)
  local lo, hi = math.huge, -math.huge
  for _, p in ipairs(points) do
    local v = f(p)
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  return lo, hi
end

local function norm(v, lo, hi)
  if hi > lo then return (v - lo) / (hi - lo) end
  return 0
end

local function same_rows(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    local ra, rb = a[i], b[i]
    if type(ra) == "table" then
      for j = 1, #ra do if ra[j] ~= rb[j] then return false end end
    elseif ra ~= rb then
      return false
    end
  end
  return true
end

--- The GP fitted to X, y: the last fit's again when they are the same
--- (the exploits of one perturbation round, with no result between
--- them, see the same data), else a fit whose search starts where the
--- last one ended.
function PB2:_fit(X, y)
  local last = self._last_fit
  if last and same_rows(last.X, X) and same_rows(last.y, y) then return last.m end
  local m = gp.fit(X, y, last and last.m and last.m.grid)
  self._last_fit = {X = X, y = y, m = m}
  return m
end

--- Ray's select_config: the hyperparameters (raw values) for a trial that
--- continues from `base`'s last point; nil when `base` has no data yet.
function PB2:_select(base_id)
  local points = self:_points()
  local last
  for _, p in ipairs(points) do if p.trial == base_id then last = p end end
  if not last then return nil end
  if #points > MAX_FIT then points = {table.unpack(points, #points - MAX_FIT + 1)} end
  local tlo, thi = range(points, function(p) return p.time end)
  local rlo, rhi = range(points, function(p) return p.r_before end)
  local n, d = #points, #self._bounds
  local mean = 0
  for _, p in ipairs(points) do mean = mean + p.y end
  mean = mean / n
  local var = 0
  for _, p in ipairs(points) do var = var + (p.y - mean) ^ 2 end
  local sd = math.sqrt(var / n)
  local X, y = {}, {}
  for i, p in ipairs(points) do
    local row = {norm(p.time, tlo, thi), norm(p.r_before, rlo, rhi)}
    for j, b in ipairs(self._bounds) do row[2 + j] = norm(p.x[j], b.low, b.high) end
    X[i] = row
    y[i] = math.min(math.max((p.y - mean) / (sd + 1e-8), -2), 2)
  end
  local fixed = {norm(last.time, tlo, thi), norm(last.r_before, rlo, rhi)}
  local m = self:_fit(X, y)
  if not m then return nil end
  local m1 = m
  if self._current then
    -- The points already chosen at this time, with made-up targets: they
    -- lower the variance there (Ray refits; the kernel is kept here).
    local X1, y1 = {table.unpack(X)}, {table.unpack(y)}
    for _, c in ipairs(self._current) do
      local row = {fixed[1], fixed[2]}
      for j, b in ipairs(self._bounds) do row[2 + j] = norm(c[j], b.low, b.high) end
      X1[#X1 + 1], y1[#y1 + 1] = row, 0
    end
    m1 = gp.with(X1, y1, m.ls, m.eps, m.ratio) or m
  end
  local h = gp.optimize(m, m1, fixed, d, self._rng, self._ucb_kappa)
  local values = {}
  for j, b in ipairs(self._bounds) do values[j] = b.low + h[j] * (b.high - b.low) end
  return values, last
end

--- Ray's _get_new_config: the clone's config with hyperparameters from
--- the bandit (an integer stays an integer), then custom_explore_fn. The
--- exploited trial's new point joins the data at the clone's time and
--- reward. Returns the config and the chosen values (nil: unchanged).
function PB2:_get_new_config(trial, trial_to_clone)
  local maxt = -math.huge
  for _, r in ipairs(self._data) do if r.time > maxt then maxt = r.time end end
  if maxt > self._last_exploration_time then self._current = nil end
  local new_config = util.deepcopy(trial_to_clone.config)
  local values, last = self:_select(trial_to_clone.trial_id)
  if values then
    for j, b in ipairs(self._bounds) do
      local old = get_path(trial_to_clone.config, b.path)
      local v = values[j]
      if math.type(old) == "integer" then
        v = math.tointeger(math.floor(v))
        values[j] = v
      end
      set_path(new_config, b.path, v)
    end
  end
  if self._pb2_explore_fn then
    -- Its return is checked before PB2 records the point or PBT logs the
    -- config (nil keeps the config; an error fails the trial, naming PB2).
    local c = self._pb2_explore_fn(new_config)
    if c ~= nil and type(c) ~= "table" then
      error("custom_explore_fn must return a config table, got " .. type(c), 0)
    end
    new_config = pbt_explore.check_explored(c or new_config)
  end
  if values then
    self._data[#self._data + 1] = {trial = trial.trial_id, time = last.time, x = values, reward = last.reward}
    if maxt > self._last_exploration_time then
      self._last_exploration_time = maxt
      self._current = {values}
    else
      self._current = self._current or {}
      self._current[#self._current + 1] = values
    end
  end
  return new_config, values
end

function PB2:save(runner)
  local state = PBT.save(self, runner)
  local data = {}
  for i, r in ipairs(self._data) do
    data[i] = {trial = r.trial, time = r.time, x = core.array(r.x), reward = r.reward}
  end
  state.pb2 = {data = core.array(data), last_exploration_time = self._last_exploration_time,
    current = self._current and core.array(self._current) or core.null}
  return state
end

function PB2:restore(state, runner)
  PBT.restore(self, state, runner)
  local s = type(state.pb2) == "table" and state.pb2 or {}
  self._data = {}
  for _, r in ipairs(type(s.data) == "table" and s.data or {}) do
    if type(r) == "table" and type(r.x) == "table" and type(r.time) == "number" and type(r.reward) == "number" then
      self._data[#self._data + 1] = {trial = r.trial, time = r.time, x = r.x, reward = r.reward}
    end
  end
  self._last_exploration_time = util.nonnull(s.last_exploration_time) or 0
  self._current = type(util.nonnull(s.current)) == "table" and s.current or nil
end

return PB2
