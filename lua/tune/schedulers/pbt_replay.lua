--- tune.schedulers.PopulationBasedTrainingReplay: replays the config
--- schedule one trial of a PopulationBasedTraining run went through (Ray
--- Tune 2.0's PopulationBasedTrainingReplay;
--- docs/reference/schedulers/pbt_replay.md).
---
--- PBT (log_config = true, the default) writes pbt_policy_<trial_id>.txt in
--- the experiment directory: one JSON line per exploit, [target tag, clone
--- tag, target iteration, clone iteration, old config, new config]. The
--- replay starts its single trial with the config the schedule began
--- with, and when a result reaches the iteration of the next change it
--- saves the trial to memory, stops it, gives it the new config and starts
--- it again from that checkpoint, as PBT did.
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local PBT = require("tune.schedulers.pbt")
local ckpt = require("tune.executor.checkpoint")
local core = require("tune.core")
local util = require("tune.util")

local CONTINUE, NOOP = TrialScheduler.CONTINUE, TrialScheduler.NOOP
local MEMORY = ckpt.CheckpointStorage.MEMORY

local Replay = TrialScheduler:extend(nil, "PopulationBasedTrainingReplay")

--- Python's truthiness of a JSON value.
local function truthy(v)
  if v == nil or v == false or v == core.null or v == "" or v == 0 then return false end
  if type(v) == "table" and next(v) == nil then return false end
  return true
end

--- Reads a policy file: the config the schedule starts from and the list
--- of {step =, config =} changes. Returns nil, message when unreadable.
local function load_policy(path)
  local text, err = core.read_file(path)
  if not text then return nil, nil, "Could not read PBT policy file: " .. path .. " (" .. tostring(err) .. ")" end
  local raw = {}
  for line in text:gmatch("[^\n]+") do
    if line:match("%S") then
      local row = core.json_decode(line)
      if type(row) ~= "table" or #row < 6 then
        return nil, nil, "Could not read PBT policy file: " .. path .. "."
      end
      raw[#raw + 1] = row
    end
  end
  -- From the end backwards: the chain of tags that led to this trial.
  -- An exploit whose target is not the previous one's source was
  -- overwritten by a later one and is ignored.
  local policy = {}
  local last_new_tag, last_old_conf
  for i = #raw, 1, -1 do
    local old_tag, new_tag, new_step, new_conf = raw[i][1], raw[i][2], raw[i][4], raw[i][6]
    if truthy(last_new_tag) and old_tag ~= last_new_tag then break end
    last_new_tag = new_tag
    last_old_conf = raw[i][5]
    if type(new_step) ~= "number" or type(new_conf) ~= "table" then
      return nil, nil, "Could not read PBT policy file: " .. path .. "."
    end
    table.insert(policy, 1, {step = new_step, config = new_conf})
  end
  return last_old_conf, policy
end
Replay._load_policy = load_policy

--- PopulationBasedTrainingReplay(policy_file) or
--- PopulationBasedTrainingReplay{policy_file = path}
function Replay:__init(policy_file)
  if type(policy_file) == "table" then
    for k in pairs(policy_file) do
      if k ~= "policy_file" then
        error(string.format("PopulationBasedTrainingReplay: unknown option %q (it takes policy_file)", tostring(k)), 3)
      end
    end
    policy_file = policy_file.policy_file
  end
  if type(policy_file) ~= "string" then
    error("PopulationBasedTrainingReplay: policy_file must be the path of a pbt_policy_<trial_id>.txt file", 3)
  end
  policy_file = util.expanduser(policy_file)
  if not core.stat(policy_file) then error("Policy file not found: " .. policy_file, 3) end
  TrialScheduler.__init(self)
  self.policy_file = policy_file
  local initial_config, policy, err = load_policy(policy_file)
  if err then error(err, 3) end
  self.experiment_tag = "replay_" .. (policy_file:match("([^/]+)$") or policy_file)
  self.config = initial_config
  self.current_config = self.config
  self._policy = policy
  self._next_index = 1
  self._trial_id = nil
  self._trial = nil
  self._current_step = 0
  self._num_perturbations = 0
  self._owned = nil -- the memory checkpoint the trial restarts from
end

--- The next change, {step =, config =}, or nil.
function Replay:next_policy()
  return self._policy[self._next_index]
end

function Replay:_warn(msg)
  io.stderr:write("tunelua warning: ", msg, "\n")
end

function Replay:on_trial_add(runner, trial) -- luacheck: no unused args
  if self._trial_id ~= nil then
    if self._trial_id == trial.trial_id then
      -- Added again after a resume: it goes on with the current config.
      self._trial = trial
      if self.current_config ~= nil then trial.config = util.deepcopy(self.current_config) end
      return
    end
    error("More than one trial added to PBT replay run. This means the same schedule will be trained multiple "
      .. "times. Do you want to set `num_samples=1`?", 2)
  end
  self._trial_id = trial.trial_id
  self._trial = trial
  local has_config = type(trial.config) == "table" and next(trial.config) ~= nil
  if has_config and #self._policy > 0 then
    self:_warn("Trial was initialized with a config, which was overwritten. Did you start the PBT replay "
      .. "with a `config` parameter?")
  elseif has_config and #self._policy == 0 then
    -- Only train with the initial policy.
    self.config = trial.config
  elseif not has_config and #self._policy == 0 then
    error("No replay policy found and trial initialized without a valid config. Either pass a `config` "
      .. "argument to `tune.run()` or consider not using PBT replay for this run.", 2)
  end
  self.current_config = self.config
  trial.config = util.deepcopy(self.config or {})
end

function Replay:_release()
  if self._owned then
    core.remove_tree(self._owned)
    self._owned = nil
  end
end

function Replay:on_trial_result(runner, trial, result)
  local step = result.training_iteration
  if step == nil then return CONTINUE end -- no time reported
  -- A result of the run stopped for the last change (a buffered batch):
  -- the trial goes on from that change's checkpoint.
  if trial.status == "PAUSED" and self._owned then return NOOP end
  if trial.status == "RUNNING" then self:_release() end
  local nxt = self:next_policy()
  if not nxt then return CONTINUE end -- no more changes in the config
  self._current_step = step
  if step < nxt.step then return CONTINUE end -- not just yet
  local ex = runner.trial_executor
  local checkpoint = ex:save(trial, MEMORY, result)
  if checkpoint == nil then return CONTINUE end -- no worker to save: at the next result
  -- The trial restarts from it after the stop below, which would drop it.
  if PBT._claim_memory_checkpoint(runner, checkpoint) then self._owned = checkpoint.dir_or_data end
  local new_config = nxt.config
  local new_tag = PBT.make_experiment_tag(self.experiment_tag, new_config, new_config)
  ex:stop_trial(trial)
  ex:set_status(trial, "PAUSED")
  PBT._forget_decisions(runner, trial)
  require("tune.experiment.trial").set_config(trial, util.deepcopy(new_config), new_tag)
  trial:on_checkpoint(checkpoint)
  self.current_config = new_config
  self._num_perturbations = self._num_perturbations + 1
  self._next_index = self._next_index + 1
  return NOOP
end

function Replay:on_trial_complete() self:_release() end
function Replay:on_trial_remove() self:_release() end
function Replay:on_trial_error() self:_release() end

function Replay:debug_string()
  return string.format("PopulationBasedTraining replay: Step %d, perturb %d", self._current_step,
    self._num_perturbations)
end

--- {trial_id =, next_index =, current_step =, num_perturbations =,
--- current_config =} (the policy itself is read from the file again).
function Replay:save()
  return {
    scheduler = self.__name,
    policy_file = self.policy_file,
    trial_id = self._trial_id,
    next_index = self._next_index,
    current_step = self._current_step,
    num_perturbations = self._num_perturbations,
    current_config = self.current_config,
    owned_checkpoint = self._owned,
  }
end

local nonnull = util.nonnull

function Replay:restore(state)
  if type(state) ~= "table" then
    error("PopulationBasedTrainingReplay:restore: expected the table save() returned", 2)
  end
  if state.scheduler ~= nil and state.scheduler ~= self.__name then
    error(string.format("PopulationBasedTrainingReplay:restore: this state was saved by %s",
      tostring(state.scheduler)), 2)
  end
  self._trial_id = nonnull(state.trial_id)
  self._trial = nil
  self._next_index = nonnull(state.next_index) or 1
  self._current_step = nonnull(state.current_step) or 0
  self._num_perturbations = nonnull(state.num_perturbations) or 0
  local cc = nonnull(state.current_config)
  if type(cc) == "table" then self.current_config = cc end
  -- A memory checkpoint of the previous run is of no use now: the resume
  -- removes it from its trial's directory once it is accepted (the path
  -- saved here may be another copy's, or a refused resume's).
  self._owned = nil
end

return Replay
