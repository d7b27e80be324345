--- tune.Callback: hooks the runner calls during an experiment (Ray's
--- Callback). A callback is any table with some of these methods; the base
--- only adds no-op defaults. Arguments follow Ray's order, keyword
--- arguments gathered in a final `info` table:
---   setup(info)                         info: stop, num_samples, time_budget_s, total_num_samples
---   on_step_begin(iteration, trials, info)
---   on_step_end(iteration, trials, info)
---   on_trial_start(iteration, trials, trial, info)
---   on_trial_restore(iteration, trials, trial, info)
---   on_trial_save(iteration, trials, trial, info)
---   on_trial_result(iteration, trials, trial, result, info)
---   on_trial_complete(iteration, trials, trial, info)
---   on_trial_error(iteration, trials, trial, info)
---   on_trial_recover(iteration, trials, trial, info)  a failed trial will be retried
---   on_checkpoint(iteration, trials, trial, checkpoint, info)
---   on_experiment_end(trials, info)
--- and, for a stateful callback, get_state() -> a table (or nil) that the
--- experiment's snapshot keeps, and set_state(state), called with it on
--- resume before setup (CallbackList:get_state, set_state).
local class = require("tune.class")
local core = require("tune.core")
local plugin = require("tune.experiment.plugin")
local util = require("tune.util")

local M = {}

local Callback = class.class("Callback")
M.HOOKS = {"setup", "on_step_begin", "on_step_end", "on_trial_start", "on_trial_restore",
  "on_trial_save", "on_trial_result", "on_trial_complete", "on_trial_error", "on_trial_recover", "on_checkpoint",
  "on_experiment_end"}
M.Callback = Callback

--- Loggers write each trial's results; JSON and CSV are on by default and
--- do their work in C, on the result hot path (engine/loggers.c): these
--- objects only say which ones run.
local LoggerCallback = Callback:extend(nil, "LoggerCallback")
M.LoggerCallback = LoggerCallback

--- A subclass's log_trial_* methods, called from the hooks as Ray's
--- LoggerCallback does. A hook whose log_trial_* method is still the base's
--- no-op is not called at all (CallbackList), so the built-in loggers add
--- no Lua call per result.
local LOGS = {}   -- the hook's function -> the log_trial_* method it calls
for _, m in ipairs({"log_trial_start", "log_trial_restore", "log_trial_save", "log_trial_result", "log_trial_end"}) do
  LoggerCallback[m] = util.noop
end
local function logs(hook, method, fn)
  LoggerCallback[hook] = fn
  LOGS[fn] = method
end
logs("on_trial_start", "log_trial_start", function(self, _, _, trial) return self:log_trial_start(trial) end)
logs("on_trial_restore", "log_trial_restore", function(self, _, _, trial) return self:log_trial_restore(trial) end)
logs("on_trial_save", "log_trial_save", function(self, _, _, trial) return self:log_trial_save(trial) end)
logs("on_trial_result", "log_trial_result", function(self, iteration, _, trial, result)
  return self:log_trial_result(iteration, trial, result)
end)
logs("on_trial_complete", "log_trial_end", function(self, _, _, trial) return self:log_trial_end(trial, false) end)
logs("on_trial_error", "log_trial_end", function(self, _, _, trial) return self:log_trial_end(trial, true) end)

--- Raises, at the line that constructs the logger `name`, for arguments
--- given to it: Ray's loggers take none (an option given was ignored).
function M.no_arguments(name, ...)
  if select("#", ...) > 0 then
    error(string.format("%s takes no arguments, as Ray's, got %s", name, util.show_got((...))), 4)
  end
end

M.JsonLoggerCallback = LoggerCallback:extend({_c_logger = "json"}, "JsonLoggerCallback")
M.CSVLoggerCallback = LoggerCallback:extend({_c_logger = "csv"}, "CSVLoggerCallback")
for _, name in ipairs({"JsonLoggerCallback", "CSVLoggerCallback"}) do
  M[name].__init = function(_, ...) M.no_arguments(name, ...) end
end

--- The callbacks of a run, called through the plug-in bridge.
local CallbackList = class.class("CallbackList")
M.CallbackList = CallbackList

function CallbackList:__init(callbacks, trials)
  self.callbacks = callbacks or {}
  if trials then self:share_trials(trials) end
  for i, cb in ipairs(self.callbacks) do
    if plugin.name(cb) == type(cb) then plugin.label(cb, "#" .. i) end
  end
  self._with = {}    -- hook -> the callbacks that have it (looked up once)
  self.hooked = {}   -- hook -> has(hook), once asked: the runner skips the call where false
  self._copy = {}    -- hook -> whether its result is copied (copies_result)
  self._bad_state = {}   -- callbacks whose get_state was warned about
end

--- The callbacks that have `hook`.
local function with_hook(self, hook)
  local with = self._with[hook]
  if with == nil then
    with = {}
    -- A hook left to the base's no-op is not called at all, nor a
    -- LoggerCallback's hook whose log_trial_* method is.
    for _, cb in ipairs(self.callbacks) do
      local f = type(cb) == "table" and cb[hook]
      if type(cb) ~= "table" or (f ~= nil and f ~= util.noop and (LOGS[f] == nil or cb[LOGS[f]] ~= util.noop)) then
        with[#with + 1] = cb
      end
    end
    self._with[hook] = with
  end
  return with
end

--- Whether any callback has `hook` (a caller skips building its arguments).
function CallbackList:has(hook)
  local h = self.hooked[hook]
  if h == nil then
    h = #with_hook(self, hook) > 0
    self.hooked[hook] = h
  end
  return h
end

--- The runner's trial list, which the hooks are given as a read-only view
--- (a callback that removed the finished trials from it emptied the
--- experiment's state): read by index, `#`, ipairs and pairs; a change
--- raises, naming what to do instead.
function CallbackList:share_trials(list)
  local function refuse()
    -- At the callback's line: through table.remove or table.sort, one further.
    error("the trials a callback is given are the runner's list, which it cannot change: copy it "
      .. "(table.move(trials, 1, #trials, 1, {})) to sort or filter it", debug.getinfo(2, "S").what == "C" and 3 or 2)
  end
  self._list = list
  self._view = setmetatable({}, {__index = list, __newindex = refuse, __len = function() return #list end,
    __pairs = function() return next, list, nil end, __name = "trials"})
end

--- Whether the result `hook` gives must be a copy for some callback that
--- has it (Ray's result.copy()): one not marked as only reading it.
local function copies_result(self, hook)
  local copy = self._copy[hook]
  if copy == nil then
    copy = false
    for _, cb in ipairs(with_hook(self, hook)) do
      if type(cb) ~= "table" or not cb._reads_result then copy = true end
    end
    self._copy[hook] = copy
  end
  return copy
end

--- The first n of the (at most five) arguments of a hook.
local function first(n, a, b, c, d, e)
  if n >= 5 then return a, b, c, d, e elseif n == 4 then return a, b, c, d elseif n == 3 then return a, b, c end
  if n == 2 then return a, b elseif n == 1 then return a end
end

--- Calls `hook` on every callback that has it; a failing callback ends the
--- experiment with a message that names it and the hook. The runner's
--- trial list is given as its read-only view, and on_trial_result's result
--- as a copy (a callback that changed it changed what the searcher and the
--- analysis saw).
function CallbackList:call(hook, ...)
  local with = with_hook(self, hook)
  if #with == 0 then return end
  local n, a, b, c, d, e = select("#", ...), ...
  local list = self._list
  if list ~= nil then
    if b == list then b = self._view elseif a == list then a = self._view end
  end
  if hook == "on_trial_result" and type(d) == "table" and copies_result(self, hook) then d = util.merge(d) end
  for i = 1, #with do
    local ok, err = plugin.call("callback", with[i], hook, nil, first(n, a, b, c, d, e))
    if not ok then error(err, 0) end
  end
end

--- Calls setup on every callback that has it; from then on get_state
--- asks the callbacks for their state.
function CallbackList:setup(info)
  self:call("setup", info)
  self._set_up = true
end

--- The callbacks' states for the experiment's snapshot (Ray's
--- CallbackList.get_state, by position in the list): a list of {index,
--- class, state} for each callback whose get_state returns a table, or nil.
--- Before setup, the states a resume gave (set_state). A get_state that
--- fails or returns what JSON cannot hold is warned about once; that
--- callback's state is left out.
function CallbackList:get_state()
  if not self._set_up then return self._restored end
  local out
  for i, cb in ipairs(self.callbacks) do
    if type(cb) == "table" and cb.get_state ~= nil and not self._bad_state[cb] then
      local ok, state = plugin.call("callback", cb, "get_state", nil)
      local bad = not ok and tostring(state):match("^[^\n]*") or nil
      if ok and state ~= nil then
        local encoded, err = nil, "a " .. type(state) .. ", not a table"
        if type(state) == "table" then
          -- What JSON would give back otherwise (integer keys as strings) is not kept either.
          err = require("tune.worker.checkpoint").problem(state)
          if err then err = err:gsub("^checkpoint: ", "") else encoded, err = core.json_encode(state) end
        end
        if not encoded then
          bad = string.format("callback %s: get_state returned %s, which the experiment's snapshot cannot hold",
            plugin.display(cb), tostring(err))
        else
          out = out or {}
          out[#out + 1] = {index = i, class = plugin.name(cb), state = state}
        end
      end
      if bad then
        self._bad_state[cb] = true
        io.stderr:write("tunelua warning: ", bad, " (its state is not saved with the experiment)\n")
      end
    end
  end
  return out
end

--- Gives each callback the state a snapshot saved for it (get_state), by
--- position, when the callback there is of the same class and has
--- set_state. `where` names the snapshot in messages. A state for a
--- callback that is not there, or a set_state that fails, is a warning.
function CallbackList:set_state(states, where)
  if type(states) ~= "table" then return end
  self._restored = states
  for _, s in ipairs(states) do
    local cb = type(s) == "table" and self.callbacks[s.index]
    local name = type(s) == "table" and tostring(s.class) or "?"
    local bad
    if type(cb) ~= "table" or plugin.name(cb) ~= name then
      bad = string.format("%s holds the state of callback %s (callbacks[%s]), which this run does not have there",
        where, name, type(s) == "table" and tostring(s.index) or "?")
    elseif cb.set_state == nil then
      bad = string.format("%s holds a state for callback %s, which has no set_state", where, name)
    else
      local ok, err = plugin.call("callback", cb, "set_state", nil, s.state)
      if not ok then bad = tostring(err):match("^[^\n]*") end
    end
    if bad then io.stderr:write("tunelua warning: ", bad, " (it starts without its saved state)\n") end
  end
end

--- The `--events` target of an EventStreamCallback among them, or nil.
function CallbackList:event_stream(ex)
  for _, cb in ipairs(self.callbacks) do
    if cb._event_stream then
      -- Its lines through the engine's stream, beside the results' (one
      -- warning, naming it, when it cannot be written).
      if ex and ex.write_event then
        cb.write = function(line)
          if cb.target == "-" then io.stdout:flush() end -- after what the reporter printed
          ex:write_event(line)
        end
      end
      return cb.target
    end
  end
  return nil
end

--- The C loggers the callbacks ask for.
function CallbackList:c_loggers()
  local want = {json = false, csv = false}
  for _, cb in ipairs(self.callbacks) do
    if cb._c_logger then want[cb._c_logger] = true end
  end
  return want
end

--- --events FILE|-: every trial event as one JSON line, for hosts that do
--- not embed Lua 5.4 (docs/reference/cli.md, "Event stream").
local EventStream = Callback:extend({_event_stream = true}, "EventStreamCallback")
M.EventStreamCallback = EventStream

function EventStream:__init(target)
  -- "~/..." expanded (--events=~/e.jsonl: no shell expands it).
  if target ~= "-" then target = util.expanduser(target) end
  self.target = target
  local out = io.stdout
  if target ~= "-" then
    local f, err = io.open(target, "a")
    if not f then error("the event stream cannot be written: " .. tostring(err), 3) end
    f:setvbuf("line")
    self.file, out = f, f
  end
  -- (Without an executor that writes events: here.) A write that fails (a
  -- reader gone, a full disk) is said once; the run goes on without it.
  self.write = function(line)
    local ok, err = out:write(line)
    if ok and target == "-" then ok, err = out:flush() end
    if not ok then
      io.stderr:write("tunelua warning: cannot write the event stream to ", target, ": ", tostring(err),
        "; no more events are written to it\n")
      self.write = util.noop
    end
  end
end

local function trial_fields(trial)
  return {trial_id = trial.trial_id, name = tostring(trial), status = trial.status,
    experiment_tag = trial.experiment_tag, logdir = trial.logdir}
end

function EventStream:emit(event, fields)
  fields.event = event
  fields.time = core.time()
  local line, err = core.json_encode(fields)
  if not line then
    line = core.json_encode{event = event, time = fields.time, error = "cannot encode event: " .. tostring(err)}
  end
  self.write(line .. "\n")
end

function EventStream:setup(info)
  self:emit("experiment_start", {total_num_samples = info.total_num_samples ~= math.huge
    and info.total_num_samples or -1, experiment_dir = info.experiment_dir})
end
function EventStream:on_trial_start(_, _, trial)
  local f = trial_fields(trial)
  f.config = trial.config
  self:emit("trial_start", f)
end
-- trial_result lines are written by the executor as results are
-- committed (TrialExecutor:set_event_stream), from the decoded result:
-- see CallbackList:event_stream().
function EventStream:on_trial_complete(_, _, trial)
  -- Called just before the trial is stopped: it is terminating.
  local f = trial_fields(trial)
  f.status = "TERMINATED"
  self:emit("trial_complete", f)
end
function EventStream:on_trial_error(_, _, trial)
  local f = trial_fields(trial)
  f.error = trial.error_msg
  self:emit("trial_error", f)
end
function EventStream:on_checkpoint(_, _, trial, checkpoint)
  local f = trial_fields(trial)
  f.checkpoint = checkpoint.dir_or_data
  self:emit("trial_checkpoint", f)
end
function EventStream:on_experiment_end(trials, info)
  local counts = {}
  for _, t in ipairs(trials) do counts[t.status] = (counts[t.status] or 0) + 1 end
  self:emit("experiment_end", {trials = #trials, statuses = counts, interrupted = info and info.interrupted or false})
  if self.file then self.file:close() self.file = nil end
end

return M
