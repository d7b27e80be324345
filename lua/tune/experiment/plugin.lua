--- The one adapter between the experiment loop and Lua plug-ins
--- (schedulers, search algorithms and searchers, stoppers, callbacks,
--- reporters). Every hook is called here: protected with a traceback, and
--- what it returns is judged. A valid value is returned; nil means the
--- hook's documented default; anything else, or an error, becomes one
--- message that names the plug-in and the hook (Knot Resolver's ffimodule
--- does the same). A missing hook is not an error: the default applies.
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local M = {}

local traceback = debug.traceback
local noop = require("tune.util").noop
local xpcall, type, tostring, format = xpcall, type, tostring, string.format

--- Base-class hooks whose value is known without calling them: the
--- default on_trial_result of a scheduler (FIFO's) means CONTINUE.
local KNOWN = {[TrialScheduler.on_trial_result] = TrialScheduler.CONTINUE}

local DECISIONS = {}
for _, d in ipairs({"CONTINUE", "PAUSE", "STOP", "NOOP"}) do DECISIONS[TrialScheduler[d]] = true end

--- judge name -> function(value) returning nil (valid) or what was expected.
local JUDGES = {
  decision = function(v)
    if DECISIONS[v] then return nil end
    return "a decision (CONTINUE, PAUSE, STOP or NOOP)"
  end,
  boolean = function(v) return type(v) ~= "boolean" and "a boolean" or nil end,
  string = function(v) return type(v) ~= "string" and "a string" or nil end,
  table = function(v) return type(v) ~= "table" and "a table" or nil end,
  suggestion = function(v)
    if type(v) == "table" or v == "FINISHED" then return nil end
    return "a config table, nil (not now) or \"FINISHED\""
  end,
}
M.JUDGES = JUDGES

--- The plug-in's class name (__name), else its type.
function M.name(p)
  if type(p) == "table" then
    local n = p.__name
    if type(n) == "string" then return n end
  end
  return type(p)
end

--- Labels for plug-ins without a class name, used in failure messages
--- only (a plain callback table is "callback #2", its place in the list).
local labels = setmetatable({}, {__mode = "k"})
function M.label(p, text) labels[p] = text end
local function display(p) return labels[p] or M.name(p) end
M.display = display

local refusal_message = require("tune.experiment.refusal").message

-- A plug-in's traceback ends where this adapter called it: the frames
-- below are the experiment loop's, the same for every failure.
local SELF = "\n\t" .. debug.getinfo(1, "S").short_src .. ":"
-- The library's files, as traceback lines name them (Lua may shorten a
-- long name to "..." and its tail).
local LIB = debug.getinfo(1, "S").short_src:match("^(.-)tune/experiment/plugin%.lua$") or ""
local function library_frame(line)
  return line:sub(1, #LIB + 5) == LIB .. "tune/" or line:sub(1, 3) == "[C]" or line == "(...tail calls...)"
    or (line:sub(1, 3) == "..." and line:find("/tune/[%w_/]+%.lua:") ~= nil)
end
local debugging = (os.getenv("TUNE_DEBUG") or "") ~= "" and os.getenv("TUNE_DEBUG") ~= "0"
local function plugin_traceback(msg)
  local tb = traceback(msg, 3)
  local cut = tb:find(SELF, 1, true)
  if not cut then return tb end
  tb = tb:sub(1, cut - 1)
  local xp = "\n\t[C]: in function 'xpcall'"
  if tb:sub(-#xp) == xp then tb = tb:sub(1, -#xp - 1) end
  -- A built-in plug-in's message names what was wrong (a sample_from's
  -- error, its place in the config): its frames, all the library's, say
  -- nothing more to the user (TUNE_DEBUG keeps them).
  if debugging or #tb == #msg then return tb end
  for line in tb:sub(#msg + 1):gmatch("\n\t([^\n]*)") do
    if not library_frame(line) then return tb end
  end
  return msg
end

local function handler(msg)
  -- A refusal (the user's input is wrong, found while a plug-in ran)
  -- goes through as it is: one message, no traceback.
  if refusal_message(msg) then return msg end
  if type(msg) ~= "string" then
    local mt = getmetatable(msg)
    if mt and mt.__tostring then
      msg = tostring(msg)
    else
      -- A table raised as the error: its contents say more than its type.
      local ok, text = false, nil
      if type(msg) == "table" then ok, text = pcall(require("tune.core").json_encode, msg) end
      msg = ok and format("(error object is a table: %s)", #text > 500 and text:sub(1, 500) .. "..." or text)
        or format("(error object is a %s value)", type(msg))
    end
  end
  local tb = plugin_traceback(msg) -- not a tail call: the level counts this frame
  return tb
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return mt ~= nil and mt.__call ~= nil
end

--- The last failure message call made (see below).
local last_failure

--- plugin.call(kind, plugin, hook, judge, ...) -> true, value | false, message
--- `plugin` is a table or userdata (its method `hook` is called with the
--- plug-in as self) or a function (called directly: function stoppers and
--- callbacks). `judge` names a check of the returned value (JUDGES), or nil.
local function call(kind, plugin, hook, judge, ...)
  local ok, v
  local tp = type(plugin)
  if tp == "function" then
    ok, v = xpcall(plugin, handler, ...)
  elseif tp == "table" or tp == "userdata" then
    local f = plugin[hook]
    -- A callable table (a stopper with stop_all and a metatable's __call): its
    -- call was never made, so nothing stopped its trials.
    if f == nil and hook == "__call" then f = (getmetatable(plugin) or {}).__call end
    if f == nil or f == noop then return true, nil end
    local known = KNOWN[f]
    if known ~= nil then return true, known end
    if type(f) ~= "function" and not callable(f) then
      return false, format("%s %s: %s is a %s, not a method", kind, display(plugin), hook, type(f))
    end
    ok, v = xpcall(f, handler, plugin, ...)
  else
    error(format("%s plug-in must be a table, got %s", kind, tp), 2)
  end
  if not ok then
    if refusal_message(v) then return false, v end
    -- A plug-in that wraps another (SearchGenerator, ConcurrencyLimiter,
    -- Repeater) re-raises the message made here for the inner one, which
    -- names that plug-in and its hook: it is not wrapped again.
    local msg, inner = tostring(v), last_failure
    if inner and msg:sub(1, #inner) == inner then return false, inner end
    last_failure = format("%s %s failed in %s: %s", kind, display(plugin), hook, msg)
    return false, last_failure
  end
  if judge ~= nil and v ~= nil then
    local bad = JUDGES[judge](v)
    if bad then
      last_failure = format("%s %s: %s returned %s where %s was expected", kind, display(plugin), hook,
        tostring(v), bad)
      return false, last_failure
    end
  end
  return true, v
end
M.call = call

--- The first of `hooks` that `plugin` has but cannot call, and its value
--- (nil when each is a function, a callable table, or absent).
function M.uncallable(plugin, hooks)
  for _, hook in ipairs(hooks) do
    local f = plugin[hook]
    if f ~= nil and type(f) ~= "function" and not callable(f) then return hook, f end
  end
end

--- Like call, but raises the message (level 0: it already names the
--- plug-in and the hook).
function M.must(kind, plugin, hook, judge, ...)
  local ok, v = call(kind, plugin, hook, judge, ...)
  if not ok then error(v, 0) end
  return v
end

return M
