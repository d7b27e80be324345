--- `tunelua [options] experiment.lua [args]`: runs an experiment file.
local core = require("tune.core")

local M = {}

local USAGE = [[
usage: tunelua [options] experiment.lua [script args...]
       tunelua --worker            (internal: a trial process)

options:
  --num-cpus N          CPUs this node offers to trials (default: detected)
  --num-gpus N          GPUs this node offers (default: detected)
  --resources JSON      custom resources, e.g. '{"custom": 4}'
  --local-dir DIR       where experiments are written (default ~/tune_results)
  --name NAME           experiment name
  --resume[=MODE]       resume the experiment (LOCAL, AUTO, ERRORED_ONLY)
  --backend local       process backend
  -v, --verbose N       verbosity 0-3
  --events FILE|-       write the JSON-lines event stream to FILE
  --version             print the version
  -h, --help            this text
]]

M.USAGE = USAGE

--- The options given on the command line, for tune.run to read.
M.options = {}

local function die(msg)
  io.stderr:write("tunelua: ", msg, "\n")
  return 2
end

function M.main(argv)
  local i = 1
  local opts = M.options
  while argv[i] do
    local a = argv[i]
    local name, value = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local function take()
      if value ~= nil then return value end
      i = i + 1
      if argv[i] == nil then error({usage = "option " .. name .. " needs a value"}) end
      return argv[i]
    end
    if name == "-h" or name == "--help" then
      io.stdout:write(USAGE)
      return 0
    elseif name == "--version" then
      io.stdout:write("tunelua ", core.version, "\n")
      return 0
    elseif name == "--num-cpus" then opts.num_cpus = tonumber(take())
    elseif name == "--num-gpus" then opts.num_gpus = tonumber(take())
    elseif name == "--resources" then
      local r, err = core.json_decode(take())
      if type(r) ~= "table" then return die("--resources: not a JSON object: " .. tostring(err)) end
      opts.resources = r
    elseif name == "--local-dir" then opts.local_dir = take()
    elseif name == "--name" then opts.name = take()
    elseif name == "--resume" then opts.resume = value or true
    elseif name == "--backend" then
      opts.backend = take()
      if opts.backend ~= "local" then return die("--backend: only 'local' is available in this build") end
    elseif name == "-v" or name == "--verbose" then opts.verbose = tonumber(take())
    elseif name == "--events" then opts.events = take()
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return die("unknown option " .. a .. "\n" .. USAGE)
    else
      break
    end
    i = i + 1
  end
  local script = argv[i]
  if not script then
    io.stderr:write(USAGE)
    return 2
  end
  local args = {[0] = script}
  for k = i + 1, #argv do args[#args + 1] = argv[k] end
  M.script, M.args = script, args
  rawset(_G, "arg", args) -- what lua.c gives a script; the one global set here
  local chunk, err = loadfile(script)
  if not chunk then return die(err) end
  local ok, res = xpcall(chunk, debug.traceback, table.unpack(args))
  if not ok then
    io.stderr:write("tunelua: error in ", script, ":\n", tostring(res), "\n")
    return 2
  end
  return 0
end

return M
