--- PopulationBasedTraining after a resume (tune.schedulers.pbt's
--- on_trial_restored and the synch barrier it sets up again).
---
--- The scheduler's saved state is the snapshot's, which may be older than
--- the journal (trials went on past it) or newer than a trial's last
--- checkpoint (an exploit whose donor checkpoint lived in the dead
--- driver's memory is undone: the trial restarts from its own checkpoint).
--- Each trial restarts from its checkpoint's time; in synch mode the sync
--- point and every trial's last perturbation time follow from those times
--- alone, never from the snapshot's:
---
--- A synch run keeps its live trials within one interval: before the
--- perturbation at sync point S they are between S - interval and S, after
--- it between S and S + interval (none passes S before every trial reached
--- it). So with m the earliest restart time and S the first sync point at
--- or after m: a trial past S means the perturbation at S happened; the
--- next sync point is S + interval and no trial pauses before it (one
--- restarting at or before S had lost its checkpoint at S; its exploit, if
--- any, is undone). Otherwise S is next: trials at S wait there, with the
--- score they logged at S, the others run up to it, and PBT perturbs at S
--- (again, if it had before the driver died: the exploits it made then
--- were undone with the clones). Either way every trial pauses at the same
--- sync point and a donor's checkpoint is of that sync point.
local ckpt = require("tune.executor.checkpoint")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

local MEMORY = ckpt.CheckpointStorage.MEMORY

local function is_finished(trial)
  return trial.status == "TERMINATED" or trial.status == "ERROR"
end

--- on_trial_restored: the trial restarts from its checkpoint (of
--- `iteration`). Its time becomes the checkpoint's; in synch mode the sync
--- point is set again (M.reconcile) before PBT next decides. Only for
--- time_attr training_iteration (the time a checkpoint is known by).
function M.on_trial_restored(pbt, trial, iteration)
  local st = pbt._trial_state[trial.trial_id]
  if not st or pbt._time_attr ~= "training_iteration" then return end
  st.last_train_time = iteration
  st.restored_at = iteration
  local interval = pbt._perturbation_interval
  if st.last_perturbation_time > iteration then
    st.last_perturbation_time = iteration - iteration % interval
  end
  if pbt._synch then pbt._reconcile, pbt._resumed = true, true end
end

--- Synch mode, once every resumed trial's restart time is known: the next
--- sync point and each live trial's last perturbation time (see above).
function M.reconcile(pbt, runner)
  pbt._reconcile = nil
  local k = pbt._perturbation_interval
  local first = math.max(k, pbt._burn_in_period)
  local live, m = {}, nil
  for _, id in ipairs(pbt._order) do
    local st, t = pbt._trial_state[id], pbt:_trial(runner, id)
    if st and t and not is_finished(t) then
      local c = st.restored_at or st.last_train_time or 0
      live[#live + 1] = {t = t, st = st, c = c}
      if m == nil or c < m then m = c end
    end
    if st then st.restored_at = nil end
  end
  if m == nil then return end
  local s = first
  if m > first then s = first + math.ceil((m - first) / k) * k end
  local ahead = false
  for _, x in ipairs(live) do
    if x.c > s then ahead = true end
  end
  local lpt
  if ahead then
    pbt._next_perturbation_sync, lpt = s + k, s
  else
    pbt._next_perturbation_sync, lpt = s, (s == first) and 0 or s - k
  end
  for _, x in ipairs(live) do
    x.st.last_perturbation_time = lpt
    x.st.last_train_time = x.c
    local r = x.t.last_result
    if not ahead and x.c == s and type(r) == "table" and util.get_path(r, pbt._time_attr) == s then
      -- It waits at the sync point: ranked by what it logged there.
      local v = util.get_path(r, pbt.metric)
      if type(v) == "number" then
        x.st.last_score = pbt._metric_op * v
        x.st.last_result = r
      end
    end
  end
end

--- Synch mode, time_attr training_iteration: whether a donor's time is of
--- another sync point than the exploiting trial's (an interval or more
--- away) at the first perturbation after a resume: PBT then does not clone
--- it (later ones, and a run not resumed, clone as Ray does).
function M.other_sync_point(pbt, state, clone_state)
  -- Only after a resume: trials that report several iterations at a time
  -- (Ray's synch tests) may be further apart, and Ray clones them.
  return pbt._resumed and pbt._synch and pbt._time_attr == "training_iteration"
    and math.abs(clone_state.last_train_time - state.last_train_time) >= pbt._perturbation_interval
end

--- Copies a directory tree (a checkpoint's).
local function copy_tree(src, dst)
  assert(core.mkdir_p(dst))
  for _, name in ipairs(core.listdir(src) or {}) do
    local from, to = util.join(src, name), util.join(dst, name)
    local kind = core.stat(from)
    if kind == "directory" then
      copy_tree(from, to)
    elseif kind == "file" then
      assert(core.write_file(to, assert(core.read_file(from))))
    end
  end
end

--- The checkpoint a top trial that is not running lends: a paused trial's
--- memory checkpoint, or, for one waiting at the sync point since a
--- resume, a copy of its own persistent checkpoint that PBT owns (the
--- trial's checkpoint policy may delete the original before the exploiting
--- trial restores it, and a persistent checkpoint registered on another
--- trial would be saved with that trial's). nil: none.
function M.lendable_checkpoint(pbt, trial)
  local c = trial.checkpoint
  if c == nil or c.dir_or_data == nil then return nil end
  if c.storage_mode == MEMORY or type(c.dir_or_data) ~= "string" or not trial.logdir then return c end
  pbt._lent = pbt._lent + 1
  local dir = util.join(trial.logdir, string.format(".memory_checkpoint_pbt_%06d", pbt._lent))
  core.remove_tree(dir)
  local ok = pcall(copy_tree, c.dir_or_data, dir)
  if not ok then
    core.remove_tree(dir)
    return nil
  end
  pbt._owned[dir] = true
  return ckpt.Checkpoint{dir_or_data = dir, storage_mode = MEMORY, metrics = util.deepcopy(c.metrics)}
end

return M
