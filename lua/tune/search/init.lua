--- tune.search: search algorithms and searchers, and
--- create_searcher(name, opts).
local M = {}

local lazy = {
  SearchAlgorithm = "tune.search.search_algorithm",
  BasicVariantGenerator = "tune.search.basic_variant",
  Searcher = "tune.search.searcher",
  SearchGenerator = "tune.search.search_generator",
  ConcurrencyLimiter = "tune.search.concurrency_limiter",
  Repeater = "tune.search.repeater",
  RandomSearch = "tune.search.random_search",
  TPESearch = "tune.search.tpe",
}

--- Ray's string keys for tune.create_searcher (TPE also answers to
--- "hyperopt", Ray's TPE-based searcher).
M.SEARCHERS = {
  variant_generator = "BasicVariantGenerator",
  random = "RandomSearch",
  tpe = "TPESearch",
  hyperopt = "TPESearch",
}

setmetatable(M, {
  __index = function(t, k)
    local mod = lazy[k]
    if not mod then return nil end
    local v = require(mod)
    if type(v) == "table" and rawget(v, k) ~= nil then v = rawget(v, k) end
    rawset(t, k, v)
    return v
  end,
})

function M._register(name, module, key)
  lazy[name] = module
  if key then M.SEARCHERS[key] = name end
end

function M.create_searcher(name, opts)
  if type(name) ~= "string" then error("create_searcher: the name must be a string", 2) end
  local cls = M.SEARCHERS[name:lower()]
  if not cls then
    local keys = {}
    for k in pairs(M.SEARCHERS) do keys[#keys + 1] = k end
    table.sort(keys)
    error(string.format("unknown searcher %q (one of: %s)", name, table.concat(keys, ", ")), 2)
  end
  return M[cls](opts)
end

return M
