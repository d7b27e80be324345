--- The trainable's side of reporting: tune.report, tune.get_checkpoint and
--- friends, live only inside a worker (docs/guide/trainables.md).
local proc = require("tune.process")
local util = require("tune.util")

local M = {}

-- The options of tune.report's second argument.
local REPORT_OPTIONS = {checkpoint = true}

--- Marker yielded by tune.report so the worker tells it from a plain
--- coroutine.yield (a generator-style report).
--- One per process, as the trial below: a reloaded module's report is one.
proc.report_marker = proc.report_marker or setmetatable({}, {__tostring = function() return "tune.report" end})
M.REPORT = proc.report_marker

-- proc.session: set by the worker around a function trainable;
-- proc.worker_info: the trial the worker serves (any trainable kind).
function M._set(state) proc.session = state end
function M._get() return proc.session end
function M._set_worker_info(info) proc.worker_info = info end

--- The trial this worker serves: {trial_id, name, logdir, config, bundles}.
function M.get_worker_info() return proc.worker_info end

--- tune.report(metrics [, {checkpoint = table}]); metrics may be a number, {_metric = n}
function M.report(metrics, opts)
  if proc.session == nil then
    error("tune.report() can only be called inside a function trainable run by tune", 2)
  end
  -- Ray's tune.report(value): the anonymous metric, as a returned number.
  if type(metrics) == "number" then metrics = {_metric = metrics} end
  if type(metrics) ~= "table" then
    error("tune.report() expects a table of metrics (or a number: the anonymous metric _metric), got "
      .. type(metrics), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("tune.report(): the second argument must be a table like {checkpoint = ...}", 2)
  end
  if opts ~= nil then
    util.check_options("tune.report()", opts, REPORT_OPTIONS, 2)
    local c = opts.checkpoint
    if c ~= nil and type(c) ~= "table" then
      error("tune.report(): checkpoint must be a table of plain data, got " .. type(c), 2)
    end
    -- JSON gives back string keys for integer ones: refused now, at the
    -- call, rather than changed in the restored checkpoint.
    local why = c ~= nil and require("tune.worker.checkpoint").problem(c)
    if why then error("tune.report(): " .. why, 2) end
  end
  local co, main = coroutine.running()
  if main or co ~= proc.session.co then
    error("tune.report() was called from a coroutine other than the trainable's", 2)
  end
  return coroutine.yield(M.REPORT, metrics, opts)
end

--- The checkpoint this trial was restored from (the table passed to
--- tune.report), or nil.
function M.get_checkpoint()
  if proc.session == nil then return nil end
  return proc.session.restore_checkpoint
end

--- Information about the running trial: {trial_id, name, logdir, iteration}.
function M.get_trial_info()
  if proc.session == nil then return nil end
  return {trial_id = proc.session.trial_id, name = proc.session.name, logdir = proc.session.logdir,
    experiment_tag = proc.session.experiment_tag}
end

function M.get_trial_id() return proc.worker_info and proc.worker_info.trial_id end
function M.get_trial_dir() return proc.worker_info and proc.worker_info.logdir end
--- The trial's name, as tostring(trial) in the driver (Ray's get_trial_name).
function M.get_trial_name() return proc.worker_info and proc.worker_info.name end

return M
