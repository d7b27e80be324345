--- tune.analysis.state: an experiment read back from its directory
--- (internal): finds and checks the experiment_state files to analyse, and
--- turns their TRIAL records into TrialStub tables.
local class = require("tune.class")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

M.STATE_FORMAT = "tunelua.experiment_state"
M.STATE_VERSION = 1

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- `path` moved from under `from` to under `to`, or nil if it is not under `from`.
local function rebase(path, from, to)
  if type(path) ~= "string" or type(from) ~= "string" or type(to) ~= "string" then return nil end
  from = from:gsub("/+$", "")
  if path == from then return to end
  if path:sub(1, #from + 1) == from .. "/" then return util.join(to, path:sub(#from + 2)) end
  return nil
end

-- Reading the experiment state -------------------------------------------

local function check_state(state, where)
  if type(state) ~= "table" or getmetatable(state) ~= nil then
    return nil, where .. " is not a tunelua experiment state (not a JSON object)"
  end
  if state.format ~= M.STATE_FORMAT then
    return nil, string.format("%s is not a tunelua experiment state (format %s, expected %q)",
      where, state.format == nil and "missing" or string.format("%q", tostring(state.format)), M.STATE_FORMAT)
  end
  local v = state.version
  if type(v) ~= "number" or v ~= math.floor(v) then
    return nil, where .. " is not a valid tunelua experiment state (no integer \"version\")"
  end
  if v > M.STATE_VERSION then
    return nil, string.format("%s has experiment state version %d, newer than this tunelua reads (%d); "
      .. "use a newer tunelua", where, math.tointeger(v) or v, M.STATE_VERSION)
  end
  if state.trials ~= nil and type(state.trials) ~= "table" then
    return nil, where .. " is not a valid tunelua experiment state (\"trials\" is not a list)"
  end
  return state
end

local function read_state(path)
  local text, err = core.read_file(path)
  if not text then return nil, string.format("cannot read %s: %s", path, tostring(err)) end
  local state, derr = core.json_decode(text)
  if state == nil then
    -- A state file torn or damaged is corrupt; any other file is no state.
    if not path:match("experiment_state%-[^/]*%.json$") then
      return nil, string.format("%s is not a tunelua experiment state (not JSON: %s)", path, tostring(derr))
    end
    return nil, string.format("%s is corrupt: not valid JSON (%s)", path, tostring(derr))
  end
  return check_state(state, path)
end

--- The newest experiment_state-<timestamp>.json in `dir` (by the name's timestamp).
function M.find_newest_state(dir)
  local best, best_ts
  for _, name in ipairs(core.listdir(dir) or {}) do
    local ts = name:match("^experiment_state%-(.+)%.json$")
    if ts and (best_ts == nil or ts > best_ts) then best, best_ts = name, ts end
  end
  return best and util.join(dir, best) or nil
end

-- The journal ---------------------------------------------------------------

M.JOURNAL = "experiment_journal.jsonl"

--- The last complete line of the trial's result.json, decoded, or nil.
local function last_logged(logdir)
  local text = type(logdir) == "string" and core.read_file(util.join(logdir, "result.json")) or ""
  local e = #text
  while e > 0 and text:byte(e) ~= 10 do e = e - 1 end -- after it: a torn line
  local b = e - 1
  while b > 0 and text:byte(b) ~= 10 do b = b - 1 end
  local r = e > 0 and core.json_decode(text:sub(b + 1, e - 1))
  return type(r) == "table" and r or nil
end
M.last_logged = last_logged

--- The journal beside a state file has what happened after the state was
--- written, when the run goes on, was killed, or could not write its last
--- state (a full disk): its later entries are applied to `state.trials` as
--- a resume applies them (trials added, status changes, config changes,
--- checkpoints); a trial they changed takes its last result from its
--- result.json (`_journaled`: make_stub reads it). Lines that are not
--- entries are skipped (a resume refuses them; an analysis reads what it
--- can). Returns how many entries were applied.
local function apply_journal(state, dir)
  local text = core.read_file(util.join(dir, M.JOURNAL))
  if not text then return 0 end
  local after = math.tointeger(state.journal_seq) or 0
  local trials, at, applied = {}, {}, 0
  for _, rec in ipairs(type(state.trials) == "table" and state.trials or {}) do
    trials[#trials + 1] = rec
    if type(rec) == "table" and type(rec.trial_id) == "string" then at[rec.trial_id] = #trials end
  end
  -- Complete lines only: a torn last one is what a crash leaves.
  for line in text:gmatch("([^\n]*)\n") do
    local e = core.json_decode(line)
    local ev = type(e) == "table" and math.type(e.seq) == "integer" and e.seq > after and e.event
    if ev == "trial_added" and type(e.trial) == "table" and type(e.trial.trial_id) == "string" then
      local i = at[e.trial.trial_id] or #trials + 1
      trials[i], at[e.trial.trial_id] = e.trial, i
      e.trial._journaled = true
      applied = applied + 1
    elseif ev and type(e.trial_id) == "string" and type(trials[at[e.trial_id] or 0]) == "table" then
      local rec = trials[at[e.trial_id]]
      if ev == "status" and type(e.status) == "string" then
        rec.status, rec.num_failures, rec.error_msg = e.status, e.num_failures, e.error_msg
        if type(e.logdir) == "string" then
          -- Its place in the experiment, where the entry says (a moved run's).
          rec.logdir = e.logdir
          rec.relative_logdir = type(e.relative_logdir) == "string" and e.relative_logdir or nil
        end
        rec._journaled = true
      elseif ev == "changed" and type(e.config) == "table" then
        rec.config, rec.experiment_tag = e.config, e.experiment_tag
      elseif ev == "checkpoint" and type(e.dir) == "string" then
        if type(rec.checkpoints) ~= "table" then rec.checkpoints = {} end
        table.insert(rec.checkpoints, {dir = e.dir, storage = e.storage, metrics = e.metrics})
        rec._saved_since = true
      end
      applied = applied + 1
    end
  end
  state.trials = trials
  return applied
end

--- The states to analyse: {{state=, dir=, file=}, ...} or nil, err. A
--- directory without a state file is searched one level down (a local_dir
--- holding several experiments), as Ray does.
local function load_sources(path_or_state)
  if type(path_or_state) == "table" then
    local state, err = check_state(path_or_state, "the experiment state table")
    if not state then return nil, err end
    local dir = type(state.experiment_dir) == "string" and state.experiment_dir or nil
    return {{state = state, dir = dir}}
  end
  if type(path_or_state) ~= "string" or path_or_state == "" then
    return nil, "expected an experiment directory, an experiment_state file or a state table, got "
      .. (path_or_state == "" and "an empty path" or type(path_or_state))
  end
  local path = util.abspath(util.expanduser(path_or_state))
  if #path > 1 then path = path:gsub("/+$", "") end
  local kind = core.stat(path)
  if kind == nil then
    return nil, string.format("the path `%s` does not exist and cannot be loaded for experiment analysis", path)
  end
  local files = {}
  if kind == "directory" then
    local newest = M.find_newest_state(path)
    if newest then
      files[1] = newest
    else
      for _, name in ipairs(core.listdir(path) or {}) do
        local sub = util.join(path, name)
        if core.stat(sub) == "directory" then
          local f = M.find_newest_state(sub)
          if f then files[#files + 1] = f end
        end
      end
    end
    if #files == 0 then
      return nil, string.format("the directory `%s` does not contain a tunelua experiment state "
        .. "(experiment_state-*.json)", path)
    end
  else
    files[1] = path
  end
  -- Among several experiments, a corrupt one is skipped with a warning;
  -- the one asked for by name, or every one corrupt, is an error.
  local sources, errs = {}, {}
  for _, f in ipairs(files) do
    local state, err = read_state(f)
    if state then
      -- The journal beside it follows the newest state only (an older or
      -- archived one is not where the journal starts from).
      local dir = dirname(f)
      local journaled = M.find_newest_state(dir) == f and apply_journal(state, dir) or 0
      sources[#sources + 1] = {state = state, dir = dir, file = f, journaled = journaled}
    elseif #files == 1 then
      return nil, err
    else
      errs[#errs + 1] = err
      io.stderr:write("tune.analysis: WARNING: skipping an experiment: ", err, "\n")
    end
  end
  if #sources == 0 then return nil, table.concat(errs, "; ") end
  return sources
end
M.load_sources = load_sources

-- Trials -------------------------------------------------------------------

--- A trial read from a state file: the TRIAL record's fields, JSON nulls
--- dropped, logdir and checkpoint paths resolved against where the
--- experiment directory is now.
local TrialStub = class.class("TrialStub")

function TrialStub:__tostring()
  if type(self.custom_trial_name) == "string" then return self.custom_trial_name end
  return string.format("%s_%s", tostring(self.trainable_name), tostring(self.trial_id))
end
--- `trial.checkpoint`, as a live Trial's after its run (Ray's
--- Trial.checkpoint): its newest persistent checkpoint, else its
--- restore_path; a Checkpoint whose dir_or_data is nil when neither.
TrialStub.__index = function(self, k)
  local v = TrialStub[k]
  if v ~= nil or k ~= "checkpoint" then return v end
  local ckpt = require("tune.executor.checkpoint")
  local list = rawget(self, "checkpoints") or {}
  local newest = list[#list]
  local dir = newest and newest.dir or rawget(self, "restore_path")
  return ckpt.Checkpoint{dir_or_data = dir, storage_mode = ckpt.CheckpointStorage.PERSISTENT,
    metrics = newest and newest.metrics or nil}
end

M.TrialStub = TrialStub

local function make_stub(rec, src)
  local t = setmetatable({}, TrialStub)
  for k, v in pairs(rec) do
    if v ~= core.null then t[k] = v end
  end
  t.config = type(rec.config) == "table" and rec.config or {}
  t._journaled, t._saved_since = nil, nil
  t.last_result = type(rec.last_result) == "table" and rec.last_result or {}
  t.num_failures = tonumber(rec.num_failures) or 0
  local orig_exp = type(src.state.experiment_dir) == "string" and src.state.experiment_dir or nil
  local orig_logdir = type(rec.logdir) == "string" and rec.logdir or nil
  local rel = type(rec.relative_logdir) == "string" and rec.relative_logdir or nil
  if not rel and orig_logdir and orig_exp then
    local r = rebase(orig_logdir, orig_exp, "")
    if r then rel = r:gsub("^/+", "") end
  end
  local logdir = orig_logdir
  if src.dir and rel and rel ~= "" then
    local here = util.join(src.dir, rel)
    if core.stat(here) == "directory" or not (logdir and core.stat(logdir) == "directory") then
      logdir = here
    end
  end
  t.logdir = logdir
  -- Changed by the journal after the state was written: its last result
  -- is its log's (the state's is older, or none).
  if rec._journaled then t.last_result = last_logged(logdir) or t.last_result end
  t.local_dir = src.dir
  t.experiment_name = type(src.state.name) == "string" and src.state.name or nil
  t.checkpoints = {}
  if type(rec.checkpoints) == "table" then
    for _, c in ipairs(rec.checkpoints) do
      local d = type(c) == "table" and type(c.dir) == "string" and c.storage ~= "MEMORY" and c.dir
      if d and logdir ~= orig_logdir then
        d = rebase(d, orig_logdir, logdir) or rebase(d, orig_exp, src.dir) or d
      end
      -- Saved after the state was written (the journal's): the run went on
      -- and deleted those keep_checkpoints_num no longer kept, which no
      -- entry records; listed, one could be the "best" and not be there.
      if d and rec._saved_since and core.stat(d) == nil then d = nil end
      if d then
        t.checkpoints[#t.checkpoints + 1] = {dir = d, storage = c.storage or "PERSISTENT",
          metrics = type(c.metrics) == "table" and c.metrics or {}}
      end
    end
  end
  return t
end
M.make_stub = make_stub

return M
