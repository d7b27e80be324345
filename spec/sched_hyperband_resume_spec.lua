-- HyperBand and HyperBandForBOHB resumed after a crash (the driver killed
-- at its n-th journal write, TUNE_TEST_CRASH_AT_WRITE) while trials wait
-- at a milestone, with the results since the last snapshot only in the
-- trials' logs: the scheduler learns them again (on_trial_restored).
-- Simulated trials (spec/fixtures/experiments/hb_resume.lua): fast.
local support = require("spec.support")

local EXP = "spec/fixtures/experiments/hb_resume.lua"

local function run(args, env) return support.tunelua(args, env, 30) end

local function paused_entries(exp_dir)
  local n = 0
  for line in (io.open(exp_dir .. "/experiment_journal.jsonl"):read("a")):gmatch("[^\n]+") do
    if line:find('"status":"PAUSED"', 1, true) then n = n + 1 end
  end
  return n
end

local function crash_and_resume(kind, n)
  local dir = support.tmpdir("hb-resume-" .. kind .. "-" .. n)
  local code, out = run(EXP .. " " .. dir .. " " .. kind, "TUNE_TEST_CRASH_AT_WRITE=" .. n)
  assert.equal(137, code, out)
  local paused = paused_entries(dir .. "/" .. kind)
  code, out = run("--resume " .. EXP .. " " .. dir .. " " .. kind)
  assert.equal(0, code, string.format("crash at write %d (%d PAUSED entries): %s", n, paused, out))
  return out, paused
end

describe("HyperBand resumed with trials at a milestone", function()
  after_each(support.check_clean)

  it("keeps the trials an uninterrupted run keeps, whatever the crash point", function()
    local code, ref = run(EXP .. " " .. support.tmpdir("hb-resume-ref") .. " hb")
    assert.equal(0, code, ref)
    local want = ref:match("\nLAST [^\n]*") or ref:match("^LAST [^\n]*")
    -- The bracket of 5 (milestone 2) keeps x = 0.36 and 0.22 to 6.
    assert.matches("0.220000=6 0.360000=6 0.450000=2 0.550000=6 0.600000=2 0.750000=2", want)
    local seen = {}
    for _, n in ipairs({26, 30, 34, 38, 42, 44}) do
      local out, paused = crash_and_resume("hb", n)
      seen[paused] = true
      assert.matches("SUMMARY trials=8 terminated=8", out, 1, true)
      local got = out:match("\nLAST [^\n]*") or out:match("^LAST [^\n]*")
      assert.equal(want, got, string.format("crash at write %d, %d PAUSED entries", n, paused))
    end
    for _, p in ipairs({1, 3, 5, 6}) do assert.is_true(seen[p], p .. " PAUSED entries never seen") end
  end)

  it("HyperBandForBOHB with TuneBOHB finishes (no bracket waits for ever on results it lost)", function()
    for _, n in ipairs({44, 48, 51, 56}) do
      local out, paused = crash_and_resume("bohb", n)
      assert.is_true(paused >= 4, n .. ": " .. paused)
      assert.matches("SUMMARY trials=8 terminated=8", out, 1, true)
    end
  end)
end)
