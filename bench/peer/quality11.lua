-- Issue 13's search-quality study, tunelua's side: TPESearch on the eleven
-- functions of bench/peer/functions11.lua, 100 trials, seeds 0..S-1, in
-- two settings: "seq" (one trial at a time: suggest, evaluate, tell) and
-- "conc2" (two pending: suggest two, then tell the older and suggest the
-- next; TPESearch with constant_liar). Simple regret (best told value -
-- f_min) after 60 and 100 told trials, per seed. bench/peer/quality11.py
-- is the same with Optuna's TPESampler (constant_liar=True in conc2);
-- bench/peer/quality11_compare.lua puts the two side by side.
--   tunelua bench/peer/quality11.lua [--seeds 30] [--first 0] [--trials 100] > tunelua_quality11.json
package.path = "./?.lua;" .. package.path
local tune = require("tune")
local core = require("tune.core")
local F = require("bench.peer.functions11")

local opts = {seeds = 30, first = 0, trials = 100}
for i = 1, #arg, 2 do opts[arg[i]:gsub("^%-%-", "")] = tonumber(arg[i + 1]) end
local BUDGETS = {60, 100}
-- TPE_OPTS: more TPESearch options for a trial of settings, as a Lua
-- table constructor (e.g. TPE_OPTS='{n_startup_trials = 5}'); the
-- study's figures use the defaults.
local EXTRA = assert(load("return " .. (os.getenv("TPE_OPTS") or "{}")))()

local function run(fname, setting, seed)
  local fn = F.functions[fname]
  local sp = {}
  for d = 1, fn.dim do sp["x" .. (d - 1)] = tune.uniform(fn.bounds[d][1], fn.bounds[d][2]) end
  local o = {space = sp, metric = "value", mode = "min", seed = seed, constant_liar = setting == "conc2"}
  for k, v in pairs(EXTRA) do o[k] = v end
  local s = tune.search.TPESearch(o)
  local pending, best, regret, asked, told = {}, math.huge, {}, 0, 0
  local depth = setting == "conc2" and 2 or 1
  local function tell()
    local p = table.remove(pending, 1)
    local x = {}
    for d = 1, fn.dim do x[d] = p.c["x" .. (d - 1)] end
    local v = fn.f(x)
    s:on_trial_complete(p.id, {value = v})
    told = told + 1
    if v < best then best = v end
    regret[told] = best - fn.f_min
  end
  while told < opts.trials do
    while #pending < depth and asked < opts.trials do
      asked = asked + 1
      pending[#pending + 1] = {id = tostring(asked), c = s:suggest(tostring(asked))}
    end
    tell()
  end
  local out = {}
  for _, b in ipairs(BUDGETS) do out[tostring(b)] = regret[b] end
  return out
end

local results, t0 = {}, core.now()
for _, fname in ipairs(F.names) do
  results[fname] = {}
  for _, setting in ipairs({"seq", "conc2"}) do
    local per = {["60"] = {}, ["100"] = {}}
    for i = 1, opts.seeds do
      local r = run(fname, setting, opts.first + i - 1)
      for b, v in pairs(r) do per[b][i] = v end
    end
    results[fname][setting] = per
    io.stderr:write(string.format("%-16s %-5s done (%.1f s)\n", fname, setting, core.now() - t0))
  end
end
print(core.json_encode{bench = "quality11", tuner = "tunelua", seeds = opts.seeds, first = opts.first, trials = opts.trials,
  wall_s = core.now() - t0, results = results})
