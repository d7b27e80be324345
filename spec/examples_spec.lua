-- Every example in examples/ is run with tunelua and must exit 0 and print
-- what it promises.
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"

-- What each example must print (a Lua pattern); an example not listed
-- here fails this spec, so a new example cannot go untested.
local expected = {
  ["executor.lua"] = "speed 3 reached 18 after 6 iterations",
  ["grid_random.lua"] = "10 trials; best: optimizer=adam lr=",
  ["stopping.lua"] = "rate 0%.02 stopped after 30 iterations.*rate 0%.30 stopped after %d iterations at accuracy 0%.9",
  ["checkpoint_resume.lua"] = "best lr=0%.3 weight=3%.0, best checkpoint checkpoint_000010",
  ["placement_groups.lua"] = "lr=0%.10: 2 workers, mean gradient 0%.2500",
  ["command.lua"] = "best: x=1 y=%-2 loss=0 after 3 epochs",
  -- How many stop early depends on which of two concurrent trials reports first.
  ["custom_scheduler.lua"] = "RoundRobinScheduler: best x=8 after 12 iterations, [3-7] of 8 trials stopped early",
  ["pbt.lua"] = "PBT: 4 trials, %d+ perturbations, best mean_accuracy=0%.%d+ with lr=%d%.%d+",
  ["custom_searcher.lua"] = "LocalWalk: best loss %d%.%d+ at x=%-?%d%.%d+ y=%-?%d%.%d+ after 30 trials",
  ["quickstart.lua"] = "Number of trials: 16/16 %(16 TERMINATED%).*Best config: lr=%d%.%d+ momentum=%d%.%d+ width=%d+",
}

describe("examples", function()
  local names = {}
  for _, name in ipairs(core.listdir("examples")) do
    if name:match("%.lua$") then names[#names + 1] = name end
  end

  it("are all listed with what they print", function()
    for _, name in ipairs(names) do
      assert.is_not_nil(expected[name], "examples/" .. name .. " has no expectation in spec/examples_spec.lua")
    end
  end)

  for _, name in ipairs(names) do
    it(name, function()
      local dir = support.tmpdir("example")
      local cmd = string.format("TUNE_RESULT_DIR=%s %s examples/%s 2>&1", dir, tunelua, name)
      local p = io.popen(cmd)
      local out = p:read("a")
      local ok, _, code = p:close()
      assert.is_true(ok, string.format("examples/%s exited with %s:\n%s", name, tostring(code), out))
      assert.matches(expected[name] or "", out)
    end)
  end
end)
