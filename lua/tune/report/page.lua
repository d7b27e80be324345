--- tune.report.page: the one HTML page of `tunelua report` and of the live
--- dashboard (internal). `%%CHARTJS%%` becomes Chart.js (from Debian's
--- libjs-chart.js, inlined at build time: tune.report.chartjs) and
--- `%%DATA%%` the experiment as JSON (a report) or `null` (the dashboard,
--- which polls /api/state and /api/results instead). The page sets
--- data-* attributes on <body> (trials, curves, points, done, errors) and
--- window.tuneReport for tests and scripts.
return [==[<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tunelua</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395d;color:#fff;padding:10px 18px}
header h1{font-size:18px;margin:0;display:inline}
header span{margin-left:14px;opacity:.85}
main{padding:12px 18px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
.card h2{font-size:14px;margin:0 0 6px}
.plot{position:relative;height:300px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e4e4e4;padding:4px 8px;text-align:left;white-space:nowrap}
td{max-width:24em;overflow:hidden;text-overflow:ellipsis}
th{cursor:pointer;background:#f0f2f5;position:sticky;top:0}
th.sorted-asc:after{content:" \25B2"}th.sorted-desc:after{content:" \25BC"}
.tablewrap{max-height:420px;overflow:auto;border:1px solid #ddd;border-radius:6px;margin-top:14px}
.TERMINATED{color:#2a7}.ERROR{color:#c33}.RUNNING{color:#27c}.PENDING,.PAUSED{color:#999}
label{margin-right:12px}
</style></head>
<body data-trials="0" data-curves="0" data-points="0" data-done="0" data-errors="0">
<header><h1 id="title">tunelua</h1><span id="summary"></span><span id="live"></span></header>
<main>
<div>
<label>metric <select id="metric"></select></label>
<label>best <select id="mode"><option>min</option><option>max</option></select></label>
<label>x axis <select id="xaxis"><option>training_iteration</option><option>time_total_s</option></select></label>
<label><input type="checkbox" id="logy"> log scale</label>
</div>
<div class="grid">
<div class="card"><h2>Learning curves</h2><div class="plot"><canvas id="curves"></canvas></div></div>
<div class="card"><h2>Best so far</h2><div class="plot"><canvas id="best"></canvas></div></div>
</div>
<div class="tablewrap"><table id="trials"><thead></thead><tbody></tbody></table></div>
<h2 style="font-size:14px;margin:16px 0 6px">Hyperparameters against the metric</h2>
<div class="grid" id="params"></div>
</main>
<script>%%CHARTJS%%</script>
<script id="tune-data" type="application/json">%%DATA%%</script>
<script>
(function () {
"use strict";
var body = document.body;
var report = window.tuneReport = {state: null, rows: {}, offsets: {}, thinned: {}, curves: {}, errors: []};
// The dashboard thins a fast trial's backlog to about this many points per
// poll (evenly spaced, the last one always kept; the server reads only
// those); the report has every point.
var MAX_LINES = 300, KEEP_POINTS = 2000;
// At most an hour: a timer past 2^31 ms fires at once (?poll=3000000 polled
// without pause).
var POLL_MS = Math.min(3600e3, Math.max(100, 1000 * (Number(new URLSearchParams(location.search).get("poll")) || 5)));
window.addEventListener("error", function (e) { report.errors.push(String(e.message)); body.dataset.errors = report.errors.length; });
// The experiment's JSON may hold NaN and Infinity (Python's json writes
// them, and so does tunelua): read as null, outside strings.
function parseJSON(text) {
  try { return JSON.parse(text); } catch (e) {
    return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|-?Infinity|NaN/g,
      function (m, str) { return str ? str : "null"; }));
  }
}
var embedded = parseJSON(document.getElementById("tune-data").textContent);
var token = new URLSearchParams(location.search).get("token");
var q = token ? "&token=" + encodeURIComponent(token) : "";
var COLORS = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
var charts = {}, paramIds = Object.create(null);
var sortKey = null, sortDir = 1;

function flatten(obj, prefix, out) {
  for (var k in obj) {
    var v = obj[k], key = prefix ? prefix + "/" + k : k;
    if (typeof v === "number") out[key] = v;
    else if (typeof v === "boolean") out[key] = v ? 1 : 0;
    else if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
  }
  return out;
}
function fmt(v) {
  if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
  return Number.isInteger(v) ? String(v) : v.toPrecision(5);
}
// A category's name on an axis, cut: a long one (a path, a list of layer
// sizes) took the chart's whole width and left no room for its points.
function shortLabel(s) { return s.length > 32 ? s.slice(0, 31) + "\u2026" : s; }
function metric() { return document.getElementById("metric").value || (report.state && report.state.metric); }
function xaxis() { return document.getElementById("xaxis").value; }
function yscale() { return document.getElementById("logy").checked ? "logarithmic" : "linear"; }
// Which way is better for the metric shown: the experiment's mode for its
// metric; for another metric (accuracy beside a loss) whatever "best" says.
function better(a, b) { return document.getElementById("mode").value === "max" ? a > b : a < b; }
function followMode() {
  var s = report.state;
  if (s && s.mode && metric() === s.metric) document.getElementById("mode").value = s.mode;
}
function lastValue(id, key) {
  var rows = report.rows[id] || [];
  for (var i = rows.length - 1; i >= 0; i--) if (typeof rows[i][key] === "number") return rows[i][key];
  return undefined;
}

function makeChart(id, type, extra) {
  var opts = {animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
    plugins: {legend: {display: false}, decimation: {enabled: true, algorithm: "lttb", samples: 400}},
    scales: {x: {type: "linear"}, y: {type: "linear"}}};
  for (var k in extra) opts[k] = extra[k];
  return new Chart(document.getElementById(id).getContext("2d"), {type: type, data: {datasets: []}, options: opts});
}

// Result fields that are no metric: the config's (flattened as config/...)
// and the bookkeeping ones; the automatic times and counts stay, after
// what the trainable reported when none is the experiment's metric.
var NOT_METRIC = {done: 1, pid: 1, timestamp: 1, trial_id: 1, experiment_id: 1, experiment_tag: 1, hostname: 1,
  node_ip: 1, date: 1};
var AUTO = {training_iteration: 1, time_total_s: 1, time_this_iter_s: 1, time_since_restore: 1,
  timesteps_since_restore: 1, iterations_since_restore: 1, timesteps_total: 1, episodes_total: 1};
function metricKeys() {
  var keys = {};
  for (var id in report.rows) report.rows[id].forEach(function (r) {
    for (var k in r) if (typeof r[k] === "number" && !NOT_METRIC[k] && k.indexOf("config/") !== 0) keys[k] = true;
  });
  return Object.keys(keys).sort();
}

function updateMetricSelect() {
  var sel = document.getElementById("metric"), keys = metricKeys();
  var cur = sel.value || (report.state && report.state.metric)
    || keys.filter(function (k) { return !AUTO[k]; })[0] || keys[0];
  if (sel.options.length === keys.length) return;
  sel.innerHTML = "";
  keys.forEach(function (k) { var o = document.createElement("option"); o.textContent = k; if (k === cur) o.selected = true; sel.appendChild(o); });
}

function renderCurves() {
  var m = metric(), x = xaxis(), ds = [], points = 0, curves = {}, sorted = true;
  report.state.trials.forEach(function (t, i) {
    var rows = report.rows[t.id] || [], data = [];
    rows.forEach(function (r) {
      if (typeof r[m] !== "number" || typeof r[x] !== "number") return;
      if (data.length && r[x] < data[data.length - 1].x) sorted = false;
      data.push({x: r[x], y: r[m]});
    });
    curves[t.id] = data;
    points += data.length;
    if (data.length) ds.push({label: t.name, data: data, borderColor: COLORS[i % COLORS.length], borderWidth: 1.2,
      pointRadius: data.length > 1 ? 0 : 3, fill: false});
  });
  report.curves = curves;
  // Chart.js takes a normalized dataset's x range from its first and last
  // points: only curves whose x never goes back (a retry's iterations do).
  charts.curves.options.normalized = sorted;
  charts.curves.data.datasets = ds;
  charts.curves.options.scales.x.title = {display: true, text: x};
  charts.curves.options.scales.y = {type: yscale(), title: {display: true, text: m}};
  charts.curves.update("none");
  body.dataset.curves = ds.length;
  body.dataset.points = points;
}

function renderBest() {
  var m = metric(), best, pts = [], line = [];
  report.state.trials.forEach(function (t, i) {
    var v = lastValue(t.id, m);
    if (typeof v !== "number" || isNaN(v)) return;
    pts.push({x: i + 1, y: v});
    if (best === undefined || better(v, best)) best = v;
    line.push({x: i + 1, y: best});
  });
  charts.best.data.datasets = [
    {type: "scatter", label: "trial", data: pts, backgroundColor: "#9bb3d6", pointRadius: 3},
    {type: "line", label: "best so far", data: line, borderColor: "#e15759", stepped: true, pointRadius: 0, borderWidth: 2}];
  charts.best.options.scales.x = {type: "linear", ticks: {precision: 0}, title: {display: true, text: "trial"}};
  charts.best.options.scales.y = {type: yscale(), title: {display: true, text: m}};
  charts.best.update("none");
}

function renderParams() {
  var m = metric(), keys = {}, box = document.getElementById("params");
  report.state.trials.forEach(function (t) { for (var k in t.config) keys[k] = true; });
  Object.keys(keys).sort().forEach(function (k) {
    var cats = [], data = [];
    report.state.trials.forEach(function (t) {
      var c = t.config[k], v = lastValue(t.id, m);
      if (c === undefined || typeof v !== "number") return;
      if (typeof c !== "number") { if (cats.indexOf(String(c)) < 0) cats.push(String(c)); c = cats.indexOf(String(c)); }
      data.push({x: c, y: v});
    });
    // In the order of x: the charts are normalized (makeChart).
    data.sort(function (a, b) { return a.x - b.x; });
    // One chart per key: "a/b" and "a_b" are two (their ids are numbered).
    var id = paramIds[k] || (paramIds[k] = "param-" + Object.keys(paramIds).length + "-" + k.replace(/[^A-Za-z0-9_-]/g, "_"));
    if (!charts[id]) {
      var card = document.createElement("div");
      card.className = "card";
      card.innerHTML = "<h2></h2><div class=\"plot\"><canvas></canvas></div>";
      card.querySelector("h2").textContent = k;
      card.querySelector("canvas").id = id;
      box.appendChild(card);
      charts[id] = makeChart(id, "scatter", {});
    }
    var ch = charts[id];
    ch.data.datasets = [{label: k, data: data, backgroundColor: "#4e79a7", pointRadius: 3}];
    var xs = data.map(function (p) { return p.x; }), lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
    ch.options.scales.x = {type: !cats.length && lo > 0 && hi / lo >= 100 ? "logarithmic" : "linear", title: {display: true, text: k}};
    ch.options.scales.y = {type: yscale(), title: {display: true, text: m}};
    if (cats.length) {
      ch.options.scales.x.min = -0.5;
      ch.options.scales.x.max = cats.length - 0.5;
      ch.options.scales.x.afterBuildTicks = function (axis) { axis.ticks = cats.map(function (_, i) { return {value: i}; }); };
      ch.options.scales.x.ticks = {callback: function (v) { return cats[v] !== undefined ? shortLabel(cats[v]) : ""; }};
    }
    ch.update("none");
  });
}

function renderTable() {
  var m = metric(), keys = {}, thead = document.querySelector("#trials thead"), tbody = document.querySelector("#trials tbody");
  report.state.trials.forEach(function (t) { for (var k in t.config) keys[k] = true; });
  var cols = ["trial", "status"].concat(Object.keys(keys).sort(), [m, "iterations"]);
  var rows = report.state.trials.map(function (t) {
    var cells = [t.name, t.status];
    Object.keys(keys).sort().forEach(function (k) { cells.push(t.config[k]); });
    var it = lastValue(t.id, "training_iteration");
    cells.push(lastValue(t.id, m), it !== undefined ? it : (report.rows[t.id] || []).length);
    return cells;
  });
  if (sortKey !== null) rows.sort(function (a, b) {
    var x = a[sortKey], y = b[sortKey];
    if (x === undefined) return 1; if (y === undefined) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
  });
  thead.innerHTML = "";
  var tr = document.createElement("tr");
  cols.forEach(function (c, i) {
    var th = document.createElement("th");
    th.textContent = c;
    if (i === sortKey) th.className = sortDir > 0 ? "sorted-asc" : "sorted-desc";
    th.onclick = function () { sortDir = sortKey === i ? -sortDir : 1; sortKey = i; renderTable(); };
    tr.appendChild(th);
  });
  thead.appendChild(tr);
  tbody.innerHTML = "";
  rows.forEach(function (cells) {
    var r = document.createElement("tr");
    cells.forEach(function (c, i) {
      var td = document.createElement("td");
      // A long value is cut to the column's width (the metric stays in view):
      // whole in its tooltip.
      td.textContent = td.title = fmt(c);
      if (i === 1) td.className = c;
      r.appendChild(td);
    });
    tbody.appendChild(r);
  });
  body.dataset.trials = rows.length;
}

// full = false (a live poll that only brought results): the learning
// curves are redrawn, the table and the other charts every fifth time.
var polls = 0, modeSet = false;
function render(full) {
  var s = report.state;
  document.getElementById("title").textContent = s.name || "tunelua";
  var counts = {};
  s.trials.forEach(function (t) { counts[t.status] = (counts[t.status] || 0) + 1; });
  document.getElementById("summary").textContent = s.trials.length + " trials (" +
    Object.keys(counts).sort().map(function (k) { return counts[k] + " " + k; }).join(", ") + ")" +
    (s.metric ? " \u2014 " + s.mode + " " + s.metric : "");
  updateMetricSelect();
  if (!modeSet && s.mode) { followMode(); modeSet = true; }
  renderCurves();
  if (full !== false || ++polls % 5 === 0) { renderTable(); renderBest(); renderParams(); }
}

function parseLines(text) {
  var out = [];
  text.split("\n").forEach(function (l) { if (l) { try { out.push(flatten(parseJSON(l), "", {})); } catch (e) {} } });
  return out;
}

async function poll() {
  var changed = false;
  // poll=: the longest gap to the next poll (the server's linger at the
  // end tells an open page from a closed one by it).
  var r = await fetch("api/state?poll=" + 3 * POLL_MS / 1000 + q);
  if (!r.ok) throw new Error("api/state: HTTP " + r.status);
  var s = parseJSON(await r.text());
  if (!s.trials) return false;
  var before = report.state ? JSON.stringify(report.state.trials.map(function (t) { return t.status; })) : "";
  var statusChanged = before !== JSON.stringify(s.trials.map(function (t) { return t.status; }));
  if (statusChanged) changed = true;
  var finished = {TERMINATED: 1, ERROR: 1};
  for (var i = 0; i < s.trials.length; i++) {
    var t = s.trials[i];
    if (!t.dir || report.offsets[t.id] === "done") continue;
    // One request per trial and poll while it runs (a busy trial's backlog
    // is caught up over the next polls); everything once it has ended.
    for (;;) {
      var from = report.offsets[t.id] || 0;
      var res = await fetch("api/results?dir=" + encodeURIComponent(t.dir) + "&from=" + from + "&max=" + MAX_LINES + q);
      if (!res.ok) throw new Error("api/results: HTTP " + res.status);
      var next = Number(res.headers.get("X-Tune-Next"));
      var rows = parseLines(await res.text());
      if (rows.length) changed = true;
      var have = report.rows[t.id] || (report.rows[t.id] = []);
      for (var k = 0; k < rows.length; k++) have.push(rows[k]);
      if (report.thinned[t.id] || Number(res.headers.get("X-Tune-Lines")) > rows.length) report.thinned[t.id] = true;
      // A thinned curve keeps at most KEEP_POINTS: every other older point
      // goes when it grows past that (the newest always stays).
      if (report.thinned[t.id] && have.length > KEEP_POINTS) {
        var kept = [];
        for (var k2 = 0; k2 < have.length - 1; k2 += 2) kept.push(have[k2]);
        kept.push(have[have.length - 1]);
        report.rows[t.id] = have = kept;
      }
      report.offsets[t.id] = next;
      if (next === from || rows.length === 0 || !(s.done || finished[t.status])) break;
    }
    if (s.done && finished[t.status]) report.offsets[t.id] = "done";
  }
  report.state = s;
  if (changed || s.done) render(statusChanged || s.done);
  return s.done;
}

charts.curves = makeChart("curves", "line", {});
charts.best = makeChart("best", "scatter", {});
["metric", "mode", "xaxis", "logy"].forEach(function (id) {
  document.getElementById(id).onchange = function () { if (id === "metric") followMode(); render(); };
});

if (embedded) {
  report.state = embedded.state;
  report.rows = embedded.rows;
  render();
  body.dataset.done = 1;
} else {
  document.getElementById("live").textContent = "live";
  // Polls every POLL_MS (5 s; ?poll=SECONDS in the URL changes it), less
  // often when a poll itself takes long (a big backlog): the page stays a
  // small load beside the experiment.
  // The first poll finds the state published before any page asked (the
  // server publishes again once asked, within a quarter second): the
  // second comes after half a second, not a whole interval.
  var first = true;
  var tick = async function () {
    var done = false, t0 = performance.now();
    try { done = await poll(); } catch (e) { report.errors.push(String(e)); body.dataset.errors = report.errors.length; }
    if (done) { document.getElementById("live").textContent = "finished"; body.dataset.done = 1; }
    else setTimeout(tick, first ? Math.min(POLL_MS, 500)
      : Math.max(POLL_MS, Math.min(3 * POLL_MS, 5 * (performance.now() - t0))));
    first = false;
  };
  tick();
}
})();
</script>
</body></html>
]==]
