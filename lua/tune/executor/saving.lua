--- TrialExecutor's saves and restores (save, restore, and the memory
--- checkpoints' directories it keeps per trial: claim_memory_checkpoint,
--- _drop_memory_checkpoints): thin calls into the engine, which sends the
--- requests and reports SAVING_RESULT / RESTORING_RESULT events.
--- executor/init.lua installs them.
local ckpt = require("tune.executor.checkpoint")
local core = require("tune.core")
local util = require("tune.util")
local check_trial = require("tune.experiment.trial").check

local M = {}

--- Memory checkpoints kept per trial (each save makes a new directory).
local KEEP = 4

--- Saves the trial. MEMORY: registered at once (Ray). PERSISTENT: becomes
--- trial.saving_to; a SAVING_RESULT event carries its directory.
function M:save(trial, storage, result)
  check_trial(trial, "save")
  if rawget(trial, "logdir") == nil then
    error(string.format("save: trial %s has no directory yet: it has not started", tostring(trial)), 2)
  end
  storage = storage or ckpt.CheckpointStorage.PERSISTENT
  result = result or trial.last_result
  local dir
  if storage == ckpt.CheckpointStorage.MEMORY then
    -- A directory of its own: another trial may be restoring from an older
    -- one (PBT clones them). The newest few of each trial are kept.
    local list = self._memory[trial.trial_id] or {}
    self._memory[trial.trial_id] = list
    list.n = (list.n or 0) + 1
    dir = util.join(trial.logdir, string.format(".memory_checkpoint_%06d", list.n))
    list[#list + 1] = dir
    self:_drop_memory_checkpoints(trial.trial_id, KEEP)
  else
    dir = util.join(trial.logdir, string.format("checkpoint_%06d", result.training_iteration or 0))
  end
  if not self._core:save(trial.trial_id, dir, storage == ckpt.CheckpointStorage.PERSISTENT) then
    return nil
  end
  local c = ckpt.Checkpoint{dir_or_data = dir, storage_mode = storage, metrics = util.deepcopy(result)}
  if storage == ckpt.CheckpointStorage.MEMORY then
    trial:on_checkpoint(c)
  else
    c.dir_or_data = nil   -- set when the save completes (SAVING_RESULT)
    c._dir = dir
    trial.saving_to = c
  end
  return c
end

--- Hands a memory checkpoint's directory over to the caller (PBT keeps
--- the ones it clones): the executor no longer deletes it. True when the
--- executor held it.
function M:claim_memory_checkpoint(dir)
  local found = false
  for _, list in pairs(self._memory) do
    for i = #list, 1, -1 do
      if list[i] == dir then
        table.remove(list, i)
        found = true
      end
    end
  end
  return found
end

--- Removes a trial's memory checkpoints beyond the newest `keep`.
function M:_drop_memory_checkpoints(trial_id, keep)
  local list = self._memory[trial_id]
  if not list then return end
  while #list > keep do core.remove_tree(table.remove(list, 1)) end
end

--- Restores a running trial from `checkpoint` (default: trial.checkpoint).
--- A persistent restore ends with RESTORING_RESULT; training resumes when
--- continue_training is called then.
function M:restore(trial, checkpoint)
  check_trial(trial, "restore")
  checkpoint = checkpoint or trial.checkpoint
  if checkpoint == nil or checkpoint.dir_or_data == nil then return false end
  local persistent = checkpoint.storage_mode ~= ckpt.CheckpointStorage.MEMORY
  if not self._core:restore(trial.trial_id, checkpoint.dir_or_data, persistent) then
    error("restore: trial " .. tostring(trial) .. " has no running worker", 2)
  end
  if persistent then trial.restoring_from = checkpoint end
  return true
end

return M
