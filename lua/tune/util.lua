--- Helpers shared by the Lua library.
local core = require("tune.core")

local M = {}

--- Deep copy of plain data (metatables kept), 200 levels down (JSON's limit; deeper ones are shared).
function M.deepcopy(v, seen, depth)
  if type(v) ~= "table" or (depth or 0) > 200 then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in pairs(v) do out[M.deepcopy(k, seen, (depth or 0) + 1)] = M.deepcopy(x, seen, (depth or 0) + 1) end
  return setmetatable(out, getmetatable(v))
end

--- Flattens nested tables into "a/b/c" keys (Ray's flatten_dict); arrays are kept as values.
function M.flatten(t, sep, prefix, out)
  sep = sep or "/"
  out = out or {}
  for k, v in pairs(t) do
    local key = prefix and (prefix .. sep .. tostring(k)) or tostring(k)
    if type(v) == "table" and getmetatable(v) == nil and next(v) ~= nil and #v == 0 then
      M.flatten(v, sep, key, out)
    else
      out[key] = v
    end
  end
  return out
end

--- Looks up "a/b/c" in a nested table (or a flat key holding the slash); "l/1": list l's first.
function M.get_path(t, path, sep)
  if t == nil then return nil end
  local v = t[path]
  if v ~= nil then return v end
  sep = sep or "/"
  if path ~= "" and not string.find(path, sep, 1, true) then return nil end -- only itself (most misses)
  v = t
  for part in string.gmatch(path, "[^" .. sep .. "]+") do
    if type(v) ~= "table" then return nil end
    local x = v[part]
    if x == nil and string.find(part, "^[1-9]%d*$") then x = v[math.tointeger(tonumber(part))] end
    v = x
  end
  return v
end

--- The shared do-nothing function. Base classes give it to hooks they do
--- not implement, so that the runner's plug-in adapter skips those calls
--- (tune.experiment.plugin).
function M.noop() end

--- Sorted keys of a table.
function M.sorted_keys(t)
  local keys, n, strings = {}, 0, true
  for k in pairs(t) do
    n = n + 1
    keys[n] = k
    if strings and type(k) ~= "string" then strings = false end
  end
  -- Only strings (a result, a config): the built-in order, no Lua calls.
  if strings then
    table.sort(keys)
    return keys
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return a < b
  end)
  return keys
end

--- Absolute form of a path relative to the current directory.
function M.abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local cwd = assert(core.getcwd())
  if p == "." then return cwd end
  if p:sub(1, 2) == "./" then p = p:sub(3) end
  return cwd .. "/" .. p
end

--- A path in its real form (symbolic links, "." and ".." resolved), also
--- when its last parts do not exist yet: the longest existing prefix is
--- resolved and the rest appended.
function M.real_path(p)
  local rest = {}
  p = M.abspath(p)
  while true do
    local r = core.realpath(p)
    if r then
      for i = #rest, 1, -1 do
        if rest[i] == ".." then r = r:match("^(.*)/[^/]*$") or "/"
        elseif rest[i] ~= "" and rest[i] ~= "." then r = M.join(r, rest[i]) end
        if r == "" then r = "/" end
      end
      return r
    end
    local parent, base = p:match("^(.*)/([^/]*)$")
    if parent == nil then return p end
    rest[#rest + 1] = base
    p = parent == "" and "/" or parent
  end
end

--- Whether path a is b or lies under it (both absolute, normalised).
function M.within(a, b) return a == b or a:sub(1, #b + 1) == (b == "/" and "/" or b .. "/") end

--- os.path.expanduser: "~" and "~/x" are $HOME's, "~name/x" user name's
--- (/etc/passwd); an unknown user's path stays as it is (not $HOME .. "name").
function M.expanduser(p)
  local user, rest = p:match("^~([^/]*)(.*)$")
  if user == "" then return (os.getenv("HOME") or "/tmp") .. rest end
  local f = user and io.open("/etc/passwd")
  local home = f and ("\n" .. f:read("a")):match("\n" .. user:gsub("%p", "%%%0") .. (":[^:\n]*"):rep(4) .. ":([^:\n]*)")
  if f then f:close() end
  return home and home .. rest or p
end

function M.join(a, b) return a:sub(-1) == "/" and a .. b or a .. "/" .. b end

--- "2024-01-31_12-00-00", as Ray's date_str.
local date_at, date_text
function M.date_str()
  -- Made once a second: every trial's directory name has it.
  local now = os.time()
  if now ~= date_at then date_at, date_text = now, os.date("%Y-%m-%d_%H-%M-%S", now) end
  return date_text
end

--- Random lowercase hex string of n characters.
local seeded = false
function M.random_hex(n)
  if not seeded then
    math.randomseed(math.floor(core.time() * 1e6) ~ core.getpid())
    seeded = true
  end
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

--- Raises `msg` at the first stack frame outside the tune library: the
--- user's line, however deep inside tune the check is (a base class's
--- __init reached through a subclass, say).
function M.user_error(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then break end
    local src = info.source
    if info.what ~= "C" and not src:find("/lua/tune/", 1, true) then break end
    level = level + 1
  end
  error(msg, level)
end

--- Levenshtein distance, for "did you mean" messages.
function M.edit_distance(a, b)
  local la, lb = #a, #b
  local prev = {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = {[0] = i}
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[lb]
end

--- v, or nil for JSON null (tune.null) as saved states hold it.
function M.nonnull(v)
  if v == core.null then return nil end
  return v
end

--- numpy's round (and Python's round, timedelta's): to the nearest
--- integer, ties to even.
function M.round_half_even(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
  return f
end

--- Python's repr of a number: an integer as "%d"; a float as the shortest
--- string that reads back to it, "5.0" for integral ones, exponent form
--- below 1e-4 and from 1e16 ("1e-05", "1e+16"), "nan", "inf", "-inf".
function M.py_repr_number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x == 0 then return (1 / x < 0) and "-0.0" or "0.0" end
  local s
  for p = 0, 16 do
    s = string.format("%." .. p .. "e", x)
    if tonumber(s) == x then break end
  end
  local sign, lead, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (lead .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  exp = tonumber(exp)
  if exp < -4 or exp >= 16 then
    local mant = digits:sub(1, 1) .. (#digits > 1 and ("." .. digits:sub(2)) or "")
    return string.format("%s%se%s%02d", sign, mant, exp < 0 and "-" or "+", math.abs(exp))
  elseif exp < 0 then
    return sign .. "0." .. string.rep("0", -exp - 1) .. digits
  elseif exp >= #digits - 1 then
    return sign .. digits .. string.rep("0", exp - #digits + 1) .. ".0"
  end
  return sign .. digits:sub(1, exp + 1) .. "." .. digits:sub(exp + 2)
end

--- The candidate closest to `name`, or nil if none is close: within a
--- third of name's length in edits (at least 2), else the shortest
--- candidate that `name` (4 characters or more) begins ("n_startup" for
--- n_startup_trials).
function M.closest(name, candidates)
  local best, bestd, prefixed
  for _, c in ipairs(candidates) do
    local d = M.edit_distance(name, c)
    if not bestd or d < bestd then best, bestd = c, d end
    if #name >= 4 and c:sub(1, #name) == name and (not prefixed or #c < #prefixed) then prefixed = c end
  end
  if bestd and bestd <= math.max(2, #name // 3) then return best end
  return prefixed
end

--- Checks the options table a constructor was given, for `name`'s
--- messages: nil gives {}; anything but a table, or a key that `known`
--- (a table keyed by option name) lacks, is an error at `level` (1 = the
--- caller of check_options) naming the closest valid option. Returns opts.
function M.check_options(name, opts, known, level)
  level = (level or 1) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(name .. ": the options must be a table, got " .. type(opts), level) end
  for k in pairs(opts) do
    if known[k] == nil then
      local near = type(k) == "string" and M.closest(k, M.sorted_keys(known)) or nil
      error(string.format("%s: unknown option %s%s", name, type(k) == "string" and string.format("%q", k) or tostring(k),
        near and (" (did you mean " .. near .. "?)") or ""), level)
    end
  end
  return opts
end

--- "<path>: <why>" for an error of the file system, which may name the
--- path already (core's messages do).
function M.with_path(path, err)
  local e = tostring(err)
  if e:sub(1, #path + 2) == path .. ": " then return e end
  return path .. ": " .. e
end

--- Raises "<name>: <key> must be true or false, got <value>" at `level`
--- (1 = the caller of check_booleans) for the first of `keys` that opts
--- sets to anything but a boolean (Python would take any truthy value;
--- a string "false" meaning true is a trap).
function M.check_booleans(name, opts, keys, level)
  for _, k in ipairs(keys) do
    local v = opts[k]
    if v ~= nil and type(v) ~= "boolean" then
      error(string.format("%s: %s must be true or false, got %s%s", name, k, type(v),
        type(v) == "string" and string.format(" %q", v) or ""), (level or 1) + 1)
    end
  end
end

--- Raises "<name>: <key> must be a finite number, got <show_got(v)>" at `level` for
--- the first of `keys` whose value v = `value(key)` is not a number, NaN or infinite.
--- show_got(v): a number as Python prints it, a string as `string "27"`, else its type.
function M.check_finite(name, value, keys, level)
  for _, k in ipairs(keys) do
    local v = value(k)
    if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
      error(string.format("%s: %s must be a finite number, got %s", name, k, M.show_got(v)), level + 1)
    end
  end
end
function M.show_got(v)
  if type(v) == "string" then return string.format("string %q", v) end
  return type(v) == "number" and M.py_repr_number(v) or type(v)
end

--- Why `v` cannot be (part of) a trial's config, which is JSON that C
--- reads back, and where (a path like ".a.b", "" for `v` itself); nil when
--- it can. Refused: a function, userdata (JSON's null, core.null,
--- excepted) or coroutine, a key neither string nor number, a NUL character in a string or key (C would
--- end it there) or bytes that are not UTF-8, a table inside itself, plain tables nested deeper than 100.
--- Tables with a metatable (a Domain still to resolve, an object) are not
--- looked into. The one check of every maker of configs: tune.run's
--- constants, sample_from, searchers' suggestions, Trial:set_config.
local MAX_PLAIN_DEPTH = 100
local function not_text(s) return s:find("\0", 1, true) and "a NUL character" or not utf8.len(s) and "bytes that are not UTF-8" end
local function not_plain(v, path, open, done, depth)
  local tv = type(v)
  if tv == "function" or tv == "thread" or (tv == "userdata" and v ~= core.null) then return "a " .. tv, path end
  if tv == "string" then -- (bytes that are not UTF-8 reached the trial as U+FFFD: another string)
    local bad = not_text(v)
    return bad and "a string with " .. bad or nil, path
  end
  if tv ~= "table" or done[v] then return nil end
  local mt = getmetatable(v)
  if mt ~= nil and mt ~= core.array_mt then return nil end
  if open[v] then return "a table that contains itself", path end
  if depth > MAX_PLAIN_DEPTH then return "tables nested more than " .. MAX_PLAIN_DEPTH .. " deep", path end
  open[v] = true
  for k, x in pairs(v) do
    local bad = type(k) == "string" and not_text(k) and "a key with " .. not_text(k)
      or type(k) ~= "string" and type(k) ~= "number" and "a " .. type(k) .. " key" -- (JSON has none)
    if bad then return bad, path end
    local why, where = not_plain(x, path .. "." .. tostring(k), open, done, depth + 1)
    if why then return why, where end
  end
  open[v] = nil
  done[v] = true
  return nil
end
function M.not_plain(v) return not_plain(v, "", {}, {}, 1) end

--- Makes `t` a catalogue of plug-in classes loaded on first use (tune.search,
--- tune.schedulers): lazy[name] is the module that holds class `name` (the
--- module returns the class, or a table of classes keyed by name).
--- `names` maps Ray's string keys to class names, for t["create_" .. kind].
function M.catalogue(t, lazy, names, kind)
  setmetatable(t, {
    __index = function(tt, k)
      local mod = lazy[k]
      if not mod then return nil end
      local v = require(mod)
      if type(v) == "table" and rawget(v, k) ~= nil then v = rawget(v, k) end
      rawset(tt, k, v)
      return v
    end,
  })
  --- Adds a class (in `module`), optionally under a string key.
  function t._register(name, module, key)
    lazy[name] = module
    if key then names[key] = name end
  end
  --- create_<kind>("key", opts), as Ray's tune.create_scheduler / create_searcher.
  t["create_" .. kind] = function(name, opts, ...)
    if type(name) ~= "string" then error("create_" .. kind .. ": the name must be a string", 2) end
    local n = select("#", ...) -- Ray's create_*(name, **kwargs): one table here, nothing after it
    if n > 0 then error(string.format("create_%s: takes (name, opts), got %d arguments", kind, n + 2), 2) end
    local cls = names[name:lower()]
    if not cls then
      error(string.format("unknown %s %q (one of: %s)", kind, name, table.concat(M.sorted_keys(names), ", ")), 2)
    end
    return t[cls](opts)
  end
  return t
end

--- Shallow merge of tables into a new one (later ones win).
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t then for k, v in pairs(t) do out[k] = v end end
  end
  return out
end

--- Number from the environment, or nil.
function M.env_number(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  local n = tonumber(v)
  if n == nil then
    error(string.format("environment variable %s=%q is not a number", name, v), 0)
  end
  return n
end

--- opts[key], else defaults[key]; a default of false marks an option
--- that has none (nil then).
function M.with_default(opts, defaults, key)
  local v = opts[key]
  if v == nil and defaults[key] ~= false then return defaults[key] end
  return v
end

--- Option `key` from `opts`, else the environment variable, else default.
function M.option(opts, key, env, default)
  local v = opts and opts[key]
  if v ~= nil then return v end
  if env then
    local e = M.env_number(env)
    if e ~= nil then return e end
  end
  return default
end

return M
