-- Executor figures (issue 2): per-trial overhead of start -> one result ->
-- stop, with and without reuse_actors; result throughput of one trial with
-- buffer lengths 1 and 8; each next to the bare limits measured in the same
-- run (spawning the worker binary; one pipe round trip).
--   cmake --build build --target bench        (or: tunelua bench/executor_bench.lua)
-- Environment: BENCH_TRIALS (1000), BENCH_RESULTS (200000), BENCH_REPEATS (5).
local tune = require("tune")
local core = require("tune.core")
package.path = "./?.lua;" .. package.path
require("bench.trainables")

local TRIALS = tonumber(os.getenv("BENCH_TRIALS") or "") or 1000
local RESULTS = tonumber(os.getenv("BENCH_RESULTS") or "") or 200000
local REPEATS = tonumber(os.getenv("BENCH_REPEATS") or "") or 5

local function median(v)
  table.sort(v)
  local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end

local dir = (os.getenv("TMPDIR") or "/tmp") .. "/tunelua-bench-" .. core.getpid()

local function per_trial(reuse, prestart)
  core.remove_tree(dir)
  local ex = tune.TrialExecutor{num_cpus = 1, reuse_actors = reuse, prestart_workers = prestart}
  local t0 = core.now()
  for _ = 1, TRIALS do
    local t = tune.Trial("bench_once", {local_dir = dir})
    local ev
    repeat ev = ex:get_next_executor_event({t}, true, 10) until ev.type == "PG_READY"
    assert(ex:start_trial(t), t.error_msg)
    repeat
      ev = ex:get_next_executor_event({t}, false, 10)
      assert(ev.type ~= "ERROR", ev.error)
    until ev.type == "TRAINING_RESULT"
    ex:stop_trial(t)
  end
  local ms = (core.now() - t0) * 1000 / TRIALS
  ex:cleanup()
  assert(ex:close())
  return ms
end

local function throughput(length)
  core.remove_tree(dir)
  local ex = tune.TrialExecutor{num_cpus = 1, result_buffer_length = length, result_buffer_min_time_s = 1}
  local t = tune.Trial("bench_stream", {local_dir = dir, config = {n = RESULTS}})
  local ev
  repeat ev = ex:get_next_executor_event({t}, true, 10) until ev.type == "PG_READY"
  local t0 = core.now()
  assert(ex:start_trial(t))
  local n = 0
  while true do
    ev = ex:get_next_executor_event({t}, false, 10)
    assert(ev.type ~= "ERROR", ev.error)
    if ev.type == "TRAINING_RESULT" then
      local rs = ev.result
      for i = 1, #rs do t:update_last_result(rs[i]) end
      n = n + #rs
      if t.last_result.done then break end
      ex:continue_training(t)
    end
  end
  local rate = RESULTS / (core.now() - t0)
  assert(n == RESULTS + 1, "lost results: " .. n)
  ex:stop_trial(t)
  ex:cleanup()
  assert(ex:close())
  return rate
end

local limits_cmd = os.getenv("TUNE_BENCH_LIMITS") or "build/bench/bench_limits"
local p = assert(io.popen(string.format("%s %s 200 20000 %d", limits_cmd, assert(core.worker_path()), REPEATS)))
local limits = assert(core.json_decode(p:read("l")), "bench_limits printed nothing")
p:close()

local runs = {reuse = {}, noreuse = {}, noreuse_noprestart = {}, buf1 = {}, buf8 = {}}
for _ = 1, REPEATS do
  runs.reuse[#runs.reuse + 1] = per_trial(true, true)
  runs.noreuse[#runs.noreuse + 1] = per_trial(false, true)
  runs.noreuse_noprestart[#runs.noreuse_noprestart + 1] = per_trial(false, false)
  runs.buf1[#runs.buf1 + 1] = throughput(1)
  runs.buf8[#runs.buf8 + 1] = throughput(8)
end
core.remove_tree(dir)

local reuse, noreuse = median(runs.reuse), median(runs.noreuse)
local cold = median(runs.noreuse_noprestart)
local buf1, buf8 = median(runs.buf1), median(runs.buf8)
local rt_ms = limits.pipe_round_trip_us / 1000
print(string.format("bare limits: spawn of the worker binary %.3f ms; pipe round trip %.1f us",
  limits.spawn_ms, limits.pipe_round_trip_us))
print(string.format("per trial, reuse_actors=true : %.3f ms  (%.1f pipe round trips; target <= 0.5 ms)",
  reuse, reuse / rt_ms))
print(string.format("per trial, reuse_actors=false: %.3f ms  (%.2fx bare spawn; target <= 1.5x)",
  noreuse, noreuse / limits.spawn_ms))
print(string.format("  same, prestart_workers=false: %.3f ms  (%.2fx bare spawn)", cold, cold / limits.spawn_ms))
print(string.format("results/s, buffer length 1 : %.0f  (%.2f us each = %.2f round trips)",
  buf1, 1e6 / buf1, (1e6 / buf1) / limits.pipe_round_trip_us))
print(string.format("results/s, buffer length 8 : %.0f  (target >= 50000)", buf8))
print(core.json_encode{
  bench = "executor", trials = TRIALS, results = RESULTS, repeats = REPEATS,
  spawn_ms = limits.spawn_ms, pipe_round_trip_us = limits.pipe_round_trip_us,
  per_trial_ms_reuse = reuse, per_trial_ms_noreuse = noreuse,
  noreuse_over_spawn = noreuse / limits.spawn_ms,
  per_trial_ms_noreuse_noprestart = cold,
  results_per_s_buffer1 = buf1, results_per_s_buffer8 = buf8,
  runs = runs,
})
