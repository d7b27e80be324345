-- Resume when a running trial's newest checkpoint is missing or unreadable
-- (deleted by hand, a file cut short): the trial runs again from its newest
-- good checkpoint, or from the start, its logs cut back to that one, with a
-- warning naming the bad checkpoint; no iteration is logged twice
-- (docs/reliability.md, "Resume checks first and writes after").
local core = require("tune.core")
local checkpoints = require("tune.experiment.checkpoints")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local EXP = "spec/fixtures/experiments/bad_checkpoint_exp.lua"
local ALL = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

--- Runs the fixture (`kind`: "function" or "class") until the journal
--- knows its checkpoint of iteration 7, then kills the driver (-9): the
--- trial was RUNNING. Returns the experiment's directory and the trial's.
local function crashed(kind)
  local dir = support.tmpdir("resume-ckpt-" .. kind)
  local p = assert(io.popen(string.format("sh -c 'echo $$; exec %s %s %s %s 2>&1'", tunelua, EXP, dir, kind)))
  local pid = tonumber(p:read("l"))
  local journal = dir .. "/bad/experiment_journal.jsonl"
  local deadline = core.now() + 60
  while not (core.read_file(journal) or ""):find("checkpoint_000007", 1, true) and core.now() < deadline do
    core.sleep(0.02)
  end
  core.kill(pid, "KILL")
  local out = p:read("a")
  p:close()
  assert((core.read_file(journal) or ""):find("checkpoint_000007", 1, true), "no checkpoint 7 journaled: " .. out)
  local logdir
  for _, name in ipairs(core.listdir(dir .. "/bad")) do
    if core.stat(dir .. "/bad/" .. name) == "directory" then logdir = dir .. "/bad/" .. name end
  end
  return dir, assert(logdir)
end

--- Resumes the experiment; its output (it must finish).
local function resume(dir, kind)
  local p = assert(io.popen(string.format("env RESUMING=1 %s --resume %s %s %s 2>&1", tunelua, EXP, dir, kind)))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, out)
  assert.matches("DONE", out)
  return out
end

--- The trial logged each iteration once, in order, in both logs.
local function logged_once(logdir)
  local its = {}
  for _, line in ipairs(support.lines(logdir .. "/result.json")) do
    its[#its + 1] = assert(core.json_decode(line)).training_iteration
  end
  assert.same(ALL, its, "result.json")
  assert.same(ALL, support.csv_column(logdir .. "/progress.csv", "training_iteration"), "progress.csv")
  assert.same(ALL, support.csv_column(logdir .. "/progress.csv", "step"), "progress.csv's steps")
end

describe("resume with a bad checkpoint", function()
  it("a deleted newest checkpoint: the trial goes on from the one before it", function()
    for _, kind in ipairs({"function", "class"}) do
      local dir, logdir = crashed(kind)
      core.remove_tree(logdir .. "/checkpoint_000007")
      local out = resume(dir, kind)
      logged_once(logdir)
      assert.matches("tunelua warning: trial [%w_]+: checkpoint " .. logdir:gsub("%p", "%%%0")
        .. "/checkpoint_000007 cannot be restored %(its directory is missing%): it runs again from "
        .. "checkpoint_000006 %(iteration 6%), its logs cut back to it\n", out)
      -- Restored from iteration 6 (the function's first start restored nothing).
      assert.same(kind == "function" and {"0", "6"} or {"6"}, support.lines(dir .. "/starts.log"), kind)
      -- The checkpoint is there again, made anew.
      assert.equal("directory", core.stat(logdir .. "/checkpoint_000007"))
    end
  end)

  it("a newest checkpoint replaced by a file: the one before it, and the checkpoint saved again", function()
    local dir, logdir = crashed("function")
    core.remove_tree(logdir .. "/checkpoint_000007")
    assert(core.write_file(logdir .. "/checkpoint_000007", "x\n"))
    local out = resume(dir, "function")
    logged_once(logdir)
    assert.matches("checkpoint_000007 cannot be restored %(it is not a directory%)", out)
    assert.equal("directory", core.stat(logdir .. "/checkpoint_000007"))
  end)

  it("a newest checkpoint whose metadata or table is cut short: the one before it", function()
    for _, file in ipairs({".tune_metadata.json", "tune_checkpoint.json"}) do
      local dir, logdir = crashed("function")
      assert(core.write_file(logdir .. "/checkpoint_000007/" .. file, '{"training_iteration":\n'))
      local out = resume(dir, "function")
      logged_once(logdir)
      assert.matches("checkpoint [^ ]*/checkpoint_000007 cannot be restored %(" .. file:gsub("%p", "%%%0")
        .. ": unexpected end of input at byte %d+%): it runs again from checkpoint_000006", out)
      assert.is_nil(out:find("checkpoint.lua", 1, true))
      assert.same({"0", "6"}, support.lines(dir .. "/starts.log"), file)
    end
  end)

  it("no good checkpoint: the trial starts over, its logs cut to nothing", function()
    local dir, logdir = crashed("function")
    for i = 1, 7 do
      local c = string.format("%s/checkpoint_%06d", logdir, i)
      if i % 2 == 0 then core.remove_tree(c) else assert(core.write_file(c .. "/.tune_metadata.json", "[")) end
    end
    local out = resume(dir, "function")
    logged_once(logdir)
    assert.matches("checkpoint [^ ]*/checkpoint_000007 cannot be restored %(%.tune_metadata%.json: [^)]*%); nor can "
      .. "checkpoint_000006 %(its directory is missing%), checkpoint_000005 .*checkpoint_000001 %([^)]*%): it runs "
      .. "again from the start, its logs cut to nothing\n", out)
    assert.same({"0", "0"}, support.lines(dir .. "/starts.log"))
  end)

  it("says what is wrong with a checkpoint directory, reading little", function()
    local dir = support.tmpdir("resume-ckpt-problem")
    local c = dir .. "/checkpoint_000001"
    assert.equal("its directory is missing", checkpoints.problem(c))
    assert(core.write_file(c, ""))
    assert.equal("it is not a directory", checkpoints.problem(c))
    os.remove(c)
    assert(core.mkdir_p(c))
    assert.equal(".tune_metadata.json: No such file or directory", checkpoints.problem(c))
    assert(core.write_file(c .. "/.tune_metadata.json", "3"))
    assert.equal(".tune_metadata.json: not a JSON object", checkpoints.problem(c))
    assert(core.write_file(c .. "/.tune_metadata.json", '{"training_iteration": 1}'))
    assert.is_nil(checkpoints.problem(c))
    assert(core.write_file(c .. "/.tune_worker.json", "{"))
    assert.equal(".tune_worker.json: expected object key at byte 1", checkpoints.problem(c))
    assert(core.write_file(c .. "/.tune_worker.json", '{"relative_checkpoint_path": "m.bin"}'))
    assert(core.write_file(c .. "/tune_checkpoint.json", "{}"))
    assert.is_nil(checkpoints.problem(c))
  end)
end)

describe("resume with a checkpoint the journal lost", function()
  -- keep_checkpoints_num = 2 ranked by min-score: each trial keeps its
  -- first two checkpoints (the lowest scores) and its newest. A checkpoint that
  -- reached the disk but not the journal (the driver killed with its entry
  -- in memory) was taken in without its result: it ranked as lacking the
  -- score and was the first deleted, though it was the best.
  local SOURCE = [[
local tune = require("tune")
local M = tune.Trainable:extend("M")
function M:setup() self.v = 0 end
function M:step() self.v = self.v + self.config.lr; return {score = self.v} end
function M:save_checkpoint() return {v = self.v} end
function M:load_checkpoint(c) self.v = c.v end
tune.run(M, {name = "keep", local_dir = arg[1], config = {lr = tune.grid_search({0.1, 0.3, 0.5})},
  stop = {training_iteration = 6}, checkpoint_freq = 1, keep_checkpoints_num = 2,
  checkpoint_score_attr = "min-score", global_checkpoint_s = 0, verbose = 0})
]]

  it("ranks it by its result row: the best checkpoint is kept", function()
    local dir = support.tmpdir("resume-keep")
    local file = dir .. "/exp.lua"
    assert(core.write_atomic(file, SOURCE))
    local lost = 0
    for n = 8, 16 do
      local out_dir = dir .. "/" .. n
      local code, out = support.tunelua(file .. " " .. out_dir, "TUNE_TEST_CRASH_AT_WRITE=" .. n, 60)
      assert.equal(137, code, out)
      local journal = core.read_file(out_dir .. "/keep/experiment_journal.jsonl") or ""
      for _, name in ipairs(core.listdir(out_dir .. "/keep")) do
        for _, c in ipairs(core.listdir(out_dir .. "/keep/" .. name) or {}) do
          if c:match("^checkpoint_") and not journal:find(name .. "/" .. c, 1, true) then lost = lost + 1 end
        end
      end
      code, out = support.tunelua("--resume " .. file .. " " .. out_dir, nil, 60)
      assert.equal(0, code, out)
      for _, name in ipairs(core.listdir(out_dir .. "/keep")) do
        local kept = {}
        for _, c in ipairs(core.listdir(out_dir .. "/keep/" .. name) or {}) do
          if c:match("^checkpoint_") then kept[#kept + 1] = c end
        end
        if name:match("^M_") then
          table.sort(kept)
          assert.same({"checkpoint_000001", "checkpoint_000002", "checkpoint_000006"}, kept, "crash at write " .. n .. ": " .. name)
        end
      end
    end
    assert(lost > 0, "no crash left a checkpoint the journal did not know")
  end)
end)
