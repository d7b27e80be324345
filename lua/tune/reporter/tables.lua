--- tune.reporter.tables: rows of values as a text table (internal), by
--- tabulate's rules in the styles FORMATS names ("outline", "psql",
--- "compact"; tune.reporter's header describes them).
local values = require("tune.reporter.values")

local M = {}

local fmt_g, text, width = values.fmt_g, values.text, values.width

local FORMATS = {
  psql = {above = {"+", "-", "+", "+"}, rule = {"|", "-", "+", "|"}, below = {"+", "-", "+", "+"},
          row = {"|", "|", "|"}, pad = 1, minpad = 2},
  outline = {above = {"┌", "─", "┬", "┐"}, rule = {"├", "─", "┼", "┤"}, below = {"└", "─", "┴", "┘"},
             row = {"│", "│", "│"}, pad = 1, minpad = 2},
  compact = {rule = {"", "-", "  ", ""}, row = {"", "  ", ""}, pad = 0, minpad = 0, rstrip = true},
}
M.FORMATS = FORMATS

local function afterpoint(s)
  if s == "" or s:match("^%-?%d+$") then return -1 end
  local pos = s:match(".*()%.") or s:lower():match(".*()e")
  return pos and (#s - pos) or -1
end

local function column_type(rows, j)
  local kind
  for _, r in ipairs(rows) do
    local v = r[j]
    if v ~= nil then
      if type(v) ~= "number" then return "text" end
      if math.type(v) == "float" then kind = "float" elseif not kind then kind = "int" end
    end
  end
  return kind or "text"
end

--- Renders rows (arrays of values, nil = missing) under headers.
local function tabulate(headers, rows, fmt_name)
  local fmt = FORMATS[fmt_name]
  local ncol = #headers
  local cols, widths, numeric = {}, {}, {}
  for j = 1, ncol do
    local kind = column_type(rows, j)
    numeric[j] = kind ~= "text"
    local cells = {}
    for i, r in ipairs(rows) do
      local v = r[j]
      if v == nil then cells[i] = ""
      elseif kind == "float" then cells[i] = fmt_g(v)
      elseif kind == "int" then cells[i] = string.format("%d", v)
      else cells[i] = text(v):match("^%s*(.-)%s*$") end
    end
    if numeric[j] then
      local maxdec = -1
      for i = 1, #cells do maxdec = math.max(maxdec, afterpoint(cells[i])) end
      for i = 1, #cells do cells[i] = cells[i] .. string.rep(" ", maxdec - afterpoint(cells[i])) end
    end
    local w = width(headers[j]) + fmt.minpad
    for i = 1, #cells do w = math.max(w, width(cells[i])) end
    cols[j], widths[j] = cells, w
  end
  local function pad(s, w, right)
    local fill = string.rep(" ", w - width(s))
    return right and (fill .. s) or (s .. fill)
  end
  local space = string.rep(" ", fmt.pad)
  local function row(cells)
    local parts = {}
    for j = 1, ncol do parts[j] = space .. cells[j] .. space end
    return fmt.row[1] .. table.concat(parts, fmt.row[2]) .. fmt.row[3]
  end
  local function line(l)
    local parts = {}
    for j = 1, ncol do parts[j] = string.rep(l[2], widths[j] + 2 * fmt.pad) end
    return l[1] .. table.concat(parts, l[3]) .. l[4]
  end
  local out = {}
  if fmt.above then out[#out + 1] = line(fmt.above) end
  local hcells = {}
  for j = 1, ncol do hcells[j] = pad(headers[j], widths[j], numeric[j]) end
  out[#out + 1] = row(hcells)
  out[#out + 1] = line(fmt.rule)
  for i = 1, #rows do
    local cells = {}
    for j = 1, ncol do cells[j] = pad(cols[j][i], widths[j], numeric[j]) end
    out[#out + 1] = row(cells)
  end
  if fmt.below then out[#out + 1] = line(fmt.below) end
  if fmt.rstrip then
    for i = 1, #out do out[i] = out[i]:gsub("%s+$", "") end
  end
  return table.concat(out, "\n")
end
M.tabulate = tabulate

return M
