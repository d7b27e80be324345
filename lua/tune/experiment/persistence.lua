--- Experiment persistence (SPEC "On disk"): an append-only journal of trial
--- additions, status changes and registered checkpoints, grouped in memory
--- and written with one write(2) before any result row, whenever the
--- driver is about to wait, and before each snapshot (docs/architecture.md,
--- "Persistence and resume"), and periodic snapshots
--- (experiment_state-<date>.json: every trial, the searcher, scheduler and
--- stopper state, the journal position) written under a temporary name,
--- fsynced and renamed. After a kill -9 at any instant, the newest snapshot
--- plus the journal entries after it give the experiment back.
local checkpoint = require("tune.executor.checkpoint")
local class = require("tune.class")
local core = require("tune.core")
local placement = require("tune.executor.placement")
local util = require("tune.util")
local trial_mod = require("tune.experiment.trial")
local Trial = trial_mod.Trial

local M = {}

M.FORMAT = "tunelua.experiment_state"
M.VERSION = 1
M.JOURNAL = "experiment_journal.jsonl"
local STATE_PATTERN = "^experiment_state%-(%d%d%d%d%-%d%d%-%d%d_%d%d%-%d%d%-%d%d)%.json$"

--- Test-only crash injection (docs/architecture.md, "Testing crashes"):
--- TUNE_TEST_CRASH_AT_WRITE=N kills the driver at its Nth journal entry or
--- state write; TUNE_TEST_CRASH_MODE=torn first writes the entries waiting
--- in memory and half of that one.
local crash_at = tonumber(os.getenv("TUNE_TEST_CRASH_AT_WRITE") or "")
local crash_torn = os.getenv("TUNE_TEST_CRASH_MODE") == "torn"
local writes = 0

--- A journal entry's (or a snapshot's) crash point: the entries waiting in
--- the journal handle's memory are lost with the driver, or (torn) written
--- with half of this entry, as a write cut short would leave them.
local function count_write(path, data, journal)
  writes = writes + 1
  if crash_at and writes == crash_at then
    if crash_torn and data then
      local half = data:sub(1, #data // 2)
      if journal then journal:write(half, true) else core.append(path, half) end
    end
    core.raise_signal("KILL")
  end
end

local check_trial, check_entry -- defined with M.load

--- A snapshot that could not be written (a full disk), said with what is
--- left: the one before it stays, and the journal has what came after.
function M.snapshot_failed(err)
  io.stderr:write("tunelua warning: experiment checkpoint failed: ", tostring(err), "; the experiment is its previous ",
    "experiment_state file and ", M.JOURNAL, ", which tunelua analyze and --resume read together\n")
end

local Store = class.class("ExperimentStore")
M.Store = Store

function Store:__init(dir)
  self.dir = dir
  self.journal_path = util.join(dir, M.JOURNAL)
  self.seq = 0
  -- Called before each snapshot, when set: the runner has the executor
  -- write the result rows it holds (docs/architecture.md, "Result logs").
  self.before_snapshot = nil
  -- Called with the journal's handle each time it is opened, when set
  -- (on_journal_open): the runner gives it to the executor, which writes
  -- it ahead of every row.
  self._on_open = nil
  -- The last snapshot's entries, for the next one to copy those that
  -- cannot have changed (Store:snapshot); ids journaled since it.
  self._reuse = nil
  self._touched = {}
end

--- A new experiment's start is held until its first journal entry: the
--- archive of an experiment found in the directory (`archive`, M.archive)
--- and the first snapshot (Store:snapshot keeps it in memory). A run
--- refused before its first trial (a sample_from, a callback's setup, a
--- trial name that fails) thus leaves the directory as it found it
--- (Store:drop_held).
function Store:hold(archive)
  self._held = {archive = archive}
end

--- True while the start is held (nothing written yet).
function Store:holding()
  return self._held ~= nil
end

--- Writes what was held: the archive, then the first snapshot.
function Store:_release()
  local h = self._held
  self._held = nil
  if h.archive then M.archive(self.dir) end
  if h.state then
    local path, err = self:snapshot(assert(core.json_decode(h.state)), h.trials and {} or nil, h.serialize, h.final)
    if not path then M.snapshot_failed(err) end
  end
end

--- The run ends before its first trial, refused: what was held is
--- dropped, never written.
function Store:drop_held()
  self._held = nil
end

--- Appends one journal entry (a table); returns its sequence number.
function Store:journal(entry)
  if self._held then self:_release() end
  self.seq = self.seq + 1
  entry.seq = self.seq
  local id = entry.trial_id or (type(entry.trial) == "table" and entry.trial.trial_id)
  if id ~= nil then self._touched[id] = true end
  local line = assert(core.json_encode(entry)) .. "\n"
  if crash_at then count_write(self.journal_path, line, self._journal_file) end -- (only a crash test counts)
  -- The journal stays open between entries, its entries waiting in memory
  -- (the handle's buffer) for the next flush; after a failed write it is
  -- opened again for the next entry.
  local f, err = self._journal_file, nil
  if not f then
    f, err = core.open_append(self.journal_path, true)
    self._journal_file = f
    if f and self._on_open then self._on_open(f) end
  end
  local ok
  if f then ok, err = f:write(line) end
  if not ok then self:_failed(err) end
  return self.seq
end

--- `fn(handle)` is called with the journal's handle now (when it is open)
--- and each time it is opened again.
function Store:on_journal_open(fn)
  self._on_open = fn
  if fn and self._journal_file then fn(self._journal_file) end
end

--- A journal write failed (a full disk): warn, and open it again next time.
function Store:_failed(err)
  if self._journal_file then
    self._journal_file:close()
    self._journal_file = nil
  end
  -- (The error may name the file already: once is enough.)
  local why = tostring(err):gsub("^append: ", "")
  if why:sub(1, #self.journal_path + 2) == self.journal_path .. ": " then why = why:sub(#self.journal_path + 3) end
  io.stderr:write("tunelua warning: cannot write the experiment journal ", self.journal_path, ": ", why, "\n")
end

--- Writes the journal entries that wait in memory.
function Store:flush()
  local f = self._journal_file
  if not f then return end
  local ok, err = f:flush()
  if not ok then self:_failed(err) end
end

--- Waits for the snapshot being committed in the background, if any, and
--- takes its outcome: the next snapshot copies from it, and the one it
--- replaced is gone. A failure is warned about; the one before stays.
function Store:settle()
  local c = self._committing
  if not c then return true end
  self._committing = nil
  local ok, err = c.job:wait()
  if not ok then
    M.snapshot_failed(err)
    return nil, err
  end
  if c.trials then self._reuse = c.reuse end
  self._last_snapshot = c.name
  return true
end

--- Writes what waits and closes the journal (the next entry opens it again).
function Store:close()
  self:settle()
  self:flush()
  if self._journal_file then self._journal_file:close() end
  self._journal_file = nil
  self:unlock()
end

--- Takes the experiment directory for this driver alone (an flock on it,
--- gone with the process however it ends): two drivers on one experiment
--- wrote every result twice and removed each other's directories.
--- true, or nil and why.
function Store:lock()
  if self._lock then return true end
  local h, err = core.lock_dir(self.dir)
  if not h then
    return nil, err == "in use" and string.format("the experiment %s is in use by another driver (a tune.run "
      .. "or tunelua --resume of it still running): wait for it to end, or give this run another name", self.dir)
      or tostring(err)
  end
  self._lock = h
  return true
end

function Store:unlock()
  if self._lock then self._lock:unlock() end
  self._lock = nil
end

-- How many leading entries of `trials` the last snapshot (`prev`) holds
-- as they are now: the same entries, final when written (a finished
-- trial) and still, and nothing journaled about them since.
local function reusable_prefix(prev, trials, touched, final)
  if not prev then return 0 end
  local ids, n = prev.ids, math.min(prev.final, #trials)
  for i = 1, n do
    local id = ids[i]
    if touched[id] or final(trials[i]) ~= id then return i - 1 end
  end
  return n
end

-- The entries after the copied ones, encoded; their end offsets.
local function write_entries(f, trials, from, serialize, final, ends, ids)
  local encode = core.json_encode
  local nfinal = from - 1
  for i = from, #trials do
    local t = trials[i]
    if i > 1 then f:write(",") end
    f:write(assert(encode(serialize(t))))
    ends[i] = f:size()
    local id = final and final(t)
    ids[i] = id
    if id ~= nil and nfinal == i - 1 then nfinal = i end
  end
  return nfinal
end

--- Writes a snapshot atomically and removes older ones. `state` gets the
--- format header and the journal position. `trials`, when given, is an
--- array encoded as the state's "trials" one entry at a time, each turned
--- into a table by `serialize(entry)` just before it is written: a
--- snapshot of 10,000 trials never holds them all as tables and text.
--- `final(entry)`, when given, returns the id of an entry that no longer
--- changes but through the journal (a finished trial), or nil: the
--- leading such entries, unchanged since the last snapshot (no journal
--- entry names their id), are copied from it byte for byte rather than
--- encoded again (docs/architecture.md, "Persistence and resume").
--- With `background`, the file once written is committed on the
--- directory thread (Store:settle takes the outcome, at the latest before
--- the next snapshot): the driver does not wait for the disk. The first
--- snapshot of a store, which looks for older ones to remove, is always
--- committed in place.
function Store:snapshot(state, trials, serialize, final, background)
  local held = self._held
  if held then
    if held.state == nil and (trials == nil or #trials == 0) then
      -- The first snapshot of a held start: its state as it is now.
      held.state = assert(core.json_encode(state))
      held.trials, held.serialize, held.final = trials ~= nil, serialize, final
      return util.join(self.dir, "experiment_state-" .. util.date_str() .. ".json")
    end
    self:_release()
  end
  self:settle()
  self:flush()
  if self.before_snapshot then self.before_snapshot() end
  state.format = M.FORMAT
  state.version = M.VERSION
  state.journal_seq = self.seq
  state.timestamp = core.time()
  local name = "experiment_state-" .. util.date_str() .. ".json"
  local path = util.join(self.dir, name)
  count_write(path, nil)
  -- Closed (the temporary file removed) if encoding raises an error.
  local f <close>, err = core.open_atomic(path)
  if not f then return nil, err end
  local reuse
  if trials then
    state.trials = nil
    local head = assert(core.json_encode(state))
    f:write(head:sub(1, -2)):write(head == "{}" and "\"trials\":[" or ",\"trials\":[")
    local first = f:size()
    -- The last snapshot's offsets and ids become this one's, in place
    -- (two arrays as long as the experiment, not a copy per snapshot);
    -- until this one is committed, there is nothing to copy from.
    local prev = final and self._reuse
    self._reuse = nil
    local ends, ids = prev and prev.ends or {}, prev and prev.ids or {}
    local copied = reusable_prefix(prev, trials, self._touched, final)
    if copied > 0 then
      if f:copy(prev.path, prev.first, ends[copied] - prev.first, prev.size) then
        local shift = first - prev.first
        if shift ~= 0 then
          for i = 1, copied do ends[i] = ends[i] + shift end
        end
      else
        copied = 0
      end
    end
    local nfinal = write_entries(f, trials, copied + 1, serialize, final, ends, ids)
    f:write("]}")
    if final then reuse = {path = path, first = first, ends = ends, ids = ids, final = nfinal, size = f:size()} end
  else
    f:write(assert(core.json_encode(state)))
  end
  -- What the journal named since the last snapshot is in this one. (Should
  -- its commit fail, nothing is copied from it: _reuse stays nil.)
  if trials and next(self._touched) ~= nil then self._touched = {} end
  local last = self._last_snapshot
  if background and last ~= nil then
    local job = f:commit_async(last ~= name and util.join(self.dir, last) or nil)
    if job then
      self._committing = {job = job, name = name, reuse = reuse, trials = trials ~= nil}
      return path
    end
  end
  local ok
  ok, err = f:commit()
  if not ok then return nil, err end
  if trials then self._reuse = reuse end
  -- Older snapshots go: the one this store wrote last, or (the first time)
  -- whatever an earlier driver left, found by listing the directory once.
  local old = self._last_snapshot
  if old == nil then
    for _, file in ipairs(core.listdir(self.dir) or {}) do
      if file ~= name and file:match(STATE_PATTERN) then core.remove_tree(util.join(self.dir, file)) end
    end
  elseif old ~= name then
    core.remove_tree(util.join(self.dir, old))
  end
  self._last_snapshot = name
  return path
end

--- The newest experiment_state file in `dir`, or nil.
function M.find_state(dir)
  local best
  for _, f in ipairs(core.listdir(dir) or {}) do
    if f:match(STATE_PATTERN) and (not best or f > best) then best = f end
  end
  return best and util.join(dir, best) or nil
end

--- Starting a new experiment where one was: its journal and snapshots are
--- renamed "*.previous-<date>" so that a later resume sees only the new run.
function M.archive(dir)
  local names = core.listdir(dir) or {}
  -- Unique: two runs archived within one second overwrote the first's.
  local taken, suffix = {}, ".previous-" .. util.date_str()
  for _, f in ipairs(names) do taken[f] = true end
  local n = 1
  local function free(s)
    for _, f in ipairs(names) do
      if (f == M.JOURNAL or f:match(STATE_PATTERN)) and taken[f .. s] then return false end
    end
    return true
  end
  while not free(n == 1 and suffix or (suffix .. "-" .. n)) do n = n + 1 end
  if n > 1 then suffix = suffix .. "-" .. n end
  for _, f in ipairs(names) do
    if f == M.JOURNAL or f:match(STATE_PATTERN) then
      core.rename(util.join(dir, f), util.join(dir, f .. suffix))
    end
  end
end

--- True when `dir` holds an experiment (a snapshot or a journal).
function M.exists(dir)
  return M.find_state(dir) ~= nil or core.stat(util.join(dir, M.JOURNAL)) ~= nil
end

--- Reads the newest snapshot and the journal entries after it.
--- Returns state, entries; or nil, message for a foreign or corrupt file.
local STATUSES = {PENDING = true, RUNNING = true, PAUSED = true, TERMINATED = true, ERROR = true}

--- Why `t` is not a trial of a state file, or nil.
check_trial = function(t)
  if type(t) ~= "table" then return "is not a table" end
  if type(t.trial_id) ~= "string" or t.trial_id == "" then return "has no trial_id" end
  if not STATUSES[t.status] then return "has an unknown status " .. tostring(t.status) end
  if t.config ~= nil and type(t.config) ~= "table" then return "has a config that is not a table" end
  return nil
end

--- Why `e` is not a journal entry, or nil.
check_entry = function(e)
  if type(e) ~= "table" then return "not a JSON object" end
  if math.type(e.seq) ~= "integer" or e.seq < 1 then return "no sequence number" end
  local ev = e.event
  if ev == "trial_added" then
    local why = check_trial(e.trial)
    return why and ("a trial_added entry whose trial " .. why) or nil
  end
  if ev ~= "status" and ev ~= "changed" and ev ~= "checkpoint" and ev ~= "finishing" and ev ~= "replayed" then
    return "an unknown event " .. tostring(ev)
  end
  if type(e.trial_id) ~= "string" then return "a " .. ev .. " entry without a trial_id" end
  if ev == "status" and not STATUSES[e.status] then return "an unknown status " .. tostring(e.status) end
  if ev == "checkpoint" and type(e.dir) ~= "string" then return "a checkpoint entry without a dir" end
  if ev == "finishing" and type(e.iteration) ~= "number" then return "a finishing entry without an iteration" end
  if ev == "replayed" and type(e.replayed) ~= "table" then return "a replayed entry without its recordings" end
  return nil
end

function M.load(dir)
  local state
  local path = M.find_state(dir)
  if path then
    local text, err = core.read_file(path)
    if not text then return nil, err end
    local s, jerr = core.json_decode(text)
    if type(s) ~= "table" then
      return nil, string.format("%s is not valid JSON (%s): refusing to resume from it", path, tostring(jerr))
    end
    if s.format ~= M.FORMAT then
      return nil, string.format("%s is not a tunelua experiment state (format %s): refusing to resume from it",
        path, tostring(s.format))
    end
    if type(s.version) ~= "number" or s.version > M.VERSION then
      return nil, string.format("%s was written by a newer tunelua (state version %s): refusing to resume from it",
        path, tostring(s.version))
    end
    if type(s.trials) ~= "table" then
      return nil, string.format("%s has no trial list: refusing to resume from it", path)
    end
    for i, t in ipairs(s.trials) do
      local why = check_trial(t)
      if why then return nil, string.format("%s: trial %d %s: refusing to resume from it", path, i, why) end
    end
    state = s
  else
    state = {trials = {}, journal_seq = 0}
  end
  local entries = {}
  local jpath = util.join(dir, M.JOURNAL)
  local jtext = core.read_file(jpath)
  if jtext then
    local n = 0
    for line, nl in jtext:gmatch("([^\n]*)(\n?)") do
      n = n + 1
      if line ~= "" then
        local e = core.json_decode(line)
        local why = check_entry(e)
        -- A torn last line (a crash mid-write, no newline) is expected:
        -- skip it. Anything else that is not an entry is refused.
        if why and nl == "\n" then
          return nil, string.format("%s:%d: %s: refusing to resume from it", jpath, n, why)
        end
        if not why and e.seq > (state.journal_seq or 0) then entries[#entries + 1] = e end
      end
    end
  end
  state.path = path
  return state, entries
end

--- The part of `path` under `dir` ("" for `dir` itself), or nil: what
--- the files record of a path inside the experiment directory, besides
--- the path, so that a resume of the experiment moved or copied elsewhere
--- finds it there (experiment/replay.lua).
function M.relative(path, dir)
  if type(path) ~= "string" or type(dir) ~= "string" then return nil end
  if path == dir then return "" end
  if path:sub(1, #dir + 1) == dir .. "/" then return path:sub(#dir + 2) end
  return nil
end

--- A trial as a JSON-serialisable table.
function M.serialize_trial(trial, experiment_dir)
  local ckpts = {}
  for i, c in ipairs(trial.checkpoint_manager.persistent) do
    ckpts[i] = {dir = c.dir_or_data, storage = c.storage_mode, metrics = c.metrics}
  end
  -- The fields often unset are read with rawget: a Trial's __index is a
  -- function (its computed `checkpoint`), called for each missing field.
  local logdir = rawget(trial, "logdir")
  local rel = logdir ~= experiment_dir and M.relative(logdir, experiment_dir) or nil
  return {
    trial_id = trial.trial_id,
    trainable_name = trial.trainable_name,
    config = trial.config,
    evaluated_params = trial.evaluated_params,
    experiment_tag = trial.experiment_tag,
    status = trial.status,
    logdir = logdir,
    relative_logdir = rel,
    local_dir = trial.local_dir,
    relative_local_dir = M.relative(trial.local_dir, experiment_dir),
    last_result = trial.last_result,
    num_failures = trial.num_failures,
    error_msg = rawget(trial, "error_msg"),
    error_file = rawget(trial, "error_file"),
    checkpoints = ckpts,
    finishing = rawget(trial, "_finishing"),
    resources = trial.placement_group_factory._spec,
    stopping_criterion = trial.stopping_criterion,
    checkpoint_freq = trial.checkpoint_freq,
    checkpoint_at_end = trial.checkpoint_at_end,
    keep_checkpoints_num = rawget(trial, "keep_checkpoints_num"),
    checkpoint_score_attr = trial.checkpoint_score_attr,
    max_failures = trial.max_failures,
    restore_path = rawget(trial, "restore_path"),
    custom_trial_name = rawget(trial, "custom_trial_name"),
    log_to_file = rawget(trial, "log_to_file"),
    loader = trial._loader,
    resettable = trial._resettable,
    experiment_id = trial.experiment_id,
    replayed = rawget(trial, "replayed"), -- the recordings it took (executor/sim.lua)
  }
end

local nonnull = util.nonnull

--- A Trial from its serialized form. `experiment_dir` relocates the
--- trial directory when the experiment was moved.
function M.deserialize_trial(s, experiment_dir)
  local pgf = placement.PlacementGroupFactory(s.resources.bundles, {strategy = s.resources.strategy})
  local logdir = nonnull(s.logdir)
  if experiment_dir and s.relative_logdir and s.relative_logdir ~= core.null then
    logdir = util.join(experiment_dir, s.relative_logdir)
  end
  local t = Trial(s.trainable_name, {
    config = s.config,
    trial_id = s.trial_id,
    local_dir = nonnull(s.local_dir),
    evaluated_params = s.evaluated_params,
    experiment_tag = s.experiment_tag,
    placement_group_factory = pgf,
    stopping_criterion = s.stopping_criterion,
    checkpoint_freq = s.checkpoint_freq,
    checkpoint_at_end = s.checkpoint_at_end,
    keep_checkpoints_num = nonnull(s.keep_checkpoints_num),
    checkpoint_score_attr = nonnull(s.checkpoint_score_attr),
    max_failures = s.max_failures,
    restore_path = nonnull(s.restore_path),
    log_to_file = nonnull(s.log_to_file),
    loader = s.loader,
    logdir = logdir,
  })
  t.status = s.status
  t.last_result = type(s.last_result) == "table" and s.last_result or {}
  t.num_failures = s.num_failures or 0
  t.error_msg = nonnull(s.error_msg)
  t.error_file = nonnull(s.error_file)
  t.custom_trial_name = nonnull(s.custom_trial_name)
  t._resettable = s.resettable and true or false
  t.experiment_id = nonnull(s.experiment_id)
  t.replayed = type(s.replayed) == "table" and s.replayed or nil
  for _, c in ipairs(s.checkpoints or {}) do
    M.register_checkpoint(t, c, experiment_dir)
  end
  return t
end

--- Registers a checkpoint record {dir, storage, metrics} on a trial.
function M.register_checkpoint(trial, c, experiment_dir)
  local dir = c.dir
  if experiment_dir and trial.logdir and not core.stat(dir) then
    -- The experiment moved: the checkpoint keeps its name in the trial dir.
    local base = dir:match("[^/]+$")
    dir = util.join(trial.logdir, base)
  end
  trial.checkpoint_manager:on_checkpoint(checkpoint.Checkpoint{
    dir_or_data = dir, storage_mode = c.storage or "PERSISTENT", metrics = c.metrics})
end

--- Checkpoint directories on disk that the journal does not know (a crash
--- between their commit and its journal entry): each has metadata.
function M.unregistered_checkpoints(trial)
  if not trial.logdir then return {} end
  local known = {}
  for _, c in ipairs(trial.checkpoint_manager.persistent) do known[c.dir_or_data] = true end
  local found = {}
  for _, name in ipairs(core.listdir(trial.logdir) or {}) do
    if name:match("^checkpoint_%d+$") then
      local dir = util.join(trial.logdir, name)
      local meta = core.read_file(dir .. "/.tune_metadata.json")
      if meta and not known[dir] then
        -- Its metadata has the counters; its result row (logged before it
        -- was saved) what checkpoint_score_attr ranks it by, as a journaled one.
        local metrics = core.json_decode(meta) or {}
        local it = math.tointeger(metrics.training_iteration)
        local row = it and M.last_logged_result(trial, it)
        if row and row.training_iteration == it then metrics = util.merge(row, metrics) end
        found[#found + 1] = {dir = dir, storage = "PERSISTENT", metrics = metrics}
      end
    end
  end
  return found
end

--- Removes a trial's .memory_checkpoint_* directories (left by a driver
--- that died: nothing refers to them any more).
function M.remove_memory_checkpoints(trial)
  if not trial.logdir then return end
  for _, name in ipairs(core.listdir(trial.logdir) or {}) do
    if name:match("^%.memory_checkpoint_[%w_]+$") then core.remove_tree(util.join(trial.logdir, name)) end
  end
end

--- Writes a file resume repairs (cutting torn lines); a failure (a full
--- disk) refuses the resume with what went wrong, nothing else changed
--- yet by this file's write.
local function rewrite(path, text)
  local ok, err = core.write_atomic(path, text)
  if not ok then
    require("tune.experiment.refusal").refuse("tune.run: cannot resume: cannot write " .. util.with_path(path, err))
  end
end

--- A trial that runs again from a checkpoint of `iteration` (0: from the
--- start) will report iterations after it again: its result.json and
--- progress.csv keep only the rows up to it (and lose a torn last line),
--- each rewritten atomically when something goes, so a resume neither
--- repeats nor skips an iteration in them.
function M.trim_logs(trial, iteration)
  if not trial.logdir then return end
  local path = util.join(trial.logdir, "result.json")
  local text = core.read_file(path)
  if text then
    local keep, dropped = {}, false
    for line, nl in text:gmatch("([^\n]*)(\n?)") do
      if line ~= "" then
        local r = nl == "\n" and core.json_decode(line) or nil
        local it = type(r) == "table" and tonumber(r.training_iteration) or nil
        if r and (it == nil or it <= iteration) then keep[#keep + 1] = line .. "\n" else dropped = true end
      end
    end
    if dropped then rewrite(path, table.concat(keep)) end
  end
  path = util.join(trial.logdir, "progress.csv")
  text = core.read_file(path)
  if text and text ~= "" then
    local header = text:match("^([^\n]*)\n")
    local col
    if header then
      local i = 0
      for name in (header .. ","):gmatch("([^,]*),") do
        i = i + 1
        if name == "training_iteration" then col = i end
      end
    end
    local keep, dropped, first = {}, false, true
    for line, nl in text:gmatch("([^\n]*)(\n?)") do
      if first then
        first = false
        if nl == "\n" then keep[1] = line .. "\n" else dropped = true end
      elseif line ~= "" then
        local it
        if col then
          local i = 0
          for v in (line .. ","):gmatch("([^,]*),") do
            i = i + 1
            if i == col then it = tonumber(v) break end
          end
        end
        if nl == "\n" and (it == nil or it <= iteration) then keep[#keep + 1] = line .. "\n" else dropped = true end
      end
    end
    if dropped then rewrite(path, table.concat(keep)) end
  end
end

--- Cuts a torn last entry (a crash in the middle of its write) off the
--- journal, so that the next entry starts on a line of its own.
function M.drop_torn_journal(dir)
  local path = util.join(dir, M.JOURNAL)
  local text = core.read_file(path)
  if text and text ~= "" and text:sub(-1) ~= "\n" then
    rewrite(path, text:match("^(.*\n)") or "")
  end
end

local function is_temporary(name)
  return name:match("%.tmp%-%d+$") or name:match("^%..+%.tmp%-%d+%-%d+$")
end

--- Removes the temporaries directly in directory d; returns its other names.
local function remove_temporaries_in(d)
  local rest = {}
  for _, name in ipairs(core.listdir(d) or {}) do
    if is_temporary(name) then core.remove_tree(util.join(d, name)) else rest[#rest + 1] = name end
  end
  return rest
end

--- Removes what a killed driver or worker left half-written: files
--- "<name>.tmp-<pid>" (atomic writes) and ".<name>.tmp-<pid>-<n>"
--- checkpoint directories in the experiment's directory, in its trials'
--- directories and in every other directory directly under it (one made
--- ahead for a trial whose start the state had not recorded yet), and the
--- directories made ahead for trials that had not started (no trial's
--- directory, holding nothing but what was made with it). Only a resume
--- calls it: no process of the experiment is alive then.
function M.remove_temporaries(dir, trials)
  local seen = {[dir] = true}
  for _, t in ipairs(trials) do
    local d = rawget(t, "logdir")
    if d and not seen[d] then
      seen[d] = true
      remove_temporaries_in(d)
    end
  end
  for _, name in ipairs(remove_temporaries_in(dir)) do
    local path = util.join(dir, name)
    if not seen[path] and core.stat(path) == "directory" then
      remove_temporaries_in(path)
      trial_mod.remove_unused_logdir(path)
    end
  end
end

--- Drops a torn last line (no newline: a crash or a full disk in the
--- middle of a write) from the trial's result.json and progress.csv, so
--- that what is appended later starts on a line of its own.
function M.drop_torn_lines(trial)
  if not trial.logdir then return end
  for _, name in ipairs({"result.json", "progress.csv"}) do
    local path = util.join(trial.logdir, name)
    local f = io.open(path, "rb")
    if f then
      local size = f:seek("end")
      local last = size > 0 and f:seek("set", size - 1) and f:read(1) or "\n"
      f:close()
      if last ~= "\n" then
        local text = assert(core.read_file(path))
        rewrite(path, text:match("^(.*\n)") or "")
      end
    end
  end
end

--- The last complete row of a trial's progress.csv (an experiment logged
--- with the CSV logger alone): its columns as progress.csv has them
--- ("a/b" for nested metrics), without the config's, and the trial's
--- config; or nil.
local function last_csv_row(trial, upto)
  local text = core.read_file(util.join(trial.logdir, "progress.csv"))
  -- Complete lines only: a torn last row would read as shorter values.
  text = text and text:match("^(.*\n)")
  if not text then return nil end
  local rows = require("tune.analysis.results").parse_progress_csv(text)
  local row
  for i = #rows, 1, -1 do
    local it = tonumber(rows[i].training_iteration)
    if upto == nil or it == nil or it <= upto then
      row = rows[i]
      break
    end
  end
  if not row then return nil end
  for k in pairs(row) do
    if type(k) == "string" and k:sub(1, 7) == "config/" then row[k] = nil end
  end
  row.config = trial.config
  return row
end

--- The last complete line of a trial's result.json, decoded; else (no
--- result.json, or no complete line in it) the last row of its
--- progress.csv; or nil. With `upto`, the last one of an iteration up to
--- it (what trim_logs(trial, upto) would leave).
function M.last_logged_result(trial, upto)
  if not trial.logdir then return nil end
  local text = core.read_file(util.join(trial.logdir, "result.json"))
  local last
  for line, nl in (text or ""):gmatch("([^\n]*)(\n?)") do
    local r = nl == "\n" and line ~= "" and core.json_decode(line) or nil
    if type(r) == "table" then
      local it = tonumber(r.training_iteration)
      if upto == nil or it == nil or it <= upto then last = r end
    end
  end
  return last or last_csv_row(trial, upto)
end

return M
