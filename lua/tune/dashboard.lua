--- tune.dashboard: the live dashboard of a running experiment
--- (`tunelua --dashboard[=PORT]`, tune.run's `dashboard` option). The
--- server (engine/dashboard.c, libmicrohttpd) runs in its own thread and
--- reads the trials' result.json files from disk; the driver only
--- publishes the trial list, when a page asked for it since the last time
--- and at most every `publish_s` seconds, and once at the end. See
--- docs/guide/output.md, "Dashboard".
local callback = require("tune.experiment.callback")
local core = require("tune.core")
local report = require("tune.report")
local util = require("tune.util")

local M = {}

M.DEFAULT_PORT = 8265          -- Ray's dashboard port
M.DEFAULT_HOST = "127.0.0.1"

local LOOPBACK = {["127.0.0.1"] = true, localhost = true}

--- Whether `host` is an IPv4 address in dotted decimal (what the server
--- binds; a name or IPv6 is not).
function M.is_ipv4(host)
  local parts = {host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")}
  local ok = #parts == 4
  for _, p in ipairs(parts) do ok = ok and tonumber(p) <= 255 and not p:match("^0%d") end
  return ok
end

--- tune.run's `dashboard` option (true, a port, or {port=, host=,
--- linger_s=, publish_s=, wait_s=}) normalised; nil when off; raises a
--- message.
function M.check(v)
  if v == nil or v == false then return nil end
  if v == true then v = {} end
  if type(v) == "number" then v = {port = v} end
  if type(v) ~= "table" then
    error("dashboard must be true, a port number or a table {port=, host=, linger_s=, publish_s=, wait_s=}, got "
      .. type(v), 0)
  end
  for k in pairs(v) do
    if k ~= "port" and k ~= "host" and k ~= "linger_s" and k ~= "publish_s" and k ~= "wait_s" then
      error("dashboard: unknown field " .. tostring(k) .. " (port, host, linger_s, publish_s, wait_s)", 0)
    end
  end
  local port = v.port == nil and M.DEFAULT_PORT or type(v.port) == "number" and math.tointeger(v.port)
  if not port or port < 0 or port > 65535 then
    error("dashboard.port must be an integer 0-65535 (0: any free port), got " .. util.show_got(v.port), 0)
  end
  local host = v.host or M.DEFAULT_HOST
  if host == "localhost" then host = "127.0.0.1" end
  if type(host) ~= "string" or not M.is_ipv4(host) then
    error("dashboard.host must be an IPv4 address such as 0.0.0.0, got " .. util.show_got(host), 0)
  end
  for _, k in ipairs{"linger_s", "publish_s", "wait_s"} do
    -- NaN never ran out (a wait that spun forever); inf is no number of seconds.
    if v[k] ~= nil and (type(v[k]) ~= "number" or not (v[k] >= 0 and v[k] < math.huge)) then
      error("dashboard." .. k .. " must be a finite non-negative number of seconds, got " .. tostring(v[k]), 0)
    end
  end
  return {port = port, host = host, linger_s = v.linger_s or 20, publish_s = v.publish_s or 0.25,
    wait_s = v.wait_s or 0}
end

local Dashboard = callback.Callback:extend(nil, "DashboardCallback")
M.Dashboard = Dashboard

--- Starts serving `experiment_dir` (opts from M.check); nil, message when
--- it cannot (the port is taken, no libmicrohttpd, no Chart.js).
function M.start(opts, experiment_dir, info)
  local page, err = report.page(nil)
  if not page then return nil, err end
  local token
  if not LOOPBACK[opts.host] then
    token, err = core.random_token()
    if not token then return nil, err end
  end
  local server
  server, err = core.dashboard_start(opts.host, opts.port, token, experiment_dir, page)
  if not server then return nil, err end
  local self = Dashboard()
  self.server, self.opts, self.info, self.token = server, opts, info, token
  self.last = -math.huge
  self.url = string.format("http://%s:%d/%s", opts.host, server:port(), token and ("?token=" .. token) or "")
  self:publish({}, false)
  return self
end

function Dashboard:publish(trials, done)
  -- The server reads result.json from disk: the executor's grouped rows
  -- go there first (set by tune.run; an embedder may set it too).
  if self.flush_logs then self.flush_logs() end
  local info = self.info
  local json = core.json_encode(report.state(trials, {name = info.name, metric = info.metric, mode = info.mode,
    done = done}))
  if json then self.server:publish(json) end
  self.last = core.now()
end

--- Blocks until cond() holds, re-checking it whenever the server saw a
--- request, for at most `seconds`; whether it holds.
local function wait_until(server, cond, seconds)
  local deadline = core.now() + seconds
  local seen = server:wait(0)
  while not cond() do
    local left = deadline - core.now()
    if left <= 0 then return false end
    seen = server:wait(seen, left)
  end
  return true
end

function Dashboard:setup()
  -- With the event stream on stdout (--events -), the URL goes to stderr.
  local out = self.info.events_on_stdout and io.stderr or io.stdout
  out:write("Dashboard: ", self.url, "\n")
  out:flush()
  -- wait_s: the first trial starts once a page is open (or after wait_s).
  local server = self.server
  wait_until(server, function() return server:wanted() end, self.opts.wait_s)
end

function Dashboard:on_step_end(_, trials)
  if self.server:wanted() and core.now() - self.last >= self.opts.publish_s then self:publish(trials, false) end
end

--- Whether a page may still be open: a request came within the longest
--- gap between polls the page announced, plus a minute (a background
--- tab's timers run once a minute); any request at all when no page
--- announced one (a page of an older tunelua, a script).
function M.page_open(server)
  local idle, gap = server:idle()
  return idle ~= nil and (gap == nil or idle <= gap + 60)
end

--- The final state, then serving until an open page has read it and its
--- last results (no request for 0.3 s), for at most linger_s; at once
--- when no page is open (none ever connected, or the last one closed).
function Dashboard:on_experiment_end(trials)
  self:publish(trials, true)
  local server = self.server
  if M.page_open(server) then
    local deadline = core.now() + self.opts.linger_s
    if wait_until(server, function() return server:wanted() end, self.opts.linger_s) then
      local seen = server:wait(0)
      while core.now() < deadline do
        local now = server:wait(seen, math.min(0.3, deadline - core.now()))
        if now == seen then break end
        seen = now
      end
    end
  end
  self:stop()
end

function Dashboard:stop()
  if self.server then self.server:stop() end
  self.server = nil
end

return M
