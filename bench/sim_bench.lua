-- Simulator figures (issue 8): 1,000 trials x 100 iterations through the
-- real runner (tune.run) on the simulated backend, FIFO and ASHA
-- (grace_period 10), default loggers on (result.json, progress.csv on
-- disk), results per second of wall time, at result buffer lengths 1 and
-- 8; medians of BENCH_REPEATS runs.
--   tunelua bench/sim_bench.lua          (part of: cmake --build build --target bench)
-- Environment: BENCH_SIM_TRIALS (1000), BENCH_SIM_ITERS (100), BENCH_REPEATS (3),
-- BENCH_DIR (a directory on disk; default: build/bench-sim), BENCH_KEEP=1
-- (leave the runs' directories for the caller to remove: several benches
-- in a row, such as this build's and a baseline's taking turns, then all
-- create their files with no removal's slowdown between them).
local tune = require("tune")
local core = require("tune.core")

local TRIALS = tonumber(os.getenv("BENCH_SIM_TRIALS") or "") or 1000
local ITERS = tonumber(os.getenv("BENCH_SIM_ITERS") or "") or 100
local REPEATS = tonumber(os.getenv("BENCH_REPEATS") or "") or 3
local DIR = os.getenv("BENCH_DIR") or "build/bench-sim"
package.path = "./?.lua;" .. package.path
local settle = require("bench.fs_settle")

local function median(v)
  table.sort(v)
  local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end

tune.register_trainable("sim_curve", function() end)

local function curve(config, it)
  if it > ITERS then return nil end
  return {loss = config.x / it}
end

local SCHEDULERS = {
  FIFO = function() return tune.schedulers.FIFOScheduler() end,
  ASHA = function() return tune.schedulers.ASHAScheduler{max_t = ITERS, grace_period = 10} end,
}

-- Each run writes to its own directory, and all are removed at the end:
-- on an ext4 without a journal, creating files right after many deletes
-- costs several times more (docs/benchmarks.md), which would charge one
-- run for the previous one's cleanup (and a bench within 5 minutes of
-- another's removal waits the rest of that time first: bench/fs_settle.lua).
local seq = 0
local function once(name, buffer)
  seq = seq + 1
  local dir = string.format("%s/%d-%s-%d", DIR, seq, name, buffer)
  local ex = tune.SimulatedExecutor{num_cpus = 8, curve = curve, result_buffer_length = buffer}
  local results = 0
  settle.sync()
  local t0 = core.now()
  local a = tune.run("sim_curve", {trial_executor = ex, num_samples = TRIALS, scheduler = SCHEDULERS[name](),
    metric = "loss", mode = "min", verbose = 0, local_dir = dir, name = "bench",
    config = {x = tune.uniform(0, 1)}, seed = 1})
  local wall = core.now() - t0
  ex:close()
  for _, t in ipairs(a.trials) do results = results + (t.last_result.training_iteration or 0) end
  return results / wall, results
end

if core.stat(DIR) then settle.remove(DIR) end -- what an interrupted run left
settle.wait(DIR)
local out = {}
for _, buffer in ipairs({1, 8}) do
  for _, name in ipairs({"FIFO", "ASHA"}) do
    local rates, n = {}, 0
    for r = 1, REPEATS do rates[r], n = once(name, buffer) end
    out[#out + 1] = string.format("%-5s buffer %d  %6d results  %8.0f results/s (median of %d; min %.0f, max %.0f)",
      name, buffer, n, median(rates), REPEATS, rates[1], rates[#rates])
  end
end
if os.getenv("BENCH_KEEP") ~= "1" then settle.remove(DIR) end
print(string.format("simulator: %d trials x %d iterations, 8 slots, default loggers on", TRIALS, ITERS))
for _, l in ipairs(out) do print(l) end
