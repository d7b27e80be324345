--- tune.command{argv...}: runs any program as a trial. Arguments may name
--- config values as {param} (nested ones as {a/b}); there is no shell. Each
--- line the program prints that is a JSON object is one result; other
--- lines go to the trial's stdout. The program ends the trial by exiting
--- (status 0: done; anything else: the trial fails with its status).
---   tune.command{"python3", "train.py", "--lr", "{lr}", name = "train_py"}
--- The program's environment adds TUNE_TRIAL_ID, TUNE_TRIAL_DIR and
--- TUNE_CONFIG (the config as JSON). A command cannot be checkpointed: a
--- restored or resumed command trial starts its program again.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

local Command = class.class("Command")
M.Command = Command

local OPTS = {name = true, env = true, cwd = true}

--- Where a shell finds `name`: the first directory of PATH (the given
--- one, else the environment's, else "/bin:/usr/bin") holding an
--- executable file of that name; an empty entry is the current directory.
--- Returns the absolute path, or nil and a message.
function M.find_program(name, path)
  if name == "" then return nil, "the program name is empty" end
  path = path or os.getenv("PATH") or "/bin:/usr/bin"
  local denied
  for dir in (path .. ":"):gmatch("([^:]*):") do
    if dir == "" then dir = "." end
    local candidate = util.abspath(dir .. "/" .. name)
    if core.executable(candidate) then return candidate end
    if not denied and core.stat(candidate) == "file" then denied = candidate end
  end
  if denied then return nil, string.format("%s: permission denied (not executable)", denied) end
  return nil, string.format("program %q not found on PATH (%s)", name, path)
end

-- A string C would cut at its NUL (a program, an argument, a directory,
-- a variable's value that ran shortened): "<who>: <what> ...", raised at
-- the caller's caller's caller.
local function check_nul(who, what, s)
  if type(s) == "string" and s:find("\0", 1, true) then
    error(string.format("%s: %s must not contain a NUL character (C strings end there), got %q", who, what, s), 4)
  end
end

--- The argument list `list` as strings (numbers written as they are), or
--- raises "<who>: ..." at the caller's caller for a list that does not
--- start with the program or holds another value (tune.command's and
--- tune.launch's argv).
function M.check_argv(who, list, what)
  if type(list) ~= "table" or type(list[1]) ~= "string" then
    error(string.format("%s expects %s whose first entries are the program and its arguments", who, what), 3)
  end
  local argv = {}
  for i, a in ipairs(list) do
    if type(a) ~= "string" and type(a) ~= "number" then
      error(string.format("%s: argument %d must be a string or a number, got %s", who, i, util.show_got(a)), 3)
    end
    check_nul(who, "argument " .. i, a)
    argv[i] = tostring(a)
  end
  return argv
end

--- Raises "<who>: ..." at the caller's caller for an `env` that is not a
--- table of NAME = string (or number, or false to remove it) or a `cwd`
--- that is not a string (tune.command's and tune.launch's options).
function M.check_env_cwd(who, env, cwd)
  if env ~= nil and type(env) ~= "table" then
    error(string.format("%s: env must be a table of NAME = value, got %s", who, util.show_got(env)), 3)
  end
  for k, v in pairs(env or {}) do
    if type(k) ~= "string" or k == "" or k:find("[=%z]") or not (type(v) == "string" or type(v) == "number" or v == false) then
      error(string.format("%s: env must map names to strings (false removes one), got %s = %s", who, tostring(k),
        util.show_got(v)), 3)
    end
    check_nul(who, "env " .. k, v)
  end
  if cwd ~= nil and type(cwd) ~= "string" then
    error(string.format("%s: cwd must be a directory's path (a string), got %s", who, util.show_got(cwd)), 3)
  end
  check_nul(who, "cwd", cwd)
end

--- LD_PRELOAD for a program a trial starts: the worker's, less a
--- sanitizer's runtime (libasan.so, which a sanitized build's tests
--- preload, would check the program too); false (removed) when nothing
--- is left. It was always removed: a user's LD_PRELOAD=libtcmalloc.so
--- never reached the program.
function M.child_preload()
  local keep = {}
  for lib in (os.getenv("LD_PRELOAD") or ""):gmatch("[^%s:]+") do
    if not lib:match("[^/]*$"):match("^lib%a*san%.so") then keep[#keep + 1] = lib end
  end
  return #keep > 0 and table.concat(keep, " ") or false
end

--- The message of a spawn that failed: its cwd's fault when that is not a
--- directory (the exec error named the program).
function M.spawn_failure(program, err, cwd)
  if cwd and core.stat(cwd) ~= "directory" then return string.format("%s: its cwd %s is not a directory", program, cwd) end
  -- core.spawn's message names the program already.
  err = tostring(err)
  if err:sub(1, #program + 2) == program .. ": " then return err end
  return program .. ": " .. err
end

--- tune.command{argv..., name=, env=, cwd=}
function M.command(spec)
  local argv = M.check_argv("tune.command", spec, "a table")
  for k in pairs(spec) do
    if type(k) ~= "number" and not OPTS[k] then
      error("tune.command: unknown option " .. tostring(k), 2)
    end
  end
  if spec.name ~= nil and (type(spec.name) ~= "string" or spec.name:find("\0", 1, true)) then
    error("tune.command: name must be a string (the trainable's name in trial names) without a NUL character, got "
      .. util.show_got(spec.name), 2)
  end
  M.check_env_cwd("tune.command", spec.env, spec.cwd)
  -- The program runs in the trial directory: a relative path to it is
  -- taken from where tune.command was called. A bare name is found on PATH
  -- now, as a shell finds it (execvp's rules).
  if argv[1]:find("/", 1, true) then
    if argv[1]:sub(1, 1) ~= "/" then argv[1] = util.abspath(argv[1]) end
  else
    local path, err = M.find_program(argv[1], type(spec.env) == "table" and spec.env.PATH or nil)
    if not path then error("tune.command: " .. err, 2) end
    argv[1] = path
  end
  local c = Command()
  c._command = true
  c.argv = argv
  c.name = spec.name or (argv[1]:match("[^/]+$"):gsub("[^%w_%-]", "_"))
  c.env = spec.env or {}
  -- Relative, from where tune.command was called, as the program's path
  -- (the trial directory it runs in made "workdir" another directory).
  c.cwd = spec.cwd and util.abspath(spec.cwd)
  return c
end

function Command:spec()
  return {argv = self.argv, name = self.name, env = self.env, cwd = self.cwd}
end

function M.from_spec(spec)
  local c = Command()
  c._command = true
  c.argv, c.name, c.env, c.cwd = spec.argv, spec.name, spec.env or {}, spec.cwd
  return c
end

--- "{lr}" -> the config value (flattened keys: "{optim/lr}").
local function substitute(argv, config)
  local flat = util.flatten(config)
  local out = {}
  for i, a in ipairs(argv) do
    out[i] = a:gsub("{([%w_/%.%-]+)}", function(key)
      local v = flat[key]
      if v == nil then error(string.format("tune.command: argument %q names {%s}, which is not in the config", a, key), 0) end
      if type(v) == "number" or type(v) == "table" then return (assert(core.json_encode(v))) end
      return tostring(v)
    end)
  end
  return out
end

local Running = class.class("RunningCommand")

--- Starts the program for a trial (worker side).
function Command:start(info)
  local argv = substitute(self.argv, info.config)
  local env = {TUNE_TRIAL_ID = info.trial_id, TUNE_TRIAL_DIR = info.logdir,
    TUNE_CONFIG = assert(core.json_encode(info.config)), LD_PRELOAD = M.child_preload()}
  for k, v in pairs(self.env) do env[k] = v end
  local pid, fd = core.spawn(argv, {env = env, cwd = self.cwd or info.logdir, stdout = "pipe"})
  if not pid then error("tune.command: cannot start " .. M.spawn_failure(argv[1], fd, self.cwd), 0) end
  local r = Running()
  r.pid, r.fd, r.argv, r.iteration = pid, fd, argv, 0
  return r
end

function Running:step()
  while true do
    local line = core.read_line(self.fd, self.pid)
    if line == nil then
      core.close_fd(self.fd)
      local how, code = core.waitpid(self.pid)
      self.pid = nil
      if how == "exited" and code == 0 then return nil end
      error(string.format("%s %s with %s %d", self.argv[1], how == "exited" and "exited" or "was killed",
        how == "exited" and "status" or "signal", code or -1), 0)
    end
    if line:match("^%s*{") then
      local r, err = core.json_decode(line)
      if type(r) == "table" then return r end
      -- Valid JSON past what a result may hold: it was lost as a line of
      -- text; it fails the trial, as such a result of a function does.
      local why = err and (err:match("^NUL character in string at byte %d+") and err .. ": C strings end there"
        or err:match("^nesting too deep at byte %d+") and err .. ": at most 200 levels")
      if why then
        error(string.format("%s printed a result that cannot be taken (%s): %s", self.argv[1], why,
          #line > 100 and line:sub(1, 100) .. "..." or line), 0)
      end
    end
    io.stdout:write(line, "\n")
  end
end

function Running:save(dir) end
function Running:restore(dir) end

function Running:cleanup()
  if self.pid then
    core.kill(self.pid, "TERM")
    core.waitpid(self.pid)
    self.pid = nil
  end
end

return M
