--- The recording a simulator's replay reads (executor/sim.lua, docs/reference/executor.md):
--- each recorded trial's rows by config, from a finished experiment's
--- directory.
local core = require("tune.core")
local util = require("tune.util")

local M = {}

--- Fields the engine fills: a replayed result reports only the rest
--- (time_this_iter_s included, so time fields follow the recording).
local AUTO = {training_iteration = true, time_total_s = true, timestamp = true, date = true, pid = true,
  hostname = true, node_ip = true, trial_id = true, experiment_id = true, time_since_restore = true,
  timesteps_since_restore = true, iterations_since_restore = true, experiment_tag = true, config = true,
  done = true, episodes_total = true, timesteps_total = true, neg_mean_loss = true}

--- A config as text with sorted keys: equal configs, equal keys. Floats
--- with all their digits (%.17g): 0.3 and 0.1 + 0.2 are two configs.
local function canonical(v)
  if type(v) ~= "table" then
    if type(v) == "string" then return string.format("%q", v) end
    if math.type(v) == "float" then
      if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
      return string.format("%.17g", v)
    end
    return tostring(v)
  end
  local parts = {}
  for _, k in ipairs(util.sorted_keys(v)) do parts[#parts + 1] = tostring(k) .. "=" .. canonical(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
M.canonical = canonical

--- A recorded trial's rows, in the order it logged them, with a restart
--- undone: a trial restarted (max_failures, a restore) logs a row with
--- iterations_since_restore 1 again, at the training_iteration it went
--- on from, and the rows it had logged at that iteration or later are
--- gone. (training_iteration values are not taken for row numbers: a
--- trainable may report its own.) Returns the rows (a list 1..n) and how many lines
--- were left out (not an object).
local function recorded_rows(text)
  local rows, its, bad = {}, {}, 0
  for line in text:gmatch("[^\n]+") do
    local r = core.json_decode(line)
    -- An object: a non-empty JSON array decodes with integer keys.
    if type(r) == "table" and getmetatable(r) ~= core.array_mt and math.type(next(r)) == nil then
      local it = type(r.training_iteration) == "number" and r.training_iteration or nil
      if r.iterations_since_restore == 1 and it then
        -- A restart: the rows logged from its iteration on are gone.
        while #rows > 0 and its[#rows] ~= nil and its[#rows] >= it do
          rows[#rows], its[#rows] = nil, nil
        end
      end
      local m = {}
      for k, v in pairs(r) do if not AUTO[k] then m[k] = v end end
      rows[#rows + 1] = m
      its[#rows] = it
    else
      bad = bad + 1
    end
  end
  return rows, bad
end

--- A trial id's creation order, when every id is tune.run's
--- "<prefix>_<counter>" with one prefix (the counter may outgrow its five
--- digits); nil otherwise (a searcher's own ids): the state's order then.
local function creation_order(recs)
  local prefix
  for _, rec in ipairs(recs) do
    local p = type(rec.trial_id) == "string" and rec.trial_id:match("^(.-)_%d+$")
    if not p or (prefix and p ~= prefix) then return nil end
    prefix = p
  end
  return function(a, b) return tonumber(a.trial_id:match("_(%d+)$")) < tonumber(b.trial_id:match("_(%d+)$")) end
end

--- The recorded trials of a finished experiment: canonical config -> a
--- list with one entry per recorded trial of that config, in the order
--- the trials were created (the experiment state's): {rows = the
--- metrics of each iteration, by training_iteration, error = the
--- recorded failure's message for a trial that ended in ERROR}, or false
--- for a trial recorded without a result (and without a failure); and
--- the recorded trials by number, {key = its canonical config, k = its
--- place in that config's list}, in the order read (a trial's `replayed`
--- names recordings by these numbers). Only files inside `dir` are
--- read. A line of result.json that is not a JSON object (a line torn by
--- a crash) is left out, with a warning. An entry whose rows may end
--- before its trainable did says why in `cut` (M.cut_short).
function M.load(dir)
  local state = require("tune.analysis.state")
  local sources, err = state.load_sources(dir)
  if not sources then error(err, 0) end
  local by_config, numbered, n, longest, ended = {}, {}, 0, 0, {}
  for _, src in ipairs(sources) do
    local sched = type(src.state.plugins) == "table" and src.state.plugins.scheduler
    local pruner = type(sched) == "string" and sched ~= "FIFOScheduler" and sched or nil
    -- A retried trial went to the back of the experiment's list (Ray's
    -- requeue): the ids' counter says the order of creation.
    local recs = {}
    for _, rec in ipairs(src.state.trials or {}) do
      if type(rec) == "table" and type(rec.trial_id) == "string" then recs[#recs + 1] = rec end
    end
    local order = creation_order(recs)
    if order then table.sort(recs, order) end
    for _, rec in ipairs(recs) do
      local t = state.make_stub(rec, src)
      local path = type(t.logdir) == "string" and util.join(t.logdir, "result.json") or nil
      if path and not util.within(util.abspath(path), util.abspath(src.dir)) then path = nil end
      local rows, bad = recorded_rows(path and core.read_file(path) or "")
      if bad > 0 then
        io.stderr:write(string.format("tunelua warning: replay: %s: %s left out\n", path,
          bad == 1 and "1 line that is not a result" or bad .. " lines that are not results"))
      end
      local key = canonical(t.config)
      local list = by_config[key] or {}
      by_config[key] = list
      local failed = t.status == "ERROR" and (type(t.error_msg) == "string" and t.error_msg or "the trial failed")
      local entry = (#rows > 0 or failed) and {rows = rows, error = failed or nil}
      list[#list + 1] = entry
      numbered[#numbered + 1] = {key = key, k = #list}
      if #rows > 0 then n = n + 1 end
      longest = math.max(longest, #rows)
      -- Why its rows may end before its trainable did (see cut_short).
      if entry and not failed then
        ended[#ended + 1] = {entry = entry, status = t.status, pruner = pruner}
      end
    end
  end
  if n == 0 then error(dir .. " holds no recorded results to replay", 0) end
  for _, e in ipairs(ended) do
    if e.status ~= "TERMINATED" then
      e.entry.cut = string.format("the trial was %s when the recorded run ended", tostring(e.status))
    elseif e.pruner and #e.entry.rows < longest then
      e.entry.cut = e.pruner .. ", the recording's scheduler, may have stopped it early"
    end
  end
  return by_config, numbered
end

--- The warning for a trial asked for `iteration`, past the rows of a
--- recording `entry` that may end before its trainable did (one the
--- recorded run had not finished, or one shorter than the longest under
--- an early-stopping scheduler): it ends there, as if its trainable had
--- returned. nil when the recording ended with its trainable.
function M.cut_short(entry, trial, iteration, dir)
  if not entry.cut then return nil end
  return string.format("tunelua warning: replay: trial %s asked for iteration %d, but its recording ends at row %d, "
    .. "so it ends there: %s (in %s; replay a finished run made without early stopping to compare schedulers)\n",
    tostring(trial), iteration, #entry.rows, entry.cut, dir)
end

return M
