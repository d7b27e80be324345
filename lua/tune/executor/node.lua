--- tune.executor.node: the resources of the node a TrialExecutor runs
--- trials on (executor/init.lua), as ray.init takes them.
local core = require("tune.core")

-- A key as the refusal shows it ("" for the empty name).
local function show_key(k) return k == "" and '""' or tostring(k) end

local M = {}

-- The option that gives a node's CPUs or GPUs besides a key of resources.
local AMOUNT = {CPU = "num_cpus", GPU = "num_gpus"}

--- The key of a resources table that names CPU (or GPU: `name`) in any
--- case, or nil.
function M.key(resources, name)
  if type(resources) ~= "table" then return nil end
  for k in pairs(resources) do
    if type(k) == "string" and k:upper() == name then return k end
  end
  return nil
end

--- Node options (num_cpus, num_gpus, resources) of `over` win over those
--- of `args`, which this changes: each replaces args' own, and one that
--- gives the CPUs or GPUs takes them out of the other way of giving them
--- (--num-cpus over the file's resources = {CPU = 4}; --resources
--- '{"cpu": 2}' over its num_cpus), so a node never gets them twice.
function M.override(args, over)
  if over.resources ~= nil then
    args.resources = over.resources
    for name, amount in pairs(AMOUNT) do
      if M.key(over.resources, name) then args[amount] = nil end
    end
  end
  for name, amount in pairs(AMOUNT) do
    local given = over[amount]
    if given ~= nil then
      args[amount] = given
      local k = over.resources == nil and M.key(args.resources, name)
      if k then
        local copy = {}
        for rk, rv in pairs(args.resources) do copy[rk] = rv end
        copy[k] = nil
        args.resources = copy
      end
    end
  end
  return args
end

--- Node resources: detected, then overridden by num_cpus / num_gpus /
--- memory / resources (custom names), as ray.init's arguments. The CPUs
--- (or GPUs) given both as num_cpus and as a key of resources are refused:
--- the key won without a word.
function M.resources(opts)
  for name, amount in pairs(AMOUNT) do
    local k = opts[amount] ~= nil and M.key(opts.resources, name)
    if k then
      error(string.format("%s given twice: %s = %s and resources.%s = %s", name, amount, tostring(opts[amount]), k,
        tostring(opts.resources[k])), 0)
    end
  end
  local res, gpu_ids = core.detect_node()
  if opts.num_cpus then res.CPU = opts.num_cpus end
  if opts.num_gpus then res.GPU = opts.num_gpus end
  if opts.memory then res.memory = opts.memory end
  if opts.resources then
    if type(opts.resources) ~= "table" then
      error("resources must be a table of name = amount, got " .. type(opts.resources), 0)
    end
    local given = {}
    for k, v in pairs(opts.resources) do
      if type(k) ~= "string" or k == "" then
        error("resources must be a table of name = amount, got a key " .. show_key(k), 0)
      end
      local lk = k:lower()
      local key = (lk == "cpu" and "CPU") or (lk == "gpu" and "GPU") or k
      -- {gpu = 2, GPU = 1}: which one won depended on the table's order.
      if given[key] then
        error(string.format("resources: %s given twice (as %q and %q)", key, given[key], k), 0)
      end
      given[key] = k
      res[key] = v
    end
  end
  -- A node has whole GPUs, each of them once (Ray refuses more GPUs than
  -- CUDA_VISIBLE_DEVICES lists: trials would share one).
  local g = res.GPU
  if type(g) == "number" and math.tointeger(g) == nil then
    error("num_gpus must be a whole number of GPUs, got " .. tostring(g), 0)
  end
  local seen = {}
  for _, id in ipairs(gpu_ids or {}) do
    if seen[id] then error(string.format("CUDA_VISIBLE_DEVICES lists GPU %s twice", id), 0) end
    seen[id] = true
  end
  -- A CUDA_VISIBLE_DEVICES that hides every GPU ("", -1) counts too, as in
  -- Ray: trials were given GPU 0, the device it hid.
  local cvd = os.getenv("CUDA_VISIBLE_DEVICES")
  local n = gpu_ids and #gpu_ids or 0
  if (n > 0 or cvd) and type(g) == "number" and g > n then
    if n == 0 then
      error(string.format("num_gpus = %d, but CUDA_VISIBLE_DEVICES=%q hides every GPU: unset it to number "
        .. "the GPUs from 0", g, cvd), 0)
    end
    error(string.format("num_gpus = %d, but %s %d GPU%s (%s): a trial's GPU would be another's",
      g, cvd and "CUDA_VISIBLE_DEVICES lists" or "this machine has", n, n == 1 and "" or "s",
      table.concat(gpu_ids, ",")), 0)
  end
  return res, gpu_ids
end

return M
