// The portal's budgets (docs/BENCHMARKS.md, "Portal"), against a running stack at ATRIUM_URL
// (devstack/e2e/budgets_test.go starts one; `make portal-budgets` runs it):
// - a tenant loaded with the catalog's synthetic catalog (ATRIUM_SYNTH_DIR: the YAML files
//   services/catalog/cmd/synthcatalog writes, 10,000 entities by default);
// - catalog interactive time: navigation start to the first rows and the total on screen,
//   after a reload (the session restored from the cookie first: the worst case), 5 runs;
// - Lighthouse (the npm package, pinned) on the catalog and an entity page, desktop preset,
//   in Debian's Chromium: performance >= 90, accessibility >= 95.
// Prints one JSON line with every figure ("budgets: {...}") and exits non-zero when a budget
// is missed (ATRIUM_BUDGETS_REPORT_ONLY=1: report only).
import { spawn } from "node:child_process";
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

const figures = { entities: imported, entity: entityRef, runs };
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

  // Catalog interactive: a reload of the catalog, to the rows and the count on screen.
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    await page.goto(`${base}/#/catalog?r=${i}`);
    await page.reload();
    await page.locator("table.entities tbody tr").first().waitFor({ timeout: 30000 });
    await page.getByText(`${total} entities`).waitFor({ timeout: 30000 });
    const ms = await page.evaluate(() => performance.now());
    if (i > 0) times.push(ms); // the first warms the caches (HTTP, Postgres)
  }
  times.sort((a, b) => a - b);
  figures.catalogInteractiveMs = { median: Math.round(times[Math.floor(times.length / 2)]), min: Math.round(times[0]), max: Math.round(times[times.length - 1]) };
  log(`catalog interactive at ${total} entities: ${JSON.stringify(figures.catalogInteractiveMs)}`);
  if (figures.catalogInteractiveMs.median >= budgets.interactiveMs) failed.push(`catalog interactive ${figures.catalogInteractiveMs.median} ms >= ${budgets.interactiveMs} ms`);
  await page.close();
  await browser.close(); // the CDP connection; Chromium stays for Lighthouse

  for (const [label, path] of [
    ["catalog", "#/catalog"],
    ["entity", entityPath],
  ]) {
    const url = `${base}/${path}`;
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
      cls: lhr.audits["cumulative-layout-shift"]?.numericValue,
      // What the page showed: a signed-in page, not the login form.
      finalUrl: lhr.finalDisplayedUrl,
    };
    const failedA11y = Object.values(lhr.audits).filter((a) => a.score === 0 && lhr.categories.accessibility.auditRefs.some((ref) => ref.id === a.id));
    if (failedA11y.length) figures[label].accessibilityFailures = failedA11y.map((a) => a.id);
    log(`${label}: ${JSON.stringify(figures[label])}`);
    if (reportDir) {
      mkdirSync(reportDir, { recursive: true });
      writeFileSync(join(reportDir, `lighthouse-${label}.html`), r.report);
    }
    if (figures[label].performance < budgets.performance) failed.push(`${label} performance ${figures[label].performance} < ${budgets.performance}`);
    if (figures[label].accessibility < budgets.accessibility) failed.push(`${label} accessibility ${figures[label].accessibility} < ${budgets.accessibility}`);
  }
} finally {
  chrome.kill();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`budgets: ${JSON.stringify(figures)}`);
if (failed.length > 0) {
  console.error(`budgets missed:\n- ${failed.join("\n- ")}`);
  if (!process.env.ATRIUM_BUDGETS_REPORT_ONLY) process.exit(1);
}
