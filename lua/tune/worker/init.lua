--- The trial worker, `tunelua --worker` (docs/protocol.md). It reads
--- requests from the driver one at a time and answers each in order; a
--- function trainable runs in a coroutine that yields at every report, so
--- save, pause and stop requests are served between reports.
local core = require("tune.core")
local proc = require("tune.process")
local ckpt = require("tune.worker.checkpoint")
local errors = require("tune.worker.errors")
local func = require("tune.worker.func")
local registry = require("tune.worker.registry")
local session = require("tune.worker.session")

local M = {}

local PROTOCOL_VERSION = 1

local Worker = {}
Worker.__index = Worker

-- proc.worker: the worker of this process (tune.process, so that a
-- reloaded module finds it).

function Worker.new(ch)
  return setmetatable({
    ch = ch,
    trainable = nil,     -- function or class
    kind = nil,          -- "function" | "class" | "command"
    instance = nil,      -- class instance
    state = nil,         -- function trainable: coroutine state
    info = nil,          -- trial info from start/reset
    loaded = {},         -- scripts already run in this process
    pending_start = nil, -- the start request being served
    unreset = nil,       -- why the last reset failed: no more train, save, restore
  }, Worker)
end

--- Sends `msg`; with `hold`, in the channel's next write (replies the
--- driver only notes: docs/protocol.md).
function Worker:send(msg, hold)
  local ok, err = self.ch:send(msg, hold)
  if not ok then
    -- The result cannot be encoded (a function in the metrics, say): that
    -- is the trainable's error, reported as such.
    if msg.type == "result" then
      -- The path within the reported table (a key of the table itself: none).
      local why = tostring(err):gsub(" at 'results%[%d+%]%.m'", ""):gsub("at 'results%[%d+%]%.m%.", "at '")
      return self.ch:send{type = "error", re = msg.re, message = "cannot report the result: " .. why}
    end
    io.stderr:write("tunelua worker: cannot send: ", tostring(err), "\n")
    os.exit(71)
  end
end

--- Answers request `id` with error `err` (a message, or an error made by
--- tune.worker.errors with the trainable's traceback).
function Worker:reply_error(id, err)
  local message, traceback = errors.parts(err)
  self:send{type = "error", re = id, message = message, traceback = traceback}
end

--- Runs one request, answering errors as protocol errors.
function Worker:dispatch(msg)
  local handler = self["on_" .. tostring(msg.type)]
  if not handler then
    return self:reply_error(msg.id, "unknown request type " .. tostring(msg.type))
  end
  -- The train pipelined after a reset that failed must not run the old
  -- trial's trainable for the new trial (docs/protocol.md).
  if self.unreset and msg.type ~= "stop" and msg.type ~= "reset" then
    return self:reply_error(msg.id, self.unreset)
  end
  local ok, err = xpcall(handler, errors.handler, self, msg)
  if not ok then self:reply_error(msg.id, err) end
end

function Worker:loop()
  while true do
    local msg = self.ch:read()
    if msg == nil then
      -- The driver is gone: never keep running without it.
      os.exit(0, true)
    end
    self:dispatch(msg)
  end
end

--------------------------------------------------------------------------
-- Loading the trainable
--------------------------------------------------------------------------

local function set_info(self, msg)
  -- Bundle indexes are integers (JSON may carry them as 1.0).
  for _, b in ipairs(msg.bundles or {}) do
    if type(b) == "table" then b.index = math.tointeger(b.index) or b.index end
  end
  self.info = {
    trial_id = msg.trial_id, name = msg.name, logdir = msg.logdir,
    experiment_tag = msg.experiment_tag, config = msg.config, bundles = msg.bundles,
  }
  session._set_worker_info(self.info)
  if msg.logdir then assert(core.chdir(msg.logdir)) end
end

--- Makes `trainable` the one this worker serves and completes the start.
function Worker:serve(trainable)
  local kind = registry.kind_of(trainable)
  if not kind then error("the trainable is not a function, a tune.Trainable class or a tune.command", 0) end
  self.trainable, self.kind = trainable, kind
  local msg = self.pending_start
  self.pending_start = nil
  set_info(self, msg)
  self:instantiate()
  -- As in Ray, after setup (whose error comes first): a class without
  -- step() fails its start, named.
  if kind == "class" then
    local base = require("tune.worker.trainable")
    if not base.has_step(trainable) then
      error(string.format("%s: a tune.Trainable must define step()", base.class_name(trainable, self.trainable_name)), 0)
    end
  end
  self:send({type = "ready", re = msg.id}, true)
end

--- tune.run() in worker mode calls this: serve, then run the loop here and
--- end the process with the trial (code after tune.run never runs).
function M.serve_from_run(trainable)
  local w = proc.worker
  w.mode.loading = false
  -- A failing start (a class's setup raising) is the trial's error, answered
  -- here: raised, it would go back into the script, where a pcall around
  -- tune.run would catch it and run the code after it in the worker.
  local id = w.pending_start and w.pending_start.id
  local ok, err = xpcall(w.serve, errors.handler, w, trainable)
  if not ok then w:reply_error(id, err) end
  w:loop()
end

--- The worker-mode state tune.run looks at (nil outside a worker).
function M.worker_mode()
  return proc.worker and proc.worker.mode
end

--- True when this worker is loading a file to find registered `name`, at
--- its `nth` registration from that file (the one the trial was made with).
function M.wants(name, nth)
  local m = proc.worker and proc.worker.mode
  return m ~= nil and m.loading and m.run_index == nil and m.name == name and (m.nth == nil or m.nth == nth)
end

function Worker:load(spec)
  if spec.builtin then
    local t = require("tune.worker.builtin")[spec.name]
    if not t then error("unknown built-in trainable " .. tostring(spec.name), 0) end
    return t
  end
  if spec.command then
    return require("tune.worker.command").from_spec(spec.command)
  end
  local script = spec.script
  if not script then error("the start request names no trainable", 0) end
  if not self.loaded[script] then
    self.loaded[script] = true
    self.mode = {run_index = spec.run_index, runs = 0, script = script, name = spec.name, nth = spec.nth, loading = true,
      previous = spec.previous_runs, previous_errors = spec.previous_errors}
    -- Neither failure is the trainable's: one line, without this file's place.
    local entered, why = true, nil
    if spec.cwd then entered, why = core.chdir(spec.cwd) end
    if not entered then error("the worker cannot change to the experiment file's working directory: " .. tostring(why), 0) end
    -- The experiment file sees the driver's arguments, as lua.c sets them.
    if spec.args then
      local a = {[0] = spec.script}
      for k, v in pairs(spec.args) do a[tonumber(k) or k] = v end
      rawset(_G, "arg", a) -- what lua.c gives a script; the one global set here
    end
    local chunk, err = loadfile(script)
    if not chunk then error("the worker cannot load the experiment file: " .. tostring(err), 0) end
    chunk(table.unpack(spec.args or {}))
    self.mode.loading = false
    -- A file whose tune.run took over never gets here.
    if spec.run_index then
      error(string.format("%s did not reach its tune.run call #%d when run again in the worker",
        script, spec.run_index), 0)
    end
  end
  local entry = registry.get(spec.name or "")
  if not entry then
    error(string.format("trainable %q is not registered by %s", tostring(spec.name), script), 0)
  end
  return entry.trainable
end

--------------------------------------------------------------------------
-- Running it
--------------------------------------------------------------------------

function Worker:instantiate(checkpoint)
  if self.kind == "class" then
    local inst = require("tune.worker.trainable").instance(self.trainable, self.info.config, self.info, self.trainable_name)
    inst:setup(self.info.config)
    self.instance = inst
  elseif self.kind == "command" then
    self.instance = self.trainable:start(self.info)
  else
    self.state = func.new_state(self.trainable, self.info, checkpoint)
  end
end

--- One report from a function trainable: metrics, checkpoint, or finished.
function Worker:resume_function()
  return func.resume(self.state)
end

--- A list (a table the JSON encoder makes an array) is not a result:
--- results are metrics by name. Looked at only when m[1] is set.
local function check_not_list(m)
  if m[1] == nil then return end
  local n = 0
  for _ in pairs(m) do n = n + 1 end
  if n == #m then
    error(string.format("a result must be a table of metrics by name, got a list of %d value%s", n,
      n == 1 and "" or "s"), 0)
  end
end

--- One step: returns metrics (or nil when the trainable finished), and
--- whether it finished, and whether it checkpointed.
function Worker:step_once()
  if self.kind == "class" or self.kind == "command" then
    local inst = self.instance
    if not inst then error("the trainable failed to start", 0) end
    local r = inst:step()
    if r == nil and self.kind == "command" then return nil, true end
    if type(r) ~= "table" then
      error("step() must return a table of metrics, got " .. type(r), 0)
    end
    check_not_list(r)
    inst.iteration = inst.iteration + 1
    inst.training_iteration = inst.iteration
    return r, false, r.should_checkpoint
  end
  local m, finished, checkpointed, last = self:resume_function()
  if m and type(m) ~= "table" then error("tune.report() needs a table", 0) end
  if m then check_not_list(m) end
  if last then return m, true, false end
  return m, finished, checkpointed
end

function Worker:on_start(msg)
  if msg.v ~= PROTOCOL_VERSION then
    error(string.format("the driver speaks protocol version %s, this worker %d", tostring(msg.v), PROTOCOL_VERSION), 0)
  end
  -- A prestarted worker learns its trial's environment only now.
  for k, v in pairs(msg.env or {}) do assert(core.setenv(k, v)) end
  self.pending_start = msg
  self.trainable_name = type(msg.trainable) == "table" and msg.trainable.name or nil
  local t = self:load(msg.trainable)
  self:serve(t)
end

function Worker:on_train(msg)
  local n = math.max(1, math.floor(msg.n or 1))
  local window = msg.window or 0
  local results, finished = {}, false
  local t0 = core.now()
  local last = t0
  while #results < n do
    local m, fin, checkpointed = self:step_once()
    local now = core.now()
    if m then
      -- The trainable may change and report its table again: a batch holds
      -- copies, and the worker's own field goes on one.
      if checkpointed or n > 1 then m = require("tune.util").deepcopy(m) end
      if checkpointed then m.should_checkpoint = true end
      -- Integers cross the pipe fastest: step time in ns, wall clock in ms.
      results[#results + 1] = {m = m, dt = math.floor((now - last) * 1e9), ts = math.floor(core.time() * 1e3)}
    end
    last = now
    if fin then
      finished = true
      break
    end
    if m and (m.done or checkpointed) then break end
    if now - t0 >= window then break end
  end
  self:send{type = "result", re = msg.id, results = core.array(results), finished = finished}
end

function Worker:on_save(msg)
  local dir = msg.dir
  if self.kind == "class" then
    ckpt.save_class(self.instance:save_checkpoint(dir), dir)
  elseif self.kind == "command" then
    self.instance:save(dir)
  else
    local c = self.state and self.state.last_checkpoint
    if c ~= nil then ckpt.write_table(dir, c, "tune.report()") end
  end
  self:send{type = "saved", re = msg.id}
end

function Worker:on_restore(msg)
  local dir = msg.dir
  if self.kind == "class" then
    -- As Ray's Trainable.restore: the checkpoint's iteration (an integer)
    -- is in place when load_checkpoint runs.
    local it = math.tointeger(msg.iteration) or 0
    self.instance.iteration = it
    self.instance.training_iteration = it
    self.instance:load_checkpoint(ckpt.load_arg(dir))
  elseif self.kind == "command" then
    self.instance:restore(dir)
  else
    -- A function trainable restarts and finds the checkpoint with tune.get_checkpoint().
    if self.state and self.state.co then coroutine.close(self.state.co) end
    self.state = func.new_state(self.trainable, self.info, ckpt.read_table(dir))
  end
  self:send{type = "restored", re = msg.id}
end

function Worker:on_reset(msg)
  -- What the last trial started ends with it, not with the worker.
  core.worker_kill_group()
  -- Cleared only once the reset succeeded: reset_config() may raise.
  self.unreset = "the trainable was not reset for trial " .. tostring(msg.trial_id)
  set_info(self, msg)
  local ok = true
  if self.kind == "class" then
    -- As Ray's Trainable.reset: reset_config() already sees the new
    -- trial's config, id, name and directory (the working directory too).
    local inst = self.instance
    inst.config, inst.trial_id, inst.trial_name, inst.logdir = msg.config, msg.trial_id, msg.name, msg.logdir
    ok = inst:reset_config(msg.config) and true or false
    if ok then
      inst.iteration = 0
      inst.training_iteration = 0
    end
  elseif self.kind == "command" then
    ok = false
  else
    if self.state and self.state.co then coroutine.close(self.state.co) end
    self.state = func.new_state(self.trainable, self.info, nil)
  end
  if ok then self.unreset = nil end
  -- A refusal goes out at once; a success with the next write.
  self:send({type = "reset", re = msg.id, ok = ok}, ok)
end

function Worker:on_stop(msg)
  local ok, err = true, nil
  if self.instance and self.instance.cleanup then
    ok, err = xpcall(self.instance.cleanup, errors.handler, self.instance)
  end
  if self.state and self.state.co then coroutine.close(self.state.co) end
  if not ok then
    io.stderr:write("cleanup() failed: ", tostring(err), "\n")
  end
  self:send{type = "stopped", re = msg.id}
  -- exit(3) flushes stdio; closing the Lua state first would only free
  -- memory the process is about to give back anyway.
  os.exit(0, false)
end

--- Test hook: writes `text` to the protocol stream as it is, so specs can
--- check how the driver treats malformed messages.
function M._send_raw(text)
  proc.worker.ch:send_raw(text)
end

local host   -- {hostname, node_ip}: the same for every worker a zygote forks

--- True in a worker forked by the fork server (set by `tunelua --zygote`
--- in the new worker; docs/architecture.md, "Start-up").
M.forked = false

--- Looks up what every worker on this host says in its hello. The fork
--- server (`tunelua --zygote`) calls it once, before it forks workers.
function M.prepare()
  host = host or {core.hostname(), core.node_ip()}
end

--- Entry point of `tunelua --worker`.
function M.main(argv)
  -- A driver it cannot reach: its one line (in the trial's error), no
  -- traceback into the worker.
  local ok, ch = pcall(core.worker_channel)
  if not ok then
    io.stderr:write("tunelua: ", tostring(ch), "\n")
    return 2
  end
  local w = Worker.new(ch)
  proc.worker = w
  M.prepare()
  w:send{type = "hello", v = PROTOCOL_VERSION, pid = core.getpid(), hostname = host[1], node_ip = host[2]}
  w:loop()
  return 0
end

return M
