--- tune.search.points: a point (points_to_evaluate, or a searcher's
--- suggestion) put into a config, as Ray's assign_value and merge_dicts do,
--- and the checks of a point against the config's domains (internal).
---
--- Only dicts merge: a point's table for a key whose value in the config
--- is a table too is merged into it key by key; anything else replaces
--- the config's value whole (a list, a scalar, a table given where the
--- config holds a Domain or a grid search).
local core = require("tune.core")
local sample = require("tune.search.sample")
local util = require("tune.util")

local M = {}

local is_domain, is_grid, plain_copy = sample.is_domain, sample.is_grid, sample._plain_copy

--- True for a table that merges key by key (Ray's dict): plain (no
--- metatable: not a Domain, not a JSON array), not empty, not a sequence
--- (a list, whatever its length, is replaced whole), not a grid search.
local function is_dict(v)
  return type(v) == "table" and getmetatable(v) == nil and next(v) ~= nil and #v == 0 and not is_grid(v)
end
M.is_dict = is_dict

--- A copy of `base` with `over` put in: dicts merged, anything else
--- replaced (Ray's merge_dicts). Domains in `base` are kept as they are.
local function merge(base, over)
  local out = plain_copy(base)
  for k, v in pairs(over) do
    if is_dict(v) and is_dict(out[k]) then
      out[k] = merge(out[k], v)
    else
      out[k] = plain_copy(v)
    end
  end
  return out
end
M.merge = merge

local same = sample._same
M.same = same

--- True when a Domain lies somewhere in table `t`.
local function holds_domain(t)
  for _, x in pairs(t) do
    if type(x) == "table" and (is_domain(x) or holds_domain(x)) then return true end
  end
  return false
end

--- A value for messages: numbers as Python prints them, tables as JSON
--- (a config's table holding Domains with them as they print), JSON's
--- null as null, strings as they are (Ray's f-string) or quoted.
local function show(v, quote)
  if type(v) == "number" then return util.py_repr_number(v) end
  if v == core.null then return "null" end
  if type(v) == "table" and holds_domain(v) then return sample._repr(v) end
  if type(v) == "table" and not is_domain(v) then
    local ok, text = pcall(core.json_encode, v)
    return ok and text or tostring(v)
  end
  if quote and type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end
M.show = show

--- The problems of `point` against `config` (Ray's _get_preset_variants
--- checks), in key order: a list of {path =, value =, target =, kind =},
--- kind "domain" (a value outside its Domain), "grid" (not one of a grid
--- search's values) or "constant" (unlike the constant it replaces).
--- Dicts are compared key by key; lists and other values whole.
function M.problems(config, point, prefix, out)
  out = out or {}
  for _, k in ipairs(util.sorted_keys(point)) do
    local v = point[k]
    local path = prefix and (prefix .. "/" .. tostring(k)) or tostring(k)
    local target = type(config) == "table" and config[k] or nil
    if target == nil then
      -- A key the config lacks: added, nothing to compare.
    elseif is_grid(target) then
      local found = false
      for _, g in ipairs(target.grid_search) do found = found or same(g, v) end
      if not found then out[#out + 1] = {path = path, value = v, target = target, kind = "grid"} end
    elseif is_domain(target) then
      if not target:is_valid(v) then out[#out + 1] = {path = path, value = v, target = target, kind = "domain"} end
    elseif is_dict(v) and is_dict(target) then
      M.problems(target, v, path, out)
    elseif not same(target, v) then
      out[#out + 1] = {path = path, value = v, target = target, kind = "constant"}
    end
  end
  return out
end

--- Why `points` cannot be a searcher's points_to_evaluate, or nil when it
--- can (nil, or a list of config tables). As Ray's validate_warmstart, a
--- single config (a table keyed by names) is not taken for a list of one.
function M.check_list(points)
  if points == nil then return nil end
  if type(points) ~= "table" then return "points_to_evaluate expected to be a list, got " .. type(points) end
  local n = 0
  for _ in pairs(points) do n = n + 1 end
  for _, k in ipairs(util.sorted_keys(points)) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return string.format("points_to_evaluate expected to be a list, got a table with key %s%s",
        show(k, true), type(k) == "string" and " (one config? put it in a list: {{...}})" or "")
    end
  end
  for i = 1, n do
    if type(points[i]) ~= "table" then
      return string.format("points_to_evaluate must be a list of config tables, got %s at [%d]", type(points[i]), i)
    end
  end
  return nil
end

--- Warns on stderr of each problem of `point` (BasicVariantGenerator's
--- warnings, Ray's words): the point is used as given all the same.
function M.warn(config, point)
  for _, p in ipairs(M.problems(config, point)) do
    if p.kind == "constant" then
      io.stderr:write(string.format("tunelua warning: Pre-set value `%s` is not equal to the value of "
        .. "parameter `%s`: %s\n", show(p.value), p.path, show(p.target)))
    else
      io.stderr:write(string.format("tunelua warning: Pre-set value `%s` is not within valid values of "
        .. "parameter `%s`: %s\n", show(p.value), p.path,
        p.kind == "grid" and show(p.target.grid_search) or tostring(p.target)))
    end
  end
end

--- Why `point` is not in a searcher's space `config` (a Domain's value
--- outside it, "lr = 7 is outside uniform(0, 1)"), or nil when no Domain
--- refuses its value.
function M.why_outside(config, point)
  for _, p in ipairs(M.problems(config, point)) do
    if p.kind == "domain" then
      local d = p.target
      return string.format("%s = %s %s %s", p.path, show(p.value, true),
        d.kind == "categorical" and "is not one of" or "is outside", tostring(d))
    end
  end
  return nil
end

return M
