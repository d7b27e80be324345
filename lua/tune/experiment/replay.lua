--- The trials a resume restores, as the files record them: the newest
--- snapshot's with the journal's later entries applied, and moved into
--- the directory being resumed when the experiment was moved or copied
--- since (Ray's TrialRunner.resume): every path the files hold inside the
--- experiment directory of the run that wrote it (a trial's local_dir,
--- logdir and error file, its checkpoints) is taken to the same place
--- under the directory resumed, so that nothing is read from or written
--- to the old one (docs/architecture.md, "Persistence and resume").
local core = require("tune.core")
local persistence = require("tune.experiment.persistence")
local util = require("tune.util")

local M = {}

local null = core.null

local relative = persistence.relative

--- `path` with `rel` cut off its end: the directory it was relative to.
local function base_of(path, rel)
  if type(path) ~= "string" or type(rel) ~= "string" then return nil end
  if rel == "" then return path end
  if #path > #rel + 1 and path:sub(-#rel - 1) == "/" .. rel then return path:sub(1, -#rel - 2) end
  return nil
end

--- The experiment directories the files were written in: the snapshot's,
--- and those the journal's status entries tell with a trial's directory
--- and its place in the experiment (a run resumed elsewhere and killed
--- before its first snapshot left entries after the snapshot of another).
--- Each maps to `dir`, which maps to itself; the longest first, so that
--- the nearest one counts.
local function old_dirs(state, entries, dir)
  local seen, list = {[dir] = true}, {dir}
  local function add(d)
    if type(d) == "string" and d ~= "" and not seen[d] then
      seen[d] = true
      list[#list + 1] = d
    end
  end
  add(state.experiment_dir)
  for _, e in ipairs(entries) do
    if e.event == "status" then add(base_of(e.logdir, e.relative_logdir)) end
  end
  table.sort(list, function(a, b) return #a > #b end)
  return list
end

--- `path` moved into `dir` when it lies in one of `olds`.
local function move(path, olds, dir)
  if type(path) ~= "string" then return path end
  for _, old in ipairs(olds) do
    local rel = relative(path, old)
    if rel then
      if old == dir then return path end
      return rel == "" and dir or util.join(dir, rel)
    end
  end
  return path
end

--- A path and the part of it under the experiment directory, moved:
--- by that part when the files give it, else by the directories known.
local function moved(path, rel, olds, dir)
  if type(rel) == "string" and type(path) == "string" then
    return rel == "" and dir or util.join(dir, rel)
  end
  return move(path, olds, dir)
end

--- A serialized trial's paths, moved into `dir` (in place).
local function move_trial(s, olds, dir)
  s.local_dir = moved(s.local_dir, s.relative_local_dir, olds, dir)
  if s.logdir ~= nil and s.logdir ~= null then s.logdir = moved(s.logdir, s.relative_logdir, olds, dir) end
  s.error_file = move(s.error_file, olds, dir)
  for _, c in ipairs(type(s.checkpoints) == "table" and s.checkpoints or {}) do
    if type(c) == "table" then c.dir = move(c.dir, olds, dir) end
  end
end

--- The trials of the newest snapshot with the journal's later entries
--- applied, in order, their paths in `dir`; the checkpoints the journal
--- registered; the iteration each trial's journaled stop was decided at.
--- `loader` (this run's, when given) replaces each trial's recorded one:
--- its worker loads the trainable as a new trial of this run would (the
--- script run now, from where it runs now; a registered trainable from
--- its registration), not from where the files were written.
function M.trials(state, entries, dir, loader)
  local olds = old_dirs(state, entries, dir)
  local by_id, order = {}, {}
  local ckpts, finishing = {}, {}
  for _, s in ipairs(state.trials) do
    by_id[s.trial_id] = s
    order[#order + 1] = s.trial_id
    finishing[s.trial_id] = tonumber(s.finishing)
  end
  for _, e in ipairs(entries) do
    if e.event == "trial_added" and type(e.trial) == "table" then
      if not by_id[e.trial.trial_id] then order[#order + 1] = e.trial.trial_id end
      by_id[e.trial.trial_id] = e.trial
    elseif e.event == "status" and by_id[e.trial_id] then
      local s = by_id[e.trial_id]
      s.status, s.num_failures, s.error_msg = e.status, e.num_failures, e.error_msg
      if e.logdir and e.logdir ~= null then s.logdir, s.relative_logdir = e.logdir, e.relative_logdir end
    elseif e.event == "changed" and by_id[e.trial_id] then
      local s = by_id[e.trial_id]
      s.config, s.experiment_tag, s.resources = e.config, e.experiment_tag, e.resources
    elseif e.event == "replayed" and by_id[e.trial_id] then
      by_id[e.trial_id].replayed = e.replayed
    elseif e.event == "finishing" then
      finishing[e.trial_id] = tonumber(e.iteration) or 0
    elseif e.event == "checkpoint" then
      e.dir = move(e.dir, olds, dir)
      ckpts[e.trial_id] = ckpts[e.trial_id] or {}
      table.insert(ckpts[e.trial_id], e)
    end
  end
  for _, id in ipairs(order) do
    move_trial(by_id[id], olds, dir)
    if loader then by_id[id].loader = loader end
  end
  return by_id, order, ckpts, finishing
end

return M
