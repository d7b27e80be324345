--- What this process keeps across tune.run calls: the count of the
--- driver's calls with their experiment directories and errors, and, in a
--- worker, the worker and the trial its trainable runs. It lives in the Lua
--- registry, not in a module's upvalues, so a host that clears
--- package.loaded and requires "tune" again (a reload) still counts its
--- calls as the workers that re-run the file do, and a re-run file's
--- tune.run still finds the worker it runs in.
local KEY = "tune.process"

local registry = debug.getregistry()
local state = registry[KEY]
if state == nil then
  local arg0 = rawget(_G, "arg")
  state = {
    runs = 0,    -- tune.run calls made by this driver
    dirs = {},   -- experiment directory of each, in order
    errors = {}, -- how each that raised ended ({m = message, t = TuneError})
    -- The working directory when tune was first required: where the
    -- experiment file started, which a worker re-running it starts in too
    -- (the file may change directory before its tune.run).
    start_cwd = require("tune.core").getcwd(),
    -- And its arguments then (`arg`, and a copy of what it held): the
    -- file may take some out before its tune.run (table.remove(arg, 1)).
    start_arg_table = arg0,
    start_args = type(arg0) == "table" and table.move(arg0, 1, #arg0, 1, {}) or nil,
    -- The calls whose experiments run now ({index =, co = its coroutine}):
    -- a later call from one's callback is inside it.
    running = {},
    -- In a worker (tune.worker, tune.worker.session): `worker`, the
    -- `tunelua --worker` of this process; `session`, the function
    -- trainable's trial around its run; `worker_info`, the trial served;
    -- `report_marker`, what tune.report yields.
  }
  registry[KEY] = state
end

return state
