-- One measurement of the whole loop through tune.run, in a fresh driver
-- (bench/loop_bench.lua runs it; default loggers on, local_dir on disk).
--   tunelua bench/loop_case.lua CASE DIR OUT_JSON [N]
-- CASE: reuse | noreuse | results1 | results8 | stream | stream_dash | mc1 | schedule | timeline.
-- Writes one JSON object to OUT_JSON; tune.run's own output goes to stdout.
package.path = "./?.lua;" .. package.path
local tune = require("tune")
local core = require("tune.core")
require("bench.trainables")

local case, dir, out = arg[1], arg[2], arg[3]
local n = tonumber(arg[4] or "")

local function peak_rss_mb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local kb = text:match("VmHWM:%s*(%d+)")
  return kb and tonumber(kb) / 1024 or nil
end

local r = {case = case}
local t0 = core.now()
if case == "reuse" or case == "noreuse" then
  tune.run("bench_trivial", {num_samples = n, reuse_actors = case == "reuse", local_dir = dir})
  r.ms_per_trial = (core.now() - t0) * 1000 / n
elseif case == "results1" or case == "results8" then
  core.setenv("TUNE_RESULT_BUFFER_LENGTH", case == "results1" and "1" or "8")
  tune.run("bench_stream", {config = {n = n // 2}, num_samples = 2, local_dir = dir})
  r.results_per_s = n / (core.now() - t0)
elseif case == "stream" or case == "stream_dash" then
  -- Results per second from the first trial's start (the dashboard's run
  -- waits for the browser's page before that), buffer BENCH_BUFFER.
  core.setenv("TUNE_RESULT_BUFFER_LENGTH", os.getenv("BENCH_BUFFER") or "8")
  -- Until the experiment's end, before the dashboard's linger.
  local first, last
  local cb = {on_trial_start = function() first = first or core.now() end,
    on_experiment_end = function() last = core.now() end}
  tune.run("bench_stream", {config = {n = n // 2}, num_samples = 2, local_dir = dir, callbacks = {cb},
    dashboard = case == "stream_dash" and {port = 0, wait_s = 60} or nil})
  r.results_per_s = n / (last - first)
elseif case == "mc1" then
  -- From a trial's completion to the next one's start, seen by a callback.
  local ended, gaps = nil, {}
  local cb = {
    on_trial_complete = function() ended = core.now() end,
    on_trial_start = function()
      if ended then gaps[#gaps + 1] = (core.now() - ended) * 1000 end
      ended = nil
    end,
  }
  tune.run("bench_trivial", {num_samples = n, reuse_actors = true, max_concurrent_trials = 1,
    local_dir = dir, callbacks = {cb}})
  table.sort(gaps)
  r.gap_ms_median = gaps[(#gaps + 1) // 2]
  r.gap_ms_max = gaps[#gaps]
elseif case == "schedule" then
  -- n trials of 10 ms each on 2 CPUs: the ideal is n * 10 ms / 2.
  tune.run("bench_sleep", {num_samples = n, config = {t = 0.01}, reuse_actors = true, num_cpus = 2,
    local_dir = dir})
  r.wall_s = core.now() - t0
  r.ideal_s = n * 0.01 / 2
elseif case == "timeline" then
  -- The schedule's trials again, each one's time beyond its 10 ms taken
  -- apart by callbacks (means, ms): the trainable's own iteration past
  -- 10 ms, the start request and the result's way back, the request that
  -- learns the function returned, and a completion to the next start.
  local started, reported, iter, done_at = {}, {}, {}, nil
  local sum = {iteration_over = 0, start_to_result = 0, result_to_complete = 0, complete_to_start = 0}
  local counts = {trials = 0, gaps = 0}
  local cb = {
    on_trial_start = function(_, _, _, trial)
      local now = core.now()
      started[trial.trial_id] = now
      if done_at then
        sum.complete_to_start = sum.complete_to_start + (now - done_at)
        counts.gaps = counts.gaps + 1
        done_at = nil
      end
    end,
    on_trial_result = function(_, _, _, trial, result)
      reported[trial.trial_id], iter[trial.trial_id] = core.now(), result.time_this_iter_s
    end,
    on_trial_complete = function(_, _, _, trial)
      local now, id = core.now(), trial.trial_id
      done_at = now
      if started[id] and reported[id] and iter[id] then
        sum.iteration_over = sum.iteration_over + (iter[id] - 0.01)
        sum.start_to_result = sum.start_to_result + (reported[id] - started[id] - iter[id])
        sum.result_to_complete = sum.result_to_complete + (now - reported[id])
        counts.trials = counts.trials + 1
      end
      started[id], reported[id], iter[id] = nil, nil, nil
    end,
  }
  tune.run("bench_sleep", {num_samples = n, config = {t = 0.01}, reuse_actors = true, num_cpus = 2,
    local_dir = dir, callbacks = {cb}})
  r.wall_s = core.now() - t0
  r.ideal_s = n * 0.01 / 2
  for k, v in pairs(sum) do r[k .. "_ms"] = v * 1000 / math.max(1, k == "complete_to_start" and counts.gaps or counts.trials) end
else
  error("unknown case " .. tostring(case))
end
r.peak_rss_mb = peak_rss_mb()
local f = assert(io.open(out, "w"))
f:write(assert(core.json_encode(r)), "\n")
f:close()
