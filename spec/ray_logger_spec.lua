-- Ray's test_logger (LoggerSuite), ported through tune.run: what the CSV
-- and JSON loggers write for three results, and a CSV header after a
-- trial started twice. Ray's TBX tests are tensorboard_spec's (the values);
-- the HParams summaries they also check are not written here
-- (docs/guide/output.md, "TensorBoard").
local tune = require("tune")
local core = require("tune.core")
local support = require("spec.support")
require("spec.fixtures.run_trainables")

describe("Ray's LoggerSuite", function()
  local dir
  before_each(function() dir = support.tmpdir("ray-logger") end)
  after_each(support.check_clean)

  local CONFIG = {a = 2, b = 5, c = {c = {D = 123}, e = tune.null}}

  local function logged(callbacks)
    local a = tune.run("logger_results", {config = CONFIG, local_dir = dir, verbose = 0, callbacks = callbacks})
    return a.trials[1].logdir
  end

  --- progress.csv as rows of {column = value}.
  local function csv_rows(path)
    local lines = support.lines(path)
    local header, rows = {}, {}
    for col in lines[1]:gmatch("[^,]+") do header[#header + 1] = col end
    for i = 2, #lines do
      local row, j = {}, 0
      for v in (lines[i] .. ","):gmatch("([^,]*),") do j = j + 1; row[header[j]] = v end
      rows[#rows + 1] = row
    end
    return rows, header
  end

  it("testCSV: three rows, their episode_reward_mean 4, 5, 6", function()
    local rows = csv_rows(logged({tune.CSVLoggerCallback()}) .. "/progress.csv")
    assert.equal(3, #rows)
    assert.same({"4", "5", "6"}, {rows[1].episode_reward_mean, rows[2].episode_reward_mean, rows[3].episode_reward_mean})
  end)

  it("testJSON: three results, and the config in params.json", function()
    local logdir = logged({tune.JsonLoggerCallback()})
    local rows = support.lines(logdir .. "/result.json")
    assert.equal(3, #rows)
    for i, line in ipairs(rows) do assert.equal(3 + i, core.json_decode(line).episode_reward_mean) end
    local last = core.json_decode(rows[3])
    assert.same({1, 2, 3}, last.score)
    assert.same({world = 1}, last.hello)
    local params = core.json_decode(core.read_file(logdir .. "/params.json"))
    assert.same({a = 2, b = 5, c = {c = {D = 123}, e = core.null}}, params)
  end)

  it("result.json and params.json write each object's keys by name, the same text in every run", function()
    -- A Lua table's traversal order depends on a per-process seed: the
    -- same result was written with its keys in a different order by each
    -- run. The trainable runs in a worker process, params.json is written
    -- by the driver, and core.json_encode is the driver's own encoder.
    local a = tune.run("unordered_keys", {config = {b = 1, a = {d = 1, c = 2}}, local_dir = dir, verbose = 0})
    local line = support.lines(a.trials[1].logdir .. "/result.json")[1]
    assert.equal(1, line:find('{"alpha":2,"mid":{"10":"t","2":"w","x":2,"y":1},"zeta":1,', 1, true))
    local params = core.read_file(a.trials[1].logdir .. "/params.json")
    assert.equal('{"a":{"c":2,"d":1},"b":1}', (params:gsub("%s", "")))
    local t1, t2 = {}, {}
    for i = 1, 40 do t1["k" .. i] = i end
    for i = 40, 1, -1 do t2["k" .. i] = i end
    assert.equal(core.json_encode(t1), core.json_encode(t2))
    assert.equal('{"a":1,"b":{"c":3,"d":2}}', core.json_encode({b = {d = 2, c = 3}, a = 1}))
    -- Bytewise (UTF-8 after ASCII), a few keys as many; a number key after
    -- a string key of the same text, in every run.
    local t3, t4 = {}, {}
    for i = 1, 20 do t3["k" .. i] = i end
    for i = 20, 1, -1 do t4["k" .. i] = i end
    assert.equal(core.json_encode(t3), core.json_encode(t4))
    assert.equal(1, core.json_encode(t3):find('{"k1":1,"k10":10,', 1, true))
    assert.equal('{"1":"s","1":"n","z":2,"é":3,"ü":{"1.5":1,"10":2,"9":3}}',
      core.json_encode({["é"] = 3, [1] = "n", z = 2, ["1"] = "s", ["ü"] = {[9] = 3, [1.5] = 1, [10] = 2}}))
    -- An object too large for the fast way (over 50,000 members) is written by the same rules.
    local h1, h2 = {}, {}
    for i = 1, 60000 do h1["k" .. i] = {i} end
    for i = 60000, 1, -1 do h2["k" .. i] = {i} end
    h1[5], h1["5"], h2["5"], h2[5] = "n", "s", "s", "n"
    local text = core.json_encode(h1)
    assert.equal(text, core.json_encode(h2))
    assert.equal(1, text:find('{"5":"s","5":"n","k1":[1],"k10":[10],"k100":[100],"k1000":[1000],"k10000":[10000],', 1, true))
    h1[true] = 1
    assert.same({nil, "cannot encode a table key of type boolean at 'big'"}, {core.json_encode({big = h1})})
  end)

  it("testCSVEmptyHeader: a trial started twice before its first result still has the CSV header", function()
    local a = tune.run("flaky", {config = {steps = 2, fail_at = 1, fail_times = 1, marker = dir .. "/marker"},
      max_failures = 1, local_dir = dir, verbose = 0})
    assert.equal("TERMINATED", a.trials[1].status)
    local rows, header = csv_rows(a.trials[1].logdir .. "/progress.csv")
    assert.is_truthy(table.concat(header, ","):find("training_iteration", 1, true))
    assert.equal(2, #rows)
  end)
end)
