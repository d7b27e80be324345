-- Workload 2 (bench/peer/optuna-side/README.md): search quality on Branin,
-- Hartmann6, Rosenbrock-4 and Ackley-5. For every function, sampler
-- (random, tpe) and seed, one fresh 100-trial study, in-process ask/tell;
-- simple regret = best value so far - f_min. Seeds 5-9 are held out: their
-- medians are reported apart too.
--   tunelua bench/peer/quality.lua [--seeds 10] [--trials 100]
package.path = "./?.lua;" .. package.path
local tune = require("tune")
local core = require("tune.core")
local W = require("bench.peer.workloads")

local opts = {seeds = 10, trials = 100}
for i = 1, #arg, 2 do opts[arg[i]:gsub("^%-%-", "")] = tonumber(arg[i + 1]) end

local function run(fname, sampler, seed)
  local fn = W.functions[fname]
  local sp = {}
  for d = 1, fn.dim do sp["x" .. (d - 1)] = tune.uniform(fn.bounds[d][1], fn.bounds[d][2]) end
  local cls = sampler == "tpe" and tune.search.TPESearch or tune.search.RandomSearch
  local s = cls{space = sp, metric = "value", mode = "min", seed = seed}
  local best, regret = math.huge, {}
  for i = 1, opts.trials do
    local id = tostring(i)
    local c = s:suggest(id)
    local x = {}
    for d = 1, fn.dim do x[d] = c["x" .. (d - 1)] end
    local v = fn.f(x)
    s:on_trial_complete(id, {value = v})
    if v < best then best = v end
    regret[i] = best - fn.f_min
  end
  return regret
end

local results = {}
local t_start = core.now()
for _, fname in ipairs(W.function_names) do
  local fn = W.functions[fname]
  results[fname] = {dim = fn.dim, f_min = fn.f_min}
  for _, sampler in ipairs({"random", "tpe"}) do
    local t0 = core.now()
    local at = {[25] = {}, [50] = {}, [100] = {}}
    local held_out, dev = {}, {}
    for seed = 0, opts.seeds - 1 do
      local r = run(fname, sampler, seed)
      for n in pairs(at) do at[n][#at[n] + 1] = r[math.min(n, opts.trials)] end
      local last = r[opts.trials]
      if seed >= 5 then held_out[#held_out + 1] = last else dev[#dev + 1] = last end
    end
    local p = W.percentile
    local q1, q3 = p(at[100], 25), p(at[100], 75)
    results[fname][sampler] = {
      regret_100_median = p(at[100], 50), regret_100_q1 = q1, regret_100_q3 = q3, regret_100_iqr = q3 - q1,
      regret_100_per_seed = at[100],
      regret_25_median = p(at[25], 50), regret_25_q1 = p(at[25], 25), regret_25_q3 = p(at[25], 75),
      regret_50_median = p(at[50], 50), regret_50_q1 = p(at[50], 25), regret_50_q3 = p(at[50], 75),
      regret_100_median_seeds_0_4 = #dev > 0 and p(dev, 50) or nil,
      regret_100_median_seeds_5_9 = #held_out > 0 and p(held_out, 50) or nil,
      seconds = core.now() - t0,
    }
    io.stderr:write(string.format("%-12s %-6s median regret@100 %.4g [%.4g, %.4g]\n", fname, sampler,
      p(at[100], 50), q1, q3))
  end
end
print(core.json_encode{bench = "quality", tuner = "tunelua", env = W.env(), seeds = opts.seeds,
  trials = opts.trials, held_out_seeds = {5, 6, 7, 8, 9}, wall_s = core.now() - t_start, results = results})
