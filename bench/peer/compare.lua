-- Prints tunelua's peer figures beside Optuna's as Markdown tables.
--   tunelua bench/peer/compare.lua RESULTS_DIR
-- RESULTS_DIR holds tunelua_{overhead_1..3,quality,pruning}.json and
-- optuna_{overhead_1..3,quality,pruning}.json, and for the held-out
-- pruning acceptance (seeds 10-39, both curve families)
-- {tunelua,optuna}_pruning_heldout{1,2}.json (bench/peer/run.sh makes it).
package.path = "./?.lua;" .. package.path
local core = require("tune.core")
local W = require("bench.peer.workloads")

local dir = assert(arg[1], "usage: compare.lua RESULTS_DIR")

local function load(name)
  local text = core.read_file(dir .. "/" .. name .. ".json")
  if not text then return nil end
  local last
  for line in text:gmatch("[^\n]+") do
    local v = core.json_decode(line)
    if type(v) == "table" then last = v end
  end
  return last
end

local function fmt(v)
  if type(v) ~= "number" then return "n/a" end
  if v == math.floor(v) and math.abs(v) < 1e9 then return string.format("%d", v) end
  if v ~= 0 and (math.abs(v) < 1e-3 or math.abs(v) >= 1e4) then return string.format("%.3g", v) end
  return string.format("%.4g", v)
end

local function row(cells) print("| " .. table.concat(cells, " | ") .. " |") end

-- Overhead: the median of every repeat of every process, with its range.
local function overhead(tuner)
  local r, t, tl = {}, {}, {}
  for i = 1, 3 do
    local o = load(tuner .. "_overhead_" .. i)
    if o then
      for _, v in ipairs(o.random.ms_per_trial_all) do r[#r + 1] = v end
      for _, v in ipairs(o.tpe.ms_per_trial_all) do t[#t + 1] = v end
      for _, v in ipairs(o.tpe.ms_per_trial_last_tail_all) do tl[#tl + 1] = v end
    end
  end
  return r, t, tl
end

local function span(v)
  if #v == 0 then return "n/a" end
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(v) do lo, hi = math.min(lo, x), math.max(hi, x) end
  return string.format("%s [%s, %s]", fmt(W.median(v)), fmt(lo), fmt(hi))
end

print("## 1. Tuner overhead (ms per trial, in-process ask -> evaluate -> tell; median [min, max] of all repeats)\n")
row{"", "Optuna 3.1", "tunelua", "Optuna / tunelua"}
row{"---", "---", "---", "---"}
local orr, ot, otl = overhead("optuna")
local tr, tt, ttl = overhead("tunelua")
local function ratio(a, b) return (#a > 0 and #b > 0) and string.format("%.1fx", W.median(a) / W.median(b)) or "n/a" end
row{"Random, 2000 trials", span(orr), span(tr), ratio(orr, tr)}
row{"TPE, 1000 trials (all)", span(ot), span(tt), ratio(ot, tt)}
row{"TPE, trials 901-1000", span(otl), span(ttl), ratio(otl, ttl)}

print("\n## 2. Search quality (simple regret after 100 trials: median [Q1, Q3] over seeds 0-9)\n")
local oq, tq = load("optuna_quality"), load("tunelua_quality")
row{"function", "sampler", "Optuna 3.1", "tunelua", "tunelua seeds 0-4", "tunelua seeds 5-9 (held out)",
  "goal: TPE median <= Optuna's"}
row{"---", "---", "---", "---", "---", "---", "---"}
for _, f in ipairs(W.function_names) do
  for _, s in ipairs({"random", "tpe"}) do
    local o = oq and oq.results[f] and oq.results[f][s]
    local t = tq and tq.results[f] and tq.results[f][s]
    local function cell(x)
      if not x then return "n/a" end
      return string.format("%s [%s, %s]", fmt(x.regret_100_median), fmt(x.regret_100_q1), fmt(x.regret_100_q3))
    end
    row{f, s, cell(o), cell(t), t and fmt(t.regret_100_median_seeds_0_4) or "n/a",
      t and fmt(t.regret_100_median_seeds_5_9) or "n/a",
      s ~= "tpe" and "-" or (o and t) and (t.regret_100_median <= o.regret_100_median and "met" or "not met") or "n/a"}
  end
end

print("\n## 3. Early stopping on the synthetic curves (200 trials per study; median [Q1, Q3] over seeds 0-9)\n")
local op, tp = load("optuna_pruning"), load("tunelua_pruning")
local oc = load("optuna_pruning_curve")
-- The same statistics for both tuners, from their per-seed figures.
local function per_seed_stats(x, key, from, to)
  local v = {}
  for i = from + 1, math.min(#x.per_seed, to + 1) do v[#v + 1] = x.per_seed[i][key] end
  if #v == 0 then return nil end
  return W.percentile(v, 50), W.percentile(v, 25), W.percentile(v, 75)
end
local function qcell(x, key)
  local m, q1, q3 = per_seed_stats(x, key, 0, 9)
  if not m then return "n/a" end
  return string.format("%s [%s, %s]", fmt(m), fmt(q1), fmt(q3))
end
local function mcell(x, key, from, to)
  local m = per_seed_stats(x, key, from, to)
  return m and fmt(m) or "n/a"
end
row{"pruner", "epochs", "best final loss", "completed", "epochs, seeds 0-4", "loss, seeds 0-4",
  "epochs, seeds 5-9 (held out)", "loss, seeds 5-9 (held out)"}
row{"---", "---", "---", "---", "---", "---", "---", "---"}
local function pruning_row(label, x)
  row{label, qcell(x, "epochs"), qcell(x, "best_final_loss"), mcell(x, "n_complete", 0, 9),
    mcell(x, "epochs", 0, 4), mcell(x, "best_final_loss", 0, 4), mcell(x, "epochs", 5, 9),
    mcell(x, "best_final_loss", 5, 9)}
end
if op then
  for _, p in ipairs({"none", "median", "sha", "hyperband"}) do
    if op.results[p] then pruning_row("Optuna " .. p, op.results[p]) end
  end
end
local order = {"none", "median", "asha", "hyperband", "asha_g16_rf3", "bohb", "curve_asha"}
if tp then
  for _, p in ipairs(order) do
    if tp.results[p] then pruning_row("tunelua " .. p .. (tp.schedulers and tp.schedulers[p] and
      " (" .. tp.schedulers[p] .. ")" or ""), tp.results[p]) end
  end
end

print("\nBest final loss so far against epochs spent (median over seeds 0-9; '-' while some seed has no completed trial):\n")
local budgets = (tp and tp.results.none and tp.results.none.loss_against_epochs) or
  (oc and oc.results.none and oc.results.none.loss_against_epochs)
if budgets then
  local header, sep = {"pruner"}, {"---"}
  for _, c in ipairs(budgets) do header[#header + 1] = tostring(c.epochs); sep[#sep + 1] = "---" end
  row(header)
  row(sep)
  local function curve_row(label, x)
    local cells = {label}
    for _, c in ipairs(x.loss_against_epochs) do
      cells[#cells + 1] = (type(c.best_final_loss_median) == "number") and fmt(c.best_final_loss_median) or "-"
    end
    row(cells)
  end
  if oc then
    for _, p in ipairs({"none", "median", "sha", "hyperband"}) do
      if oc.results[p] then curve_row("Optuna " .. p, oc.results[p]) end
    end
  end
  if tp then
    for _, p in ipairs(order) do if tp.results[p] then curve_row("tunelua " .. p, tp.results[p]) end end
  end
end

-- The early-stopping goal on held-out seeds 10-39 (docs/benchmarks.md 3b):
-- Optuna's HyperbandPruner against tunelua's CurveASHAScheduler, on the
-- shared workload (1) and the second curve family (2).
local function heldout_row(label, per_seed)
  local e, l = {}, {}
  for _, r in ipairs(per_seed) do
    if (r.seed or 10) >= 10 and (r.seed or 10) <= 39 then e[#e + 1], l[#l + 1] = r.epochs, r.best_final_loss end
  end
  if #e == 0 then return end
  row{label, tostring(#e), fmt(W.median(e)), fmt(W.median(l))}
end
local printed = false
for wl = 1, 2 do
  local o, t = load("optuna_pruning_heldout" .. wl), load("tunelua_pruning_heldout" .. wl)
  if o or t then
    if not printed then
      print("\nHeld-out seeds 10-39 (settings chosen on workload 1, seeds 0-4):\n")
      row{"workload, pruner", "seeds", "epochs", "best final loss"}
      row{"---", "---", "---", "---"}
      printed = true
    end
    if o and o.results.hyperband then
      -- pruning.py numbers seeds 0..N-1 without a seed field.
      local ps = {}
      for i, r in ipairs(o.results.hyperband.per_seed) do ps[i] = r.seed and r or setmetatable({seed = i - 1}, {__index = r}) end
      heldout_row(wl .. ", Optuna hyperband", ps)
    end
    if t and t.results.curve_asha then heldout_row(wl .. ", tunelua curve_asha", t.results.curve_asha.per_seed) end
  end
end
