--- tune.reporter.trial_progress: the lines about trials as they report,
--- by verbosity (Ray's TrialProgressCallback, a callback tune.run adds).
local Callback = require("tune.experiment.callback").Callback
local core = require("tune.core")
local util = require("tune.util")
local AUTO_RESULT_KEYS = require("tune.reporter.columns").AUTO_RESULT_KEYS

local M = {}

--- Lines about trials as they report, by verbosity (Ray's
--- TrialProgressCallback): 3 prints a trial's whole result at most every
--- 5 s and when it completes; 2 a one-line summary.
local Progress = Callback:extend({_reads_result = true}, "TrialProgressCallback")
M.TrialProgressCallback = Progress
local PRINT_INTERVAL = 5

function Progress:__init(opts)
  self.verbose = opts.verbose
  self.metric = opts.metric
  self.out = opts.out or function(s) io.stdout:write(s) end
  self.last_print = {}
  self.completed = {} -- trial_id -> true once a line said it completed
  self.last_str = {}  -- trial_id -> the reported fields its last verbose-2 line showed
  self.clock = opts.clock or core.now
end

-- A value as the progress lines show it: a string as it is, a float with
-- "%.4g", a table as JSON, anything else as tostring shows it.
local short = core.short_text

-- The keys of a "Result for" block, sorted (at verbose 3, every trial's
-- first result). Results of one experiment mostly share their keys: the
-- callback's last sorted key list is used again when the result has
-- exactly those keys (as many, each among them: one pass).
function Progress:_sorted_keys(result)
  local last = self._last_keys
  if last then
    local set, count = self._last_set, 0
    for k in pairs(result) do
      if not set[k] then
        count = -1
        break
      end
      count = count + 1
    end
    if count == #last then return last end
  end
  last = util.sorted_keys(result)
  local set = {}
  for i = 1, #last do set[last[i]] = true end
  self._last_keys, self._last_set, self._last_shown = last, set, nil
  return last
end

-- Fields Ray's _print_result also leaves out.
local SKIP = {trial_id = true, experiment_tag = true, done = true, hist_stats = true, experiment_id = true}

-- Ray's _print_result: what the trainable reported, without the automatic
-- fields (those two when it reported nothing else). `keys`: the result's
-- sorted keys, when the caller has them. Which of the last sorted keys
-- are shown is kept with them.
function Progress:_result_str(result, keys)
  keys = keys or self:_sorted_keys(result)
  local shown = self._last_shown
  if not shown or keys ~= self._last_keys then
    local auto = AUTO_RESULT_KEYS
    shown = {}
    for _, k in ipairs(keys) do
      if not auto[k] and not SKIP[k] then shown[#shown + 1] = k end
    end
    if keys == self._last_keys then self._last_shown = shown end
  end
  local parts = {}
  for i, k in ipairs(shown) do parts[i] = k .. "=" .. short(result[k]) end
  if #parts == 0 then
    for _, k in ipairs({"training_iteration", "time_total_s"}) do
      if result[k] ~= nil then parts[#parts + 1] = k .. "=" .. short(result[k]) end
    end
  end
  return table.concat(parts, ", ")
end

--- Prints a trial's result: at 3 the whole of it, at 2 one line; `done`:
--- the line says the trial completed.
function Progress:_print(trial, result, done)
  local id = trial.trial_id
  self.last_print[id] = self.clock()
  -- The keys sorted once for both (the result is not changed between).
  local keys = self:_sorted_keys(result)
  local str = self:_result_str(result, keys)
  self.last_str[id] = str
  if self.verbose >= 3 then
    -- "  key: value" lines in one call, config left out, values as short
    -- shows them.
    self.out(string.format("Result for %s:\n%s\n", tostring(trial), core.result_lines(keys, result, "config")))
  elseif self.verbose >= 2 then
    local what = self.metric and string.format("%s=%s", self.metric, short(util.get_path(result, self.metric))) or str
    self.out(string.format("Trial %s reported %s with parameters=%s.%s\n", tostring(trial), what,
      short(trial.config), done and " This trial completed." or ""))
  end
end

function Progress:on_trial_result(_, _, trial, result)
  local id = trial.trial_id
  local done = result.done == true
  if done then self.completed[id] = true end
  if not done and self.clock() - (self.last_print[id] or -math.huge) < PRINT_INTERVAL then return end
  self:_print(trial, result, done)
end

--- Ray's on_trial_complete: a trial that completed without a line saying
--- so (a function that returned without `done`, a trial a scheduler
--- stopped) gets one, however soon after its last: its last result, said
--- completed, or, when the last line showed that result already,
--- "completed" with it.
function Progress:on_trial_complete(_, _, trial)
  local id = trial.trial_id
  if self.completed[id] or self.verbose < 2 then return end
  self.completed[id] = true
  local result = type(trial.last_result) == "table" and trial.last_result or {}
  local str = self:_result_str(result)
  if str ~= self.last_str[id] then
    self:_print(trial, result, true)
  else
    self.out(string.format("Trial %s completed. Last result: %s\n", tostring(trial), str))
  end
end

function Progress:on_trial_error(_, _, trial)
  if self.verbose >= 2 then
    self.out(string.format("The trial %s errored with parameters=%s. Error file: %s\n", tostring(trial),
      short(trial.config), tostring(trial.error_file or (trial.logdir and (trial.logdir .. "/error.txt")))))
  end
end

return M
