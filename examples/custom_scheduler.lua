-- A custom trial scheduler in a few dozen lines: round-robin time slices
-- with early stopping (docs/guide/custom-schedulers.md walks through it).
--   tunelua examples/custom_scheduler.lua
--
-- Every `slice` iterations a trial is judged: if its score trails the best
-- score any trial had at that iteration by more than `margin`, it STOPs;
-- otherwise, when other trials are waiting, it PAUSEs to give them a turn.
-- Paused trials come back through choose_trial_to_run, least trained first.
local tune = require("tune")

local TrialScheduler = tune.schedulers.TrialScheduler
local CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP

local RoundRobin = TrialScheduler:extend(nil, "RoundRobinScheduler")

-- It decides on every result: have them one at a time.
RoundRobin.supports_buffered_results = false

function RoundRobin:__init(opts)
  TrialScheduler.__init(self, opts) -- metric and mode (or tune.run's)
  self.slice = opts.slice or 3
  self.margin = opts.margin or 1.0
  self.best = {}    -- iteration (a string: JSON keys) -> best score there
  self.stopped = 0
end

-- Nothing is kept per trial, so adding a trial twice (a resumed
-- experiment does) is harmless.
function RoundRobin:on_trial_add(runner, trial) end

function RoundRobin:on_trial_result(runner, trial, result)
  local it = result.training_iteration
  if it % self.slice ~= 0 then return CONTINUE end
  local score = result[self.metric] * (self.mode == "min" and -1 or 1)
  local key = tostring(it)
  if self.best[key] == nil or score > self.best[key] then self.best[key] = score end
  if score < self.best[key] - self.margin then
    self.stopped = self.stopped + 1
    return STOP
  end
  for _, t in ipairs(runner:get_trials()) do
    if t.status == "PENDING" then return PAUSE end -- someone is waiting
  end
  return CONTINUE
end

-- PENDING trials first, then the PAUSED one that trained least.
function RoundRobin:choose_trial_to_run(runner)
  local ex, pick = runner.trial_executor, nil
  for _, t in ipairs(runner:get_trials()) do
    if t.status == "PENDING" and ex:has_resources_for_trial(t) then return t end
    if t.status == "PAUSED" and ex:has_resources_for_trial(t) and (pick == nil
        or (t.last_result.training_iteration or 0) < (pick.last_result.training_iteration or 0)) then
      pick = t
    end
  end
  return pick
end

function RoundRobin:debug_string()
  return string.format("Using RoundRobinScheduler: num_stopped=%d", self.stopped)
end

-- Plain data for the experiment snapshot; `tunelua --resume` restores it.
function RoundRobin:save() return {best = self.best, stopped = self.stopped} end
function RoundRobin:restore(state)
  self.best, self.stopped = state.best or {}, state.stopped or 0
end

-- The trainable: a learning curve that rises to config.x. It reports a
-- checkpoint with each result, so a paused trial resumes where it was.
local function train(config)
  local c = tune.get_checkpoint()
  for i = (c and c.i or 0) + 1, 12 do
    tune.report({score = config.x * (1 - 1 / (i + 1))}, {checkpoint = {i = i}})
  end
end

local analysis = tune.run(train, {
  name = "custom_scheduler",
  metric = "score",
  mode = "max",
  scheduler = RoundRobin{slice = 3, margin = 1.0},
  config = {x = tune.grid_search({3, 8, 1, 6, 4, 7, 2, 5})},
  num_cpus = 2, -- two trials at a time, so the others wait their turn
  verbose = 1,
})

local best, stopped = analysis.best_trial, 0
for _, t in ipairs(analysis.trials) do
  if t.last_result.training_iteration < 12 then stopped = stopped + 1 end
end
print(string.format("RoundRobinScheduler: best x=%d after %d iterations, %d of %d trials stopped early",
  best.config.x, best.last_result.training_iteration, stopped, #analysis.trials))
