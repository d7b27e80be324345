-- Ray's own tests of the trial runner's search-algorithm wrappers and its
-- callbacks, ported (test_trial_runner_3's SearchAlgorithmTest,
-- test_trial_runner_callbacks): what a user meets through tune.run, and
-- the state a Repeater or ConcurrencyLimiter saves for a resume.
local tune = require("tune")
local support = require("spec.support")
local Searcher = require("tune.search.searcher")
local Repeater = require("tune.search.repeater")
local ConcurrencyLimiter = require("tune.search.concurrency_limiter")
require("spec.fixtures.run_trainables")

--- Calls f with stderr captured; what it wrote.
local function stderr_of(f)
  local got, stderr = {}, io.stderr
  io.stderr = {write = function(self, ...) for _, x in ipairs({...}) do got[#got + 1] = x end return self end}
  local ok, err = pcall(f)
  io.stderr = stderr
  assert(ok, err)
  return table.concat(got)
end

--- Ray's TestSuggestion: suggests {score = index} counting up from `index`,
--- keeps what on_trial_complete is told.
local function counting(index, opts)
  local S = Searcher:extend(nil, "TestSuggestion")
  function S:__init()
    Searcher.__init(self, {metric = "result", mode = "max"})
    self.index, self.returned_result = index, {}
  end
  function S:suggest()
    self.index = self.index + 1
    if opts and opts.max_suggestions and self.index > opts.max_suggestions then return nil end
    return {score = self.index}
  end
  function S:on_trial_complete(_, result)
    self.returned_result[#self.returned_result + 1] = result
    if opts and opts.reset then self.index = 0 end
  end
  if opts and opts.native then
    function S:set_max_concurrency(n) self._max_concurrent = n return true end
  end
  return S()
end

describe("Ray's SearchAlgorithmTest", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-runner") end)
  after_each(support.check_clean)

  it("testNestedSuggestion: a nested suggestion's leaves are in the trial's tag", function()
    local S = Searcher:extend(nil, "Nested")
    function S:suggest() return {a = {b = {c = {d = 4, e = 5}}}} end
    local a = tune.run("steps", {search_alg = S(), config = {iters = 1}, num_samples = 1, local_dir = dir, verbose = 0})
    assert.matches("e=5", a.trials[1].experiment_tag, 1, true)
    assert.matches("d=4", a.trials[1].experiment_tag, 1, true)
  end)

  local function repeated(num_samples, rep)
    local S = Searcher:extend(nil, "Counting")
    function S:__init() Searcher.__init(self, {metric = "score"}) self.index = 0 end
    function S:suggest() self.index = self.index + 1 return {test_variable = 5 + self.index} end
    function S:on_trial_complete() end
    local a = tune.run("steps", {config = {iters = 1}, search_alg = Repeater(S(), {["repeat"] = rep, set_index = false}), num_samples = num_samples,
        stop = {training_iteration = 1}, local_dir = dir, verbose = 0, name = "r" .. num_samples})
    local set, n = {}, 0
    for _, t in ipairs(a.trials) do
      if not set[t.config.test_variable] then set[t.config.test_variable], n = true, n + 1 end
    end
    return #a.trials, n
  end

  it("testRepeat1: two samples, repeat 1: two parameter sets", function()
    assert.same({2, 2}, {repeated(2, 1)})
  end)

  it("testRepeat4: twelve samples, repeat 4: three parameter sets", function()
    assert.same({12, 3}, {repeated(12, 4)})
  end)

  it("testOddRepeat: eleven samples, repeat 5: three parameter sets (the last incomplete)", function()
    assert.same({11, 3}, {repeated(11, 5)})
  end)

  it("testSetGetRepeater: a Repeater's saved state goes on in a new Repeater", function()
    local searcher = counting(0)
    local repeater1 = Repeater(searcher, {["repeat"] = 3, set_index = false})
    for i = 0, 2 do assert.equal(1, repeater1:suggest("test_" .. i).score) end
    for i = 0, 1 do assert.equal(2, repeater1:suggest("test_" .. i .. "_2").score) end -- an incomplete group
    local state = repeater1:save()
    local new_repeater = Repeater(searcher, {["repeat"] = 1, set_index = true})
    -- The saved repeat and set_index go on (Ray's set_state), said.
    local warned = stderr_of(function() new_repeater:restore(state) end)
    assert.matches("Repeater was saved with repeat = 3; the restore keeps it (this run asked for 1)", warned, 1, true)
    assert.matches("Repeater was saved with set_index = false", warned, 1, true)
    assert.equal(3, new_repeater["repeat"])
    assert.equal(2, new_repeater:suggest("test_2_2").score)
    assert.equal(3, new_repeater:suggest("test_x").score)
    for i = 0, 2 do new_repeater:on_trial_complete("test_" .. i, {result = 2}) end
    for i = 0, 2 do new_repeater:on_trial_complete("test_" .. i .. "_2", {result = -i * 10}) end
    assert.equal(2, #searcher.returned_result)
    assert.same({result = -10}, searcher.returned_result[2])
    -- The rest of the last group.
    new_repeater:on_trial_complete("test_x", {result = 3})
    assert.equal(3, new_repeater:suggest("test_y").score)
    new_repeater:on_trial_complete("test_y", {result = 3})
    assert.equal(2, #searcher.returned_result)
    assert.equal(3, new_repeater:suggest("test_z").score)
    new_repeater:on_trial_complete("test_z", {result = 3})
    assert.equal(3, #searcher.returned_result)
    assert.same({result = 3}, searcher.returned_result[3])
  end)

  it("testSetGetLimiter: a ConcurrencyLimiter's saved state keeps its live trials", function()
    local searcher = counting(0)
    local limiter = ConcurrencyLimiter(searcher, {max_concurrent = 2})
    assert.equal(1, limiter:suggest("test_1").score)
    assert.equal(2, limiter:suggest("test_2").score)
    assert.is_nil(limiter:suggest("test_3"))
    local state = limiter:save()
    local limiter2 = ConcurrencyLimiter(searcher, {max_concurrent = 3})
    -- The saved max_concurrent goes on (Ray's set_state), said.
    local warned = stderr_of(function() limiter2:restore(state) end)
    assert.matches("ConcurrencyLimiter was saved with max_concurrent = 2; the restore keeps it (this run asked for 3)",
      warned, 1, true)
    assert.is_nil(limiter2:suggest("test_4"))
    assert.is_nil(limiter2:suggest("test_5"))
    limiter2:on_trial_complete("test_1", {result = 3})
    limiter2:on_trial_complete("test_2", {result = 3})
    assert.equal(3, limiter2:suggest("test_3").score)
  end)

  it("testBasicVariantLimiter: BasicVariantGenerator's max_concurrent holds back trials", function()
    local gen = tune.search.BasicVariantGenerator{max_concurrent = 2}
    local experiment = {config = {}, num_samples = 5, name = "test"}
    function experiment.create_trial(_, _, _, trial_id) return {trial_id = trial_id} end
    gen:add_configurations({experiment})
    local t1, t2 = gen:next_trial(), gen:next_trial()
    assert.is_truthy(t1)
    assert.is_truthy(t2)
    assert.is_nil(gen:next_trial()) -- limited
    gen:on_trial_complete(t1.trial_id, nil, false)
    local t3 = gen:next_trial()
    assert.is_truthy(t3)
    assert.is_nil(gen:next_trial())
    gen:on_trial_complete(t2.trial_id, nil, false)
    gen:on_trial_complete(t3.trial_id, nil, false)
    local t4 = gen:next_trial()
    assert.is_truthy(t4)
    assert.is_truthy(gen:next_trial())
    gen:on_trial_complete(t4.trial_id, nil, false)
    assert.is_nil(gen:next_trial()) -- the search is finished
  end)

  it("testBasicVariantLimiter, saved: the restored generator keeps its live trials and the saved limit", function()
    local function generator(n)
      local gen = tune.search.BasicVariantGenerator{max_concurrent = n, seed = 1}
      local experiment = {config = {}, num_samples = 5, name = "test"}
      function experiment.create_trial(_, _, _, trial_id) return {trial_id = trial_id} end
      gen:add_configurations({experiment})
      return gen
    end
    local gen = generator(2)
    local t1 = gen:next_trial()
    assert.is_truthy(gen:next_trial())
    local again = generator(3)
    local warned = stderr_of(function() again:restore(gen:save()) end)
    assert.matches("BasicVariantGenerator was saved with max_concurrent = 2; the restore keeps it (this run asked for 3)",
      warned, 1, true)
    assert.is_nil(again:next_trial())
    again:on_trial_complete(t1.trial_id, nil, false)
    assert.is_truthy(again:next_trial())
  end)

  it("testBatchLimiter: a batch starts when the whole previous one completed", function()
    local limiter = ConcurrencyLimiter(counting(0), {max_concurrent = 2, batch = true})
    assert.equal(1, limiter:suggest("test_1").score)
    assert.equal(2, limiter:suggest("test_2").score)
    assert.is_nil(limiter:suggest("test_3"))
    limiter:on_trial_complete("test_1", {result = 3})
    assert.is_nil(limiter:suggest("test_3"))
    limiter:on_trial_complete("test_2", {result = 3})
    assert.is_not_nil(limiter:suggest("test_3"))
  end)

  it("testBatchLimiterInfiniteLoop: a batch the searcher did not fill still completes", function()
    local searcher = counting(0, {max_suggestions = 2, reset = true})
    local limiter = ConcurrencyLimiter(searcher, {max_concurrent = 5, batch = true})
    limiter:suggest("test_1")
    limiter:suggest("test_2")
    limiter:suggest("test_3") -- the searcher has nothing
    limiter:on_trial_complete("test_1", {result = 3})
    limiter:on_trial_complete("test_2", {result = 3})
    assert.is_true(#searcher.returned_result > 0)
    searcher = counting(0, {max_suggestions = 10, reset = true})
    limiter = ConcurrencyLimiter(searcher, {max_concurrent = 5, batch = true})
    limiter:suggest("test_1")
    limiter:suggest("test_2")
    limiter:suggest("test_3")
    limiter:on_trial_complete("test_1", {result = 3})
    limiter:on_trial_complete("test_2", {result = 3})
    -- (Ray's searcher is told; a limiter passes each completion on.)
    assert.equal(2, #searcher.returned_result)
  end)

  it("testSetMaxConcurrency: a searcher that limits itself is not limited again", function()
    local searcher = counting(0, {native = true})
    local limiter = ConcurrencyLimiter(searcher, {max_concurrent = 2, batch = true})
    assert.equal(2, searcher._max_concurrent)
    assert.equal(1, limiter:suggest("test_1").score)
    assert.equal(2, limiter:suggest("test_2").score)
    assert.equal(3, limiter:suggest("test_3").score)
  end)
end)

describe("Ray's TrialRunnerCallbacks", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-callbacks") end)
  after_each(support.check_clean)

  it("testCallbacksEndToEnd: setup first with the experiment's public keys, each hook's trial, experiment_end last",
      function()
    local state, order = {}, {}
    local TestCallback = tune.Callback:extend(nil, "TestCallback")
    for _, hook in ipairs({"setup", "on_step_begin", "on_step_end", "on_trial_start", "on_trial_restore",
        "on_trial_save", "on_trial_result", "on_trial_complete", "on_trial_error", "on_experiment_end"}) do
      TestCallback[hook] = function(_, ...)
        local args = table.pack(...)
        state[hook] = args
        order[#order + 1] = hook
        if hook == "on_trial_result" then
          -- Called before the trial's last_result is this result.
          local trial, result = args[3], args[4]
          assert.not_equal(result.training_iteration, (trial.last_result or {}).training_iteration)
        end
      end
    end
    tune.run("callbacks_e2e", {config = {["do"] = tune.grid_search({"save", "fail", "delay"})},
      stop = {training_iteration = 10}, time_budget_s = 600, raise_on_failed_trial = false,
      callbacks = {TestCallback()}, local_dir = dir, verbose = 0})
    -- Experiment.PUBLIC_KEYS and total_num_samples.
    local info = state.setup[1]
    assert.same({training_iteration = 10}, info.stop)
    assert.equal(1, info.num_samples)
    assert.equal(600, info.time_budget_s)
    assert.equal(3, info.total_num_samples)
    assert.equal("setup", order[1])
    assert.equal("on_experiment_end", order[#order])
    assert.equal("fail", state.on_trial_error[3].config["do"])
    assert.equal("save", state.on_trial_save[3].config["do"])
    assert.equal("delay", state.on_trial_result[3].config["do"])
    assert.equal("delay", state.on_trial_complete[3].config["do"])
  end)
end)

describe("Ray's TrialRunnerTest2", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-runner2") end)
  after_each(support.check_clean)

  --- Ray's create_mock_components: a searcher told of errored trials, a
  --- FIFO scheduler told of errors.
  local function mocks()
    local S = Searcher:extend(nil, "MockSearch")
    function S:__init() Searcher.__init(self) self.errored_trials, self.n = {}, 0 end
    function S:suggest() self.n = self.n + 1 return self.n <= 1 and {} or nil end
    function S:on_trial_complete(trial_id, _, error_) if error_ then table.insert(self.errored_trials, trial_id) end end
    local F = tune.schedulers.FIFOScheduler:extend(nil, "MockScheduler")
    function F:on_trial_error(_, trial)
      self.errored_trials = self.errored_trials or {}
      table.insert(self.errored_trials, trial)
    end
    return S(), F()
  end

  local function fake(opts)
    opts.config = opts.config or {}
    opts.config.marker = dir .. "/marker"
    opts.local_dir, opts.verbose, opts.raise_on_failed_trial = dir, 0, false
    return tune.run("__fake", opts)
  end

  it("testFailureRecoveryDisabled: max_failures = 0: ERROR, the searcher and the scheduler told once", function()
    local searcher, scheduler = mocks()
    local a = fake({search_alg = searcher, scheduler = scheduler, checkpoint_freq = 1, max_failures = 0,
      config = {mock_error = true}})
    assert.equal("ERROR", a.trials[1].status)
    assert.equal(1, a.trials[1].num_failures)
    assert.equal(1, #searcher.errored_trials)
    assert.equal(1, #scheduler.errored_trials)
  end)

  it("testFailureRecoveryEnabled: max_failures = 1: recovered, the scheduler told of the error, not the searcher",
      function()
    local searcher, scheduler = mocks()
    local a = fake({search_alg = searcher, scheduler = scheduler, checkpoint_freq = 1, max_failures = 1,
      stop = {training_iteration = 2}, config = {mock_error = true}})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.equal(1, a.trials[1].num_failures)
    assert.equal(0, #searcher.errored_trials)
    assert.equal(1, #scheduler.errored_trials)
  end)

  it("testFailureRecoveryMaxFailures: a persistent error fails max_failures + 1 times", function()
    local a = fake({checkpoint_freq = 1, max_failures = 2, stop = {training_iteration = 3},
      config = {mock_error = true, persistent_error = true}})
    assert.equal("ERROR", a.trials[1].status)
    assert.equal(3, a.trials[1].num_failures)
  end)

  it("testFailFast: the first error ends the experiment; the other trial is stopped TERMINATED", function()
    -- One trial at a time, both made (Ray's: one GPU, each asks for it).
    local a = fake({fail_fast = true, checkpoint_freq = 1, max_failures = 0, num_samples = 2, num_cpus = 1,
      config = {mock_error = true, persistent_error = true}})
    assert.equal("ERROR", a.trials[1].status)
    assert.equal("TERMINATED", a.trials[2].status)
  end)

  it("testRestoreMetricsAfterCheckpointing: a restored trial counts timesteps and iterations since its restore",
      function()
    local a = fake({stop = {training_iteration = 2}, checkpoint_freq = 1, name = "first"})
    local path = a.trials[1].checkpoint.dir_or_data
    local seen = {}
    local observer = {on_trial_result = function(_, _, _, _, result) seen[#seen + 1] = result end}
    fake({restore = path, stop = {training_iteration = 4}, callbacks = {observer}, name = "restored"})
    assert.equal(2, #seen)
    for i, r in ipairs(seen) do
      assert.equal(10 * i, r.timesteps_since_restore)
      assert.equal(i, r.iterations_since_restore)
      assert.is_true(r.time_since_restore > 0)
    end
  end)

  it("testCheckpointingAtEnd and testResultDone: the last result is done; checkpoint_at_end saves", function()
    local a = fake({stop = {training_iteration = 2}, checkpoint_at_end = true})
    assert.is_true(a.trials[1].last_result.done)
    assert.is_true(a.trials[1]:has_checkpoint())
  end)

  it("testPauseResumeCheckpointCount: keep_checkpoints_num holds across a resume; the older ones go", function()
    local function options(callbacks)
      return {name = "count", stop = {training_iteration = 5}, checkpoint_freq = 1, keep_checkpoints_num = 2,
        local_dir = dir, verbose = 0, callbacks = callbacks}
    end
    local crash = {on_step_end = function(_, _, trials)
      local r = trials[1] and trials[1].last_result
      if r and r.training_iteration == 4 then error("interrupted") end
    end}
    assert.is_false(pcall(tune.run, "scored", options({crash})))
    local o = options()
    o.resume = true
    local a = tune.run("scored", o)
    assert.equal(5, a.trials[1].last_result.training_iteration)
    local got = support.must("ls " .. a.trials[1].logdir .. " | grep ^checkpoint_")
    assert.equal("checkpoint_000004\ncheckpoint_000005\n", got)
  end)
end)

describe("Ray's TrialRunnerTest3", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-runner3") end)
  after_each(support.check_clean)

  --- Ray's _MockSuggestionAlgorithm's searcher: one suggestion (or
  --- `n`), counting what it is told; `stall(k)` says whether the k-th
  --- suggestion waits (returns nil) this time it is asked for.
  local function mock_searcher(n, stall)
    local S = Searcher:extend(nil, "MockSearcher")
    function S:__init() Searcher.__init(self) self.counter, self.k = {result = 0, complete = 0}, 0 end
    function S:suggest()
      if self.k >= (n or 1) then return Searcher.FINISHED end
      if stall and stall(self.k + 1) then return nil end
      self.k = self.k + 1
      return {k = self.k}
    end
    function S:on_trial_result() self.counter.result = self.counter.result + 1 end
    function S:on_trial_complete() self.counter.complete = self.counter.complete + 1 end
    return S()
  end

  it("testSearchAlgNotification: the searcher hears one result and one completion of a two-iteration trial", function()
    local searcher = mock_searcher()
    tune.run("__fake", {search_alg = searcher, stop = {training_iteration = 2}, local_dir = dir, verbose = 0})
    assert.same({result = 1, complete = 1}, searcher.counter)
  end)

  it("testSearchAlgSchedulerInteraction: a trial the scheduler stops completes for the searcher", function()
    local F = tune.schedulers.FIFOScheduler:extend(nil, "StopsAll")
    function F:on_trial_result() return tune.schedulers.TrialScheduler.STOP end
    local searcher = mock_searcher()
    local a = tune.run("__fake", {search_alg = searcher, scheduler = F(), stop = {training_iteration = 2},
      local_dir = dir, verbose = 0})
    assert.equal("TERMINATED", a.trials[1].status)
    assert.same({result = 0, complete = 1}, searcher.counter)
  end)

  it("testSearchAlgStalled: a searcher that has nothing for a while is asked again; the run ends with it", function()
    -- The third suggestion waits: the first three times it is asked for.
    local waited = 0
    local searcher = mock_searcher(3, function(k)
      if k ~= 3 or waited == 3 then return false end
      waited = waited + 1
      return true
    end)
    local a = tune.run("__fake", {search_alg = searcher, num_samples = 3, stop = {training_iteration = 1},
      local_dir = dir, verbose = 0, max_concurrent_trials = 1})
    assert.equal(3, #a.trials)
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
    assert.equal(3, searcher.counter.complete)
    assert.equal(3, waited)
  end)

  it("testSearcherSaveRestore: Repeater over ConcurrencyLimiter over a searcher goes on after a resume", function()
    local function create()
      local T = Searcher:extend(nil, "TestSuggestion")
      function T:__init() Searcher.__init(self, {metric = "episode_reward_mean", mode = "max"}) self.index = 0 end
      function T:suggest() self.index = self.index + 1 return {test_variable = self.index} end
      function T:save() return {index = self.index} end
      function T:restore(state) self.index = state.index end
      return Repeater(ConcurrencyLimiter(T(), {max_concurrent = 2}), {["repeat"] = 3, set_index = false})
    end
    local function options(callbacks)
      return {search_alg = create(), num_samples = 20, stop = {training_iteration = 2}, name = "ssr",
        local_dir = dir, verbose = 0, callbacks = callbacks}
    end
    local interrupt = {on_step_end = function(_, _, trials) if #trials == 6 then error("interrupted") end end}
    stderr_of(function() assert.is_false(pcall(tune.run, "__fake", options({interrupt}))) end)
    local o = options()
    o.resume = true
    local a
    stderr_of(function() a = tune.run("__fake", o) end)
    assert.equal(20, #a.trials)
    local count = {}
    for _, t in ipairs(a.trials) do
      local v = t.config.test_variable
      count[v] = (count[v] or 0) + 1
      assert.is_true(count[v] <= 3)
    end
  end)

  --- Three trials of four iterations, the first failing at its second
  --- (once: a marker file remembers).
  local function three(resume)
    return tune.run("__fake", {config = {mock_error = tune.grid_search({true, false, false}), marker = dir .. "/marker"},
      stop = {training_iteration = 4}, name = "errors", local_dir = dir, verbose = 0, resume = resume,
      raise_on_failed_trial = false})
  end

  it("testTrialErrorResumeFalse and testTrialErrorResumeTrue: a resume keeps the errored trial; ERRORED_ONLY reruns it",
      function()
    assert.equal("ERROR", three().trials[1].status)
    local a = three(true)
    assert.equal(3, #a.trials)
    assert.equal("ERROR", a.trials[1].status)
    a = three("ERRORED_ONLY")
    assert.equal(3, #a.trials)
    for _, t in ipairs(a.trials) do assert.equal("TERMINATED", t.status) end
  end)
end)

describe("Ray's TrialRunnerTest3 (resume)", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-runner3-resume") end)
  after_each(support.check_clean)

  it("testTrialSaveRestore and testTrialNoCheckpointSave: a resume keeps finished and failed trials, reruns the rest",
      function()
    -- One trial at a time: terminates after one iteration, fails at its
    -- second, succeeds after two (interrupted while it runs).
    local function options(callbacks, resume)
      return {config = {case = tune.grid_search({"terminate", "fail", "succ"}), marker = dir .. "/marker",
          mock_error = tune.sample_from(function(spec) return spec.config.case == "fail" end),
          persistent_error = true},
        stop = function(_, result) return result.training_iteration >= (result.config.case == "terminate" and 1 or 2) end,
        checkpoint_freq = 1, max_concurrent_trials = 1, raise_on_failed_trial = false, name = "save_restore",
        local_dir = dir, verbose = 0, callbacks = callbacks, resume = resume}
    end
    local interrupt = {on_step_end = function(_, _, trials)
      for _, t in ipairs(trials) do
        if t.config.case == "succ" and t.status == "RUNNING" and t.last_result then error("interrupted") end
      end
    end}
    local seen
    local check = {on_step_begin = function(_, _, trials)
      if not seen then
        seen = {}
        for _, t in ipairs(trials) do seen[t.config.case] = t.status end
      end
    end}
    stderr_of(function() pcall(tune.run, "__fake", options({interrupt})) end)
    local a = tune.run("__fake", options({check}, true))
    assert.same({terminate = "TERMINATED", fail = "ERROR", succ = "PENDING"}, seen)
    local status = {}
    for _, t in ipairs(a.trials) do status[t.config.case] = t.status end
    assert.same({terminate = "TERMINATED", fail = "ERROR", succ = "TERMINATED"}, status)
  end)
end)
