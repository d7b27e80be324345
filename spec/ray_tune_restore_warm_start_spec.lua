-- Ray's test_tune_restore_warm_start.py, ported for the searchers tunelua
-- has (TPESearch for Optuna's, TuneBOHB with HyperBandForBOHB), each behind
-- ConcurrencyLimiter(searcher, 1) as there: five trials, the searcher saved
-- (save(path)) or its experiment's state read back (restore_from_dir), five
-- more from a new searcher restored from it, make the ten configs one
-- uninterrupted run of ten makes.
local support = require("spec.support")

local SCRIPT = [[
local tune = require("tune")
local which, dir = arg[1], arg[2]
local space = {width = tune.uniform(0, 20), height = tune.uniform(-100, 100)}
local function cost(c)
  for i = 0, which == "bohb" and 9 or 0 do tune.report({loss = (c.height - 14) ^ 2 - math.abs(c.width - 3 - i)}) end
end
local function basic_conf()
  local opts = {space = space, metric = "loss", mode = "min"}
  opts.seed = which == "bohb" and 1 or 10
  local s = which == "bohb" and tune.search.TuneBOHB(opts) or tune.search.TPESearch(opts)
  return tune.search.ConcurrencyLimiter(s, 1)
end
local function run(search_alg, n, name)
  local scheduler = which == "bohb" and tune.schedulers.HyperBandForBOHB{max_t = 10, metric = "loss", mode = "min"}
  local a = tune.run(cost, {num_samples = n, search_alg = search_alg, scheduler = scheduler or nil, verbose = 0,
    name = name, local_dir = dir, reuse_actors = true})
  local out = {}
  for _, t in ipairs(a.trials) do out[#out + 1] = string.format("%.9g,%.9g", t.config.width, t.config.height) end
  return table.concat(out, " ")
end
local first_alg = basic_conf()
local first = run(first_alg, 5, "results")
first_alg:save(dir .. "/warmStartTest.json")
local explicit = basic_conf()
explicit:restore(dir .. "/warmStartTest.json")
local from_dir = basic_conf()
from_dir:restore_from_dir(dir .. "/results")
print("full " .. run(basic_conf(), 10, "full"))
print("warm " .. first .. " " .. run(explicit, 5, "explicit"))
print("restore " .. first .. " " .. run(from_dir, 5, "from_dir"))
]]

describe("Ray's test_tune_restore_warm_start", function()
  local dir
  before_each(function() dir = support.tmpdir("raywarm") end)
  after_each(support.check_clean)

  for _, case in ipairs({{"OptunaWarmStartTest (TPESearch)", "tpe"}, {"BOHBWarmStartTest", "bohb"}}) do
    it(case[1] .. ": testWarmStart and testRestore", function()
      local out = support.run_script(dir, SCRIPT, case[2] .. " " .. dir)
      local full = out:match("full ([^\n]+)")
      local _, n = full:gsub(",", "")
      assert.equal(10, n)
      assert.equal(full, out:match("warm ([^\n]+)"))
      assert.equal(full, out:match("restore ([^\n]+)"))
    end)
  end
end)
