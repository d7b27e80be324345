--- tune.schedulers: schedulers by class, and create_scheduler(name, opts).
local M = {}

local lazy = {
  TrialScheduler = "tune.schedulers.trial_scheduler",
  FIFOScheduler = "tune.schedulers.fifo",
  MedianStoppingRule = "tune.schedulers.median_stopping",
  AsyncHyperBandScheduler = "tune.schedulers.async_hyperband",
  ASHAScheduler = "tune.schedulers.async_hyperband",
  CurveASHAScheduler = "tune.schedulers.curve_asha",
  HyperBandScheduler = "tune.schedulers.hyperband",
  PopulationBasedTraining = "tune.schedulers.pbt",
  PopulationBasedTrainingReplay = "tune.schedulers.pbt_replay",
  PB2 = "tune.schedulers.pb2",
  HyperBandForBOHB = "tune.schedulers.hb_bohb",
  ResourceChangingScheduler = "tune.schedulers.resource_changing",
  DistributeResources = "tune.schedulers.resource_changing",
  DistributeResourcesToTopJob = "tune.schedulers.resource_changing",
}

--- Ray's string keys for tune.create_scheduler.
M.SCHEDULERS = {
  fifo = "FIFOScheduler",
  median_stopping_rule = "MedianStoppingRule",
  async_hyperband = "AsyncHyperBandScheduler",
  asha = "ASHAScheduler",
  curve_asha = "CurveASHAScheduler",   -- tunelua's own (not in Ray)
  hyperband = "HyperBandScheduler",
  pbt = "PopulationBasedTraining",
  pbt_replay = "PopulationBasedTrainingReplay",
  pb2 = "PB2",
  hb_bohb = "HyperBandForBOHB",
  resource_changing = "ResourceChangingScheduler",
}

return require("tune.util").catalogue(M, lazy, M.SCHEDULERS, "scheduler")
