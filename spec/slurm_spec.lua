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

-- Polls `fn` every 0.1 s until it returns a true value (returned), for at
-- most `secs` seconds.
local function wait_for(fn, secs)
  for _ = 1, (secs or 30) * 10 do
    local v = fn()
    if v then return v end
    core.sleep(0.1)
  end
  return fn()
end

-- A node taken down by a spec is back (ReturnToService may have done it
-- already): waits until sinfo no longer shows it down. (Its CPUs may still
-- show allocated there for a while after a failed node's step ends: that
-- count is sinfo's, refreshed at the next node update; the scheduler
-- does not use it.)
local function node_back(name)
  sh("scontrol update nodename=" .. name .. " state=resume")
  return wait_for(function()
    local _, out = sh("sinfo -N -h -n " .. name .. " -o %t")
    return out:match("^%a+") and not out:match("down") and not out:match("drain") and not out:match("%*")
  end, 20) and true or false
end

-- Starts `cmd` in the background with its output in `log`; returns the
-- pid of the process that `cmd` execs into.
local function start_bg(cmd, dir, log)
  local pidfile = dir .. "/bg.pid"
  os.remove(pidfile)
  os.execute(string.format("(sh -c 'echo $$ > %s; exec %s' >%s 2>&1 &)", pidfile, cmd, log))
  return wait_for(function()
    local text = core.read_file(pidfile)
    return text and tonumber(text:match("%d+"))
  end, 10)
end

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true end

local function our_jobs()
  local _, out = sh("squeue -h -o '%i %T %j'")
  local jobs = {}
  for line in out:gmatch("[^\n]+") do
    if line:match(" tunelua%-") then jobs[#jobs + 1] = line end
  end
  return jobs
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
    assert.equal(a.cuda, a.step_gpus)
    assert.equal(b.cuda, b.step_gpus)
  end)

  it("gives a trial without GPUs a step without GPUs (--gres=none) and CUDA_VISIBLE_DEVICES empty", function()
    -- Inside an allocation with GPUs: a step without --gres took every GPU
    -- of its node, and no other step started there (a reused worker kept
    -- them: the run hung).
    local code, out, s = run("nogpu", dir, "timeout 60 salloc --quiet -N1 -n1 -c4 --gres=gpu:2 --no-kill")
    assert.equal(0, code, out)
    assert.equal(8, #s.trials)
    local spans = {}
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      for _, r in ipairs(t.results) do
        assert.equal("", r.step_gpus, out)
        assert.equal("", r.cuda, out)
      end
      spans[#spans + 1] = {t.results[1].t, t.results[#t.results].t}
    end
    -- Four at a time on the node's 4 CPUs (one at a time when each step held both GPUs).
    local most = 0
    for _, a in ipairs(spans) do
      local n = 0
      for _, b in ipairs(spans) do n = n + ((b[1] <= a[1] and a[1] <= b[2]) and 1 or 0) end
      most = math.max(most, n)
    end
    assert.is_true(most >= 3, "at most " .. most .. " trials ran at a time")
    -- Outside an allocation, and whatever the driver's CUDA_VISIBLE_DEVICES.
    code, out, s = run("small", dir .. "/outside", nil, "CUDA_VISIBLE_DEVICES=0,1")
    assert.equal(0, code, out)
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      assert.equal("", t.results[1].cuda, out)
    end
  end)

  it("shows the cluster's licenses once in the status line, not once per node", function()
    -- Licenses=custom:4 for the cluster; an allocation has what it asked for.
    for _, c in ipairs({{nil, 4}, {"salloc --quiet -N3 -n3 -c4 -L custom:3 --no-kill", 3}}) do
      local code, out, s = run("license", dir .. "/" .. c[2], c[1], "SPEC_VERBOSE=1")
      assert.equal(0, code, out)
      for _, t in ipairs(s.trials) do assert.equal("TERMINATED", t.status) end
      local shown = {}
      for total in out:gmatch("Resources requested: [^\n]-, %d+/(%d+) custom") do shown[#shown + 1] = tonumber(total) end
      assert.is_true(#shown > 0, out)
      for _, total in ipairs(shown) do assert.equal(c[2], total, out) end
    end
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
    assert.is_true(node_back("n2"))
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

  it("says that Slurm has no license of the name a trial asks for, inside an allocation and outside", function()
    for _, salloc in ipairs({ALLOC3, ""}) do
      local code, out, s = run("unknown_license", dir, salloc)
      assert.equal(0, code, out)
      assert.matches("can never run: asked for {1 CPU, 0 GPUs, 1 nosuchlicense} (PACK) but ", s.trials[1].error, 1, true)
      assert.matches(salloc == "" and "; Slurm has no license 'nosuchlicense' (slurm.conf's Licenses=)"
        or "; Slurm has no license 'nosuchlicense' in this allocation (salloc -L name:n gives it some)", s.trials[1].error, 1, true)
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

  it("stops with one clear message when a node failure leaves the allocation unable to start steps, and resumes", function()
    -- n2 fails while trials run on n1 and n2: Slurm shrinks the job, and
    -- the CPU of n1's step is never given to a new step once it ends. The
    -- waiting trials can no longer run there: the driver says so and stops
    -- as on SIGUSR1, saved; --resume in a new allocation finishes.
    local alloc = "salloc --quiet -N2 -n2 -c1 --no-kill"
    local code, out = run("shrink", dir, alloc, "TUNE_SLURM_STEP_START_S=3")
    assert.is_true(node_back("n2"))
    assert.equal(130, code, out)
    assert.matches("node n2 failed and allocation %d+ shrank: Slurm cannot start new steps", out)
    assert.matches("continue it with --resume in a new allocation", out, 1, true)
    local s
    code, out, s = run("shrink", dir, alloc, "SPEC_RESUME=1")
    assert.equal(0, code, out)
    assert.equal(3, #s.trials)
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      assert.same({1, 2, 3, 4, 5, 6}, values(t, "iteration"))
    end
  end)

  it("says when a step does not start (another step holds the CPU), and goes on when it does", function()
    -- A step the engine does not know of holds the allocation's one CPU.
    local log = dir .. "/one.log"
    local cmd = string.format("salloc --quiet -N1 -n1 -c1 --no-kill sh -c \"srun --exact -n1 -c1 -J foreign sleep 60 & "
      .. "until squeue -h -s -j \\$SLURM_JOB_ID -o %%j | grep -q foreign; do sleep 0.1; done; "
      .. "TUNE_SLURM_STEP_START_S=1 %s --backend slurm %s one %s; r=\\$?; kill \\$! 2>/dev/null; exit \\$r\"",
      BIN, FIXTURE, dir)
    local pid = start_bg(cmd, dir, log)
    assert.is_truthy(pid)
    assert.is_truthy(wait_for(function() return (core.read_file(log) or ""):find("has not started after 1 s", 1, true) end, 30),
      core.read_file(log))
    assert.matches("Slurm has not created it; another step of allocation %d+ may hold its CPUs", core.read_file(log))
    local _, steps = sh("squeue -h -s -o '%i %j'")
    local foreign = steps:match("(%d+%.%d+) foreign")
    assert.is_truthy(foreign, steps)
    assert.equal(0, (sh("scancel " .. foreign)))
    assert.is_truthy(wait_for(function() return not alive(pid) end, 30))
    local s = summary(core.read_file(log))
    assert.equal("TERMINATED", s.trials[1].status)
  end)

  it("counts whole CPUs: trials of half a CPU run one at a time on one CPU, none waits in srun", function()
    local code, out, s = run("half", dir, "timeout 60 salloc --quiet -N1 -n1 -c1 --no-kill")
    assert.equal(0, code, out)
    assert.equal(3, #s.trials)
    for _, t in ipairs(s.trials) do assert.equal("TERMINATED", t.status) end
  end)

  it("runs with the driver in a step of its own, leaving that step's CPUs to it", function()
    -- `srun tunelua` holds both CPUs of n1: the trials run on n2, and the
    -- filesystem probe does not wait for n1's CPUs.
    local code, out, s = run("small", dir, "timeout 60 salloc --quiet -N2 -n2 -c2 --no-kill srun -N1 -n1 -wn1")
    assert.equal(0, code, out)
    assert.matches("the driver runs in step %d+%.0, which holds 2 CPU%(s%) and 0 GPU%(s%) on n1", out)
    assert.same({"n2"}, nodes_of(s))
    for _, t in ipairs(s.trials) do assert.equal("TERMINATED", t.status) end
  end)

  it("outside an allocation: SPREAD over more bundles than nodes uses every node; a PACK group bigger than a node is refused", function()
    local code, out, s = run("spread4", dir, "timeout 60")
    assert.equal(0, code, out)
    assert.equal("TERMINATED", s.trials[1].status)
    local seen, n = {}, 0
    for node in s.trials[1].results[1].bundle_nodes:gmatch("[^,]+") do
      if not seen[node] then seen[node] = true n = n + 1 end
    end
    assert.equal(3, n, s.trials[1].results[1].bundle_nodes)
    code, out, s = run("packbig", dir, "timeout 60")
    assert.equal(0, code, out)
    assert.equal("ERROR", s.trials[1].status)
    assert.matches("can never run: asked for {3 CPUs, 0 GPUs} + {3 CPUs, 0 GPUs} (PACK) but outside an allocation a PACK "
      .. "group is one job on one node, which needs 6 CPUs", s.trials[1].error, 1, true)
  end)

  it("leaves no job pending in squeue when the driver is interrupted or killed with -9", function()
    -- Another job takes every CPU: the experiment's jobs pend.
    local code, blocker = sh("sbatch --parsable -N3 -n3 -c4 -J blocker -o /dev/null --wrap 'sleep 120'")
    assert.equal(0, code, blocker)
    blocker = blocker:match("%d+")
    assert.is_truthy(wait_for(function() return select(2, sh("squeue -h -j " .. blocker .. " -o %T")):match("RUNNING") end, 10))
    for _, sig in ipairs({"INT", "KILL"}) do
      local pid = start_bg(string.format("%s --backend slurm %s small %s/%s", BIN, FIXTURE, dir, sig), dir,
        dir .. "/" .. sig .. ".log")
      assert.is_truthy(wait_for(function() return #our_jobs() >= 4 end, 20), "no pending job")
      os.execute("kill -" .. sig .. " " .. pid)
      assert.is_truthy(wait_for(function() return not alive(pid) end, 20))
      assert.is_truthy(wait_for(function() return #our_jobs() == 0 end, 10),
        sig .. ": left in squeue:\n" .. table.concat(our_jobs(), "\n"))
    end
    sh("scancel " .. blocker)
  end)

  it("outside an allocation, Ctrl-C while slurmctld does not answer returns within seconds, naming the jobs to cancel", function()
    local pid = start_bg(string.format("%s --backend slurm %s long2 %s/int", BIN, FIXTURE, dir), dir, dir .. "/int.log")
    assert.is_truthy(wait_for(function()
      local _, n = sh("cat " .. dir .. "/int/long2/*/result.json 2>/dev/null | wc -l")
      return (tonumber(n) or 0) >= 4 and #our_jobs() == 2
    end, 30), "the trials did not start")
    local ids = {}
    for _, line in ipairs(our_jobs()) do ids[#ids + 1] = line:match("^%d+") end
    local ctld = assert(core.read_file(select(2, sh("scontrol show config")):match("SlurmctldPidFile%s*=%s*(%S+)")))
    ctld = ctld:match("%d+")
    os.execute("kill -STOP " .. ctld)
    local t0 = core.now()
    local ok, err = pcall(function()
      os.execute("kill -INT " .. pid)
      assert.is_truthy(wait_for(function() return not alive(pid) end, 60))
    end)
    local took = core.now() - t0
    os.execute("kill -CONT " .. ctld)
    local log = core.read_file(dir .. "/int.log")
    local name = log:match("scancel %-%-name=(tunelua%-[%w%-]+)")
    sh("scancel --name=" .. (name or "none") .. " " .. table.concat(ids, " "))
    assert(ok, err)
    assert.is_true(took < 15, "took " .. took .. " s:\n" .. log)
    table.sort(ids)
    assert.matches("Slurm did not confirm within 5 s that it cancelled this run's jobs " .. ids[1] .. " " .. ids[2], log:gsub("(jobs )(%d+) (%d+)", function(p, a, b)
      if tonumber(a) > tonumber(b) then a, b = b, a end
      return p .. a .. " " .. b
    end), 1, true)
    assert.is_truthy(name, log)
  end)

  it("gives the trials of an allocation its memory (--mem-per-cpu, or the nodes' without --mem)", function()
    local code, out, s = run("memory", dir, "salloc --quiet -N1 -n1 -c2 --no-kill")
    assert.equal(0, code, out)
    assert.equal("TERMINATED", s.trials[1].status)
    code, out, s = run("memory", dir .. "/per_cpu", "salloc --quiet -N1 -n1 -c2 --mem-per-cpu=40 --no-kill")
    assert.equal(0, code, out)
    assert.equal("ERROR", s.trials[1].status)
    assert.matches("can never run: asked for {1 CPU, 0 GPUs, 0.10 GiB memory} (PACK) but the node has 2 CPUs, 0 GPUs, "
      .. "0.08 GiB memory", s.trials[1].error, 1, true)
  end)

  it("fails at once with Slurm's own error when SLURM_CONF is wrong, or the partition unknown", function()
    local t0 = core.now()
    local code, out = run("small", dir, nil, "SLURM_CONF=/nonexistent/slurm.conf")
    assert.are_not.equal(0, code)
    assert.is_true(core.now() - t0 < 10, "took " .. (core.now() - t0) .. " s")
    assert.matches("srun --version said: srun: error: s_p_parse_file: cannot stat file /nonexistent/slurm.conf", out, 1, true)
    code, out = run("small", dir, nil, "SPEC_PARTITION=deb")
    assert.are_not.equal(0, code)
    assert.matches("slurm: no partition is named deb", out, 1, true)
  end)

  it("names what a trial that can never run asked, then the CPUs counted (whole, the worker's at least one)", function()
    for _, salloc in ipairs({ALLOC3, ""}) do
      local code, out, s = run("counted_cpus", dir, salloc)
      assert.equal(0, code, out)
      assert.equal("ERROR", s.trials[1].status)
      assert.matches("can never run: asked for {0 CPUs, 1 GPU} + {4 CPUs, 0 GPUs} (PACK) but ", s.trials[1].error, 1, true)
      assert.matches("(on Slurm a bundle takes whole CPUs, and the worker's bundle at least one: 4 asked, 5 counted)",
        s.trials[1].error, 1, true)
    end
  end)

  it("names why a worker's srun failed in the trial's error: an unreachable driver, a cancelled step", function()
    local _, out, s = run("small", dir, "salloc --quiet -N1 -n1 -c1 --no-kill", "SPEC_DRIVER_HOST=no.such.host.invalid")
    local err = assert(s, out).trials[1].error
    local text = core.read_file(s.trials[1].logdir .. "/error.txt")
    assert.matches("cannot connect to the driver at no.such.host.invalid port %d+", text)
    -- The worker's one line, without a traceback into it.
    assert.is_nil(text:find("stack traceback", 1, true), text)
    assert.is_nil(out:find("stack traceback", 1, true), out)
    -- The step of a running trial is cancelled (as at a time limit).
    local log = dir .. "/long.log"
    local pid = start_bg(string.format("salloc --quiet -N1 -n1 -c1 --no-kill %s --backend slurm %s long %s/long",
      BIN, FIXTURE, dir), dir, log)
    local step = wait_for(function()
      local _, n = sh("cat " .. dir .. "/long/long/*/result.json 2>/dev/null | wc -l")
      local _, steps = sh("squeue -h -s -o '%i %j'")
      return (tonumber(n) or 0) >= 1 and steps:match("(%d+%.%d+) tunelua")
    end, 30)
    assert.is_truthy(step, "no step")
    assert.equal(0, (sh("scancel " .. step)))
    assert.is_truthy(wait_for(function() return not alive(pid) end, 30))
    local long = summary(core.read_file(log)).trials[1]
    local cancelled = long.error
    assert.matches("CANCELLED", core.read_file(long.logdir .. "/error.txt"))
    assert.matches("^worker process %(pid %d+%) exited unexpectedly with status %d+: [^\n]*cannot connect to the driver at "
      .. "no.such.host.invalid port %d+", err)
    assert.matches("^worker process %(pid %d+%) [^\n]*: slurmstepd[^\n]*%*%*%* STEP %d+%.%d+ ON n1 CANCELLED", cancelled)
  end)

  it("outside an allocation, retries a trial of a failed node elsewhere: later jobs exclude that node", function()
    local code, out, s = run("nodefail", dir, "timeout 120")
    assert.is_true(node_back("n2"))
    assert.equal(0, code, out)
    assert.matches("node n2 failed: no more trials go there (later jobs exclude it)", out, 1, true)
    local failed = 0
    for _, t in ipairs(s.trials) do
      assert.equal("TERMINATED", t.status)
      if t.num_failures > 0 then
        failed = failed + 1
        assert.are_not.equal("n2", t.results[#t.results].node)
      end
    end
    assert.equal(1, failed, out)
  end)

  it("outside an allocation, a node failure in a multi-node trial is that node's: excluded after (SPREAD), or the group can never run (STRICT_SPREAD)", function()
    local code, out, s = run("spreadfail", dir, "timeout 60")
    local t = assert(s, out).trials[1]
    local node = (t.error or ""):match("was lost with node (n%d)")
    assert.is_true(node_back(node or "n3"))
    assert.equal(0, code, out)
    assert.is_truthy(node, t.error)
    assert.matches("^worker process %(pid %d+%) was lost with node n%d: slurmstepd[^\n]*DUE TO NODE FAILURE", t.error)
    assert.matches("node " .. node .. " failed: no more trials go there (later jobs exclude it)", out, 1, true)
    assert.equal("TERMINATED", t.status)
    assert.equal(1, t.num_failures)
    assert.is_nil(t.results[#t.results].bundle_nodes:find(node, 1, true), t.results[#t.results].bundle_nodes)
    code, out, s = run("strictfail", dir, "timeout 60")
    t = assert(s, out).trials[1]
    assert.is_true(node_back(node))
    assert.equal(0, code, out)
    assert.equal("ERROR", t.status)
    assert.matches("can never run: asked for {1 CPU, 0 GPUs} + {1 CPU, 0 GPUs} + {1 CPU, 0 GPUs} (STRICT_SPREAD) but "
      .. "outside an allocation this group is one job of 3 nodes", t.error, 1, true)
  end)

  it("names the argument srun refused on the trial's error's first line", function()
    local _, out, s = run("one", dir, "salloc --quiet -N1 -n1 -c1 --no-kill", "SPEC_SRUN_ARG=--bogus-flag")
    local t = assert(s, out).trials[1]
    assert.equal("ERROR", t.status)
    assert.matches("^worker process %(pid %d+%) exited unexpectedly with status %d+: srun: unrecognized option '%-%-bogus%-flag'$",
      t.error:match("^[^\n]*"))
  end)

  it("does not advise a driver's step of one CPU without GPUs to be what it is", function()
    local code, out = run("one", dir, "timeout 60 salloc --quiet -N1 -n2 -c1 --no-kill srun --exact -n1 -c1 --gres=none")
    assert.equal(0, code, out)
    assert.matches("the driver runs in step %d+%.0, which holds 1 CPU%(s%) and 0 GPU%(s%) on n%d: trials get the rest of "
      .. "the allocation\n", out)
    -- A step that holds more is told how to hold less.
    code, out = run("one", dir .. "/2", "timeout 60 salloc --quiet -N1 -n2 -c2 --no-kill srun --exact -n1 -c2 --gres=none")
    assert.equal(0, code, out)
    assert.matches("holds 2 CPU%(s%) and 0 GPU%(s%) on n%d: trials get the rest of the allocation %(srun %-%-exact %-n1 "
      .. "%-c1 %-%-gres=none tunelua %.%.%. leaves them more%)", out)
  end)

  it("refuses a local_dir that a node does not see", function()
    local code, out = run("spread", dir, ALLOC3, "TUNE_TEST_SLURM_HIDE_PROBE_FROM=n2")
    assert.are_not.equal(0, code)
    assert.matches("is not on a filesystem every node sees: n2", out, 1, true)
    assert.is_nil(core.stat(dir .. "/spread"))
  end)
end)
