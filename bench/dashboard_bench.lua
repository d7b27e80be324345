-- The live dashboard's cost: results per second through tune.run (default
-- loggers, local_dir on disk) with the dashboard open in headless chromium
-- (spec/browser/check.mjs, which polls it as a user's page does until the
-- experiment ends) against the same run without it, alternating, at
-- buffer lengths 8 and 1, and again with the browser at nice 19. A
-- million results a run (about 15-60 s), so that the browser's start-up
-- is not what is measured. Prints medians and their ratio (goal: <= 5%
-- slower).   cmake --build build --target bench-dashboard
local core = require("tune.core")

local TUNELUA = os.getenv("TUNELUA") or assert(core.worker_path())
local DIR = os.getenv("BENCH_DIR") or "build/bench-dashboard"
local RESULTS = tonumber(os.getenv("BENCH_RESULTS") or "") or 1000000
local REPEATS = tonumber(os.getenv("BENCH_REPEATS") or "") or 3

local function median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local n = #c
  return n % 2 == 1 and c[(n + 1) // 2] or (c[n // 2] + c[n // 2 + 1]) / 2
end

local function run_case(case, buffer, rep, nice)
  local dir = string.format("%s/%s-%d-%d", DIR, case, buffer, rep)
  core.remove_tree(dir)
  assert(core.mkdir_p(dir))
  local out = dir .. "/out.json"
  local p = assert(io.popen(string.format("BENCH_BUFFER=%d %s bench/loop_case.lua %s %s %s %d 2>&1",
    buffer, TUNELUA, case, dir, out, RESULTS)))
  local browser
  if case == "stream_dash" then
    for line in p:lines() do
      local url = line:match("^Dashboard: (http://%S+)")
      if url then
        browser = assert(io.popen(string.format("%snode spec/browser/check.mjs open '%s' 2>&1",
          nice and "nice -n 19 " or "", url)))
        break
      end
    end
    assert(browser, "no dashboard URL")
  end
  p:read("a")
  p:close()
  local seen
  if browser then
    local line = browser:read("a"):match("(%b{})%s*$")
    browser:close()
    local v = line and core.json_decode(line)
    seen = v and v.points
  end
  local r = core.json_decode(assert(core.read_file(out)))
  core.remove_tree(dir)
  return r.results_per_s, seen
end

local rows = {}
for _, buffer in ipairs{8, 1} do
  local plain, dash, niced = {}, {}, {}
  for rep = 1, REPEATS do
    plain[rep] = run_case("stream", buffer, rep)
    local seen
    dash[rep], seen = run_case("stream_dash", buffer, rep)
    niced[rep] = run_case("stream_dash", buffer, rep, true)
    io.stderr:write(string.format("buffer %d, repeat %d: %.0f results/s plain, %.0f with the dashboard open "
      .. "(the page showed %s points), %.0f with the browser at nice 19\n", buffer, rep, plain[rep], dash[rep],
      tostring(seen), niced[rep]))
  end
  local mp, md, mn = median(plain), median(dash), median(niced)
  rows[#rows + 1] = string.format("buffer %d: %.0f results/s without; with the dashboard open in chromium on the "
    .. "same 2 cores %.0f (%.1f%% slower), with that browser at nice 19 %.0f (%.1f%% slower); goal <= 5%%",
    buffer, mp, md, (1 - md / mp) * 100, mn, (1 - mn / mp) * 100)
end
print(string.format("Dashboard cost, %d results from 2 trials, median of %d alternating runs:", RESULTS, REPEATS))
for _, r in ipairs(rows) do print("  " .. r) end
