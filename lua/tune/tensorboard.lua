--- tune.TBXLoggerCallback: TensorBoard event files, as Ray's
--- TBXLoggerCallback writes them (opt-in: add it to tune.run's callbacks;
--- the default loggers stay JSON + CSV). Each trial directory gets
--- events.out.tfevents.<time>.<host>: TFRecord framing (length, masked
--- CRC32C of the length, an Event, masked CRC32C of the Event), a first
--- Event with file_version "brain.Event:2", then one Event per result with
--- step = timesteps_total (when not 0) or training_iteration and a Summary
--- of every numeric field but NaN as
--- "ray/tune/<key>" (nested keys joined by "/"), value as a float32
--- simple_value. Field numbers follow TensorBoard's event.proto and
--- summary.proto. See docs/guide/output.md, "TensorBoard".
local callback = require("tune.experiment.callback")
local core = require("tune.core")
local util = require("tune.util")

local M = {}

-- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ---------------------

local CRC_TABLE = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = (c >> 1) ~ 0x82F63B78 else c = c >> 1 end
  end
  CRC_TABLE[i] = c
end

function M.crc32c(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = CRC_TABLE[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8)
  end
  return c ~ 0xFFFFFFFF
end

--- TFRecord's masked CRC: rotate right by 15, add a constant.
function M.masked_crc(s)
  local c = M.crc32c(s)
  return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
end

--- One TFRecord: length, its masked CRC, the data, the data's masked CRC.
function M.record(data)
  local len = string.pack("<I8", #data)
  return len .. string.pack("<I4", M.masked_crc(len)) .. data .. string.pack("<I4", M.masked_crc(data))
end

-- Protocol buffers, the few wire types an Event needs ------------------------

local function varint(n)
  local out = {}
  repeat
    local b = n & 0x7F
    n = n >> 7             -- logical shift: negative int64 takes 10 bytes
    out[#out + 1] = string.char(n ~= 0 and (b | 0x80) or b)
  until n == 0
  return table.concat(out)
end

local function key(field, wire) return varint((field << 3) | wire) end
local function bytes_field(field, s) return key(field, 2) .. varint(#s) .. s end

--- Summary.Value {tag = 1, simple_value = 2}
local function summary_value(tag, v)
  return bytes_field(1, bytes_field(1, tag) .. key(2, 5) .. string.pack("<f", v))
end

--- Event {wall_time = 1 (double), step = 2 (int64), file_version = 3,
--- summary = 5 (Summary {value = 1, repeated})}
function M.event(wall_time, step, values, file_version)
  local parts = {key(1, 1), string.pack("<d", wall_time)}
  if step then parts[#parts + 1] = key(2, 0) .. varint(math.tointeger(step) or 0) end
  if file_version then parts[#parts + 1] = bytes_field(3, file_version) end
  if values then
    local summary = {}
    for i, kv in ipairs(values) do summary[i] = summary_value(kv[1], kv[2]) end
    parts[#parts + 1] = bytes_field(5, table.concat(summary))
  end
  return table.concat(parts)
end

-- The callback ---------------------------------------------------------------

-- Not logged, as in Ray: these keys, and values that are not numbers.
local SKIP = {config = true, pid = true, timestamp = true, time_total_s = true, training_iteration = true}

local TBX = callback.LoggerCallback:extend({_reads_result = true}, "TBXLoggerCallback")
M.TBXLoggerCallback = TBX

function TBX:__init(...)
  callback.no_arguments("TBXLoggerCallback", ...)
  self._files = {}   -- trial -> open file
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("l") or "localhost"
  if f then f:close() end
  return h
end

function TBX:_file(trial)
  local f = self._files[trial]
  if f then return f end
  local dir = trial.logdir
  if type(dir) ~= "string" then return nil end
  local path = string.format("%s/events.out.tfevents.%d.%s", dir, math.floor(core.time()), hostname())
  local err
  f, err = io.open(path, "ab")
  if not f then
    io.stderr:write("tunelua warning: TBXLoggerCallback: cannot open ", tostring(path), ": ", tostring(err), "\n")
    self._files[trial] = false
    return nil
  end
  f:write(M.record(M.event(core.time(), 0, nil, "brain.Event:2")))
  self._files[trial] = f
  return f
end

--- The numeric fields of a result, as sorted {tag, value} pairs.
function M.values(result)
  local out = {}
  for k, v in pairs(util.flatten(result, "/")) do
    local top = k:match("^[^/]+")
    -- NaN is left out, as Ray's `not np.isnan(value)`.
    if not SKIP[top] and (type(v) == "number" and v == v or type(v) == "boolean") then
      if type(v) == "boolean" then v = v and 1 or 0 end
      out[#out + 1] = {"ray/tune/" .. k, v}
    end
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

function TBX:on_trial_result(_, _, trial, result)
  local f = self:_file(trial)
  if not f then return end
  -- Ray's step: timesteps_total when the result has one (not 0), else
  -- training_iteration.
  local step = result.timesteps_total
  if type(step) ~= "number" or step == 0 or step ~= step then step = result.training_iteration end
  local ok, err = f:write(M.record(M.event(core.time(), type(step) == "number" and step or 0, M.values(result))))
  if ok then ok, err = f:flush() end
  if not ok then io.stderr:write("tunelua warning: TBXLoggerCallback: ", tostring(err), "\n") end
end

function TBX:_close(trial)
  local f = self._files[trial]
  if f then f:close() end
  self._files[trial] = nil
end

function TBX:on_trial_complete(_, _, trial) self:_close(trial) end
function TBX:on_trial_error(_, _, trial) self:_close(trial) end
function TBX:on_experiment_end()
  for trial in pairs(self._files) do self:_close(trial) end
end

return M
