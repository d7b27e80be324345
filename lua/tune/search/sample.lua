--- tune.search.sample: search-space domains (Ray Tune's tune.search.sample)
--- and the seeded random number generator every sampler draws from.
---
--- Constructors (Ray 2.0's names and bounds conventions):
---   uniform(lower, upper)                 float in [lower, upper)
---   quniform(lower, upper, q)             float multiple of q in [lower, upper]
---   loguniform(lower, upper, base=10)     float, log-uniform in [lower, upper)
---   qloguniform(lower, upper, q, base=10) float multiple of q in [lower, upper]
---   randn(mean=0, sd=1)                   float, normal
---   qrandn(mean, sd, q)                   float multiple of q, normal
---   randint(lower, upper)                 integer in [lower, upper)   (upper EXCLUSIVE)
---   qrandint(lower, upper, q=1)           integer multiple of q in [lower, upper] (INCLUSIVE)
---   lograndint(lower, upper, base=10)     integer, log-uniform in [lower, upper)
---   qlograndint(lower, upper, q, base=10) integer multiple of q, log-uniform, [lower, upper]
---   choice(categories)                    one of the list's values
---   sample_from(fn)                       fn(spec, rng); spec.config is the config so far
---   grid_search(values)                   the plain table {grid_search = values}
---
--- A Domain is read-only data; model-based searchers (TPE) read its fields:
---   kind      "float" | "int" | "categorical" | "function"
---   name      the constructor that made it ("qlograndint", "choice", ...)
---   sampler   "uniform" | "loguniform" | "normal" (nil for categorical
---             and function domains; choice samples uniformly)
---   lower, upper      bounds. Float domains hold floats, int domains
---             integers; normal domains hold -math.huge, math.huge.
---   upper_inclusive   true when `upper` itself can be drawn: the quantized
---             domains (quniform, qloguniform, qrandint, qlograndint);
---             false for uniform, loguniform, randint, lograndint, normal.
---   log       true for the loguniform sampler
---   base      the log base (loguniform sampler only), else nil
---   q         quantization step, nil when not quantized (a float for
---             float domains, an integer for int domains)
---   mean, sd  normal sampler only
---   categories  choice only: the list of values (a copy)
---   fn        sample_from only: the function
--- Methods: domain:sample(rng, spec), domain:is_valid(value), tostring(domain).
---
--- Quantization as Ray: a float draw v becomes round(v / q) * q (ties to
--- even, as numpy) and stays a float. Integer domains stay Lua integers.
--- qrandint/qlograndint keep their documented inclusive upper bound:
--- qrandint draws uniformly from the multiples of q in [lower, upper]
--- (Ray 2.0 rounded an exclusive draw instead, which could miss `upper` and
--- leave the bounds, ray-project/ray#28045); qlograndint rounds a
--- log-uniform draw in [lower, upper) to the nearest multiple of q within
--- [lower, upper].
---
--- Random(seed): xoshiro256** seeded by splitmix64, 64-bit integer
--- arithmetic only, so a seed gives the same integer stream everywhere
--- (normal() goes through math.log/cos/sqrt of the C library).
local class = require("tune.class")

local M = {}

local ARRAY_MT = require("tune.core").array_mt

-- ---------------------------------------------------------------------
-- Small helpers shared with variant_generator (internal, "_" prefixed).

--- True for a table that is plain data: no metatable, or the JSON array
--- marker of tune.core. Other tables with metatables are opaque objects.
local function is_container(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt == nil or (ARRAY_MT ~= nil and mt == ARRAY_MT)
end
M._is_container = is_container

--- Copy of plain data: containers are copied recursively (keeping the
--- array marker); anything else, Domains and objects included, is kept as
--- it is.
local function plain_copy(v, seen)
  if not is_container(v) then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in pairs(v) do out[k] = plain_copy(x, seen) end
  return setmetatable(out, getmetatable(v))
end
M._plain_copy = plain_copy

--- True for a sequence: only the keys 1..n (n >= 0).
local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = #v
  local count = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end
M._is_list = is_list

--- A number for messages: integers as they are, floats in the shortest
--- form that reads back ("0.1", not "0.10000000000000001").
local function fmt_num(x)
  if math.type(x) ~= "float" then return tostring(x) end
  for prec = 15, 17 do
    local s = string.format("%." .. prec .. "g", x)
    if tonumber(s) == x then return s end
  end
  return string.format("%.17g", x)
end

--- numpy.round: to the nearest integer, ties to even.
local round_half_even = require("tune.util").round_half_even
M._round_half_even = round_half_even

--- Python's math.isclose with its default rel_tol=1e-9, abs_tol=0.
local function isclose(a, b)
  if a == b then return true end
  return math.abs(a - b) <= 1e-9 * math.max(math.abs(a), math.abs(b))
end

-- ---------------------------------------------------------------------
-- Random: xoshiro256** (Blackman & Vigna) seeded with splitmix64.

local Random = class.class("Random")
M.Random = Random

local ALGORITHM = "xoshiro256**"
local TWO_POW_M53 = 0x1p-53
local seed_counter = 0

local function rotl(x, k)
  return (x << k) | (x >> (64 - k))
end

local function splitmix64(state)
  state = state + 0x9E3779B97F4A7C15
  local z = state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return state, z ~ (z >> 31)
end

local function to_seed_integer(seed, what)
  if math.type(seed) == "integer" then return seed end
  if math.type(seed) == "float" then
    local i = math.tointeger(seed)
    if i then return i end
  end
  -- At the user's line, whichever constructor of the library made the
  -- generator (a searcher's, a scheduler's, Random's own).
  require("tune.util").user_error(string.format("%s: seed must be an integer or nil (got %s)", what,
    type(seed) == "number" and fmt_num(seed) or type(seed)))
end
M._seed_integer = to_seed_integer

--- Random(seed, who): a generator; nil seeds from os.time(), os.clock()
--- and a counter (different every call). `who` names the constructor in a
--- refusal of the seed (default "Random").
function Random:__init(seed, who)
  if seed == nil then
    seed_counter = seed_counter + 1
    seed = os.time() ~ (seed_counter * 0x9E3779B97F4A7C15)
      ~ (math.floor(os.clock() * 1e6) << 20)
  else
    seed = to_seed_integer(seed, who or "Random")
  end
  local s = seed
  local w1, w2, w3, w4
  s, w1 = splitmix64(s)
  s, w2 = splitmix64(s)
  s, w3 = splitmix64(s)
  s, w4 = splitmix64(s)
  self._s = {w1, w2, w3, w4}
end

--- The next raw 64-bit output, a Lua integer (wrapping, may be negative).
function Random:next_u64()
  local s = self._s
  local s0, s1, s2, s3 = s[1], s[2], s[3], s[4]
  local result = rotl(s1 * 5, 7) * 9
  local t = s1 << 17
  s2 = s2 ~ s0
  s3 = s3 ~ s1
  s1 = s1 ~ s2
  s0 = s0 ~ s3
  s2 = s2 ~ t
  s3 = rotl(s3, 45)
  s[1], s[2], s[3], s[4] = s0, s1, s2, s3
  return result
end

--- A float in [0, 1) made from the top 53 bits of one output.
function Random:random()
  return (self:next_u64() >> 11) * TWO_POW_M53
end

local function check_finite(x, what, name)
  if type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge then
    error(string.format("%s: %s must be a finite number (got %s)", what, name,
      type(x) == "number" and fmt_num(x) or type(x)), 3)
  end
end

--- A float in [a, b).
function Random:uniform(a, b)
  check_finite(a, "Random:uniform", "a")
  check_finite(b, "Random:uniform", "b")
  return a + (b - a) * self:random()
end

--- A normal draw (Box-Muller, one pair of uniforms per call).
function Random:normal(mean, sd)
  mean = mean == nil and 0.0 or mean
  sd = sd == nil and 1.0 or sd
  check_finite(mean, "Random:normal", "mean")
  check_finite(sd, "Random:normal", "sd")
  local u1 = 1.0 - self:random() -- (0, 1]
  local u2 = self:random()
  local z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
  return mean + sd * z
end

local function int_arg(x, what, name, level)
  local i = math.tointeger(x)
  if i == nil then
    error(string.format("%s: %s must be an integer (got %s)", what, name,
      type(x) == "number" and fmt_num(x) or type(x)), level + 1)
  end
  return i
end

--- An integer in [lo, hi) (unbiased, by rejection).
function Random:randint(lo, hi)
  lo = int_arg(lo, "Random:randint", "lo", 2)
  hi = int_arg(hi, "Random:randint", "hi", 2)
  local n = hi - lo
  if hi <= lo or n <= 0 then
    error(string.format("Random:randint: empty range [%d, %d)", lo, hi), 2)
  end
  local limit = math.maxinteger - (n - 1)
  while true do
    local x = self:next_u64() >> 1 -- 63 uniform bits, non-negative
    local r = x % n
    if x - r <= limit then return lo + r end
  end
end

--- One element of a non-empty list, uniformly.
function Random:choice(list)
  if type(list) ~= "table" or #list == 0 then
    error("Random:choice: expected a non-empty list", 2)
  end
  return list[self:randint(1, #list + 1)]
end

--- Shuffles a list in place (Fisher-Yates) and returns it.
function Random:shuffle(list)
  if type(list) ~= "table" then error("Random:shuffle: expected a list", 2) end
  for i = #list, 2, -1 do
    local j = self:randint(1, i + 1)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

--- A JSON-safe snapshot: {algorithm = "xoshiro256**", state = {4 hex strings}}.
function Random:get_state()
  local words = {}
  for i = 1, 4 do words[i] = string.format("%016x", self._s[i]) end
  return {algorithm = ALGORITHM, state = words}
end

--- Restores a snapshot taken by get_state().
function Random:set_state(state)
  if type(state) ~= "table" then error("Random:set_state: expected a table from get_state()", 2) end
  if state.algorithm ~= ALGORITHM then
    error(string.format("Random:set_state: unknown algorithm %s (expected %q)",
      tostring(state.algorithm), ALGORITHM), 2)
  end
  local words = state.state
  if type(words) ~= "table" or #words ~= 4 then
    error("Random:set_state: state must be a list of 4 hex strings", 2)
  end
  local s, any = {}, false
  for i = 1, 4 do
    local w = words[i]
    if type(w) ~= "string" or not w:match("^%x+$") or #w > 16 then
      error(string.format("Random:set_state: state word %d is not a 64-bit hex string (%s)", i, tostring(w)), 2)
    end
    s[i] = tonumber(w, 16)
    if s[i] ~= 0 then any = true end
  end
  if not any then error("Random:set_state: an all-zero state is invalid", 2) end
  self._s = s
end

--- An independent copy with the same state.
function Random:clone()
  local r = setmetatable({}, getmetatable(self))
  r._s = {self._s[1], self._s[2], self._s[3], self._s[4]}
  return r
end

function Random:__tostring()
  return "Random(" .. table.concat(self:get_state().state, ":") .. ")"
end

-- ---------------------------------------------------------------------
-- Domains.

local Domain = class.class("Domain")
M.Domain = Domain

--- True when v is a Domain.
function M.is_domain(v)
  return class.is_instance(v, Domain)
end

--- True when v is a grid search: a table whose only key is grid_search,
--- holding a list.
function M.is_grid(v)
  if type(v) ~= "table" or M.is_domain(v) then return false end
  local k, x = next(v)
  if k ~= "grid_search" or next(v, k) ~= nil then return false end
  return is_list(x)
end

function Domain:__init(fields)
  for k, v in pairs(fields) do self[k] = v end
end

function Domain:is_function()
  return self.kind == "function"
end

--- Checks the fields; returns nil when valid, else a message that starts
--- with the constructor's name.
function Domain:validate()
  local name = self.name or self.kind or "domain"
  local function bad(fmt, ...) return name .. ": " .. string.format(fmt, ...) end
  local function show(x) return type(x) == "number" and fmt_num(x) or type(x) end
  local kind = self.kind
  if kind == "function" then
    local f = self.fn
    local mt = type(f) == "table" and getmetatable(f)
    if type(f) ~= "function" and not (mt and mt.__call) then
      return bad("expected a function (got %s)", type(f))
    end
    return nil
  elseif kind == "categorical" then
    if not is_list(self.categories) or #self.categories == 0 then
      return bad("categories must be a non-empty list")
    end
    return nil
  elseif kind ~= "float" and kind ~= "int" then
    return bad("unknown domain kind %s", tostring(kind))
  end
  local lower, upper, q = self.lower, self.upper, self.q
  if self.sampler == "normal" then
    if type(self.mean) ~= "number" or self.mean ~= self.mean or math.abs(self.mean) == math.huge then
      return bad("mean must be a finite number (got %s)", show(self.mean))
    end
    if type(self.sd) ~= "number" or not (self.sd > 0) or self.sd == math.huge then
      return bad("sd must be > 0 (got %s)", show(self.sd))
    end
  else
    for _, b in ipairs({{"lower", lower}, {"upper", upper}}) do
      local x = b[2]
      if type(x) ~= "number" or x ~= x or math.abs(x) == math.huge then
        return bad("%s bound must be a finite number (got %s)", b[1],
          type(x) == "number" and fmt_num(x) or type(x))
      end
      if kind == "int" and math.type(x) ~= "integer" then
        return bad("%s bound must be an integer (got %s)", b[1], fmt_num(x))
      end
    end
    if self.sampler == "loguniform" then
      if not (lower > 0) then return bad("lower bound must be > 0 (got %s)", fmt_num(lower)) end
      local base = self.base
      if type(base) ~= "number" or not (base > 0) or base == 1 or base == math.huge then
        return bad("base must be a positive number other than 1 (got %s)", show(base))
      end
    elseif self.sampler ~= "uniform" then
      return bad("unknown sampler %s", tostring(self.sampler))
    end
    if not (lower < upper) then
      return bad("lower bound (%s) must be < upper bound (%s)", fmt_num(lower), fmt_num(upper))
    end
    -- A draw is lower + (upper - lower) * u: the range must be a number.
    if kind == "float" and self.sampler == "uniform" and math.abs(upper - lower) == math.huge then
      return bad("the range upper - lower must be finite (got %s - %s)", fmt_num(upper), fmt_num(lower))
    end
    if kind == "int" and upper - lower < 0 then
      return bad("the range upper - lower must fit in an integer (got %s - %s)", fmt_num(upper), fmt_num(lower))
    end
  end
  if q ~= nil then
    if type(q) ~= "number" or not (q > 0) or q == math.huge then
      return bad("q must be a number > 0 (got %s)", show(q))
    end
    if kind == "int" then
      if math.type(q) ~= "integer" then return bad("q must be an integer (got %s)", fmt_num(q)) end
      local klo, khi = -((-lower) // q), upper // q
      if klo > khi then
        return bad("no multiple of q=%d in [%d, %d]", q, lower, upper)
      end
    elseif self.sampler ~= "normal" then
      -- Ray's Float.quantized: finite bounds must be multiples of q.
      if not isclose(lower / q, round_half_even(lower / q)) then
        return bad("lower bound %s is not divisible by quantization factor %s", fmt_num(lower), fmt_num(q))
      end
      if not isclose(upper / q, round_half_even(upper / q)) then
        return bad("upper bound %s is not divisible by quantization factor %s", fmt_num(upper), fmt_num(q))
      end
    end
  end
  return nil
end

local function check_rng(rng)
  if type(rng) ~= "table" or type(rng.random) ~= "function" then
    error("Domain:sample: rng must be a tune.search.sample.Random (got " .. type(rng) .. ")", 3)
  end
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

--- A log-uniform draw in [lo, hi) (the domain's bounds by default).
local function log_draw(self, rng, lo, hi)
  local lb = math.log(self.base)
  local logmin, logmax = math.log(lo or self.lower) / lb, math.log(hi or self.upper) / lb
  return self.base ^ rng:uniform(logmin, logmax)
end

--- One value. `spec` is passed to a sample_from function (with `rng` as
--- its second argument); the other domains ignore it.
function Domain:sample(rng, spec)
  check_rng(rng)
  local kind, q = self.kind, self.q
  if kind == "function" then
    return self.fn(spec, rng)
  elseif kind == "categorical" then
    return plain_copy(self.categories[rng:randint(1, #self.categories + 1)])
  elseif kind == "float" then
    local v
    if self.sampler == "normal" then
      v = rng:normal(self.mean, self.sd)
    elseif self.sampler == "loguniform" then
      v = clamp(log_draw(self, rng), self.lower, self.upper)
    else
      v = rng:uniform(self.lower, self.upper)
    end
    if q ~= nil then
      v = round_half_even(v / q) * q
      v = clamp(v, self.lower, self.upper)
    end
    return v + 0.0
  else -- int
    local lower, upper = self.lower, self.upper
    if q == nil then
      if self.sampler == "loguniform" then
        local v = math.floor(log_draw(self, rng))
        return math.tointeger(clamp(v, lower, upper - 1))
      end
      return rng:randint(lower, upper)
    end
    local klo, khi = -((-lower) // q), upper // q
    local k
    if self.sampler == "loguniform" then
      -- As Ray's Quantized.sample, the bounds narrowed to multiples of q
      -- first (drawn from the domain's, every draw below the first
      -- multiple would land on it), then a log-uniform draw between them
      -- rounded to a multiple: the upper one too.
      k = math.tointeger(clamp(round_half_even(log_draw(self, rng, klo * q, khi * q) / q), klo, khi))
    elseif khi < math.maxinteger then
      k = rng:randint(klo, khi + 1)
    else -- (khi + 1 would wrap round: the same draw, one lower, shifted)
      k = rng:randint(klo - 1, khi) + 1
    end
    return k * q
  end
end

--- Equal values, tables by content (Python's ==).
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M._same = same

--- Ray's Domain.is_valid: whether `value` lies in the domain. A choice's
--- tables are compared by content (Python's `in`); a number domain holds
--- both its bounds and what lies between (Ray's Float.is_valid and
--- Integer.is_valid: randint(1, 5):is_valid(5) too).
function Domain:is_valid(value)
  if self.kind == "function" then return true end
  if self.kind == "categorical" then
    for _, c in ipairs(self.categories) do
      if same(c, value) then return true end
    end
    return false
  end
  -- Ray's Float and Integer alike: lower <= value <= upper.
  return type(value) == "number" and self.lower <= value and value <= self.upper
end

-- A category as Python would print it: strings quoted, tables with their
-- contents (a domain inside one as the domain prints), keys sorted.
local function repr(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then return fmt_num(v) end
  if type(v) ~= "table" or M.is_domain(v) then return tostring(v) end
  local parts = {}
  if is_list(v) then
    for i, x in ipairs(v) do parts[i] = repr(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for key in pairs(v) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, key in ipairs(keys) do parts[i] = repr(key) .. ": " .. repr(v[key]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

M._repr = repr
function Domain:__tostring()
  local k = self.kind
  if k == "function" then return "sample_from(" .. tostring(self.fn) .. ")" end
  if k == "categorical" then
    local parts = {}
    for i, c in ipairs(self.categories) do parts[i] = repr(c) end
    return "choice([" .. table.concat(parts, ", ") .. "])"
  end
  if self.sampler == "normal" then
    local s = string.format("%s(mean=%s, sd=%s", self.name, fmt_num(self.mean), fmt_num(self.sd))
    if self.q then s = s .. ", q=" .. fmt_num(self.q) end
    return s .. ")"
  end
  local s = string.format("%s(%s, %s", self.name, fmt_num(self.lower), fmt_num(self.upper))
  if self.q then s = s .. ", q=" .. fmt_num(self.q) end
  if self.log then s = s .. ", base=" .. fmt_num(self.base) end
  return s .. ")"
end

-- ---------------------------------------------------------------------
-- Constructors. Each validates and raises at the caller's line.

-- need_number and need_integer run inside a helper called by a constructor:
-- level 4 is the constructor's caller.
local function need_number(x, name, what)
  if type(x) ~= "number" or x ~= x or math.abs(x) == math.huge then
    error(string.format("%s: %s must be a finite number (got %s)", name, what,
      type(x) == "number" and fmt_num(x) or type(x)), 4)
  end
  return x
end

local function need_integer(x, name, what)
  if type(x) ~= "number" then
    error(string.format("%s: %s must be an integer (got %s)", name, what, type(x)), 4)
  end
  local i = math.tointeger(x)
  if i == nil then
    error(string.format("%s: %s must be an integer (got %s)", name, what, fmt_num(x)), 4)
  end
  return i
end

-- Called by a constructor (never as a tail call, so that level 3 is the
-- constructor's caller).
local function make(fields)
  local d = Domain(fields)
  local msg = d:validate()
  if msg then error(msg, 3) end
  return d
end

local function float_range(name, lower, upper, sampler, q, base)
  need_number(lower, name, "lower")
  need_number(upper, name, "upper")
  if q ~= nil then need_number(q, name, "q") end
  if base ~= nil then need_number(base, name, "base") end
  return {
    kind = "float", name = name, sampler = sampler,
    lower = lower + 0.0, upper = upper + 0.0,
    upper_inclusive = q ~= nil, log = sampler == "loguniform",
    base = sampler == "loguniform" and (base or 10) or nil,
    q = q and q + 0.0 or nil,
  }
end

local function int_range(name, lower, upper, sampler, q, base)
  lower = need_integer(lower, name, "lower")
  upper = need_integer(upper, name, "upper")
  if q ~= nil then q = need_integer(q, name, "q") end
  if base ~= nil then need_number(base, name, "base") end
  return {
    kind = "int", name = name, sampler = sampler,
    lower = lower, upper = upper,
    upper_inclusive = q ~= nil, log = sampler == "loguniform",
    base = sampler == "loguniform" and (base or 10) or nil,
    q = q,
  }
end

function M.uniform(lower, upper)
  local d = make(float_range("uniform", lower, upper, "uniform"))
  return d
end

function M.quniform(lower, upper, q)
  if q == nil then error("quniform: q is required", 2) end
  local d = make(float_range("quniform", lower, upper, "uniform", q))
  return d
end

function M.loguniform(lower, upper, base)
  local d = make(float_range("loguniform", lower, upper, "loguniform", nil, base))
  return d
end

function M.qloguniform(lower, upper, q, base)
  if q == nil then error("qloguniform: q is required", 2) end
  local d = make(float_range("qloguniform", lower, upper, "loguniform", q, base))
  return d
end

local function normal(name, mean, sd, q)
  need_number(mean, name, "mean")
  need_number(sd, name, "sd")
  if q ~= nil then need_number(q, name, "q") end
  return {
    kind = "float", name = name, sampler = "normal",
    lower = -math.huge, upper = math.huge, upper_inclusive = false, log = false,
    mean = mean + 0.0, sd = sd + 0.0, q = q and q + 0.0 or nil,
  }
end

function M.randn(mean, sd)
  local d = make(normal("randn", mean == nil and 0.0 or mean, sd == nil and 1.0 or sd))
  return d
end

function M.qrandn(mean, sd, q)
  if q == nil then error("qrandn: q is required", 2) end
  local d = make(normal("qrandn", mean, sd, q))
  return d
end

function M.randint(lower, upper)
  local d = make(int_range("randint", lower, upper, "uniform"))
  return d
end

function M.qrandint(lower, upper, q)
  local d = make(int_range("qrandint", lower, upper, "uniform", q == nil and 1 or q))
  return d
end

function M.lograndint(lower, upper, base)
  local d = make(int_range("lograndint", lower, upper, "loguniform", nil, base))
  return d
end

function M.qlograndint(lower, upper, q, base)
  if q == nil then error("qlograndint: q is required", 2) end
  local d = make(int_range("qlograndint", lower, upper, "loguniform", q, base))
  return d
end

function M.choice(categories)
  if not is_list(categories) or #categories == 0 then
    error("choice: categories must be a non-empty list (got " ..
      (type(categories) == "table" and "an empty or non-list table" or type(categories)) .. ")", 2)
  end
  -- (A NUL failed the snapshot inside the library; other bytes that are not UTF-8 reached the trial changed.)
  local why, where = require("tune.util").not_plain(categories)
  if why then error(("choice: categories%s holds %s, which a trial's config cannot hold"):format(where, why), 2) end
  return make({kind = "categorical", name = "choice", categories = plain_copy(categories)})
end

function M.sample_from(fn)
  local mt = type(fn) == "table" and getmetatable(fn)
  if type(fn) ~= "function" and not (mt and mt.__call) then
    error("sample_from: expected a function (got " .. type(fn) .. ")", 2)
  end
  local d = make({kind = "function", name = "sample_from", fn = fn})
  return d
end

--- {grid_search = values}, as Ray's grid_search.
function M.grid_search(values)
  if not is_list(values) or #values == 0 then
    error("grid_search: values must be a non-empty list (got " ..
      (type(values) == "table" and "an empty or non-list table" or type(values)) .. ")", 2)
  end
  return {grid_search = values}
end

return M
