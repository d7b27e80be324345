--- A trainable's errors as the worker sends them (docs/protocol.md,
--- `error`): the message's first line, and a traceback of the trainable's
--- own frames. The worker's machinery (the request loop, the re-run of the
--- experiment file below it) and tunelua's library frames the trainable
--- called through (tune.report, say) are left out, as Ray's error.txt
--- shows the user's frames; the message is not repeated in the traceback.
local M = {}

--- The tunelua Lua tree this module was loaded from, as a chunk source
--- prefix ("@/src/lua/tune/" or, installed, "@tune/"): frames whose source
--- starts with it are the library's.
local LIB = debug.getinfo(1, "S").source:match("^(@.*)worker/[^/]*$")
--- The worker's request machinery: a traceback ends where it called the
--- trainable.
local MACHINERY = LIB and (LIB .. "worker/init.lua")

--- Levels shown at the top and at the bottom of a long traceback (as Lua's
--- own luaL_traceback).
local TOP, BOTTOM = 10, 11

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  if e.traceback == "" then return e.message end
  return e.message .. "\n" .. e.traceback
end

--- `s`, cut to what one protocol line holds with room to spare (JSON may
--- write a byte as six; TUNE_MAX_MESSAGE_BYTES, 16 MiB): an error of 20 MiB
--- failed its trial as "message longer than the limit", its own text lost.
local function cut(s)
  local limit = tonumber(os.getenv("TUNE_MAX_MESSAGE_BYTES") or "") or 16 * 1024 * 1024
  local max = math.max(256, math.min(1024 * 1024, limit // 16))
  if #s <= max then return s end
  return s:sub(1, max) .. string.format("... (%d more bytes)", #s - max)
end

--- A message for any error value: error(nil) and a table without
--- __tostring say what was raised instead of printing nothing or an address.
function M.message(err)
  if type(err) == "string" then return err end
  if err == nil then return "the trainable raised error(nil), an error without a message" end
  local mt = getmetatable(err)
  if mt == Error then return err.message end
  if type(err) == "table" and not (mt and mt.__tostring) then
    return "the trainable raised a table as its error (" .. tostring(err)
      .. ", no __tostring): raise error(\"message\") or give the table a __tostring"
  end
  return tostring(err)
end

local function function_name(info)
  if info.namewhat == "global" then return "function '" .. info.name .. "'" end
  if info.namewhat ~= "" then return info.namewhat .. " '" .. tostring(info.name) .. "'" end
  if info.what == "main" then return "main chunk" end
  if info.what ~= "C" then return string.format("function <%s:%d>", info.short_src, info.linedefined) end
  return "?"
end

local function frame_line(info)
  local line = info.currentline and info.currentline > 0 and (":" .. info.currentline) or ""
  return string.format("\t%s%s: in %s", info.short_src, line, function_name(info))
end

-- Frame `lv` of coroutine `co`, or of the running thread counted from
-- the caller of the function that calls this one.
local function frame(co, lv, what)
  if co then return debug.getinfo(co, lv, what) end
  return debug.getinfo(lv + 2, what)
end

-- The deepest level at or after `first`, counted as traceback counts
-- (lua_getstack costs the level it is asked: found by doubling and
-- halving, as luaL_traceback does).
local function last_level(co, first)
  local here = co and 0 or 1 -- this function's own frame, on the running thread
  local lo, hi = first, first + 1
  while frame(co, hi + here, "l") do lo, hi = hi, hi * 2 end
  while hi - lo > 1 do
    local mid = (lo + hi) // 2
    if frame(co, mid + here, "l") then lo = mid else hi = mid end
  end
  return lo
end

local function is_lib(info)
  return LIB ~= nil and info.source:sub(1, #LIB) == LIB
end

local function frame_text(info)
  local text = frame_line(info)
  if info.istailcall then text = text .. "\n\t(...tail calls...)" end
  return text
end

--- The trainable's frames of a stack, as "stack traceback:\n\t..." or ""
--- when none is the trainable's (an error the worker itself raised). `co`:
--- a coroutine (its frames from the top), or nil for the running one, from
--- `level` (1 = the caller of traceback).
function M.traceback(co, level)
  -- Levels here count from this function's caller (frame() adds its own).
  local first = co and 0 or level
  if not frame(co, first, "l") then return "" end
  local last = last_level(co, first)
  -- The worker's machinery is at the bottom of the running thread: the
  -- trainable's frames end above its topmost frame there.
  local cut = last + 1
  if not co and MACHINERY then
    for lv = last, math.max(first, last - 100), -1 do
      if frame(co, lv, "S").source == MACHINERY then cut = lv end
    end
  end
  local top, bottom, user, skipped = {}, {}, false, 0
  if cut - first <= 200 then
    local shown = {}
    for lv = first, cut - 1 do
      local info = frame(co, lv, "Slnt")
      if not is_lib(info) then
        shown[#shown + 1] = frame_text(info)
        if info.what ~= "C" then user = true end
      end
    end
    for i = 1, math.min(#shown, TOP) do top[i] = shown[i] end
    local from = math.max(TOP + 1, #shown - BOTTOM + 1)
    skipped = from - TOP - 1
    for i = from, #shown do bottom[#bottom + 1] = shown[i] end
  else
    -- A deep stack (a runaway recursion): its first and last frames.
    local lv = first
    while #top < TOP and lv < cut do
      local info = frame(co, lv, "Slnt")
      if not is_lib(info) then
        top[#top + 1] = frame_text(info)
        if info.what ~= "C" then user = true end
      end
      lv = lv + 1
    end
    local low = cut - 1
    while #bottom < BOTTOM and low >= lv do
      local info = frame(co, low, "Slnt")
      if not is_lib(info) then
        table.insert(bottom, 1, frame_text(info))
        if info.what ~= "C" then user = true end
      end
      low = low - 1
    end
    skipped = low - lv + 1
  end
  if not user then return "" end
  local out = {"stack traceback:"}
  for _, t in ipairs(top) do out[#out + 1] = t end
  if skipped > 0 then out[#out + 1] = string.format("\t...\t(skipping %d levels)", skipped) end
  for _, t in ipairs(bottom) do out[#out + 1] = t end
  -- The worker called the trainable through a tail call: no frame is left
  -- of it, only this mark.
  out[#out] = out[#out]:gsub("\n\t%(%.%.%.tail calls%.%.%.%)$", "")
  return table.concat(out, "\n")
end

--- An error with its traceback: what the worker sends.
function M.new(err, tb)
  return setmetatable({message = M.message(err), traceback = tb or ""}, Error)
end

--- xpcall's message handler: the error with the trainable's frames (an
--- error already made keeps its own).
function M.handler(err)
  if getmetatable(err) == Error then return err end
  -- Under pcall (a handler that raises loses the error): level 3 is what
  -- level 2 is here.
  local ok, tb = pcall(M.traceback, nil, 3)
  return M.new(err, ok and tb or debug.traceback("", 2):gsub("^\n", ""))
end

--- The error a coroutine (a function trainable) died of.
function M.of_coroutine(co, err)
  if getmetatable(err) == Error then return err end
  local ok, tb = pcall(M.traceback, co)
  return M.new(err, ok and tb or debug.traceback(co, ""):gsub("^\n", ""))
end

--- The `error` message's fields: the first line of the message, and the
--- rest of it followed by the traceback (error.txt shows the first line,
--- then this).
function M.parts(e)
  if getmetatable(e) ~= Error then e = M.new(e) end
  -- The protocol carries no NUL (C strings end there): shown as \0, as
  -- %q writes it, so the message still reaches the trial's error.
  local first, rest = e.message:gsub("\0", "\\0"):match("^([^\n]*)\n?(.*)$")
  if rest ~= "" and e.traceback ~= "" then return cut(first), cut(rest .. "\n" .. e.traceback) end
  return cut(first), cut(rest ~= "" and rest or e.traceback)
end

return M
