-- TensorBoard files (tune.TBXLoggerCallback), decoded independently by
-- spec/tensorboard_decode.py (python3-protobuf, its own CRC32C checked
-- against published test vectors): the same values as result.json.
local core = require("tune.core")
local support = require("spec.support")
local tb = require("tune.tensorboard")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"

local function sh(cmd) return support.must("env -u LD_PRELOAD " .. cmd) end

local function f32(v) return (string.unpack("<f", string.pack("<f", v))) end

describe("TBXLoggerCallback", function()
  it("computes CRC32C's published check values", function()
    assert.equal(0xE3069283, tb.crc32c("123456789"))
    assert.equal(0x8A9136AA, tb.crc32c(string.rep("\0", 32)))
    assert.equal(0x62A8AB43, tb.crc32c(string.rep("\255", 32)))
  end)

  it("writes event files that decode to result.json's values", function()
    local dir = support.tmpdir("tb")
    local exp = dir .. "/exp.lua"
    local f = assert(io.open(exp, "w"))
    f:write([[
local tune = require("tune")
tune.run(function(config)
  for i = 1, 7 do
    tune.report{loss = config.x / i, nested = {acc = i / 7}, flag = i % 2 == 0, label = "s" .. i, aux = 0 / 0,
      timesteps_this_iter = config.x == 3 and 10 or nil}
  end
end, {name = "tb", metric = "loss", mode = "min", verbose = 0,
  config = {x = tune.grid_search({0.5, 3})}, callbacks = {tune.TBXLoggerCallback()}})
]])
    f:close()
    sh(string.format("TUNE_RESULT_DIR=%s %s %s", dir, tunelua, exp))
    local trials = 0
    for _, d in ipairs(core.listdir(dir .. "/tb")) do
      local tdir = dir .. "/tb/" .. d
      if support.exists(tdir .. "/result.json") then
        trials = trials + 1
        local events
        for _, name in ipairs(core.listdir(tdir)) do
          if name:match("^events%.out%.tfevents%.%d+%.") then events = tdir .. "/" .. name end
        end
        assert.is_truthy(events, "no events file in " .. d)
        -- Default loggers stay on beside it.
        assert.is_true(support.exists(tdir .. "/progress.csv"))
        local decoded = core.json_decode(sh("/usr/bin/python3 spec/tensorboard_decode.py " .. events))
        assert.equal("brain.Event:2", decoded.file_version)
        local rows = support.lines(tdir .. "/result.json")
        assert.equal(#rows, #decoded.events)
        for i, line in ipairs(rows) do
          local r = core.json_decode(line)
          local e = decoded.events[i]
          -- Ray's step: timesteps_total when there is one, else the iteration.
          assert.equal(r.timesteps_total or r.training_iteration, e.step)
          if r.timesteps_total then assert.equal(10 * r.training_iteration, e.step) end
          assert.is_nil(e.values["ray/tune/aux"])                 -- NaN, left out (Ray)
          assert.equal(f32(r.loss), e.values["ray/tune/loss"])
          assert.equal(f32(r.nested.acc), e.values["ray/tune/nested/acc"])
          assert.equal(r.flag and 1 or 0, e.values["ray/tune/flag"])
          assert.equal(f32(r.time_this_iter_s), e.values["ray/tune/time_this_iter_s"])
          assert.is_nil(e.values["ray/tune/label"])              -- not a number
          assert.is_nil(e.values["ray/tune/training_iteration"])  -- the step
          assert.is_nil(e.values["ray/tune/config/x"])
        end
      end
    end
    assert.equal(2, trials)
  end)
end)
