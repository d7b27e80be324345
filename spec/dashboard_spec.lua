-- The dashboard's server (engine/dashboard.c) without a browser: the tails
-- of result.json in complete lines, a big backlog sampled to at most `max`
-- lines with the first and last ones kept, bad arguments refused.
local core = require("tune.core")
local support = require("spec.support")

-- One GET with Python's urllib (no curl needed): status, headers, body.
local function get(url)
  local p = io.popen("env -u LD_PRELOAD /usr/bin/python3 -c '"
    .. "import json,sys,urllib.request,urllib.error\n"
    .. "try:\n r=urllib.request.urlopen(sys.argv[1]); b=r.read(); s=r.status; h=dict(r.headers)\n"
    .. "except urllib.error.HTTPError as e:\n b=e.read(); s=e.code; h=dict(e.headers)\n"
    .. "print(json.dumps({\"status\":s,\"headers\":h,\"body\":b.decode()}))' '" .. url .. "'")
  local out = p:read("a")
  p:close()
  return assert(core.json_decode(out), out)
end

describe("dashboard server", function()
  local dir, server, base, size
  setup(function()
    dir = support.tmpdir("dash")
    assert(core.mkdir_p(dir .. "/t"))
    local lines = {}
    local pad = string.rep("x", 60)   -- 5 MB in all: more than one answer's 4 MiB
    for i = 1, 50000 do lines[i] = string.format('{"training_iteration": %d, "loss": %.6f, "pad": "%s"}', i, 1 / i, pad) end
    local text = table.concat(lines, "\n") .. "\n" .. '{"training_iteration": 50001, "lo' -- a torn last line
    assert(core.write_atomic(dir .. "/t/result.json", text))
    size = #text - #'{"training_iteration": 50001, "lo'
    -- Results longer than the 4 KiB a sample reads around its line (a
    -- reported list): 400 of 7 KB, and two of 5 MB (longer than an answer).
    local long = {}
    for i = 1, 400 do long[i] = string.format('{"training_iteration": %d, "pad": "%s"}', i, string.rep("y", 7000)) end
    assert(core.mkdir_p(dir .. "/long"))
    assert(core.write_atomic(dir .. "/long/result.json", table.concat(long, "\n") .. "\n"))
    local huge = {}
    for i = 1, 2 do huge[i] = string.format('{"training_iteration": %d, "pad": "%s"}', i, string.rep("z", 5e6)) end
    assert(core.mkdir_p(dir .. "/huge"))
    assert(core.write_atomic(dir .. "/huge/result.json", table.concat(huge, "\n") .. "\n"))
    server = assert(core.dashboard_start("127.0.0.1", 0, nil, dir, "<html>page</html>"))
    base = string.format("http://127.0.0.1:%d/", server:port())
  end)
  teardown(function() if server then server:stop() end end)

  local function iterations(body)
    local its = {}
    for line in body:gmatch("[^\n]+") do
      its[#its + 1] = assert(core.json_decode(line), "not a complete line: " .. line).training_iteration
    end
    return its
  end

  it("samples a big backlog: at most max lines, in order, the first and the last kept", function()
    local r = get(base .. "api/results?dir=t&from=0&max=300")
    assert.equal(200, r.status)
    local its = iterations(r.body)
    assert.is_true(#its <= 300 and #its >= 250, "lines: " .. #its)
    assert.equal(1, its[1])
    assert.equal(50000, its[#its])
    for i = 2, #its do assert.is_true(its[i] > its[i - 1]) end
    assert.equal(tostring(size), r.headers["X-Tune-Next"])
    assert.is_true(math.abs(tonumber(r.headers["X-Tune-Lines"]) - 50000) < 5000)
  end)

  it("answers without max in complete lines and says where to go on", function()
    local r = get(base .. "api/results?dir=t&from=0")
    local its = iterations(r.body)
    assert.equal(1, its[1])
    assert.equal(#its, its[#its])
    local next = tonumber(r.headers["X-Tune-Next"])
    assert.equal(#r.body, next)
    local rest = get(base .. "api/results?dir=t&from=" .. next)
    local more = iterations(rest.body)
    assert.equal(its[#its] + 1, more[1])
    assert.equal(50000, more[#more])          -- the torn line is not served
    assert.equal(tostring(size), rest.headers["X-Tune-Next"])
  end)

  it("serves results longer than a sample's window: thinned in order, or one at a time", function()
    local r = get(base .. "api/results?dir=long&from=0&max=300")
    local its = iterations(r.body)
    assert.is_true(#its <= 300 and #its >= 250, "lines: " .. #its)
    assert.equal(1, its[1])
    assert.equal(400, its[#its])
    for _, max in ipairs({"&max=300", ""}) do
      local from, got = 0, {}
      for _ = 1, 3 do
        r = get(base .. "api/results?dir=huge&from=" .. from .. max)
        for _, it in ipairs(iterations(r.body)) do got[#got + 1] = it end
        from = tonumber(r.headers["X-Tune-Next"])
      end
      assert.same({1, 2}, got)
    end
  end)

  it("bounds max and refuses bad arguments", function()
    assert.equal(200, get(base .. "api/results?dir=t&from=0&max=999999999999999999").status)
    assert.equal(400, get(base .. "api/results?dir=t&from=-1").status)
    assert.equal(400, get(base .. "api/results?dir=t&from=0&max=x").status)
    assert.equal(400, get(base .. "api/results?dir=..&from=0").status)
    assert.equal(200, get(base .. "api/results?dir=absent&from=0").status)
    assert.equal("<html>page</html>", get(base).body)
    assert.equal(404, get(base .. "other").status)
  end)

  it("wakes a waiting driver on a request, and times out without one", function()
    local seen = server:wait(0)
    local t0 = core.now()
    assert.equal(seen, server:wait(seen, 0.2))
    assert.is_true(core.now() - t0 >= 0.19)
    -- A request from another process while the driver waits (up to 30 s).
    os.execute("(sleep 0.2; env -u LD_PRELOAD /usr/bin/python3 -c 'import urllib.request,sys; "
      .. "urllib.request.urlopen(sys.argv[1]).read()' " .. base .. ") >/dev/null 2>&1 &")
    t0 = core.now()
    assert.is_true(server:wait(seen, 30) > seen)
    assert.is_true(core.now() - t0 < 20)
  end)

  it("stops at once with more stalled clients than its connection limit", function()
    -- At the limit the server stopped polling its listen socket, whose
    -- shutdown was all that woke it: stop waited out the 30 s timeout.
    local busy = assert(core.dashboard_start("127.0.0.1", 0, nil, dir, "<html>page</html>"))
    local flag = dir .. "/stalled"
    os.execute(string.format("env -u LD_PRELOAD /usr/bin/python3 -c 'import socket,sys,time\n"
      .. "s=[socket.create_connection((\"127.0.0.1\",%d)) for i in range(80)]\n"
      .. "[c.send(b\"GET / HTTP/1.1\\r\\n\") for c in s]\nopen(sys.argv[1],\"w\").close()\n"
      .. "time.sleep(15)' %s >/dev/null 2>&1 &", busy:port(), flag))
    local t0 = core.now()
    while not core.stat(flag) and core.now() - t0 < 10 do os.execute("sleep 0.1") end
    assert.truthy(core.stat(flag), "the clients did not connect")
    os.execute("sleep 0.3")
    t0 = core.now()
    busy:stop()
    assert.is_true(core.now() - t0 < 5, "stop took " .. (core.now() - t0) .. " s")
  end)

  it("tells an open page from one closed since: the gap between polls a page announced", function()
    get(base .. "api/state?poll=2")
    local idle, gap = server:idle()
    assert.is_true(idle >= 0 and idle < 5, tostring(idle))
    assert.equal(2, gap)
    -- The end of a run lingered linger_s (20 s) for a page closed long ago.
    local dashboard = require("tune.dashboard")
    local function stub(i, g) return {idle = function() return i, g end} end
    assert.is_false(dashboard.page_open(stub(nil, nil)))   -- no request ever
    assert.is_false(dashboard.page_open(stub(76, 15)))     -- closed: past its gap and a minute
    assert.is_true(dashboard.page_open(stub(70, 15)))      -- a background tab's throttled timer
    assert.is_true(dashboard.page_open(stub(500, nil)))    -- a client that announced no gap
  end)

  it("serves what the driver published last", function()
    server:publish('{"trials":[1]}')
    assert.is_false(server:wanted())
    assert.equal('{"trials":[1]}', get(base .. "api/state").body)
    assert.is_true(server:wanted())
  end)
end)
