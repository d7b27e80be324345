--- tune.reporter.values: values as text for the reporter's tables (internal):
--- Python's repr and str of numbers, strings and tables, Ray's abbreviation
--- of long cells and headers, and result lookups by "a/b" key.
local core = require("tune.core")
local util = require("tune.util")

local NULL = core.null
local find, one_line = string.find, core.one_line

local function is_missing(v) return v == nil or v == NULL end

local function width(s) return utf8.len(s) or #s end

-- The characters of s (UTF-8 when valid, else bytes).
local function chars(s)
  local out = {}
  if utf8.len(s) then
    for _, c in utf8.codes(s) do out[#out + 1] = utf8.char(c) end
  else
    for i = 1, #s do out[i] = s:sub(i, i) end
  end
  return out
end

local function special_float(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  return nil
end

--- tabulate's default float format: Python's format(x, "g").
local function fmt_g(x)
  return special_float(x) or string.format("%g", x)
end

--- Python's repr of a number: shortest round-trip, "5.0" for integral floats.
local num_repr = util.py_repr_number

local function str_repr(s)
  local q = (s:find("'", 1, true) and not s:find('"', 1, true)) and '"' or "'"
  s = s:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub("\t", "\\t")
  if q == "'" then s = s:gsub("'", "\\'") end
  return q .. s .. q
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

--- Python's repr of a value (the "parameters={...}" of the best-trial line).
local function repr(v, seen)
  if is_missing(v) then return "None" end
  local tv = type(v)
  if tv == "number" then return num_repr(v) end
  if tv == "boolean" then return v and "True" or "False" end
  if tv == "string" then return str_repr(v) end
  if tv ~= "table" or (getmetatable(v) and getmetatable(v).__tostring) then return tostring(v) end
  seen = seen or {}
  if seen[v] then return "{...}" end
  seen[v] = true
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = repr(v[i], seen) end
    seen[v] = nil
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  for _, k in ipairs(util.sorted_keys(v)) do
    parts[#parts + 1] = repr(k, seen) .. ": " .. repr(v[k], seen)
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- Python's str of a value: a table cell of a text column.
local function text(v)
  if v == nil or v == NULL then return "" end
  if type(v) == "string" then return one_line(v) end
  if type(v) == "number" then return num_repr(v) end
  return one_line(repr(v))
end

-- 4 hex digits naming a string (FNV-1a): Ray appends part of the object's
-- address to an abbreviated value; a hash keeps the output reproducible.
local function tag4(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return string.format("%04x", h & 0xffff)
end

--- Ray's _max_len(add_addr=True) for cells: numbers, booleans and missing
--- values pass; other values become text, abbreviated past max_len.
local function abbrev_value(v, max_len)
  if v == nil or v == NULL then return nil end
  if type(v) == "number" or type(v) == "boolean" then return v end
  local s = text(v)
  if width(s) <= max_len then return s end
  local c = chars(s)
  return table.concat(c, "", 1, math.max(max_len - 5, 0)) .. "_" .. tag4(s)
end

--- Ray's _max_len for headers: "..." and the tail.
local function abbrev_header(s, max_len)
  if width(s) <= max_len then return s end
  local c = chars(s)
  local keep = math.max(max_len - 3, 0)
  return "..." .. table.concat(c, "", #c - keep + 1, #c)
end

-- Whether a key holds the "/" of a nested lookup, for the last few
-- hundred keys (columns: the same few looked up in every trial's result).
local nested_key, nkeys = {}, 0

local function lookup(t, key)
  if type(t) ~= "table" then return nil end
  local v = t[key]
  if v == nil then
    local nested = nested_key[key]
    if nested == nil then
      nested = type(key) ~= "string" or key == "" or find(key, "/", 1, true) ~= nil
      if nkeys >= 256 then nested_key, nkeys = {}, 0 end
      nested_key[key], nkeys = nested, nkeys + 1
    end
    if not nested then return nil end
    v = util.get_path(t, key)
  end
  if v == NULL then return nil end
  return v
end

return {
  is_missing = is_missing, width = width, fmt_g = fmt_g, is_array = is_array, repr = repr, text = text,
  abbrev_value = abbrev_value, abbrev_header = abbrev_header, lookup = lookup,
}
