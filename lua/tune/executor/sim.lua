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

local recording_mod = require("tune.executor.recording")
M.canonical = recording_mod.canonical
M.load_recording = recording_mod.load
local canonical = recording_mod.canonical

local Sim = TrialExecutor:extend(nil, "SimulatedExecutor")

local OWN = {curve = true, replay = true, time_per_iteration = true, reserve_delay = true, reserve_error = true}
local MAX_VIRTUAL_S = core.max_wait_s -- the engine's TUNE_MAX_WAIT_S

--- SimulatedExecutor{num_cpus = 1, num_gpus = 0, resources = {...},
--- curve = function(config, iteration, trial), replay = dir,
--- time_per_iteration = 1, reuse_actors = false, ...}: any other
--- TrialExecutor option is passed on.
function Sim:__init(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("SimulatedExecutor: expected a table of options, got " .. type(opts), 3) end
  -- Its own options and the executor's, before what they mean (a "curv" is named, not taken for no curve).
  util.check_options("SimulatedExecutor", opts, util.merge(OWN, require("tune.executor").KNOWN_OPTIONS), 3)
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
  local warned = false -- of a trial asked past a recording cut short (said once)
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
        -- Past its rows it ends as if its trainable had returned.
        local why = m == nil and not warned and recording_mod.cut_short(r.rows, trial, iteration, replay)
        if why then
          io.stderr:write(why)
          warned = true
        end
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
