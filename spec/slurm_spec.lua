-- The Slurm backend on a real Slurm cluster (issue 9): .ci/run starts three
-- nodes of 4 CPUs and 2 fake GPUs with licenses custom:4
-- (spec/slurm/start-local-slurm.sh) and exports SLURM_CONF. Without a
-- cluster every case is pending; with TUNE_TEST_SLURM_REQUIRED=1 (CI) that
-- is a failure instead.
local core = require("tune.core")
local support = require("spec.support")

local BIN = os.getenv("TUNELUA_BIN") or "build/tunelua"
local FIXTURE = "spec/fixtures/slurm/exp.lua"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

local have_slurm = os.getenv("SLURM_CONF") ~= nil and sh("sinfo -h -o %D") == 0
if not have_slurm and os.getenv("TUNE_TEST_SLURM_REQUIRED") == "1" then
  error("TUNE_TEST_SLURM_REQUIRED=1 but no Slurm cluster answers (SLURM_CONF=" .. tostring(os.getenv("SLURM_CONF")) .. ")")
end

local function summary(out)
  local last
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 10) == '{"trials":' then last = line end
  end
  assert(last, "no summary in the output:\n" .. out)
  return core.json_decode(last)
end

-- Runs a fixture experiment inside an allocation (salloc ...), or outside.
local function run(mode, dir, salloc, env)
  local cmd = string.format("%s %s %s --backend slurm %s %s %s", env or "", salloc or "", BIN, FIXTURE, mode, dir)
  local code, out = sh(cmd)
  return code, out, out:find('{"trials":', 1, true) and summary(out) or nil
end

local ALLOC3 = "salloc --quiet -N3 -n3 -c4 --no-kill"

local function queue_empty()
  -- A cancelled job stays COMPLETING a moment: wait for it to leave.
  for _ = 1, 100 do
    local _, out = sh("squeue -h -o '%i %T %j'")
    if out == "" then return true end
    core.sleep(0.1)
  end
  local _, out = sh("squeue -h -o '%i %T %j'")
  return false, out
end

local function nodes_of(s)
  local seen, list = {}, {}
  for _, t in ipairs(s.trials) do
    for _, r in ipairs(t.results) do
      if not seen[r.node] then seen[r.node] = true list[#list + 1] = r.node end
    end
  end
  table.sort(list)
  return list
end

-- One field of each of a trial's results, in order.
local function values(t, key)
  local v = {}
  for _, r in ipairs(t.results) do v[#v + 1] = r[key] end
  return v
end

local maybe = have_slurm and describe or function(name, fn)
  describe(name, function()
    it("needs a Slurm cluster", function() pending("no Slurm cluster: SLURM_CONF unset (CI starts one)") end)
  end)
end

maybe("the Slurm backend", function()
  local dir
  before_each(function() dir = support.tmpdir("slurm") end)
  after_each(function()
    local empty, left = queue_empty()
    assert.is_true(empty, "jobs left in squeue:\n" .. tostring(left))
  end)

  it("places STRICT_SPREAD bundles on n1, n2 and n3, inside an allocation", function()
    local code, out, s = run("spread", dir, ALLOC3)
    assert.equal(0, code, out)
    assert.equal("TERMINATED", s.trials[1].status)
    local bundle_nodes = {}
    for n in s.trials[1].results[1].bundle_nodes:gmatch("[^,]+") do bundle_nodes[#bundle_nodes + 1] = n end
    table.sort(bundle_nodes)
    assert.same({"n1", "n2", "n3"}, bundle_nodes)
  end)

  it("keeps STRICT_PACK bundles on one node, outside an allocation (a job of its own)", function()
    local code, out, s = run("pack", dir)
    assert.equal(0, code, out)
    local r = s.trials[1].results[1]
    assert.matches("^(n%d),%1,%1$", r.bundle_nodes)
    assert.equal(r.node, r.bundle_nodes:match("^[^,]+"))
  end)

  it("queues more trials than CPUs, and all finish", function()
    local code, out, s = run("queue", dir, "salloc --quiet -N2 -n2 -c4 --no-kill")
    assert.equal(0, code, out)
    assert.equal(10, #s.trials)
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal(2, #t.results)
    end
    assert.same({"n1", "n2"}, nodes_of(s))
  end)

  it("gives two GPU trials on one node different CUDA_VISIBLE_DEVICES", function()
    local code, out, s = run("gpu", dir, "salloc --quiet -N1 -n1 -c4 --gres=gpu:2 --no-kill")
    assert.equal(0, code, out)
    local a, b = s.trials[1].results[1], s.trials[2].results[1]
    assert.equal(a.node, b.node)
    assert.are_not.equal(a.cuda, b.cuda)
    assert.is_true(a.cuda == "0" or a.cuda == "1")
    assert.is_true(b.cuda == "0" or b.cuda == "1")
  end)

  it("resumes a paused trial from its checkpoint on another node", function()
    local code, out, s = run("pause", dir, "salloc --quiet -N2 -n2 -c4 --no-kill")
    assert.equal(0, code, out)
    for _, t in ipairs(s.trials) do assert.equal("TERMINATED", t.status) end
    local paused = s.trials[1]
    local its = {}
    for i, r in ipairs(paused.results) do its[i] = r.iteration end
    assert.same({1, 2, 3, 4}, its)
    -- After the pause it restored step 2 and went on from there, elsewhere.
    assert.equal(2, paused.results[3].restored)
    assert.are_not.equal(paused.results[2].node, paused.results[3].node, out)
  end)

  it("retries the trials of a node that goes down on other nodes, and the experiment finishes", function()
    local code, out, s = run("nodefail", dir, ALLOC3)
    sh("scontrol update nodename=n2 state=resume")
    assert.equal(0, code, out)
    local failed = 0
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      local its = {}
      for _, r in ipairs(t.results) do its[#its + 1] = r.iteration end
      assert.same({1, 2, 3, 4}, its)
      if t.num_failures > 0 then
        failed = failed + 1
        assert.are_not.equal("n2", t.results[#t.results].node)
        assert.matches("was lost with node n2", core.read_file(t.logdir .. "/error.txt"), 1, true)
      end
    end
    assert.equal(1, failed, out)
  end)

  it("resumes after the driver was killed with -9: no iteration lost or repeated", function()
    -- The driver in the background; killed once results are on disk.
    local pidfile = dir .. "/driver.pid"
    os.execute(string.format("(%s sh -c 'echo $$ > %s; exec %s --backend slurm %s resume %s' >%s/first.log 2>&1 &)",
      ALLOC3, pidfile, BIN, FIXTURE, dir, dir))
    local pid
    for _ = 1, 200 do
      local text = core.read_file(pidfile)
      pid = text and tonumber(text:match("%d+"))
      local _, out = sh("cat " .. dir .. "/resume/*/result.json 2>/dev/null | wc -l")
      if pid and tonumber(out) and tonumber(out) >= 4 then break end
      core.sleep(0.1)
    end
    assert.is_truthy(pid)
    os.execute("kill -9 " .. pid)
    assert.is_true(queue_empty())
    local code, out, s = run("resume", dir, ALLOC3, "SPEC_RESUME=1")
    assert.equal(0, code, out)
    assert.equal(6, #s.trials)
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      assert.same({1, 2, 3, 4, 5, 6}, values(t, "iteration"))
    end
  end)

  it("carries the protocol over a TCP channel, and srun's stdout is the trainable's (or both on stdio)", function()
    for _, channel in ipairs({"tcp", "stdio"}) do
      local sub = dir .. "/" .. channel
      local code, out, s = run("output", sub, ALLOC3, "SPEC_CHANNEL=" .. channel)
      assert.equal(0, code, out)
      assert.equal(2, #s.trials)
      for _, t in ipairs(s.trials) do
        assert.equal("TERMINATED", t.status)
        assert.same({1, 2, 3}, values(t, "i"))
        -- On stdio srun's one output stream carries the protocol, and the
        -- trainable's stdout goes to its stderr.
        local printed = core.read_file(t.logdir .. (channel == "tcp" and "/stdout" or "/stderr")) or ""
        local _, lines = printed:gsub('"printed_by":"n%d"', "")
        assert.equal(3, lines, channel .. ": " .. printed)
      end
    end
  end)

  it("fails a request no node can meet at once, naming the resource", function()
    for _, mode in ipairs({"unknown_license", "unknown_gpus"}) do
      local code, out, s = run(mode, dir, ALLOC3)
      assert.equal(0, code, out)
      assert.equal("ERROR", s.trials[1].status)
      assert.matches("can never run", s.trials[1].error)
      assert.matches(mode == "unknown_license" and "nosuchlicense" or "7 GPUs", s.trials[1].error, 1, true)
    end
  end)

  it("runs examples/slurm/run.sbatch; on USR1 the running trials checkpoint and the next job goes on", function()
    local env = string.format("TUNELUA=%s TUNE_LOCAL_DIR=%s EXAMPLE_STEPS=20 EXAMPLE_STEP_S=0.3", BIN, dir)
    local opts = string.format("--chdir=%s --output=%s/job-%%j.out", core.getcwd(), dir)
    local code, out = sh(string.format("env %s sbatch --parsable %s examples/slurm/run.sbatch", env, opts))
    assert.equal(0, code, out)
    local job = out:match("%d+")
    -- Once every trial has reported, the job is told its time is up.
    for _ = 1, 300 do
      local _, n = sh("cat " .. dir .. "/slurm_example/*/result.json 2>/dev/null | wc -l")
      if (tonumber(n) or 0) >= 12 then break end
      core.sleep(0.1)
    end
    assert.equal(0, (sh("scancel --batch --signal=USR1 " .. job)))
    assert.is_true(queue_empty())
    local log = core.read_file(dir .. "/job-" .. job .. ".out") or ""
    assert.matches("SIGUSR1 received", log, 1, true)
    local journal = core.read_file(dir .. "/slurm_example/experiment_journal.jsonl")
    local _, checkpoints = journal:gsub('"event":"checkpoint"', "")
    assert.is_true(checkpoints >= 6, "checkpoints journaled: " .. checkpoints)
    -- The next job resumes (--resume=AUTO) and finishes every trial.
    code, out = sh(string.format("env %s sbatch --wait %s examples/slurm/run.sbatch", env, opts))
    assert.equal(0, code, out)
    local trials = 0
    for _, name in ipairs(core.listdir(dir .. "/slurm_example")) do
      local text = core.read_file(dir .. "/slurm_example/" .. name .. "/result.json")
      if text then
        trials = trials + 1
        local its = {}
        for line in text:gmatch("[^\n]+") do its[#its + 1] = core.json_decode(line).training_iteration end
        local want = {}
        for i = 1, 20 do want[i] = i end
        assert.same(want, its)
      end
    end
    assert.equal(6, trials)
  end)

  it("refuses a local_dir that a node does not see", function()
    local code, out = run("spread", dir, ALLOC3, "TUNE_TEST_SLURM_HIDE_PROBE_FROM=n2")
    assert.are_not.equal(0, code)
    assert.matches("is not on a filesystem every node sees: n2", out, 1, true)
    assert.is_nil(core.stat(dir .. "/spread"))
  end)
end)
