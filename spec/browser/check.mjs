// Opens a tunelua page in Debian's chromium (headless) and prints what it
// shows as one JSON line, for spec/browser_spec.lua:
//   node check.mjs report FILE [SCREENSHOT]
//   node check.mjs dashboard URL [SCREENSHOT]   (samples the page as the
//        experiment runs, until the page says it is finished)
//   node check.mjs open URL                     (the dashboard open until
//        the experiment ends, not sampled: the benchmark's browser)
//   node check.mjs http URL                     (status codes of requests
//        the read-only, token-checking server must refuse or serve)
import puppeteer from "puppeteer-core";

const [mode, target, shot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

async function httpChecks(url) {
  const u = new URL(url);
  const base = u.origin + "/";
  const token = u.searchParams.get("token");
  const status = async (path, init) => (await fetch(base + path, init)).status;
  const t = token ? "token=" + token : "";
  return {
    page: await status("?" + t),
    no_token: await status(""),
    wrong_token: await status("?token=0123"),
    post: await status("?" + t, {method: "POST", body: "x"}),
    traversal: await status("api/results?dir=..&from=0&" + t),
    slash: await status("api/results?dir=a%2F..%2F..&from=0&" + t),
    missing: await status("nope?" + t),
  };
}

async function main() {
  if (mode === "http") {
    console.log(JSON.stringify(await httpChecks(target)));
    return;
  }
  const browser = await puppeteer.launch({
    executablePath, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1300, height: 1250});
    page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
    page.on("requestfailed", (r) => errors.push("requestfailed: " + r.url()));
    const url = mode === "report" ? "file://" + target : target;
    await page.goto(url, {waitUntil: "load"});
    const samples = [];
    // CHECK_FOR_MS=N: N ms open, then one sample, whether or not the page is done.
    const sampleFor = Number(process.env.CHECK_FOR_MS || 0);
    if (sampleFor) await new Promise((r) => setTimeout(r, sampleFor));
    const deadline = sampleFor ? 0 : Date.now() + 120000;
    if (mode === "open") {
      // As a user's open page: nothing polls it from outside until it is done.
      await page.waitForSelector('body[data-done="1"]', {timeout: 600000});
    }
    for (;;) {
      const s = await page.evaluate(() => ({
        done: document.body.dataset.done === "1",
        points: Number(document.body.dataset.points),
        curves: Number(document.body.dataset.curves),
      }));
      samples.push(s.points);
      if (s.done || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // CHECK_SELECT='{"metric": "acc", "mode": "max"}': choose these in the
    // page's selects first, as a user would.
    const choices = JSON.parse(process.env.CHECK_SELECT || "{}");
    for (const [id, value] of Object.entries(choices)) {
      await page.select("#" + id, value);
    }
    const out = await page.evaluate(() => ({
      done: document.body.dataset.done === "1",
      trials: Number(document.body.dataset.trials),
      curves: Number(document.body.dataset.curves),
      points: Number(document.body.dataset.points),
      page_errors: window.tuneReport.errors,
      rows: document.querySelectorAll("#trials tbody tr").length,
      params: document.querySelectorAll("#params canvas").length,
      curve_values: Object.fromEntries(Object.entries(window.tuneReport.curves)
        .map(([id, pts]) => [id, pts.map((p) => p.y)])),
      names: window.tuneReport.state.trials.map((t) => t.id),
      metric: document.getElementById("metric").value,
      mode: document.getElementById("mode").value,
      // The best-so-far line's values, in trial order.
      best: Object.values(Chart.instances).filter((c) => c.canvas.id === "best")
        .map((c) => c.data.datasets[1].data.map((p) => p.y))[0],
      metric_options: Array.from(document.getElementById("metric").options).map((o) => o.textContent),
      // Each hyperparameter chart: its x axis and the x of its points.
      param_axes: Object.values(Chart.instances).filter((c) => c.canvas.id.startsWith("param-"))
        .map((c) => ({id: c.canvas.id, min: c.scales.x.min, max: c.scales.x.max,
          xs: c.data.datasets[0] ? c.data.datasets[0].data.map((p) => p.x) : [],
          plot_width: c.chartArea.width, width: c.width})),
      // The trial table's width, and that of the box it scrolls in.
      table_width: document.getElementById("trials").scrollWidth,
      table_box_width: document.querySelector(".tablewrap").clientWidth,
    }));
    out.samples = samples;
    out.errors = errors;
    if (shot) await page.screenshot({path: shot});
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.log(JSON.stringify({fatal: String(e && e.stack || e)})); process.exit(1); });
