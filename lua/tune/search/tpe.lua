--- TPESearch: a native Tree-structured Parzen Estimator searcher
--- (Bergstra et al. 2011), written to behave as Optuna 3.1's TPESampler
--- (independent, univariate TPE), with a Latin hypercube start-up, a
--- 15 % good group and 12 EI candidates by default, and every fourth
--- suggestion a perturbation of the best trial (tune.search.tpe_exploit),
--- every second one while the best trial is 12 observations old. See
--- docs/reference/searchers/tpe.md.
---
--- TPESearch{space =, metric =, mode =, points_to_evaluate =,
---   n_startup_trials = 10, startup_design = "lhs", n_ei_candidates = 12,
---   gamma = <min(ceil(0.15 n), 25)>,
---   weights = <Optuna's default_weights>, prior_weight = 1.0,
---   consider_prior = true, consider_magic_clip = true,
---   consider_endpoints = false, exact_density = false, seed = nil,
---   exploit_every = 4, exploit_scale = 1.0, exploit_stall = 12}
---
--- History: every completed trial is an observation (its internal
--- parameter values, a rank key and a score). Kept sorted, per parameter by
--- value and overall by score, so a suggestion costs O(n) plus the
--- log-density walks, not O(n log n) sorts.
local Searcher = require("tune.search.searcher")
local sample = require("tune.search.sample")
local util = require("tune.util")
local parzen = require("tune.search.tpe_parzen")
local preset = require("tune.search.points")
local tspace = require("tune.search.tpe_space")
local history = require("tune.search.tpe_history")
local multi = require("tune.search.tpe_multi")
local design = require("tune.search.tpe_design")
local exploit = require("tune.search.tpe_exploit")

local TPESearch = Searcher:extend(nil, "TPESearch")

local FORMAT = "tunelua.tpe"
local huge = math.huge

--- How many of n observations form the "good" group: 15 % of them, at
--- most 25 (docs/reference/searchers/tpe.md says why not Optuna's 10 %).
function TPESearch.default_gamma(n)
  return math.min(math.ceil(0.15 * n), 25)
end

--- Optuna's default_gamma: 10 %, at most 25.
function TPESearch.optuna_gamma(n)
  return math.min(math.ceil(0.1 * n), 25)
end

local OPTIONS = {space = true, metric = true, mode = true, points_to_evaluate = true,
  n_startup_trials = true, n_ei_candidates = true, gamma = true, weights = true, prior_weight = true,
  consider_prior = true, consider_magic_clip = true, consider_endpoints = true, exact_density = true, seed = true,
  constant_liar = true, multivariate = true, startup_design = true, exploit_every = true, exploit_scale = true,
  exploit_stall = true, evaluated_rewards = true}

local function get_path(t, path)
  if type(t) ~= "table" then return nil end
  local v = t[path]
  if v ~= nil then return v end
  v = t
  for part in path:gmatch("[^/]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function callable(f)
  if type(f) == "function" then return true end
  local mt = type(f) == "table" and getmetatable(f)
  return mt and mt.__call ~= nil or false
end

function TPESearch:__init(opts)
  opts = util.check_options("TPESearch", opts, OPTIONS, 3)
  Searcher.__init(self, opts)
  local function int_opt(name, default, min)
    local v = opts[name]
    if v == nil then return default end
    local i = type(v) == "number" and math.tointeger(v) or nil
    if not i or i < min then
      error(string.format("TPESearch: %s must be an integer >= %d, got %s", name, min, preset.show(v, true)), 4)
    end
    return i
  end
  self.n_startup_trials = int_opt("n_startup_trials", 10, 0)
  self.n_ei_candidates = int_opt("n_ei_candidates", 12, 1)
  self.exploit_every = int_opt("exploit_every", 4, 0)
  self.exploit_stall = int_opt("exploit_stall", 12, 0)
  if opts.exploit_stall ~= nil and self.exploit_stall > 0 and self.exploit_every == 0 then
    error("TPESearch: exploit_stall needs exploit_every > 0 (exploit_every = 0 turns the exploitation step off)", 3)
  end
  local es = opts.exploit_scale == nil and 1.0 or opts.exploit_scale
  if type(es) ~= "number" or not (es > 0) or es == huge then
    error("TPESearch: exploit_scale must be a positive number", 3)
  end
  self.exploit_scale = es + 0.0
  self.gamma = opts.gamma or TPESearch.default_gamma
  if not callable(self.gamma) then error("TPESearch: gamma must be a function(n) -> integer", 3) end
  if opts.weights ~= nil and not callable(opts.weights) then
    error("TPESearch: weights must be a function(n) -> list of n weights", 3)
  end
  self.weights = opts.weights
  local pw = opts.prior_weight == nil and 1.0 or opts.prior_weight
  if type(pw) ~= "number" or not (pw > 0) or pw == huge then
    error("TPESearch: prior_weight must be a positive number", 3)
  end
  util.check_booleans("TPESearch", opts, {"consider_prior", "consider_magic_clip", "consider_endpoints",
    "exact_density"}, 3)
  self._po = {
    consider_prior = opts.consider_prior ~= false,
    prior_weight = pw + 0.0,
    consider_magic_clip = opts.consider_magic_clip ~= false,
    consider_endpoints = opts.consider_endpoints == true,
    exact_density = opts.exact_density == true,
  }
  if opts.constant_liar ~= nil and type(opts.constant_liar) ~= "boolean" then
    error("TPESearch: constant_liar must be true or false", 3)
  end
  self.constant_liar = opts.constant_liar == true
  if opts.multivariate ~= nil and type(opts.multivariate) ~= "boolean" then
    error("TPESearch: multivariate must be true or false", 3)
  end
  self.multivariate = opts.multivariate == true
  local sd = opts.startup_design
  if sd ~= nil and sd ~= "random" and sd ~= "lhs" then
    error("TPESearch: startup_design must be \"random\" or \"lhs\", got " .. tostring(sd), 3)
  end
  self.startup_design = sd or "lhs"
  self._rng = sample.Random(opts.seed)
  self._points = {}
  -- (Searcher.__init checked them: a list of config tables.)
  for i, pt in ipairs(opts.points_to_evaluate or {}) do
    self._points[i] = sample._plain_copy(pt)
  end
  local rewards = opts.evaluated_rewards
  if rewards ~= nil and (type(rewards) ~= "table" or #rewards ~= #self._points) then
    error("TPESearch: evaluated_rewards must be a list of one number for each of points_to_evaluate", 3)
  end
  for i, v in ipairs(rewards or {}) do
    if type(v) ~= "number" then error(string.format("TPESearch: evaluated_rewards[%d] must be a number", i), 3) end
  end
  self._rewards = rewards
  self:_reset_history()
  if Searcher.given_space(opts.space) then
    local sp, err = tspace.parse(opts.space)
    if not sp then error("TPESearch: space: " .. err, 3) end
    self._space = sp
    local msg = self:_check_points()
    if msg then error(msg, 3) end
    self:_learn_rewards()
  end
end

--- Ray's evaluated_rewards: points_to_evaluate already evaluated are
--- learned from (add_evaluated_point), not suggested, once the space,
--- metric and mode are known.
function TPESearch:_learn_rewards()
  local rewards = self._rewards
  if not rewards or not self._space or not self.metric or not self.mode then return end
  self._rewards = nil
  for i, v in ipairs(rewards) do self:add_evaluated_point(self._points[i], v) end
  self._points = {}
end

function TPESearch:_reset_history()
  self._hist = history.new() -- what it learned from (tune.search.tpe_history)
  self._live = {}     -- trial_id -> {p =, step =, iv =}
  self._done = {}     -- trial ids already told
  self._n_failed = 0
  self._nsuggest = 0  -- suggestions made (every exploit_every-th exploits)
  self._design = design.new(self.n_startup_trials) -- the start-up points (tune.search.tpe_design)
end

function TPESearch:_check_points()
  for i, pt in ipairs(self._points) do
    if not tspace.observe(self._space, pt, true) then
      local why = preset.why_outside(self._space.template, pt)
      return string.format("TPESearch: points_to_evaluate[%d]%s", i,
        why and (": " .. why) or " is not in the search space")
    end
  end
end

function TPESearch:set_search_properties(metric, mode, config)
  if self._space then
    -- A space of its own (Ray returns False). Its metric and mode are
    -- still taken when it has none, so that tune.run's apply.
    if self.metric == nil then self.metric = metric end
    if self.mode == nil then self.mode = mode end
    self:_anonymous_metric()
    self:_learn_rewards()
    return false
  end
  local sp, err = tspace.parse(config or {})
  if not sp then error("TPESearch: config: " .. err, 0) end
  self._space = sp
  if metric then self.metric = metric end
  if mode then self.mode = mode end
  self:_anonymous_metric()
  local msg = self:_check_points()
  if msg then error(msg, 0) end
  self:_learn_rewards()
  return true
end

function TPESearch:set_max_concurrency(max_concurrent) return false end

-- ---------------------------------------------------------------------
-- Observations.

function TPESearch:_sign()
  return self.mode == "max" and -1 or 1
end

--- Tells a finished trial (Ray's OptunaSearch.on_trial_complete, then
--- Optuna's tell): a value makes it COMPLETE; no value makes it PRUNED
--- (ranked by its last intermediate value), or FAIL with an error; a NaN
--- value is refused (Ray logs Optuna's error) and the trial is ignored.
function TPESearch:_tell(live, value, error_, pruned)
  if value ~= nil and not pruned then
    if type(value) ~= "number" or value ~= value then
      self._n_failed = self._n_failed + 1
      return false
    end
    history.record(self._hist, live.p, -huge, self:_sign() * value)
    return true
  end
  if error_ then
    self._n_failed = self._n_failed + 1
    return false
  end
  local key, score
  if live.step ~= nil then
    key = -live.step
    local iv = live.iv
    score = iv ~= iv and huge or self:_sign() * iv
  else
    key, score = 1, 0.0
  end
  history.record(self._hist, live.p, key, score)
  return true
end

function TPESearch:_adopt(trial_id, result)
  if not self._space or type(result) ~= "table" then return nil end
  local p = tspace.observe(self._space, result.config, false)
  if not p then return nil end
  local live = {p = p}
  self._live[trial_id] = live
  return live
end

function TPESearch:on_trial_result(trial_id, result)
  if self._done[trial_id] then return end
  local live = self._live[trial_id] or self:_adopt(trial_id, result)
  if not live or self.metric == nil then return end
  local value = get_path(result, self.metric)
  if type(value) ~= "number" then return end
  local step = result.training_iteration
  if type(step) ~= "number" then step = (live.step or 0) + 1 end
  -- Optuna keeps the first value reported at a step.
  if live.step == nil or step > live.step then
    live.step, live.iv = step, value
  end
end

function TPESearch:on_trial_complete(trial_id, result, error_)
  if self._done[trial_id] then return end
  local live = self._live[trial_id] or self:_adopt(trial_id, result)
  if not live then return end
  self._live[trial_id] = nil
  self._done[trial_id] = true
  local value = nil
  if type(result) == "table" and self.metric ~= nil then value = get_path(result, self.metric) end
  self:_tell(live, value, error_, false)
end

--- Learns from a point evaluated elsewhere (Ray's add_evaluated_point):
--- parameters is a config of the space.
function TPESearch:add_evaluated_point(parameters, value, error_, pruned, intermediate_values)
  if not self._space then
    error("TPESearch: add_evaluated_point needs a search space (pass `space`, or call it after tune.run set one)", 2)
  end
  self:_anonymous_metric()
  if not self.metric or not self.mode then
    error("TPESearch: add_evaluated_point needs `metric` and `mode`", 2)
  end
  local p = tspace.observe(self._space, parameters, false)
  if not p then error("TPESearch: add_evaluated_point: the parameters are not in the search space", 2) end
  local live = {p = p}
  if type(intermediate_values) == "table" and #intermediate_values > 0 then
    -- Ray numbers them 0, 1, ...: the last one is at step #list - 1.
    live.step, live.iv = #intermediate_values - 1, intermediate_values[#intermediate_values]
  end
  if error_ then
    -- FAIL, as Ray's add_evaluated_point makes it even with a value: not learned from.
    self:_tell(live, nil, true, false)
  elseif pruned then
    self:_tell(live, nil, false, true)
  else
    if type(value) ~= "number" then error("TPESearch: add_evaluated_point: value must be a number", 2) end
    self:_tell(live, value, false, false)
  end
end

-- ---------------------------------------------------------------------
-- Suggestions.

--- Raw weights of n observations, oldest first (Optuna's `weights`).
function TPESearch:_weight_fn(n)
  if not self.weights then return nil end
  local w = self.weights(n)
  if type(w) ~= "table" or #w < n then
    error(string.format("TPESearch: weights(%d) must return a list of at least %d numbers", n, n), 0)
  end
  local sum = 0.0
  for i = 1, n do
    if type(w[i]) ~= "number" or w[i] < 0 or w[i] ~= w[i] or w[i] == huge then
      error(string.format("TPESearch: weights(%d) returned an invalid weight %s", n, tostring(w[i])), 0)
    end
    sum = sum + w[i]
  end
  if n > 0 and sum <= 0 then error(string.format("TPESearch: weights(%d) returned only zeros", n), 0) end
  return w
end

local scratch = {bv = {}, bw = {}, av = {}, aw = {}, rank = {}, cand = {}, cext = {}, pb = {}, pa = {}}
local est_b, est_a = parzen.new_estimator(), parzen.new_estimator()

--- Parameter `name`'s observations split by the below set, into the
--- scratch arrays (tune.search.tpe_history.split).
function TPESearch:_split(name, below, sorted)
  return history.split(self._hist, name, below, sorted, parzen.default_weight,
    function(n) return self:_weight_fn(n) end, scratch)
end

--- Builds the below and above estimators of parameter p (numeric: the
--- module's est_b and est_a; categorical: the probability tables).
function TPESearch:_estimators(p, below)
  local o = self._po
  if p.kind == "cat" then
    local nb, na = self:_split(p.name, below, false)
    local pb = parzen.build_categorical(scratch.pb, p.K, scratch.bv, scratch.bw, nb, o)
    local pa = parzen.build_categorical(scratch.pa, p.K, scratch.av, scratch.aw, na, o)
    return pb, pa
  end
  local nb, na = self:_split(p.name, below, true)
  parzen.build(est_b, p, scratch.bv, scratch.bw, nb, o)
  parzen.build(est_a, p, scratch.av, scratch.aw, na, o)
  return est_b, est_a
end

--- log l(x) - log g(x) at internal value x (a category index for
--- categorical parameters), with the estimators of _estimators.
local function score(p, eb, ea, x)
  if p.kind == "cat" then return math.log(eb[x]) - math.log(ea[x]) end
  return parzen.logpdf(eb, p, x) - parzen.logpdf(ea, p, x)
end

--- One TPE draw for parameter p: n_ei_candidates from l(x), the best by
--- log l(x) - log g(x) (the first best on ties, as numpy's argmax).
--- Returns the external and internal values.
function TPESearch:_sample_tpe(p, below)
  local rng = self._rng
  local ncand = self.n_ei_candidates
  local eb, ea = self:_estimators(p, below)
  local best_ext, best_int, best_score
  if p.kind == "cat" then
    for _ = 1, ncand do
      local u, c = rng:random(), 0.0
      local pick = p.K
      for k = 1, p.K do
        c = c + eb[k]
        if u < c then pick = k break end
      end
      local sc = score(p, eb, ea, pick)
      if best_score == nil or sc > best_score then best_ext, best_int, best_score = pick, pick, sc end
    end
    return best_ext, best_int
  end
  -- Draw all candidates first (as Optuna does), then score them; a
  -- quantized value drawn twice is scored once.
  local cand, cext = scratch.cand, scratch.cext
  for i = 1, ncand do
    local ext = p.external(parzen.sample(eb, p, rng))
    cext[i], cand[i] = ext, p.internal(ext)
  end
  local memo = p.q and {} or nil
  for i = 1, ncand do
    local x = cand[i]
    local sc = memo and memo[x]
    if sc == nil then
      sc = score(p, eb, ea, x)
      if memo then memo[x] = sc end
    end
    if best_score == nil or sc > best_score then
      best_ext, best_int, best_score = cext[i], x, sc
    end
  end
  return best_ext, best_int
end

--- For tests: log l(x) - log g(x) of parameter `name` at each value of
--- the list `values` (config values; category indices for choices), from
--- the history as it is, start-up ignored.
function TPESearch:_scores(name, values)
  local p = self._space.by_name[name]
  local below = history.below(self._hist, self:_nbelow())
  local eb, ea = self:_estimators(p, below)
  local out = {}
  for i, v in ipairs(values) do
    out[i] = score(p, eb, ea, p.kind == "cat" and v or p.internal(v))
  end
  return out
end

--- gamma(n): how many of the n observations are "below" (the good ones).
function TPESearch:_nbelow()
  local n = #self._hist.trials
  local v = self.gamma(n)
  if type(v) ~= "number" or v ~= v then
    error("TPESearch: gamma(" .. n .. ") must return a number, got " .. tostring(v), 0)
  end
  return math.floor(v)
end

local function random_value(p, rng)
  if p.kind == "cat" then
    local i = rng:randint(1, p.K + 1)
    return i, i
  end
  local ext = p.domain:sample(rng)
  return ext, p.internal(ext)
end

function TPESearch:suggest(trial_id)
  local sp = self._space
  if not sp then
    error("Trying to sample a configuration from TPESearch, but no search space has been defined. "
      .. "Either pass the `space` argument when instantiating the search algorithm, or pass a `config` "
      .. "to `tune.run()`.", 2)
  end
  self:_anonymous_metric()
  if not self.metric or not self.mode then
    error(string.format("Trying to sample a configuration from TPESearch, but the `metric` (%s) or `mode` (%s) "
      .. "parameters have not been set. Either pass these arguments when instantiating the search "
      .. "algorithm, or pass them to `tune.run()`.", tostring(self.metric), tostring(self.mode)), 2)
  end
  local point = table.remove(self._points, 1)
  local fixed = point and tspace.observe(sp, point, true) or {}
  local startup = #self._hist.trials < self.n_startup_trials
  -- Optuna's constant liar: trials suggested and not finished count as
  -- observations worse than any, so concurrent suggestions spread out.
  local told = self._hist
  if self.constant_liar and not startup and next(self._live) then
    local list = {}
    for i, t in ipairs(told.trials) do list[i] = t end
    local ids = {}
    for id in pairs(self._live) do ids[#ids + 1] = id end
    table.sort(ids)
    for _, id in ipairs(ids) do list[#list + 1] = {p = self._live[id].p, k = huge, v = 0.0} end
    self._hist = history.from_list(list)
  end
  self._nsuggest = self._nsuggest + 1
  local exploits = not startup and self.exploit_every > 0 and self._nsuggest % self.exploit_every == 0
  if not startup and not exploits and self.exploit_every > 0 and self.exploit_stall > 0 and self._nsuggest % 2 == 0 then
    -- The search has stalled: the best observation came exploit_stall or
    -- more observations ago. Every other suggestion then exploits.
    local best = told.order[1]
    exploits = best ~= nil and #told.trials - best >= self.exploit_stall
  end
  local ok, config, int = pcall(self._suggest_from, self, sp, point, fixed, startup, exploits)
  self._hist = told
  if not ok then error(config, 0) end
  self._live[trial_id] = {p = int}
  return config
end

--- The config of one suggestion, and its internal values.
function TPESearch:_suggest_from(sp, point, fixed, startup, exploits)
  local below = not startup and history.below(self._hist, self:_nbelow()) or nil
  local ext, int, chosen = {}, {}, {}
  local joint_e, joint_i
  local lhs_k = startup and self.startup_design == "lhs" and design.next_index(self._design) or nil
  local inc, spread
  if exploits and below then inc, spread = exploit.incumbent(self._hist, below, sp.params) end
  if self.multivariate and below and not inc then
    -- Optuna's multivariate TPE over the unconditional parameters the
    -- point leaves free; conditional ones stay univariate.
    local params = {}
    for _, p in ipairs(sp.params) do
      if not p.cond and fixed[p.name] == nil then params[#params + 1] = p end
    end
    if #params > 0 then
      local function weights(n)
        local w = self:_weight_fn(n)
        if w then return w end
        local out = {}
        for r = 1, n do out[r] = parzen.default_weight(r, n) end
        return out
      end
      joint_e, joint_i = multi.sample(params, self._hist.trials, below, weights, self._po, self.n_ei_candidates,
        self._rng)
    end
  end
  for _, p in ipairs(sp.params) do
    if tspace.active(p, chosen) then
      local e, v
      if fixed[p.name] ~= nil then
        v = fixed[p.name]
        e = p.kind == "cat" and v or nil
        if e == nil then
          -- The point's own value, as given.
          e = tspace.value_at(point, p)
          if p.is_int then e = math.tointeger(e) end
        end
      elseif startup then
        if lhs_k then e, v = design.value(self._design, p, lhs_k, self._rng) end
        if e == nil then e, v = random_value(p, self._rng) end
      elseif joint_i and joint_i[p.name] ~= nil then
        e, v = joint_e[p.name], joint_i[p.name]
      elseif inc and inc.p[p.name] ~= nil and p.kind ~= "cat" and p.finite then
        e, v = exploit.perturb(p, inc.p[p.name], spread[p.name] * self.exploit_scale, self._rng)
      elseif inc and inc.p[p.name] ~= nil and p.kind == "cat" and self._rng:random() < exploit.KEEP_CATEGORY then
        e, v = inc.p[p.name], inc.p[p.name]
      else
        e, v = self:_sample_tpe(p, below)
      end
      ext[p.name], int[p.name] = e, v
      if p.kind == "cat" then chosen[p.name] = v end
    end
  end
  local config = tspace.realize(sp, ext)
  -- The point's other values before sample_from functions run (they see them).
  if point then tspace.overlay_extras(sp.template, point, config) end
  if sp.has_functions then
    config = Searcher.resolve_one(config, self._rng, "TPESearch")
  end
  return config, int
end

-- ---------------------------------------------------------------------
-- State.

function TPESearch:save()
  local trials = {}
  for i, t in ipairs(self._hist.trials) do trials[i] = {p = t.p, k = t.k, v = t.v} end
  local live = {}
  for id, l in pairs(self._live) do live[#live + 1] = {id = id, p = l.p, step = l.step, iv = l.iv} end
  table.sort(live, function(a, b) return tostring(a.id) < tostring(b.id) end)
  local done = {}
  for id in pairs(self._done) do done[#done + 1] = id end
  table.sort(done, function(a, b) return tostring(a) < tostring(b) end)
  return {
    format = FORMAT, version = 1,
    metric = self.metric, mode = self.mode,
    rng = self._rng:get_state(),
    space = self._space and tspace.signature(self._space) or nil,
    trials = trials, live = live, done = done,
    points = sample._plain_copy(self._points), rewards = self._rewards,
    n_failed = self._n_failed,
    nsuggest = self._nsuggest,
    design = self.startup_design == "lhs" and design.save(self._design) or nil,
  }
end

function TPESearch:restore(state)
  if type(state) ~= "table" then return end
  if state.format ~= FORMAT then
    error("TPESearch: cannot restore a state that is not TPESearch's (format " .. tostring(state.format) .. ")", 2)
  end
  if self._space and type(state.space) == "table" then
    local mine = tspace.signature(self._space)
    local same = #mine == #state.space
    for i = 1, #mine do same = same and mine[i] == state.space[i] end
    if not same then
      error("TPESearch: the saved state is for another search space (" .. table.concat(state.space, ", ")
        .. "), not this one (" .. table.concat(mine, ", ") .. ")", 2)
    end
  end
  self:_reset_history()
  if state.metric ~= nil and self.metric == nil then self.metric = state.metric end
  if state.mode ~= nil and self.mode == nil then self.mode = state.mode end
  self._rng:set_state(state.rng)
  local list = {}
  for i, t in ipairs(state.trials or {}) do
    local p = {}
    for name, v in pairs(t.p or {}) do p[name] = v end
    list[i] = {p = p, k = t.k, v = t.v}
  end
  self._hist = history.from_list(list)
  for _, l in ipairs(state.live or {}) do
    local p = {}
    for name, v in pairs(l.p or {}) do p[name] = v end
    self._live[l.id] = {p = p, step = l.step, iv = l.iv}
  end
  for _, id in ipairs(state.done or {}) do self._done[id] = true end
  self._points = {}
  for i, pt in ipairs(state.points or {}) do self._points[i] = pt end
  self._rewards = type(state.rewards) == "table" and state.rewards or nil
  self._n_failed = state.n_failed or 0
  self._nsuggest = math.tointeger(state.nsuggest) or 0
  if state.design then self._design = design.restore(state.design, self.n_startup_trials) end
end

--- How many finished trials the model has learned from.
function TPESearch:num_observations()
  return #self._hist.trials
end

-- save(path) and restore(path), Ray's checkpoint files.
return Searcher.file_state(TPESearch)
