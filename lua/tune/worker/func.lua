--- Running a function trainable: it runs in a coroutine that yields at
--- every report (tune.report, or a generator's coroutine.yield), so the
--- worker serves the driver's requests between two reports.
local errors = require("tune.worker.errors")
local session = require("tune.worker.session")

local M = {}

-- Ray's words for what a function trainable returned or yielded that is
-- neither a number nor a table (nil and false are ignored, as Python's
-- falsy values are).
local INVALID_OUTPUT = "Invalid return or yield value. Either return/yield a single number or a dictionary object "
  .. "in your trainable function."

--- A fresh run of function `fn` for the trial `info`, restored from
--- checkpoint table `checkpoint` (or nil).
function M.new_state(fn, info, checkpoint)
  local st = {
    trial_id = info.trial_id, name = info.name, logdir = info.logdir,
    experiment_tag = info.experiment_tag, restore_checkpoint = checkpoint,
    last_checkpoint = checkpoint, finished = false,
  }
  local config = info.config
  st.co = coroutine.create(function() return fn(config) end)
  return st
end

--- What a function trainable returned or yielded, as a result: a table,
--- a number ({_metric = n}), or nil for nil and false (ignored, as Ray
--- ignores falsy values); anything else fails the trial.
local function output_result(v)
  if type(v) == "table" then return v end
  if type(v) == "number" then return {_metric = v} end
  if not v then return nil end
  error(string.format("%s (got %s%s)", INVALID_OUTPUT, type(v),
    type(v) == "string" and string.format(" %q", v:sub(1, 80)) or ""), 0)
end

--- Runs `st` to its next report. Returns the metrics (nil when it ended
--- without a last result), whether it finished, whether the report carried
--- a checkpoint, and whether the metrics are the returned last result.
function M.resume(st)
  if st.finished then return nil, true end
  local res
  repeat
    session._set(st)
    res = table.pack(coroutine.resume(st.co))
    session._set(nil)
    if not res[1] then
      st.finished = true
      error(errors.of_coroutine(st.co, res[2]), 0)
    end
    -- A falsy yield is no report: resume at once.
  until res[2] or coroutine.status(st.co) == "dead"
  if coroutine.status(st.co) == "dead" then
    st.finished = true
    local m = output_result(res[2])
    if m then return m, true, nil, true end
    return nil, true
  end
  local a, metrics, opts = res[2], res[3], res[4]
  if a ~= session.REPORT then
    -- Generator style: coroutine.yield(value) is a report.
    return output_result(a)
  end
  if opts and opts.checkpoint ~= nil then
    st.last_checkpoint = opts.checkpoint
    return metrics, false, true
  end
  return metrics
end

return M
