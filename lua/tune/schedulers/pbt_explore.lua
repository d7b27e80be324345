--- tune.schedulers.pbt_explore: what PopulationBasedTraining does with
--- hyperparam_mutations: checks them, fills a new trial's missing values
--- (fill_config), perturbs a config (explore) and tags a perturbed trial
--- (make_experiment_tag), as Ray Tune 2.0's PBT helpers do.
--- tune.schedulers.pbt exposes them as PBT.explore, PBT.fill_config,
--- PBT.make_experiment_tag and PBT._mutation_kind.
local sample = require("tune.search.sample")
local util = require("tune.util")
local variants = require("tune.search.variant_generator")

local M = {}

local function is_callable(v)
  if type(v) == "function" then return true end
  if type(v) ~= "table" and type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return mt ~= nil and type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- What a hyperparam_mutations value is: "domain", "function", "list",
--- "dict", or nil for anything else.
local function mutation_kind(v)
  if sample.is_domain(v) then return "domain" end
  if is_callable(v) then return "function" end
  if type(v) == "table" then
    if sample._is_list(v) and #v > 0 then return "list" end
    if getmetatable(v) == nil then return "dict" end
  end
  return nil
end
M.is_callable, M.mutation_kind = is_callable, mutation_kind

--- Python's == for plain data.
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function index_of(list, v)
  for i, x in ipairs(list) do
    if equal(x, v) then return i end
  end
  return nil
end

--- Python's int(): towards zero.
local function to_int(x)
  if type(x) ~= "number" then return x end
  if math.type(x) == "integer" then return x end
  if x ~= x or x == math.huge or x == -math.huge then return x end
  local t = x >= 0 and math.floor(x) or math.ceil(x)
  return math.tointeger(t) or t
end

--- Keys in a stable order (Lua's pairs order may change between runs,
--- and each key draws from the generator).
local function keys_of(t)
  return util.sorted_keys(t)
end
M.keys_of = keys_of

--- Ray's _explore: a perturbed copy of `config`. Lists shift to a
--- neighbouring value (or resample with `resample_probability`, or when
--- the current value is not in the list); Domains and functions resample,
--- else multiply by 1.2 or 0.8 (integers stay integers); nested tables
--- recurse. Functions are called with the generator: fn(rng).
--- `custom_explore_fn(new_config)` runs last and must return the config.
--- `prefix`: where `config` is in the trial's config ("opt."), for errors.
function M.explore(config, mutations, resample_probability, custom_explore_fn, rng, prefix)
  prefix = prefix or ""
  local new_config = util.deepcopy(config)
  for _, key in ipairs(keys_of(mutations)) do
    local distribution = mutations[key]
    local kind = mutation_kind(distribution)
    local current = config[key]
    local name = prefix .. tostring(key)
    if kind == "dict" then
      if type(current) ~= "table" then
        error(string.format("PopulationBasedTraining: hyperparam_mutations has a nested table at %q, "
          .. "but the config holds %s there", name, type(current)), 0)
      end
      new_config[key] = M.explore(current, distribution, resample_probability, nil, rng, name .. ".")
    elseif kind == "list" then
      local idx = index_of(distribution, current)
      if rng:random() < resample_probability or idx == nil then
        new_config[key] = util.deepcopy(rng:choice(distribution))
      elseif rng:random() > 0.5 then
        new_config[key] = util.deepcopy(distribution[math.max(1, idx - 1)])
      else
        new_config[key] = util.deepcopy(distribution[math.min(#distribution, idx + 1)])
      end
    elseif kind == "domain" or kind == "function" then
      if rng:random() < resample_probability then
        if kind == "domain" then
          new_config[key] = distribution:sample(rng)
        else
          new_config[key] = distribution(rng)
        end
      else
        if type(current) ~= "number" then
          error(string.format("PopulationBasedTraining: cannot perturb config %q: it holds %s, not a number "
            .. "(use a list in hyperparam_mutations for categorical values)", name, type(current)), 0)
        end
        if rng:random() > 0.5 then
          new_config[key] = current * 1.2
        else
          new_config[key] = current * 0.8
        end
      end
      if math.type(current) == "integer" then new_config[key] = to_int(new_config[key]) end
    end
  end
  if custom_explore_fn then
    new_config = custom_explore_fn(new_config)
    if new_config == nil then error("Custom explore fn failed to return new config", 0) end
    -- Checked here, before PBT logs or tags the config (a trial's failure
    -- naming the scheduler, as any error of custom_explore_fn is).
    if type(new_config) ~= "table" then
      error("custom_explore_fn must return a config table, got " .. type(new_config), 0)
    end
  end
  return new_config
end

--- Where `v` holds a search space still to resolve (a Domain, a grid
--- search: the trainable would get its fields), or nil. `v` is plain data.
local function unresolved_at(v, path)
  if sample.is_domain(v) or sample.is_grid(v) then return path end
  if type(v) ~= "table" or getmetatable(v) ~= nil then return nil end
  for _, k in ipairs(keys_of(v)) do
    local at = unresolved_at(v[k], path .. "." .. tostring(k))
    if at then return at end
  end
  return nil
end

--- Refuses an explored config a trial cannot take (a function in it, a
--- table that contains itself, a search space: what custom_explore_fn or
--- a mutation function returned), before PBT or PB2 records or logs
--- anything of it.
function M.check_explored(config)
  local why, where = util.not_plain(config)
  if not why then
    where = unresolved_at(config, "")
    why = where and "a search space still to resolve"
  end
  if why then
    error(string.format("the explored config holds %s at config%s: a trial's config must be plain data "
      .. "(check what custom_explore_fn or a hyperparam_mutations function returns)", why, where), 0)
  end
  return config
end

--- Ray's _fill_config: config[attr] sampled from `search_space`.
function M.fill_config(config, attr, search_space, rng)
  local kind = mutation_kind(search_space)
  if kind == "function" then
    config[attr] = search_space(rng)
  elseif kind == "domain" then
    config[attr] = search_space:sample(rng)
  elseif kind == "list" then
    config[attr] = util.deepcopy(rng:choice(search_space))
  elseif kind == "dict" then
    config[attr] = {}
    for _, k in ipairs(keys_of(search_space)) do M.fill_config(config[attr], k, search_space[k], rng) end
  end
end

--- The keys `mutations` has that `config` lacks, at any depth (Ray 2.0
--- fills the top level only, and its explore then fails on a nested key),
--- filled from them and set in `evaluated` ("opt/mom" = value).
function M.fill_missing(config, mutations, rng, evaluated, prefix)
  prefix = prefix or ""
  for _, attr in ipairs(keys_of(mutations)) do
    local m = mutations[attr]
    if config[attr] == nil then
      M.fill_config(config, attr, m, rng)
      evaluated[prefix .. attr] = config[attr]
    elseif mutation_kind(m) == "dict" and type(config[attr]) == "table" then
      M.fill_missing(config[attr], m, rng, evaluated, prefix .. attr .. "/")
    end
  end
end

--- Why explore can never perturb `config` (nil: it can): a nested table
--- of mutations over a value that is not a table, or a search space or
--- function over one that is not a number while explore may multiply it
--- (resample_probability < 1). Ray finds either at the first exploit.
--- `owner` names the config in the message ("trial x's config").
function M.config_refusal(config, mutations, resample_probability, owner, prefix)
  prefix = prefix or ""
  for _, key in ipairs(keys_of(mutations)) do
    local m, v, name = mutations[key], config[key], prefix .. tostring(key)
    local kind = mutation_kind(m)
    if kind == "dict" and type(v) ~= "table" and v ~= nil then
      return string.format("hyperparam_mutations has a nested table at %s, but %s holds %s there", name, owner,
        util.show_got(v))
    elseif kind == "dict" and v ~= nil then
      local why = M.config_refusal(v, m, resample_probability, owner, name .. ".")
      if why then return why end
    elseif (kind == "domain" or kind == "function") and resample_probability < 1 and v ~= nil
        and type(v) ~= "number" then
      return string.format("hyperparam_mutations has a %s at %s, which explore multiplies by 0.8 or 1.2, but %s "
        .. "holds %s there (for categorical values use a list in hyperparam_mutations)",
        kind == "domain" and "search space" or "function", name, owner, util.show_got(v))
    end
  end
  return nil
end

--- Ray's _make_experiment_tag: "<orig>@perturbed[k=v,...]" over the
--- mutated keys.
function M.make_experiment_tag(orig_tag, config, mutations)
  local resolved = {}
  for k in pairs(mutations) do
    resolved[#resolved + 1] = {path = {"config", k}, value = config[k]}
  end
  return string.format("%s@perturbed[%s]", tostring(orig_tag or ""), variants.format_vars(resolved))
end

--- Checks hyperparam_mutations as Ray's PBT constructor does: each value
--- a list, a table of more mutations, a search space (not
--- tune.sample_from) or a function; else an error at `level` (1 = the
--- caller).
local function check_mutations(mutations, where, level)
  for _, k in ipairs(keys_of(mutations)) do
    local v = mutations[k]
    if type(k) ~= "string" then
      -- {{1, 2}}: a list, not mutations by config key (a trial's config
      -- got the key 1, which its worker sees as "1").
      error(string.format("PopulationBasedTraining: hyperparam_mutations keys must be config key names (strings), "
        .. "got %s key %s%s", type(k), tostring(k), where ~= "" and " in " .. where:sub(1, -2) or ""), level + 1)
    end
    local kind = mutation_kind(v)
    -- An empty table has no values to choose from and no nested keys
    -- (Ray's [] fails at the first exploit, its {} mutates nothing).
    local bad = kind == nil and "a " .. type(v)
      or kind == "dict" and next(v) == nil and "an empty table: give the values to choose from, or nested keys"
      or sample.is_grid(v) and "a tune.grid_search: give the list of its values"
    if bad then
      error(string.format("`hyperparam_mutation` values must be either a List, Dict, a tune search space "
        .. "object, or a callable (%s%s is %s).", where, tostring(k), bad), level + 1)
    end
    if kind == "domain" and v.kind == "function" then
      error("arbitrary tune.sample_from objects are not supported for `hyperparam_mutation` values. "
        .. "You must use other built in primitives like tune.uniform, tune.loguniform, etc.", level + 1)
    end
    if kind == "dict" then check_mutations(v, where .. tostring(k) .. ".", level + 1) end
  end
end
M.check_mutations = check_mutations

return M
