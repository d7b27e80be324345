--- TrialRunner's persistence: the journal entries of what changed about each trial, the experiment's
--- state as a snapshot stores it, periodic snapshots, and resume from the newest snapshot plus the
--- journal after it (docs/architecture.md, "Persistence and resume"). Methods of TrialRunner (runner.lua installs them).
local checkpoints = require("tune.experiment.checkpoints")
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local plugin = require("tune.experiment.plugin")
local missed = require("tune.experiment.missed")
local replay = require("tune.experiment.replay")
local results = require("tune.experiment.results")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial

local R = {}
local M = {methods = R}

local function save_plugin(kind, p, runner)
  if type(p) ~= "table" then return nil end
  local state = plugin.must(kind, p, "save", nil, runner)
  -- Its state goes into the snapshot, which is JSON.
  local why, where = util.not_plain(state)
  if why then
    error(string.format("%s %s: save returned a state holding %s%s, which a snapshot cannot hold (plain data only)",
      kind, plugin.name(p), why, where ~= "" and (" at " .. where) or ""), 0)
  end
  return state
end

--- A scheduler's save(runner), restore(state, runner) get the runner: its directory, every trial (finished too).
local function restore_plugin(kind, p, state, runner)
  if type(p) == "table" and state ~= nil and state ~= core.null then plugin.must(kind, p, "restore", nil, state, runner) end
end

-- What was last journaled of a trial (_journaled[id], one per trial for the run): an array, 96 bytes less than names.
local STATUS <const>, LOGDIR <const>, CONFIG <const>, TAG <const>, PGF <const>, REPLAYED <const> = 1, 2, 3, 4, 5, 6
--- Notes a trial as its trial_added entry has it (TrialRunner:add_trial).
function R:_note_journaled(t)
  self._journaled[t.trial_id] = {t.status, t.logdir, t.config, t.experiment_tag, t.placement_group_factory,
    rawget(t, "replayed")}
end
--- Journals what changed about a trial since it was last journaled, compared by identity (cheap): its
--- status (with its directory, known from its first start), the config, tag and resources a scheduler
--- may change (PBT, resource changing), and the recordings a replay gave it (executor/sim.lua).
function R:_journal_status(trial)
  local j = self._journaled[trial.trial_id]
  if not j then
    j = {}
    self._journaled[trial.trial_id] = j
  end
  -- rawget: a pending trial has no logdir, and Trial's __index is a function.
  local status, logdir = trial.status, rawget(trial, "logdir")
  if j[STATUS] ~= status then
    local pending = self._npending
    if j[STATUS] == Trial.PENDING then pending = pending - 1 end
    if status == Trial.PENDING then pending = pending + 1 end
    self._npending = pending
  end
  if j[STATUS] ~= status or j[LOGDIR] ~= logdir then
    j[STATUS], j[LOGDIR] = status, logdir
    if status == Trial.TERMINATED or status == Trial.ERROR then self._ended[#self._ended + 1] = trial end
    if self.store then
      -- The directory also relative to the experiment's: a resume of the
      -- experiment moved elsewhere finds it there (experiment/replay.lua).
      -- (Its iteration: where a resume gives the searcher the results before it, missed.lua.)
      local last = rawget(trial, "last_result")
      self.store:journal{event = "status", trial_id = trial.trial_id, status = trial.status,
        iteration = type(last) == "table" and tonumber(last.training_iteration) or nil,
        num_failures = trial.num_failures, error_msg = rawget(trial, "error_msg"), logdir = logdir,
        relative_logdir = logdir and persistence.relative(logdir, self.experiment_dir) or nil}
    end
  end
  if j[REPLAYED] ~= rawget(trial, "replayed") then
    j[REPLAYED] = rawget(trial, "replayed")
    if self.store then self.store:journal{event = "replayed", trial_id = trial.trial_id, replayed = j[REPLAYED]} end
  end
  if j[CONFIG] ~= trial.config or j[TAG] ~= trial.experiment_tag or j[PGF] ~= trial.placement_group_factory then
    local first = j[CONFIG] == nil
    local resized = not first and j[PGF] ~= trial.placement_group_factory
    j[CONFIG], j[TAG], j[PGF] = trial.config, trial.experiment_tag, trial.placement_group_factory
    if self.store and not first then
      self.store:journal{event = "changed", trial_id = trial.trial_id, config = trial.config,
        experiment_tag = trial.experiment_tag, resources = trial.placement_group_factory._spec}
    end
    -- New resources: what was reserved for the old ones goes back now
    -- (the periodic reconcile would, on a clock that a simulation whose
    -- only trial waits for them does not advance); and resources that no
    -- node has (a resource-changing scheduler's allocation) would be
    -- waited for forever.
    if resized and (status == Trial.PENDING or status == Trial.PAUSED) then
      local ex = self.trial_executor
      if ex.reconcile_placement_groups then ex:reconcile_placement_groups(self:get_live_trials()) end
      local ok, why = ex:feasible(trial)
      if not ok then
        self:_fail(trial, string.format("trial %s can never run: %s", tostring(trial), why), nil, true)
      end
    end
  end
end

--- Journals the changes plug-ins made (a scheduler setting a status
--- through the executor, PBT giving a trial a new config): the trials that
--- told (Trial:set_status, set_config, update_resources), or with `all`
--- every live trial (at each snapshot, for plug-ins that assign fields).
function R:_journal_changes(all)
  local changes = self._changes   -- shared with the trials: emptied in place
  local n = #changes
  if n > 0 then
    local list = table.move(changes, 1, n, 1, {})
    for i = 1, n do
      changes[i] = nil
      changes[list[i]] = nil
    end
    for i = 1, n do self:_journal_status(list[i]) end
  end
  if all then
    for _, t in ipairs(self:get_live_trials()) do self:_journal_status(t) end
  end
end

--- The experiment's state, as the snapshot stores it, without its trials
--- (R:checkpoint has persistence.serialize_trial make each as the snapshot
--- writes it).
--- The state's "runner" and "stats" records (ExperimentAnalysis'
--- runner_data() and stats()).
function R:records()
  return {iteration = self.iteration, total_time = self.total_time, has_errored = self._has_errored},
    {start_time = self.experiment_info.start_time, trials = #self.trials}
end

--- What a plug-in is, for a resume to compare: its class, and those of the
--- searchers it wraps ("SearchGenerator/ConcurrencyLimiter/TPESearch").
local function kind_of(p)
  local names = {}
  while type(p) == "table" and #names < 6 do
    names[#names + 1] = plugin.name(p)
    p = rawget(p, "searcher")
  end
  return table.concat(names, "/")
end

function R:state()
  local runner, stats = self:records()
  -- After a trial taken back (failures.lua), the search algorithm's state from before it.
  if not self.took_back then self._search_saved = save_plugin("search algorithm", self.search_alg) end
  return {
    name = self.experiment_info.name,
    experiment_dir = self.experiment_dir,
    metric = self.metric,
    mode = self.mode,
    runner = runner,
    stats = stats,
    search_alg = self._search_saved,
    scheduler = save_plugin("scheduler", self.scheduler, self),
    stopper = save_plugin("stopper", self.stopper),
    plugins = {search_alg = kind_of(self.search_alg), scheduler = kind_of(self.scheduler)},
    callbacks = self.callbacks:get_state(),
  }
end

--- Snapshots the experiment (every checkpoint_period seconds, or now with
--- `force`). Returns the state file's path. A forced snapshot is committed
--- before this returns, unless `background` (then, with background
--- snapshots on, the store's settle() or close() waits for it).
function R:checkpoint(force, background)
  if not self.store then return nil end
  local now = core.now()
  if not force and now - self._last_checkpoint < self.checkpoint_period then return nil end
  self._last_checkpoint = now
  self:_journal_changes(true)
  local dir = self.experiment_dir
  -- A finished trial changes afterwards only through the journal: the store copies
  -- its entry from the last snapshot when nothing was journaled about it since.
  local path, err = self.store:snapshot(self:state(), self.trials,
    function(t) return persistence.serialize_trial(t, dir) end,
    function(t) return (t.status == Trial.TERMINATED or t.status == Trial.ERROR) and t.trial_id or nil end,
    self.background_snapshots and (not force or background == true))
  if not path then
    persistence.snapshot_failed(err)
  end
  self.checkpoint_file = path or self.checkpoint_file
  return path
end

--- Before the driver goes (SIGUSR1 or SIGTERM: a Slurm allocation about to
--- end, a preemption): every RUNNING trial saves a persistent checkpoint
--- (checkpoints.save_running). Returns how many checkpoints were registered.
function R:checkpoint_running(timeout) return checkpoints.save_running(self, timeout) end

--- The iteration of the checkpoint a trial restarts from (0: none).
local function checkpoint_iteration(t)
  local c = t.checkpoint
  return c and c.dir_or_data and type(c.metrics) == "table" and tonumber(c.metrics.training_iteration) or 0
end

--- A trial restored from its serialized form and its checkpoints (those
--- it cannot restore from set aside: checkpoints.restore), in memory only
--- (a refused resume changes nothing on disk). Returns the trial, whether
--- it had finished (see `finishing`), and the checkpoints to journal.
function R:_restore_trial(s, ckpts, mode, finishing)
  local t = persistence.deserialize_trial(s, self.experiment_dir)
  if t.status == Trial.RUNNING then t.status = Trial.PENDING end
  if t.status == Trial.ERROR and mode == "ERRORED_ONLY" then
    t.status = Trial.PENDING
    t.num_failures = 0
    t.error_msg = nil
  end
  local found = checkpoints.restore(t, ckpts, self.experiment_dir)
  if t.status == Trial.PENDING or t.status == Trial.PAUSED then
    -- It restarts from its checkpoint: with that checkpoint's config. A
    -- config changed after it (a PBT exploit whose donor checkpoint lived
    -- in the dead driver's memory) would otherwise continue the old
    -- weights under the new config; the scheduler decides again.
    local c = t.checkpoint
    local cc = c and c.dir_or_data and type(c.metrics) == "table" and c.metrics.config
    if type(cc) == "table" and core.json_encode(cc) ~= core.json_encode(t.config) then t.config = cc end
  end
  local finished = false
  if finishing and s.status ~= Trial.ERROR and s.status ~= Trial.TERMINATED then
    -- The runner had decided to stop it at iteration `finishing` and the
    -- driver died before the journal said TERMINATED: it finished if that
    -- result was logged, unless a checkpoint it asked for never completed
    -- (checkpoint_at_end's, or the one its last result came with: its
    -- rows are written before the save starts); then it runs again from
    -- its checkpoint.
    local last = persistence.last_logged_result(t)
    local it = last and tonumber(last.training_iteration)
    local wants = t.checkpoint_at_end or (type(last) == "table" and last.should_checkpoint == true)
    if it and it >= finishing and (not wants or checkpoint_iteration(t) >= finishing) then
      t.status = Trial.TERMINATED
      finished = true
    end
  end
  return t, finished, found
end

--- What a restored trial needs on disk, once the resume is accepted:
--- its found checkpoints journaled, its memory checkpoints gone, its logs
--- cut to the checkpoint it restarts from (or a torn last line dropped),
--- and its last logged result.
function R:_repair_trial(t, found)
  for _, c in ipairs(found) do
    self.store:journal{event = "checkpoint", trial_id = t.trial_id, dir = c.dir, storage = c.storage,
      metrics = c.metrics}
  end
  -- Memory checkpoints died with the driver that held them.
  persistence.remove_memory_checkpoints(t)
  local upto
  if t.status == Trial.PENDING or t.status == Trial.PAUSED then
    -- It runs again from its checkpoint: what it logged after that goes,
    -- when it starts (TrialRunner:_start_trial), not before: a resume
    -- refused later (a callback's setup fails) leaves its logs whole.
    upto = checkpoint_iteration(t)
    checkpoints.warn(t)
    -- (One that never started has no directory yet: nothing to trim.)
    if rawget(t, "logdir") then t._trim_logs_to = upto end
  else
    -- A line torn by a crash or a full disk goes, so that nothing is
    -- appended onto it.
    persistence.drop_torn_lines(t)
  end
  local last = persistence.last_logged_result(t, upto)
  if last then t.last_result = last end
end

--- Restores the experiment from its directory (resume). `mode`: "LOCAL"
--- or "ERRORED_ONLY"; `loader`, this run's (replay.trials); `resources`,
--- this run's resources_per_trial, which the trials that have not started
--- (PENDING) take (Ray's update_pending_trial_resources: a resume on a
--- bigger machine). Returns true, or nil and a message; when it refuses,
--- nothing on disk has changed.
function R:resume(mode, loader, resources)
  local state, entries = persistence.load(self.experiment_dir)
  if not state then return nil, entries end
  -- Nothing is written before every check holds: a directory that takes
  -- no writes (a read-only mount, a full disk) is refused first, whole.
  local writable, why = core.writable(self.experiment_dir)
  if not writable then
    return nil, string.format("the experiment directory cannot be written: %s", tostring(why))
  end
  -- The trials whose end the snapshot's search state already knows.
  local told = {}
  for _, s in ipairs(state.trials or {}) do
    if type(s) == "table" and (s.status == Trial.TERMINATED or s.status == Trial.ERROR) then told[s.trial_id] = true end
  end
  -- Its paths are the directory resumed, also when it was moved or copied.
  local by_id, order, ckpts, finishing = replay.trials(state, entries, self.experiment_dir, loader)
  local seq = state.journal_seq or 0
  for _, e in ipairs(entries) do seq = math.max(seq, e.seq) end
  local restored, finished, found = {}, {}, {}
  for _, id in ipairs(order) do
    local ok, t, done, f = pcall(self._restore_trial, self, by_id[id], ckpts[id], mode, finishing[id])
    if not ok then return nil, "cannot restore trial " .. tostring(id) .. ": " .. tostring(t) end
    restored[#restored + 1] = t
    found[t] = f
    if done then finished[#finished + 1] = t end
  end
  -- Another search algorithm or scheduler would take this one's state as
  -- its own (made trials again, or died saving it).
  local kinds = type(state.plugins) == "table" and state.plugins or {}
  for _, p in ipairs({{"search algorithm", "search_alg", self.search_alg}, {"scheduler", "scheduler", self.scheduler}}) do
    local was, now = kinds[p[2]], kind_of(p[3])
    if type(was) == "string" and was ~= now then
      return nil, string.format("%s: the experiment was made with the %s %s, this run has %s: resume it with the "
        .. "same %s (or start a new experiment with resume = false)", state.path, p[1], was, now, p[2])
    end
  end
  -- Plug-in state first, then the trials (schedulers must accept trials
  -- they already know again: on_trial_add is idempotent by trial id).
  for _, p in ipairs({{"search algorithm", self.search_alg, state.search_alg},
      {"scheduler", self.scheduler, state.scheduler}, {"stopper", self.stopper, state.stopper}}) do
    if p[3] ~= nil and p[3] ~= core.null and type(p[3]) ~= "table" then
      return nil, string.format("%s: the %s's state is not a table: refusing to resume from it", state.path, p[1])
    end
    local ok, err = pcall(restore_plugin, p[1], p[2], p[3], self)
    if not ok then
      return nil, string.format("%s: the %s's state cannot be restored (%s): refusing to resume from it",
        state.path, p[1], (tostring(err):match("^[^\n]*"):gsub("^[^:]+:%d+: ", "")))
    end
  end
  -- Every trial the search algorithm made and still waits for must be in the experiment
  -- (a state with a trial cut out would otherwise run on with the wrong count, or wait forever).
  local ok_live, ids = plugin.call("search algorithm", self.search_alg, "live_trial_ids", nil)
  if ok_live and type(ids) == "table" then
    local have = {}
    for _, t in ipairs(restored) do have[t.trial_id] = true end
    for _, id in ipairs(ids) do
      if not have[id] then
        return nil, string.format("%s: the search algorithm made trial %s, which the experiment has no record of: "
          .. "refusing to resume from it", state.path, tostring(id))
      end
    end
  end
  -- Each trial that runs again writes into its directory (its logs cut, appended to): refused first too.
  for _, t in ipairs(restored) do
    local d = (t.status == Trial.PENDING or t.status == Trial.PAUSED) and rawget(t, "logdir")
    local ok, err = true, nil
    if d and core.stat(d) == "directory" then ok, err = core.writable(d) end
    if not ok then return nil, string.format("trial %s's directory cannot be written: %s", t.trial_id, tostring(err)) end
  end
  -- Accepted: from here on the experiment's files change.
  persistence.drop_torn_journal(self.experiment_dir)
  persistence.remove_temporaries(self.experiment_dir, restored)
  self.store.seq = seq
  for _, t in ipairs(restored) do self:_repair_trial(t, found[t]) end
  local runner = type(state.runner) == "table" and state.runner or {}
  self.iteration = tonumber(runner.iteration) or 0
  self.total_time = tonumber(runner.total_time) or 0
  local pgf = resources and require("tune.executor.placement").to_pgf(resources, 2)
  for _, t in ipairs(restored) do
    if pgf and t.status == Trial.PENDING and t.placement_group_factory ~= pgf then t:update_resources(pgf) end
    self:add_trial(t, true)
    self:_journal_status(t)
  end
  if self.trial_executor.on_resume then self.trial_executor:on_resume(restored) end -- (the simulator's replay)
  -- A scheduler's state is the snapshot's, which may be ahead of or behind
  -- where each trial restarts: it is told (an optional hook of ours).
  for _, t in ipairs(restored) do
    if t.status == Trial.PENDING or t.status == Trial.PAUSED then
      self:_scheduler("on_trial_restored", nil, t, checkpoint_iteration(t))
    end
  end
  -- The search algorithm's state is the snapshot's: replay what happened
  -- after it, in order, so it is where it was when the driver died (it
  -- makes the trials added since again, learns of the ones finished, and
  -- is given the results it had been given, missed.lua).
  local feed = missed.new(self, state, entries, restored)
  for _, e in ipairs(entries) do
    if e.event == "status" then
      -- Its results up to its iteration (an entry of an older journal has none: at an end, all of them).
      local ended = e.status == Trial.TERMINATED or e.status == Trial.ERROR
      feed:feed(self:get_trial(e.trial_id), e.iteration or (ended and math.huge or 0))
    end
    if e.event == "trial_added" and type(e.trial) == "table" then
      local t = self:get_trial(e.trial.trial_id)
      if t then self:_search("replay_added", nil, t) end
    elseif e.event == "status" and (e.status == Trial.TERMINATED or e.status == Trial.ERROR) then
      -- Once per end: an ended trial whose last rows were lost is journaled
      -- again as ERROR, which the searcher was not told during the run.
      local t = self:get_trial(e.trial_id)
      if t and not told[e.trial_id] then
        self:_search("on_trial_complete", nil, t.trial_id, results.flat_view(t.last_result), e.status == Trial.ERROR)
        feed:complete(t)
      end
      told[e.trial_id] = true
    elseif e.event == "status" then
      told[e.trial_id] = nil -- started again (a retry, ERRORED_ONLY)
    end
  end
  -- Trials found finished from their logs: the searcher learns it now.
  feed:feed_all(restored)
  for _, t in ipairs(finished) do
    self:_search("on_trial_complete", nil, t.trial_id, results.flat_view(t.last_result), false)
    feed:complete(t)
  end
  self.callbacks:set_state(state.callbacks, state.path)
  self.resumed = true
  return true
end

return M
