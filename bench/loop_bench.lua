-- The whole loop through tune.run (issue 11), default loggers on, local_dir
-- on disk: per-trial cost with and without reuse, results per second at
-- buffer lengths 1 and 8, the gap between trials under max_concurrent = 1,
-- a 10 ms x N schedule on 2 CPUs with the driver's peak RSS, and start-up;
-- beside the bare spawn of the worker, the file system's floor under a
-- trial's logging (bench_limits --files: one trial's directory and files
-- copied by one thread), the executor alone
-- (bench/executor_bench.lua) and Optuna's in-process random search, all
-- measured in this run. Each measurement is a fresh driver process
-- (bench/loop_case.lua); the cases are interleaved and repeated, and the
-- figures are medians.
--   cmake --build build --target bench-loop    (or: tunelua bench/loop_bench.lua)
-- Environment: BENCH_TRIALS (2000), BENCH_NOREUSE_TRIALS (500),
-- BENCH_RESULTS (100000), BENCH_REPEATS (5), BENCH_SCHEDULE_TRIALS (10000;
-- 0 skips), BENCH_TIMELINE_TRIALS (2000: the schedule's trials again, their
-- time beyond 10 ms taken apart by callbacks; 0 skips), BENCH_DIR (build/bench-loop: must be on disk, not tmpfs),
-- TUNELUA (the binary to measure), BENCH_BASELINE_TUNELUA (an older tunelua
-- whose start-up is measured beside), OPTUNA_BENCH_DIR (bench/peer/optuna-side:
-- Optuna's overhead.py), TUNE_BENCH_LIMITS (the bench_limits binary).
--
-- Outputs are kept until the end and removed then: on an ext4 without a
-- journal, creating files right after many deletes costs several times more
-- (docs/benchmarks.md), which would charge one case for another's cleanup;
-- and a run within 5 minutes of a bench's removal waits the rest of that
-- time first (bench/fs_settle.lua; BENCH_NO_SETTLE=1 skips it).
package.path = "./?.lua;" .. package.path
local core = require("tune.core")

local function env_num(name, default) return tonumber(os.getenv(name) or "") or default end

local TRIALS = env_num("BENCH_TRIALS", 2000)
local NOREUSE = env_num("BENCH_NOREUSE_TRIALS", 500)
local RESULTS = env_num("BENCH_RESULTS", 100000)
local REPEATS = env_num("BENCH_REPEATS", 5)
local SCHEDULE = env_num("BENCH_SCHEDULE_TRIALS", 10000)
local TIMELINE = env_num("BENCH_TIMELINE_TRIALS", 2000)
local TUNELUA = os.getenv("TUNELUA") or "build/tunelua"
local BASELINE = os.getenv("BENCH_BASELINE_TUNELUA")
local OPTUNA_DIR = os.getenv("OPTUNA_BENCH_DIR") or "bench/peer/optuna-side"
local LIMITS = os.getenv("TUNE_BENCH_LIMITS") or "build/bench/bench_limits"
local DIR = os.getenv("BENCH_DIR") or "build/bench-loop"

local function median(v)
  local s = {}
  for i = 1, #v do s[i] = v[i] end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_json(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return core.json_decode(text)
end

local function run_ok(cmd)
  local ok = os.execute(cmd)
  return ok == true
end

local fs = io.popen("stat -f -c %T " .. sh_quote(DIR:match("^(.*)/[^/]*$") or "."))
local fstype = fs and fs:read("l") or "?"
if fs then fs:close() end
if fstype == "tmpfs" then io.stderr:write("warning: BENCH_DIR is on tmpfs; the issue's figures are on disk\n") end
local settle = require("bench.fs_settle")
if core.stat(DIR) then settle.remove(DIR) end -- what an interrupted run left
settle.wait(DIR)
assert(core.mkdir_p(DIR))

local seq = 0
--- One case in a fresh driver; returns its JSON and the process's wall time.
local function case(name, n, binary)
  seq = seq + 1
  local out = string.format("%s/%d-%s.json", DIR, seq, name)
  local dir = string.format("%s/%d-%s", DIR, seq, name)
  local cmd = string.format("%s bench/loop_case.lua %s %s %s %s > /dev/null",
    sh_quote(binary or TUNELUA), name, sh_quote(dir), sh_quote(out), n and tostring(n) or "")
  settle.sync()
  local t0 = core.now()
  assert(run_ok(cmd), "failed: " .. cmd)
  local wall = core.now() - t0
  local r = assert(read_json(out), "no figures from " .. cmd)
  r.process_s = wall
  r.dir = dir
  return r
end

--- Start-up of a one-trial experiment file, from exec to exit.
local exp_file = DIR .. "/one_trial.lua"
do
  local f = assert(io.open(exp_file, "w"))
  f:write([[
local tune = require("tune")
tune.run(function(config) tune.report{x = 1} end, {local_dir = arg[1]})
]])
  f:close()
end
local function startup(binary)
  seq = seq + 1
  local dir = string.format("%s/%d-startup", DIR, seq)
  local cmd = string.format("%s %s %s > /dev/null", sh_quote(binary), sh_quote(exp_file), sh_quote(dir))
  local t0 = core.now()
  assert(run_ok(cmd), "failed: " .. cmd)
  return (core.now() - t0) * 1000
end

-- Bare limits: a spawn of the worker binary (posix_spawn + wait), measured
-- in each repeat right after the case without reuse, so that the ratio
-- compares two figures of the same minute (this machine's speed drifts by
-- a third within minutes).
local function bare_spawn()
  local p = io.popen(string.format("%s %s 200 2000 1", sh_quote(LIMITS), sh_quote(assert(core.worker_path()))))
  local r = p and core.json_decode(p:read("l") or "") or nil
  if p then p:close() end
  return r
end

-- The file system's floor under a trial's logging: the directory and
-- files of one trial the reuse case made (params.json, result.json,
-- progress.csv), copied `n` times by one thread with a mkdir and one
-- open/write/close per file, as the write-behind thread makes them. On 2
-- cores this thread's time is spent beside the driver's and the workers'.
local function files_floor(reuse_dir, n)
  local exp = (core.listdir(reuse_dir) or {})[1]
  if not exp then return nil end
  local trial
  for _, name in ipairs(core.listdir(reuse_dir .. "/" .. exp) or {}) do
    if core.stat(reuse_dir .. "/" .. exp .. "/" .. name .. "/result.json") then trial = name break end
  end
  if not trial then return nil end
  seq = seq + 1
  local p = io.popen(string.format("%s --files %s %s %d", sh_quote(LIMITS),
    sh_quote(reuse_dir .. "/" .. exp .. "/" .. trial), sh_quote(string.format("%s/%d-files", DIR, seq)), n))
  local r = p and core.json_decode(p:read("l") or "") or nil
  if p then p:close() end
  return r
end

local runs = {reuse = {}, noreuse = {}, spawn = {}, noreuse_over_spawn = {}, results1 = {}, results8 = {},
  mc1_gap = {}, mc1_gap_max = {}, startup = {}, startup_baseline = {}, rss_reuse = {}, files_floor = {}}
local floor_files, floor_bytes
for rep = 1, REPEATS do
  local r = case("reuse", TRIALS)
  runs.reuse[rep] = r.ms_per_trial
  runs.rss_reuse[rep] = r.peak_rss_mb
  local fl = files_floor(r.dir, TRIALS)
  if fl then
    runs.files_floor[#runs.files_floor + 1] = fl.ms_per_trial
    floor_files, floor_bytes = fl.files, fl.bytes
  end
  runs.noreuse[rep] = case("noreuse", NOREUSE).ms_per_trial
  -- This repeat's ratio (nan when the spawn could not be measured).
  local bare, ratio = bare_spawn(), 0 / 0
  if bare then
    ratio = runs.noreuse[rep] / bare.spawn_ms
    runs.spawn[#runs.spawn + 1] = bare.spawn_ms
    runs.noreuse_over_spawn[#runs.noreuse_over_spawn + 1] = ratio
  end
  runs.results1[rep] = case("results1", RESULTS).results_per_s
  runs.results8[rep] = case("results8", RESULTS).results_per_s
  r = case("mc1", 500)
  runs.mc1_gap[rep], runs.mc1_gap_max[rep] = r.gap_ms_median, r.gap_ms_max
  for _ = 1, 3 do
    runs.startup[#runs.startup + 1] = startup(TUNELUA)
    if BASELINE then runs.startup_baseline[#runs.startup_baseline + 1] = startup(BASELINE) end
  end
  io.stderr:write(string.format("repeat %d: reuse %.3f ms/trial (file system floor %s ms), noreuse %.3f "
    .. "ms/trial (%.2fx a bare spawn), %.0f / %.0f results/s, mc1 gap %.3f ms\n", rep, runs.reuse[rep],
    fl and string.format("%.3f", fl.ms_per_trial) or "n/a", runs.noreuse[rep], ratio, runs.results1[rep], runs.results8[rep],
    runs.mc1_gap[rep]))
end

local schedule, timeline
if SCHEDULE > 0 then
  schedule = case("schedule", SCHEDULE)
  io.stderr:write(string.format("schedule: %d x 10 ms on 2 CPUs in %.2f s (ideal %.2f s)\n", SCHEDULE,
    schedule.wall_s, schedule.ideal_s))
end
if TIMELINE > 0 then timeline = case("timeline", TIMELINE) end

-- The executor alone, through its own benchmark (its last line is JSON).
local executor
do
  local p = io.popen(string.format("env BENCH_REPEATS=3 TUNE_BENCH_LIMITS=%s %s bench/executor_bench.lua 2>/dev/null",
    sh_quote(LIMITS), sh_quote(TUNELUA)))
  if p then
    local last
    for line in p:lines() do last = line end
    p:close()
    executor = last and core.json_decode(last) or nil
  end
end

-- Optuna's in-process random search and its import time, where installed.
local optuna, optuna_import_ms
if run_ok("/usr/bin/python3 -c 'import optuna' 2>/dev/null") and core.stat(OPTUNA_DIR .. "/overhead.py") then
  local p = io.popen(string.format("cd %s && /usr/bin/python3 overhead.py --random-trials %d --tpe-trials 20 "
    .. "--tail 5 --repeats 3 2>/dev/null", sh_quote(OPTUNA_DIR), TRIALS))
  if p then
    optuna = core.json_decode(p:read("a") or "")
    p:close()
  end
  local t = {}
  for i = 1, 3 do
    local t0 = core.now()
    run_ok("/usr/bin/python3 -c 'import optuna' 2>/dev/null")
    t[i] = (core.now() - t0) * 1000
  end
  optuna_import_ms = median(t)
end

settle.remove(DIR)

local reuse, noreuse = median(runs.reuse), median(runs.noreuse)
local r1, r8 = median(runs.results1), median(runs.results8)
local gap, start = median(runs.mc1_gap), median(runs.startup)
local start_base = median(runs.startup_baseline)
local optuna_ms = optuna and optuna.random and optuna.random.ms_per_trial
print(string.format("local_dir on %s; %d repeats, medians", fstype, REPEATS))
print(string.format("per trial, reuse (%d trivial trials): %.3f ms  (goal <= 0.25 ms; Optuna random search "
  .. "in-process %s ms; executor alone %s ms)", TRIALS, reuse, optuna_ms and string.format("%.3f", optuna_ms) or "n/a",
  executor and string.format("%.3f", executor.per_trial_ms_reuse) or "n/a"))
local floor = median(runs.files_floor)
if floor then
  print(string.format("  the file system's floor under it: %.3f ms a trial to make its directory and %d files "
    .. "(%d bytes) from one thread, nothing else running", floor, floor_files, floor_bytes))
end
local spawn, over_spawn = median(runs.spawn), median(runs.noreuse_over_spawn)
if spawn then
  print(string.format("per trial, no reuse (%d trials): %.3f ms = %.2fx a bare spawn (median of the repeats' "
    .. "ratios, each against a spawn measured right after it; spawn %.3f ms; goal <= 1.3x; executor alone %s)",
    NOREUSE, noreuse, over_spawn, spawn, executor and string.format("%.2fx", executor.noreuse_over_spawn) or "n/a"))
end
print(string.format("results/s, buffer 1: %.0f  (goal >= 25000; executor alone %s)", r1,
  executor and string.format("%.0f", executor.results_per_s_buffer1) or "n/a"))
print(string.format("results/s, buffer 8: %.0f  (goal >= 50000; executor alone %s)", r8,
  executor and string.format("%.0f", executor.results_per_s_buffer8) or "n/a"))
print(string.format("max_concurrent = 1: next trial starts %.3f ms after the previous ends (median; worst %.3f "
  .. "ms; goal <= 1 ms)", gap, median(runs.mc1_gap_max)))
if schedule then
  print(string.format("%d trials x 10 ms, 2 CPUs: %.2f s = %.3fx the ideal %.1f s (goal <= 1.10x); driver "
    .. "peak RSS %.1f MB (goal <= 64)", SCHEDULE, schedule.wall_s, schedule.wall_s / schedule.ideal_s,
    schedule.ideal_s, schedule.peak_rss_mb))
end
if timeline then
  print(string.format("  where a scheduled trial's time beyond 10 ms goes (%d trials, means): its iteration %.3f ms "
    .. "over, start request and result's way back %.3f ms, the request that learns the function returned %.3f ms, "
    .. "completion to the next start %.3f ms (%.3fx the ideal in that run)", TIMELINE, timeline.iteration_over_ms,
    timeline.start_to_result_ms, timeline.result_to_complete_ms, timeline.complete_to_start_ms,
    timeline.wall_s / timeline.ideal_s))
end
print(string.format("driver peak RSS after %d trials: %.1f MB", TRIALS, median(runs.rss_reuse)))
print(string.format("start-up, one-trial experiment file to exit: %.1f ms%s%s", start,
  start_base and string.format(" (baseline %.1f ms: %.2fx; goal <= 1.1x)", start_base, start / start_base) or "",
  optuna_import_ms and string.format("; python3 -c 'import optuna': %.0f ms", optuna_import_ms) or ""))
print(core.json_encode{
  bench = "loop", fs = fstype, repeats = REPEATS, trials = TRIALS, noreuse_trials = NOREUSE, results = RESULTS,
  per_trial_ms_reuse = reuse, files_floor_ms_per_trial = floor, per_trial_ms_noreuse = noreuse, spawn_ms = spawn,
  noreuse_over_spawn = over_spawn, results_per_s_buffer1 = r1,
  results_per_s_buffer8 = r8, mc1_gap_ms = gap, startup_ms = start, startup_baseline_ms = start_base,
  schedule = schedule, timeline = timeline, executor = executor, optuna_random_ms_per_trial = optuna_ms,
  optuna_import_ms = optuna_import_ms, runs = runs,
})
