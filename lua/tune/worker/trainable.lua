--- tune.Trainable: the base class of class trainables (Ray's Trainable).
--- Derive with `tune.Trainable:extend{...}` and override `setup`, `step`,
--- `save_checkpoint`, `load_checkpoint`, `reset_config`, `cleanup`, and the
--- class method `default_resource_request`.
local class = require("tune.class")

local M = {}

local Trainable = class.class("Trainable")

--- Called by the worker with the trial's config.
function Trainable:__init(config, info)
  self.config = config or {}
  self.iteration = 0
  self.training_iteration = 0
  if info then
    self.trial_id = info.trial_id
    self.trial_name = info.name
    self.logdir = info.logdir
  end
end

--- One-time initialisation with the config (override).
function Trainable:setup(config) end

--- One training iteration; returns a table of metrics (override).
function Trainable:step()
  error("Trainable:step() is not implemented by this class", 2)
end

--- Write state into directory `dir`; may return a table instead, which is
--- stored as JSON in the checkpoint (override).
function Trainable:save_checkpoint(dir) return nil end

--- Restore from what save_checkpoint produced: the table it returned, or
--- the checkpoint directory's path (override).
function Trainable:load_checkpoint(checkpoint) end

--- Take a new config in place, for worker reuse and PBT. Return true when
--- done; the default cannot reset, so reset_trial returns false.
function Trainable:reset_config(new_config) return false end

--- Release resources when the trial stops (override).
function Trainable:cleanup() end

--- Class method: resources per trial for a config, as a table or a
--- PlacementGroupFactory, or nil for the default (1 CPU).
function Trainable.default_resource_request(cls, config) return nil end

M.Trainable = Trainable
return M
