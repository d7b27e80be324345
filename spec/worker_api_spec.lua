-- The trainable's side of tunelua: tune.report's options, checkpoints that
-- JSON cannot give back as they were, the path a class's save_checkpoint
-- returns, what a function returns or yields, a class without step(),
-- tune.bundles(), what error.txt shows, and tune.with_parameters.
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
-- Loaded when a case needs it.
local ckpt = setmetatable({}, {__index = function(_, k) return require("tune.worker.checkpoint")[k] end})
require("spec.fixtures.worker_api_trainables")

local FIXTURE = "worker_api_trainables%.lua:%d+: "

describe("the worker API", function()
  local dir
  before_each(function() dir = support.tmpdir("worker_api") end)
  after_each(support.check_clean)

  --- Runs `trainable` (cases: a list of config.case values) and returns
  --- its trials by case.
  local function run(trainable, cases, opts)
    opts = opts or {}
    opts.local_dir, opts.verbose, opts.raise_on_failed_trial = dir, 0, false
    if cases then opts.config = {case = tune.grid_search(cases)} end
    local a = tune.run(trainable, opts)
    local by = {}
    for _, t in ipairs(a.trials) do by[t.config.case or 1] = t end
    return by, a
  end

  --- Each case {fn, message} raises, at a line of this file, the message
  --- (after `prefix`, a pattern).
  local function refused_at_caller(cases, prefix)
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("worker_api_spec%.lua:%d+: " .. prefix, err)
      assert.matches(c[2], err, 1, true)
    end
  end

  describe("tune.report's options", function()
    it("refuse an unknown key at the caller's line, naming the closest valid one", function()
      local t = run("api_case", {"report_typo"}).report_typo
      assert.equal("ERROR", t.status)
      assert.matches(FIXTURE .. "tune%.report%(%): unknown option \"chekpoint\" %(did you mean checkpoint%?%)",
        t.error_msg)
    end)
  end)

  describe("checkpoint tables", function()
    it("name what JSON would not give back as it was, by its path", function()
      local cases = {
        {{0.5, 0.25, step = 1}, "checkpoint: a table mixes list items and keys at the top level"},
        {{model = {1, 2, x = 3}}, "checkpoint: a table mixes list items and keys at .model"},
        {{[10] = "x"}, "checkpoint: integer key 10 in a table that is not a list at the top level"},
        {{a = {1, 2, [4] = 4}}, "checkpoint: integer key 4 in a table that is not a list at .a"},
        {{layers = {{w = 1}, {[0] = 1, 2}}}, "checkpoint: integer key 0 in a table that is not a list at .layers[2]"},
        {{["a b"] = {[1.5] = 1}}, "checkpoint: number key 1.5 (not an integer) at [\"a b\"]"},
        {{x = {[true] = 1}}, "checkpoint: a key of type boolean at .x"},
        -- Bytes that are not UTF-8 came back as U+FFFD: the data changed.
        {{w = {1, "a\xffb"}}, "checkpoint: a string that is not UTF-8 text (JSON holds text: encode bytes, as hex "
          .. "for one) at .w[2]"},
        {{m = {["k\xe9"] = 1}}, "checkpoint: a key that is not UTF-8 text at .m"},
        -- What JSON cannot hold at all: refused at the report, at its line
        -- (it failed the save later, "could not write checkpoint ...").
        {{opt = {f = print}}, "checkpoint: a function (a checkpoint is JSON data) at .opt.f"},
        {{co = {coroutine.create(print)}}, "checkpoint: a thread (a checkpoint is JSON data) at .co[1]"},
        {{s = "a\0b"}, "checkpoint: a string with a NUL character (C strings end there) at .s"},
        {{m = {["k\0"] = 1}}, "checkpoint: a key with a NUL character (C strings end there) at .m"},
      }
      local cyclic = {a = {1, 2}}
      cyclic.self = cyclic
      cases[#cases + 1] = {cyclic, "checkpoint: a table inside itself at .self"}
      local function nested(n)
        local t = {}
        for _ = 2, n do t = {x = t} end
        return t
      end
      cases[#cases + 1] = {nested(201), "checkpoint: tables nested more than 200 deep at " .. (".x"):rep(20) .. "..."}
      for _, c in ipairs(cases) do assert.equal(c[2], ckpt.problem(c[1])) end
      -- 200 deep: what JSON takes.
      for _, fine in ipairs({{}, {1, 2, 3}, {a = {b = {1, {c = 2}}}}, tune.array{}, nested(200), {n = tune.null},
          {["caf\u{e9}"] = "\u{1F600}"}}) do
        assert.is_nil(ckpt.problem(fine))
      end
    end)

    it("refuse one from tune.report at its line, and one from save_checkpoint when it is saved", function()
      local t = run("api_case", {"report_mixed_checkpoint"}).report_mixed_checkpoint
      assert.equal("ERROR", t.status)
      assert.matches(FIXTURE .. "tune%.report%(%): checkpoint: a table mixes list items and keys at %.model",
        t.error_msg)
      t = run("api_case", {"report_function_checkpoint"}).report_function_checkpoint
      assert.matches(FIXTURE .. "tune%.report%(%): checkpoint: a function %(a checkpoint is JSON data%) at "
        .. "%.optimizer%.step$", t.error_msg)
      local s = run("saver", {"sparse"}).sparse
      assert.equal("ERROR", s.status)
      assert.matches("could not write checkpoint .*checkpoint_000001: save_checkpoint%(%): checkpoint: "
        .. "integer key 10 in a table that is not a list at %.w", s.error_msg)
    end)

    it("that cannot be written or read name the checkpoint's file, at no internal position", function()
      -- Written: the trial's message names the checkpoint, then the file
      -- in it (a full disk reads "…: tune_checkpoint.json: No space left
      -- on device").
      local t = run("saver", {"gone"}).gone
      assert.equal("ERROR", t.status)
      assert.matches("^could not write checkpoint [^ ]*/checkpoint_000001: tune_checkpoint%.json: "
        .. "No such file or directory$", t.error_msg)
      assert.has_error(function() ckpt.write_table(dir .. "/none", {a = 1}, "x") end,
        "tune_checkpoint.json: No such file or directory")
      assert.has_error(function() ckpt.save_class(dir .. "/none/m.bin", dir .. "/none") end,
        ".tune_worker.json: No such file or directory")
      -- Read: a restore from a checkpoint whose file is cut short fails,
      -- naming that file and what is wrong in it.
      local c = dir .. "/cut"
      assert(core.mkdir_p(c))
      assert(core.write_file(c .. "/.tune_metadata.json", '{"training_iteration": 1}'))
      assert(core.write_file(c .. "/" .. ckpt.TABLE_FILE, '{"step":'))
      local r = run("list_checkpoint", nil, {restore = c})[1]
      assert.equal("ERROR", r.status)
      assert.equal("cannot read checkpoint file " .. c .. "/tune_checkpoint.json: unexpected end of input at byte 8",
        r.error_msg)
      assert(core.write_file(c .. "/" .. ckpt.TABLE_FILE, "{}"))
      assert(core.write_file(c .. "/" .. ckpt.META_FILE, "{"))
      assert.is_nil(ckpt.read_table(dir))
      assert.same({}, ckpt.read_table(c))
      assert(core.write_file(c .. "/" .. ckpt.TABLE_FILE, "[1"))
      assert.has_error(function() ckpt.load_arg(c) end,
        "cannot read checkpoint file " .. c .. "/tune_checkpoint.json: expected ',' or ']' at byte 2")
      assert(os.remove(c .. "/" .. ckpt.TABLE_FILE))
      assert.has_error(function() ckpt.load_arg(c) end,
        "cannot read checkpoint file " .. c .. "/.tune_worker.json: expected object key at byte 1")
    end)

    it("keep a list and named fields as they were through a restore", function()
      local t = run("list_checkpoint", nil, {max_failures = 1})[1]
      assert.equal("TERMINATED", t.status)
      assert.equal(1, t.num_failures)
      local r = t.last_result
      assert.same({0.5, 0.25, 2, 1, false}, {r.w1, r.w2, r.n, r.step, r.has_string_key})
    end)
  end)

  describe("a path save_checkpoint returns", function()
    it("in its directory: load_checkpoint gets that path in the directory restored from", function()
      local t = run("saver", {"file"}, {max_failures = 1, stop = {training_iteration = 4}}).file
      assert.equal("TERMINATED", t.status)
      assert.equal(1, t.num_failures)
      assert.equal(t.logdir .. "/checkpoint_000002/model.bin", t.last_result.loaded_from)
      assert.equal("2", t.last_result.loaded)
    end)

    it("outside its directory (or relative) fails the save", function()
      local by = run("saver", {"outside", "relative"})
      for _, case in ipairs({"outside", "relative"}) do
        assert.equal("ERROR", by[case].status)
        assert.matches("could not write checkpoint .*checkpoint_000001: save_checkpoint%(%) returned \""
          .. (case == "outside" and "/tmp" or "model%.bin") .. "\", a path outside the directory it was given",
          by[case].error_msg)
      end
    end)

    it("is kept relative to the checkpoint's directory", function()
      local a, b = dir .. "/a", dir .. "/b"
      assert(core.mkdir_p(a .. "/sub"))
      assert(core.mkdir_p(b))
      ckpt.save_class(a .. "/sub/m.bin", a)
      assert(core.rename(a .. "/" .. ckpt.META_FILE, b .. "/" .. ckpt.META_FILE))
      assert.equal(b .. "/sub/m.bin", ckpt.load_arg(b))
      ckpt.save_class(a, a)
      ckpt.save_class(a .. "/", a)
      ckpt.save_class(nil, a)
      assert.is_nil(core.stat(a .. "/" .. ckpt.META_FILE))
      assert.equal(a, ckpt.load_arg(a))
      for _, bad in ipairs({a .. "/../x", dir, "/tmp"}) do
        assert.has_error(function() ckpt.save_class(bad, a) end)
      end
      assert.has_error(function() ckpt.save_class(3, a) end,
        "save_checkpoint() must return a table, the checkpoint's directory (a string) or nil, got number")
    end)
  end)

  describe("a function trainable's return and yield values", function()
    it("fail the trial when neither a number, a table nor nil/false, as Ray's words say", function()
      local by = run("api_case", {"returns_string", "returns_true", "yields_string"})
      for case, t in pairs(by) do
        assert.equal("ERROR", t.status, case)
        assert.matches("^Invalid return or yield value%. Either return/yield a single number or a dictionary object "
          .. "in your trainable function%.", t.error_msg)
      end
      assert.matches("%(got string \"accuracy=0%.93\"%)", by.returns_string.error_msg)
    end)

    it("ignore a yielded nil or false", function()
      local t = run("api_case", {"yields_falsy"}).yields_falsy
      assert.equal("TERMINATED", t.status)
      assert.equal(1, t.last_result.training_iteration)
      assert.equal(1, t.last_result.a)
    end)
  end)

  describe("a class without step()", function()
    it("fails its trial naming the class, at no internal position", function()
      local by = {}
      for _, name in ipairs({"nostep", "nostep_named"}) do by[name] = run(name)[1] end
      assert.equal("ERROR", by.nostep.status)
      assert.equal("nostep: a tune.Trainable must define step()", by.nostep.error_msg)
      assert.equal("Model: a tune.Trainable must define step()", by.nostep_named.error_msg)
      local C = tune.Trainable:extend(nil, "C")
      local ok, err = pcall(C.step, C())
      assert.is_false(ok)
      assert.equal("C: a tune.Trainable must define step()", err)
    end)
  end)

  it("extend() and register_trainable refuse a name that is not a non-empty string without NUL, at the caller's line", function()
    -- extend(nil, 5) raised "attempt to index a number value" inside the
    -- library at tune.run; extend(5) was ignored; "" named trials "_"; a
    -- NUL failed tune.run inside the library (persistence.lua).
    local class_name = "Trainable:extend: the class name must be a non-empty string without a NUL character, got "
    local cases = {
      {function() local C = tune.Trainable:extend(nil, 5); return C end, class_name .. "number"},
      {function() local C = tune.Trainable:extend(nil, ""); return C end, class_name .. '""'},
      {function() local C = tune.Trainable:extend(nil, "a\0b"); return C end, class_name .. '"a\\0b"'},
      {function() local C = tune.Trainable:extend(5); return C end, "Trainable:extend: the methods must be a table, got number"},
      {function() local C = tune.Trainable:extend(nil, "A"):extend(nil, {}); return C end,
        "A:extend: the class name must be a non-empty string without a NUL character, got table"},
      {function() tune.register_trainable("a\0b", function() end) end,
        'register_trainable: the name must be a non-empty string without a NUL character, got "a\\0b"'},
    }
    refused_at_caller(cases, "")
    assert.equal("Named", tune.Trainable:extend("Named").__name)
  end)

  it("a class's method that is not a function fails its trial naming it; a class's own constructor may skip the base's", function()
    -- They failed inside the worker: "init.lua:199: attempt to call a
    -- string value (method 'setup')", "attempt to perform arithmetic on a
    -- nil value (field 'iteration')"; a step that is not a function made
    -- tune.run say the class is not a Trainable.
    local out = support.run_script(dir, [[
local tune = require("tune")
local function class(name)
  local C = tune.Trainable:extend(nil, name)
  function C:step() return {n = self.iteration, c = self.config.c, done = true} end
  return C
end
local Setup, Save, Own = class("Setup"), class("Save"), class("Own")
Setup.setup = "x"
Save.save_checkpoint = 5
function Own:__init(config) self.mine = true end
local opts = {local_dir = arg[1], verbose = 0, raise_on_failed_trial = false, checkpoint_freq = 1, config = {c = 7}}
for _, C in ipairs({Setup, Save, Own}) do
  local t = tune.run(C, opts).trials[1]
  print(C.__name, t.status, t.error_msg or (t.last_result.n .. " " .. t.last_result.c))
end
local Step = class("Step")
Step.step = 5
print("step", select(2, pcall(tune.run, Step, opts)))
]], dir .. "/results")
    assert.matches("Setup\tERROR\t[^\n]*Setup: setup must be a method %(a function%), got string\n", out)
    assert.matches("Save\tERROR\t[^\n]*Save: save_checkpoint must be a method %(a function%), got number\n", out)
    assert.matches("Own\tTERMINATED\t0 7\n", out)
    assert.matches("step\t[^\n]*got the class Step, whose step is a number %(a method must be a function%)\n", out)
  end)

  it("a function that reports one table again, changed, gets each result as it was, and one checkpoint", function()
    -- The worker set should_checkpoint on the trainable's own table: every
    -- later report saved the first checkpoint's table again; and a batch
    -- of buffered results held the one table, each row its last values.
    for _, length in ipairs({1, 4}) do
      local t = run("api_case", {"reuses_table"}, {trial_executor = tune.TrialExecutor{result_buffer_length = length}})
        .reuses_table
      assert.equal("TERMINATED", t.status)
      local seen = {}
      for _, line in ipairs(support.lines(t.logdir .. "/result.json")) do
        local r = core.json_decode(line)
        seen[#seen + 1] = string.format("%d/%d%s", r.i, r.inner.i, r.should_checkpoint and "c" or "")
      end
      assert.equal("1/1c 2/2 3/3 4/4 5/5 6/6", table.concat(seen, " "), "buffer length " .. length)
      local checkpoints = {}
      for _, name in ipairs(core.listdir(t.logdir)) do
        if name:match("^checkpoint_") then checkpoints[#checkpoints + 1] = name end
      end
      assert.same({"checkpoint_000001"}, checkpoints, "buffer length " .. length)
    end
  end)

  it("a class's reset_config() sees the new trial's config, id, name and logdir, as in Ray", function()
    -- They were the previous trial's until reset_config() returned.
    local by, a = run("resets", {1, 2, 3}, {reuse_actors = true, num_cpus = 1})
    assert.equal("setup", by[1].last_result.seen)
    for case = 2, 3 do
      local t = by[case]
      assert.equal(string.format("%s %s %d logdir true", t.trial_id, tostring(t), case), t.last_result.seen)
    end
    assert.equal(a.trials[1].last_result.pid, a.trials[3].last_result.pid)
  end)

  it("tune.bundles() gives integer indexes", function()
    local t = run("bundle_index", nil, {resources_per_trial = tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}})})[1]
    assert.equal("TERMINATED", t.status)
    assert.equal("integer,integer", t.last_result.types)
    assert.equal("1,2", t.last_result.indexes)
  end)

  it("tune.launch: a retried trial's process writes a file of its own, and wait() reads only it", function()
    -- The retry wrote bundle_2_1.out again (appended): its wait() returned
    -- the first attempt's output and last JSON line as its own.
    local out = support.run_script(dir, [=[
local tune = require("tune")
local marker = arg[1] .. "/attempted"
local function train()
  local first = not io.open(marker)
  local p = tune.launch(2, first and {"sh", "-c", "echo '{\"attempt\": 1}'"} or {"echo", "plain"})
  local o = p:wait()
  if first then io.open(marker, "w"):close(); error("first attempt fails") end
  tune.report{got = o.result and o.result.attempt or "none", out = o.stdout, file = p.stdout_path:match("[^/]+$")}
end
local a = tune.run(train, {resources_per_trial = tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}}), max_failures = 1,
  verbose = 0, local_dir = arg[1]})
local r = a.trials[1].last_result
print(string.format("got=%s file=%s out=%q", r.got, r.file, r.out))
]=], dir)
    assert.matches('got=none file=bundle_2_2.out out="plain\\\n"', out, 1, true)
  end)

  it("OMP_NUM_THREADS: each bundle's CPUs, or the driver's own value for every worker and process (Ray's)", function()
    -- A user's OMP_NUM_THREADS=7 was replaced by the trial's CPUs.
    local source = [=[
local tune = require("tune")
local function train()
  local o = tune.launch(2, {"sh", "-c", "echo \"{\\\"omp\\\": \\\"$OMP_NUM_THREADS\\\"}\""}):wait()
  tune.report{own = os.getenv("OMP_NUM_THREADS"), launched = o.result.omp, field = tune.bundles()[2].omp_threads}
end
local ex = tune.TrialExecutor{num_cpus = 8}
local a = tune.run(train, {resources_per_trial = tune.PlacementGroupFactory({{CPU = 1.5}, {CPU = 3}}), verbose = 0,
  local_dir = arg[1], trial_executor = ex})
ex:close()
local r = a.trials[1].last_result
print(string.format("own=%s launched=%s field=%s", r.own, r.launched, r.field))
]=]
    assert.matches("own=1 launched=3 field=3\n", support.run_script(dir, source, dir), 1, true)
    assert.matches("own=7 launched=7 field=7\n", support.run_script(dir, source, dir, "OMP_NUM_THREADS=7"), 1, true)
  end)

  it("tune.launch finds a bare name on the PATH its env gives, as tune.command does", function()
    -- It was looked up on the worker's PATH: "tune.launch: mytool: No such file or directory".
    assert(core.mkdir_p(dir .. "/bin"))
    assert(core.write_file(dir .. "/bin/mytool", "#!/bin/sh\necho '{\"tool\": 1}'\n"))
    support.must("chmod +x " .. dir .. "/bin/mytool")
    local out = support.run_script(dir, [=[
local tune = require("tune")
local function train()
  local ok, p = pcall(tune.launch, 2, {"mytool"}, {env = {PATH = arg[1] .. "/bin:" .. os.getenv("PATH")}})
  tune.report{r = ok and p:wait().result.tool or tostring(p)}
end
local a = tune.run(train, {resources_per_trial = tune.PlacementGroupFactory({{CPU = 1}, {CPU = 1}}), verbose = 0,
  local_dir = arg[1], raise_on_failed_trial = false})
print("r=" .. tostring(a.trials[1].last_result.r))
]=], dir)
    assert.matches("r=1\n", out, 1, true)
  end)

  it("tune.launch and tune.bundles outside a trainable say so at the caller's line", function()
    -- tune.launch said "tune.bundles() can only be called ..." at a line of the library.
    for _, c in ipairs({{function() tune.launch(2, {"true"}) end, "tune.launch"},
        {function() tune.bundles() end, "tune.bundles()"}}) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("^[^\n]*worker_api_spec%.lua:%d+: " .. c[2]:gsub("%p", "%%%0")
        .. " can only be called inside a trainable run by tune$", err)
    end
  end)

  describe("error.txt", function()
    local function error_txt(t)
      assert.equal("ERROR", t.status)
      return assert(core.read_file(t.logdir .. "/error.txt"))
    end
    local function count(text, plain)
      local n, at = 0, 1
      while true do
        local i = text:find(plain, at, true)
        if not i then return n end
        n, at = n + 1, i + 1
      end
    end

    it("shows the message once, then the trainable's frames without the worker's", function()
      local fn = run("api_case", {"raises_deep"}).raises_deep
      local cls = run("saver", {"raises"}).raises
      for n, t in ipairs({fn, cls}) do
        local text = error_txt(t)
        local lines = support.lines(t.logdir .. "/error.txt")
        assert.matches("^Failure # 1 %(occurred at [%d_-]+%)$", lines[1])
        assert.matches(FIXTURE .. "deep failure " .. (n + 2) .. "$", lines[2])
        assert.equal("second line", lines[3])
        assert.equal("stack traceback:", lines[4])
        assert.equal(1, count(text, "deep failure"), text)
        assert.equal(1, count(text, "second line"), text)
        assert.matches("worker_api_trainables%.lua:%d+: in upvalue 'deep_helper'", text)
        assert.is_nil(text:find("tune/worker/", 1, true), text)
        assert.is_nil(text:find("xpcall", 1, true), text)
      end
      assert.matches("in method 'step'", error_txt(cls))
    end)

    it("shows the first and last frames of a runaway recursion, at once", function()
      local t0 = core.now()
      local text = error_txt(run("api_case", {"overflows"}).overflows)
      assert.matches("stack overflow\nstack traceback:\n", text)
      assert.matches("\n\t%.%.%.\t%(skipping %d+ levels%)\n", text)
      assert.matches("in upvalue 'recurse'\n[^\n]*worker_api_trainables%.lua:%d+: in function <[^\n]*>\n$", text)
      assert.is_nil(text:find("tune/worker/", 1, true), text)
      assert.is_true(core.now() - t0 < 20)
    end)

    it("shows a NUL character of the message as \\0", function()
      -- The worker could not send it, and exited 71: the trial said only
      -- that the worker had exited unexpectedly.
      local t = run("api_case", {"raises_nul"}).raises_nul
      assert.equal("bad\\0byte", t.error_msg)
      assert.equal("bad\\0byte", support.lines(t.logdir .. "/error.txt")[2])
    end)

    it("holds just the message of an error the worker found", function()
      local t = run("saver", {"bad_result"}).bad_result
      local lines = support.lines(t.logdir .. "/error.txt")
      assert.same({"step() must return a table of metrics, got string"}, {table.unpack(lines, 2)})
    end)
  end)

  describe("tune.with_parameters", function()
    it("passes a registered function its params as a second argument", function()
      local _, a = run("with_data", nil, {config = {scale = tune.grid_search({1, 2})}})
      local sums = {}
      for _, t in ipairs(a.trials) do
        assert.equal("TERMINATED", t.status)
        assert.equal("hundred", t.last_result.label)
        sums[#sums + 1] = t.last_result.sum
      end
      table.sort(sums)
      assert.same({5050, 10100}, sums)
    end)

    it("passes a class's setup its params, and wraps a registered name", function()
      local t = run("with_data_class", nil, {config = {scale = 3}})[1]
      assert.equal("TERMINATED", t.status)
      assert.same({300, "class"}, {t.last_result.n, t.last_result.label})
      local e = run("with_named")[1]
      assert.equal(7, e.last_result.k)
    end)

    it("works for a local function of the experiment file, rebuilt by the worker", function()
      local out = support.run_script(dir, [[
local tune = require("tune")
local words = {}
for w in ("the quick brown fox"):gmatch("%a+") do words[#words + 1] = w end
local function train(config, params)
  tune.report{n = #params.words, first = params.words[config.i]}
end
local Model = tune.Trainable:extend()
function Model:setup(config, params) self.words = params.words end
function Model:step() return {last = self.words[#self.words], done = true} end
local a = tune.run(tune.with_parameters(train, {words = words}),
  {config = {i = tune.grid_search({1, 2})}, local_dir = arg[1], verbose = 0})
local firsts = {}
for _, t in ipairs(a.trials) do firsts[#firsts + 1] = t.last_result.first .. "/" .. t.last_result.n end
table.sort(firsts)
local b = tune.run(tune.with_parameters(Model, {words = words}), {local_dir = arg[1], verbose = 0})
print("firsts " .. table.concat(firsts, " ") .. " last " .. b.trials[1].last_result.last)
-- No params (Ray's with_parameters(trainable) with no keywords): an empty table.
local c = tune.run(tune.with_parameters(function(config, params) tune.report{n = next(params) == nil and 0 or 1} end),
  {local_dir = arg[1], verbose = 0})
print("none " .. c.trials[1].last_result.n)
-- Named after what it wraps, as Ray names them (it was "trainable"),
-- also when held in a variable of another name (it was "wrapped"), and
-- a class whose name is its variable's (it was "trainable").
print("name " .. tostring(a.trials[1]):match("^(.*)_%x+_%d+$"))
print("class " .. tostring(b.trials[1]):match("^(.*)_%x+_%d+$"))
local wrapped = tune.with_parameters(train, {words = words})
local d = tune.run(wrapped, {config = {i = 1}, local_dir = arg[1], verbose = 0})
print("held " .. tostring(d.trials[1]):match("^(.*)_%x+_%d+$"))
]], dir .. "/results")
      assert.matches("firsts quick/4 the/4 last fox", out)
      assert.matches("name train\n", out)
      assert.matches("class Model\n", out)
      assert.matches("held train\n", out)
      assert.matches("none 0\n", out)
    end)

    it("refuses tune.run called by a trainable (in its worker), at the trainable's line", function()
      -- It returned an empty analysis (no trials, no experiment run), and
      -- the trainable failed later on an index of nil.
      local out = support.run_script(dir, [[
local tune = require("tune")
tune.register_trainable("reg", function(config)
  tune.run(function(c) tune.report{s = 1} end, {verbose = 0, local_dir = arg[1]})
end)
local function local_fn(config)
  tune.run("reg", {verbose = 0, local_dir = arg[1]})
end
local opts = {verbose = 0, local_dir = arg[1], raise_on_failed_trial = false}
for _, t in ipairs({"reg", local_fn}) do
  print("ERR " .. tune.run(t, opts).trials[1].error_msg)
end
]], dir .. "/results")
      local msg = ": tune.run: called by a trainable, which runs in a worker process: an experiment runs only from the "
        .. "experiment file (the driver); a search inside a trial is not supported\n"
      assert.matches("ERR [^\n]*/exp.lua:3" .. msg:gsub("%p", "%%%0"), out)
      assert.matches("ERR [^\n]*/exp.lua:6" .. msg:gsub("%p", "%%%0"), out)
    end)

    it("keeps a trainable's error of 20 MiB, cut, instead of failing on the protocol's line limit", function()
      -- The trial's error was "message longer than the limit of 16777216
      -- bytes", the trainable's own message lost.
      local out = support.run_script(dir, [[
local tune = require("tune")
local a = tune.run(function(c) error("bad thing: " .. string.rep("x", 20 * 1024 * 1024)) end,
  {verbose = 0, local_dir = arg[1], raise_on_failed_trial = false})
local e = a.trials[1].error_msg
print("ERR " .. #e .. " " .. tostring(e:match("exp%.lua:2: bad thing: xxxx")) .. " " .. e:match("%.%.%. %(%d+ more bytes%)"))
]], dir .. "/results")
      assert.matches("ERR %d+ exp.lua:2: bad thing: xxxx %.%.%. %(%d+ more bytes%)\n", out)
      local len = tonumber(out:match("ERR (%d+)"))
      assert.is_true(len > 1000 and len < 2 * 1024 * 1024, out:sub(1, 200))
    end)

    it("tune.command: a result line of megabytes, then more lines, each read whole", function()
      -- 3 MiB of a string value, then two short results in one write.
      local prog = [[io.write('{"loss":1,"s":"' .. string.rep("x", 3 * 1024 * 1024) .. '"}\n{"loss":2}\n{"loss":3}\n')]]
      local by = run(tune.command{"lua5.4", "-e", prog})
      local t = by[1]
      assert.equal("TERMINATED", t.status)
      assert.equal(3, t.last_result.loss)
      local rows = support.lines(t.logdir .. "/result.json")
      assert.equal(3, #rows)
      assert.equal(3 * 1024 * 1024, #core.json_decode(rows[1]).s)
    end)

    it("tune.command: the trial ends when the program exits, not when a process it left running does", function()
      -- The background shell keeps the program's stdout open for 20 s and
      -- then prints a result: the trial waited for it (ending at 20 s
      -- with 3 results) where the docs say the program's exit ends it.
      local prog = [[echo '{"x":1}'; (sleep 20; echo '{"x":99}') & echo '{"x":2}']]
      local t0 = core.now()
      local t = run(tune.command{"sh", "-c", prog})[1]
      assert.is_true(core.now() - t0 < 10, "the trial waited for the background process")
      assert.equal("TERMINATED", t.status)
      assert.equal(2, t.last_result.x)
      assert.equal(2, #support.lines(t.logdir .. "/result.json"))
    end)

    it("tune.command: a JSON result no result can hold (a NUL, too deep) fails the trial, naming it", function()
      -- It went to the trial's stdout as text: TERMINATED, no result.
      local nul = [[io.write('{"x":1}\n{"x":2,"s":"a\\u0000b"}\n')]]
      local deep = [[io.write(string.rep('{"a":', 201) .. '1' .. string.rep('}', 201) .. '\n')]]
      local by = run(tune.command{"lua5.4", "-e", "{case}"}, {nul, deep})
      assert.equal("ERROR", by[nul].status)
      assert.equal(1, by[nul].last_result.x)
      assert.matches('lua5.4 printed a result that cannot be taken (NUL character in string at byte 21: C strings end '
        .. 'there): {"x":2,"s":"a\\u0000b"}', by[nul].error_msg, 1, true)
      assert.equal("ERROR", by[deep].status)
      assert.matches("lua5.4 printed a result that cannot be taken (nesting too deep at byte 1000: at most 200 "
        .. 'levels): {"a":{"a":', by[deep].error_msg, 1, true)
    end)

    it("tune.command: the program gets the worker's LD_PRELOAD, less a sanitizer's runtime", function()
      -- It was always removed (a user's LD_PRELOAD=libtcmalloc.so never
      -- reached the program).
      local saved = os.getenv("LD_PRELOAD")
      local command = require("tune.worker.command")
      assert(core.setenv("LD_PRELOAD", "libm.so.6 /x/libasan.so.8:/y/libubsan.so.1"))
      local filtered = command.child_preload()
      assert(core.setenv("LD_PRELOAD", (saved and saved .. " " or "") .. "libm.so.6"))
      local ok, by = pcall(run, tune.command{"sh", "-c", [[echo "{\"p\": \"$LD_PRELOAD\"}"]]})
      core.setenv("LD_PRELOAD", saved)
      assert(ok, by)
      assert.equal("libm.so.6", filtered)
      assert.equal("libm.so.6", by[1].last_result.p)
    end)

    it("tune.command: {key} arguments are the config's values as docs/guide/trainables.md says", function()
      local prog = [[io.write('{"args":"' .. table.concat(arg, " ") .. '"}\n')]]
      local by = run(tune.command{"lua5.4", "-e", prog, "/dev/null", "{a}", "{b}", "{c}", "{d}", "{e}", "{f/g}", "{h}", "{i}",
        "{j}", "x{k}y"}, nil, {config = {a = 0.1, b = 0.1 + 0.2, c = 2.0, d = 3, e = 0 / 0, f = {g = -1 / 0},
          h = {1, 2}, i = true, j = "s t", k = 1e22}})
      assert.equal("0.1 0.30000000000000004 2.0 3 NaN -Infinity [1,2] true s t x1e+22y", by[1].last_result.args)
    end)

    it("tune.command and tune.launch refuse env, cwd and name that are not what they take, at the caller's line", function()
      -- env = 5 failed in the worker inside the library; name = 5 in the
      -- search algorithm; a missing cwd was blamed on the program.
      for _, c in ipairs({{{"true", env = 5}, "env must be a table of NAME = value, got 5"},
          {{"true", env = {X = {}}}, "env must map names to strings (false removes one), got X = table"},
          {{"true", cwd = 5}, "cwd must be a directory's path (a string), got 5"},
          {{"true", name = 5}, "name must be a string (the trainable's name in trial names) without a NUL character, got 5"},
          -- A NUL: C ran the string cut there, or tune.run failed inside the library.
          {{"true", "a\0b"}, 'argument 2 must not contain a NUL character (C strings end there), got "a\\0b"'},
          {{"true", {}}, "argument 2 must be a string or a number, got table"},
          {{"true", env = {X = "a\0"}}, 'env X must not contain a NUL character (C strings end there), got "a\\0"'},
          {{"true", cwd = "/tmp\0x"}, 'cwd must not contain a NUL character (C strings end there), got "/tmp\\0x"'},
          {{"true", name = "n\0"}, 'without a NUL character, got string "n\\0"'}}) do
        local ok, err = pcall(function() local cmd = tune.command(c[1]); return cmd end)
        assert.is_false(ok)
        assert.matches("worker_api_spec%.lua:%d+: tune%.command: ", err)
        assert.matches(c[2], err, 1, true)
      end
      local t = run(tune.command{"true", cwd = dir .. "/nowhere"})[1]
      assert.equal("ERROR", t.status)
      assert.matches("cannot start /%S+/true: its cwd " .. dir:gsub("%p", "%%%0") .. "/nowhere is not a directory", t.error_msg)
      -- A relative cwd is the caller's, as the program's path: it was taken
      -- in the trial directory ("its cwd ... is not a directory").
      local from, to = {}, {}
      for part in core.getcwd():gmatch("[^/]+") do from[#from + 1] = part end
      for part in dir:gmatch("[^/]+") do to[#to + 1] = part end
      local same = 0
      while from[same + 1] ~= nil and from[same + 1] == to[same + 1] do same = same + 1 end
      local rel = string.rep("../", #from - same) .. table.concat(to, "/", same + 1)
      t = run(tune.command{"sh", "-c", 'echo "{\\"pwd\\": \\"$(pwd)\\"}"', cwd = rel})[1]
      assert.equal("TERMINATED", t.status, t.error_msg)
      assert.equal(dir, t.last_result.pwd)
      t = run("api_case", {"launch_options"}).launch_options
      assert.equal("TERMINATED", t.status, t.error_msg)
      assert.equal('unknown option "envv" (did you mean env?)|env must be a table of NAME = value, got 5|'
        .. "the options must be a table, got string|sh: its cwd /nonexistent/x is not a directory|2", t.last_result.r)
      -- argv {"echo", {}} failed inside the library ("bad argument #-1 to
      -- 'spawn'"); a NUL cut what C got; a missing program was named twice.
      t = run("api_case", {"launch_argv"}).launch_argv
      assert.equal("argument 2 must be a string or a number, got table|"
        .. 'argument 2 must not contain a NUL character (C strings end there), got "a\\0b"|'
        .. 'env A must not contain a NUL character (C strings end there), got "x\\0y"|'
        .. 'cwd must not contain a NUL character (C strings end there), got "/tmp\\0y"|'
        .. "no-such-program-here: No such file or directory", t.last_result.r)
      -- They failed inside the library ("attempt to index a number value"),
      -- or made "table: 0x..." an argument.
      t = run("api_case", {"launch_helpers"}).launch_helpers
      assert.equal("tune.wait_all expects a list of processes from tune.launch, got number|"
        .. "tune.wait_all expects a list of processes from tune.launch, got table at 1|"
        .. "tune.lua_argv expects the Lua file's path (a string), got 5|"
        .. "tune.lua_argv: argument 3 must be a string or a number, got table", t.last_result.r)
      -- A string "1" was said not to exist while the trial had 1.
      t = run("api_case", {"launch_index"}).launch_index
      assert.equal('the bundle must be a number from 1 to 1, got string "1"|bundle 2 does not exist (the trial has 1)|'
        .. "bundle 0 does not exist (the trial has 1)", t.last_result.r)
    end)

    it("refuses what it cannot wrap, at the caller's line", function()
      local cases = {
        {function() tune.with_parameters(3, {}) end,
          "only works with function trainables or classes that inherit from tune.Trainable, got number"},
        {function() tune.with_parameters(tune.command{"true"}, {}) end, "got a tune.command"},
        {function() tune.with_parameters(function() end, 5) end, "params must be a table of the extra parameters, got number"},
        {function() tune.with_parameters("no_such_trainable", {}) end, "no trainable registered as \"no_such_trainable\""},
        -- A wrapper again: the inner params were passed, these dropped.
        {function() tune.with_parameters(tune.with_parameters(function() end, {k = 1}), {k = 2}) end, "already wrapped"},
        {function() tune.with_parameters("with_named", {k = 2}) end, "already wrapped"},
        {function() tune.with_parameters(tune.with_parameters(tune.Trainable:extend(nil, "W"), {}):extend(), {}) end,
          "already wrapped by tune.with_parameters, whose params it would be given instead of these: pass all the "
            .. "parameters in one call"},
      }
      refused_at_caller(cases, "tune%.with_parameters")
    end)
  end)

  describe("tune.register_trainable", function()
    it("finds the registering file through a pcall or a load()ed chunk", function()
      -- Each trial failed with "the start request names no trainable": the
      -- worker knew no file to run.
      local out = support.run_script(dir, [[
local tune = require("tune")
assert(pcall(tune.register_trainable, "through_pcall", function(config) tune.report{x = 1} end))
load("local tune = require('tune'); tune.register_trainable('in_chunk', function() tune.report{x = 2} end)")()
for _, name in ipairs({"through_pcall", "in_chunk"}) do
  local a = tune.run(name, {local_dir = arg[1], verbose = 0})
  print(name, a.trials[1].status, a.trials[1].last_result.x)
end
]], dir .. "/results")
      assert.matches("through_pcall\tTERMINATED\t1\n", out)
      assert.matches("in_chunk\tTERMINATED\t2\n", out)
    end)

    it("runs the trainable a name was registered as when the trial was made, when the file registers it again", function()
      -- The second run's trials ran the first registration's trainable:
      -- the worker took over at the first registration of the name.
      local out = support.run_script(dir, [[
local tune = require("tune")
local results = {}
for version = 1, 3 do
  tune.register_trainable("versioned", function() tune.report{version = version} end)
  local a = tune.run("versioned", {local_dir = arg[1], verbose = 0})
  results[#results + 1] = a.trials[1].last_result.version
end
print("versions " .. table.concat(results, " "))
]], dir .. "/results")
      assert.matches("versions 1 2 3\n", out)
    end)

    it("takes a callable table as a function trainable in tune.run and tune.with_parameters too; refuses another class", function()
      -- register_trainable took one, but tune.run and with_parameters
      -- refused it ("got table"), though Ray takes any callable; and
      -- register_trainable took a scheduler's class, whose trials reported
      -- the scheduler it made.
      local out = support.run_script(dir, [[
local tune = require("tune")
local Scaler = setmetatable({}, {__call = function(self, config, params)
  tune.report{v = config.x * (params and params.k or 1)}
end})
local opts = {config = {x = 3}, local_dir = arg[1], verbose = 0}
local a = tune.run(Scaler, opts)
local b = tune.run(tune.with_parameters(Scaler, {k = 10}), opts)
print("values", a.trials[1].last_result.v, b.trials[1].last_result.v)
print("names", tostring(a.trials[1]):match("^(.*)_%x+_%d+$"), tostring(b.trials[1]):match("^(.*)_%x+_%d+$"))
]], dir .. "/results")
      assert.matches("values\t3\t30\n", out)
      assert.matches("names\tScaler\tScaler\n", out)
      local FIFO = tune.schedulers.FIFOScheduler
      refused_at_caller({
        {function() tune.register_trainable("fifo", FIFO) end, 'register_trainable("fifo"): expected a function, a '
          .. "tune.Trainable class or a tune.command, got the class FIFOScheduler, which is not derived from tune.Trainable"},
        {function() tune.run(FIFO, {verbose = 0, local_dir = dir}) end, "got the class FIFOScheduler, which is not derived"},
        {function() tune.with_parameters(FIFO, {}) end, "got the class FIFOScheduler, which is not derived"},
      }, "")
    end)
  end)
end)
