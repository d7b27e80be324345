--- Processes in a trial's placement-group bundles: what data-parallel
--- training inside a trial needs. A trial whose resources are
---   tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}, {CPU = 1}})
--- holds three bundles; inside its trainable, tune.bundles() lists them
--- and tune.launch(i, argv) runs a program in bundle i, with that bundle's
--- OMP_NUM_THREADS and CUDA_VISIBLE_DEVICES. Its stdout goes to a file in
--- the trial directory; wait() returns its status and its last JSON line.
--- On the local backend the processes are children of the trial's worker
--- and die with it.
local class = require("tune.class")
local core = require("tune.core")
local session = require("tune.worker.session")
local util = require("tune.util")

local M = {}

--- The trial's bundles: {index =, resources = {CPU =, GPU = ...}, gpu_ids = "0,1"}.
-- (`who`: tune.launch raised saying tune.bundles(), at its own line.)
local function trial_bundles(who)
  local info = session.get_worker_info()
  if not info or not info.bundles then
    error(who .. " can only be called inside a trainable run by tune", 3)
  end
  return info.bundles
end

function M.bundles()
  local bundles = trial_bundles("tune.bundles()") -- (not a tail call: level 3 is the caller's)
  return bundles
end

local Process = class.class("BundleProcess")
-- The last <n> of bundle_<i>_<n>.out per trial directory.
local launched = {}

--- tune.launch(bundle_index, argv [, {env =, cwd =}]) -> process
function M.launch(index, argv, opts)
  local bundles = trial_bundles("tune.launch")
  if type(index) ~= "number" then -- (a string "2" was said not to exist while the trial had 2)
    error(string.format("tune.launch: the bundle must be a number from 1 to %d, got %s", #bundles,
      require("tune.util").show_got(index)), 2)
  end
  local b = bundles[index]
  if not b then
    error(string.format("tune.launch: bundle %s does not exist (the trial has %d)", tostring(index), #bundles), 2)
  end
  local command = require("tune.worker.command")
  argv = command.check_argv("tune.launch", argv, "argv, a list")
  opts = util.check_options("tune.launch", opts, {env = true, cwd = true}, 2)
  command.check_env_cwd("tune.launch", opts.env, opts.cwd)
  local info = session.get_worker_info()
  -- A name no process of the trial has had: an attempt before a retry (or
  -- a resume) wrote bundle_2_1.out, and wait() read its lines as this one's.
  local n, out = launched[info.logdir] or 0, nil
  repeat
    n = n + 1
    out = util.join(info.logdir, string.format("bundle_%d_%d.out", index, n))
  until core.stat(out) == nil
  launched[info.logdir] = n
  local env = {OMP_NUM_THREADS = b.omp_threads or tostring(math.max(1, math.floor(b.resources.CPU or 1))), CUDA_VISIBLE_DEVICES = b.gpu_ids or "",
    TUNE_BUNDLE_INDEX = tostring(index), TUNE_TRIAL_ID = info.trial_id, LD_PRELOAD = command.child_preload()}
  for k, v in pairs(opts.env or {}) do env[k] = v end
  -- A bare name is looked up on the PATH the process gets, as a shell (and
  -- Python's Popen) does: posix_spawnp searched the worker's.
  if type(env.PATH) == "string" and not argv[1]:find("/", 1, true) then
    local path, perr = command.find_program(argv[1], env.PATH)
    if not path then error("tune.launch: " .. perr, 2) end
    argv[1] = path
  end
  local pid, err = core.spawn(argv, {env = env, cwd = opts.cwd or info.logdir, stdout = out, stderr = out})
  if not pid then error("tune.launch: " .. command.spawn_failure(argv[1], err, opts.cwd), 2) end
  local p = Process()
  p.pid, p.bundle, p.stdout_path, p.argv = pid, index, out, argv
  return p
end

--- Waits for the process: {status = "exited"|"signaled", code =, stdout =, result =}
--- where result is its last JSON object line, decoded.
function Process:wait()
  if not self.outcome then
    local how, code = core.waitpid(self.pid)
    local text = core.read_file(self.stdout_path) or ""
    local result
    for line in text:gmatch("[^\n]+") do
      if line:match("^%s*{") then
        local r = core.json_decode(line)
        if type(r) == "table" then result = r end
      end
    end
    self.outcome = {status = how, code = code, stdout = text, result = result}
  end
  return self.outcome
end

function Process:kill()
  if not self.outcome then core.kill(self.pid, "KILL") end
end

--- Waits for all of them; raises when one failed.
function M.wait_all(procs)
  -- (Anything else failed inside the library: "attempt to index a number value".)
  local bad = type(procs) ~= "table" and type(procs) or nil
  for i, p in ipairs(type(procs) == "table" and procs or {}) do
    if not bad and not class.is_instance(p, Process) then bad = string.format("%s at %d", type(p), i) end
  end
  if bad then error("tune.wait_all expects a list of processes from tune.launch, got " .. bad, 2) end
  local out = {}
  for i, p in ipairs(procs) do
    local o = p:wait()
    if o.status ~= "exited" or o.code ~= 0 then
      error(string.format("bundle process %s (bundle %d) %s %d", p.argv[1], p.bundle,
        o.status == "exited" and "exited with status" or "was killed by signal", o.code or -1), 2)
    end
    out[i] = o
  end
  return out
end

--- argv that runs a Lua file with tunelua: tune.launch(2, tune.lua_argv("rank.lua", 1)).
function M.lua_argv(script, ...)
  if type(script) ~= "string" then
    error("tune.lua_argv expects the Lua file's path (a string), got " .. util.show_got(script), 2)
  end
  local argv = {assert(core.worker_path()), script}
  for i = 1, select("#", ...) do
    local a = select(i, ...)
    if type(a) ~= "string" and type(a) ~= "number" then -- (a table became "table: 0x...")
      error(string.format("tune.lua_argv: argument %d must be a string or a number, got %s", i + 1, util.show_got(a)), 2)
    end
    argv[#argv + 1] = tostring(a)
  end
  return argv
end

return M
