--- `tunelua report DIR [-o FILE]`: writes the experiment in DIR as one
--- self-contained HTML page (tune.report), by default DIR/report.html.
local report = require("tune.report")

local M = {}

M.USAGE = [[
usage: tunelua report DIR [-o FILE]

Writes one HTML file that opens from disk with no network: the trials as a
sortable table, every trial's learning curve, the best result so far
against trials, and each hyperparameter against the metric.

options:
  -o, --output FILE   where to write it (default: DIR/report.html)
  -h, --help          this text
  --                  the end of the options (a DIR whose name starts with -)
]]

local function fail(msg)
  io.stderr:write("tunelua report: ", msg, "\n")
  return 2
end

function M.main(args)
  local dir, out, ended -- after "--": a directory, even one whose name starts with "-"
  local i = 1
  while args[i] do
    local a = args[i]
    local o = not ended and a or "" -- the option it is, if any
    if o == "--" then ended = true
    elseif o == "-h" or o == "--help" then
      io.stdout:write(M.USAGE)
      return 0
    elseif o == "-o" or o == "--output" or o:match("^%-%-output=") then
      if a:sub(9, 9) == "=" then out = a:sub(10) else out, i = args[i + 1], i + 1 end
      if not out or out == "" then return fail(a:match("^[^=]*") .. " needs a file name") end
    elseif o:sub(1, 1) == "-" then
      return fail("unknown option " .. a .. "\n" .. M.USAGE)
    elseif dir then
      return fail("one experiment directory at a time (got " .. dir .. " and " .. a .. ")")
    else
      dir = a
    end
    i = i + 1
  end
  if not dir then
    io.stderr:write(M.USAGE)
    return 2
  end
  local path, r = report.write(dir, out)
  if not path then return fail(r) end
  -- On stderr when the page went to a fifo or a device (-o /dev/stdout):
  -- after the page, the line was part of it.
  local said = r and io.stderr or io.stdout
  said:write("Report: ", path, "\n")
  return 0
end

return M
