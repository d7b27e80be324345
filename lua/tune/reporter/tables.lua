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

local byte, find, sub = string.byte, string.find, string.sub

-- The last position of the plain text `c` in s, or nil (plain searches:
-- a cell of a 10,000-row table is looked at several times).
local function rfind(s, c)
  local pos, p = nil, find(s, c, 1, true)
  while p do
    pos = p
    p = find(s, c, p + 1, true)
  end
  return pos
end

local function afterpoint(s)
  if s == "" or find(s, "^%-?%d+$") then return -1 end
  -- The last "." (else the last "e" or "E").
  local pos = rfind(s, ".")
  if not pos then
    local e, E = rfind(s, "e"), rfind(s, "E")
    pos = (e and E) and math.max(e, E) or e or E
  end
  return pos and (#s - pos) or -1
end

-- Python's str.strip() of whitespace; most cells have none to strip.
local SPACE = {[9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true}
local function strip(s)
  if not SPACE[byte(s, 1)] and not SPACE[byte(s, -1)] then return s end
  return s:match("^%s*(.-)%s*$")
end

-- Trailing whitespace off, from the end (the pattern "%s+$" tries every
-- run of spaces of a padded line: a sixth of a final table's work).
local function rstrip(s)
  local n = #s
  if n == 0 or not SPACE[byte(s, n)] then return s end
  repeat n = n - 1 until n == 0 or not SPACE[byte(s, n)]
  return sub(s, 1, n)
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
  -- Headers on one line, as the cells (a result key may hold a newline).
  headers = table.move(headers, 1, ncol, 1, {})
  for j = 1, ncol do headers[j] = text(headers[j]) end
  -- Each cell's text and display width are computed once (a final table
  -- of 10,000 trials has tens of thousands of cells).
  local cols, cwidths, widths, numeric = {}, {}, {}, {}
  local rep = string.rep
  for j = 1, ncol do
    local kind = column_type(rows, j)
    numeric[j] = kind ~= "text"
    local cells, cw = {}, {}
    -- A number's text once per value (a column of iterations or flags
    -- repeats a few); %g of 1 and of 1.0 are the same text, but not of
    -- 0 and -0.0, nor can NaN be a key: those are formatted each time.
    local seen_num = {}
    local function number_text(v) return kind == "float" and fmt_g(v) or string.format("%d", v) end
    for i, r in ipairs(rows) do
      local v = r[j]
      if v == nil then cells[i] = ""
      elseif kind == "text" then cells[i] = strip(text(v))
      elseif v ~= v or v == 0 then cells[i] = number_text(v)
      else
        local c = seen_num[v]
        if not c then
          c = number_text(v)
          seen_num[v] = c
        end
        cells[i] = c
      end
    end
    if numeric[j] then
      local maxdec, dec = -1, {}
      for i = 1, #cells do
        dec[i] = afterpoint(cells[i])
        if dec[i] > maxdec then maxdec = dec[i] end
      end
      for i = 1, #cells do
        if maxdec > dec[i] then cells[i] = cells[i] .. rep(" ", maxdec - dec[i]) end
      end
    end
    local w = width(headers[j]) + fmt.minpad
    for i = 1, #cells do
      local cwi = width(cells[i])
      cw[i] = cwi
      if cwi > w then w = cwi end
    end
    cols[j], cwidths[j], widths[j] = cells, cw, w
  end
  local fills = {}
  local space = string.rep(" ", fmt.pad)
  -- The border and padding around and between cells, joined once.
  local lead, sep, tail = fmt.row[1] .. space, space .. fmt.row[2] .. space, space .. fmt.row[3]
  -- A row's pieces (borders, padding, cells, fills) go into one list and
  -- are joined once: no string per padded cell (10,000 rows of the final
  -- table are some 60,000 cells).
  local pieces = {}
  local function row(cells, cw)
    local n = 1
    pieces[1] = lead
    for j = 1, ncol do
      if j > 1 then n = n + 1; pieces[n] = sep end
      local c = cells[j]
      local gap = widths[j] - (cw and cw[j] or width(c))
      if gap > 0 then
        local fill = fills[gap]
        if not fill then
          fill = rep(" ", gap)
          fills[gap] = fill
        end
        -- Numbers to the right, text to the left.
        if numeric[j] then pieces[n + 1], pieces[n + 2] = fill, c else pieces[n + 1], pieces[n + 2] = c, fill end
        n = n + 2
      else
        n = n + 1; pieces[n] = c
      end
    end
    n = n + 1; pieces[n] = tail
    return table.concat(pieces, "", 1, n)
  end
  local function line(l)
    local parts = {}
    for j = 1, ncol do parts[j] = string.rep(l[2], widths[j] + 2 * fmt.pad) end
    return l[1] .. table.concat(parts, l[3]) .. l[4]
  end
  local out = {}
  if fmt.above then out[#out + 1] = line(fmt.above) end
  out[#out + 1] = row(headers)
  out[#out + 1] = line(fmt.rule)
  local cells, cw = {}, {}
  for i = 1, #rows do
    for j = 1, ncol do cells[j], cw[j] = cols[j][i], cwidths[j][i] end
    out[#out + 1] = row(cells, cw)
  end
  if fmt.below then out[#out + 1] = line(fmt.below) end
  if fmt.rstrip then
    for i = 1, #out do out[i] = rstrip(out[i]) end
  end
  return table.concat(out, "\n")
end
M.tabulate = tabulate

return M
