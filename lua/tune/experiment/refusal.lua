--- A refusal: tune.run's input is wrong. Raised where it is found (option
--- checking, assembling the experiment, a class's resources asked for
--- while the loop runs), it passes the plug-in adapter unwrapped and
--- reaches the user as one message at their line, without a traceback.
local M = {}

local Refusal = {}
Refusal.__tostring = function(r) return r.msg end

--- Raises a refusal: tune.run reports `msg` at the user's line.
function M.refuse(msg)
  error(setmetatable({msg = msg}, Refusal), 0)
end

--- The message of a refusal, or nil for any other error.
function M.message(err)
  if type(err) == "table" and getmetatable(err) == Refusal then return err.msg end
  return nil
end

return M
