--- Trainables every worker knows by name. `__fake` is Ray's _MockTrainer:
--- it reports fixed metrics, saves and restores a small state, and has no
--- reset_config (so reset_trial returns false for it).
local core = require("tune.core")
local Trainable = require("tune.worker.trainable").Trainable

local M = {}

local MockTrainer = Trainable:extend(nil, "MockTrainable")

function MockTrainer:setup(config)
  self.state = {hi = 1}
end

function MockTrainer:step()
  return {episode_reward_mean = 10, episode_len_mean = 10, timesteps_this_iter = 10, info = {}}
end

function MockTrainer:save_checkpoint(dir)
  local path = dir .. "/mock_agent.json"
  assert(core.write_atomic(path, assert(core.json_encode(self.state)), false))
  return nil
end

function MockTrainer:load_checkpoint(checkpoint)
  local data = assert(core.read_file(checkpoint .. "/mock_agent.json"))
  for k, v in pairs(assert(core.json_decode(data))) do self.state[k] = v end
end

M.__fake = MockTrainer

return M
