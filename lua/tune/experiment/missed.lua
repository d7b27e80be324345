--- After --resume: the results the search algorithm was given after the
--- snapshot its state comes from, and that no trial reports again (its
--- logs keep them: a trial that ended, or one that restarts from a later
--- checkpoint), given to it again from the trials' logs, in the order the
--- journal had them (docs/reliability.md, "Searchers learn what the
--- snapshot missed"). The scheduler may add again what it added to them
--- during the run (its optional hook annotate_replayed_result:
--- HyperBandForBOHB's budget). A scheduler that records them (ASHA, median
--- stopping: replays_missed_results) is given them too, and the ends.
local core = require("tune.core")
local results = require("tune.experiment.results")
local util = require("tune.util")

local M = {}
local Missed = {}
Missed.__index = Missed

--- Whether the search algorithm (or the searcher it wraps) learns from
--- intermediate results at all: else no log is read.
local function learns(p)
  for _ = 1, 8 do
    if type(p) ~= "table" or p.on_trial_result == util.noop then return false end
    local inner = p.searcher
    if type(inner) ~= "table" then return type(p.on_trial_result) == "function" end
    p = inner
  end
  return true
end

local function iteration(r) return type(r) == "table" and tonumber(r.training_iteration) or nil end

--- A progress.csv row (`config/x`, `val/loss`) nested again as the
--- result was (`config.x`): a searcher reads result.config.
local function unflatten(row)
  local out = {}
  for k, v in pairs(row) do
    local t, rest = out, k
    for part, more in k:gmatch("([^/]+)(/?)") do
      if more == "" then break end
      if type(t[part]) ~= "table" then t[part] = {} end
      t, rest = t[part], rest:sub(#part + 2)
    end
    if type(t[rest]) ~= "table" then t[rest] = v end -- (an empty config's column beside none)
  end
  return out
end

--- A trial's logged results (result.json's complete lines, else progress.csv's rows), in order.
local function logged(t)
  local dir = rawget(t, "logdir")
  if not dir then return {} end
  local rows, n, bad = {}, 0, nil
  local path = util.join(dir, "result.json")
  local text = core.read_file(path)
  for line, nl in (text or ""):gmatch("([^\n]*)(\n?)") do
    if nl == "\n" then n = n + 1 end
    local r = nl == "\n" and line ~= "" and core.json_decode(line) or nil
    if type(r) == "table" then rows[#rows + 1] = r elseif nl == "\n" and line ~= "" then bad = bad or n end
  end
  -- (A line cut short by the crash has no newline: that one is expected.)
  if bad then
    io.stderr:write(string.format("tunelua warning: resuming, line %d of %s is not a result: the search algorithm "
      .. "is not given it again\n", bad, path))
  end
  if #rows == 0 then
    text = core.read_file(util.join(dir, "progress.csv"))
    text = text and text:match("^(.*\n)")
    if text then
      rows = require("tune.analysis.results").parse_progress_csv(text)
      for i, row in ipairs(rows) do rows[i] = unflatten(row) end
    end
  end
  return rows
end

--- `state`, `entries`: the snapshot and the journal after it; `restored`:
--- the trials, before their logs are cut to the checkpoint they restart from.
--- A scheduler whose class sets `replays_missed_results` (ASHA, median
--- stopping: their records are the snapshot's too) is given them as well
--- (what a trial that restarts from an older checkpoint reports again, it
--- is given again, as after a retry), and the ends (Missed:complete).
function M.new(runner, state, entries, restored)
  local sched = runner.scheduler
  sched = type(sched) == "table" and sched.replays_missed_results and sched or nil
  local self = setmetatable({runner = runner, todo = {}, learns = learns(runner.search_alg), sched = sched}, Missed)
  if not self.learns and not sched then return self end
  local seen, skip, sskip = {}, {}, {}
  for _, s in ipairs(state.trials or {}) do
    if type(s) == "table" and s.trial_id ~= nil then
      -- One that had ended had given all (what it reports again if it runs again comes again).
      local ended = s.status == "TERMINATED" or s.status == "ERROR"
      seen[s.trial_id] = ended and math.huge or iteration(s.last_result) or 0
      skip[s.trial_id] = {[tonumber(s.finishing) or -1] = true}
      sskip[s.trial_id] = {[tonumber(s.finishing) or -1] = true}
    end
  end
  -- A result the runner stopped its trial at went to on_trial_complete, not on_trial_result
  -- (the scheduler's on_trial_result had it when the STOP was its own).
  for _, e in ipairs(entries) do
    if e.event == "finishing" and e.trial_id ~= nil then
      local it = tonumber(e.iteration) or -1
      skip[e.trial_id] = skip[e.trial_id] or {}
      skip[e.trial_id][it] = true
      sskip[e.trial_id] = sskip[e.trial_id] or {}
      if not e.scheduler then sskip[e.trial_id][it] = true end
    end
  end
  for _, t in ipairs(restored) do
    local id = t.trial_id
    local from = seen[id] or 0
    if from < math.huge and rawget(t, "logdir") then
      -- One that runs again (a checkpoint it asked for at its end never
      -- came) reports its stopping result again, to be judged again.
      local again = t.status == "PENDING" or t.status == "PAUSED"
      self.todo[id] = {from = from, skip = skip[id] or {}, sskip = (again and skip[id] or sskip[id]) or {}}
    end
  end
  return self
end

--- A trial that ended after the snapshot: the scheduler that takes the
--- missed results is told, as the runner told it (on_trial_complete).
function Missed:complete(t)
  if self.sched and t.status == "TERMINATED" then
    self.runner:_scheduler("on_trial_complete", nil, t, results.flat_view(t.last_result))
  end
end

--- Gives the search algorithm (and the scheduler that takes them) the
--- trial's missed results up to iteration `upto` (all with nil) that it
--- was not given yet.
function Missed:feed(t, upto)
  local job = t and self.todo[t.trial_id]
  if not job then return end
  local runner = self.runner
  job.rows = job.rows or logged(t)
  job.next = job.next or 1
  local limit = tonumber(upto) or math.huge
  while job.next <= #job.rows do
    local row = job.rows[job.next]
    local it = iteration(row) or 0
    if it > limit then return end
    job.next = job.next + 1
    if it > job.from and self.learns and not job.skip[it] then
      local flat, prev = results.flat_view(row), job.rows[job.next - 2]
      runner:_scheduler("annotate_replayed_result", nil, t, flat, prev and results.flat_view(prev))
      runner:_search("on_trial_result", nil, t.trial_id, flat)
    end
    if it > job.from and self.sched and not job.sskip[it] then
      runner:_scheduler("on_trial_result", nil, t, results.flat_view(row)) -- its decision was made then
    end
  end
  self.todo[t.trial_id] = nil
end

--- The rest of every trial's, in the trials' order.
function Missed:feed_all(trials)
  for _, t in ipairs(trials) do self:feed(t, nil) end
end

return M
