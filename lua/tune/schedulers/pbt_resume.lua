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
---
--- The counters (debug_string's checkpoints and perturbs) are recounted
--- to match (M.recount): a perturbation made after the snapshot at a sync
--- point the resumed run does not perform again is added, one the
--- snapshot counted at a sync point it performs again is taken back.
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
  M.recount(pbt, runner, ahead and s + k or s)
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

--------------------------------------------------------------------------
-- The counters across a resume
--------------------------------------------------------------------------

local LEDGER = 32 -- perturbations remembered for a resume to take back

--- Synch mode: the perturbation at sync point `sync` counted these.
function M.counted(pbt, sync, checkpoints, perturbs)
  local list = pbt._sync_counts
  list[#list + 1] = core.array({sync, checkpoints, perturbs})
  if #list > LEDGER then table.remove(list, 1) end
end

local function global_log(pbt)
  return pbt._log_dir and util.join(pbt._log_dir, "pbt_global.txt") or nil
end

--- save(): the size of pbt_global.txt (0 when absent), or nil when
--- exploits are not logged or PBT has no trial yet; the restored one
--- while the lines after it are not counted yet.
function M.log_offset(pbt)
  if pbt._recount then return pbt._log_offset end
  local path = pbt._log_config and global_log(pbt)
  if not path then return nil end
  local kind, size = core.stat(path)
  return kind == "file" and size or 0
end

--- restore(state, runner): the ledger and the log offset; the counters
--- are to be recounted (reconcile, or settle when no trial is left).
function M.restore_counts(pbt, state, runner)
  pbt._sync_counts = {}
  for _, e in ipairs(type(state.sync_counts) == "table" and state.sync_counts or {}) do
    if type(e) == "table" and type(e[1]) == "number" and type(e[2]) == "number" and type(e[3]) == "number" then
      M.counted(pbt, e[1], e[2], e[3])
    end
  end
  pbt._log_offset = math.tointeger(util.nonnull(state.log_offset))
  if type(runner) == "table" and type(runner.experiment_dir) == "string" then
    pbt._log_dir = pbt._log_dir or runner.experiment_dir
  end
  pbt._recount = type(runner) == "table" and runner or true
end

--- The exploits pbt_global.txt logged after the snapshot, by sync point
--- (in synch mode the clone's iteration is the sync point), each target
--- once per sync point (a second kill may have left one twice). nil when
--- they are not known.
local function logged_exploits(pbt)
  local path, offset = global_log(pbt), pbt._log_offset
  if not (pbt._log_config and path and offset) then return nil end
  local text = core.read_file(path) or ""
  local by_sync, seen = {}, {}
  for line in text:sub(offset + 1):gmatch("[^\n]+") do
    local e = core.json_decode(line)
    if type(e) == "table" and type(e[4]) == "number" then
      local key = tostring(e[4]) .. "\0" .. tostring(e[1])
      if not seen[key] then
        seen[key] = true
        by_sync[e[4]] = (by_sync[e[4]] or 0) + 1
      end
    end
  end
  return by_sync
end

--- How many trials PBT:_quantiles puts in the upper quantile of `n`.
local function upper_size(pbt, n)
  if n <= 1 then return 0 end
  local q = math.ceil(n * pbt._quantile_fraction)
  if q > n / 2 then q = math.floor(n / 2) end
  return q == 0 and n or q
end

--- The trials ranked at sync point `sync`: every live trial reaches it
--- before PBT perturbs there, so those that have not ended, and those
--- whose last result is of it or later.
local function ranked_at(runner, sync)
  local n = 0
  for _, t in ipairs(runner:get_trials()) do
    local r = t.last_result
    if not is_finished(t) or (type(r) == "table" and (tonumber(r.training_iteration) or 0) >= sync) then
      n = n + 1
    end
  end
  return n
end

--- Synch mode, from reconcile, which sets the next sync point to
--- `next_sync`; the snapshot's is the first it had not perturbed at. The
--- sync points from the snapshot's up to before `next_sync` were
--- perturbed after the snapshot and are not again: each adds its upper
--- quantile's size (its checkpoints) and the exploits pbt_global.txt
--- logged there. The perturbations the snapshot counted at `next_sync`
--- or later are made again: they are taken back (from the ledger).
function M.recount(pbt, runner, next_sync)
  local kept = {}
  for _, e in ipairs(pbt._sync_counts) do
    if e[1] >= next_sync then
      pbt._num_checkpoints = pbt._num_checkpoints - e[2]
      pbt._num_perturbations = pbt._num_perturbations - e[3]
    else
      kept[#kept + 1] = e
    end
  end
  pbt._sync_counts = kept
  local k, sync = pbt._perturbation_interval, pbt._next_perturbation_sync
  if sync >= next_sync then
    pbt._recount = nil
    return
  end
  local exploits = logged_exploits(pbt) or {}
  while sync < next_sync do
    local c, p = upper_size(pbt, ranked_at(runner, sync)), exploits[sync] or 0
    pbt._num_checkpoints = pbt._num_checkpoints + c
    pbt._num_perturbations = pbt._num_perturbations + p
    M.counted(pbt, sync, c, p)
    sync = sync + k
  end
  pbt._recount = nil
end

--- debug_string and save(): a resumed synch run that had no trial left
--- to run (none restored, so no reconcile) recounts up to the last sync
--- point its trials reached, every one of which it perturbed at (a trial
--- that returned there was; one a stopper ended there was not, a limit
--- docs/reference/schedulers/pbt.md states).
function M.settle(pbt)
  local r = pbt._recount
  if type(r) ~= "table" or not rawget(r, "resumed") or not pbt._synch or pbt._time_attr ~= "training_iteration" then
    return
  end
  local last
  for _, t in ipairs(r:get_trials()) do
    if not is_finished(t) then return end -- reconcile's
    local it = type(t.last_result) == "table" and tonumber(t.last_result.training_iteration)
    if it and (last == nil or it > last) then last = it end
  end
  local k = pbt._perturbation_interval
  local first = math.max(k, pbt._burn_in_period)
  if last == nil or last < first then
    pbt._recount = nil
    return
  end
  local next_sync = first + (math.floor((last - first) / k) + 1) * k
  M.recount(pbt, r, next_sync)
  pbt._next_perturbation_sync = math.max(pbt._next_perturbation_sync, next_sync)
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
