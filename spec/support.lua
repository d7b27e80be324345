--- Shared helpers for the busted specs: temporary directories, executors
--- that are checked for leaks, and a check that no worker process is left.
local core = require("tune.core")

local M = {}

local root = os.getenv("TUNE_TEST_TMP") or "/tmp/tunelua-spec"
local counter = 0
local open_executors = {}

--- A fresh, empty directory for one test.
function M.tmpdir(name)
  counter = counter + 1
  local dir = string.format("%s/%d-%d-%s", root, core.getpid(), counter, name or "t")
  core.remove_tree(dir)
  assert(core.mkdir_p(dir))
  return dir
end

--- Runs a shell command: whether it exited 0, its output (stdout and
--- stderr), its exit code.
function M.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok == true, out, code
end

--- A small file system for a full-disk test: a tmpfs mounted on a fresh
--- directory with the mount `options` ("size=256k"), and the function
--- that runs a shell command without the sanitizer the suite may preload
--- (df and tail leak at exit, by its count); nil when mounting needs root.
function M.tmpfs(name, options)
  local fs = M.tmpdir(name) .. "/fs"
  assert(core.mkdir_p(fs))
  local function sh(cmd) return M.sh("env -u LD_PRELOAD sh -c '" .. cmd .. "'") end
  if not sh("mount -t tmpfs -o " .. options .. " tmpfs " .. fs .. " 2>/dev/null") then return nil end
  return fs, sh
end

--- Runs a shell command that must exit 0; its output.
function M.must(cmd)
  local ok, out, code = M.sh(cmd)
  assert(ok, string.format("%s\nexited with %s:\n%s", cmd, tostring(code), out))
  return out
end

--- Writes `source` to <dir>/exp.lua and runs it with the tunelua binary
--- (without a preloaded sanitizer), the extra arguments after it, under
--- the environment assignments `env` ("K=V ..." or nil); its output, which
--- it must exit 0 with.
function M.run_script(dir, source, args, env)
  local script = dir .. "/exp.lua"
  assert(core.write_atomic(script, source))
  local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
  return M.must(string.format("env -u LD_PRELOAD %s %s %s %s", env or "", bin, script, args or ""))
end

--- Whether a file can be opened for reading.
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The backend the executor specs run on: TUNE_TEST_BACKEND ("slurm"
--- under spec/slurm/in_allocation.sh), else "local".
function M.backend()
  return os.getenv("TUNE_TEST_BACKEND") or "local"
end

--- A resource number of a spec, scaled to the Slurm allocation it runs in.
function M.scaled(local_value, slurm_value)
  return M.backend() == "slurm" and slurm_value or local_value
end

--- A TrialExecutor that check_clean() will clean up and close. On Slurm
--- the node's resources are the allocation's: the spec's are dropped.
function M.executor(opts)
  local tune = require("tune")
  opts = opts or {}
  if M.backend() == "slurm" then
    local o = {backend = "slurm"}
    for k, v in pairs(opts) do
      if k ~= "num_cpus" and k ~= "num_gpus" and k ~= "resources" and k ~= "memory" then o[k] = v end
    end
    opts = o
  end
  local ex = tune.TrialExecutor(opts)
  open_executors[#open_executors + 1] = ex
  return ex
end

--- Children of this process that are still alive (not zombies).
function M.child_pids()
  local me = core.getpid()
  local out = {}
  for _, name in ipairs(core.listdir("/proc") or {}) do
    if name:match("^%d+$") then
      local stat = core.read_file("/proc/" .. name .. "/stat")
      if stat then
        local state, ppid = stat:match("%) (%S) (%d+)")
        if tonumber(ppid) == me and state ~= "Z" then out[#out + 1] = tonumber(name) end
      end
    end
  end
  return out
end

--- after_each: closes the executors a test made (failing on a leaked
--- libuv handle) and fails if a worker process outlived them.
function M.check_clean()
  local errs = {}
  for _, ex in ipairs(open_executors) do
    ex:cleanup()
    local ok, err = ex:close()
    if not ok then errs[#errs + 1] = err end
  end
  open_executors = {}
  collectgarbage()
  local kids = M.child_pids()
  if #kids > 0 then
    for _, pid in ipairs(kids) do core.kill(pid, "KILL") end
    errs[#errs + 1] = "worker processes left behind: " .. table.concat(kids, ", ")
  end
  assert(#errs == 0, table.concat(errs, "; "))
end

--- Waits for an event of `etype` for `trial`, failing after `timeout`.
--- Other events are returned in the second value (in order).
function M.wait_event(ex, trials, etype, opts)
  opts = opts or {}
  local deadline = core.now() + (opts.timeout or 30)
  local seen = {}
  while core.now() < deadline do
    local ev = ex:get_next_executor_event(trials, opts.next_trial_exists or false, 1)
    if ev.type == etype then return ev, seen end
    if ev.type ~= "YIELD" and ev.type ~= "NO_RUNNING_TRIAL_TIMEOUT" then seen[#seen + 1] = ev end
  end
  error(string.format("no %s event within %ss (saw %d others)", etype, opts.timeout or 30, #seen), 2)
end

--- Reads a file's lines.
--- A copy of /bin/sleep named `name` in `dir` (a process name the specs
--- can look for in /proc/<pid>/stat); returns its path.
function M.marker_sleep(dir, name)
  local path = dir .. "/" .. name
  if not core.stat(path) then
    assert(core.write_atomic(path, assert(core.read_file("/bin/sleep"))))
    os.execute("chmod +x '" .. path .. "'")
  end
  return path
end

--- The pids of the processes named `name` (their /proc/<pid>/stat; not
--- pgrep -f, whose reads of other processes' cmdline can block on a
--- process the sanitizers hold stopped). `under`: only those whose program
--- path (the cmdline's first word, read of those processes alone) starts
--- with it, so that another checkout's run of the same spec is not counted.
function M.processes_named(name, under)
  local pids = {}
  for _, e in ipairs(core.listdir("/proc") or {}) do
    if e:match("^%d+$") then
      local st = core.read_file("/proc/" .. e .. "/stat")
      if st and st:find("(" .. name .. ")", 1, true) and not st:match("^%d+ %b() Z") then
        local argv0 = under and (core.read_file("/proc/" .. e .. "/cmdline") or ""):match("^[^%z]*")
        if not under or (argv0 and argv0:sub(1, #under) == under) then pids[#pids + 1] = e end
      end
    end
  end
  return pids
end

--- The directory under which tmpdir() makes this run's directories.
M.tmp_root = root

--- Column `name` of a CSV file (progress.csv: no quoted commas in these
--- specs), as numbers (an empty cell is skipped).
function M.csv_column(path, name)
  local rows, col, out = M.lines(path), nil, {}
  local k = 0
  for n in ((rows[1] or "") .. ","):gmatch("([^,]*),") do
    k = k + 1
    if n == name then col = k end
  end
  for r = 2, #rows do
    k = 0
    for v in (rows[r] .. ","):gmatch("([^,]*),") do
      k = k + 1
      if k == col then out[#out + 1] = tonumber(v) end
    end
  end
  return out
end

function M.lines(path)
  local text = core.read_file(path)
  local out = {}
  if text then for l in text:gmatch("[^\n]+") do out[#out + 1] = l end end
  return out
end

--- A copy of v with NaN spelt "NaN" (NaN ~= NaN), for assert.same.
function M.nan_free(v)
  if type(v) == "number" and v ~= v then return "NaN" end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.nan_free(x) end
  return out
end

--- A state as it comes back from the experiment file: through JSON.
function M.json_roundtrip(state)
  return core.json_decode(assert(core.json_encode(state)))
end

--- Runs the tunelua binary with `args` ("--num-cpus 2" first), under the
--- environment assignments `env`, within `timeout_s` seconds when given:
--- its exit code (128 + n for a signal, 124 on the timeout) and output.
function M.tunelua(args, env, timeout_s)
  local bin = os.getenv("TUNELUA_BIN") or "build/tunelua"
  local p = io.popen(string.format("env %s %s%s --num-cpus 2 %s 2>&1", env or "",
    timeout_s and ("timeout " .. timeout_s .. " ") or "", bin, args))
  local out = p:read("a")
  local _, how, code = p:close()
  if how == "signal" then code = 128 + code end
  return code, out
end

--- Runs tunelua `args` killed at its n-th journal or snapshot write
--- (TUNE_TEST_CRASH_AT_WRITE), then `--resume args`, each within 30 s:
--- asserts the kill and the resume's success; the resume's output.
function M.crash_and_resume(args, n)
  local code, out = M.tunelua(args, "TUNE_TEST_CRASH_AT_WRITE=" .. n, 30)
  if code ~= 137 then error(string.format("not killed at write %d (exit %s): %s", n, tostring(code), out), 2) end
  code, out = M.tunelua("--resume " .. args, nil, 30)
  if code ~= 0 then error(string.format("the resume after write %d failed (exit %s): %s", n, tostring(code), out), 2) end
  return out
end

--- A callback that counts the most trials RUNNING at the end of a step:
--- the callback and a function returning that peak.
function M.running_peak()
  local tune = require("tune")
  local most = 0
  local cb = tune.Callback:extend()
  function cb:on_step_end(_, trials)
    local n = 0
    for _, t in ipairs(trials) do if t.status == "RUNNING" then n = n + 1 end end
    most = math.max(most, n)
  end
  return cb(), function() return most end
end

--- Every trial's status (by trial id) from experiment `exp_dir`'s newest
--- snapshot plus the journal after it; and the snapshot.
function M.statuses(exp_dir)
  local s, entries = require("tune.experiment.persistence").load(exp_dir)
  assert(s, entries)
  local st = {}
  for _, t in ipairs(s.trials) do st[t.trial_id] = t.status end
  for _, e in ipairs(entries) do
    if e.event == "trial_added" then st[e.trial.trial_id] = e.trial.status end
    if e.event == "status" then st[e.trial_id] = e.status end
  end
  return st, s
end

return M
