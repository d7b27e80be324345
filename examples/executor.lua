-- The executor on its own (what tune.run drives): start trials on
-- placement groups, take their results, save, pause, resume and stop.
--   tunelua examples/executor.lua
local tune = require("tune")

-- A class trainable: one step per iteration, state saved in checkpoints.
local Walker = tune.Trainable:extend()
function Walker:setup(config) self.pos = 0 end
function Walker:step()
  self.pos = self.pos + self.config.speed
  return {pos = self.pos}
end
function Walker:save_checkpoint(dir) return {pos = self.pos} end
function Walker:load_checkpoint(c) self.pos = c.pos end
tune.register_trainable("walker", Walker)

local dir = (os.getenv("TUNE_RESULT_DIR") or "/tmp") .. "/executor-example"
local ex = tune.TrialExecutor{num_cpus = 2}
local trials = {}
for i, speed in ipairs({1, 2, 3}) do
  trials[i] = tune.Trial("walker", {config = {speed = speed}, local_dir = dir})
end

-- Drive the trials: start them as groups become ready, pause each one once
-- after 3 iterations, stop it at 6.
local paused = {}
local live = #trials
while live > 0 do
  local pending = false
  for _, t in ipairs(trials) do
    if t.status == tune.Trial.PENDING or t.status == tune.Trial.PAUSED then pending = true end
  end
  local ev = ex:get_next_executor_event(trials, pending, 5)
  if ev.type == "PG_READY" then
    for _, t in ipairs(trials) do
      if (t.status == tune.Trial.PENDING or t.status == tune.Trial.PAUSED) and ex:start_trial(t) then break end
    end
  elseif ev.type == "TRAINING_RESULT" then
    local t = ev.trial
    for _, r in ipairs(ev.result) do t:update_last_result(r) end
    local it = t.last_result.training_iteration
    if it == 3 and not paused[t] then
      paused[t] = true
      ex:pause_trial(t)
    elseif it >= 6 then
      ex:stop_trial(t)
      live = live - 1
      print(string.format("%s: speed %d reached %d after %d iterations",
        tostring(t), t.config.speed, t.last_result.pos, it))
    else
      ex:continue_training(t)
    end
  elseif ev.type == "ERROR" then
    error(ev.error)
  end
end
ex:cleanup()
assert(ex:close())
