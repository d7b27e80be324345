--- ConcurrencyLimiter: at most max_concurrent suggestions live at once
--- (Ray's ConcurrencyLimiter); with batch = true, a new batch only starts
--- when the whole previous one completed.
local Searcher = require("tune.search.searcher")
local core = require("tune.core")
local plugin = require("tune.experiment.plugin")
local util = require("tune.util")

local ConcurrencyLimiter = Searcher:extend(nil, "ConcurrencyLimiter")

local OPTIONS = {max_concurrent = true, batch = true}

--- ConcurrencyLimiter(searcher, {max_concurrent = n, batch = false})
function ConcurrencyLimiter:__init(searcher, opts, batch)
  -- Ray's positional form: ConcurrencyLimiter(searcher, max_concurrent, batch).
  if type(opts) == "number" then
    opts = {max_concurrent = opts, batch = batch}
  elseif batch ~= nil then
    error("ConcurrencyLimiter: give batch in the options table or after max_concurrent (searcher, n, batch), "
      .. "not after a table: it was ignored", 3)
  end
  local why = Searcher.not_a_searcher(searcher)
  if why then error("ConcurrencyLimiter: expected a searcher, " .. why, 3) end
  opts = util.check_options("ConcurrencyLimiter", opts, OPTIONS, 3)
  util.check_booleans("ConcurrencyLimiter", opts, {"batch"}, 3)
  local n = opts.max_concurrent
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
    error("ConcurrencyLimiter: max_concurrent must be an integer >= 1, got " .. tostring(n), 3)
  end
  self.searcher = searcher
  self.max_concurrent = n
  self.batch = opts.batch or false
  self._live = {}
  self._nlive = 0
  self._limit_reached = false
  self.metric = searcher.metric
  self.mode = searcher.mode
  self:_ask_native()
end

--- A searcher that limits itself does it better: asked to, with max_concurrent.
function ConcurrencyLimiter:_ask_native()
  local ok, took = plugin.call("searcher", self.searcher, "set_max_concurrency", "boolean", self.max_concurrent)
  self._native = ok and took == true
end

local function call(self, name, judge, ...)
  local ok, v = plugin.call("searcher", self.searcher, name, judge, ...)
  if not ok then error(v, 0) end
  return v
end

function ConcurrencyLimiter:set_search_properties(metric, mode, config)
  local r = call(self, "set_search_properties", nil, metric, mode, config)
  self.metric, self.mode = self.searcher.metric, self.searcher.mode
  return r
end

function ConcurrencyLimiter:suggest(trial_id)
  if not self._native then
    if self.batch and self._limit_reached then
      if self._nlive > 0 then return nil end
      self._limit_reached = false
    end
    if self._nlive >= self.max_concurrent then return nil end
  end
  local s = call(self, "suggest", "suggestion", trial_id)
  if type(s) == "table" then
    self._live[trial_id] = true
    self._nlive = self._nlive + 1
    if self._nlive >= self.max_concurrent then self._limit_reached = true end
  end
  return s
end

function ConcurrencyLimiter:on_trial_result(trial_id, result)
  if self._live[trial_id] then call(self, "on_trial_result", nil, trial_id, result) end
end

function ConcurrencyLimiter:on_trial_complete(trial_id, result, error)
  if not self._live[trial_id] then return end
  self._live[trial_id] = nil
  self._nlive = self._nlive - 1
  call(self, "on_trial_complete", nil, trial_id, result, error)
end

function ConcurrencyLimiter:add_evaluated_point(...)
  return call(self, "add_evaluated_point", nil, ...)
end

function ConcurrencyLimiter:save()
  local live = {}
  for id in pairs(self._live) do live[#live + 1] = id end
  table.sort(live)
  return {live = live, limit_reached = self._limit_reached, max_concurrent = self.max_concurrent, batch = self.batch,
    searcher = call(self, "save", nil)}
end

function ConcurrencyLimiter:restore(state)
  if type(state) ~= "table" then return end
  -- Its live trials count against the saved limit (Ray's set_state keeps it, and batch).
  if Searcher.keep_saved_option(self, "ConcurrencyLimiter", state, "max_concurrent",
      function(v) return math.type(v) == "integer" and v >= 1 end) then
    self:_ask_native()
  end
  Searcher.keep_saved_option(self, "ConcurrencyLimiter", state, "batch", function(v) return type(v) == "boolean" end)
  self._live, self._nlive = {}, 0
  for _, id in ipairs(state.live or {}) do
    self._live[id] = true
    self._nlive = self._nlive + 1
  end
  self._limit_reached = state.limit_reached or false
  if state.searcher ~= nil then call(self, "restore", nil, state.searcher) end
end

-- save(path) and restore(path), Ray's checkpoint files.
return Searcher.file_state(ConcurrencyLimiter)
