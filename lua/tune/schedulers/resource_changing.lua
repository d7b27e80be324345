--- tune.schedulers.ResourceChangingScheduler, DistributeResources and
--- DistributeResourcesToTopJob: Ray Tune 2.0's scheduler that changes the
--- resources of live trials (docs/reference/schedulers/resource_changing.md).
---
--- It wraps a base scheduler. When the base says CONTINUE, the
--- resources_allocation_function is asked for the trial's resources; a
--- different PlacementGroupFactory makes the trial PAUSE (a memory
--- checkpoint, the worker stops), and when choose_trial_to_run next runs
--- the trial gets the new factory, so it starts again on a placement group
--- of the new size (a new worker, with OMP_NUM_THREADS and
--- CUDA_VISIBLE_DEVICES to match) and restores the checkpoint. Workers
--- cannot be reused across sizes: `_requires_restart` makes tune.run
--- default reuse_actors to false, and reuse_actors = true is an error.
local TrialScheduler = require("tune.schedulers.trial_scheduler")
local class = require("tune.class")
local core = require("tune.core")
local placement = require("tune.executor.placement")
local util = require("tune.util")

local PlacementGroupFactory = placement.PlacementGroupFactory
local CONTINUE, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.PAUSE

local M = {}

--------------------------------------------------------------------------
-- Bundles (lists of {CPU =, GPU =, ...})
--------------------------------------------------------------------------

local function get(b, k) return (b and b[k]) or 0 end

--- Python truthiness of a resource amount (missing or 0 is false).
local function has(b, k) return get(b, k) ~= 0 end

local function copy_bundles(bundles)
  local out = {}
  for i, b in ipairs(bundles or {}) do
    local c = {}
    for k, v in pairs(b) do c[k] = v end
    out[i] = c
  end
  return out
end

local function is_bundle_empty(b)
  return not (has(b, "CPU") or has(b, "GPU"))
end

--- Sums of every resource in `bundles` (only the names that occur).
local function sum_bundles(bundles)
  if #bundles == 0 then return {CPU = 0, GPU = 0} end
  local out = {}
  for _, b in ipairs(bundles) do
    for k, v in pairs(b) do out[k] = (out[k] or 0) + v end
  end
  return out
end

local function int(x)
  local f = x >= 0 and math.floor(x) or math.ceil(x)
  return math.tointeger(f) or f
end

--- Python's a[:n] for n >= 0, and a[:n] = all but the last -n for n < 0.
local function head_slice(list, n)
  local out = {}
  local last = n >= 0 and math.min(n, #list) or #list + n
  for i = 1, last do out[i] = list[i] end
  return out
end

--- Python's a[n:].
local function tail_slice(list, n)
  local out = {}
  for i = n + 1, #list do out[#out + 1] = list[i] end
  return out
end

--- The bundles of a factory without an empty head bundle (Ray's
--- _head_bundle_is_empty: a head that reserves nothing is not counted),
--- and whether there was one.
local function bundles_of(pgf)
  local bundles = copy_bundles(pgf.bundles)
  if #bundles > 1 and next(bundles[1]) == nil then
    table.remove(bundles, 1)
    return bundles, true
  end
  return bundles, false
end
M._bundles_of = bundles_of

local function required(t)
  local r = t.placement_group_factory:required_resources()
  return r.CPU or 0, r.GPU or 0
end

--- Stable sort by key ascending, NaN keys last.
local function stable_sort_by(list, key)
  local items = {}
  for i, x in ipairs(list) do items[i] = {x = x, k = key(x), i = i} end
  table.sort(items, function(a, b)
    local an, bn = a.k ~= a.k, b.k ~= b.k
    if an or bn then
      if an and bn then return a.i < b.i end
      return bn
    end
    if a.k ~= b.k then return a.k < b.k end
    return a.i < b.i
  end)
  local out = {}
  for i, it in ipairs(items) do out[i] = it.x end
  return out
end

--------------------------------------------------------------------------
-- DistributeResources
--------------------------------------------------------------------------

local DISTRIBUTE_OPTIONS = {add_bundles = true, increase_by = true, increase_by_times = true,
  reserve_resources = true}

local function check_resource_table(v, name, cls, level)
  if v == nil then return {} end
  if type(v) ~= "table" then
    error(string.format("%s: %s must be a table of resource = amount", cls, name), level + 1)
  end
  local out, given = {}, {}
  for _, k in ipairs(util.sorted_keys(v)) do
    local x = v[k]
    if type(k) ~= "string" or type(x) ~= "number" or x ~= x or x < 0 then
      error(string.format("%s: %s must map resource names to non-negative numbers", cls, name), level + 1)
    end
    local lk = k:lower()
    local key = (lk == "cpu" and "CPU") or (lk == "gpu" and "GPU") or k
    -- Which of cpu and CPU counted depended on the table's order.
    if given[key] then
      error(string.format("%s: %s gives %s twice (as %q and %q)", cls, name, key, given[key], k), level + 1)
    end
    out[key], given[key] = x, k
  end
  return out
end

--- DistributeResources{add_bundles = false, increase_by = {}, increase_by_times = -1,
--- reserve_resources = {}}: spreads the free CPUs and GPUs evenly over the
--- live trials (Ray's default allocation function). Called as
--- fn(runner, trial, result, scheduler) -> PlacementGroupFactory or nil.
local DistributeResources = class.class("DistributeResources")
M.DistributeResources = DistributeResources

local function init_distribute(self, opts, cls, level)
  self.add_bundles = opts.add_bundles and true or false
  self.increase_by = check_resource_table(opts.increase_by, "increase_by", cls, level + 1)
  local times = opts.increase_by_times
  if times == nil then times = -1 end
  if type(times) ~= "number" or math.tointeger(times) == nil then
    error(cls .. ": increase_by_times must be an integer", level + 1)
  end
  self.increase_by_times = math.tointeger(times)
  self.reserve_resources = check_resource_table(opts.reserve_resources, "reserve_resources", cls, level + 1)
  if next(self.increase_by) ~= nil and is_bundle_empty(self.increase_by) then
    error(cls .. ": increase_by must hold some CPU or GPU", level + 1)
  end
end

function DistributeResources:__init(opts)
  opts = util.check_options("DistributeResources", opts, DISTRIBUTE_OPTIONS, 3)
  util.check_booleans("DistributeResources", opts, {"add_bundles"}, 3)
  init_distribute(self, opts, "DistributeResources", 3)
end

--- False when the trial keeps its resources outright.
function DistributeResources:_validate(base_trial_resource, result)
  if getmetatable(base_trial_resource) ~= PlacementGroupFactory then
    error(self.__name .. " only supports PlacementGroupFactories.", 0)
  end
  local base = bundles_of(base_trial_resource)
  if not self.add_bundles and #base > 1 then
    error(string.format("If `add_bundles` is False, the number of bundles in `resources_per_trial` must be 1 "
      .. "(got %d).", #base), 0)
  end
  -- Not on the first iteration.
  if (result.training_iteration or 0) < 1 then return false end
  return true
end

--- Total CPUs and GPUs of the cluster (not just the free ones), less
--- reserve_resources.
function DistributeResources:_get_total_available_resources(runner)
  local total = runner.trial_executor:resources()
  return (total.CPU or 0) - get(self.reserve_resources, "CPU"), (total.GPU or 0) - get(self.reserve_resources, "GPU")
end

function DistributeResources:_get_used_cpus_and_gpus(t)
  return required(t)
end

function DistributeResources:_get_resources_from_bundles(bundles)
  return sum_bundles(bundles)
end

function DistributeResources:_is_bundle_empty(bundle)
  return is_bundle_empty(bundle)
end

--- a + b. With add_bundles the lists are joined (empty bundles dropped),
--- else the first bundles are summed. With limit_to_increase_by_times the
--- result is capped at min(max_increase_by_times, increase_by_times)
--- increase_by units when either is positive.
function DistributeResources:_add_two_bundles(a, b, increase_by, limit_to_increase_by_times, max_increase_by_times)
  max_increase_by_times = max_increase_by_times or -1
  if limit_to_increase_by_times then
    if max_increase_by_times > 0 and self.increase_by_times > 0 then
      max_increase_by_times = math.min(max_increase_by_times, self.increase_by_times)
    elseif self.increase_by_times > 0 then
      max_increase_by_times = self.increase_by_times
    end
  end
  local bundles
  if self.add_bundles then
    bundles = {}
    for _, x in ipairs(a) do if not is_bundle_empty(x) then bundles[#bundles + 1] = x end end
    for _, x in ipairs(b) do if not is_bundle_empty(x) then bundles[#bundles + 1] = x end end
    if max_increase_by_times > 0 then bundles = head_slice(bundles, max_increase_by_times) end
  else
    local a0, b0 = a[1] or {}, b[1] or {}
    bundles = {{CPU = get(a0, "CPU") + get(b0, "CPU"), GPU = get(a0, "GPU") + get(b0, "GPU")}}
    -- Other resources (memory, custom) of the first bundle stay (Ray
    -- keeps only CPU and GPU).
    for k, v in pairs(a0) do
      if k ~= "CPU" and k ~= "GPU" then bundles[1][k] = v end
    end
    if max_increase_by_times > 0 then
      bundles[1].CPU = math.min(bundles[1].CPU, get(increase_by, "CPU") * max_increase_by_times)
      bundles[1].GPU = math.min(bundles[1].GPU, get(increase_by, "GPU") * max_increase_by_times)
    end
  end
  return bundles
end

--- How many increase_by units fit in cpus and gpus (negative when they
--- are negative), at most max_multiplier when that is positive.
function DistributeResources:_get_multiplier(increase_by, cpus, gpus, max_multiplier)
  cpus, gpus, max_multiplier = cpus or 0, gpus or 0, max_multiplier or -1
  local m
  if has(increase_by, "CPU") and has(increase_by, "GPU") then
    m = math.min(cpus // increase_by.CPU, gpus // increase_by.GPU)
  elseif has(increase_by, "GPU") then
    m = gpus // increase_by.GPU
  elseif has(increase_by, "CPU") then
    m = cpus // increase_by.CPU
  else
    m = 0 -- nothing to add (Ray divides by zero here)
  end
  if max_multiplier > 0 and m > 0 then m = math.min(max_multiplier, m) end
  return int(m)
end

--- Removes |multiplier| increase_by units from bundles.
function DistributeResources:_remove_bundles(bundles, increase_by, multiplier)
  multiplier = -math.abs(multiplier)
  if self.add_bundles then return head_slice(bundles, multiplier) end
  bundles = copy_bundles(bundles)
  local b = bundles[1]
  b.CPU = math.max(get(b, "CPU") + get(increase_by, "CPU") * multiplier, 0)
  b.GPU = math.max(get(b, "GPU") + get(increase_by, "GPU") * multiplier, 0)
  return bundles
end

--- |multiplier| increase_by units as bundles.
function DistributeResources:_create_new_bundles(increase_by, multiplier)
  multiplier = math.abs(multiplier)
  if self.add_bundles then
    local out = {}
    for i = 1, int(multiplier) do
      local c = {}
      for k, v in pairs(increase_by) do c[k] = v end
      out[i] = c
    end
    return out
  end
  return {{CPU = get(increase_by, "CPU") * multiplier, GPU = get(increase_by, "GPU") * multiplier}}
end

--- Grows or shrinks bundles by the increase_by units that the free
--- resources hold.
function DistributeResources:_modify_bundles_with_free_resources(bundles, increase_by, free_cpus, free_gpus,
                                                                  max_multiplier, max_increase_by_times)
  local m = self:_get_multiplier(increase_by, free_cpus, free_gpus, max_multiplier or -1)
  if m < 0 then
    bundles = self:_remove_bundles(bundles, increase_by, m)
  elseif m > 0 then
    local add = self:_create_new_bundles(increase_by, m)
    bundles = self:_add_two_bundles(bundles, add, increase_by, true, max_increase_by_times or -1)
  end
  return bundles
end

--- What bundles hold beyond base_bundles.
function DistributeResources:_get_added_bundles(bundles, base_bundles)
  if self.add_bundles then return tail_slice(bundles, #base_bundles) end
  if #bundles == 0 then bundles = {{CPU = 0, GPU = 0}} end
  if #base_bundles == 0 then base_bundles = {{CPU = 0, GPU = 0}} end
  return {{CPU = get(bundles[1], "CPU") - get(base_bundles[1], "CPU"),
           GPU = get(bundles[1], "GPU") - get(base_bundles[1], "GPU")}}
end

--- True while what bundles add to base_bundles is below the
--- increase_by_times limit (always without a limit).
function DistributeResources:_are_bundles_below_limit(bundles, base_bundles, max_added_cpus, max_added_gpus)
  if not max_added_cpus or max_added_cpus == 0 then
    max_added_cpus = self.increase_by_times > 0 and get(self.increase_by, "CPU") * self.increase_by_times
      or math.huge
  end
  if not max_added_gpus or max_added_gpus == 0 then
    max_added_gpus = self.increase_by_times > 0 and get(self.increase_by, "GPU") * self.increase_by_times
      or math.huge
  end
  local added = self:_get_resources_from_bundles(
    (base_bundles and #base_bundles > 0) and self:_get_added_bundles(bundles, base_bundles) or bundles)
  return (added.CPU or -math.huge) < max_added_cpus or (added.GPU or -math.huge) < max_added_gpus
end

--- The bundles the trial gets beyond its base: an even share of the
--- cluster (simulated from a clean slate, each trial taking one
--- increase_by unit in turn), limited by what is free now.
function DistributeResources:_get_new_added_bundles(trial, all_trials, base_bundles, increase_by,
                                                    total_cpus, total_gpus, used_cpus, used_gpus)
  local n = #all_trials
  local upper = {}
  for i = 1, n do upper[i] = {} end
  local free_cpus, free_gpus = total_cpus - used_cpus, total_gpus - used_gpus
  local base_res = self:_get_resources_from_bundles(base_bundles)
  local cpus_left = total_cpus - (base_res.CPU or 0) * n
  local gpus_left = total_gpus - (base_res.GPU or 0) * n
  local max_increase_by_times = 0
  local i = 0
  local at_limit, n_at_limit = {}, 0
  while n_at_limit < n and cpus_left >= get(increase_by, "CPU") and gpus_left >= get(increase_by, "GPU") do
    local idx = i % n + 1
    local old = copy_bundles(upper[idx])
    upper[idx] = self:_modify_bundles_with_free_resources(upper[idx], increase_by, cpus_left, gpus_left, 1)
    local added = self:_get_resources_from_bundles(self:_get_added_bundles(upper[idx], old))
    if (added.CPU or 0) == 0 and (added.GPU or 0) == 0 then
      if not at_limit[idx] then
        at_limit[idx] = true
        n_at_limit = n_at_limit + 1
      end
    elseif idx == 1 then
      max_increase_by_times = max_increase_by_times + 1
    end
    cpus_left = cpus_left - (added.CPU or 0)
    gpus_left = gpus_left - (added.GPU or 0)
    i = i + 1
  end
  local trial_bundles = bundles_of(trial.placement_group_factory)
  return self:_modify_bundles_with_free_resources(self:_get_added_bundles(trial_bundles, base_bundles),
    increase_by, free_cpus, free_gpus, -1, max_increase_by_times)
end

--- fn(runner, trial, result, scheduler) -> a PlacementGroupFactory, or
--- nil when the trial keeps its resources.
function DistributeResources:__call(runner, trial, result, scheduler)
  local base = scheduler.base_trial_resources
  if not self:_validate(base, result) then return nil end
  base = base or PlacementGroupFactory({{CPU = 1, GPU = 0}})
  local base_bundles, head_empty = bundles_of(base)
  local increase_by
  if next(self.increase_by) ~= nil then
    increase_by = self.increase_by
    assert(not is_bundle_empty(increase_by) and get(increase_by, "CPU") >= 0 and get(increase_by, "GPU") >= 0)
  elseif self.add_bundles then
    increase_by = base_bundles[#base_bundles]
  elseif has(base_bundles[1], "GPU") then
    increase_by = {GPU = 1}
  else
    increase_by = {CPU = 1}
  end
  local total_cpus, total_gpus = self:_get_total_available_resources(runner)
  local all_trials = runner:get_live_trials()
  local used_cpus, used_gpus = 0, 0
  for _, t in ipairs(all_trials) do
    local c, g = self:_get_used_cpus_and_gpus(t)
    used_cpus, used_gpus = used_cpus + c, used_gpus + g
  end
  local added = self:_get_new_added_bundles(trial, all_trials, base_bundles, increase_by, total_cpus, total_gpus,
    used_cpus, used_gpus)
  local new_bundles = self:_add_two_bundles(base_bundles, added, increase_by, false)
  if head_empty then table.insert(new_bundles, 1, {}) end
  return PlacementGroupFactory(new_bundles, {strategy = base.strategy})
end

--------------------------------------------------------------------------
-- DistributeResourcesToTopJob
--------------------------------------------------------------------------

local TOPJOB_OPTIONS = {add_bundles = true, increase_by = true, increase_by_times = true,
  reserve_resources = true, metric = true, mode = true}

--- DistributeResourcesToTopJob{add_bundles=, increase_by=, increase_by_times=,
--- reserve_resources=, metric=, mode=}: gives every free CPU and GPU to the
--- best trial by metric/mode (the scheduler's when not given). Earlier
--- best trials keep what they got unless resources run short.
local DistributeResourcesToTopJob = DistributeResources:extend(nil, "DistributeResourcesToTopJob")
M.DistributeResourcesToTopJob = DistributeResourcesToTopJob

function DistributeResourcesToTopJob:__init(opts)
  opts = util.check_options("DistributeResourcesToTopJob", opts, TOPJOB_OPTIONS, 3)
  util.check_booleans("DistributeResourcesToTopJob", opts, {"add_bundles"}, 3)
  init_distribute(self, opts, "DistributeResourcesToTopJob", 3)
  if opts.mode ~= nil and opts.mode ~= "min" and opts.mode ~= "max" then
    error("DistributeResourcesToTopJob: The mode parameter can only be either min or max.", 3)
  end
  if opts.metric ~= nil and type(opts.metric) ~= "string" then
    error("DistributeResourcesToTopJob: metric must be a string", 3)
  end
  self.metric = opts.metric
  self.mode = opts.mode
end

function DistributeResourcesToTopJob:_metric_op()
  if self.mode ~= "min" and self.mode ~= "max" then
    error("The mode parameter can only be either min or max.", 0)
  end
  return self.mode == "max" and 1.0 or -1.0
end

function DistributeResourcesToTopJob:_get_new_added_bundles(trial, all_trials, base_bundles, increase_by,
                                                            total_cpus, total_gpus, used_cpus, used_gpus)
  if self.metric == nil then
    error("The metric parameter cannot be None. The parameter can be set in either "
      .. "`DistributeResourcesToTopJob`, the base scheduler or in `tune.run()` (highest to lowest priority).", 0)
  end
  local free_cpus, free_gpus = total_cpus - used_cpus, total_gpus - used_gpus
  local op = self:_metric_op()
  local sorted = stable_sort_by(all_trials, function(t)
    local v = util.get_path(t.last_result or {}, self.metric)
    if type(v) ~= "number" then v = math.huge end
    return -op * v
  end)
  local added = self:_get_added_bundles(bundles_of(trial.placement_group_factory), base_bundles)
  local best = sorted[1]
  for _, t in ipairs(sorted) do
    if self:_are_bundles_below_limit(bundles_of(t.placement_group_factory), base_bundles) then
      best = t
      break
    end
  end
  if best and trial.trial_id ~= best.trial_id
      -- Only reduce resources here.
      and self:_get_multiplier(increase_by, free_cpus, free_gpus) >= 0 then
    return added
  end
  return self:_modify_bundles_with_free_resources(added, increase_by, free_cpus, free_gpus)
end

--------------------------------------------------------------------------
-- ResourceChangingScheduler
--------------------------------------------------------------------------

local RCS = TrialScheduler:extend(nil, "ResourceChangingScheduler")
M.ResourceChangingScheduler = RCS

--- tune.run defaults reuse_actors to false for this scheduler.
RCS._requires_restart = true

local RCS_OPTIONS = {base_scheduler = true, resources_allocation_function = true}

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- ResourceChangingScheduler{base_scheduler = FIFOScheduler(),
--- resources_allocation_function = DistributeResources{add_bundles = false}}.
--- resources_allocation_function = false: no resources are ever changed.
function RCS:__init(opts)
  opts = util.check_options("ResourceChangingScheduler", opts, RCS_OPTIONS, 3)
  local base = opts.base_scheduler
  if base ~= nil and type(base) ~= "table" then
    error("ResourceChangingScheduler: base_scheduler must be a scheduler (a table of hooks)", 3)
  end
  for _, k in ipairs({"base_scheduler", "resources_allocation_function"}) do
    local v = opts[k]
    if class.is_class(v) then error(("ResourceChangingScheduler: %s is the class %s, not an instance: call it "
      .. "(%s{...})"):format(k, v.__name, v.__name), 3) end
  end
  local fn = opts.resources_allocation_function
  if fn == nil then
    fn = DistributeResources{add_bundles = false}
  elseif fn == false then
    io.stderr:write("tunelua warning: `resources_allocation_function` is false. No resource requirements "
      .. "will be changed at any time. Pass a correctly defined function to enable functionality.\n")
    fn = nil
  elseif not is_callable(fn) then
    error("ResourceChangingScheduler: resources_allocation_function must be a function "
      .. "fn(runner, trial, result, scheduler), a DistributeResources, or false", 3)
  end
  TrialScheduler.__init(self)
  self._resources_allocation_function = fn
  self._base_scheduler = base or require("tune.schedulers.fifo")()
  -- The first trial's resources, every trial's base (Ray's
  -- base_trial_resources property; the allocation functions read it).
  self._base_trial_resources = nil
  self.base_trial_resources = nil
  self._trials_to_reallocate = {} -- trial_id -> PlacementGroupFactory
  self._reallocation_order = {}   -- trial ids, in the order they were asked for
  self._reallocated_trial_ids = {}
  self._trials = {}
  self._metric, self._mode = nil, nil
  self.metric = self._base_scheduler.metric
  self.mode = self._base_scheduler.mode
  -- Results reach it the way the base scheduler needs them.
  self.supports_buffered_results = self._base_scheduler.supports_buffered_results ~= false
end

--- Calls the base scheduler's hook, or the base class default when the
--- base (any table of hooks) lacks it.
local function base_call(self, name, ...)
  local base = self._base_scheduler
  local f = base[name]
  if f == nil then f = TrialScheduler[name] end
  return f(base, ...)
end

function RCS:set_search_properties(metric, mode)
  self._metric = metric
  self._mode = mode
  local took = base_call(self, "set_search_properties", metric, mode)
  self.metric = self._base_scheduler.metric or self.metric
  self.mode = self._base_scheduler.mode or self.mode
  return took
end

function RCS:on_trial_add(runner, trial)
  self._trials[trial.trial_id] = trial
  if self._base_trial_resources == nil then
    -- The first trial's resources are every trial's base.
    self._base_trial_resources = trial.placement_group_factory
    self.base_trial_resources = trial.placement_group_factory
  elseif not self._reallocated_trial_ids[trial.trial_id] then
    -- Trials whose resources were changed come back with them on resume.
    if not (trial.placement_group_factory == self._base_trial_resources) then
      error(string.format("ResourceChangingScheduler doesn't support trials with varying base resources. "
        .. "First trial had %s, trial %s has %s.", tostring(self._base_trial_resources), tostring(trial),
        tostring(trial.placement_group_factory)), 2)
    end
  end
  return base_call(self, "on_trial_add", runner, trial)
end

function RCS:on_trial_error(runner, trial)
  return base_call(self, "on_trial_error", runner, trial)
end

function RCS:on_trial_result(runner, trial, result)
  self._trials[trial.trial_id] = trial
  local decision = base_call(self, "on_trial_result", runner, trial, result)
  if decision == nil then decision = CONTINUE end
  if decision == CONTINUE then
    local new = self:reallocate_trial_resources_if_needed(runner, trial, result)
    if new then
      if self._trials_to_reallocate[trial.trial_id] == nil then
        self._reallocation_order[#self._reallocation_order + 1] = trial.trial_id
      end
      self._trials_to_reallocate[trial.trial_id] = new
      return PAUSE
    end
  end
  return decision
end

function RCS:on_trial_complete(runner, trial, result)
  return base_call(self, "on_trial_complete", runner, trial, result)
end

function RCS:on_trial_remove(runner, trial)
  return base_call(self, "on_trial_remove", runner, trial)
end

function RCS:choose_trial_to_run(runner)
  local ex = runner.trial_executor
  if type(ex) == "table" and (rawget(ex, "reuse_actors") or rawget(ex, "_reuse_actors")) then
    error("ResourceChangingScheduler cannot be used with `reuse_actors=True`. FIX THIS by setting "
      .. "`reuse_actors=False` in `tune.run()`.", 0)
  end
  local keep, order = {}, {}
  for _, id in ipairs(self._reallocation_order) do
    local pgf = self._trials_to_reallocate[id]
    local trial = self._trials[id] or (type(runner.get_trial) == "function" and runner:get_trial(id)) or nil
    if pgf and trial then
      self._trials[id] = trial
      if trial.status == "RUNNING" then
        -- Still running (a save before its pause): later.
        keep[id] = pgf
        order[#order + 1] = id
      elseif trial.status ~= "TERMINATED" and trial.status ~= "ERROR" then
        self:set_trial_resources(trial, pgf)
      end
    end
  end
  self._trials_to_reallocate = keep
  self._reallocation_order = order
  return base_call(self, "choose_trial_to_run", runner)
end

function RCS:debug_string()
  return "(ResourceChangingScheduler) " .. tostring(base_call(self, "debug_string"))
end

--- Gives the trial its new resources (it must not be running). True when
--- they were set.
function RCS:set_trial_resources(trial, new_resources)
  if not new_resources then return false end
  local pgf = placement.to_pgf(new_resources, 2)
  if trial.status == "RUNNING" then error("Cannot update resources while Trial is running.", 2) end
  require("tune.experiment.trial").update_resources(trial, pgf)
  -- Remember the trials whose resources changed: they may be added again
  -- (resume) with them.
  self._reallocated_trial_ids[trial.trial_id] = true
  return true
end

--- True when the trial already has these resources (an empty head bundle
--- reserves nothing and is not compared).
function RCS:_are_resources_the_same(trial, new_resources)
  if getmetatable(new_resources) ~= PlacementGroupFactory then return false end
  local a = bundles_of(trial.placement_group_factory)
  local b = bundles_of(new_resources)
  return tostring(PlacementGroupFactory(a, {strategy = trial.placement_group_factory.strategy}))
    == tostring(PlacementGroupFactory(b, {strategy = new_resources.strategy}))
end

--- Asks the resources_allocation_function; returns the new factory when
--- it differs from the trial's, else nil.
function RCS:reallocate_trial_resources_if_needed(runner, trial, result)
  local fn = self._resources_allocation_function
  if fn == nil then return nil end
  if type(fn) == "table" then
    if not fn.metric then fn.metric = self._base_scheduler.metric or self._metric end
    if not fn.mode then fn.mode = self._base_scheduler.mode or self._mode end
  end
  local new = fn(runner, trial, result, self)
  if not new then return nil end
  if getmetatable(new) ~= PlacementGroupFactory then
    local ok, pgf = pcall(placement.to_pgf, new, 1)
    if not ok then
      error("resources_allocation_function must return a PlacementGroupFactory, Resources, a table of "
        .. "resources or nil: " .. tostring(pgf), 0)
    end
    new = pgf
  end
  if self:_are_resources_the_same(trial, new) then return nil end
  return new
end

--------------------------------------------------------------------------
-- Resume
--------------------------------------------------------------------------

local function pgf_spec(pgf)
  return {bundles = core.array(copy_bundles(pgf.bundles)), strategy = pgf.strategy}
end

local function pgf_from(spec)
  if type(spec) ~= "table" or type(spec.bundles) ~= "table" then return nil end
  local bundles = {}
  for i, b in ipairs(spec.bundles) do
    local c = {}
    for k, v in pairs(b) do c[k] = v end
    bundles[i] = c
  end
  return PlacementGroupFactory(bundles, {strategy = spec.strategy ~= core.null and spec.strategy or nil})
end

--- {base = <base scheduler state>, base_trial_resources =, reallocated =
--- [ids], to_reallocate = [{trial_id =, resources =}]}
function RCS:save(runner)
  local base_state
  if type(self._base_scheduler.save) == "function" then base_state = self._base_scheduler:save(runner) end
  local to = {}
  for _, id in ipairs(self._reallocation_order) do
    local pgf = self._trials_to_reallocate[id]
    if pgf then to[#to + 1] = {trial_id = id, resources = pgf_spec(pgf)} end
  end
  return {
    scheduler = self.__name,
    base = base_state,
    base_trial_resources = self._base_trial_resources and pgf_spec(self._base_trial_resources) or nil,
    reallocated = core.array(util.sorted_keys(self._reallocated_trial_ids)),
    to_reallocate = core.array(to),
  }
end

function RCS:restore(state, runner)
  if type(state) ~= "table" then error("ResourceChangingScheduler:restore: expected the table save() returned", 2) end
  if state.scheduler ~= nil and state.scheduler ~= self.__name then
    error(string.format("ResourceChangingScheduler:restore: this state was saved by %s", tostring(state.scheduler)), 2)
  end
  if state.base ~= nil and state.base ~= core.null and type(self._base_scheduler.restore) == "function" then
    self._base_scheduler:restore(state.base, runner)
  end
  self._base_trial_resources = pgf_from(state.base_trial_resources) or self._base_trial_resources
  self.base_trial_resources = self._base_trial_resources
  self._reallocated_trial_ids = {}
  for _, id in ipairs(type(state.reallocated) == "table" and state.reallocated or {}) do
    self._reallocated_trial_ids[id] = true
  end
  self._trials_to_reallocate, self._reallocation_order, self._trials = {}, {}, {}
  for _, e in ipairs(type(state.to_reallocate) == "table" and state.to_reallocate or {}) do
    local pgf = pgf_from(e.resources)
    if type(e.trial_id) == "string" and pgf then
      self._trials_to_reallocate[e.trial_id] = pgf
      self._reallocation_order[#self._reallocation_order + 1] = e.trial_id
    end
  end
  self.metric = self._base_scheduler.metric or self.metric
  self.mode = self._base_scheduler.mode or self.mode
end

return M
