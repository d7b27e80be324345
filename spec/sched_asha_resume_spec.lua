-- ASHA and the median stopping rule resumed after a crash (the driver
-- killed at its n-th journal write, TUNE_TEST_CRASH_AT_WRITE) with the
-- results since the only snapshot (at the start) in the trials' logs
-- alone: the resume gives them to the scheduler again (missed.lua), so the
-- trials are stopped where the uninterrupted run stopped them. Before, the
-- rungs and the median lacked every result of a trial that had ended
-- since the snapshot (ASHA killed at its 45th write stopped 4 trials
-- where the run stops 12; the median rule ended other trials at 20 to 45).
-- Simulated trials (spec/fixtures/experiments/asha_resume.lua): fast.
local support = require("spec.support")

local EXP = "spec/fixtures/experiments/asha_resume.lua"

local function line(out, tag) return out:match("\n" .. tag .. " [^\n]*") or out:match("^" .. tag .. " [^\n]*") end

describe("ASHA and the median stopping rule resumed after a crash", function()
  after_each(support.check_clean)

  for _, kind in ipairs({"asha", "median"}) do
    it(kind .. " decides as the uninterrupted run", function()
      local code, ref = support.tunelua(EXP .. " " .. support.tmpdir(kind .. "-ref") .. " " .. kind, nil, 30)
      assert.equal(0, code, ref)
      for _, n in ipairs({20, 30, 45}) do
        local out = support.crash_and_resume(EXP .. " " .. support.tmpdir(kind .. "-" .. n) .. " " .. kind, n)
        assert.equal(line(ref, "LAST"), line(out, "LAST"), kind .. " crashed at write " .. n)
        -- ASHA's cutoffs (num_stopped may miss a STOP made again when the
        -- rows another trial had logged before it died in memory).
        local function cutoffs(o) return (line(o, "DEBUG"):gsub("num_stopped=%d+", "")) end
        assert.equal(cutoffs(ref), cutoffs(out), kind .. " crashed at write " .. n)
      end
    end)
  end
end)
