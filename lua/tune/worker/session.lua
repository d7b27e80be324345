--- The trainable's side of reporting: tune.report, tune.get_checkpoint and
--- friends, live only inside a worker (docs/guide/trainables.md).
local util = require("tune.util")

local M = {}

-- The options of tune.report's second argument.
local REPORT_OPTIONS = {checkpoint = true}

--- Marker yielded by tune.report so the worker tells it from a plain
--- coroutine.yield (a generator-style report).
M.REPORT = setmetatable({}, {__tostring = function() return "tune.report" end})

local current = nil   -- set by the worker around a function trainable
local worker_info = nil -- the trial the worker serves (any trainable kind)

function M._set(state) current = state end
function M._get() return current end
function M._set_worker_info(info) worker_info = info end

--- The trial this worker serves: {trial_id, name, logdir, config, bundles}.
function M.get_worker_info() return worker_info end

--- tune.report(metrics [, {checkpoint = table}])
function M.report(metrics, opts)
  if current == nil then
    error("tune.report() can only be called inside a function trainable run by tune", 2)
  end
  if type(metrics) ~= "table" then
    error("tune.report() expects a table of metrics, got " .. type(metrics), 2)
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
  if main or co ~= current.co then
    error("tune.report() was called from a coroutine other than the trainable's", 2)
  end
  return coroutine.yield(M.REPORT, metrics, opts)
end

--- The checkpoint this trial was restored from (the table passed to
--- tune.report), or nil.
function M.get_checkpoint()
  if current == nil then return nil end
  return current.restore_checkpoint
end

--- Information about the running trial: {trial_id, name, logdir, iteration}.
function M.get_trial_info()
  if current == nil then return nil end
  return {trial_id = current.trial_id, name = current.name, logdir = current.logdir,
    experiment_tag = current.experiment_tag}
end

function M.get_trial_id() return worker_info and worker_info.trial_id end
function M.get_trial_dir() return worker_info and worker_info.logdir end

return M
