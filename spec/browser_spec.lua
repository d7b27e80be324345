-- The report and the live dashboard in a real browser: Debian's chromium,
-- headless, driven by puppeteer-core (spec/browser/, installed by .ci/deps
-- with npm ci). Counts curves and table rows against the experiment, checks
-- that the dashboard's curves grow while it runs and end equal to
-- result.json, that the page logs no errors, and that the server is
-- read-only and asks for its token when not on loopback.
local core = require("tune.core")
local support = require("spec.support")

local tunelua = os.getenv("TUNELUA_BIN") or "build/tunelua"
local node_dir = "spec/browser"
-- Node and chromium must not inherit the sanitizer runtime.
local NODE = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS node " .. node_dir .. "/check.mjs"
local shots = os.getenv("TUNE_SCREENSHOTS")   -- a directory: write the docs' screenshots there

local function check(mode, target, shot, select)
  local out = support.must(string.format("%s%s %s '%s'%s", select and ("CHECK_SELECT='" .. select .. "' ") or "",
    NODE, mode, target, shot and (" " .. shot) or ""))
  local line = out:match("(%b{})%s*$")
  local v = line and core.json_decode(line)
  assert(type(v) == "table", "check.mjs printed no result:\n" .. out)
  assert(v.fatal == nil, tostring(v.fatal))
  return v
end

--- trial_id -> list of `metric` values from each trial's result.json.
local function results(exp_dir, metric)
  local out, n = {}, 0
  for _, d in ipairs(core.listdir(exp_dir)) do
    local path = exp_dir .. "/" .. d .. "/result.json"
    if support.exists(path) then
      local values, id = {}, nil
      for _, line in ipairs(support.lines(path)) do
        local r = core.json_decode(line)
        id = r.trial_id
        values[#values + 1] = r[metric]
      end
      if id then out[id] = values n = n + 1 end
    end
  end
  return out, n
end

--- Starts report_exp.lua with a dashboard (`env` before the command, `args`
--- after --dashboard=0): the pipe of its output and the URL it printed.
local function start_dashboard(env, dir, args)
  local p = io.popen(string.format("%s TUNE_RESULT_DIR=%s %s --dashboard=0 %s spec/fixtures/report_exp.lua 2>&1",
    env, dir, tunelua, args or ""))
  for line in p:lines() do
    local url = line:match("^Dashboard: (http://%S+)")
    if url then return p, url end
  end
  p:close()
  error("tunelua printed no dashboard URL")
end

local function assert_curves_equal(page, exp_dir)
  local want, n = results(exp_dir, "loss")
  local got = 0
  for id, values in pairs(page.curve_values) do
    if #values > 0 then
      got = got + 1
      assert.same(want[id], values, "curve of " .. id)
    end
  end
  assert.equal(n, got, "curves with points")
end

describe("browser", function()
  setup(function()
    assert(support.exists(node_dir .. "/node_modules/puppeteer-core/package.json"),
      "puppeteer-core is not installed: run `npm ci --prefix spec/browser` (.ci/deps does)")
  end)

  it("shows the report: one row per trial, one curve per trial with results, equal to result.json", function()
    local dir = support.tmpdir("report")
    support.must(string.format("TUNE_RESULT_DIR=%s %s spec/fixtures/report_exp.lua", dir, tunelua))
    local exp_dir = dir .. "/report"
    local out = support.must(string.format("%s report %s", tunelua, exp_dir))
    assert.matches("Report: .*report%.html", out)
    local page = check("report", exp_dir .. "/report.html", shots and (shots .. "/report.png"))
    assert.is_true(page.done)
    assert.equal(6, page.trials)
    assert.equal(6, page.rows)
    assert.equal(6, page.curves)
    assert.equal(2, page.params)      -- lr and opt against the metric
    assert_curves_equal(page, exp_dir)
    assert.same({}, page.page_errors)
    assert.same({}, page.errors)
  end)

  it("shows every trial's point on its hyperparameter's chart, whatever the trials' order", function()
    local dir = support.tmpdir("report-params")
    local file = dir .. "/params.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("p", {backend = "sim", name = "params", verbose = 0, metric = "loss", mode = "min",
  config = {x = tune.grid_search({0.5, 0.1, 0.9, 0.3})},
  sim = {curve = function(c, it) if it <= 2 then return {loss = c.x / it} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    support.must(string.format("%s report %s", tunelua, dir .. "/params"))
    local page = check("report", dir .. "/params/report.html")
    assert.equal(1, #page.param_axes)
    local axis = page.param_axes[1]
    assert.equal(4, #axis.xs)
    for _, x in ipairs(axis.xs) do
      assert.is_true(axis.min <= x and x <= axis.max, string.format("x = %s outside the axis %s..%s", x, axis.min, axis.max))
    end
    assert.same({}, page.errors)
  end)

  it("draws one chart per hyperparameter, also for keys that differ only in punctuation", function()
    local dir = support.tmpdir("report-keys")
    local file = dir .. "/keys.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("p", {backend = "sim", name = "keys", verbose = 0, metric = "loss", mode = "min",
  config = {opt = {lr = tune.grid_search({0.1, 0.2})}, opt_lr = 7, ["opt.lr"] = 8},
  sim = {curve = function(c, it) if it <= 2 then return {loss = c.opt.lr / it} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    support.must(string.format("%s report %s", tunelua, dir .. "/keys"))
    local page = check("report", dir .. "/keys/report.html")
    -- opt/lr, opt_lr and opt.lr shared one chart (the last key's points).
    assert.equal(3, page.params)
    local xs = {}
    for _, axis in ipairs(page.param_axes) do
      table.sort(axis.xs)
      xs[#xs + 1] = table.concat(axis.xs, ",")
    end
    table.sort(xs)
    assert.same({"0.1,0.2", "7,7", "8,8"}, xs)
    assert.same({}, page.errors)
  end)

  it("offers result fields as metrics, not the config's, and picks a reported one without a metric", function()
    local dir = support.tmpdir("report-nometric")
    local file = dir .. "/nometric.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("p", {backend = "sim", name = "nometric", verbose = 0, num_samples = 3, seed = 1,
  config = {lr = tune.uniform(0.1, 1)},
  sim = {curve = function(c, it) if it <= 3 then return {loss = c.lr / it} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    support.must(string.format("%s report %s", tunelua, dir .. "/nometric"))
    local page = check("report", dir .. "/nometric/report.html")
    assert.equal("loss", page.metric)
    for _, o in ipairs(page.metric_options) do
      assert.is_nil(o:match("^config/"), o)
      assert.is_true(o ~= "pid" and o ~= "done" and o ~= "timestamp", o)
    end
    assert.same({}, page.errors)
  end)

  it("shows a report whose configs hold markup, NaN and infinities, and whose results hold NaN", function()
    local dir = support.tmpdir("report-odd")
    local file = dir .. "/odd.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("odd", {backend = "sim", name = "odd", verbose = 0, metric = "loss", mode = "min",
  config = {s = tune.grid_search({"<!--<script>", "</script><b>x</b>", "ok"}), v = tune.grid_search({0 / 0, 1, math.huge})},
  sim = {curve = function(c, it) if it <= 3 then return {loss = it, aux = 0 / 0} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    local exp_dir = dir .. "/odd"
    support.must(string.format("%s report %s", tunelua, exp_dir))
    assert.is_nil(core.read_file(exp_dir .. "/report.html"):match('<script id="tune%-data"[^>]*>[^\n]-<!%-%-'))
    local page = check("report", exp_dir .. "/report.html")
    assert.equal(9, page.trials)
    assert.equal(9, page.curves)
    assert_curves_equal(page, exp_dir)
    assert.same({}, page.page_errors)
    assert.same({}, page.errors)
  end)

  it("keeps a long config value from crowding out its chart and the table's metric column", function()
    local dir = support.tmpdir("report-long")
    local file = dir .. "/long.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("p", {backend = "sim", name = "long", verbose = 0, metric = "loss", mode = "min",
  config = {path = tune.grid_search({"/data/" .. string.rep("a", 300), "/data/b"}), x = 1},
  sim = {curve = function(c, it) if it <= 2 then return {loss = #c.path / it} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    support.must(string.format("%s report %s", tunelua, dir .. "/long"))
    local page = check("report", dir .. "/long/report.html")
    assert.equal(2, #page.param_axes)
    for _, axis in ipairs(page.param_axes) do
      -- The 306-character category name left the path chart no plot at all.
      assert.is_true(axis.plot_width > axis.width / 2,
        string.format("%s: a plot %s px wide in a chart of %s", axis.id, axis.plot_width, axis.width))
    end
    -- The table fits its box: the loss and iterations columns are in view.
    assert.is_true(page.table_width <= page.table_box_width,
      string.format("the table is %s px wide in a box of %s", page.table_width, page.table_box_width))
    assert.same({}, page.errors)
  end)

  it("draws the best so far of another metric than the experiment's the way the page is told", function()
    local dir = support.tmpdir("report-mode")
    local file = dir .. "/mode.lua"
    assert(core.write_atomic(file, [[
local tune = require("tune")
tune.run("p", {backend = "sim", name = "mode", verbose = 0, metric = "loss", mode = "min",
  config = {x = tune.grid_search({1, 2, 3})},
  sim = {curve = function(c, it) if it <= 2 then return {loss = c.x, acc = c.x / 10} end end}})
]]))
    support.must(string.format("%s --local-dir %s %s", tunelua, dir, file))
    support.must(string.format("%s report %s", tunelua, dir .. "/mode"))
    local html = dir .. "/mode/report.html"
    local page = check("report", html)
    assert.equal("min", page.mode)
    assert.same({1, 1, 1}, page.best)
    -- Accuracy, higher is better: its best so far was its lowest (the
    -- experiment's mode), with no way to say otherwise.
    page = check("report", html, nil, '{"metric": "acc", "mode": "max"}')
    assert.same({0.1, 0.2, 0.3}, page.best)
    -- Back to the experiment's metric: its mode again.
    page = check("report", html, nil, '{"mode": "max", "metric": "loss"}')
    assert.equal("min", page.mode)
    assert.same({1, 1, 1}, page.best)
    assert.same({}, page.errors)
  end)

  it("updates the live dashboard as results arrive and ends equal to result.json", function()
    local dir = support.tmpdir("dashboard")
    local p, url = start_dashboard("REPORT_WAIT=1 REPORT_SLEEP=0.1 REPORT_NAME=live", dir)
    -- Polling every 0.3 s (the page's default is 2 s) to see it grow.
    local page = check("dashboard", url .. "?poll=0.3", shots and (shots .. "/dashboard.png"))
    local rest = p:read("a")
    p:close()
    assert.is_true(page.done, rest)
    -- Seen growing: at least three different non-zero counts of points
    -- before the last one.
    local distinct, seen = 0, {}
    for _, n in ipairs(page.samples) do
      if n > 0 and not seen[n] then seen[n] = true distinct = distinct + 1 end
    end
    assert.is_true(distinct >= 3, "the curves did not grow while the experiment ran: "
      .. table.concat(page.samples, " "))
    assert.equal(6, page.trials)
    assert_curves_equal(page, dir .. "/live")
    assert.same({}, page.page_errors)
    assert.same({}, page.errors)
  end)

  it("polls no faster than asked for a poll interval past a browser timer's range", function()
    -- ?poll=3000000 (35 days): setTimeout fired at once and the page polled
    -- without pause.
    local server = assert(core.dashboard_start("127.0.0.1", 0, nil, support.tmpdir("dash-poll"),
      assert(require("tune.report").page(nil))))
    server:publish('{"name": "x", "done": false, "trials": []}')
    local url = string.format("http://127.0.0.1:%d/?poll=3000000", server:port())
    local ok, err = pcall(function()
      local s = support.must("CHECK_FOR_MS=2000 " .. NODE .. " dashboard '" .. url .. "'")
      assert.is_nil(s:find("fatal"), s)
    end)
    local n = server:requests()
    server:stop()
    assert(ok, err)
    assert.is_true(n <= 6, "requests in 2 s: " .. n)
  end)

  it("serves read-only, and with a token when bound beyond loopback", function()
    for _, host in ipairs{"127.0.0.1", "0.0.0.0"} do
      local dir = support.tmpdir("dash-http")
      local p, url = start_dashboard("REPORT_LINGER=0 REPORT_SLEEP=0.1", dir, "--dashboard-host=" .. host)
      local s = check("http", url)
      p:read("a")
      p:close()
      assert.equal(200, s.page)
      assert.equal(405, s.post)
      assert.equal(400, s.traversal)
      assert.equal(400, s.slash)
      assert.equal(404, s.missing)
      if host == "127.0.0.1" then
        assert.is_nil(url:find("token=", 1, true))
        assert.equal(200, s.no_token)
      else
        assert.matches("%?token=%x+$", url)
        assert.equal(403, s.no_token)
        assert.equal(403, s.wrong_token)
      end
    end
  end)
end)
