--- tune.reporter.trial_info: trials as the status block shows them (internal):
--- name, location, grouping and display order by status, sorting by a
--- metric, and Ray's fair filter when there are more trials than rows.
local values = require("tune.reporter.values")

local is_missing, lookup, text = values.is_missing, values.lookup, values.text

local STATE_ORDER = {"RUNNING", "PAUSED", "PENDING", "TERMINATED", "ERROR"}

local function trial_name(t)
  local mt = getmetatable(t)
  if mt and mt.__tostring then return tostring(t) end
  return tostring(t.trial_id)
end

local function last_result(t) return type(t.last_result) == "table" and t.last_result or {} end

local function location(t)
  local r = last_result(t)
  local host, pid = r.node_ip or r.hostname, r.pid
  if is_missing(pid) then return "" end
  if is_missing(host) then return "pid=" .. text(pid) end
  return text(host) .. ":" .. text(pid)
end

local function by_state(trials)
  local groups, states = {}, {}
  for _, t in ipairs(trials) do
    local s = t.status
    local g = groups[s]
    if not g then
      g = {}
      groups[s] = g
      states[#states + 1] = s
    end
    g[#g + 1] = t
  end
  table.sort(states)
  return groups, states
end

-- Display order: Ray's, then any other status alphabetically.
local function display_order(states)
  local known, order = {}, {}
  for _, s in ipairs(STATE_ORDER) do known[s] = true; order[#order + 1] = s end
  for _, s in ipairs(states) do if not known[s] then order[#order + 1] = s end end
  return order
end

local function metric_number(t, metric)
  local v = lookup(last_result(t), metric)
  if type(v) ~= "number" or v ~= v then return nil end
  return v
end

local function sort_by(list, metric, mode)
  local idx = {}
  for i, t in ipairs(list) do idx[t] = i end
  table.sort(list, function(a, b)
    local va, vb = metric_number(a, metric), metric_number(b, metric)
    if va == nil or vb == nil or va == vb then
      if (va == nil) ~= (vb == nil) then return vb == nil end
      return idx[a] < idx[b]
    end
    if mode == "max" then return va > vb end
    return va < vb
  end)
end

--- The k trials of `list` with the smallest ids, in id order: what sorting
--- the whole list by id and taking the first k gives, in one pass that
--- keeps a sorted array of k (a periodic report over 10,000 trials shows
--- about 20 of them).
local function smallest_ids(list, k)
  local out, ids = {}, {}
  if k <= 0 then return out end
  for _, t in ipairs(list) do
    local id = t.trial_id
    if type(id) ~= "string" then id = tostring(id) end
    local n = #out
    if n < k or id < ids[n] then
      local i = n < k and n + 1 or n
      while i > 1 and id < ids[i - 1] do
        out[i], ids[i] = out[i - 1], ids[i - 1]
        i = i - 1
      end
      out[i], ids[i] = t, id
    end
  end
  return out
end

--- Ray's _fair_filter_trials, within max_rows: rows go round-robin to the
--- statuses in display order; each status keeps its smallest trial ids
--- (its metric order for sorted TERMINATED trials). Ray's goes round the
--- statuses alphabetically and ends its last round past max_rows (up to
--- one row more per status).
local function fair_filter(groups, order, max_rows, keep_terminated_order)
  local n, left, changed = {}, max_rows, true
  while left > 0 and changed do
    changed = false
    for _, s in ipairs(order) do
      if left > 0 and groups[s] and (n[s] or 0) < #groups[s] then
        n[s] = (n[s] or 0) + 1
        left = left - 1
        changed = true
      end
    end
  end
  local kept = {}
  for s, list in pairs(groups) do
    if s == "TERMINATED" and keep_terminated_order then
      kept[s] = table.move(list, 1, n[s] or 0, 1, {})
    else
      kept[s] = smallest_ids(list, n[s] or 0)
    end
  end
  return kept
end

return {
  trial_name = trial_name, last_result = last_result, location = location, by_state = by_state,
  display_order = display_order, metric_number = metric_number, sort_by = sort_by, fair_filter = fair_filter,
}
