--- tune.SimulatedExecutor: a TrialExecutor on the simulator backend
--- (engine/backend_sim.c). The runner, scheduler, searcher, stoppers and
--- loggers are the real ones; only the trials are simulated, on a virtual
--- clock, so an experiment of thousands of trials runs in seconds and the
--- same every time:
---   local ex = tune.SimulatedExecutor{num_cpus = 8,
---     curve = function(config, iteration, trial) return {loss = 1 / iteration} end}
---   tune.run("sim", {trial_executor = ex, scheduler = ..., num_samples = 1000})
--- curve(config, iteration, trial) returns the metrics of that iteration,
--- or nil when the simulated trainable is done. Each iteration takes
--- `time_per_iteration` (default 1) virtual seconds. `replay = dir` replays
--- a finished experiment instead: a trial whose config equals a recorded
--- one reports that trial's results (result.json) again. Checkpoints are
--- real directories holding the iteration; restoring replays from there.
local TrialExecutor = require("tune.executor").TrialExecutor
local core = require("tune.core")
local util = require("tune.util")
local check_trial = require("tune.experiment.trial").check

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
--- a crash) is left out, with a warning.
function M.load_recording(dir)
  local state = require("tune.analysis.state")
  local sources, err = state.load_sources(dir)
  if not sources then error(err, 0) end
  local by_config, numbered, n = {}, {}, 0
  for _, src in ipairs(sources) do
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
      list[#list + 1] = (#rows > 0 or failed) and {rows = rows, error = failed or nil}
      numbered[#numbered + 1] = {key = key, k = #list}
      if #rows > 0 then n = n + 1 end
    end
  end
  if n == 0 then error(dir .. " holds no recorded results to replay", 0) end
  return by_config, numbered
end

local Sim = TrialExecutor:extend(nil, "SimulatedExecutor")

local OWN = {curve = true, replay = true, time_per_iteration = true}
local MAX_VIRTUAL_S = core.max_wait_s -- the engine's TUNE_MAX_WAIT_S

--- SimulatedExecutor{num_cpus = 1, num_gpus = 0, resources = {...},
--- curve = function(config, iteration, trial), replay = dir,
--- time_per_iteration = 1, reuse_actors = false, ...}: any other
--- TrialExecutor option is passed on.
function Sim:__init(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("SimulatedExecutor: expected a table of options, got " .. type(opts), 3) end
  local curve, replay = opts.curve, opts.replay
  if curve ~= nil and type(curve) ~= "function" then
    error("SimulatedExecutor: curve must be a function(config, iteration, trial), got " .. type(curve), 3)
  end
  if replay ~= nil and type(replay) ~= "string" then
    error("SimulatedExecutor: replay must be an experiment directory, got " .. type(replay), 3)
  end
  if curve == nil and replay == nil then
    error("SimulatedExecutor: give a curve (function(config, iteration, trial)) or replay (a finished "
      .. "experiment directory): the simulator has nothing to report otherwise", 3)
  end
  local recording, numbered
  if replay then
    local ok, r, nums = pcall(M.load_recording, replay)
    if not ok then
      error("SimulatedExecutor: replay: " .. tostring(r):gsub("^[^:]+:%d+: ", ""):gsub("^SimulatedExecutor: ", ""), 3)
    end
    recording, numbered = r, nums
  end
  -- Virtual seconds, at most MAX_VIRTUAL_S: a clock far past it no longer
  -- moves by a one-second timeout (a double's spacing there is larger),
  -- and the simulation would spin in place.
  local tpi = opts.time_per_iteration or 1
  for _, k in ipairs({"time_per_iteration", "reserve_delay"}) do
    local v = k == "time_per_iteration" and tpi or opts[k]
    if v ~= nil and not (type(v) == "number" and v >= 0 and v <= MAX_VIRTUAL_S) then
      error(string.format("SimulatedExecutor: %s must be a number of virtual seconds in [0, %g], got %s", k,
        MAX_VIRTUAL_S, util.show_got(v)), 3)
    end
  end
  for _, k in ipairs({"backend", "backend_options", "sim_host"}) do
    if opts[k] ~= nil and not (k == "backend" and opts[k] == "sim") then
      error(string.format("SimulatedExecutor: %s is the simulator's own (got %s)", k, util.show_got(opts[k])), 3)
    end
  end
  if opts.reserve_error ~= nil and type(opts.reserve_error) ~= "string" then
    error("SimulatedExecutor: reserve_error must be a string, got " .. type(opts.reserve_error), 3)
  end
  self.iterations = 0
  self.time_per_iteration = tpi
  local trials = {}
  -- Per trial (by id): its own deep copy of the config, as a real worker
  -- has (made when the trial first asks after a start or a reset; start,
  -- reset, stop and pause drop it), and the recording it replays: the
  -- next unused recorded trial of its config, chosen the first time it
  -- asks (again only when its config changes).
  local copies, replays, used, numbers = {}, {}, {}, {}
  self._sim_copies = copies
  for g, rec in ipairs(numbered or {}) do
    numbers[rec.key] = numbers[rec.key] or {}
    numbers[rec.key][rec.k] = g
  end
  -- What a trial took stays with it, for a resume (Sim:on_resume):
  -- `trial.replayed` lists the numbers of the recordings it took, in
  -- order; a 0 after one says it asked again since, under a config with
  -- none left (or none recorded), so that one is no longer its own. The
  -- runner journals it (a new list each time: compared by identity) and
  -- the snapshot holds it, as it does the trial's config.
  local function keep(trial, g)
    local list = rawget(trial, "replayed") or {}
    local last = list[#list]
    if g == 0 and (last == nil or last == 0) then return end
    local new = table.move(list, 1, #list, 1, {})
    new[#new + 1] = g
    trial.replayed = new
    trial:changed()
  end
  local function assign(trial)
    local key = canonical(trial.config)
    local r = replays[trial.trial_id]
    if r == nil or r.key ~= key then
      local list = recording[key]
      local k, g = (used[key] or 0) + 1, 0
      if list and k <= #list then
        used[key] = k
        g = numbers[key][k]
      end
      r = {key = key, rows = list and list[k], recorded = list and #list or 0}
      replays[trial.trial_id] = r
      keep(trial, g)
    end
    r.src = trial.config
    return r
  end
  -- A restored trial: the recordings it took are taken, and the last one
  -- is its own again, unless it asked under another config since (or its
  -- config is another now: then it chooses again when it asks).
  function self._sim_restore(trial)
    local list = rawget(trial, "replayed")
    if not recording or type(list) ~= "table" then return end
    local r
    for _, g in ipairs(list) do
      local rec = numbered[math.tointeger(g) or 0]
      r = nil
      if rec then
        used[rec.key] = math.max(used[rec.key] or 0, rec.k)
        local l = recording[rec.key]
        r = {key = rec.key, rows = l[rec.k], recorded = #l}
      end
    end
    replays[trial.trial_id] = r
  end
  local function host(trial_id, iteration)
    local trial = trials[trial_id]
    local c = copies[trial_id]
    if c == nil then
      c = util.deepcopy(trial.config)
      copies[trial_id] = c
    end
    local m
    if recording then
      local r = replays[trial_id]
      if r == nil or r.src ~= trial.config then r = assign(trial) end
      if r.rows then
        m = r.rows.rows[iteration]
        -- A trial recorded as failed fails again after its last row.
        if m == nil and r.rows.error then error("replayed the recorded failure: " .. r.rows.error, 0) end
      elseif curve then
        m = curve(c, iteration, trial)
      elseif r.recorded == 0 then
        error("trial " .. tostring(trial) .. " has a config that " .. replay .. " did not record", 0)
      elseif r.rows == false then
        error("trial " .. tostring(trial) .. " has a config that " .. replay .. " recorded no result for", 0)
      else
        error(string.format("trial %s has a config that %s recorded for %d trial%s, each replayed already",
          tostring(trial), replay, r.recorded, r.recorded == 1 and "" or "s"), 0)
      end
    else
      m = curve(c, iteration, trial)
    end
    if m ~= nil then self.iterations = self.iterations + 1 end
    return m
  end
  local args = {}
  for k, v in pairs(opts) do if not OWN[k] then args[k] = v end end
  args.backend = "sim"
  args.sim_host = host
  -- 1 CPU and no GPU unless told (num_cpus, or resources = {CPU = n}).
  local key = require("tune.executor.node").key
  args.num_cpus = opts.num_cpus or (not key(opts.resources, "CPU") and 1 or nil)
  args.num_gpus = opts.num_gpus or (not key(opts.resources, "GPU") and 0 or nil)
  -- Not this machine's memory either: none unless given (the same
  -- simulation on any host).
  args.memory = opts.memory or 0
  args.backend_options = {time_per_iteration = tpi, reserve_delay = opts.reserve_delay,
    reserve_error = opts.reserve_error}
  args.reserve_delay, args.reserve_error = nil, nil
  args.prestart_workers = false
  -- The executor's refusals, as this constructor's (at the caller's line).
  local ok, err = pcall(TrialExecutor.__init, self, args)
  if not ok then
    error((tostring(err):gsub("^[^\n]-:%d+: ", ""):gsub("^TrialExecutor:", "SimulatedExecutor:")), 3)
  end
  -- The virtual clock moves while the runner waits for events: a wait of
  -- 0 would poll forever at one instant.
  -- (In a trial's worker the executor is a stand-in without options.)
  local wait = self.options.get_executor_event_wait_s
  if wait ~= nil and wait <= 0 then
    pcall(self.close, self)
    error("SimulatedExecutor: get_executor_event_wait_s (or TUNE_GET_EXECUTOR_EVENT_WAIT_S) must be above 0: "
      .. "the virtual clock moves only while the runner waits", 3)
  end
  trials = self._trials
  self.curve = curve
  self.replay = replay
end

--- The executor's methods cannot be called from inside the curve: the
--- engine is then in the middle of the request that asked for the
--- metrics. The core refuses every such call (bindings/lexecutor.c); the
--- methods below change the executor's or the trial's state before they
--- reach the core, so they ask first.
local function check_host(self) self._core:check_host() end

-- The wrappers check what the base would refuse before they drop the
-- trial's config copy (a refused start or stop does no harm), at the
-- caller's line.
function Sim:start_trial(trial, cap)
  check_host(self)
  check_trial(trial, "start_trial")
  if trial.status ~= "RUNNING" then self._sim_copies[trial.trial_id] = nil end
  return TrialExecutor.start_trial(self, trial, cap) -- a tail call: its errors point at the caller
end

function Sim:reset_trial(trial, new_config, new_experiment_tag)
  check_host(self)
  check_trial(trial, "reset_trial")
  local ok = TrialExecutor.reset_trial(self, trial, new_config, new_experiment_tag)
  self._sim_copies[trial.trial_id] = nil
  return ok
end

--- A simulated trial between iterations stops at once: what its worker does on the way out
--- happens at this virtual instant, so its resources are free for the
--- next decision (as a real trial's are once its process is gone).
function Sim:stop_trial(trial, error, error_msg, traceback)
  check_host(self)
  check_trial(trial, "stop_trial")
  local foreign = self:_foreign(trial)
  if foreign then _G.error(foreign, 2) end
  self._sim_copies[trial.trial_id] = nil
  TrialExecutor.stop_trial(self, trial, error, error_msg, traceback)
  self._core:poll()
end

function Sim:pause_trial(trial)
  check_host(self)
  check_trial(trial, "pause_trial")
  if trial.status ~= "RUNNING" then error("pause_trial: the trial is not running", 2) end
  self._sim_copies[trial.trial_id] = nil
  TrialExecutor.pause_trial(self, trial)
  self._core:poll()
end

--- The trials a resume restored, before any of them starts
--- (experiment/resume.lua): each keeps the recording it replayed, and the
--- recordings they took are not taken again.
function Sim:on_resume(trials)
  for _, t in ipairs(trials) do self._sim_restore(t) end
end

function Sim:save(trial, storage, result)
  check_host(self)
  return TrialExecutor.save(self, trial, storage, result)
end

-- tune.run's time budget and TimeoutStoppers count virtual seconds.
Sim.virtual_clock = true

--- tune.run gives the stoppers this clock (stopper.use_clock): with
--- iterations of 0 virtual seconds it may never move, which is said.
function Sim:use_virtual_clock(stopper)
  local unclock, n = require("tune.stopper").use_executor_clock(self, stopper)
  if n > 0 and self.time_per_iteration == 0 then
    io.stderr:write("tunelua warning: SimulatedExecutor: time_per_iteration is 0, so the virtual clock moves only "
      .. "by the time_this_iter_s a curve or a recording reports: time_budget_s or a TimeoutStopper may never "
      .. "end the run\n")
  end
  return unclock
end

M.SimulatedExecutor = Sim
return M
