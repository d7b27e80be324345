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

--- One training iteration; returns a table of metrics. Every class must
--- define it (the worker fails the start of one that does not, after setup).
function Trainable:step()
  local cls = getmetatable(self)
  error(string.format("%s: a tune.Trainable must define step()", M.class_name(cls)), 0)
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

--- Whether class `cls` defines step() (it is not the base's).
function M.has_step(cls)
  return cls.step ~= Trainable.step
end

--- The name of class `cls` for messages, `fallback` (the trainable's name
--- in tune.run) when the class has none of its own.
function M.class_name(cls, fallback)
  local name = type(cls) == "table" and rawget(cls, "__name")
  if name and name ~= "Trainable" then return name end
  return fallback or "Trainable"
end

local METHODS = {"setup", "step", "save_checkpoint", "load_checkpoint", "reset_config", "cleanup"}

--- An instance of class `cls` for a trial, its methods checked first (one
--- that is not a function failed inside the worker, "attempt to call a
--- string value"), with the fields the worker counts with even when the
--- class's own constructor did not call this one's.
function M.instance(cls, config, info, fallback)
  for _, m in ipairs(METHODS) do
    if type(cls[m]) ~= "function" then
      error(string.format("%s: %s must be a method (a function), got %s", M.class_name(cls, fallback), m, type(cls[m])), 0)
    end
  end
  local inst = cls(config, info)
  if math.type(inst.iteration) ~= "integer" then Trainable.__init(inst, config, info) end
  return inst
end

return M
