-- Slurm backend figures (issue 9), beside the local backend's, through
-- tune.run. Run inside an allocation of 3 nodes x 4 CPUs:
--   salloc -N3 -n3 -c4 --no-kill build/tunelua bench/slurm_bench.lua
-- (the local Slurm of spec/slurm/start-local-slurm.sh: SLT_NODES=3 SLT_CPUS=4).
-- Prints: a bare `srun -n1 true` (the baseline), the per-trial cost of
-- trivial trials one at a time without and with worker reuse, and 300
-- trials of 1 s each on the 12 CPUs (ideal 25 s). BENCH_REPEATS (3).
local tune = require("tune")
local core = require("tune.core")
package.path = "./?.lua;" .. package.path
-- The trainables are registered in a module: a worker loads it, instead
-- of running this file again (which would start sruns inside a step).
require("bench.trainables")

local REPEATS = tonumber(os.getenv("BENCH_REPEATS") or "") or 3
local LONG = tonumber(os.getenv("BENCH_SLURM_LONG") or "") or 300
-- Trials of the reuse figure: enough that the run's fixed cost (the
-- shared-directory probe, a step on every node, and the first step's
-- start: about 0.25 s) is not most of it; printed apart.
local REUSE_N = tonumber(os.getenv("BENCH_SLURM_REUSE_N") or "") or 1000
local DIR = os.getenv("BENCH_DIR") or ("/tmp/tunelua-slurm-bench-" .. core.getpid())
assert(os.getenv("SLURM_JOB_ID"), "run this inside an allocation: salloc -N3 -n3 -c4 --no-kill tunelua bench/slurm_bench.lua")

local function median(v)
  table.sort(v)
  local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end

local function bare_srun(n)
  local t0 = core.now()
  for _ = 1, n do assert(os.execute("srun --exact -N1 -n1 -c1 -u --quiet true")) end
  return (core.now() - t0) * 1000 / n
end

-- ms per trial, trials one at a time (start, one result, stop): over the
-- whole run, and in the steady state (from the first trial's end to the
-- last's, seen by a callback: without the run's fixed costs, such as the
-- shared-directory probe on every node and the first step's start).
local function per_trial(backend, reuse, n)
  core.remove_tree(DIR)
  local first, last
  local cb = {on_trial_complete = function()
    last = core.now()
    first = first or last
  end}
  local t0 = core.now()
  tune.run("bench_trivial", {backend = backend, reuse_actors = reuse, num_samples = n, max_concurrent_trials = 1,
    verbose = 0, local_dir = DIR, name = "per_trial", callbacks = {cb}})
  return (core.now() - t0) * 1000 / n, (last - first) * 1000 / (n - 1)
end

local function long_run(backend, n)
  core.remove_tree(DIR)
  local t0 = core.now()
  tune.run("bench_one_second", {backend = backend, num_samples = n, verbose = 0, local_dir = DIR, name = "long",
    num_cpus = 12, reuse_actors = true})
  return core.now() - t0
end

local rows = {}
local function row(fmt, ...) rows[#rows + 1] = string.format(fmt, ...) end

local srun, noreuse, reuse, lnoreuse, lreuse = {}, {}, {}, {}, {}
local s_noreuse, s_reuse, s_lnoreuse, s_lreuse = {}, {}, {}, {}
for r = 1, REPEATS do
  srun[r] = bare_srun(10)
  noreuse[r], s_noreuse[r] = per_trial("slurm", false, 20)
  reuse[r], s_reuse[r] = per_trial("slurm", true, REUSE_N)
  lnoreuse[r], s_lnoreuse[r] = per_trial("local", false, 50)
  lreuse[r], s_lreuse[r] = per_trial("local", true, 200)
end
local ratios, s_ratios = {}, {}
for r = 1, REPEATS do
  ratios[r] = noreuse[r] / srun[r]
  s_ratios[r] = s_noreuse[r] / srun[r]
end
row("bare `srun -n1 true`                 %8.1f ms (median of %d runs of 10)", median(srun), REPEATS)
row("per trial, slurm, no reuse            %8.1f ms = %.2f x a bare srun; steady state %.1f ms = %.2f x "
  .. "(goal <= 1.2 x)", median(noreuse), median(ratios), median(s_noreuse), median(s_ratios))
local fixed = {}
for r = 1, REPEATS do fixed[r] = (reuse[r] - s_reuse[r]) * REUSE_N end
row("per trial, slurm, reuse (%d trials)  %8.2f ms; steady state %.2f ms (goal <= 2 ms); the run's fixed cost %.0f ms",
  REUSE_N, median(reuse), median(s_reuse), median(fixed))
row("per trial, local, no reuse            %8.2f ms; steady state %.2f ms", median(lnoreuse), median(s_lnoreuse))
row("per trial, local, reuse               %8.2f ms; steady state %.2f ms", median(lreuse), median(s_lreuse))
local wall = long_run("slurm", LONG)
local ideal = LONG / 12
row("%d trials of 1 s on 3 x 4 CPUs, slurm %8.1f s = %.2f x the ideal %.0f s (goal <= 1.15 x)", LONG, wall,
  wall / ideal, ideal)
core.remove_tree(DIR)
print("Slurm backend (" .. (os.getenv("SLURM_JOB_NODELIST") or "?") .. "), local backend beside it:")
for _, l in ipairs(rows) do print(l) end
