-- Side by side: quality11.lua's and quality11.py's JSON (issue 13's
-- search-quality study). Per function, setting and budget: the median
-- regret of each, and a paired Wilcoxon signed-rank test over the seeds
-- (normal approximation with tie and continuity corrections) of "tunelua
-- is worse" (one-sided p). The goal holds where tunelua's median <=
-- Optuna's and p >= 0.05.
--   tunelua bench/peer/quality11_compare.lua tunelua_quality11.json optuna_quality11.json
package.path = "./?.lua;" .. package.path
local core = require("tune.core")
local F = require("bench.peer.functions11")

local function load(path)
  local text = assert(core.read_file(path), "cannot read " .. path)
  local last
  for line in text:gmatch("[^\n]+") do last = line end
  return assert(core.json_decode(last), path .. ": no JSON line")
end

local median = require("bench.peer.workloads").median

--- Standard normal upper tail (TPE's normal CDF).
local ndtr = require("tune.search.tpe_parzen").ndtr
local function upper_tail(z) return ndtr(-z) end

--- One-sided p that a (tunelua) is larger than b (Optuna), paired.
local function wilcoxon_greater(a, b)
  local d = {}
  for i = 1, #a do
    local x = a[i] - b[i]
    if x ~= 0 then d[#d + 1] = x end
  end
  local n = #d
  if n == 0 then return 1.0 end
  local idx = {}
  for i = 1, n do idx[i] = i end
  table.sort(idx, function(i, j) return math.abs(d[i]) < math.abs(d[j]) end)
  local ranks, ties = {}, 0
  local i = 1
  while i <= n do
    local j = i
    while j < n and math.abs(d[idx[j + 1]]) == math.abs(d[idx[i]]) do j = j + 1 end
    local r = (i + j) / 2
    for k = i, j do ranks[idx[k]] = r end
    local t = j - i + 1
    ties = ties + (t * t * t - t)
    i = j + 1
  end
  local wplus = 0
  for k = 1, n do if d[k] > 0 then wplus = wplus + ranks[k] end end
  local mean = n * (n + 1) / 4
  local sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - ties / 48)
  if sd == 0 then return 1.0 end
  return upper_tail((wplus - mean - 0.5) / sd)
end

local T, O = load(arg[1]), load(arg[2])
if (T.first or 0) ~= (O.first or 0) then
  error(string.format("the two files are for different seeds (first %d and %d)", T.first or 0, O.first or 0), 0)
end
local function fmt(x) return string.format("%.4g", x) end
print(string.format("Median simple regret over seeds %d-%d (tunelua TPESearch vs Optuna %s TPESampler), "
  .. "and a paired Wilcoxon signed-rank test of \"tunelua is worse\":\n", T.first or 0, (T.first or 0) + T.seeds - 1,
  O.optuna or "?"))
print("| function | setting | budget | Optuna | tunelua | p (tunelua worse) | goal |")
print("| --- | --- | --- | --- | --- | --- | --- |")
local met, total = 0, 0
for _, f in ipairs(F.names) do
  for _, setting in ipairs({"seq", "conc2"}) do
    for _, b in ipairs({"60", "100"}) do
      local t = T.results[f] and T.results[f][setting] and T.results[f][setting][b]
      local o = O.results[f] and O.results[f][setting] and O.results[f][setting][b]
      if t and o then
        local n = math.min(#t, #o)
        local tt, oo = {table.unpack(t, 1, n)}, {table.unpack(o, 1, n)}
        local mt, mo = median(tt), median(oo)
        local p = wilcoxon_greater(tt, oo)
        local ok = mt <= mo and p >= 0.05
        total = total + 1
        if ok then met = met + 1 end
        print(string.format("| %s | %s | %s | %s | %s | %.3f | %s |", f, setting == "seq" and "sequential"
          or "2 concurrent", b, fmt(mo), fmt(mt), p, ok and "met" or "**not met**"))
      end
    end
  end
end
print(string.format("\nGoal met in %d of %d cells.", met, total))
