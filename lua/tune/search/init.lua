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
  TuneBOHB = "tune.search.bohb",
}

--- Ray's string keys for tune.create_searcher ("random" is Ray's too: the
--- BasicVariantGenerator; TPE also answers to "hyperopt", Ray's TPE-based
--- searcher); "random_search" is tunelua's RandomSearch.
M.SEARCHERS = {
  variant_generator = "BasicVariantGenerator",
  random = "BasicVariantGenerator",
  random_search = "RandomSearch",
  tpe = "TPESearch",
  bohb = "TuneBOHB",
  hyperopt = "TPESearch",
}

return require("tune.util").catalogue(M, lazy, M.SEARCHERS, "searcher")
