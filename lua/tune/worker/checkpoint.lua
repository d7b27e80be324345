--- Checkpoints on the worker's side: a checkpoint table (a function
--- trainable's reported one, a class's save_checkpoint return) stored as
--- JSON in `tune_checkpoint.json`, and the path a class's save_checkpoint
--- returned, kept relative to the checkpoint directory in
--- `.tune_worker.json` so that load_checkpoint gets it back where the
--- checkpoint is restored from (Ray's relative_checkpoint_path).
local core = require("tune.core")
local util = require("tune.util")

local M = {}

M.TABLE_FILE = "tune_checkpoint.json"
M.META_FILE = ".tune_worker.json"

local mtype, type = math.type, type

-- Deeper than this, the JSON encoder refuses the table and says so.
local MAX_DEPTH = 200

local function key_path(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  if type(k) == "string" then return string.format("%s[%q]", path, k) end
  return string.format("%s[%s]", path, tostring(k))
end

local function where(path) return path == "" and "the top level" or path end

-- A value no JSON holds (core.null is JSON's null), or a string C would
-- cut at its NUL.
local function not_data(v)
  local tv = type(v)
  return tv == "function" or tv == "thread" or (tv == "userdata" and v ~= core.null)
    or (tv == "string" and v:find("\0", 1, true) ~= nil)
end

-- Whether `t` holds a table JSON would not give back as it is: one pass
-- over each table (its integer keys must be exactly 1..n, with no string
-- key beside them), or anything JSON cannot hold: a table inside itself
-- (`seen`: the tables being looked into) or nested too deep.
local function has_problem(t, depth, seen)
  if depth > MAX_DEPTH or seen[t] then return true end
  seen[t] = true
  local ints, strings, lo, hi = 0, 0, math.maxinteger, math.mininteger
  for k, v in pairs(t) do
    local m = mtype(k)
    if m == "integer" then
      ints = ints + 1
      if k < lo then lo = k end
      if k > hi then hi = k end
    elseif m or type(k) ~= "string" or not utf8.len(k) then
      return true
    else
      strings = strings + 1
    end
    if type(v) == "table" and has_problem(v, depth + 1, seen) then return true end
    if (type(v) == "string" and not utf8.len(v)) or not_data(v) or not_data(k) then return true end
  end
  seen[t] = nil
  return ints > 0 and (strings > 0 or lo < 1 or hi ~= ints)
end

-- What is wrong in `t` (at `path`), looking at its fields in key order (so
-- that the first problem is the same in every run), or nil.
local function describe(t, path, depth, seen)
  if seen[t] then return "a table inside itself at " .. where(path) end
  if depth > MAX_DEPTH then return string.format("tables nested more than %d deep at %s...", MAX_DEPTH, path:sub(1, 40)) end
  seen[t] = true
  local ints, strings = 0, 0
  for k in pairs(t) do
    local tk = type(k)
    if tk == "string" then
      strings = strings + 1
    elseif math.type(k) == "integer" then
      ints = ints + 1
    elseif tk == "number" then
      return string.format("number key %s (not an integer) at %s", tostring(k), where(path))
    else
      return string.format("a key of type %s at %s", tk, where(path))
    end
  end
  if ints > 0 and strings > 0 then
    return "a table mixes list items and keys at " .. where(path)
  end
  local keys = util.sorted_keys(t)
  for _, k in ipairs(keys) do
    -- A list has the keys 1..n and nothing else: n keys, none outside.
    if ints > 0 and (k < 1 or k > ints) then
      return string.format("integer key %d in a table that is not a list at %s", k, where(path))
    end
  end
  for _, k in ipairs(keys) do
    local v, at = t[k], ints > 0 and string.format("%s[%d]", path, k) or key_path(path, k)
    -- (JSON holds text: other bytes came back as U+FFFD, the data changed.)
    if type(k) == "string" and not utf8.len(k) then return "a key that is not UTF-8 text at " .. where(path) end
    if not_data(k) then return "a key with a NUL character (C strings end there) at " .. where(path) end
    if type(v) == "string" and v:find("\0", 1, true) then return "a string with a NUL character (C strings end there) at " .. at end
    if not_data(v) then return string.format("a %s (a checkpoint is JSON data) at %s", type(v), at) end
    if type(v) == "string" and not utf8.len(v) then
      return "a string that is not UTF-8 text (JSON holds text: encode bytes, as hex for one) at " .. at
    end
    if type(v) == "table" then
      local why = describe(v, at, depth + 1, seen)
      if why then return why end
    end
  end
  seen[t] = nil
  return nil
end

--- Why checkpoint table `t` would not come back from JSON as it was saved
--- (JSON has lists and string-keyed objects: a table mixing list items and
--- keys, a sparse list, a non-string key), as "checkpoint: <what> at
--- <path>", or nil.
function M.problem(t)
  if not has_problem(t, 1, {}) then return nil end
  return "checkpoint: " .. (describe(t, "", 1, {}) or "a table JSON cannot hold as it is")
end

--- core's message for `path` ("<path>: <why>") without the path, which
--- the caller names its own way.
function M.why_not(err, path)
  err = tostring(err)
  if err:sub(1, #path + 2) == path .. ": " then return err:sub(#path + 3) end
  return err
end

-- Writes `text` as file `name` of checkpoint directory `dir`. A failure
-- (a full disk) names the file in the checkpoint, which the driver's
-- message names ("could not write checkpoint <dir>: <name>: <why>").
local function write(dir, name, text)
  local path = dir .. "/" .. name
  -- The driver syncs the checkpoint's tree when it commits it.
  local ok, err = core.write_atomic(path, text, false)
  if not ok then error(name .. ": " .. M.why_not(err, path), 0) end
end

--- Writes table `t` into checkpoint directory `dir`; `who` names the
--- caller in the error.
function M.write_table(dir, t, who)
  local why = M.problem(t)
  if why then error(who .. ": " .. why, 0) end
  local text, err = core.json_encode(t)
  if not text then error("the checkpoint is not plain data: " .. tostring(err), 0) end
  write(dir, M.TABLE_FILE, text)
end

-- The JSON value of file `name` of checkpoint directory `dir`, or nil
-- when there is no such file; one that cannot be read or parsed fails
-- the restore, naming it.
local function read(dir, name)
  local path = dir .. "/" .. name
  local text, err = core.read_file(path)
  if not text and core.stat(path) == nil then return nil end
  local v
  if text then v, err = core.json_decode(text) end
  if v == nil then error(string.format("cannot read checkpoint file %s: %s", path, M.why_not(err, path)), 0) end
  return v
end

--- The table stored in checkpoint directory `dir`, or nil.
function M.read_table(dir)
  return read(dir, M.TABLE_FILE)
end

-- Absolute path `p` with "." and ".." parts (and repeated slashes) taken
-- out, as text: a link in it is not followed (Ray compares the strings).
local function normalize(p)
  local parts = {}
  for part in util.abspath(p):gmatch("[^/]+") do
    if part == ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return "/" .. table.concat(parts, "/")
end

--- Stores what a class's save_checkpoint(dir) returned: a table (as JSON),
--- `dir` itself or nil (nothing), or a path inside `dir` (remembered
--- relative to it). A path outside `dir`, or anything else, fails the save.
function M.save_class(ret, dir)
  if type(ret) == "table" then return M.write_table(dir, ret, "save_checkpoint()") end
  if ret == nil then return end
  if type(ret) ~= "string" then
    error("save_checkpoint() must return a table, the checkpoint's directory (a string) or nil, got " .. type(ret), 0)
  end
  local base, path = normalize(dir), normalize(ret)
  if path == base then return end
  if not util.within(path, base) then
    error(string.format("save_checkpoint() returned %q, a path outside the directory it was given: "
      .. "return nil, that directory, a path in it or a table", ret), 0)
  end
  write(dir, M.META_FILE, assert(core.json_encode({relative_checkpoint_path = path:sub(#base + 2)})))
end

--- What a class's load_checkpoint gets for checkpoint directory `dir`: the
--- table saved there, the path save_checkpoint returned (moved to `dir`),
--- or `dir`.
function M.load_arg(dir)
  local t = M.read_table(dir)
  if t ~= nil then return t end
  local rel = read(dir, M.META_FILE)
  if type(rel) == "table" and type(rel.relative_checkpoint_path) == "string" then
    return dir .. "/" .. rel.relative_checkpoint_path
  end
  return dir
end

return M
