--- tune.search.tpe_space: a search space as TPESearch sees it (internal).
---
--- parse(config) walks a config of Domains and lists its parameters, each
--- named by its key path ("opt/lr"). A `choice` whose options hold Domains
--- of their own is a branch: its parameters are named under
--- "<path>/#<option index>" and are active only when that option is chosen.
--- Numeric parameters carry Optuna's internal space: the log of the value
--- for log domains, Parzen bounds widened by half a step for quantized and
--- integer ones, and the mapping back to a value of the Ray domain.
---
--- Ray domains map to Optuna distributions as Ray's OptunaSearch maps them:
---   uniform(a, b)      Float(a, b)             loguniform(a, b)  Float(a, b, log)
---   quniform(a, b, q)  Float(a, b, step=q)     qloguniform       Float(a, b, log), rounded to q
---   randint(a, b)      Int(a, b - 1)           qrandint(a, b, q) Int over the multiples of q in [a, b]
---   lograndint(a, b)   Int(a, b - 1, log)      qlograndint       Int log, rounded to q
---   randn/qrandn       an unbounded normal prior (mean, sd), as hyperopt's hp.normal
---   choice             Categorical
local points = require("tune.search.points")
local sample = require("tune.search.sample")

local M = {}

local is_domain, is_container, plain_copy = sample.is_domain, sample._is_container, sample._plain_copy
local round = sample._round_half_even
local log, exp, huge = math.log, math.exp, math.huge

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, key_less)
  return keys
end
M.sorted_keys = sorted_keys

local function join(prefix, k)
  if prefix == "" then return tostring(k) end
  return prefix .. "/" .. tostring(k)
end
M.join = join

--- The largest double below x.
local function below(x)
  if x ~= x or x == -huge then return x end
  if x == 0 then return -0x1p-1074 end
  local bits = string.unpack("<i8", string.pack("<d", x))
  bits = x > 0 and bits - 1 or bits + 1
  return (string.unpack("<d", string.pack("<i8", bits)))
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.deep_equal = deep_equal

--- True when v holds a Domain or a grid search somewhere.
local function has_domains(v)
  if is_domain(v) then return true end
  if not is_container(v) then return false end
  for _, x in pairs(v) do
    if has_domains(x) then return true end
  end
  return false
end

-- ---------------------------------------------------------------------
-- Numeric parameters.

--- The internal description of a float or int Domain.
local function numeric(name, d)
  local p = {name = name, kind = "num", domain = d, finite = true}
  local lower, upper, q = d.lower, d.upper, d.q
  if d.kind == "float" then
    p.is_int = false
    if d.sampler == "normal" then
      p.finite = false
      p.low, p.high = -huge, huge
      p.prior_mu, p.prior_sigma, p.range = d.mean, d.sd, d.sd
      p.q = q
      if q then
        function p.external(s) return round(s / q) * q + 0.0 end
      else
        function p.external(s) return s end
      end
      function p.internal(v) return v + 0.0 end
      function p.contains(v) return v == v and v > -huge and v < huge end
      return p
    elseif d.sampler == "loguniform" then
      p.low, p.high = log(lower), log(upper)
      if q then
        function p.external(s) return clamp(round(exp(s) / q) * q, lower, upper) + 0.0 end
      else
        local top = below(upper)
        function p.external(s) return clamp(exp(s), lower, top) end
      end
      function p.internal(v) return log(v) end
    elseif q then
      p.low, p.high, p.q = lower - 0.5 * q, upper + 0.5 * q, q
      function p.external(s) return clamp(round(s / q) * q, lower, upper) + 0.0 end
      function p.internal(v) return v + 0.0 end
    else
      p.low, p.high = lower, upper
      local top = below(upper)
      function p.external(s) return clamp(s, lower, top) end
      function p.internal(v) return v + 0.0 end
    end
    -- Bounds included, as Ray's Float.is_valid and Optuna's FloatDistribution.
    function p.contains(v) return v == v and v >= lower and v <= upper end
  else
    p.is_int = true
    -- The grid: multiples of step in [vlo, vhi].
    local step = q or 1
    local vlo, vhi
    if q then
      vlo, vhi = -((-lower) // q) * q, (upper // q) * q
    else
      vlo, vhi = lower, upper - 1
    end
    p.vlo, p.vhi = vlo, vhi
    if d.sampler == "loguniform" then
      p.low, p.high = log(vlo - 0.5 * step), log(vhi + 0.5 * step)
      function p.external(s)
        return math.tointeger(clamp(round(exp(s) / step), vlo // step, vhi // step)) * step
      end
      function p.internal(v) return log(v) end
    else
      p.low, p.high, p.q = vlo - 0.5 * step, vhi + 0.5 * step, step
      function p.external(s)
        return math.tointeger(clamp(round((s - vlo) / step), 0, (vhi - vlo) // step)) * step + vlo
      end
      function p.internal(v) return v + 0.0 end
    end
    function p.contains(v)
      local i = math.tointeger(v)
      return i ~= nil and i >= vlo and i <= vhi and (i - vlo) % step == 0
    end
  end
  p.prior_mu = 0.5 * (p.low + p.high)
  p.prior_sigma = p.high - p.low
  p.range = p.high - p.low
  return p
end

-- ---------------------------------------------------------------------
-- Parsing.

local Fail = {}

local function fail(msg) error(setmetatable({msg = msg}, Fail), 0) end

local function parse_node(space, node, prefix, cond, path)
  for _, k in ipairs(sorted_keys(node)) do
    local v = node[k]
    local name = join(prefix, k)
    local kpath = table.move(path, 1, #path, 1, {})
    kpath[#kpath + 1] = k
    if type(k) == "string" and (k:find("/", 1, true) or k:sub(1, 1) == "#") then
      if has_domains(v) then fail(string.format("%s: a key with '/' or a leading '#' cannot hold a parameter", name)) end
    elseif sample.is_grid(v) or (is_container(v) and next(v) == "grid_search" and next(v, "grid_search") == nil) then
      fail(name .. ": grid_search is not supported by a searcher (use BasicVariantGenerator, "
        .. "the default search_alg, for grids)")
    elseif is_domain(v) then
      local msg = v:validate()
      if msg then fail(name .. ": " .. msg) end
      M.add_param(space, v, name, cond, kpath)
    elseif is_container(v) then
      parse_node(space, v, name, cond, kpath)
    end
  end
end

--- Adds the parameter(s) of Domain d at `name`; `path` is the list of
--- keys that leads to its value in a config.
function M.add_param(space, d, name, cond, path)
  if space.by_name[name] then fail(name .. ": two parameters have this name") end
  if d.kind == "function" then
    space.has_functions = true
    return
  end
  local p
  if d.kind == "categorical" then
    p = {name = name, kind = "cat", domain = d, K = #d.categories, categories = d.categories}
    for _, c in ipairs(d.categories) do
      if has_domains(c) then p.branches = true end
    end
  else
    p = numeric(name, d)
  end
  p.cond = cond
  p.path = path
  p.index = #space.params + 1
  space.params[p.index] = p
  space.by_name[name] = p
  if p.branches then
    for i, c in ipairs(d.categories) do
      local bname = name .. "/#" .. i
      local bcond = {param = p, branch = i}
      if is_domain(c) then
        M.add_param(space, c, bname, bcond, path)
      elseif is_container(c) then
        if sample.is_grid(c) then fail(bname .. ": grid_search is not supported by a searcher") end
        parse_node(space, c, bname, bcond, path)
      end
    end
  end
end

--- parse(config) -> space | nil, message. space: {template, params (in
--- sampling order: a branch's parameters after its choice), by_name,
--- has_functions}.
function M.parse(config)
  if type(config) ~= "table" or is_domain(config) then
    return nil, "the search space must be a table of parameters (got " .. type(config) .. ")"
  end
  local space = {template = config, params = {}, by_name = {}, has_functions = false}
  local ok, err = pcall(parse_node, space, config, "", nil, {})
  if not ok then
    if getmetatable(err) == Fail then return nil, err.msg end
    error(err, 0)
  end
  return space
end

--- A list of {name, kind} that identifies a space in saved state.
function M.signature(space)
  local out = {}
  for i, p in ipairs(space.params) do
    out[i] = p.name .. ":" .. (p.kind == "cat" and ("cat" .. p.K) or tostring(p.domain))
  end
  return out
end

--- True when parameter p is active under the chosen category indices.
function M.active(p, chosen)
  local c = p.cond
  while c do
    if chosen[c.param.name] ~= c.branch then return false end
    c = c.param.cond
  end
  return true
end

-- ---------------------------------------------------------------------
-- Configs from values, values from configs.

--- The config for external values `ext` (name -> value; a categorical's
--- value is its category index). sample_from Domains are left in place.
local function realize(space, node, prefix, ext)
  local out = {}
  for k, v in pairs(node) do
    local name = join(prefix, k)
    if is_domain(v) then
      out[k] = M.value_of(space, v, name, ext)
    elseif is_container(v) then
      out[k] = realize(space, v, name, ext)
    else
      out[k] = v
    end
  end
  return setmetatable(out, getmetatable(node))
end

function M.value_of(space, d, name, ext)
  if d.kind == "function" then return d end
  local p = space.by_name[name]
  if p.kind ~= "cat" then return ext[name] end
  local i = ext[name]
  local c = p.categories[i]
  if not p.branches then return plain_copy(c) end
  local bname = name .. "/#" .. i
  if is_domain(c) then return M.value_of(space, c, bname, ext) end
  if is_container(c) then return realize(space, c, bname, ext) end
  return c
end

function M.realize(space, ext)
  return realize(space, space.template, "", ext)
end

local observe_node

--- Reads the value at parameter `name` (Domain d) from config value v
--- into out (internal values). partial: missing values are left out.
local function observe_value(space, d, name, v, out, partial)
  if d.kind == "function" then return true end
  local p = space.by_name[name]
  if v == nil then return partial end
  if p.kind == "num" then
    if type(v) ~= "number" or not p.contains(v) then return false end
    out[name] = p.internal(v)
    return true
  end
  for i, c in ipairs(p.categories) do
    local bname = name .. "/#" .. i
    if p.branches and is_domain(c) then
      local tmp = {}
      if observe_value(space, c, bname, v, tmp, partial) then
        out[name] = i
        for k, x in pairs(tmp) do out[k] = x end
        return true
      end
    elseif p.branches and is_container(c) and has_domains(c) then
      local tmp = {}
      if type(v) == "table" and observe_node(space, c, v, bname, tmp, partial, true) then
        out[name] = i
        for k, x in pairs(tmp) do out[k] = x end
        return true
      end
    elseif deep_equal(c, v) then
      out[name] = i
      return true
    end
  end
  return false
end

--- strict_constants: constants must match too (to tell branches apart).
function observe_node(space, node, cfg, prefix, out, partial, strict_constants)
  for k, t in pairs(node) do
    local name = join(prefix, k)
    local v = cfg[k]
    if is_domain(t) then
      if not observe_value(space, t, name, v, out, partial) then return false end
    elseif is_container(t) then
      if v == nil then
        if not partial then return false end
      elseif type(v) ~= "table" or not observe_node(space, t, v, name, out, partial, strict_constants) then
        return false
      end
    elseif strict_constants and v ~= nil and not deep_equal(t, v) then
      return false
    end
  end
  return true
end

--- The internal values of a config of this space (name -> value, only
--- the active parameters), or nil when the config is not in the space.
--- partial: a point to evaluate, whose missing values are sampled.
function M.observe(space, config, partial)
  if type(config) ~= "table" then return nil end
  local out = {}
  if not observe_node(space, space.template, config, "", out, partial, false) then return nil end
  return out
end

--- The value at parameter p's place in a config (nil when absent).
function M.value_at(config, p)
  local v = config
  for _, k in ipairs(p.path) do
    if type(v) ~= "table" then return nil end
    v = v[k]
  end
  return v
end

--- Puts the values of `point` that are not parameters into cfg (a key
--- the template lacks, a constant, a sample_from): dicts merged key by
--- key, lists and other values replaced whole (tune.search.points.merge).
--- Parameters' values were read by observe.
function M.overlay_extras(template, point, cfg)
  for k, v in pairs(point) do
    local t = template[k]
    if is_domain(t) then
      if t.kind == "function" then cfg[k] = plain_copy(v) end
    elseif t ~= nil and has_domains(t) then
      if is_container(v) and type(cfg[k]) == "table" then M.overlay_extras(t, v, cfg[k]) end
    else
      cfg[k] = points.is_dict(v) and points.is_dict(cfg[k]) and points.merge(cfg[k], v) or plain_copy(v)
    end
  end
end

return M
