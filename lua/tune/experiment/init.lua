--- An experiment: what tune.run was asked to run, and how its trials are
--- made (Ray's Experiment and create_trial_from_spec).
local class = require("tune.class")
local placement = require("tune.executor.placement")
local registry = require("tune.worker.registry")
local util = require("tune.util")
local Trial = require("tune.experiment.trial").Trial

local Experiment = class.class("Experiment")

--- Experiment{name=, run=<trainable>, trainable_name=, loader=, resettable=,
--- stop=, config=, resources_per_trial=, num_samples=, local_dir=, ...}
function Experiment:__init(o)
  self.name = o.name
  self.run = o.run
  self.trainable_name = o.trainable_name
  self.loader = o.loader
  self.resettable = o.resettable
  self.config = o.config or {}
  self.num_samples = o.num_samples or 1
  self.local_dir = o.local_dir
  self.experiment_dir = o.experiment_dir
  self.stopping_criterion = o.stopping_criterion or {}
  self.resources_per_trial = o.resources_per_trial
  self.checkpoint_freq = o.checkpoint_freq or 0
  self.checkpoint_at_end = o.checkpoint_at_end or false
  self.keep_checkpoints_num = o.keep_checkpoints_num
  self.checkpoint_score_attr = o.checkpoint_score_attr
  self.max_failures = o.max_failures or 0
  self.restore = o.restore
  self.trial_name_creator = o.trial_name_creator
  self.trial_dirname_creator = o.trial_dirname_creator
  self.log_to_file = o.log_to_file
  self.experiment_id = o.experiment_id
  self._pgf = o.resources_per_trial and placement.to_pgf(o.resources_per_trial, 3) or nil
end

--- The trial's resources: resources_per_trial, else the class trainable's
--- default_resource_request(config), else one CPU.
function Experiment:pgf_for(config)
  if self._pgf then return self._pgf end
  if registry.kind_of(self.run) == "class" then
    -- The user's class is wrong, not the search algorithm that asked for
    -- the trial (it was blamed, with a traceback into the library): a
    -- refusal passes the plug-in adapter as it is.
    local refuse = require("tune.experiment.refusal").refuse
    local called, r = pcall(self.run.default_resource_request, self.run, config)
    if not called then
      refuse(string.format("tune.run: %s:default_resource_request(config) failed: %s", tostring(self.trainable_name),
        tostring(r)))
    end
    if r ~= nil then
      local ok, pgf = pcall(placement.to_pgf, r)
      if not ok then
        refuse(string.format("tune.run: %s:default_resource_request(config) "
          .. "returned %s: %s", tostring(self.trainable_name),
          type(r) == "table" and "resources that cannot be used" or ("a " .. type(r)),
          (tostring(pgf):gsub("^[^\n]-%.lua:%d+: ", ""))))
      end
      return pgf
    end
  end
  if not self._default_pgf then self._default_pgf = placement.PlacementGroupFactory({{CPU = 1}}) end
  return self._default_pgf
end

--- A Trial for a resolved config.
function Experiment:create_trial(config, evaluated_params, trial_id, experiment_tag)
  local t = Trial(self.trainable_name, {
    config = config,
    trial_id = trial_id,
    local_dir = self.experiment_dir,
    evaluated_params = evaluated_params,
    experiment_tag = experiment_tag,
    placement_group_factory = self:pgf_for(config),
    stopping_criterion = self.stopping_criterion,
    checkpoint_freq = self.checkpoint_freq,
    checkpoint_at_end = self.checkpoint_at_end,
    keep_checkpoints_num = self.keep_checkpoints_num,
    checkpoint_score_attr = self.checkpoint_score_attr,
    restore_path = self.restore,
    trial_name_creator = self.trial_name_creator,
    trial_dirname_creator = self.trial_dirname_creator,
    log_to_file = self.log_to_file,
    max_failures = self.max_failures,
    loader = self.loader,
  })
  t._resettable = self.resettable
  t.experiment_id = self.experiment_id
  return t
end

--- The experiment's name when none is given: <trainable>_<date>, or the
--- trainable's name alone with TUNE_DISABLE_DATED_SUBDIR set to an integer
--- other than 0 (Ray's int() of it; anything else is an error).
function Experiment.default_name(trainable_name)
  local off = util.env_number("TUNE_DISABLE_DATED_SUBDIR")
  if off ~= nil and math.type(off) ~= "integer" then
    error(string.format("environment variable TUNE_DISABLE_DATED_SUBDIR=%q is not an integer",
      os.getenv("TUNE_DISABLE_DATED_SUBDIR")), 0)
  end
  -- One directory: a registered name's "/" (which a name given to tune.run
  -- may not hold) is "_", as in trial directories.
  trainable_name = trainable_name:gsub("/", "_")
  if off ~= nil and off ~= 0 then return trainable_name end
  return string.format("%s_%s", trainable_name, util.date_str())
end

return Experiment
