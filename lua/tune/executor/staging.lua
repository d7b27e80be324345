--- TrialExecutor's placement groups (Ray's _stage_and_update_status,
--- reconcile_placement_groups, has_resources_for_trial and the
--- introspection Ray's tests get from private maps): thin calls into the
--- engine's placement-group manager. executor/init.lua installs them.
local Trial = require("tune.experiment.trial").Trial

local M = {}

--- Ray's _stage_and_update_status: stage groups for PENDING and PAUSED
--- trials up to TUNE_MAX_PENDING_TRIALS_PG, then reserve what fits.
function M:stage_and_update_status(trials)
  self._core:stage_trials(trials)
end

--- Ray's reconcile_placement_groups.
function M:reconcile_placement_groups(trials)
  local items = {}
  for i, t in ipairs(trials) do
    local s = t.status
    items[i] = {t.trial_id, t.placement_group_factory, s == Trial.PENDING or s == Trial.PAUSED or s == Trial.RUNNING}
  end
  self._core:reconcile(items)
end

--- Periodic work after each runner step (Ray's on_step_end).
function M:on_step_end(trials)
  local now = self._core:now()
  if now - self._last_recon >= self.options.placement_group_recon_interval then
    self:reconcile_placement_groups(trials)
    self._last_recon = now
  end
end

--- Cached workers that no pending or paused trial of `trials` will use
--- are stopped (their placement groups go back).
function M:trim_cache(trials)
  if trials ~= nil and type(trials) ~= "table" then
    error("trim_cache: expected a list of trials (or nothing), got " .. type(trials), 2)
  end
  local need = {}
  for i, t in ipairs(trials or {}) do
    if type(t) ~= "table" or t.placement_group_factory == nil then
      error(string.format("trim_cache: element %d of the list is not a trial (a %s)", i, type(t)), 2)
    end
    if t.status == Trial.PENDING or t.status == Trial.PAUSED then
      local key = t.placement_group_factory:key()
      need[key] = (need[key] or 0) + 1
    end
  end
  self._core:trim_cache(need)
end

function M:can_stage() return self._core:can_stage() end
function M:has_ready(trial) return self._core:has_ready(trial.placement_group_factory) end
function M:has_cached(trial) return self._core:has_cached(trial.placement_group_factory) end

--- The runner found that no waiting trial could start on the groups and
--- workers there: the next wait is for an event (or its timeout), not
--- answered at once with PG_READY (the driver spun at 100% CPU).
function M:stall() self._stalled = true end

--- Whether the runner asked for a stall since the last wait (once).
function M:_take_stall()
  local s = self._stalled
  self._stalled = nil
  return s == true
end

--- Counts of placement groups: staging, ready, in_use, cached, stopping,
--- plus workers, running, events, spawned.
function M:pg_counts() return self._core:counts() end

--- Ray's has_resources_for_trial: staged already, room to stage, or a
--- ready or cached group of its factory.
function M:has_resources_for_trial(trial)
  return self._core:has_resources(trial.trial_id, trial.placement_group_factory)
end

function M:set_max_pending_trials(n)
  self._core:set_max_pending(n)
end

return M
