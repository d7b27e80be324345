--- Resources and PlacementGroupFactory, as Ray's.
local class = require("tune.class")
local core = require("tune.core")

local M = {}

local STRATEGIES = {PACK = true, SPREAD = true, STRICT_PACK = true, STRICT_SPREAD = true}

local function normalise_bundle(b, where)
  if type(b) ~= "table" then error(where .. ": a bundle must be a table of resource = amount", 4) end
  local out, given = {}, {}
  for k, v in pairs(b) do
    if type(k) ~= "string" or k == "" then error(where .. ": resource names must be non-empty strings", 4) end
    if type(v) ~= "number" or v < 0 or v ~= v then
      error(string.format("%s: resource %q must be a non-negative number", where, k), 4)
    end
    local key = k
    local lk = k:lower()
    if lk == "cpu" then key = "CPU" elseif lk == "gpu" then key = "GPU" end
    if given[key] then
      -- {cpu = 1, CPU = 1} was 2 CPUs.
      error(string.format("%s: resource %s given twice (as %q and %q)", where, key, given[key], k), 4)
    end
    given[key] = k
    if v > 0 then out[key] = v end
  end
  return out
end

--- PlacementGroupFactory(bundles, {strategy = "PACK"}), or Ray's positional
--- PlacementGroupFactory(bundles, "SPREAD"): bundle 1 is the trial's own;
--- the others are for processes it starts (tune.bundles).
local PlacementGroupFactory = class.class("PlacementGroupFactory")

function PlacementGroupFactory:__init(bundles, opts)
  if type(bundles) ~= "table" or #bundles < 1 then
    error("PlacementGroupFactory: expected a list of at least one bundle", 3)
  end
  -- A bundle after a hole, or under a name, was dropped without a word.
  local n = 0
  for _ in pairs(bundles) do n = n + 1 end
  for k in pairs(bundles) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      error(string.format("PlacementGroupFactory: the bundles must be a list (1 to %d without holes), got the key %s",
        n, type(k) == "string" and string.format("%q", k) or tostring(k)), 3)
    end
  end
  -- A string was indexed as a table: its strategy was silently PACK.
  if type(opts) == "string" then opts = {strategy = opts} end
  opts = require("tune.util").check_options("PlacementGroupFactory", opts, {strategy = true}, 3)
  local strategy = opts.strategy or "PACK"
  if not STRATEGIES[strategy] then
    error(string.format("PlacementGroupFactory: unknown strategy %q (PACK, SPREAD, STRICT_PACK or STRICT_SPREAD)",
      tostring(strategy)), 3)
  end
  local norm = {}
  for i, b in ipairs(bundles) do norm[i] = normalise_bundle(b, "bundle " .. i) end
  self.bundles = norm
  self.strategy = strategy
  self._spec = {bundles = norm, strategy = strategy}
end

--- The factory in the engine's form (a core.pgf userdata), encoded once:
--- executors intern it by its key.
function PlacementGroupFactory:handle()
  local h = rawget(self, "_handle")
  if h == nil then
    h = core.pgf(self._spec)
    self._handle = h
  end
  return h
end

--- The factory's canonical key (equal factories have equal keys).
function PlacementGroupFactory:key()
  return self:handle():key()
end

--- Resources of the head bundle.
function PlacementGroupFactory:head()
  return self.bundles[1]
end

--- Sum over all bundles (computed once; do not modify the table).
function PlacementGroupFactory:required_resources()
  local total = rawget(self, "_required")
  if total then return total end
  total = {}
  for _, b in ipairs(self.bundles) do
    for k, v in pairs(b) do total[k] = (total[k] or 0) + v end
  end
  self._required = total
  return total
end

function PlacementGroupFactory:__eq(other)
  return getmetatable(other) == PlacementGroupFactory and self:__tostring() == other:__tostring()
end

function PlacementGroupFactory:__tostring()
  local parts = {}
  for i, b in ipairs(self.bundles) do
    local keys = {}
    for k in pairs(b) do keys[#keys + 1] = k end
    table.sort(keys)
    local kv = {}
    for _, k in ipairs(keys) do kv[#kv + 1] = string.format("%s=%g", k, b[k]) end
    parts[i] = "{" .. table.concat(kv, ", ") .. "}"
  end
  return string.format("PlacementGroupFactory([%s], %s)", table.concat(parts, ", "), self.strategy)
end

M.PlacementGroupFactory = PlacementGroupFactory

--- Resources(cpu, gpu, memory, custom_resources), Ray's older resource type.
local Resources = class.class("Resources")

-- Ray's refusal of the extra_* amounts its Resources once had (0 and {} are none).
local EXTRA = "Passing `extra_*` resource requirements to `resources_per_trial` is deprecated. Please use a "
  .. "`PlacementGroupFactory` object to define your resource requirements instead."
local function extra(k, v) return type(k) == "string" and k:find("^extra_") and v ~= 0 and not (type(v) == "table" and next(v) == nil) end

function Resources:__init(cpu, gpu, memory, custom)
  if type(cpu) == "table" then
    local t = cpu
    -- (Another key, a typo included, was ignored: the trial got 1 CPU.)
    local known = {cpu = true, gpu = true, memory = true, custom_resources = true}
    for k, v in pairs(t) do
      if extra(k, v) then error(EXTRA, 3) end
      if type(k) == "string" and k:find("^extra_") then known[k] = true end
    end
    require("tune.util").check_options("Resources", t, known, 3)
    cpu, gpu, memory, custom = t.cpu, t.gpu, t.memory, t.custom_resources
  end
  self.cpu = cpu or 1
  self.gpu = gpu or 0
  self.memory = memory or 0
  self.custom_resources = custom or {}
end

function Resources:to_pgf()
  local b = {CPU = self.cpu, GPU = self.gpu}
  if self.memory and self.memory > 0 then b.memory = self.memory end
  for k, v in pairs(self.custom_resources) do b[k] = v end
  return PlacementGroupFactory({b})
end

M.Resources = Resources

--- resources_per_trial -> PlacementGroupFactory. Accepts a factory,
--- Resources, or {cpu=, gpu=, memory=, custom_resources={...}, <name>=...}.
function M.to_pgf(r, level)
  level = (level or 1) + 1
  if r == nil then return nil end
  if getmetatable(r) == PlacementGroupFactory then return r end
  if getmetatable(r) == Resources then return r:to_pgf() end
  if type(r) ~= "table" then
    error("resources_per_trial must be a table or a PlacementGroupFactory", level)
  end
  local b = {}
  for k, v in pairs(r) do
    if type(k) ~= "string" then -- (ignored: a list of bundles got 1 CPU)
      error("resources_per_trial: a table maps resource names to amounts, got the key " .. tostring(k)
        .. (type(v) == "table" and " (bundles go in tune.PlacementGroupFactory({...}))" or ""), level)
    elseif extra(k, v) then
      error(EXTRA, level)
    elseif k:find("^extra_") then -- (none: not a custom resource)
    elseif k == "custom_resources" then
      if type(v) ~= "table" then error("resources_per_trial.custom_resources must be a table", level) end
      for ck, cv in pairs(v) do b[ck] = cv end
    else
      b[k] = v
    end
  end
  local has_cpu = false
  for k in pairs(b) do has_cpu = has_cpu or (type(k) == "string" and k:lower() == "cpu") end
  if not has_cpu then b.cpu = 1 end -- whatever its case ({cPU = 1} had 1 CPU more)
  local ok, pgf = pcall(PlacementGroupFactory, {b})
  if not ok then error("resources_per_trial: " .. tostring(pgf):gsub("^.-: ", "", 1), level) end
  return pgf
end

return M
