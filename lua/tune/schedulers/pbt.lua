--- tune.schedulers.PopulationBasedTraining: Ray Tune 2.0's PBT
--- (docs/reference/schedulers/pbt.md).
---
--- Every `perturbation_interval` units of `time_attr` a trial is ranked
--- against the population: one in the top `quantile_fraction` is saved to
--- memory (runner.trial_executor:save(trial, "MEMORY", result)); one in the
--- bottom quantile is stopped, takes a random top trial's checkpoint
--- (trial:on_checkpoint) and a perturbed copy of its config (explore), and
--- waits PAUSED until choose_trial_to_run starts it again from that
--- checkpoint. With reuse_actors the executor hands it its cached worker,
--- which takes the new config in place (reset_config, or a restarted
--- function trainable), else a new worker starts. Every exploit is logged
--- in pbt_global.txt and pbt_policy_<trial_id>.txt (JSON lines, Ray's
--- format) in the experiment directory; PopulationBasedTrainingReplay
--- replays one of those files.
---
--- Randomness (which top trial is cloned, explore's draws, sampled initial
--- values) comes from `sample.Random(seed)`: a `seed` option makes a run's
--- decisions reproducible given the same order of results.
---
--- The hyperparam_mutations helpers (checks, explore, fill_config, tags)
--- are in tune.schedulers.pbt_explore.
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local ckpt = require("tune.executor.checkpoint")
local class = require("tune.class")
local core = require("tune.core")
local sample = require("tune.search.sample")
local util = require("tune.util")
local trial_mod = require("tune.experiment.trial")
local refusal = require("tune.experiment.refusal")
local pbt_explore = require("tune.schedulers.pbt_explore")
local pbt_resume = require("tune.schedulers.pbt_resume")

local CONTINUE, PAUSE, NOOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.NOOP
local MEMORY = ckpt.CheckpointStorage.MEMORY

local PBT = TrialScheduler:extend(nil, "PopulationBasedTraining")
-- It ranks by a metric: tune.run refuses to start it without one.
PBT.requires_metric = true

local OPTIONS = {
  time_attr = true, metric = true, mode = true, perturbation_interval = true, burn_in_period = true,
  hyperparam_mutations = true, quantile_fraction = true, resample_probability = true,
  custom_explore_fn = true, log_config = true, require_attrs = true, synch = true, seed = true,
}
PBT.OPTIONS = OPTIONS

--------------------------------------------------------------------------
-- Helpers, exposed for specs and subclasses (explore, fill_config and
-- tags are tune.schedulers.pbt_explore's)
--------------------------------------------------------------------------

local is_callable = pbt_explore.is_callable
local check_mutations = pbt_explore.check_mutations
PBT.explore = pbt_explore.explore
PBT.fill_config = pbt_explore.fill_config
PBT.make_experiment_tag = pbt_explore.make_experiment_tag

--- JSON text of `v`; values JSON cannot hold become strings (Ray's
--- SafeFallbackEncoder).
local function safe_json(v)
  local text = core.json_encode(v)
  if text then return text end
  local function clean(x, seen)
    local t = type(x)
    if t == "table" then
      seen = seen or {}
      if seen[x] then return tostring(x) end
      seen[x] = true
      local out = {}
      for k, y in pairs(x) do out[type(k) == "number" and k or tostring(k)] = clean(y, seen) end
      return setmetatable(out, getmetatable(x) == core.array_mt and core.array_mt or nil)
    elseif t == "function" or t == "userdata" or t == "thread" then
      return tostring(x)
    end
    return x
  end
  return assert(core.json_encode(clean(v)))
end
PBT._safe_json = safe_json

local function is_finished(trial)
  if type(trial.is_finished) == "function" then return trial:is_finished() end
  return trial.status == "TERMINATED" or trial.status == "ERROR"
end

local function result_value(result, key)
  if result == nil then return nil end
  return util.get_path(result, key)
end

--- Stable sort of `list` by `key(x)` ascending; NaN ranks below every
--- number (a diverging trial is the worst), ties keep their order.
local function stable_sort_by(list, key)
  local items = {}
  for i, x in ipairs(list) do items[i] = {x = x, k = key(x), i = i} end
  table.sort(items, function(a, b)
    local an, bn = a.k ~= a.k, b.k ~= b.k
    if an or bn then
      if an and bn then return a.i < b.i end
      return an
    end
    if a.k ~= b.k then return a.k < b.k end
    return a.i < b.i
  end)
  for i, it in ipairs(items) do list[i] = it.x end
  return list
end
PBT._stable_sort_by = stable_sort_by

--------------------------------------------------------------------------
-- Memory checkpoints that outlive their trial's run
--------------------------------------------------------------------------

-- The executor keeps the newest few memory checkpoints of each trial and
-- deletes them all when the trial stops. A checkpoint PBT will clone (or
-- that a trial restarts from after PBT stopped it) must survive that, as
-- Ray's object-store checkpoints do: PBT takes it out of the executor's
-- bookkeeping and deletes it itself once nothing refers to it.

--- Takes a memory checkpoint's directory over from the executor
--- (TrialExecutor:claim_memory_checkpoint). True when it did (the caller
--- then owns the directory).
function PBT._claim_memory_checkpoint(runner, checkpoint)
  if type(checkpoint) ~= "table" or checkpoint.storage_mode ~= MEMORY then return false end
  local dir = checkpoint.dir_or_data
  local ex = type(runner) == "table" and runner.trial_executor or nil
  if type(dir) ~= "string" or type(ex) ~= "table" or not ex.claim_memory_checkpoint then return false end
  return ex:claim_memory_checkpoint(dir) and true or false
end

--- A runner's bookkeeping of a decision that waits for a save (the trial
--- was saving when PBT stopped it) would hold the trial forever
--- (TrialRunner:forget_decisions).
function PBT._forget_decisions(runner, trial)
  if type(runner) == "table" and runner.forget_decisions then runner:forget_decisions(trial) end
end

--------------------------------------------------------------------------
-- Construction
--------------------------------------------------------------------------

local function need_number(v, name, level)
  if type(v) ~= "number" or v ~= v then
    error(string.format("PopulationBasedTraining: %s must be a number, got %s", name, util.show_got(v)),
      level + 1)
  end
end

--- PopulationBasedTraining{time_attr=, metric=, mode=, perturbation_interval=,
--- burn_in_period=, hyperparam_mutations=, quantile_fraction=,
--- resample_probability=, custom_explore_fn=, log_config=, require_attrs=,
--- synch=, seed=}
function PBT:__init(opts)
  opts = util.check_options("PopulationBasedTraining", opts, OPTIONS, 3)
  util.check_booleans("PopulationBasedTraining", opts, {"log_config", "require_attrs", "synch"}, 3)
  local mutations = opts.hyperparam_mutations or {}
  if type(mutations) ~= "table" then
    error("PopulationBasedTraining: hyperparam_mutations must be a table", 3)
  end
  check_mutations(mutations, "", 3)
  local custom = opts.custom_explore_fn
  if custom ~= nil and not is_callable(custom) then
    error("PopulationBasedTraining: custom_explore_fn must be a function", 3)
  end
  -- Ray 2.0 meant to refuse a PBT with neither hyperparam_mutations nor
  -- custom_explore_fn, but its check sits inside the loop over the
  -- mutations and never runs; 2.0 accepts it, and so do we.
  local qf = opts.quantile_fraction
  if qf == nil then qf = 0.25 end
  need_number(qf, "quantile_fraction", 3)
  if qf > 0.5 or qf < 0 then
    error(string.format("You must set `quantile_fraction` to a value between 0 and 0.5. Current value: '%s'",
      tostring(qf)), 3)
  end
  local interval = opts.perturbation_interval
  if interval == nil then interval = 60.0 end
  need_number(interval, "perturbation_interval", 3)
  if interval <= 0 then
    error(string.format("perturbation_interval must be a positive number greater than 0. Current value: '%s'",
      tostring(interval)), 3)
  end
  local burn_in = opts.burn_in_period
  if burn_in == nil then burn_in = 0.0 end
  need_number(burn_in, "burn_in_period", 3)
  local resample = opts.resample_probability
  if resample == nil then resample = 0.25 end
  need_number(resample, "resample_probability", 3)
  local mode = opts.mode
  if mode ~= nil and mode ~= "min" and mode ~= "max" then error("`mode` must be 'min' or 'max'.", 3) end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then
    error("PopulationBasedTraining: metric must be a string", 3)
  end
  local time_attr = opts.time_attr or "time_total_s"
  if type(time_attr) ~= "string" then error("PopulationBasedTraining: time_attr must be a string", 3) end
  local rng = sample.Random(opts.seed, "PopulationBasedTraining") -- (a bad seed refused in this name)

  TrialScheduler.__init(self)
  self.metric = opts.metric
  self.mode = mode
  self._metric_op = nil
  if mode == "max" then self._metric_op = 1.0 elseif mode == "min" then self._metric_op = -1.0 end
  self._time_attr = time_attr
  self._perturbation_interval = interval
  self._burn_in_period = burn_in
  self._hyperparam_mutations = mutations
  self._quantile_fraction = qf
  self._resample_probability = resample
  self._custom_explore_fn = custom
  self._log_config = opts.log_config ~= false
  self._require_attrs = opts.require_attrs ~= false
  self._synch = opts.synch and true or false
  self._next_perturbation_sync = math.max(interval, burn_in)
  -- After a resume (tune.schedulers.pbt_resume): the sync point to set
  -- again, whether the first perturbation since is to come, checkpoints lent.
  self._reconcile, self._resumed, self._lent = nil, nil, 0
  -- Synch mode: what the last perturbations counted ({sync point,
  -- checkpoints, perturbs}), and where pbt_global.txt ended at the last
  -- save(), for a resume to recount (pbt_resume.recount).
  self._sync_counts, self._log_offset, self._log_dir, self._recount = {}, nil, nil, nil
  self._seed = opts.seed
  self._rng = rng
  self._num_checkpoints = 0
  self._num_perturbations = 0
  self._trial_state = {}   -- trial_id -> {orig_tag, last_score, last_checkpoint, ...}
  self._order = {}         -- trial ids in the order they were added
  self._trials = {}        -- trial_id -> Trial (re-linked through the runner after a restore)
  self._owned = {}         -- memory checkpoint dirs taken over from the executor
  self._pending_clone = {} -- exploited trial_id -> the dir it will restart from
  self._warned = {}
end

--- Ray's set_search_properties: false when this scheduler has its own.
function PBT:set_search_properties(metric, mode)
  if not TrialScheduler.set_search_properties(self, metric, mode) then return false end
  if self.mode == "max" then self._metric_op = 1.0 elseif self.mode == "min" then self._metric_op = -1.0 end
  return true
end

--- Where warnings go (a spec may replace it).
function PBT:_warn(msg)
  io.stderr:write("tunelua warning: ", msg, "\n")
end

function PBT:_warn_once(key, msg)
  if self._warned[key] then return end
  self._warned[key] = true
  self:_warn(msg)
end

--------------------------------------------------------------------------
-- Trials
--------------------------------------------------------------------------

--- The Trial of `trial_id` (re-linked through the runner after a restore).
function PBT:_trial(runner, trial_id)
  local t = self._trials[trial_id]
  if t == nil and type(runner) == "table" and type(runner.get_trial) == "function" then
    t = runner:get_trial(trial_id)
    if t then self._trials[trial_id] = t end
  end
  return t
end

local function is_search_generator(search_alg)
  if type(search_alg) ~= "table" then return false end
  local ok, SearchGenerator = pcall(require, "tune.search.search_generator")
  return ok and class.is_instance(search_alg, SearchGenerator)
end

--- Ray's refusal of a searcher beside PBT, as a message (nil: none):
--- tune.run asks before it makes anything, on_trial_add again.
function PBT:search_alg_refusal(search_alg)
  if not is_search_generator(search_alg) then return nil end
  return string.format("Search algorithms cannot be used with %s schedulers. Please remove %s.",
    self.__name, tostring(search_alg.searcher and (search_alg.searcher.__name or search_alg.searcher) or search_alg))
end

function PBT:on_trial_add(runner, trial)
  local why = self:search_alg_refusal(type(runner) == "table" and runner.search_alg or nil)
  if why then error(why, 2) end
  if not self.metric or not self._metric_op then
    error(string.format("%s has been instantiated without a valid `metric` (%s) or `mode` (%s) parameter. "
      .. "Either pass these parameters when instantiating the scheduler, or pass them as parameters "
      .. "to `tune.run()`", self.__name, tostring(self.metric), tostring(self.mode)), 2)
  end
  local id = trial.trial_id
  self._trials[id] = trial
  self._log_dir = self._log_dir or trial.local_dir
  if self._trial_state[id] then return end -- added again after a resume
  self._trial_state[id] = {
    -- (one a resume adds that the snapshot did not know may carry an exploit's tag)
    orig_tag = (trial.experiment_tag or ""):match("^(.-)@perturbed%[") or trial.experiment_tag or "",
    last_score = nil,
    last_checkpoint = nil,
    last_perturbation_time = 0,
    last_train_time = 0,
    last_result = nil,
  }
  self._order[#self._order + 1] = id
  trial.config = trial.config or {}
  -- Sampled from hyperparam_mutations, and shown with the trial.
  pbt_explore.fill_missing(trial.config, self._hyperparam_mutations, self._rng,
    type(trial.evaluated_params) == "table" and trial.evaluated_params or {})
  local why = pbt_explore.config_refusal(trial.config, self._hyperparam_mutations, self._resample_probability,
    "trial " .. tostring(trial.trial_id) .. "'s config")
  if why then refusal.refuse(self.__name .. ": " .. why) end
end

--------------------------------------------------------------------------
-- Results
--------------------------------------------------------------------------

function PBT:on_trial_result(runner, trial, result)
  -- The runner updates trial.last_result after this hook: the policy log
  -- takes this trial's iteration from `result`.
  self._current_id, self._current_result = trial.trial_id, result
  local decision = self:_on_trial_result(runner, trial, result)
  self._current_id, self._current_result = nil, nil
  return decision
end

function PBT:_on_trial_result(runner, trial, result)
  if self._reconcile then pbt_resume.reconcile(self, runner) end
  local id = trial.trial_id
  self._trials[id] = trial
  if self._trial_state[id] == nil then self:on_trial_add(runner, trial) end
  if trial.status ~= "RUNNING" and self._pending_clone[id] then
    -- A result of the run PBT just stopped to exploit (a buffered batch):
    -- the trial goes on from the cloned checkpoint, not from this.
    return NOOP
  end
  local time = self:_numeric(trial, result_value(result, self._time_attr), self._time_attr, "time_attr")
  local metric_value = self:_numeric(trial, result_value(result, self.metric), self.metric, "metric")
  if time == nil then
    local msg = string.format("Cannot find time_attr %s in trial result %s. Make sure that this attribute is "
      .. "returned in the results of your Trainable.", self._time_attr, safe_json(result))
    if self._require_attrs then
      error(msg .. " If this error is expected, you can change this to a warning message by setting "
        .. "PBT(require_attrs=False)", 0)
    end
    self:_warn_once("pbt-time_attr-error", msg)
  end
  if metric_value == nil then
    local msg = string.format("Cannot find metric %s in trial result %s. Make sure that this attribute is "
      .. "returned in the results of your Trainable.", tostring(self.metric), safe_json(result))
    if self._require_attrs then
      error(msg .. " If this error is expected, you can change this to a warning message by setting "
        .. "PBT(require_attrs=False)", 0)
    end
    self:_warn_once("pbt-metric-error", msg)
  end
  if metric_value == nil or time == nil then return CONTINUE end
  if trial.status == "RUNNING" then self:_release_clone(id) end

  local state = self._trial_state[id]
  -- Continue training if the burn-in period has not been reached yet.
  if time < self._burn_in_period then return CONTINUE end
  -- Continue training if the perturbation interval has not been reached yet.
  if time - state.last_perturbation_time < self._perturbation_interval then return CONTINUE end

  self:_save_trial_state(state, time, result, trial)

  if not self._synch then
    state.last_perturbation_time = time
    local lower, upper = self:_quantiles(runner)
    local decision = CONTINUE
    for _, other in ipairs(runner:get_trials()) do
      if other.status == "PENDING" or other.status == "PAUSED" then
        decision = PAUSE
        break
      end
    end
    self:_checkpoint_or_exploit(trial, runner, upper, lower)
    if trial.status == "PAUSED" then return NOOP end
    return decision
  end

  -- Synchronous mode: wait until every live trial reached the sync point.
  local behind = false
  for _, t in ipairs(runner:get_live_trials()) do
    local st = self._trial_state[t.trial_id]
    if t.trial_id ~= id and (st and st.last_train_time or 0) < self._next_perturbation_sync then
      behind = true
      break
    end
  end
  if not behind then self:_synch_perturb(runner, time) end
  -- In synch mode every trial pauses at a result; once the perturbation
  -- happened they are all paused, and choose_trial_to_run picks the next.
  if trial.status == "PAUSED" then return NOOP end
  return PAUSE
end

--- Synch mode: every live trial reached the sync point; perturb them all
--- at `time` and move the sync point on.
function PBT:_synch_perturb(runner, time)
  local c0, p0 = self._num_checkpoints, self._num_perturbations
  local lower, upper = self:_quantiles(runner)
  local in_q = {}
  for _, t in ipairs(lower) do in_q[t.trial_id] = true end
  for _, t in ipairs(upper) do in_q[t.trial_id] = true end
  -- Strong trials first, weak ones last: the checkpoints of the strong
  -- exist before the weak exploit them.
  local all = {}
  for _, t in ipairs(upper) do all[#all + 1] = t end
  for _, t in ipairs(runner:get_trials()) do
    if not in_q[t.trial_id] then all[#all + 1] = t end
  end
  for _, t in ipairs(lower) do all[#all + 1] = t end
  for _, t in ipairs(all) do
    local st = self._trial_state[t.trial_id]
    if st then
      st.last_perturbation_time = time
      self:_checkpoint_or_exploit(t, runner, upper, lower)
    end
  end
  local max_train = -math.huge
  for _, t in ipairs(runner:get_trials()) do
    local st = self._trial_state[t.trial_id]
    if st and st.last_train_time > max_train then max_train = st.last_train_time end
  end
  pbt_resume.counted(self, self._next_perturbation_sync, self._num_checkpoints - c0, self._num_perturbations - p0)
  self._next_perturbation_sync = math.max(self._next_perturbation_sync + self._perturbation_interval, max_train)
  self._resumed = nil -- the first sync point after a resume is behind (pbt_resume)
end

--- Records the trial's score at this perturbation point.
function PBT:_save_trial_state(state, time, result, trial) -- luacheck: no unused args
  local score = self._metric_op * result_value(result, self.metric)
  state.last_score = score
  state.last_train_time = time
  state.last_result = result
  return score
end

--- Sets a trial state's checkpoint, taking memory checkpoints over from
--- the executor and deleting those nothing refers to any more.
function PBT:_set_last_checkpoint(runner, state, checkpoint)
  local old = state.last_checkpoint
  state.last_checkpoint = checkpoint
  if checkpoint and PBT._claim_memory_checkpoint(runner, checkpoint) then
    self._owned[checkpoint.dir_or_data] = true
  end
  if old and old ~= checkpoint then self:_collect() end
end

--- Deletes owned checkpoint directories that no trial state refers to,
--- that no exploited trial waits to restart from, and that are not the
--- newest checkpoint of a trial that goes on (a paused trial restarts from
--- its own). `ending`: a trial ending (its status is not set yet).
function PBT:_collect(ending)
  if next(self._owned) == nil then return end
  local used = {}
  for id, st in pairs(self._trial_state) do
    local t = self._trials[id]
    local c = t and t ~= ending and not is_finished(t) and t.checkpoint
    for _, x in ipairs({st.last_checkpoint or false, c or false}) do
      if x and x.dir_or_data then used[x.dir_or_data] = true end
    end
  end
  for _, dir in pairs(self._pending_clone) do used[dir] = true end
  for dir in pairs(self._owned) do
    if not used[dir] then
      self._owned[dir] = nil
      core.remove_tree(dir)
    end
  end
end

--- The exploited trial reported again: it has restored its clone.
function PBT:_release_clone(trial_id)
  if self._pending_clone[trial_id] ~= nil then
    self._pending_clone[trial_id] = nil
    self:_collect()
  end
end

local function contains(list, trial)
  for _, t in ipairs(list) do
    if t == trial or t.trial_id == trial.trial_id then return true end
  end
  return false
end

--- Checkpoints the trial if it is in the upper quantile, exploits if in
--- the lower one.
function PBT:_checkpoint_or_exploit(trial, runner, upper_quantile, lower_quantile)
  local state = self._trial_state[trial.trial_id]
  if contains(upper_quantile, trial) then
    if trial.status ~= "RUNNING" then
      -- A paused trial has an in-memory checkpoint; one waiting at the
      -- sync point since a resume lends a copy of its own.
      self:_set_last_checkpoint(runner, state, pbt_resume.lendable_checkpoint(self, trial))
    else
      self:_set_last_checkpoint(runner, state,
        runner.trial_executor:save(trial, MEMORY, state.last_result))
    end
    self._num_checkpoints = self._num_checkpoints + 1
  else
    self:_set_last_checkpoint(runner, state, nil) -- not a top trial
  end
  if contains(lower_quantile, trial) then
    local trial_to_clone = upper_quantile[self._rng:randint(1, #upper_quantile + 1)]
    assert(trial_to_clone.trial_id ~= trial.trial_id, "PBT: a trial cannot clone itself")
    local clone_state = self._trial_state[trial_to_clone.trial_id]
    if not clone_state.last_checkpoint then
      -- [pbt]: no checkpoint for the trial to clone: skip exploit.
      return
    end
    -- A clone that scores no better (a tie on a plateau, or NaN for both):
    -- nothing to gain, and a trial that went back to the clone's time
    -- would run first again and be exploited again, forever, while the
    -- others starve (the quantiles of equal scores follow the trials'
    -- order). A NaN score ranks below every number.
    local mine, theirs = state.last_score, clone_state.last_score
    if theirs == nil or mine == nil or theirs ~= theirs then return end
    if mine == mine and not (theirs > mine) then return end
    if pbt_resume.other_sync_point(self, state, clone_state) then return end
    self:_exploit(runner, trial, trial_to_clone)
  end
end

--- Logs an exploit: [target tag, clone tag, target iteration, clone
--- iteration, clone config, new config] in pbt_global.txt, and the
--- target's pbt_policy_<id>.txt becomes the clone's history plus this line.
function PBT:_log_config_on_step(trial_state, new_state, trial, trial_to_clone, new_config, runner)
  local dir = trial.local_dir or (type(runner) == "table" and runner.experiment_dir) or nil
  if type(dir) ~= "string" then return end
  local clone_dir = trial_to_clone.local_dir or dir
  assert(core.mkdir_p(dir))
  local trial_path = util.join(dir, "pbt_policy_" .. tostring(trial.trial_id) .. ".txt")
  local clone_path = util.join(clone_dir, "pbt_policy_" .. tostring(trial_to_clone.trial_id) .. ".txt")
  -- The clone's iteration is where the replay changes the config: that of
  -- the result its checkpoint was saved after (Ray logs the clone's last
  -- result's, pbt.md). The target's is Ray's.
  local saved = new_state.last_checkpoint and new_state.last_checkpoint.metrics
  local function iteration(t, current_ok)
    local it = current_ok and type(saved) == "table" and saved.training_iteration
    if type(it) == "number" then return it end
    if current_ok and t.trial_id == self._current_id then
      local it = result_value(self._current_result, "training_iteration")
      if it ~= nil then return it end
    end
    return (t.last_result or {}).training_iteration or 0
  end
  local policy = {
    trial_state.orig_tag,
    new_state.orig_tag,
    iteration(trial, false),
    iteration(trial_to_clone, true),
    trial_to_clone.config,
    new_config,
  }
  local line = safe_json(policy) .. "\n"
  assert(core.append(util.join(dir, "pbt_global.txt"), line))
  -- The target's history becomes the clone's, then this step.
  local history = core.read_file(clone_path)
  if history then
    assert(core.write_atomic(trial_path, history))
  end
  assert(core.append(trial_path, line))
end

--- Ray's _get_new_config: an explored copy of the clone's config.
function PBT:_get_new_config(trial, trial_to_clone) -- luacheck: no unused args
  return pbt_explore.check_explored(PBT.explore(trial_to_clone.config, self._hyperparam_mutations,
    self._resample_probability, self._custom_explore_fn, self._rng))
end

--- Transfers the perturbed state of trial_to_clone to trial: the trial
--- stops (PAUSED), takes the new config and tag, and the clone's
--- checkpoint, from which it starts again.
function PBT:_exploit(runner, trial, trial_to_clone)
  local trial_state = self._trial_state[trial.trial_id]
  local new_state = self._trial_state[trial_to_clone.trial_id]
  local new_config = self:_get_new_config(trial, trial_to_clone)
  if self._log_config then
    self:_log_config_on_step(trial_state, new_state, trial, trial_to_clone, new_config, runner)
  end
  local new_tag = PBT.make_experiment_tag(trial_state.orig_tag, new_config, self._hyperparam_mutations)
  if trial.status == "PAUSED" then
    -- A paused trial takes the new checkpoint when it is started again.
    if not self._synch then
      error("Trials should be paused here only if in synchronous mode. If you encounter this error "
        .. "please report it.", 0)
    end
  else
    local ex = runner.trial_executor
    ex:stop_trial(trial)
    ex:set_status(trial, "PAUSED")
    PBT._forget_decisions(runner, trial)
  end
  trial_mod.set_config(trial, new_config, new_tag)
  local source = new_state.last_checkpoint
  -- A registration of its own: it is the trial's newest checkpoint now,
  -- newer than any the trial saved itself.
  trial:on_checkpoint(ckpt.Checkpoint{dir_or_data = source.dir_or_data, storage_mode = source.storage_mode,
    metrics = source.metrics})
  if type(source.dir_or_data) == "string" then self._pending_clone[trial.trial_id] = source.dir_or_data end
  self._num_perturbations = self._num_perturbations + 1
  -- Transfer over the last perturbation time as well.
  trial_state.last_perturbation_time = new_state.last_perturbation_time
  trial_state.last_train_time = new_state.last_train_time
end

--- The trials in the lower and upper quantile of the population (both
--- sorted by score, ascending), or two empty lists when fewer than two
--- trials have a score.
function PBT:_quantiles(runner)
  local trials = {}
  for _, id in ipairs(self._order) do
    local state = self._trial_state[id]
    local t = self:_trial(runner, id)
    if t and state.last_score ~= nil and not is_finished(t) then trials[#trials + 1] = t end
  end
  stable_sort_by(trials, function(t) return self._trial_state[t.trial_id].last_score end)
  if #trials <= 1 then return {}, {} end
  local n = math.ceil(#trials * self._quantile_fraction)
  if n > #trials / 2 then n = math.floor(#trials / 2) end
  local lower, upper = {}, {}
  for i = 1, n do lower[i] = trials[i] end
  -- Python's trials[-0:] is the whole list.
  local first = n == 0 and 1 or #trials - n + 1
  for i = first, #trials do upper[#upper + 1] = trials[i] end
  return lower, upper
end

--- Ensures all trials get a fair share of time (as time_attr measures it):
--- the PENDING or PAUSED trial that is furthest behind runs next; in
--- synch mode only those behind the next sync point.
function PBT:choose_trial_to_run(runner)
  if self._reconcile then pbt_resume.reconcile(self, runner) end
  local chosen = self:_choose(runner)
  if chosen == nil and self._synch and self:_stalled(runner) then
    -- After a resume every live trial may already wait at the sync point
    -- with none left to report there: perturb now, as the last result
    -- would have.
    self:_synch_perturb(runner, self._next_perturbation_sync)
    chosen = self:_choose(runner)
  end
  return chosen
end

--- Synch mode: nothing runs, and every live trial waits at (or past) the
--- next sync point.
function PBT:_stalled(runner)
  local waiting = false
  for _, t in ipairs(runner:get_live_trials()) do
    if t.status == "RUNNING" then return false end
    local st = self._trial_state[t.trial_id]
    if not st or st.last_train_time < self._next_perturbation_sync then return false end
    waiting = true
  end
  return waiting
end

--- Where a resumed trial restarts (TrialRunner:resume): its time is its
--- checkpoint's, and in synch mode the sync point follows from where the
--- trials restart, whatever the snapshot said (tune.schedulers.pbt_resume).
function PBT:on_trial_restored(runner, trial, iteration) -- luacheck: no unused args
  pbt_resume.on_trial_restored(self, trial, iteration)
end

function PBT:_choose(runner)
  local candidates = {}
  for _, trial in ipairs(runner:get_trials()) do
    if (trial.status == "PENDING" or trial.status == "PAUSED")
        and runner.trial_executor:has_resources_for_trial(trial) then
      local st = self._trial_state[trial.trial_id]
      local t = st and st.last_train_time or 0
      if not self._synch or t < self._next_perturbation_sync then candidates[#candidates + 1] = trial end
    end
  end
  stable_sort_by(candidates, function(t)
    local st = self._trial_state[t.trial_id]
    return st and st.last_train_time or 0
  end)
  return candidates[1]
end

local function forget(self, trial)
  local state = self._trial_state[trial.trial_id]
  self._trials[trial.trial_id] = trial
  self._pending_clone[trial.trial_id] = nil
  if state then state.last_checkpoint = nil end
  self:_collect(trial)
end

function PBT:on_trial_complete(runner, trial, result) forget(self, trial) end -- luacheck: no unused args
function PBT:on_trial_remove(runner, trial) forget(self, trial) end -- luacheck: no unused args
function PBT:on_trial_error(runner, trial) forget(self, trial) end -- luacheck: no unused args

--- Unit-test helpers (Ray's reset_stats and last_scores).
function PBT:reset_stats()
  self._num_perturbations = 0
  self._num_checkpoints = 0
end

function PBT:last_scores(trials)
  local scores = {}
  for _, t in ipairs(trials) do
    local st = self._trial_state[t.trial_id]
    if st and st.last_score ~= nil and not is_finished(t) then scores[#scores + 1] = st.last_score end
  end
  return scores
end

function PBT:debug_string()
  pbt_resume.settle(self)
  return string.format("PopulationBasedTraining: %d checkpoints, %d perturbs", self._num_checkpoints,
    self._num_perturbations)
end

--------------------------------------------------------------------------
-- Resume
--------------------------------------------------------------------------

--- {trial_state = [{trial_id, orig_tag, last_score, ...}], ...}. Memory
--- checkpoints do not survive a restart (as in Ray): after a restore the
--- trials are ranked again from their next results.
function PBT:save(runner)
  pbt_resume.settle(self)
  if type(runner) == "table" and type(runner.experiment_dir) == "string" then
    self._log_dir = self._log_dir or runner.experiment_dir
  end
  local states = {}
  for _, id in ipairs(self._order) do
    local st = self._trial_state[id]
    states[#states + 1] = {
      trial_id = id,
      orig_tag = st.orig_tag,
      last_score = st.last_score,
      last_perturbation_time = st.last_perturbation_time,
      last_train_time = st.last_train_time,
    }
  end
  local owned = util.sorted_keys(self._owned)
  return {
    scheduler = self.__name,
    version = 1,
    metric = self.metric,
    mode = self.mode,
    trial_state = core.array(states),
    next_perturbation_sync = self._next_perturbation_sync,
    num_checkpoints = self._num_checkpoints,
    num_perturbations = self._num_perturbations,
    rng = self._rng:get_state(),
    owned_checkpoints = core.array(owned),
    sync_counts = core.array(self._sync_counts),
    log_offset = pbt_resume.log_offset(self),
  }
end

local nonnull = util.nonnull

function PBT:restore(state, runner)
  if type(state) ~= "table" then error("PopulationBasedTraining:restore: expected the table save() returned", 2) end
  if state.scheduler ~= nil and state.scheduler ~= self.__name then
    error(string.format("PopulationBasedTraining:restore: this state was saved by %s", tostring(state.scheduler)), 2)
  end
  if type(state.trial_state) ~= "table" then
    error("PopulationBasedTraining:restore: state.trial_state must be a list", 2)
  end
  self._trial_state, self._order, self._trials, self._pending_clone = {}, {}, {}, {}
  for _, s in ipairs(state.trial_state) do
    if type(s) ~= "table" or type(s.trial_id) ~= "string" then
      error("PopulationBasedTraining:restore: every trial state needs a trial_id", 2)
    end
    self._trial_state[s.trial_id] = {
      orig_tag = nonnull(s.orig_tag) or "",
      last_score = nonnull(s.last_score),
      last_checkpoint = nil,
      last_perturbation_time = nonnull(s.last_perturbation_time) or 0,
      last_train_time = nonnull(s.last_train_time) or 0,
      last_result = nil,
    }
    self._order[#self._order + 1] = s.trial_id
  end
  self.metric = self.metric or nonnull(state.metric)
  self.mode = self.mode or nonnull(state.mode)
  if self.mode == "max" then self._metric_op = 1.0 elseif self.mode == "min" then self._metric_op = -1.0 end
  self._next_perturbation_sync = nonnull(state.next_perturbation_sync) or self._next_perturbation_sync
  self._num_checkpoints = nonnull(state.num_checkpoints) or 0
  self._num_perturbations = nonnull(state.num_perturbations) or 0
  if type(state.rng) == "table" then self._rng:set_state(state.rng) end
  pbt_resume.restore_counts(self, state, runner)
  -- Memory checkpoints of the previous run are of no use now: the resume
  -- removes them from every trial's directory once it is accepted (the
  -- paths saved here may be another copy's, or a refused resume's).
  self._owned = {}
end

return PBT
