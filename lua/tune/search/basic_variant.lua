--- BasicVariantGenerator: grid search crossed with num_samples random
--- samples of the config's distributions (Ray's BasicVariantGenerator).
--- Trials are made lazily, one full grid pass per sample. Trial ids are
--- "<5 hex>_<00000>"; experiment tags "<index>_<last_key=value,...>".
local SearchAlgorithm = require("tune.search.search_algorithm")
local Searcher = require("tune.search.searcher")
local preset = require("tune.search.points")
local sample = require("tune.search.sample")
local util = require("tune.util")
local variants = require("tune.search.variant_generator")

local BasicVariantGenerator = SearchAlgorithm:extend(nil, "BasicVariantGenerator")

--- BasicVariantGenerator{points_to_evaluate=, max_concurrent=0, constant_grid_search=false, random_state=/seed=}
local OPTIONS = {points_to_evaluate = true, max_concurrent = true, constant_grid_search = true,
  random_state = true, seed = true}

function BasicVariantGenerator:__init(opts)
  SearchAlgorithm.__init(self)
  opts = util.check_options("BasicVariantGenerator", opts, OPTIONS, 3)
  util.check_booleans("BasicVariantGenerator", opts, {"constant_grid_search"}, 3)
  self._constant_grid_search = opts.constant_grid_search or false
  local points = opts.points_to_evaluate
  local bad = preset.check_list(points)
  if bad then error("BasicVariantGenerator: " .. bad, 3) end
  self._points = util.deepcopy(points or {})
  local mc = opts.max_concurrent or 0
  if math.type(mc) == "float" then mc = math.tointeger(mc) or mc end
  if math.type(mc) ~= "integer" or mc < 0 then
    error("BasicVariantGenerator: max_concurrent must be a non-negative integer (0: no limit), got "
      .. preset.show(opts.max_concurrent, true), 3)
  end
  self.max_concurrent = mc
  if opts.seed ~= nil and opts.random_state ~= nil then
    error("BasicVariantGenerator: give seed or random_state, not both", 3)
  end
  self._rng = sample.Random(opts.random_state or opts.seed, "BasicVariantGenerator")
  self._uuid_prefix = (os.getenv("_TEST_TUNE_TRIAL_UUID") or util.random_hex(5)) .. "_"
  self._experiments = {}
  self._live = {}
  self._nlive = 0
  self._counter = 0
  self._queue = {}          -- variants of the current sample not yet made into trials
  self._exp_index = 1
end

--- A point to evaluate sets the keys it names, nested ones one by one
--- (Ray's assign_value): {optim = {lr = 1}} keeps optim's other keys. A
--- list, and a table given where the config holds a domain (a tune.choice
--- of tables) or a grid search, replaces the config's value whole
--- (tune.search.points).
local apply_point = preset.merge

--- Ray's trial count (_count_variants): each point is one sample, expanded
--- over the grid it leaves; the samples left after the points, over the
--- whole grid.
local function count_trials(config, points, n)
  local total = 0
  for _, p in ipairs(points) do total = total + variants.count_grid_variants(apply_point(config, p)) end
  local left = n - #points
  if left > 0 then total = total + left * variants.count_grid_variants(config) end
  return total
end

function BasicVariantGenerator:add_configurations(experiments)
  for _, e in ipairs(experiments) do
    local n = e.num_samples
    e._samples_left = n
    e._points = util.deepcopy(self._points)
    -- Ray's checks of a pre-set point (_get_preset_variants): a value
    -- outside its parameter's domain, or unlike the constant it replaces,
    -- is warned about (and used).
    for _, p in ipairs(e._points) do preset.warn(e.config, p) end
    local total = (n == math.huge) and math.huge or count_trials(e.config, e._points, n)
    self.total_samples = self.total_samples + total
    self._experiments[#self._experiments + 1] = e
  end
end

--- Fills the queue with the next sample's grid of variants.
--- variants.generate_variants, whose errors name its caller's line: here
--- that is ours, so they go on without a position (the config is the
--- user's).
local function generate(config, rng, opts)
  local ok, vs = pcall(variants.generate_variants, config, rng, opts)
  if ok then return vs end
  if type(vs) == "string" then vs = vs:gsub("^[^\n]-basic_variant%.lua:%d+: ", "") end
  error(vs, 0)
end

function BasicVariantGenerator:_refill()
  while #self._queue == 0 do
    local e = self._experiments[self._exp_index]
    if not e then return false end
    if #e._points == 0 and e._samples_left <= 0 then
      self._exp_index = self._exp_index + 1
    else
      -- Every point is evaluated, even beyond num_samples (Ray).
      e._samples_left = e._samples_left - 1
      local config, vs = e.config, nil
      if #e._points > 0 then
        config = apply_point(config, table.remove(e._points, 1))
      else
        -- Most configs are Domains only: their plan is made once.
        if e._plan == nil then e._plan = variants.plan(config) or false end
        if e._plan then vs = variants.sample_plan(e._plan, config, self._rng) end
      end
      vs = vs or generate(config, self._rng, {constant_grid_search = self._constant_grid_search})
      for _, v in ipairs(vs) do self._queue[#self._queue + 1] = {experiment = e, variant = v} end
    end
  end
  return true
end

function BasicVariantGenerator:next_trial()
  if self.max_concurrent > 0 and self._nlive >= self.max_concurrent then return nil end
  return self:_generate()
end

--- On resume: a trial this generator made after the last snapshot. It is
--- made again (same id and config, from the restored seed state) and the
--- copy dropped, so generation continues after it.
function BasicVariantGenerator:replay_added(trial)
  local t = self:_generate()
  if t and t.trial_id ~= trial.trial_id then
    io.stderr:write(string.format("tunelua warning: resuming, the generator made %s where %s was expected\n",
      t.trial_id, trial.trial_id))
  end
end

function BasicVariantGenerator:_generate()
  if self._finished then return nil end
  if not self:_refill() then
    self:set_finished()
    return nil
  end
  local item = table.remove(self._queue, 1)
  local v = item.variant
  local trial_id = string.format("%s%05d", self._uuid_prefix, self._counter)
  local tag = tostring(self._counter)
  local vars = variants.format_vars(v.resolved_vars)
  if vars ~= "" then tag = tag .. "_" .. vars end
  self._counter = self._counter + 1
  local evaluated = {}
  for _, rv in ipairs(v.resolved_vars) do evaluated[table.concat(rv.path, "/")] = rv.value end
  local trial = item.experiment:create_trial(v.config, evaluated, trial_id, tag)
  self._live[trial_id] = true
  self._nlive = self._nlive + 1
  return trial
end

function BasicVariantGenerator:on_trial_complete(trial_id, result, error)
  if self._live[trial_id] then
    self._live[trial_id] = nil
    self._nlive = self._nlive - 1
  end
end

--- Resume state: how far generation got (the rest is regenerated from the
--- seed state, so samples continue where they stopped).
function BasicVariantGenerator:save()
  local exps = {}
  for i, e in ipairs(self._experiments) do
    exps[i] = {samples_left = e._samples_left == math.huge and -1 or e._samples_left, points = e._points,
      total = e.num_samples}
  end
  local queue = {}
  for i, q in ipairs(self._queue) do
    queue[i] = {experiment = q.experiment == nil and 1 or self:_index_of(q.experiment), variant = q.variant}
  end
  local live = {}
  for id in pairs(self._live) do live[#live + 1] = id end
  table.sort(live)
  return {counter = self._counter, uuid_prefix = self._uuid_prefix, rng = self._rng:get_state(),
    experiments = exps, queue = queue, exp_index = self._exp_index, finished = self._finished, live = live,
    max_concurrent = self.max_concurrent}
end

--- The ids of the trials it made that have not completed (a resume checks
--- that the experiment still has each of them).
function BasicVariantGenerator:live_trial_ids()
  local ids = {}
  for id in pairs(self._live) do ids[#ids + 1] = id end
  table.sort(ids)
  return ids
end

function BasicVariantGenerator:_index_of(e)
  for i, x in ipairs(self._experiments) do if x == e then return i end end
  return 1
end

local function is_count(v, min) return math.type(v) == "integer" and v >= min end

--- Why `state` is not what save() returns, or nil.
local function check_state(state)
  local function list_of(v, check)
    if v == nil then return true end
    if type(v) ~= "table" then return false end
    for _, x in ipairs(v) do if not check(x) then return false end end
    return true
  end
  if state.counter ~= nil and not is_count(state.counter, 0) then return "counter must be a count" end
  if state.uuid_prefix ~= nil and type(state.uuid_prefix) ~= "string" then return "uuid_prefix must be a string" end
  if state.exp_index ~= nil and not is_count(state.exp_index, 1) then return "exp_index must be a positive integer" end
  if state.finished ~= nil and type(state.finished) ~= "boolean" then return "finished must be a boolean" end
  if state.rng ~= nil and type(state.rng) ~= "table" then return "rng must be a table" end
  if not list_of(state.experiments, function(s)
    return type(s) == "table" and is_count(s.samples_left, -1) and (s.points == nil or type(s.points) == "table")
  end) then return "experiments must be a list of {samples_left, points}" end
  if not list_of(state.queue, function(q)
    return type(q) == "table" and is_count(q.experiment, 1) and type(q.variant) == "table"
      and type(q.variant.config) == "table"
  end) then return "queue must be a list of {experiment, variant}" end
  if not list_of(state.live, function(id) return type(id) == "string" end) then
    return "live must be a list of trial ids"
  end
  return nil
end

function BasicVariantGenerator:restore(state)
  if type(state) ~= "table" then return end
  local why = check_state(state)
  if why then error("BasicVariantGenerator:restore: " .. why, 2) end
  -- Its live trials count against the saved limit (Ray's set_state keeps it).
  Searcher.keep_saved_option(self, "BasicVariantGenerator", state, "max_concurrent", function(v) return is_count(v, 0) end)
  self._counter = state.counter or self._counter
  self._uuid_prefix = state.uuid_prefix or self._uuid_prefix
  if state.rng then self._rng:set_state(state.rng) end
  for i, s in ipairs(state.experiments or {}) do
    local e = self._experiments[i]
    if e then
      e._samples_left = s.samples_left == -1 and math.huge or s.samples_left
      e._points = s.points or {}
      if math.type(s.total) == "integer" and s.total ~= e.num_samples then
        -- Ray's: the experiment's own count goes on; said, not silent.
        io.stderr:write(string.format("tunelua warning: the experiment was made with num_samples = %d; the resume "
          .. "keeps it (this run asked for %d)\n", s.total, e.num_samples))
      end
    end
  end
  self._queue = {}
  for i, q in ipairs(state.queue or {}) do
    self._queue[i] = {experiment = self._experiments[q.experiment] or self._experiments[1], variant = q.variant}
  end
  self._exp_index = state.exp_index or 1
  self._finished = state.finished or false
  self._live, self._nlive = {}, 0
  for _, id in ipairs(state.live or {}) do
    self._live[id] = true
    self._nlive = self._nlive + 1
  end
end

return Searcher.file_state(BasicVariantGenerator)
