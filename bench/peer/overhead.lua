-- Workload 1 (bench/peer/optuna-side/README.md): the tuner's own cost per trial.
-- The full ask -> evaluate -> tell loop around a trivial objective, in
-- memory, no logging; the objective runs in Lua (no foreign call).
--   tunelua bench/peer/overhead.lua [--repeats 3] [--random-trials 2000] [--tpe-trials 1000] [--tail 100]
-- Prints one JSON line (fields as overhead.py's), progress on stderr.
package.path = "./?.lua;" .. package.path
local tune = require("tune")
local core = require("tune.core")
local W = require("bench.peer.workloads")

local opts = {repeats = 3, random_trials = 2000, tpe_trials = 1000, tail = 100, seed = 0}
for i = 1, #arg, 2 do opts[arg[i]:gsub("^%-%-", ""):gsub("%-", "_")] = tonumber(arg[i + 1]) end

local function objective(c) return (c.x - 0.3) * (c.x - 0.3) + (c.y + 0.1) * (c.y + 0.1) end

local function space() return {x = tune.uniform(-1, 1), y = tune.uniform(-1, 1)} end

--- One study: returns total seconds and the end time of every trial.
local function study(make, n)
  local s = make()
  local ends = {}
  local t0 = core.now()
  for i = 1, n do
    local id = tostring(i)
    local c = s:suggest(id)
    s:on_trial_complete(id, {loss = objective(c)})
    ends[i] = core.now()
  end
  return core.now() - t0, ends, t0
end

local function random() return tune.search.RandomSearch{space = space(), metric = "loss", mode = "min", seed = opts.seed} end
local function tpe() return tune.search.TPESearch{space = space(), metric = "loss", mode = "min", seed = opts.seed} end

-- Warm-up, not timed.
study(random, 20)
study(tpe, 20)

local r_all, t_all, t_last, t_first = {}, {}, {}, {}
for rep = 1, opts.repeats do
  local tr = study(random, opts.random_trials)
  r_all[rep] = 1000 * tr / opts.random_trials
  local tt, ends, t0 = study(tpe, opts.tpe_trials)
  t_all[rep] = 1000 * tt / opts.tpe_trials
  local n, k = opts.tpe_trials, opts.tail
  t_last[rep] = 1000 * (ends[n] - ends[n - k]) / k
  t_first[rep] = 1000 * (ends[k] - t0) / k
  io.stderr:write(string.format("repeat %d: random %.4f ms/trial, tpe %.3f ms/trial (last %d: %.3f)\n",
    rep, r_all[rep], t_all[rep], k, t_last[rep]))
end

local med = W.median
print(core.json_encode{
  bench = "overhead", tuner = "tunelua", env = W.env(), objective_language = "lua (in-process)",
  random = {n_trials = opts.random_trials, ms_per_trial = med(r_all), trials_per_s = 1000 / med(r_all),
    ms_per_trial_all = r_all},
  tpe = {n_trials = opts.tpe_trials, tail = opts.tail, ms_per_trial = med(t_all), trials_per_s = 1000 / med(t_all),
    ms_per_trial_last_tail = med(t_last), ms_per_trial_first_tail = med(t_first), ms_per_trial_all = t_all,
    ms_per_trial_last_tail_all = t_last},
})
