--- tune.schedulers.HyperBandScheduler: Ray Tune 2.0's synchronous
--- HyperBand (https://arxiv.org/abs/1603.06560).
---
--- Trials fill brackets; a band holds s_max + 1 brackets of n(s) trials
--- that start at r(s) time units. When a trial reaches its bracket's
--- milestone it is PAUSED; when every live trial of the bracket got there,
--- the best 1/eta continue (PENDING again, resumed by choose_trial_to_run
--- from their pause checkpoint) and the rest stop. Results must reach the
--- scheduler one at a time: supports_buffered_results is false.
--- docs/reference/schedulers/hyperband.md lists where this differs from
--- Ray 2.0 (two fixes Ray made later, so no bracket can hang).
local util = require("tune.util")
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
local PENDING, RUNNING, PAUSED = "PENDING", "RUNNING", "PAUSED"

local OPTIONS = {
  time_attr = "training_iteration", metric = false, mode = false, max_t = 81, reduction_factor = 3,
  stop_last_trials = true,
}

local HyperBandScheduler = TrialScheduler:extend(nil, "HyperBandScheduler")
-- It ranks by a metric: tune.run refuses to start it without one.
HyperBandScheduler.requires_metric = true
HyperBandScheduler.OPTIONS = OPTIONS
HyperBandScheduler.supports_buffered_results = false

--------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------

local function opt(opts, k) return util.with_default(opts, OPTIONS, k) end

local round_half_even = util.round_half_even

--- Python's int(): truncation toward zero, as an integer.
local function int(x)
  if x >= 0 then return math.floor(x) end
  return math.ceil(x)
end

--- A stable sort (Python's sorted()): ties keep their order.
local function stable_sort(list, key)
  local keyed = {}
  for i, v in ipairs(list) do keyed[i] = {v = v, k = key(v), i = i} end
  table.sort(keyed, function(a, b)
    if a.k ~= b.k then return a.k < b.k end
    return a.i < b.i
  end)
  local out = {}
  for i, e in ipairs(keyed) do out[i] = e.v end
  return out
end

local function status_of(trial)
  return trial and trial.status
end

--- Sets a trial's status the way the runner's executor does (mocks may
--- have no executor).
local function set_status(runner, trial, status)
  local ex = runner and runner.trial_executor
  if ex and ex.set_status then
    ex:set_status(trial, status)
  elseif trial.set_status then
    trial:set_status(status)
  else
    trial.status = status
  end
end

--------------------------------------------------------------------------
-- _Bracket (Ray's): progress of one bracket, its live trials by id
--------------------------------------------------------------------------

local Bracket = {}
Bracket.__index = Bracket
HyperBandScheduler._Bracket = Bracket

function Bracket.new(o)
  local self = setmetatable({}, Bracket)
  self._live = {}        -- trial_id -> {t = time, m = metric} of its last result, or false
  self._order = {}       -- live trial ids, in the order added
  self._all_trials = {}  -- every trial id ever added
  self._ghosts = {}      -- after a resume: {id, t} of trials that ended past the milestone (see add_ghost)
  self._time_attr = o.time_attr
  self._n, self._n0 = o.max_trials, o.max_trials
  self._r, self._r0 = o.init_t_attr, o.init_t_attr
  self._max_t_attr = o.max_t_attr
  self._cumul_r = o.init_t_attr
  self._eta = o.eta
  self._halves = o.s
  self._total_work = self:_calculate_total_work(self._n0, self._r0, o.s)
  self._completed_progress = 0
  self.stop_last_trials = o.stop_last_trials ~= false
  self.is_being_processed = false
  return self
end

function Bracket:has(trial_id) return self._live[trial_id] ~= nil end

--- Adds a trial, assuming the bracket is not filled.
function Bracket:add_trial(trial_id)
  assert(not self:filled(), "Cannot add trial to filled bracket!")
  self._live[trial_id] = false
  self._order[#self._order + 1] = trial_id
  self._all_trials[#self._all_trials + 1] = trial_id
end

local function result_time(r)
  if not r then return 0 end
  return r.t
end

--- True when every live trial reached the current milestone.
function Bracket:cur_iter_done()
  for _, id in ipairs(self._order) do
    if result_time(self._live[id]) < self._cumul_r then return false end
  end
  return true
end

function Bracket:finished()
  if not self.stop_last_trials then return false end
  return self._halves == 0 and self:cur_iter_done()
end

function Bracket:current_trials()
  return table.move(self._order, 1, #self._order, 1, {})
end

function Bracket:continue_trial(trial_id)
  local r = self._live[trial_id]
  if not self.stop_last_trials and self._halves == 0 then return true end
  return result_time(r) < self._cumul_r
end

function Bracket:filled()
  return #self._order == self._n
end

--- The sort key of a live trial: metric * sign; a missing or NaN metric
--- ranks below every number (Ray's sort leaves NaN wherever it lands).
local function rank_key(r, metric_op)
  local m = r and r.m
  if type(m) ~= "number" or m ~= m then return -math.huge end
  local k = metric_op * m
  if k == -math.huge then return -math.huge end
  return k
end

--- After a resume: a trial that ended, with its last result at time `t`
--- at or past the milestone, after the snapshot the bracket was restored
--- from. It had reached the milestone, so it took part in the halving
--- there, which the snapshot predates: it leaves the live trials but
--- counts in the next halving, below every live trial (it ended: it was
--- stopped as bad then, or went on past the milestone and ended later).
function Bracket:add_ghost(trial_id, t)
  self:cleanup_trial(trial_id)
  local g = self._ghosts
  g[#g + 1] = {id = trial_id, t = t}
end

--- Keeps the best ceil(n/eta) trials: returns good, bad (lists of live
--- trial ids) and how many ghosts (add_ghost) were among the bad.
function Bracket:successive_halving(metric_op)
  if self._halves == 0 and not self.stop_last_trials then
    return self:current_trials(), {}, 0
  end
  assert(self._halves > 0)
  self._halves = self._halves - 1
  self._n = math.ceil(self._n / self._eta)
  -- Ray 2.0: min(r * eta, max_t - cumul_r), which ended most brackets
  -- short of max_t and left them paused for ever with eta = 2; later Ray
  -- (and this) uses min(r * eta, max_t).
  self._r = int(math.min(self._r * self._eta, self._max_t_attr))
  self._cumul_r = self._r
  local live = self._live
  -- Ties keep their order; NaN and missing metrics sort first (worst).
  local sorted = stable_sort(self._order, function(id)
    local k = rank_key(live[id], metric_op)
    return k
  end)
  -- Ghosts rank first (worst), the earliest ended first: the bad ones
  -- of this halving are those that ended at its milestone.
  local ghosts = stable_sort(self._ghosts, function(g) return g.t end)
  local cut = #sorted + #ghosts - self._n
  local good, bad = {}, {}
  for i, id in ipairs(sorted) do
    if i + #ghosts <= cut then bad[#bad + 1] = id else good[#good + 1] = id end
  end
  -- Those that went on stay for the next halving, if they got that far.
  local kept = {}
  for i, g in ipairs(ghosts) do
    if i > cut and self._halves > 0 and g.t >= self._cumul_r then kept[#kept + 1] = g end
  end
  self._ghosts = kept
  return good, bad, math.max(0, math.min(cut, #ghosts))
end

--- Records a trial's newest result (its time and metric).
function Bracket:update_trial_stats(trial_id, t, m)
  assert(self._live[trial_id] ~= nil, "update_trial_stats: the trial is not live in this bracket")
  assert(t >= 0, "update_trial_stats: negative time")
  local delta = t - result_time(self._live[trial_id])
  self._completed_progress = self._completed_progress + delta
  self._live[trial_id] = {t = t, m = m}
end

--- After a resume: a trial's record is the result it restarts from (its
--- checkpoint's), or none (t = nil), whatever the snapshot held.
function Bracket:restore_trial_stats(trial_id, t, m)
  if self._live[trial_id] == nil then return end
  local delta = (t or 0) - result_time(self._live[trial_id])
  self._completed_progress = math.max(0, self._completed_progress + delta)
  self._live[trial_id] = t ~= nil and {t = t, m = m} or false
end

function Bracket:cleanup_trial(trial_id)
  if self._live[trial_id] == nil then return end
  self._live[trial_id] = nil
  for i, id in ipairs(self._order) do
    if id == trial_id then table.remove(self._order, i) break end
  end
end

function Bracket:completion_percentage()
  if self:finished() then return 1.0 end
  return math.min(self._completed_progress / self._total_work, 1.0)
end

function Bracket:_calculate_total_work(n, r, s)
  local work = 0
  local cumulative_r = r
  for _ = 0, s do
    work = work + int(n) * int(r)
    n = math.ceil(n / self._eta)
    r = int(math.min(r * self._eta, self._max_t_attr - cumulative_r))
  end
  return work
end

--- Ray's __repr__: "Bracket(Max Size (n)=5, Milestone (r)=81, completed=14.6%): {PAUSED: 1, RUNNING: 2} "
function Bracket:repr(trial_of)
  local counts = {}
  for _, id in ipairs(self._all_trials) do
    local s = status_of(trial_of(id)) or "UNKNOWN"
    counts[s] = (counts[s] or 0) + 1
  end
  local parts = {}
  for s, c in pairs(counts) do parts[#parts + 1] = string.format("%s: %d", s, c) end
  table.sort(parts)
  return string.format("Bracket(Max Size (n)=%d, Milestone (r)=%d, completed=%.1f%%): {%s} ",
    self._n, self._cumul_r, self:completion_percentage() * 100, table.concat(parts, ", "))
end

function Bracket:save()
  local live = {}
  for i, id in ipairs(self._order) do
    local r = self._live[id]
    live[i] = r and {id = id, t = r.t, m = r.m} or {id = id}
  end
  return {
    time_attr = self._time_attr, n = self._n, n0 = self._n0, r = self._r, r0 = self._r0,
    max_t_attr = self._max_t_attr, cumul_r = self._cumul_r, eta = self._eta, halves = self._halves,
    total_work = self._total_work, completed_progress = self._completed_progress,
    stop_last_trials = self.stop_last_trials, live = live, all_trials = self._all_trials,
    ghosts = #self._ghosts > 0 and self._ghosts or nil,
  }
end

function Bracket.load(s)
  local self = setmetatable({}, Bracket)
  self._time_attr = s.time_attr
  self._n, self._n0, self._r, self._r0 = s.n, s.n0, s.r, s.r0
  self._max_t_attr, self._cumul_r, self._eta, self._halves = s.max_t_attr, s.cumul_r, s.eta, s.halves
  self._total_work, self._completed_progress = s.total_work, s.completed_progress
  self.stop_last_trials = s.stop_last_trials ~= false
  self.is_being_processed = false
  self._live, self._order, self._all_trials = {}, {}, {}
  for _, e in ipairs(s.live or {}) do
    self._live[e.id] = e.t ~= nil and {t = e.t, m = e.m} or false
    self._order[#self._order + 1] = e.id
  end
  for i, id in ipairs(s.all_trials or {}) do self._all_trials[i] = id end
  self._ghosts = {}
  for _, g in ipairs(s.ghosts or {}) do self._ghosts[#self._ghosts + 1] = {id = g.id, t = g.t} end
  return self
end

--------------------------------------------------------------------------
-- The scheduler
--------------------------------------------------------------------------

local metric_op = TrialScheduler.metric_op

--- HyperBandScheduler{time_attr="training_iteration", metric=, mode=,
--- max_t=81, reduction_factor=3, stop_last_trials=true}
function HyperBandScheduler:__init(opts)
  local name = self.__name  -- a subclass (HyperBandForBOHB) names itself
  opts = util.check_options(name, opts, OPTIONS, 3)
  util.check_booleans(name, opts, {"stop_last_trials"}, 3)
  local max_t, eta = opt(opts, "max_t"), opt(opts, "reduction_factor")
  util.check_finite(name, function(k) return opt(opts, k) end, {"max_t", "reduction_factor"}, 3)
  if not (max_t > 0) then error(name .. ": Max (time_attr) not valid!", 3) end
  if not (eta > 1) then error(name .. ": Reduction Factor not valid!", 3) end
  if round_half_even(math.log(max_t) / math.log(eta)) < 0 then
    error(string.format("%s: max_t = %s leaves no bracket with reduction_factor %s (it must be at least "
      .. "reduction_factor^-0.5)", name, tostring(max_t), tostring(eta)), 3)
  end
  local mode = opts.mode
  if mode and mode ~= "min" and mode ~= "max" then error(name .. ": `mode` must be 'min' or 'max'!", 3) end
  local time_attr = opt(opts, "time_attr")
  if type(time_attr) ~= "string" then error(name .. ": time_attr must be a string", 3) end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then error(name .. ": metric must be a string", 3) end

  self._eta = eta
  self._s_max_1 = round_half_even(math.log(max_t) / math.log(eta)) + 1
  self._max_t_attr = max_t
  self._hyperbands = {{}}   -- bands; each a list of brackets (false: a bracket too small to exist)
  self._trial_info = {}     -- trial_id -> {bracket = , band = }
  self._state = {bracket = nil, band_idx = 1}
  self._num_stopped = 0
  self.metric = opts.metric
  self.mode = mode
  self._metric_op = metric_op(mode)
  self._time_attr = time_attr
  self._stop_last_trials = opt(opts, "stop_last_trials") ~= false
  self._trials = {}         -- trial_id -> Trial, as hooks and the runner show them
  self._runner = nil
  self._reconcile = false   -- set by restore(): drop trials the runner finished
end

--- Bracket s's initial number of trials (Ray's _get_n0).
function HyperBandScheduler:_get_n0(s)
  return math.ceil(self._s_max_1 / (s + 1) * self._eta ^ s)
end

--- Bracket s's first milestone (Ray's _get_r0).
function HyperBandScheduler:_get_r0(s)
  return int(self._max_t_attr * self._eta ^ (-s))
end

function HyperBandScheduler:set_search_properties(metric, mode)
  if not TrialScheduler.set_search_properties(self, metric, mode) then return false end
  self._metric_op = metric_op(self.mode) or self._metric_op
  return true
end

--- Remembers the trial object for an id (hooks and runner:get_trial).
function HyperBandScheduler:_link(runner, trial)
  if runner then self._runner = runner end
  if trial then self._trials[trial.trial_id] = trial end
end

--- The Trial for an id: one a hook showed, else the runner's.
function HyperBandScheduler:_trial(id)
  local t = self._trials[id]
  if t == nil and self._runner and self._runner.get_trial then
    t = self._runner:get_trial(id)
    if t then self._trials[id] = t end
  end
  return t
end

function HyperBandScheduler:_cur_band_filled()
  return #self._hyperbands[self._state.band_idx] == self._s_max_1
end

function HyperBandScheduler:_create_bracket(s)
  return Bracket.new{
    time_attr = self._time_attr, max_trials = self:_get_n0(s), init_t_attr = self:_get_r0(s),
    max_t_attr = self._max_t_attr, eta = self._eta, s = s, stop_last_trials = self._stop_last_trials,
  }
end

--- The size index s of a band's next bracket: smallest first (s = 0, 1,
--- ...), as Ray's HyperBand; HyperBandForBOHB goes largest first.
function HyperBandScheduler:_next_bracket_s(cur_band) return #cur_band end

--- Adds a trial to the current bracket; a filled bracket opens the next
--- one of the band, a filled band a new band. Idempotent by trial id
--- while the trial is live in its bracket (a resumed experiment adds its
--- trials again).
function HyperBandScheduler:on_trial_add(runner, trial)
  if not self.metric or not self._metric_op then
    error(string.format("%s has been instantiated without a valid `metric` (%s) or `mode` (%s) parameter. "
      .. "Either pass these parameters when instantiating the scheduler, or pass them as parameters to "
      .. "`tune.run()`", self.__name or "HyperBandScheduler", tostring(self.metric), tostring(self.mode)), 2)
  end
  self:_link(runner, trial)
  local info = self._trial_info[trial.trial_id]
  if info and info.bracket:has(trial.trial_id) then return end
  if self._reconcile then self:_place_unknown(trial) end
  self:_place(trial.trial_id)
end

--- After restore(), before the first decision: the runner's trials up
--- to `upto` (all when nil) that the state does not know (a snapshot
--- older than them) take their places, in the order they were added, as
--- they did in the run; the finished ones too, which no hook shows again
--- (_reconcile_if_needed then drops them, or keeps them as ghosts).
function HyperBandScheduler:_place_unknown(upto)
  local r = self._runner
  if not (r and r.get_trials) then return end
  -- From where the last call stopped: a resume re-adds every trial (a
  -- walk from the start for each was quadratic).
  local trials = r:get_trials()
  for i = self._placed_upto or 1, #trials do
    local t = trials[i]
    self._placed_upto = i
    if t == upto then return end
    if self._trial_info[t.trial_id] == nil then
      self._trials[t.trial_id] = t
      self:_place(t.trial_id)
    end
  end
end

--- Puts a trial in the current bracket (Ray's on_trial_add).
function HyperBandScheduler:_place(trial_id)
  local cur_bracket = self._state.bracket
  local cur_band = self._hyperbands[self._state.band_idx]
  if cur_bracket == nil or cur_bracket:filled() then
    local retry = true
    while retry do
      if self:_cur_band_filled() then
        cur_band = {}
        self._hyperbands[#self._hyperbands + 1] = cur_band
        self._state.band_idx = self._state.band_idx + 1
      end
      local s = self:_next_bracket_s(cur_band)
      assert(s >= 0 and s < self._s_max_1, "Current band is filled!")
      if self:_get_r0(s) == 0 then
        cur_bracket = nil   -- bracket too small: skipped (Ray's None)
      else
        retry = false
        cur_bracket = self:_create_bracket(s)
      end
      cur_band[#cur_band + 1] = cur_bracket or false
      self._state.bracket = cur_bracket
    end
  end
  self._state.bracket:add_trial(trial_id)
  self._trial_info[trial_id] = {bracket = self._state.bracket, band = self._state.band_idx}
end

--- A result's numeric field: nil when absent and not required; an error
--- naming the trial when absent but required, or not a number.
local function numeric(self, trial, result, key, what, required)
  local v = result[key]
  if v == nil then
    if required then
      error(string.format("%s: the result of trial %s has no %s %q", self.__name, tostring(trial.trial_id),
        what, key), 0)
    end
    return nil
  end
  if type(v) ~= "number" then
    error(string.format("%s: the %s %q of trial %s must be a number, got %s", self.__name, what, key,
      tostring(trial.trial_id), type(v)), 0)
  end
  return v
end

--- Records a result in the trial's bracket (adding the trial when it has
--- none, as after a resume); the bracket.
function HyperBandScheduler:_record_result(runner, trial, result)
  self:_link(runner, trial)
  self:_reconcile_if_needed()
  local t = numeric(self, trial, result, self._time_attr, "time_attr", true)
  if not (t >= 0) then -- (Ray's assertion in update_trial_stats)
    error(("%s: the time_attr %q of trial %s must be >= 0, got %s"):format(self.__name, self._time_attr,
      tostring(trial.trial_id), util.show_got(t)), 0)
  end
  local m = numeric(self, trial, result, self.metric, "metric", false)
  local info = self._trial_info[trial.trial_id]
  if not (info and info.bracket:has(trial.trial_id)) then
    self:on_trial_add(runner, trial)
    info = self._trial_info[trial.trial_id]
  end
  info.bracket:update_trial_stats(trial.trial_id, t, m)
  return info.bracket
end

--- Continues a trial below its bracket's milestone; at the milestone,
--- pauses it until the bracket is done, then halves the bracket.
function HyperBandScheduler:on_trial_result(runner, trial, result)
  local bracket = self:_record_result(runner, trial, result)
  if bracket:continue_trial(trial.trial_id) then return CONTINUE end
  return self:_process_bracket(runner, bracket, trial)
end

--- After --resume (TrialRunner:resume), for each unfinished trial that
--- starts again from its checkpoint at `iteration`: the snapshot's
--- bracket may be older (results logged after it never came back) or
--- newer than that, so the trial's record becomes the result it restarts
--- from (trial.last_result, its last logged result up to its checkpoint),
--- or none when it starts over. A trial that was PAUSED at its milestone
--- counts as there again, and one at its milestone whose pause the
--- journal missed is PAUSED, so the bracket is halved as it would have
--- been (on the milestone's results, no trial running past it).
--- Returns the trial's bracket, or nil.
function HyperBandScheduler:on_trial_restored(runner, trial, iteration)
  self:_link(runner, trial)
  -- Trials that finished leave their brackets before the next decision
  -- (also when the snapshot predates this scheduler's first trial).
  self._reconcile = true
  local id = trial.trial_id
  local info = self._trial_info[id]
  if not (info and info.bracket:has(id)) then return nil end
  local bracket = info.bracket
  iteration = tonumber(iteration) or 0
  local r = trial.last_result
  if iteration <= 0 then
    bracket:restore_trial_stats(id, nil)
  elseif type(r) == "table" and tonumber(r.training_iteration) == iteration then
    local t, m = r[self._time_attr], r[self.metric]
    if type(t) == "number" and t >= 0 then
      bracket:restore_trial_stats(id, t, type(m) == "number" and m or nil)
    end
  end
  -- One that was RUNNING when the driver died, with its milestone's result
  -- logged (the PAUSE was not journaled yet), waits there as it would have.
  if trial.status == PENDING and iteration > 0 and not bracket:continue_trial(id) then
    set_status(runner, trial, PAUSED)
  end
  return bracket
end

--- Stops a trial of the bracket other than the one whose result is being
--- handled (the runner's canonical stop, which calls on_trial_remove or
--- on_trial_complete back).
local function stop_other(runner, trial)
  if runner and runner.stop_trial and trial then runner:stop_trial(trial) end
end

--- Ray's _process_bracket. When every live trial reached the milestone,
--- the bracket is halved: bad trials stop, good paused ones become PENDING
--- (choose_trial_to_run resumes them), the current one continues when
--- good. Returns the decision for `current` (PAUSE while others lag).
function HyperBandScheduler:_process_bracket(runner, bracket, current)
  local action = PAUSE
  if not bracket:cur_iter_done() then return action end
  if bracket:finished() then
    self:_cleanup_full(runner, bracket)
    return STOP
  end
  bracket.is_being_processed = true
  local ok, err = pcall(function()
    local good, bad, ghosts = bracket:successive_halving(self._metric_op)
    self._num_stopped = self._num_stopped + #bad + ghosts
    local cur_id = current and current.trial_id
    for _, id in ipairs(bad) do
      local t = self:_trial(id)
      local s = status_of(t)
      if id == cur_id and s == RUNNING then
        bracket:cleanup_trial(id)
        action = STOP
      elseif s == PAUSED or s == PENDING or s == RUNNING then
        -- PENDING or another RUNNING trial only after a resume.
        bracket:cleanup_trial(id)
        stop_other(runner, t)
      elseif s == nil then
        bracket:cleanup_trial(id)
      else
        error(string.format("Trial with unexpected bad status encountered: %s is %s", id, tostring(s)), 0)
      end
    end
    local finished = bracket:finished()
    for _, id in ipairs(good) do
      local t = self:_trial(id)
      local s = status_of(t)
      if s ~= nil and s ~= PAUSED and s ~= RUNNING and s ~= PENDING then
        error(string.format("Trial with unexpected good status encountered: %s is %s", id, tostring(s)), 0)
      end
      if bracket:continue_trial(id) then
        if s == PAUSED then
          self:_unpause_trial(runner, t)
          set_status(runner, t, PENDING)
        elseif s == RUNNING and id == cur_id then
          action = CONTINUE
        end
      elseif finished and bracket.stop_last_trials then
        -- Later Ray: the bracket reached max_t with these trials already
        -- past it; stop them rather than leave them paused.
        if id == cur_id and s == RUNNING then
          bracket:cleanup_trial(id)
          action = STOP
        else
          bracket:cleanup_trial(id)
          stop_other(runner, t)
        end
      end
    end
  end)
  bracket.is_being_processed = false
  if not ok then error(err, 0) end
  return action
end

--- Hook for subclasses (Ray's BOHB): a paused trial is about to continue.
function HyperBandScheduler:_unpause_trial(runner, trial) end

--- Stops the paused trials of a finished bracket.
function HyperBandScheduler:_cleanup_full(runner, bracket)
  for _, id in ipairs(bracket:current_trials()) do
    local t = self:_trial(id)
    if status_of(t) == PAUSED then stop_other(runner, t) end
  end
end

--- A trial left: it leaves its bracket, which may now be done.
function HyperBandScheduler:on_trial_remove(runner, trial)
  self:_link(runner, trial)
  local info = self._trial_info[trial.trial_id]
  if not info then return end
  local bracket = info.bracket
  bracket:cleanup_trial(trial.trial_id)
  if not bracket:finished() and not bracket.is_being_processed then
    self:_process_bracket(runner, bracket, nil)
  end
end

function HyperBandScheduler:on_trial_complete(runner, trial, result)
  self:on_trial_remove(runner, trial)
end

function HyperBandScheduler:on_trial_error(runner, trial)
  self:on_trial_remove(runner, trial)
end

local function each_bracket(self)
  local list = {}
  for _, band in ipairs(self._hyperbands) do
    for _, b in ipairs(band) do
      if b then list[#list + 1] = b end
    end
  end
  return list
end

--- After restore(): trials the runner already finished leave their
--- brackets (the state may predate their end). One whose last result
--- reached the milestone had been in the halving there, which the state
--- predates: it stays a ghost of the bracket (Bracket:add_ghost), so that
--- num_stopped counts that halving's bad trials as the run did.
function HyperBandScheduler:_reconcile_if_needed()
  if not self._reconcile or not (self._runner and self._runner.get_trial) then return end
  self:_place_unknown(nil)
  self._reconcile = false
  for _, bracket in ipairs(each_bracket(self)) do
    local gone = false
    for _, id in ipairs(bracket:current_trials()) do
      local t = self:_trial(id)
      if t == nil or t.status == "TERMINATED" or t.status == "ERROR" then
        local last = t and type(t.last_result) == "table" and t.last_result[self._time_attr]
        if type(last) == "number" and bracket._halves > 0 and last >= bracket._cumul_r then
          bracket:add_ghost(id, last)
        else
          bracket:cleanup_trial(id)
        end
        gone = true
      end
    end
    if gone and not bracket:finished() then self:_process_bracket(self._runner, bracket, nil) end
    -- Ghosts of later milestones: the halvings there too.
    while #bracket._ghosts > 0 and bracket._halves > 0 and bracket:cur_iter_done() and not bracket:finished() do
      self:_process_bracket(self._runner, bracket, nil)
    end
  end
end

--- Fair scheduling: in band order, brackets by completion, the first
--- PENDING trial whose resources are there. A PAUSED trial that its
--- bracket lets continue qualifies too (after a resume, when the change
--- to PENDING was not journaled yet).
function HyperBandScheduler:choose_trial_to_run(runner)
  self:_link(runner, nil)
  self:_reconcile_if_needed()
  -- A bracket whose trials all reached the milestone with none running
  -- (only possible after a resume, or when results jumped past a
  -- milestone) is processed now rather than left waiting.
  for _, bracket in ipairs(each_bracket(self)) do
    local ids = bracket:current_trials()
    if #ids > 0 and not bracket.is_being_processed and bracket:cur_iter_done() then
      local idle = true
      for _, id in ipairs(ids) do
        local s = status_of(self:_trial(id))
        if s == RUNNING or s == PENDING then idle = false break end
      end
      if idle then self:_process_bracket(runner, bracket, nil) end
    end
  end
  local ex = runner and runner.trial_executor
  for _, band in ipairs(self._hyperbands) do
    local scrubbed = {}
    for _, b in ipairs(band) do
      if b then scrubbed[#scrubbed + 1] = b end
    end
    for _, bracket in ipairs(stable_sort(scrubbed, function(b) return b:completion_percentage() end)) do
      for _, id in ipairs(bracket:current_trials()) do
        local t = self:_trial(id)
        local s = status_of(t)
        if (s == PENDING or (s == PAUSED and bracket:continue_trial(id)))
            and (not ex or ex:has_resources_for_trial(t)) then
          return t
        end
      end
    end
  end
  return nil
end

--- A resumed run that had nothing left to run calls no hook: its brackets
--- are reconciled when they are shown (debug_string, state()), once the
--- resume is done (runner.resumed), as its first decision would have.
function HyperBandScheduler:_reconcile_resumed()
  local r = self._runner
  if self._reconcile and type(r) == "table" and rawget(r, "resumed") then self:_reconcile_if_needed() end
end

function HyperBandScheduler:debug_string()
  self:_reconcile_resumed()
  local total = 0
  for _, band in ipairs(self._hyperbands) do total = total + #band end
  local out = {string.format("Using HyperBand: num_stopped=%d total_brackets=%d", self._num_stopped, total)}
  local trial_of = function(id) return self:_trial(id) end
  for i, band in ipairs(self._hyperbands) do
    out[#out + 1] = string.format("Round #%d:", i - 1)
    for _, b in ipairs(band) do
      if b then out[#out + 1] = "  " .. b:repr(trial_of) end
    end
  end
  return table.concat(out, "\n")
end

--- Ray's state(): {num_brackets, num_stopped}.
function HyperBandScheduler:state()
  self:_reconcile_resumed()
  local total = 0
  for _, band in ipairs(self._hyperbands) do total = total + #band end
  return {num_brackets = total, num_stopped = self._num_stopped}
end

--------------------------------------------------------------------------
-- State for resume: brackets by position, trials by id
--------------------------------------------------------------------------

function HyperBandScheduler:save()
  local pos = {}
  local bands = {}
  for i, band in ipairs(self._hyperbands) do
    local list = {}
    for j, b in ipairs(band) do
      if b then
        list[j] = b:save()
        pos[b] = {i, j}
      else
        list[j] = false
      end
    end
    bands[i] = list
  end
  local info = {}
  for id, inf in pairs(self._trial_info) do
    local p = pos[inf.bracket]
    if p then info[#info + 1] = {id, p[1], p[2]} end
  end
  table.sort(info, function(a, b) return a[1] < b[1] end)
  local cur = self._state.bracket and pos[self._state.bracket]
  return {
    scheduler = "HyperBandScheduler", version = 1,
    metric = self.metric, mode = self.mode, time_attr = self._time_attr, max_t = self._max_t_attr,
    reduction_factor = self._eta, s_max_1 = self._s_max_1, stop_last_trials = self._stop_last_trials,
    num_stopped = self._num_stopped, band_idx = self._state.band_idx, bracket = cur or false,
    hyperbands = bands, trial_info = info,
  }
end

local nonnull = util.nonnull

--- `runner` (a resume's): the trials of the brackets, finished ones too
--- (debug_string shows their status; no hook shows them again).
function HyperBandScheduler:restore(state, runner)
  TrialScheduler.check_state(state, "HyperBandScheduler")
  self.metric = nonnull(state.metric)
  self.mode = nonnull(state.mode)
  self._metric_op = metric_op(self.mode)
  self._time_attr = state.time_attr
  self._max_t_attr = state.max_t
  self._eta = state.reduction_factor
  self._s_max_1 = state.s_max_1
  self._stop_last_trials = state.stop_last_trials ~= false
  self._num_stopped = state.num_stopped or 0
  self._hyperbands = {}
  for i, band in ipairs(state.hyperbands or {}) do
    local list = {}
    for j, b in ipairs(band) do list[j] = b and Bracket.load(b) or false end
    self._hyperbands[i] = list
  end
  if #self._hyperbands == 0 then self._hyperbands = {{}} end
  self._trial_info = {}
  for _, e in ipairs(state.trial_info or {}) do
    local b = self._hyperbands[e[2]] and self._hyperbands[e[2]][e[3]]
    if b then self._trial_info[e[1]] = {bracket = b, band = e[2]} end
  end
  local cur = state.bracket
  self._state = {band_idx = state.band_idx or 1,
    bracket = (type(cur) == "table" and self._hyperbands[cur[1]] and self._hyperbands[cur[1]][cur[2]]) or nil}
  self._trials = {}
  self._runner = type(runner) == "table" and runner or self._runner
  self._reconcile, self._placed_upto = true, nil
end

return HyperBandScheduler
