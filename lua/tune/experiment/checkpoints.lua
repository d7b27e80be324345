--- A resumed trial's checkpoints: those the snapshot and the journal
--- registered, and those found on disk that the journal does not know.
--- The newest ones a trial that runs again would restore from are checked
--- first, cheaply (the directory is there, its metadata parses, and so do
--- the files a worker reads back: tune_checkpoint.json, .tune_worker.json);
--- one that is missing or unreadable (deleted by hand, a file cut short)
--- is set aside in memory, so that the trial restarts from its newest good
--- checkpoint, or from the start, and its logs are cut back to that one as
--- for any restore (docs/reliability.md). Nothing is written here: the
--- warnings wait until the resume is accepted (M.warn).
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local worker_ckpt = require("tune.worker.checkpoint")

local M = {}

M.METADATA = ".tune_metadata.json"

-- The files a restore reads, in that order; the first one must be there.
local FILES = {M.METADATA, worker_ckpt.TABLE_FILE, worker_ckpt.META_FILE}

-- The checkpoints set aside, by trial, until M.warn says so.
local set_aside = setmetatable({}, {__mode = "k"})

--- Why checkpoint directory `dir` cannot be restored from ("its directory
--- is missing", "<file>: <what is wrong>"), or nil.
function M.problem(dir)
  local kind = core.stat(dir)
  if kind == nil then return "its directory is missing" end
  if kind ~= "directory" then return "it is not a directory" end
  for i, name in ipairs(FILES) do
    local path = dir .. "/" .. name
    local text, err = core.read_file(path)
    if text then
      local v, why = core.json_decode(text)
      if v == nil then return name .. ": " .. tostring(why) end
      if i == 1 and type(v) ~= "table" then return name .. ": not a JSON object" end
    elseif i == 1 or core.stat(path) ~= nil then
      return name .. ": " .. worker_ckpt.why_not(err, path)
    end
  end
  return nil
end

--- Registers trial `t`'s checkpoints: `ckpts` (the journal's records),
--- then those on disk that nothing registered. A trial that runs again
--- (PENDING or PAUSED) loses its newest ones that cannot be restored from
--- (M.problem), down to a good one. Returns the found checkpoints to
--- journal (without those set aside).
function M.restore(t, ckpts, experiment_dir)
  for _, c in ipairs(ckpts or {}) do persistence.register_checkpoint(t, c, experiment_dir) end
  local found = persistence.unregistered_checkpoints(t)
  for _, c in ipairs(found) do persistence.register_checkpoint(t, c) end
  if t.status ~= "PENDING" and t.status ~= "PAUSED" then return found end
  local list, bad = t.checkpoint_manager.persistent, {}
  while #list > 0 do
    local c = list[#list]
    local why = type(c.dir_or_data) == "string" and M.problem(c.dir_or_data)
    if not why then break end
    list[#list] = nil
    bad[#bad + 1] = {dir = c.dir_or_data, why = why}
    for i = #found, 1, -1 do
      if found[i].dir == c.dir_or_data then table.remove(found, i) end
    end
  end
  if #bad > 0 then set_aside[t] = bad end
  return found
end

--- Warns, in one line, of the checkpoints M.restore set aside for trial
--- `t` (newest first), naming where it runs again from.
function M.warn(t)
  local bad = set_aside[t]
  if not bad then return end
  set_aside[t] = nil
  -- (The resume is accepted: a file where a checkpoint's directory goes
  -- would fail the trial's save of that iteration. Directories stay: the
  -- save replaces them.)
  for _, b in ipairs(bad) do
    if core.stat(b.dir) == "file" then core.remove_tree(b.dir) end
  end
  local c = t.checkpoint_manager:newest_persistent()
  local from
  if c then
    from = string.format("%s (iteration %s), its logs cut back to it",
      tostring(c.dir_or_data):match("[^/]*$"), tostring(c.metrics and c.metrics.training_iteration or "?"))
  elseif rawget(t, "restore_path") then
    from = "its restore path " .. rawget(t, "restore_path") .. ", its logs cut to nothing"
  else
    from = "the start, its logs cut to nothing"
  end
  local older = {}
  for i = 2, #bad do older[#older + 1] = string.format("%s (%s)", bad[i].dir:match("[^/]*$"), bad[i].why) end
  io.stderr:write(string.format("tunelua warning: trial %s: checkpoint %s cannot be restored (%s)%s: it runs "
    .. "again from %s\n", tostring(t.trial_id), bad[1].dir, bad[1].why,
    #older > 0 and ("; nor can " .. table.concat(older, ", ")) or "", from))
end

--- Every RUNNING trial of `runner` saves a persistent checkpoint, waited
--- for at most `timeout` seconds, so that --resume continues from there,
--- except a trial whose newest one is of its last result already: the save,
--- named after that result, would replace it, with the same state or, from
--- a trainable already in its next step, with that step's under the older
--- name (the checkpoint of that iteration lost, and keep_checkpoints_num
--- ranking the name by the newer result). Returns how many were registered.
function M.save_running(runner, timeout)
  local ex = runner.trial_executor
  local ckpt = require("tune.executor.checkpoint")
  local function count()
    local n = 0
    for _, t in ipairs(runner.trials) do n = n + #t.checkpoint_manager.persistent end
    return n
  end
  local function saved(t)
    local c, it = t.checkpoint_manager:newest_persistent(), t.last_result and t.last_result.training_iteration
    return c ~= nil and it ~= nil and type(c.metrics) == "table" and c.metrics.training_iteration == it
  end
  local saving = 0
  for _, t in ipairs(runner:get_live_trials()) do
    if t.status == "RUNNING" and not t:is_saving() and not saved(t) then
      if ex:save(t, ckpt.CheckpointStorage.PERSISTENT) then saving = saving + 1 end
    end
  end
  local before = count()
  local deadline = core.now() + timeout
  while saving > 0 and core.now() < deadline do
    local pending = 0
    for _, t in ipairs(runner:get_live_trials()) do
      if t.status == "RUNNING" and t:is_saving() then pending = pending + 1 end
    end
    if pending == 0 then break end
    runner:_wait_and_handle_event(nil)
    runner:_journal_changes()
  end
  return count() - before
end

return M
