--- tune.analysis.results: a trial's result history as rows (internal):
--- result.json (one JSON object a line) and progress.csv (RFC 4180 CSV).
local core = require("tune.core")
local common = require("tune.analysis.common")

local M = {}

local flat_row, warn = common.flat_row, common.warn

--- Rows of a result.json: one object a line; a torn last line (no newline
--- after it) is dropped silently, other unreadable lines with a warning.
function M.parse_result_json(text, where)
  local rows, bad = {}, 0
  local pos, n = 1, #text
  while pos <= n do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or n + 1) - 1)
    if line:find("%S") then
      local obj = core.json_decode(line)
      if type(obj) == "table" and getmetatable(obj) == nil then
        rows[#rows + 1] = flat_row(obj)
      elseif nl then
        bad = bad + 1
      end
    end
    if not nl then break end
    pos = nl + 1
  end
  if bad > 0 then warn(string.format("skipped %d unreadable line(s) in %s", bad, where or "result.json")) end
  return rows
end

--- Records of an RFC 4180 CSV text (arrays of strings). A last record not
--- ended by a newline is torn and dropped.
function M.parse_csv(text)
  local records, rec = {}, {}
  local i, n = 1, #text
  while i <= n do
    local value
    if text:sub(i, i) == '"' then
      local parts, j = {}, i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then return records end
        parts[#parts + 1] = text:sub(j, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      local e = text:find("[,\r\n]", i) or n + 1
      value = table.concat(parts) .. text:sub(i, e - 1)
      i = e
    else
      local e = text:find("[,\r\n]", i) or n + 1
      value = text:sub(i, e - 1)
      i = e
    end
    rec[#rec + 1] = value
    local d = text:sub(i, i)
    if d == "," then
      i = i + 1
    elseif d == "\r" or d == "\n" then
      if d == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      i = i + 1
      records[#records + 1] = rec
      rec = {}
    else
      return records
    end
  end
  return records
end

local CSV_WORDS = {nan = 0 / 0, NaN = 0 / 0, inf = math.huge, Infinity = math.huge, ["-inf"] = -math.huge,
  ["-Infinity"] = -math.huge, ["True"] = true, ["true"] = true, ["False"] = false, ["false"] = false}

local function csv_value(key, s)
  if s == "" then return nil end
  if key == "trial_id" then return s end
  local w = CSV_WORDS[s]
  if w ~= nil then return w end
  -- Decimal numbers only, as pandas reads them: Lua's tonumber would read
  -- "0x10" as 16.
  if s:find("[xX]") then return s end
  return tonumber(s) or s
end

--- Rows of a progress.csv (already flat: "config/lr" columns).
function M.parse_progress_csv(text)
  local records = M.parse_csv(text)
  local header = records[1]
  local rows = {}
  if not header then return rows end
  for r = 2, #records do
    local rec = records[r]
    if #rec == #header then
      local row = {}
      for c, key in ipairs(header) do row[key] = csv_value(key, rec[c]) end
      rows[#rows + 1] = row
    end
  end
  return rows
end

return M
