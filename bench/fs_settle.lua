-- The benchmarks' guard against the kernel's recently-deleted window: on
-- ext4 without a journal the inode allocator skips, one check each, every
-- inode freed less than 60 s ago (300 s while its inode-table block is
-- dirty), so a run that creates thousands of files within minutes of a
-- run that removed thousands is several times slower (docs/benchmarks.md,
-- "recently_deleted"). A bench that removes its outputs records when
-- (removed); the next one, of any bench, waits out the rest of the window
-- first (wait), saying so. BENCH_NO_SETTLE=1 skips the wait.
local core = require("tune.core")

local M = {}

--- Seconds a removal is felt.
M.WINDOW_S = 300

local function stamp_path(dir)
  return (dir:match("^(.*)/[^/]*$") or ".") .. "/.bench-removed"
end

--- Waits until WINDOW_S have passed since a bench removed its outputs
--- beside `dir` (a bench's output directory).
function M.wait(dir)
  if os.getenv("BENCH_NO_SETTLE") == "1" then return end
  local last = tonumber(core.read_file(stamp_path(dir)) or "")
  if not last then return end
  local left = last + M.WINDOW_S - core.time()
  if left <= 0 or left > M.WINDOW_S then return end
  io.stderr:write(string.format("waiting %.0f s: files were removed %.0f s ago, and ext4 without a journal "
    .. "creates files slowly for %d s after (BENCH_NO_SETTLE=1 skips this)\n", left, M.WINDOW_S - left, M.WINDOW_S))
  os.execute(string.format("sleep %.1f", left))
end

--- Writes back what earlier runs left dirty in the page cache, before a
--- timed run: 100,000 result rows are some 80 MB, and their writeback
--- (the kernel's flusher threads, on the same two cores) otherwise lands
--- in the next run's time: the simulator's ASHA runs after three FIFO
--- runs gave 17–43 k results/s with 750 MB dirty, 35–52 k after a sync.
function M.sync()
  os.execute("sync")
end

--- Removes `dir` and records when.
function M.remove(dir)
  core.remove_tree(dir)
  core.write_file(stamp_path(dir), string.format("%.3f", core.time()))
end

return M
