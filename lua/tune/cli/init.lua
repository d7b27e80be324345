--- `tunelua [options] experiment.lua [args]`: runs an experiment file;
--- `tunelua analyze DIR ...`: prints an experiment's best trials.
--- Exit codes: 0 all trials terminated; 1 some trial failed
--- (raise_on_failed_trial); 2 usage or script error; 130 interrupted.
local core = require("tune.core")

local M = {}

local USAGE = [[
usage: tunelua [options] experiment.lua [script args...]
       tunelua analyze DIR|STATE_FILE [--metric M] [--mode min|max] [--scope S] [--top N] [--csv]
       tunelua report DIR [-o FILE]   (an HTML page of the experiment)
       tunelua --worker            (internal: a trial process)

options:
  --num-cpus N          CPUs this node offers to trials (default: detected;
                        the simulator's node: 1)
  --num-gpus N          GPUs this node offers (default: detected)
  --resources JSON      custom resources, e.g. '{"custom": 4}'
  --local-dir DIR       where experiments are written (default ~/tune_results)
  --name NAME           experiment name
  --resume[=MODE]       resume the experiment: LOCAL (default), AUTO, ERRORED_ONLY
  --backend NAME        where trials run: local (default), slurm, or sim (the
                        simulator: the file gives tune.run a sim = {curve =
                        ...}); also TUNE_BACKEND
  --replay DIR          simulate, replaying the finished experiment DIR: a
                        trial whose config DIR recorded reports its results
                        again, on the virtual clock (implies --backend sim);
                        give the replay its own --name: DIR is never written
  -v, --verbose N       verbosity 0-3
  --events FILE|-       write the trial events as JSON lines to FILE (- = stdout)
  --dashboard[=PORT]    serve a live dashboard while the experiment runs
                        (default port 8265, 0: any free one; 127.0.0.1)
  --dashboard-host ADDR address to serve it on; other than 127.0.0.1, the
                        URL printed carries a token the server requires
  --version             print the version
  -h, --help            this text
  --                    the end of the options (a script whose name starts with -)
]]

M.USAGE = USAGE

--- The options given on the command line; tune.run reads them and they
--- win over the experiment file's own (docs/reference/cli.md).
M.options = {}

local function die(msg)
  io.stderr:write("tunelua: ", msg, "\n")
  return 2
end

local RESUME_MODES = {LOCAL = true, AUTO = true, ERRORED_ONLY = true}

-- Where the library's files are, as positions in messages name them
-- ("/…/lua/" in the build tree, "" installed: "tune/experiment/run.lua").
local LIB_ROOT = debug.getinfo(1, "S").source:match("^@(.-)tune/cli/init%.lua$") or ""
-- Whether a message's position is in the library; Lua shortens a long
-- chunk name to "..." and its tail ("...lua/tune/experiment/run.lua").
local function in_library(where)
  return where:sub(1, #LIB_ROOT + 5) == LIB_ROOT .. "tune/"
    or (where:sub(1, 3) == "..." and where:find("/tune/[%w_/]+%.lua$") ~= nil)
end

function M.main(argv)
  if argv[1] == "analyze" or argv[1] == "report" then
    local args = {}
    for i = 2, #argv do args[#args + 1] = argv[i] end
    return require("tune.cli." .. argv[1]).main(args)
  end
  local i = 1
  local opts = M.options
  while argv[i] do
    local a = argv[i]
    -- "--" ends the options: what follows is the script and its arguments.
    if a == "--" then
      i = i + 1
      break
    end
    local name, value = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local function take()
      if value ~= nil then return value end
      i = i + 1
      if argv[i] == nil then error({usage = "option " .. name .. " needs a value"}) end
      return argv[i]
    end
    local function number()
      local v = take()
      local n = tonumber(v)
      if not n then error({usage = name .. ": not a number: " .. v}) end
      return n
    end
    -- An amount of a resource: finite, not negative, at most 1e14 (the
    -- executor's limit); GPUs whole.
    local function amount(whole)
      local n = number()
      if n < 0 or n ~= n or n > 1e14 then
        error({usage = name .. ": expected a non-negative number up to 1e14, got " .. tostring(value or argv[i])})
      end
      if whole and n ~= math.floor(n) then
        error({usage = name .. ": expected a whole number of GPUs, got " .. tostring(value or argv[i])})
      end
      return n
    end
    local ok, err = pcall(function()
      if name == "--num-cpus" then opts.num_cpus = amount()
      elseif name == "--num-gpus" then opts.num_gpus = amount(true)
      elseif name == "--resources" then
        local r, jerr = core.json_decode(take())
        if type(r) ~= "table" or (next(r) ~= nil and r[1] ~= nil) or getmetatable(r) ~= nil then
          error({usage = "--resources: expected a JSON object of name: amount, e.g. '{\"custom\": 4}'"
            .. (jerr and (" (" .. tostring(jerr) .. ")") or "")})
        end
        local seen = {}
        for k, v in pairs(r) do
          if k == "" then error({usage = "--resources: a resource needs a name (got \"\")"}) end
          -- "GPU" in any case is the GPUs (tune.run's resources), each once (the file's line was blamed).
          local gpu, up = k:upper() == "GPU", k:upper()
          if (up == "CPU" or gpu) and seen[up] then
            error({usage = string.format("--resources: %s given twice (as %q and %q)", up, seen[up], k)})
          end
          seen[up] = k
          if type(v) ~= "number" or not (v >= 0 and v <= 1e14) or (gpu and v ~= math.floor(v)) then
            error({usage = "--resources: " .. tostring(k) .. " must be a non-negative number up to 1e14"
              .. (gpu and " (whole for GPU)" or "") .. ", got " .. require("tune.util").show_got(v)})
          end
        end
        opts.resources = r
      elseif name == "--local-dir" then
        opts.local_dir = take()
        if opts.local_dir == "" then error({usage = "--local-dir: expected a directory, got an empty name"}) end
      elseif name == "--name" then opts.name = take()
      elseif name == "--resume" then
        opts.resume = value and value:upper() or "LOCAL"
        if not RESUME_MODES[opts.resume] then error({usage = "--resume: unknown mode " .. value}) end
      elseif name == "--backend" then
        opts.backend = take()
        local known = false
        for b in core.backend_names():gmatch("[^, ]+") do known = known or b == opts.backend end
        if not known then
          error({usage = "--backend: unknown backend '" .. opts.backend .. "' (known: " .. core.backend_names() .. ")"})
        end
      elseif name == "--replay" then
        opts.replay = take()
        if opts.replay == "" then error({usage = "--replay: expected an experiment directory, got an empty name"}) end
      elseif name == "-v" or name == "--verbose" then
        opts.verbose = number()
        if not (opts.verbose == 0 or opts.verbose == 1 or opts.verbose == 2 or opts.verbose == 3) then
          error({usage = name .. ": verbosity must be 0, 1, 2 or 3, got " .. tostring(opts.verbose)})
        end
      elseif name == "--events" then
        opts.events = take()
        if opts.events == "" then error({usage = "--events: expected a file (or - for stdout), got an empty name"}) end
      elseif name == "--dashboard" then
        opts.dashboard = opts.dashboard or {}
        if value ~= nil then
          -- Digits only: tonumber also took 0x50, 8e3 and " 80".
          local port = value:match("^%d+$") and math.tointeger(tonumber(value))
          if not port or port > 65535 then
            error({usage = "--dashboard: expected a port 0-65535, got " .. value})
          end
          opts.dashboard.port = port
        end
      elseif name == "--dashboard-host" then
        opts.dashboard = opts.dashboard or {}
        opts.dashboard.host = take()
        if not require("tune.dashboard").is_ipv4(opts.dashboard.host) then
          error({usage = "--dashboard-host: expected an IPv4 address such as 0.0.0.0, got " .. opts.dashboard.host})
        end
      else error({unknown = true}) end
    end)
    if (name == "--help" or name == "--version") and value ~= nil then
      return die(name .. " takes no value, got " .. name .. "=" .. value)
    elseif name == "-h" or name == "--help" then
      io.stdout:write(USAGE)
      return 0
    elseif name == "--version" then
      io.stdout:write("tunelua ", core.version, "\n")
      return 0
    end
    if not ok then
      if type(err) == "table" and err.usage then return die(err.usage) end
      if type(err) == "table" and err.unknown then
        if a:sub(1, 1) == "-" and a ~= "-" then return die("unknown option " .. a .. "\n" .. USAGE) end
        break
      end
      error(err, 0)
    end
    i = i + 1
  end
  -- The CPUs (GPUs) once: which flag won was not said.
  for flag, name in pairs({["--num-cpus"] = "CPU", ["--num-gpus"] = "GPU"}) do
    local k = opts[flag:sub(3):gsub("%-", "_")] ~= nil and require("tune.executor.node").key(opts.resources, name)
    if k then return die(string.format("%s and --resources (%q) both give the %ss: give one", flag, k, name)) end
  end
  if opts.replay then
    -- Replaying is simulating: relative to where the command ran.
    if opts.backend and opts.backend ~= "sim" then
      return die("--replay simulates: it cannot run on the " .. opts.backend .. " backend")
    end
    opts.backend = "sim"
    local util = require("tune.util")
    opts.replay = util.abspath(util.expanduser(opts.replay))
  end
  local script = argv[i]
  if not script then
    io.stderr:write(USAGE)
    return 2
  end
  local args = {[0] = script}
  for k = i + 1, #argv do args[#args + 1] = argv[k] end
  -- Absolute now: the file may change directory before its tune.run.
  M.script, M.args = require("tune.util").abspath(script), args
  -- What lua.c gives a script; the one global set here. A copy: the file
  -- may take arguments out of it, and its workers get them all again.
  rawset(_G, "arg", table.move(args, 0, #args, 0, {}))
  local chunk, err = loadfile(script)
  if not chunk then
    -- "--resume AUTO exp.lua", "--dashboard 8080 exp.lua": the value was taken for the file.
    local prev = argv[i - 1]
    if (prev == "--resume" and RESUME_MODES[script:upper()]) or (prev == "--dashboard" and script:match("^%d+$")) then
      err = string.format("%s (%s takes its value as %s=%s)", err, prev, prev, script)
    end
    return die(err)
  end
  local ok, res = xpcall(chunk, function(e)
    if type(e) == "table" and e.tune_error then return e end
    -- tune.run's refusals (a wrong option, a state it will not resume
    -- from) name what was wrong at the user's line: no traceback.
    if type(e) == "string" and e:find("^[^\n]-:%d+: tune%.run: ") then return e end
    -- Raised by the library itself (level 3: the caller of error()): a
    -- refusal pointing at the user's line ("exp.lua:4: uniform: ...", in
    -- Ray's words) needs no traceback into the library, and a plug-in's
    -- failure carries the traceback of the plug-in's own error already.
    local raiser = debug.getinfo(3, "S")
    local where = type(e) == "string" and e:match("^([^\n]-):%d+: ")
    if type(e) == "string" and raiser and raiser.what == "Lua" and raiser.source:find("[/@]tune[/.]")
        and ((where and not in_library(where)) or e:find("\nstack traceback:\n", 1, true)) then
      return e
    end
    -- A table raised as the error: its contents, as the plug-ins show them.
    if type(e) == "table" and not (getmetatable(e) or {}).__tostring then
      local ok, text = pcall(core.json_encode, e)
      e = ok and text and string.format("(error object is a table: %s)", #text > 500 and text:sub(1, 500) .. "..." or text)
        or "(error object is a table value)"
    end
    -- The script's own frames: the traceback stops where this function ran it.
    local tb = debug.traceback(tostring(e), 2)
    local cut = tb:find("\n\t[C]: in function 'xpcall'\n\t" .. debug.getinfo(1, "S").short_src .. ":", 1, true)
    return cut and tb:sub(1, cut - 1) or tb
  end, table.unpack(args))
  if not ok then
    if type(res) == "table" and res.tune_error and res.fail_fast then
      -- The failure fail_fast = "raise" raised, uncaught: a script error
      -- (status 2), said in one line, without the tracebacks.
      io.stderr:write("tunelua: fail_fast = \"raise\": ", tostring(res.msg):match("^[^\n]*"), "\n")
      return 2
    end
    if type(res) == "table" and res.tune_error then
      io.stderr:write("tunelua: ", tostring(res.msg), "\n")
      return 1
    end
    io.stderr:write("tunelua: error in ", script, ":\n", tostring(res), "\n")
    return 2
  end
  return 0
end

return M
