// The portal's budgets (docs/BENCHMARKS.md, "Portal"), against a running stack at ATRIUM_URL
// (devstack/e2e/budgets_test.go starts one; `make portal-budgets` runs it):
// - a tenant loaded with the catalog's synthetic catalog (ATRIUM_SYNTH_DIR: the YAML files
//   services/catalog/cmd/synthcatalog writes, 10,000 entities by default);
// - catalog interactive time: navigation start to the first rows and the total on screen,
//   after a reload (the session restored from the cookie first: the worst case), 5 runs each
//   with the app in the HTTP cache (warm) and with the cache cleared (cold);
// - Lighthouse (the npm package, pinned) on the catalog and an entity page, desktop preset,
//   in Debian's Chromium, signed in and with the HTTP cache cleared: performance >= 90,
//   accessibility >= 95.
// Prints one JSON line with every figure ("budgets: {...}") and exits non-zero when a budget
// is missed (ATRIUM_BUDGETS_REPORT_ONLY=1: report only). With ATRIUM_BENCH_LOCK=<file> the
// measuring (not the sign-up and import before it) runs under `flock <file>`, and the load
// average when the lock is taken and released is among the figures.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";

const base = process.env.ATRIUM_URL;
if (!base) throw new Error("ATRIUM_URL is not set");
const synthDir = process.env.ATRIUM_SYNTH_DIR;
if (!synthDir) throw new Error("ATRIUM_SYNTH_DIR is not set (YAML from services/catalog/cmd/synthcatalog)");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const reportDir = process.env.ATRIUM_LIGHTHOUSE_REPORTS;
const runs = Number(process.env.ATRIUM_BUDGET_RUNS || 5);
const budgets = { performance: 90, accessibility: 95, interactiveMs: 1000 };

const slug = `lh${Date.now().toString(36)}`;
const email = `ann@${slug}.example.com`;
const password = "Correct horse 42";

function log(msg) {
  console.log(`[budgets] ${msg}`);
}

async function rpc(path, body, headers = {}) {
  const r = await fetch(`${base}/${path}`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${JSON.stringify(j).slice(0, 500)}`);
  return j;
}

// The tenant and its catalog.
const up = await rpc("atrium.tenancy.v1.TenantService/SignUp", { orgName: `Budgets ${slug}`, slug, adminEmail: email, adminPassword: password });
const auth = { Authorization: `Bearer ${up.accessToken}`, "Atrium-Tenant": slug };
const files = readdirSync(synthDir).filter((f) => /^entities-\d+\.yaml$/.test(f)).sort();
const t0 = Date.now();
let imported = 0;
for (const f of files) {
  const r = await rpc("atrium.catalog.v1.CatalogService/ApplyEntities", { yamlDocuments: [readFileSync(join(synthDir, f), "utf8")] }, auth);
  imported += r.results?.length ?? 0;
}
log(`imported ${imported} entities from ${files.length} files in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const refs = readFileSync(join(synthDir, "refs.txt"), "utf8").split("\n").filter((r) => r.startsWith("component:"));
const entityRef = refs[Math.floor(refs.length / 2)];
const [kind, rest] = entityRef.split(":");
const [namespace, name] = rest.split("/");
const entityPath = `#/catalog/entity/${kind}/${namespace}/${name}`;

// One Chromium, reached by Playwright (to sign in: the refresh cookie then lives in its
// profile) and by Lighthouse (which keeps storage, so each audited load restores the session
// as a returning member's would).
const profile = mkdtempSync(join(tmpdir(), "atrium-lh-"));
const chrome = spawn(
  executablePath,
  [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
const port = await new Promise((resolve, reject) => {
  let err = "";
  const timer = setTimeout(() => reject(new Error(`Chromium did not start: ${err}`)), 30000);
  chrome.stderr.on("data", (d) => {
    err += d;
    const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
    if (m) {
      clearTimeout(timer);
      resolve(Number(m[1]));
    }
  });
  chrome.on("exit", (code) => reject(new Error(`Chromium exited (${code}): ${err}`)));
});

// benchLock holds `flock path` (a child process keeps the lock until its stdin closes) and
// returns its release; without a path it does nothing.
async function benchLock(path) {
  if (!path) return () => {};
  const t = Date.now();
  const holder = spawn("flock", [path, "sh", "-c", "echo held; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise((resolve, reject) => {
    holder.stdout.on("data", (d) => String(d).includes("held") && resolve());
    holder.on("exit", (code) => reject(new Error(`flock ${path} exited (${code})`)));
  });
  log(`bench lock ${path} taken after ${((Date.now() - t) / 1000).toFixed(0)} s`);
  return () => holder.stdin.end();
}
const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// The raw baseline of the same run: a page of one paragraph and no script, served from
// loopback by this process, timed and audited as the portal's pages are; what this machine,
// its load and Chromium cost before any of the portal's work.
const blank = createServer((_, w) => {
  w.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache" });
  w.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Baseline</title></head><body><main><h1>Baseline</h1><p class="result-count">10,000 entities</p></main></body></html>');
});
await new Promise((resolve) => blank.listen(0, "127.0.0.1", resolve));
const blankUrl = `http://127.0.0.1:${blank.address().port}/`;

const figures = { entities: imported, entityRef, runs };
const release = await benchLock(process.env.ATRIUM_BENCH_LOCK);
figures.loadAtStart = loadAvg();
let failed = [];
try {
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  const context = browser.contexts()[0];
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/#/login`);
  await page.getByLabel("Organization", { exact: true }).fill(slug);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((u) => u.hash === "#/");
  const total = imported.toLocaleString("en-US");

  // Catalog interactive: a reload of the catalog, to the rows and the count on screen, timed
  // in the page (navigation start to the first animation frame showing both). "warm": the
  // HTTP cache holds the app from the previous load; "cold": the cache is cleared first (the
  // session cookie stays), so the app's scripts come over the wire again.
  const cdp = await context.newCDPSession(page);
  const shown = (want) => {
    const count = document.querySelector(".result-count")?.textContent ?? "";
    return document.querySelector("table.entities tbody tr") && count.startsWith(want) ? performance.now() : null;
  };
  // Warm and cold loads alternate, so neither gains from coming later (the server's caches).
  const times = { warm: [], cold: [] };
  for (let i = 0; i < runs + 1; i++) {
    for (const cache of ["warm", "cold"]) {
      await page.goto(`${base}/#/catalog?r=${i}`);
      await page.locator("table.entities tbody tr").first().waitFor({ timeout: 30000 });
      if (cache === "cold") await cdp.send("Network.clearBrowserCache");
      await page.reload({ waitUntil: "commit" });
      const ms = await (await page.waitForFunction(shown, `${total} entities`, { timeout: 30000 })).jsonValue();
      if (i > 0) times[cache].push(ms); // the first round warms the server's caches (Postgres)
    }
  }
  times.baseline = [];
  for (let i = 0; i < runs + 1; i++) {
    await page.goto(blankUrl);
    await page.reload({ waitUntil: "commit" });
    const ms = await (await page.waitForFunction(() => (document.querySelector(".result-count") ? performance.now() : null))).jsonValue();
    if (i > 0) times.baseline.push(ms);
  }
  for (const cache of ["warm", "cold", "baseline"]) {
    const t = times[cache].sort((a, b) => a - b);
    const f = { median: Math.round(t[Math.floor(t.length / 2)]), min: Math.round(t[0]), max: Math.round(t[t.length - 1]) };
    if (cache === "baseline") {
      figures.baselineInteractiveMs = f;
      log(`baseline page shown: ${JSON.stringify(f)}`);
      continue;
    }
    figures[`catalogInteractive${cache === "warm" ? "Warm" : "Cold"}Ms`] = f;
    log(`catalog interactive at ${total} entities, ${cache} HTTP cache: ${JSON.stringify(f)}`);
    if (f.median >= budgets.interactiveMs) failed.push(`catalog interactive (${cache} cache) ${f.median} ms >= ${budgets.interactiveMs} ms`);
  }

  await page.goto("about:blank"); // idle while Lighthouse has its own tab
  for (const [label, url] of [
    ["baseline", blankUrl],
    ["catalog", `${base}/#/catalog`],
    ["entity", `${base}/${entityPath}`],
  ]) {
    // Lighthouse keeps storage (disableStorageReset: the session cookie) and with it the HTTP
    // cache; clear the cache, so the audited load fetches the app as a first visit does.
    await cdp.send("Network.clearBrowserCache");
    const r = await lighthouse(
      url,
      { port, output: "html", logLevel: "error", disableStorageReset: true, onlyCategories: ["performance", "accessibility"] },
      desktopConfig,
    );
    const lhr = r.lhr;
    if (lhr.runtimeError) throw new Error(`lighthouse ${label}: ${lhr.runtimeError.code} ${lhr.runtimeError.message}`);
    const score = (c) => Math.round((lhr.categories[c]?.score ?? 0) * 100);
    const metric = (id) => Math.round(lhr.audits[id]?.numericValue ?? NaN);
    figures[label] = {
      performance: score("performance"),
      accessibility: score("accessibility"),
      fcpMs: metric("first-contentful-paint"),
      lcpMs: metric("largest-contentful-paint"),
      tbtMs: metric("total-blocking-time"),
      cls: Number((lhr.audits["cumulative-layout-shift"]?.numericValue ?? NaN).toFixed(3)),
      transferKB: Math.round((lhr.audits["total-byte-weight"]?.numericValue ?? NaN) / 1024),
    };
    if (reportDir) {
      mkdirSync(reportDir, { recursive: true });
      writeFileSync(join(reportDir, `lighthouse-${label}.html`), r.report);
    }
    if (label === "baseline") {
      log(`${label}: ${JSON.stringify(figures[label])}`);
      continue;
    }
    // What the page showed: a signed-in page (its catalog call answered), not the login form
    // (hash routes: the URL alone does not tell).
    const call = label === "catalog" ? "CatalogService/ListEntities" : "CatalogService/GetEntityByRef";
    const answered = (lhr.audits["network-requests"]?.details?.items ?? []).some((q) => q.url.endsWith(call) && q.statusCode === 200);
    if (!answered) failed.push(`${label}: Lighthouse's load made no answered ${call} (not signed in?)`);
    const failedA11y = Object.values(lhr.audits).filter((a) => a.score === 0 && lhr.categories.accessibility.auditRefs.some((ref) => ref.id === a.id));
    if (failedA11y.length) figures[label].accessibilityFailures = failedA11y.map((a) => a.id);
    log(`${label}: ${JSON.stringify(figures[label])}`);
    if (figures[label].performance < budgets.performance) failed.push(`${label} performance ${figures[label].performance} < ${budgets.performance}`);
    if (figures[label].accessibility < budgets.accessibility) failed.push(`${label} accessibility ${figures[label].accessibility} < ${budgets.accessibility}`);
  }
  await page.close();
  await browser.close(); // the CDP connection; Chromium stays
} finally {
  figures.loadAtEnd = loadAvg();
  release();
  blank.close();
  // Chromium writes its profile until it has exited.
  const exited = chrome.exitCode !== null || chrome.signalCode !== null ? Promise.resolve() : new Promise((r) => chrome.once("exit", r));
  chrome.kill();
  await exited;
  rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
}
console.log(`budgets: ${JSON.stringify(figures)}`);
if (failed.length > 0) {
  console.error(`budgets missed:\n- ${failed.join("\n- ")}`);
  if (!process.env.ATRIUM_BUDGETS_REPORT_ONLY) process.exit(1);
}
