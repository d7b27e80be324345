--- tune.search.variant_generator: expands a config with grid searches and
--- domains into resolved variants (Ray 2.0's
--- python/ray/tune/search/variant_generator.py).
---
--- generate_variants(config, rng[, opts]) -> {variant, ...}, each
---   {resolved_vars = {{path = {"a", "b"}, value = v}, ...},  -- sorted by path
---    config = <a new, fully resolved config table>}
--- opts: {constant_grid_search = false} (as Ray's BasicVariantGenerator:
--- sample the random values once and keep them over the whole grid).
---
--- Ray's rules, and where Lua needs one of its own:
--- * Grid order: every grid_search anywhere in the config (not inside a
---   grid's own values) is found, the grids are sorted by key path, and the
---   cartesian product is walked like an odometer whose FIRST (lowest
---   sorted) path turns fastest (Ray's _grid_search_generator, which
---   increments value_indices[0] first after grid_vars.sort()).
--- * For each grid point, every Domain and sample_from is resolved in key
---   path order (Ray resolves in dict insertion order, which Lua tables do
---   not have). sample_from functions get `spec`, a read-only view of
---   {config = <config so far>}, and `rng`; reading a value that is still
---   a Domain or grid raises a dependency error inside the function, and
---   the function is retried in the next pass, at most 20 passes (Ray's
---   _MAX_RESOLUTION_PASSES); a pass that resolves nothing ends it early.
--- * Values that a grid point or a sample brings in and that are
---   themselves unresolved (a grid of sub-configs holding domains, a choice
---   of domains) are expanded recursively, as Ray's _generate_variants.
--- * Key paths are Lua keys: array indices are 1-based.
--- * The input config is never mutated; plain tables are copied, Domains
---   and objects with metatables are kept as they are.
local sample = require("tune.search.sample")

local M = {}

local is_domain, is_container, plain_copy, is_list =
  sample.is_domain, sample._is_container, sample._plain_copy, sample._is_list

local MAX_RESOLUTION_PASSES = 20
local MAX_DEPTH = 64

-- Errors raised inside the generator carry their message in a table so the
-- public entry points can re-raise them at the caller's line.
local GenError = {}
GenError.__index = GenError
GenError.__tostring = function(e) return e.msg end

local function fail(msg, level)
  error(setmetatable({msg = msg, level = level}, GenError), 0)
end

-- ---------------------------------------------------------------------
-- Paths.

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

--- Element-wise path order; a prefix sorts first (Python tuple order).
local function path_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a[i], b[i]
    if x ~= y then return key_less(x, y) end
  end
  return #a < #b
end
M._path_less = path_less

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, key_less)
  return keys
end

--- "config.optimizer.lr", "config.layers[2]".
local function path_str(path)
  local parts = {}
  for i, k in ipairs(path) do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = (i == 1 and "" or ".") .. k
    elseif type(k) == "string" then
      parts[#parts + 1] = string.format("[%q]", k)
    else
      parts[#parts + 1] = "[" .. tostring(k) .. "]"
    end
  end
  return table.concat(parts)
end
M._path_str = path_str

local function path_id(path)
  local parts = {}
  for i, k in ipairs(path) do parts[i] = type(k):sub(1, 1) .. tostring(k) end
  return table.concat(parts, "\0")
end

local function extend(path, k)
  local p = table.move(path, 1, #path, 1, {})
  p[#p + 1] = k
  return p
end

local function get_value(root, path)
  local v = root
  for _, k in ipairs(path) do v = v[k] end
  return v
end

local function assign_value(root, path, value)
  local t = root
  for i = 1, #path - 1 do t = t[path[i]] end
  t[path[#path]] = value
end

-- ---------------------------------------------------------------------
-- Finding unresolved values (Ray's _split_resolved_unresolved_values).

--- Exactly one key, grid_search (whatever it holds; a non-list is an
--- error once the generator meets it, as Ray's TuneError).
local function is_grid_like(v)
  if not is_container(v) then return false end
  local k = next(v)
  return k == "grid_search" and next(v, k) == nil
end

local function is_unresolved(v)
  return is_domain(v) or is_grid_like(v)
end

--- Collects {path, value} for the domains and grids under `node`, sorted
--- by path; validates them (messages name the path).
local function parse(node, path, domains, grids)
  for _, k in ipairs(sorted_keys(node)) do
    local v = node[k]
    local p = extend(path, k)
    if is_domain(v) then
      local msg = v:validate()
      if msg then fail(path_str(p) .. ": " .. msg) end
      domains[#domains + 1] = {path = p, value = v}
    elseif is_grid_like(v) then
      local values = v.grid_search
      if not is_list(values) then
        fail(string.format("%s: grid_search expected a list of values (got %s)", path_str(p), type(values)))
      end
      if #values == 0 then fail(path_str(p) .. ": grid_search needs at least one value") end
      grids[#grids + 1] = {path = p, value = values}
    elseif is_container(v) then
      parse(v, p, domains, grids)
    end
  end
end

local function parse_root(root)
  local domains, grids = {}, {}
  parse(root, {}, domains, grids)
  table.sort(domains, function(a, b) return path_less(a.path, b.path) end)
  table.sort(grids, function(a, b) return path_less(a.path, b.path) end)
  return domains, grids
end

local function has_unresolved(v, seen)
  if is_unresolved(v) then return true end
  if not is_container(v) then return false end
  seen = seen or {}
  if seen[v] then return false end
  seen[v] = true
  for _, x in pairs(v) do if has_unresolved(x, seen) then return true end end
  return false
end

-- ---------------------------------------------------------------------
-- The read-only spec a sample_from function sees (Ray's
-- _UnresolvedAccessGuard).

local DepError = {}
DepError.__tostring = function(e) return e.msg end

local guard_mt = {}
local TARGET, KEY = setmetatable({}, {__name = "target"}), setmetatable({}, {__name = "key"})

local function guard(t, k)
  return setmetatable({[TARGET] = t, [KEY] = k}, guard_mt)
end

local function guarded(k, v)
  if is_unresolved(v) then
    -- Ray's RecursiveDependencyError wording.
    error(setmetatable({msg = string.format("`%s` recursively depends on %s", tostring(k),
      is_domain(v) and tostring(v) or "a grid_search")}, DepError), 0)
  end
  if is_container(v) then return guard(v, k) end
  return v
end

guard_mt.__index = function(p, k)
  return guarded(k, rawget(p, TARGET)[k])
end
guard_mt.__newindex = function()
  error("sample_from: the spec passed to the function is read-only", 2)
end
guard_mt.__len = function(p) return #rawget(p, TARGET) end
guard_mt.__pairs = function(p)
  local t = rawget(p, TARGET)
  local function iter(_, k)
    local nk, v = next(t, k)
    if nk == nil then return nil end
    return nk, guarded(nk, v)
  end
  return iter, p, nil
end
guard_mt.__name = "spec"

--- Copy of a function's result, with any guarded view replaced by a copy
--- of the table it shows; nil and the view's key while it shows values to
--- resolve (returned as they were, they were drawn again: wait for them).
local function unwrap(v, seen)
  if type(v) ~= "table" then return v end
  if getmetatable(v) == guard_mt then
    local t = rawget(v, TARGET)
    if has_unresolved(t) then return nil, rawget(v, KEY) or "config" end
    return plain_copy(t)
  end
  if not is_container(v) then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in pairs(v) do
    local c, pending = unwrap(x, seen)
    if pending ~= nil then return nil, pending end
    out[k] = c
  end
  return setmetatable(out, getmetatable(v))
end

-- ---------------------------------------------------------------------
-- Resolution (Ray's _resolve_domain_vars).

-- Why a value a sample_from function returned cannot be a trial's config,
-- or nil.
local not_plain = require("tune.util").not_plain

--- Samples `vars` into `root` (in place). Returns all_resolved, and a map
--- path_id -> {path, value} of what it resolved.
local function resolve_domains(root, vars, rng, allow_fail)
  local resolved, nresolved = {}, 0
  local passes, last_err = 0, nil
  repeat
    passes = passes + 1
    last_err = nil
    local progress = false
    for _, var in ipairs(vars) do
      local id = path_id(var.path)
      if not resolved[id] then
        local domain = var.value
        local ok, value
        if domain.kind == "function" then
          ok, value = pcall(domain.sample, domain, rng, guard(root))
        else
          ok, value = true, domain:sample(rng)
        end
        local why = ok and domain.kind == "function" and not_plain(value)
        if why then
          fail(string.format("%s: sample_from returned %s, which a trial's config cannot hold (plain data only)",
            path_str(var.path), why))
        end
        local pending
        if ok then value, pending = unwrap(value) end
        if pending ~= nil then
          last_err = {path = var.path, msg = string.format("`%s` recursively depends on values not resolved yet",
            tostring(pending))}
        elseif ok then
          assign_value(root, var.path, value)
          resolved[id] = {path = var.path, value = value}
          nresolved = nresolved + 1
          progress = true
        elseif getmetatable(value) == DepError then
          last_err = {path = var.path, msg = value.msg}
        else
          -- The function's own error says where: no position of ours (level 0).
          fail(string.format("%s: sample_from function failed: %s", path_str(var.path), tostring(value)), 0)
        end
      end
    end
  until last_err == nil or passes >= MAX_RESOLUTION_PASSES or not progress
  if last_err then
    if allow_fail then return false, resolved end
    fail(string.format("%s: sample_from could not be resolved: %s; gave up after %d pass%s "
      .. "(a circular dependency, or one on a value that is never resolved)",
      path_str(last_err.path), last_err.msg, passes, passes == 1 and "" or "es"))
  end
  return true, resolved
end

-- ---------------------------------------------------------------------
-- Generation (Ray's _generate_variants).

local function generate(root, rng, constant_grid, depth, out)
  if depth > MAX_DEPTH then
    fail(string.format("config: values still unresolved after %d nested levels "
      .. "(does a sample_from keep returning new domains?)", MAX_DEPTH))
  end
  local domains, grids = parse_root(root)
  if #domains == 0 and #grids == 0 then
    out[#out + 1] = {vars = {}, root = root}
    return
  end

  local to_resolve, pre, all_resolved = domains, nil, false
  if constant_grid then
    all_resolved, pre = resolve_domains(root, domains, rng, true)
    if not all_resolved then
      to_resolve = {}
      for _, var in ipairs(domains) do
        if not pre[path_id(var.path)] then to_resolve[#to_resolve + 1] = var end
      end
    end
  end

  -- Odometer over the grids, the first (lowest sorted) path fastest.
  local indices = {}
  for i = 1, #grids do indices[i] = 1 end
  local done = false
  while not done do
    local spec = plain_copy(root)
    for i, g in ipairs(grids) do
      assign_value(spec, g.path, plain_copy(g.value[indices[i]]))
    end
    local vars = {}
    if pre then for id, rv in pairs(pre) do vars[id] = rv end end
    if not (constant_grid and all_resolved) then
      local _, r = resolve_domains(spec, to_resolve, rng, false)
      for id, rv in pairs(r) do vars[id] = rv end
    end
    local sub = {}
    generate(spec, rng, constant_grid, depth + 1, sub)
    for _, s in ipairs(sub) do
      local all = {}
      for id, rv in pairs(vars) do all[id] = rv end
      for _, g in ipairs(grids) do
        all[path_id(g.path)] = {path = g.path, value = get_value(s.root, g.path)}
      end
      for id, rv in pairs(s.vars) do all[id] = rv end
      out[#out + 1] = {vars = all, root = s.root}
    end
    -- increment
    local i = 1
    while true do
      if i > #grids then done = true break end
      indices[i] = indices[i] + 1
      if indices[i] <= #grids[i].value then break end
      indices[i] = 1
      i = i + 1
    end
  end
end

--- Runs fn(...) and re-raises a generator error at the public caller's line
--- (level 3: protect, the public function, its caller; so never tail-call
--- protect), or at the level it names (0: a sample_from function's error).
local function protect(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if getmetatable(res) == GenError then error(res.msg, res.level or 3) end
  error(res, 0)
end

local GEN_OPTS = {constant_grid_search = true}

--- generate_variants(config, rng[, opts]) -> list of variants (see the top).
function M.generate_variants(config, rng, opts)
  if type(config) ~= "table" then
    error("generate_variants: config must be a table (got " .. type(config) .. ")", 2)
  end
  if type(rng) ~= "table" or type(rng.random) ~= "function" then
    error("generate_variants: rng must be a tune.search.sample.Random (got " .. type(rng) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("generate_variants: opts must be a table or nil", 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not GEN_OPTS[k] then error("generate_variants: unknown option " .. tostring(k), 2) end
  end
  local result = protect(function()
    local root = {config = plain_copy(config)}
    local raw = {}
    generate(root, rng, opts.constant_grid_search and true or false, 1, raw)
    local variants = {}
    for i, r in ipairs(raw) do
      if has_unresolved(r.root) then
        fail("config: internal error, a variant is left with unresolved values")
      end
      local list = {}
      for _, rv in pairs(r.vars) do
        -- paths relative to the config: drop the leading "config"
        list[#list + 1] = {path = table.move(rv.path, 2, #rv.path, 1, {}), value = plain_copy(rv.value)}
      end
      table.sort(list, function(a, b) return path_less(a.path, b.path) end)
      variants[i] = {resolved_vars = list, config = r.root.config}
    end
    return variants
  end)
  return result
end

--- The plan of a config whose variants need no search: no grid_search,
--- no sample_from, no Domain among a choice's categories. Its variant is
--- then its Domains sampled in path order, one draw each, which is what
--- generate_variants does for it (same draws, same values, same variant);
--- sample_plan does only that. nil for any other config. A caller that
--- generates many variants of one config (BasicVariantGenerator) makes
--- the plan once.
function M.plan(config)
  if type(config) ~= "table" then return nil end
  local ok, domains, grids = pcall(parse_root, {config = config})
  if not ok or #grids > 0 then return nil end
  for _, d in ipairs(domains) do
    local v = d.value
    if v.kind ~= "float" and v.kind ~= "int"
        and not (v.kind == "categorical" and not has_unresolved(v.categories)) then
      return nil
    end
  end
  return domains
end

--- The one variant of a planned config (see M.plan), as generate_variants
--- returns it.
function M.sample_plan(plan, config, rng)
  local root = {config = plain_copy(config)}
  local list = {}
  for i, d in ipairs(plan) do
    local value = unwrap(d.value:sample(rng))
    assign_value(root, d.path, value)
    list[i] = {path = table.move(d.path, 2, #d.path, 1, {}), value = plain_copy(value)}
  end
  return {{resolved_vars = list, config = root.config}}
end

--- True when a Domain, grid search or sample_from remains anywhere in v.
function M.has_unresolved_values(config)
  return has_unresolved(config)
end

--- The number of grid points: the product of the grid sizes (1 when none).
--- Grids inside other grids' values are not counted (as Ray's count).
function M.count_grid_variants(config)
  if type(config) ~= "table" then
    error("count_grid_variants: config must be a table (got " .. type(config) .. ")", 2)
  end
  local n = protect(function()
    local _, grids = parse_root({config = config})
    local count = 1
    for _, g in ipairs(grids) do count = count * #g.value end
    return count
  end)
  return n
end

-- ---------------------------------------------------------------------
-- Experiment tags (Ray's format_vars and _clean_value).

--- Python's repr of a float: the shortest string that reads back.
local function py_float(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  local p = 1
  local s = string.format("%.1e", x)
  for prec = 1, 17 do
    s = string.format("%." .. (prec - 1) .. "e", x)
    if tonumber(s) == x then p = prec break end
  end
  local exp = tonumber(s:match("e([-+]%d+)$"))
  if exp < -4 or exp >= 16 then
    local mant, e = s:match("^(.-)e([-+]%d+)$")
    local n = tonumber(e)
    return string.format("%se%s%02d", mant, n < 0 and "-" or "+", math.abs(n))
  end
  local r = string.format("%." .. math.max(p - 1 - exp, 0) .. "f", x)
  if not r:find("%.") then r = r .. ".0" end
  return r
end

--- Python's str() of a value, for tags.
local function py_str(v, seen)
  local t = type(v)
  if t == "string" then return v end
  if t == "boolean" then return v and "True" or "False" end
  if t == "nil" then return "None" end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    return py_float(v)
  end
  if t == "userdata" and tostring(v):match("%(nil%)$") then return "None" end
  if is_container(v) then
    seen = seen or {}
    if seen[v] then return "..." end
    seen[v] = true
    local function item(x) return type(x) == "string" and ("'" .. x .. "'") or py_str(x, seen) end
    local parts = {}
    if is_list(v) then
      for i, x in ipairs(v) do parts[i] = item(x) end
      seen[v] = nil
      return "[" .. table.concat(parts, ", ") .. "]"
    end
    for _, k in ipairs(sorted_keys(v)) do parts[#parts + 1] = item(k) .. ": " .. item(v[k]) end
    seen[v] = nil
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

--- Ray's _clean_value: floats as "%.4f", anything else str() with each run
--- of characters outside [a-zA-Z0-9_-] replaced by "_", then stripped of
--- leading and trailing "_".
local function clean_value(v)
  if math.type(v) == "float" then
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return string.format("%.4f", v)
  end
  -- Most keys are plain names already: nothing to replace or strip.
  if type(v) == "string" and not v:find("[^a-zA-Z0-9_%-]") and not v:find("^_") and not v:find("_$") then return v end
  local s = py_str(v):gsub("[^a-zA-Z0-9_%-]+", "_")
  s = s:gsub("^_+", ""):gsub("_+$", "")
  return s
end
M._clean_value = clean_value

--- format_vars(resolved_vars) -> "key=value,..." (Ray's experiment tag):
--- sorted by path, each the last key of its path, values cleaned.
function M.format_vars(resolved_vars)
  if type(resolved_vars) ~= "table" then
    error("format_vars: expected a list of {path =, value =} (got " .. type(resolved_vars) .. ")", 2)
  end
  local items = {}
  for i, rv in ipairs(resolved_vars) do
    if type(rv) ~= "table" or type(rv.path) ~= "table" then
      error(string.format("format_vars: entry %d is not {path = {...}, value = ...}", i), 2)
    end
    items[i] = rv
  end
  if #items > 1 then table.sort(items, function(a, b) return path_less(a.path, b.path) end) end
  local out = {}
  for i, rv in ipairs(items) do
    local key = rv.path[#rv.path]
    if key == nil then key = "config" end
    out[i] = clean_value(key) .. "=" .. clean_value(rv.value)
  end
  return table.concat(out, ",")
end

return M
