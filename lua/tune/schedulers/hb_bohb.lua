--- tune.schedulers.HyperBandForBOHB: Ray's HyperBand variant for BOHB
--- (docs/reference/schedulers/bohb.md). Against HyperBandScheduler:
---   1. a new band's brackets are made largest first (most trials, lowest
---      first milestone), so BOHB's model sees many cheap results early;
---   2. a trial at its milestone pauses even when its bracket is not
---      filled yet, so the searcher can add trials to it; the searcher
---      (TuneBOHB) is told of each pause and unpause, to count only running
---      trials against its concurrency;
---   3. the result at a milestone carries `hyperband_info.budget` (the
---      milestone), which TuneBOHB learns from;
---   4. when nothing runs, brackets whose trials all wait are halved at
---      once (choose_trial_to_run).
--- Options and state (save/restore) are HyperBandScheduler's.
local HyperBand = require("tune.schedulers.hyperband")
local TrialScheduler = require("tune.schedulers.trial_scheduler")

local CONTINUE, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.PAUSE

local HyperBandForBOHB = HyperBand:extend(nil, "HyperBandForBOHB")

--- The searcher under the runner's search algorithm that takes pause
--- notices (through ConcurrencyLimiter and other wrappers), or nil.
local function bohb_searcher(runner)
  local s = type(runner) == "table" and (runner.search_alg or runner._search_alg) or nil
  for _ = 1, 8 do
    if type(s) ~= "table" then return nil end
    if type(s.on_pause) == "function" then return s end
    s = s.searcher
  end
  return nil
end

--- Largest bracket first: a band's brackets go s_max, s_max - 1, ..., 0.
function HyperBandForBOHB:_next_bracket_s(cur_band) return self._s_max_1 - #cur_band - 1 end

--- Below its milestone a trial continues. At it, the result gets
--- hyperband_info.budget; the trial pauses while its bracket is not
--- filled or another of its trials is not paused; else the bracket is
--- halved.
function HyperBandForBOHB:on_trial_result(runner, trial, result)
  result.hyperband_info = {}
  local bracket = self:_record_result(runner, trial, result)
  if bracket:continue_trial(trial.trial_id) then return CONTINUE end
  result.hyperband_info.budget = bracket._cumul_r
  local waiting = not bracket:filled()
  if not waiting then
    for _, id in ipairs(bracket:current_trials()) do
      if id ~= trial.trial_id then
        local other = self:_trial(id)
        if not other or other.status ~= "PAUSED" then
          waiting = true
          break
        end
      end
    end
  end
  if waiting then
    local searcher = bohb_searcher(runner)
    if searcher then searcher:on_pause(trial.trial_id) end
    return PAUSE
  end
  return self:_process_bracket(runner, bracket, trial)
end

--- After --resume (HyperBandScheduler's, then): a trial PAUSED at its
--- milestone is told to the searcher as paused again (at the next
--- choose_trial_to_run, once the searcher's own replay is done); one
--- PAUSED below it (its pause checkpoint died with the driver) runs again.
function HyperBandForBOHB:on_trial_restored(runner, trial, iteration)
  local bracket = HyperBand.on_trial_restored(self, runner, trial, iteration)
  if bracket and trial.status == "PAUSED" and not bracket:continue_trial(trial.trial_id) then
    self._restored_paused = self._restored_paused or {}
    self._restored_paused[#self._restored_paused + 1] = trial.trial_id
  end
  return bracket
end

--- After --resume, a logged result given to the searcher again
--- (experiment/missed.lua) gets the `hyperband_info` it had: the budget
--- when it was the trial's first at or past one of its bracket's
--- milestones (`previous`, the result logged before it, was below), as
--- on_trial_result marked it; the bracket's last milestone only with
--- stop_last_trials (else the trial continued there).
function HyperBandForBOHB:annotate_replayed_result(runner, trial, result, previous)
  result.hyperband_info = {}
  self:_link(runner, trial)
  self:_place_unknown(nil)
  local info = self._trial_info[trial.trial_id]
  local t = result[self._time_attr]
  if not info or type(t) ~= "number" then return end
  local b = info.bracket
  local p = type(previous) == "table" and tonumber(previous[self._time_attr]) or 0
  local s
  for k = 0, self._s_max_1 - 1 do
    if self:_get_r0(k) == b._r0 and self:_get_n0(k) == b._n0 then s = k end
  end
  local m = b._r0
  for k = 0, s or -1 do
    if k == s and not b.stop_last_trials then return end
    if p < m and m <= t then
      result.hyperband_info.budget = m
      return
    end
    m = math.floor(math.min(m * b._eta, b._max_t_attr))
  end
end

function HyperBandForBOHB:_unpause_trial(runner, trial)
  local searcher = bohb_searcher(runner)
  if searcher and type(searcher.on_unpause) == "function" then searcher:on_unpause(trial.trial_id) end
end

--- A PENDING trial, band by band and bracket by bracket; when none and
--- nothing runs, brackets whose trials all wait are halved now, and a
--- trial that became PENDING is chosen.
function HyperBandForBOHB:choose_trial_to_run(runner, no_recurse)
  self:_link(runner, nil)
  self:_reconcile_if_needed()
  local restored = self._restored_paused
  if restored then
    self._restored_paused = nil
    local searcher = bohb_searcher(runner)
    for _, id in ipairs(restored) do
      local t = self:_trial(id)
      if searcher and t and t.status == "PAUSED" then searcher:on_pause(id) end
    end
  end
  local ex = runner and runner.trial_executor
  for _, band in ipairs(self._hyperbands) do
    for _, bracket in ipairs(band) do
      if bracket then
        for _, id in ipairs(bracket:current_trials()) do
          local t = self:_trial(id)
          -- A PAUSED trial its bracket lets continue: only after a resume.
          local paused = t and t.status == "PAUSED" and bracket:continue_trial(id)
          if t and (t.status == "PENDING" or paused) and (not ex or ex:has_resources_for_trial(t)) then
            if paused then self:_unpause_trial(runner, t) end
            return t
          end
        end
      end
    end
  end
  for _, t in ipairs(runner:get_trials()) do
    if t.status == "RUNNING" then return nil end
  end
  for _, band in ipairs(self._hyperbands) do
    for _, bracket in ipairs(band) do
      if bracket and not bracket.is_being_processed then
        local paused, pending = false, false
        for _, id in ipairs(bracket:current_trials()) do
          local t = self:_trial(id)
          if t and t.status == "PAUSED" then paused = true end
        end
        if paused then
          self:_process_bracket(runner, bracket, nil)
          for _, id in ipairs(bracket:current_trials()) do
            local t = self:_trial(id)
            if t and t.status == "PENDING" then pending = true end
          end
          if pending and not no_recurse then return self:choose_trial_to_run(runner, true) end
        end
      end
    end
  end
  return nil
end

return HyperBandForBOHB
