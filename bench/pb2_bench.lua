-- PB2 against PBT on the same workload (docs/benchmarks.md, "PB2's
-- exploit"): TRIALS trials x ITERS iterations on the simulated backend
-- (all trials at once, perturbation_interval 2, two hyperparameters),
-- loggers on. Prints, per scheduler, the run's wall time, and for PB2 the
-- CPU time of each exploit's explore (PB2:_get_new_config), split into
-- fitting the GP and maximising the acquisition; medians of BENCH_REPEATS
-- runs.
--   tunelua bench/pb2_bench.lua
-- Environment: BENCH_PB2_TRIALS (16), BENCH_PB2_ITERS (60), BENCH_PB2_INTERVAL (2),
-- BENCH_REPEATS (3),
-- BENCH_DIR (default: build/bench-pb2).
package.path = "./?.lua;" .. package.path
local settle = require("bench.fs_settle")
local tune = require("tune")
local core = require("tune.core")
local gp = require("tune.schedulers.pb2_gp")
local PB2 = require("tune.schedulers.pb2")

local TRIALS = tonumber(os.getenv("BENCH_PB2_TRIALS") or "") or 16
local ITERS = tonumber(os.getenv("BENCH_PB2_ITERS") or "") or 60
local INTERVAL = tonumber(os.getenv("BENCH_PB2_INTERVAL") or "") or 2
local REPEATS = tonumber(os.getenv("BENCH_REPEATS") or "") or 3
local DIR = os.getenv("BENCH_DIR") or "build/bench-pb2"

local function median(v)
  if #v == 0 then return 0 end
  local s = {table.unpack(v)}
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- Phase timers: each call's CPU seconds (os.clock: the machine is shared,
-- and wall time moves with the other sessions' load), by phase.
local times = {}
local function timed(name, t, key)
  local f = t[key]
  t[key] = function(...)
    local t0 = os.clock()
    local a, b = f(...)
    local list = times[name] or {}
    times[name] = list
    list[#list + 1] = os.clock() - t0
    return a, b
  end
end
timed("fit", gp, "fit")
timed("optimize", gp, "optimize")
timed("select", PB2, "_get_new_config")

tune.register_trainable("pb2_bench", function() end)

-- The score rises fastest near lr = 0.3, momentum = 0.7.
local function curve(config, it)
  if it > ITERS then return nil end
  local q = (config.lr - 0.3) ^ 2 + (config.momentum - 0.7) ^ 2
  return {score = it * (1 - q) + 2 * math.sin(it * 7 + config.lr * 131 + config.momentum * 97)}
end

local SCHEDULERS = {
  PBT = function()
    return tune.schedulers.PopulationBasedTraining{perturbation_interval = INTERVAL, seed = 1,
      hyperparam_mutations = {lr = tune.uniform(0, 1), momentum = tune.uniform(0, 1)}}
  end,
  PB2 = function()
    return tune.schedulers.PB2{perturbation_interval = INTERVAL, seed = 1,
      hyperparam_bounds = {lr = {0, 1}, momentum = {0, 1}}}
  end,
}

local seq = 0
local function once(name)
  seq = seq + 1
  local ex = tune.SimulatedExecutor{num_cpus = TRIALS, curve = curve}
  local t0, c0 = core.now(), os.clock()
  local a = tune.run("pb2_bench", {trial_executor = ex, num_samples = TRIALS, scheduler = SCHEDULERS[name](),
    metric = "score", mode = "max", verbose = 0, local_dir = string.format("%s/%d-%s", DIR, seq, name),
    name = "bench", config = {lr = tune.uniform(0, 1), momentum = tune.uniform(0, 1)}, seed = 1})
  local wall, cpu = core.now() - t0, os.clock() - c0
  ex:close()
  local best = -math.huge
  for _, t in ipairs(a.trials) do best = math.max(best, t.last_result.score or -math.huge) end
  return wall, best, cpu
end

local out = {}
for _, name in ipairs({"PBT", "PB2"}) do
  local walls, bests, cpus = {}, {}, {}
  for r = 1, REPEATS do
    times = {}
    walls[r], bests[r], cpus[r] = once(name)
    if name == "PB2" then
      out[#out + 1] = string.format("  PB2 run %d: %d exploits, per exploit median %.1f ms (fit %.1f ms, "
        .. "acquisition %.1f ms), max %.1f ms", r, #(times.select or {}), 1000 * median(times.select or {}),
        1000 * median(times.fit or {}), 1000 * median(times.optimize or {}),
        1000 * math.max(0, table.unpack(times.select or {})))
    end
  end
  out[#out + 1] = string.format("%s: wall %.2f s (median of %d; min %.2f, max %.2f), CPU %.2f s, best final score %.2f",
    name, median(walls), REPEATS, math.min(table.unpack(walls)), math.max(table.unpack(walls)), median(cpus),
    median(bests))
end
settle.remove(DIR)
print(string.format("pb2: %d trials x %d iterations, simulated backend, perturbation_interval %d", TRIALS, ITERS, INTERVAL))
for _, l in ipairs(out) do print(l) end
