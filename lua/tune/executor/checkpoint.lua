--- Checkpoints as trials track them (Ray's _TrackedCheckpoint) and the
--- per-trial bookkeeping of memory and persistent checkpoints.
local class = require("tune.class")
local core = require("tune.core")

local M = {}

M.CheckpointStorage = {MEMORY = "MEMORY", PERSISTENT = "PERSISTENT"}

--- Checkpoint{dir_or_data=, storage_mode=, metrics=}
local Checkpoint = class.class("Checkpoint")
local counter = 0

function Checkpoint:__init(opts)
  opts = opts or {}
  self.dir_or_data = opts.dir_or_data
  self.storage_mode = opts.storage_mode or M.CheckpointStorage.PERSISTENT
  self.metrics = opts.metrics or {}
  counter = counter + 1
  self.order = counter
end

function Checkpoint:__tostring()
  return string.format("Checkpoint(%s, %s)", self.storage_mode, tostring(self.dir_or_data))
end

M.Checkpoint = Checkpoint

--- Keeps a trial's newest memory checkpoint and its persistent ones.
--- With keep_checkpoints_num, only the best N persistent checkpoints by
--- checkpoint_score_attr ("min-" prefix ranks lower as better), and the
--- newest, are kept on disk.
local CheckpointManager = class.class("CheckpointManager")

-- The default ranking is the class's: a trial's manager (one per trial,
-- held for the run) holds only what differs, and takes 72 bytes less.
CheckpointManager.score_desc = true
CheckpointManager.score_attr = "training_iteration"

function CheckpointManager:__init(opts)
  opts = opts or {}
  self.keep_checkpoints_num = opts.keep_checkpoints_num
  local attr = opts.checkpoint_score_attr
  if attr ~= nil and attr ~= "training_iteration" then
    local desc = attr:sub(1, 4) ~= "min-"
    if not desc then self.score_desc = false end
    self.score_attr = desc and attr or attr:sub(5)
  end
  self.newest_memory = nil
  self.persistent = {}   -- in order of arrival
  self.on_delete = opts.on_delete
end

local function score(self, ckpt)
  local v = ckpt.metrics and require("tune.util").get_path(ckpt.metrics, self.score_attr)
  if type(v) == "boolean" then v = v and 1 or 0 end -- Python's bool is an int
  if type(v) ~= "number" or v ~= v then return nil end
  return self.score_desc and v or -v
end

--- Whether checkpoint a ranks above b (Ray's priority tuple): a score
--- above none, then the higher score, then the newer.
local function ranks_above(self, a, b)
  local sa, sb = score(self, a), score(self, b)
  if (sa == nil) ~= (sb == nil) then return sa ~= nil end
  if sa ~= nil and sa ~= sb then return sa > sb end
  return a.order > b.order
end

--- Warns once, naming trial `who`, of a checkpoint that keep_checkpoints_num
--- cannot rank: its result lacks checkpoint_score_attr or holds no number
--- there (Ray logs "Result dict has no key"). It ranks last.
local function warn_unscored(self, ckpt, who)
  if self.warned or not self.keep_checkpoints_num or score(self, ckpt) ~= nil then return end
  local v = require("tune.util").get_path(ckpt.metrics or {}, self.score_attr)
  if v ~= nil and v ~= v then return end -- NaN: a score, the worst (as Ray's)
  self.warned = true
  local keys = {}
  for k in pairs(ckpt.metrics or {}) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  io.stderr:write(string.format("tunelua warning: trial %s: checkpoint_score_attr %q is %s in the result its "
    .. "checkpoint %s was saved with (keys: %s): keep_checkpoints_num ranks such checkpoints last\n", who,
    self.score_attr, v == nil and "not" or "not a number", tostring(ckpt.dir_or_data):match("[^/]*$"),
    table.concat(keys, ", ")))
end

--- Registers a checkpoint; `who` (the trial's name) when it was just saved,
--- to warn of a score it lacks.
function CheckpointManager:on_checkpoint(ckpt, who)
  if ckpt.storage_mode == M.CheckpointStorage.MEMORY then
    self.newest_memory = ckpt
    return
  end
  -- The same directory saved again replaces the older record.
  for i, c in ipairs(self.persistent) do
    if c.dir_or_data == ckpt.dir_or_data then
      table.remove(self.persistent, i)
      break
    end
  end
  self.persistent[#self.persistent + 1] = ckpt
  if who then warn_unscored(self, ckpt, who) end
  local keep = self.keep_checkpoints_num
  if not keep or keep <= 0 or #self.persistent <= keep then return end
  -- Ray's _CheckpointManager: the best N stay, and so does the newest
  -- until a newer one arrives (a resume needs it): N + 1 at most.
  local ranked = table.move(self.persistent, 1, #self.persistent, 1, {})
  table.sort(ranked, function(a, b) return ranks_above(self, a, b) end)
  local kept = {[ckpt] = true}
  for i = 1, keep do kept[ranked[i]] = true end
  for i = #self.persistent, 1, -1 do
    local c = self.persistent[i]
    if not kept[c] then
      table.remove(self.persistent, i)
      if self.on_delete then self.on_delete(c) else core.remove_tree(c.dir_or_data) end
    end
  end
end

function CheckpointManager:newest_persistent()
  return self.persistent[#self.persistent]
end

function CheckpointManager:newest()
  local p, m = self:newest_persistent(), self.newest_memory
  if p and m then return (m.order > p.order) and m or p end
  return m or p
end

--- The best persistent checkpoint by the score attribute.
function CheckpointManager:best()
  local best, bs
  for _, c in ipairs(self.persistent) do
    local s = score(self, c)
    if s and (bs == nil or s > bs) then best, bs = c, s end
  end
  return best or self:newest_persistent()
end

M.CheckpointManager = CheckpointManager
return M
