// End-to-end test of the portal in Debian's Chromium (playwright-core, no downloaded
// browsers), against a running stack at ATRIUM_URL (devstack/e2e/browser_test.go starts one
// and runs this). Writes screenshots to ATRIUM_SCREENSHOTS. Exits non-zero on the first
// failed check, on any console error or page error, and on any serious or critical axe
// violation.
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { mkdirSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";

const base = process.env.ATRIUM_URL;
if (!base) throw new Error("ATRIUM_URL is not set");
const shots = process.env.ATRIUM_SCREENSHOTS || "e2e-screenshots";
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const problems = [];
// HTTP errors a check provokes on purpose (an invalid import answers 400): Chromium logs each
// as a console error, which is not a fault of the page.
let expectedHttpErrors = 0;
const t0 = Date.now();
function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

const slug = `e2e${Date.now().toString(36)}`;
const email = `ann@${slug}.example.com`;
const password = "Correct horse 42";

// The fixture: 30 components (two pages of 25), a System and a Group both titled
// "Billing", an OpenAPI API, and a User with the signed-up email in group billing.
function fixture() {
  const docs = [];
  docs.push(`apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: billing, title: Billing}
spec: {type: team, children: []}`);
  docs.push(`apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ann}
spec: {profile: {email: "${email}", displayName: Ann Lee}, memberOf: [billing]}`);
  docs.push(`apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: billing-system, title: Billing}
spec: {owner: billing}`);
  docs.push(`apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: invoices-api, description: Invoices over HTTP}
spec:
  type: openapi
  lifecycle: production
  owner: billing
  system: billing-system
  definition: |
    openapi: 3.0.0
    info: {title: Invoices, version: 1.0.0}
    paths:
      /invoices:
        get:
          summary: List invoices
          responses: {"200": {description: ok}}`);
  for (let i = 1; i <= 30; i++) {
    const n = String(i).padStart(2, "0");
    docs.push(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc-${n}
  title: Service ${31 - i}
  description: Component number ${n}${i <= 3 ? " for billing" : ""}
  tags: [${i % 2 ? "java" : "go"}]
  annotations:
    backstage.io/managed-by-location: url:https://github.com/acme/svc-${n}/blob/main/catalog-info.yaml
spec:
  type: service
  lifecycle: ${i % 3 ? "production" : "experimental"}
  owner: ${i <= 5 ? "billing" : "group:default/platform"}
  system: billing-system
  ${i === 1 ? "providesApis: [invoices-api]" : i === 2 ? "consumesApis: [invoices-api]\n  dependsOn: [component:default/svc-01]" : ""}`);
  }
  return docs.join("\n---\n");
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// watch records console errors and page errors of every page of a context.
const openPages = [];
function watch(context, name) {
  context.on("page", (page) => {
    openPages.push([name, page]);
    page.on("console", (m) => {
      if (m.type() === "error" && expectedHttpErrors > 0 && /status of 4\d\d/.test(m.text())) {
        expectedHttpErrors--;
        return;
      }
      // For a failed request the message does not name it; its location does.
      const at = m.location()?.url;
      if (m.type() === "error") problems.push(`${name} console error: ${m.text()} (${page.url()}${at && at !== page.url() ? `, from ${at}` : ""})`);
    });
    page.on("pageerror", (e) => problems.push(`${name} page error: ${e.message} (${page.url()})`));
  });
}

async function axe(page, label) {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) problems.push(`axe ${label}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
  log(`axe ${label}: ${bad.length} serious/critical`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// noOverflow checks the page scrolls no wider than the viewport, at whatever size the page
// has: scrollWidth against innerWidth, and against the emulated viewport's width too (a mobile
// page that overflows may be zoomed out to fit, which widens innerWidth with it).
async function viewportWidth(page) {
  const iw = await page.evaluate(() => window.innerWidth);
  return Math.min(iw, page.viewportSize()?.width ?? iw);
}
async function noOverflow(page, label) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  const w = await viewportWidth(page);
  check(sw <= w, `${label}: page is not wider than the viewport (${sw} <= ${w})`);
}

async function waitHeading(page, text) {
  await page.getByRole("heading", { level: 1, name: text }).first().waitFor({ timeout: 20000 });
}

try {
  // ---------- desktop, 1280x800 ----------
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watch(desk, "desktop");
  const page = await desk.newPage();
  await page.goto(`${base}/#/signup`);
  await waitHeading(page, "Create your organization");
  check((await page.title()).startsWith("Sign up"), "sign-up page has its own title");
  check(await page.getByText("10 to 128 characters").isVisible(), "password rules are shown before submitting");
  await page.getByLabel("Organization name").fill(`E2E ${slug}`);
  await page.getByLabel("Slug").fill("Bad Slug");
  check(!(await page.getByText("Your portal:").isVisible()), "no portal URL previewed for an invalid slug");
  await page.getByLabel("Slug").fill(slug);
  await page.getByLabel("Your email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await axe(page, "signup");
  await shot(page, "desktop-signup");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.waitForURL((u) => u.hash === "#/" || u.hash === "", { timeout: 30000 });

  await page.goto(`${base}/#/catalog`);
  await waitHeading(page, "Catalog");
  await page.getByText("Your catalog is empty.").waitFor();
  check(await page.getByRole("link", { name: "Import YAML" }).isVisible(), "empty catalog points to Import");
  await shot(page, "desktop-catalog-empty");

  // Import: a broken document first, then the fixture.
  await page.goto(`${base}/#/import`);
  await waitHeading(page, "Import entities");
  const yaml = page.getByLabel("Catalog YAML");
  await yaml.fill("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: [oops\nspec: {}\n");
  expectedHttpErrors++;
  await page.getByRole("button", { name: "Validate (dry run)" }).click();
  const problem = page.locator(".violations");
  await problem.waitFor();
  const ptext = await problem.innerText();
  check(!ptext.includes("yaml_documents"), "import errors do not name the internal field");
  check(/Line 3/.test(ptext), `import error names the line at fault (${ptext.replace(/\s+/g, " ")})`);
  await yaml.fill(fixture());
  await page.getByRole("button", { name: "Validate (dry run)" }).click();
  await page.getByText(/Valid: 34 entities would be applied/).waitFor({ timeout: 30000 });
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByText(/Applied 34 entities/).waitFor({ timeout: 30000 });
  await axe(page, "import");
  await shot(page, "desktop-import");

  // Plugins: the marketplace (the org is on the free plan): installed first, a locked
  // premium plugin says why and offers the upgrade and a trial; Search uninstalls (its
  // settings kept) and installs again through its settings form.
  await page.goto(`${base}/#/plugins`);
  await waitHeading(page, "Plugins");
  const card = (name) => page.locator("article.plugin", { has: page.getByRole("heading", { level: 2, name, exact: true }) });
  await card("Insights").waitFor();
  const states = await page.locator("article.plugin header .badge").allInnerTexts();
  const firstNotInstalled = states.findIndex((s) => s !== "Installed");
  check(firstNotInstalled > 0 && states.slice(firstNotInstalled).every((s) => s !== "Installed"), `installed plugins come first (${states.join(", ")})`);
  check(await card("Insights").getByText(/Requires plan team/i).isVisible(), "a locked plugin names why");
  check((await card("Insights").getByRole("link", { name: "Upgrade to team" }).getAttribute("href")) === "#/billing", "a locked plugin offers the upgrade (Billing)");
  check(await card("Insights").getByRole("link", { name: "Request a trial" }).isVisible(), "a locked premium plugin offers a trial");
  await card("Search").getByRole("button", { name: "Uninstall" }).click();
  await card("Search").getByText(/Search uninstalled/).waitFor({ timeout: 20000 });
  await card("Search").locator("header .badge", { hasText: "Available" }).waitFor();
  await card("Search").getByRole("button", { name: "Install" }).click();
  const pageSize = card("Search").getByLabel(/Results per page/);
  await pageSize.waitFor({ timeout: 20000 });
  await axe(page, "plugins-settings");
  await shot(page, "desktop-plugins-settings");
  await pageSize.fill("9999");
  await card("Search").getByRole("button", { name: "Install" }).click();
  await card("Search").getByText(/100/).first().waitFor();
  log("ok: the settings form refuses a value past the schema's maximum at the field");
  await pageSize.fill("50");
  await card("Search").getByRole("button", { name: "Install" }).click();
  await card("Search").getByText("Search installed").waitFor({ timeout: 20000 });
  await card("Search").locator("header .badge", { hasText: "Installed" }).waitFor();
  check(await card("Search").getByRole("button", { name: "Configure" }).isVisible(), "an installed plugin with settings can be configured");
  await axe(page, "plugins");
  await shot(page, "desktop-plugins");

  // Home: usage against the plan's limits, the imported entities included.
  await page.goto(`${base}/#/`);
  const entitiesBar = page.locator(".usage-bars li", { hasText: "Catalog entities" });
  await entitiesBar.getByText(/^34 \/ /).waitFor({ timeout: 20000 });
  check(await page.getByRole("meter", { name: "Seats" }).isVisible(), "seats show as a meter against the limit");
  await axe(page, "home");
  await shot(page, "desktop-home");

  // Catalog: sorted by the name shown, two pages, paging kept by Back and reload.
  await page.goto(`${base}/#/catalog`);
  await page.getByText("34 entities").waitFor();
  const names = await page.locator("table.entities tbody tr td:nth-child(2) a").allInnerTexts();
  check(JSON.stringify(names) === JSON.stringify([...names].sort()), "rows are sorted by the name shown");
  const billingRows = await page.locator("table.entities tbody tr", { hasText: "Billing" }).count();
  check(billingRows >= 2, "two entities titled Billing are both listed");
  check(await page.getByRole("columnheader", { name: "Kind" }).isVisible(), "the mixed list shows the kind");
  await axe(page, "catalog");
  await shot(page, "desktop-catalog");
  await page.getByRole("button", { name: "Next →" }).click();
  await page.getByText("Page 2 of 2").waitFor();
  // The pager can say page 2 a moment before page 2's rows replace page 1's.
  await page.waitForFunction(
    (first) => document.querySelector("table.entities tbody tr td:nth-child(2) a")?.textContent !== first,
    names[0],
  );
  check(page.url().includes("page=2"), "the page number is in the URL");
  await page.evaluate(() => window.scrollTo(0, 200));
  const firstOnPage2 = page.locator("table.entities tbody tr td:nth-child(2) a").first();
  const entityName = await firstOnPage2.innerText();
  await firstOnPage2.click();
  await waitHeading(page, new RegExp(entityName));
  await page.goBack();
  await page.getByText("Page 2 of 2").waitFor();
  log("ok: Back returns to page 2");
  await page.reload();
  await page.getByText("Page 2 of 2").waitFor({ timeout: 20000 });
  log("ok: reload keeps page 2 and the session");

  // Sort by name descending from the header.
  await page.goto(`${base}/#/catalog?kind=component`);
  await page.getByRole("button", { name: /^Name/ }).click();
  await page.waitForURL(/sort=-name/);
  await page.locator("table.entities tbody tr").first().waitFor();
  const first = await page.locator("table.entities tbody tr td:nth-child(2) a").first().innerText();
  check(first === "svc-30", `descending sort puts svc-30 first (got ${first})`);

  // Facet counts honour the search term.
  await page.goto(`${base}/#/catalog?q=billing`);
  await page.locator(".result-count", { hasText: /\d+ entit/ }).waitFor();
  const total = Number((await page.locator(".result-count").innerText()).match(/(\d+)/)[1]);
  const counts = await page.locator("fieldset.facet").first().locator(".count").allInnerTexts();
  const sum = counts.reduce((a, c) => a + Number(c), 0);
  check(sum === total, `kind facet counts (${sum}) add up to the search's results (${total})`);

  // Tab order: the search box comes before the facet checkboxes.
  const order = await page.evaluate(() => {
    const all = [...document.querySelectorAll("main input, main button, main a, main select")];
    const search = all.findIndex((e) => e.getAttribute("aria-label") === "Search");
    const box = all.findIndex((e) => e.matches("fieldset.facet input"));
    return { search, box };
  });
  check(order.search >= 0 && order.search < order.box, "the search box comes before the facets in Tab order");

  // Owned by me: the User entity with the member's email, and its group.
  await page.goto(`${base}/#/catalog?show=owned`);
  await page.locator(".result-count", { hasText: /entit/ }).waitFor();
  const owned = await page.locator(".result-count").innerText();
  check(/^\s*(\d+)/.test(owned) && Number(owned.match(/(\d+)/)[1]) >= 5, `Owned by me finds the billing group's entities (${owned})`);

  // Stars are kept on the server: star from the list, the Starred filter and Home find it,
  // and the phone (another browser) sees it too.
  await page.goto(`${base}/#/catalog?kind=component`);
  await page.getByRole("button", { name: "Star svc-03" }).click();
  await page.getByRole("button", { name: "Unstar svc-03" }).waitFor();
  await page.goto(`${base}/#/catalog?show=starred`);
  await page.locator(".result-count", { hasText: "1 entity" }).waitFor({ timeout: 20000 });
  check((await page.locator("table.entities tbody tr").count()) === 1, "the Starred filter lists the starred entity only");
  await page.reload();
  await page.locator(".result-count", { hasText: "1 entity" }).waitFor({ timeout: 20000 });
  log("ok: the star survives a reload");
  await page.goto(`${base}/#/`);
  await page.locator(".card", { has: page.getByRole("heading", { name: "Starred" }) }).getByRole("link", { name: "svc-03" }).waitFor();
  log("ok: Home lists the starred entity");

  // Entity tabs: Overview with View source/Edit, Relations graph, OpenAPI definition.
  await page.goto(`${base}/#/catalog/entity/component/default/svc-02`);
  await waitHeading(page, /svc-02/);
  check(await page.getByRole("link", { name: "View source" }).isVisible(), "about card links to the source");
  check(await page.getByRole("link", { name: "Edit" }).isVisible(), "about card links to the edit page");
  await axe(page, "entity-overview");
  await shot(page, "desktop-entity");
  await page.getByRole("link", { name: "Relations" }).click();
  await page.locator("svg.graph g.node").nth(2).waitFor({ timeout: 20000 });
  check((await page.locator("svg.graph g.node").count()) >= 3, "the relations graph renders its nodes");
  await axe(page, "entity-relations");
  await shot(page, "desktop-relations");
  await page.goto(`${base}/#/catalog/entity/api/default/invoices-api/definition`);
  await page.locator(".swagger-ui .opblock").first().waitFor({ timeout: 30000 });
  log("ok: the OpenAPI definition renders in Swagger UI");
  await shot(page, "desktop-openapi");
  await page.goto(`${base}/#/apis`);
  await page.getByRole("link", { name: "invoices-api" }).waitFor();
  await axe(page, "apis");

  // Members and tokens. A second tab loads the token list first: it cannot know the name
  // is taken, so the server refuses it, at the field.
  const stale = await desk.newPage();
  await stale.goto(`${base}/#/members`);
  await waitHeading(stale, "Members");
  await stale.getByText("No tokens yet.").waitFor();
  await page.goto(`${base}/#/members`);
  await waitHeading(page, "Members");
  await page.getByLabel("Token name").fill("ci");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByText(/Token .*ci.* created/).waitFor();
  await page.getByRole("button", { name: "Done" }).click();
  await page.getByLabel("Token name").fill("ci");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByText("you already have a token with this name").waitFor();
  check((await page.getByLabel("Token name").getAttribute("aria-invalid")) === "true", "the token name field is aria-invalid");
  await axe(page, "members");
  await shot(page, "desktop-members");
  await stale.getByLabel("Token name").fill("CI");
  expectedHttpErrors++;
  await stale.getByRole("button", { name: "Create token" }).click();
  await stale.getByText(/already have a token with this name; choose another/).waitFor();
  check((await stale.getByLabel("Token name").getAttribute("aria-invalid")) === "true", "the server's duplicate-name refusal shows at the name field");
  await stale.close();

  // Audit log (admins): the org's own events, filtered by action and time; empty state.
  await page.goto(`${base}/#/audit`);
  await waitHeading(page, "Audit log");
  await page.locator("table.audit tbody tr").first().waitFor({ timeout: 20000 });
  const actions = await page.locator("table.audit tbody td[data-label=Action]").allInnerTexts();
  check(actions.includes("api_token.create") && actions.includes("tenant.signup"), `the audit log lists the org's events (${actions.join(", ")})`);
  await page.getByLabel("Action").fill("api_token.");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/action=api_token/);
  await page.waitForFunction(() => [...document.querySelectorAll("table.audit td[data-label=Action]")].every((td) => td.textContent.startsWith("api_token.")));
  log("ok: the action filter keeps only api_token.* events");
  await axe(page, "audit");
  await shot(page, "desktop-audit");
  await page.goto(`${base}/#/audit?from=2001-01-01&to=2001-01-02`);
  await page.getByText("No events match these filters.").waitFor({ timeout: 20000 });
  log("ok: the audit log says when nothing matches");

  // Billing (admins): the plan, the comparison table and the upgrade through Stripe Checkout.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Billing" }).click();
  await waitHeading(page, "Billing");
  await page.getByTestId("billing-plan").waitFor();
  check((await page.getByTestId("billing-plan").textContent()) === "Free", "billing shows the current plan (Free)");
  check(await page.getByRole("button", { name: "Upgrade with Stripe Checkout" }).isVisible(), "billing offers the upgrade through Checkout");
  check(await page.getByRole("rowheader", { name: "Enterprise" }).isVisible(), "billing compares the plans");
  await page.getByText("No invoices yet").waitFor();
  await axe(page, "billing");
  await shot(page, "desktop-billing");

  // Locations: register a real Git repository (served on loopback by the Go test, allowed
  // by its outbound policy): the empty list, a field error, the dry-run preview with a bad
  // entity reported by file, document and field, registration, the Location's page, the
  // list with refresh and delete.
  const gitRepo = process.env.ATRIUM_GIT_REPO;
  if (!gitRepo) throw new Error("ATRIUM_GIT_REPO is not set (browser_test.go serves a repository)");
  await page.goto(`${base}/#/locations`);
  await waitHeading(page, "Locations");
  await page.getByText("No Locations yet").waitFor();
  await axe(page, "locations-empty");
  await page.getByRole("link", { name: "Register an existing component" }).click();
  await waitHeading(page, "Register existing component");
  const urlBox = page.getByLabel("Repository, folder or file URL");
  await page.getByRole("button", { name: "Analyze (dry run)" }).click();
  await page.getByText("Enter the URL of a repository").waitFor();
  check((await urlBox.getAttribute("aria-invalid")) === "true", "an empty URL marks the field aria-invalid");
  const described = (await urlBox.getAttribute("aria-describedby")) || "";
  const errIds = described.split(" ").filter(Boolean);
  const errTexts = await Promise.all(errIds.map((id) => page.locator(`[id="${id}"]`).innerText()));
  check(errTexts.some((t) => t.includes("Enter the URL")), "the URL field's error is in its aria-describedby");
  await urlBox.fill("ftp://example.com/repo");
  expectedHttpErrors++;
  await page.getByRole("button", { name: "Analyze (dry run)" }).click();
  await page.getByText(/http\(s\) URL/).waitFor({ timeout: 20000 });
  check((await urlBox.getAttribute("aria-invalid")) === "true", "the server's field violation marks the URL field");
  check(await page.getByRole("button", { name: "Register" }).isDisabled(), "Register waits for a clean dry run");
  await urlBox.fill(gitRepo);
  await page.getByRole("button", { name: "Analyze (dry run)" }).click();
  await page.getByRole("heading", { level: 2, name: "Would be imported" }).waitFor({ timeout: 30000 });
  const preview = page.locator(".preview");
  check(await preview.getByRole("cell", { name: "git-svc-a", exact: true }).isVisible(), "the preview lists the entities with kind and name");
  check(await preview.getByRole("cell", { name: "git-svc-c", exact: true }).isVisible(), "the preview follows the repository's Location targets");
  const probRow = preview.locator("table.problems tbody tr").first();
  const probText = (await probRow.innerText()).replace(/\s+/g, " ");
  check(/services\/bad\.yaml 1 spec\.lifecycle/.test(probText), `a bad entity is reported with its file, document and field (${probText})`);
  await axe(page, "register-location-preview");
  await shot(page, "desktop-register-location");
  await page.getByRole("button", { name: "Register", exact: true }).click();
  await waitHeading(page, "Location");
  await page.getByText("Registered.").waitFor({ timeout: 30000 });
  check(await page.getByRole("link", { name: "component:default/git-svc-a" }).isVisible(), "the Location lists its entities");
  check(await page.locator("table.problems").getByText("spec.lifecycle").isVisible(), "the Location shows its per-entity problems");
  check(/\d/.test(await page.getByRole("row", { name: /Last refresh/ }).innerText()), "the Location shows its last refresh");
  await axe(page, "location");
  await shot(page, "desktop-location");
  await page.getByRole("button", { name: "Refresh now" }).click();
  await page.getByText(/Refreshed: 0 created/).waitFor({ timeout: 30000 });
  await page.getByRole("link", { name: "All Locations" }).click();
  await waitHeading(page, "Locations");
  const locRow = page.locator("table.locations tbody tr").first();
  await locRow.waitFor();
  check((await locRow.innerText()).includes(gitRepo), "the list shows the registered target");
  await axe(page, "locations");
  await shot(page, "desktop-locations");
  await locRow.getByRole("button", { name: /^Refresh/ }).click();
  await locRow.getByRole("button", { name: /^Refresh/ }).isEnabled();
  page.once("dialog", (d) => void d.accept());
  await locRow.getByRole("button", { name: /^Delete/ }).click();
  await page.getByText("No Locations yet").waitFor({ timeout: 20000 });
  log("ok: a Location is deleted from the list");
  // Registered again, for the phone pass.
  await page.goto(`${base}/#/locations/register`);
  await waitHeading(page, "Register existing component");
  await page.getByLabel("Repository, folder or file URL").fill(gitRepo);
  await page.getByRole("button", { name: "Analyze (dry run)" }).click();
  await page.getByRole("heading", { level: 2, name: "Would be imported" }).waitFor({ timeout: 30000 });
  await page.getByRole("button", { name: "Register", exact: true }).click();
  await page.getByText("Registered.").waitFor({ timeout: 30000 });

  // A new tab keeps the session (the refresh cookie), a deep link included.
  const tab2 = await desk.newPage();
  await tab2.goto(`${base}/#/members`);
  await waitHeading(tab2, "Members");
  check((await tab2.title()).startsWith("Members"), "a new tab opens the deep link signed in");

  // Titles differ per page.
  check((await page.title()) !== (await tab2.evaluate(() => { location.hash = "#/catalog"; return new Promise((r) => setTimeout(() => r(document.title), 500)); })), "pages have their own titles");

  // Logout in one tab ends the session in the other.
  await page.getByRole("button", { name: "Log out" }).click();
  await waitHeading(page, "Log in");
  await waitHeading(tab2, "Log in");
  log("ok: logout reaches the other tab");
  await tab2.reload();
  await waitHeading(tab2, "Log in");
  log("ok: after logout a reload stays signed out (cookie cleared)");
  await axe(tab2, "login");
  await desk.close();

  // ---------- phone, 390x844 ----------
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  watch(phone, "phone");
  const p = await phone.newPage();
  await p.goto(`${base}/#/login`);
  await waitHeading(p, "Log in");
  await p.getByLabel("Organization", { exact: true }).fill(slug);
  await p.getByLabel("Email", { exact: true }).fill(email);
  await p.getByLabel("Password", { exact: true }).fill(password);
  await p.getByRole("button", { name: "Log in" }).click();
  await p.waitForURL((u) => u.hash === "#/", { timeout: 30000 });
  // The main pages at 390 px, then at 360 px (the narrowest the portal is made for).
  const mainPages = [
    ["#/catalog", "Catalog", "catalog"],
    ["#/import", "Import entities", "import"],
    ["#/locations/register", "Register existing component", "register-location"],
    ["#/locations", "Locations", "locations"],
    ["#/members", "Members", "members"],
    ["#/catalog/entity/component/default/svc-01", /svc-01/, "entity"],
    ["#/apis", "APIs", "apis"],
    ["#/plugins", "Plugins", "plugins"],
    ["#/", /./, "home"],
  ];
  for (const width of [390, 360]) {
    await p.setViewportSize({ width, height: 844 });
    for (const [hash, heading, name] of mainPages) {
      await p.goto(`${base}/${hash}`);
      await waitHeading(p, heading);
      await p.waitForTimeout(300);
      await noOverflow(p, `phone ${width}px ${name}`);
      await shot(p, `phone-${width === 390 ? "" : `${width}-`}${name}`);
    }
  }
  await p.setViewportSize({ width: 390, height: 844 });
  await p.goto(`${base}/#/catalog`);
  await p.locator("table.entities").waitFor();
  const searchTop = await p.getByRole("searchbox", { name: "Search", exact: true }).boundingBox();
  check(searchTop && searchTop.y < 400, `the search box is near the top on a phone (y=${searchTop?.y})`);
  await p.goto(`${base}/#/`);
  await p.locator(".card", { has: p.getByRole("heading", { name: "Starred" }) }).getByRole("link", { name: "svc-03" }).waitFor({ timeout: 20000 });
  log("ok: the star made on the desktop is on the phone (kept on the server)");
  await p.goto(`${base}/#/members`);
  await waitHeading(p, "Members");
  const revoke = p.getByRole("button", { name: /^Revoke/ }).first();
  const box = await revoke.boundingBox();
  const pw = await viewportWidth(p);
  check(box && box.x + box.width <= pw, `Revoke is on screen on a phone (right edge ${box && Math.round(box.x + box.width)} <= ${pw})`);
  await p.goto(`${base}/#/locations`);
  await p.locator("table.locations tbody tr").first().waitFor();
  await p.locator("table.locations tbody tr a").first().click();
  await waitHeading(p, "Location");
  await p.getByRole("heading", { level: 2, name: "Entities" }).waitFor();
  await p.waitForTimeout(300);
  await noOverflow(p, "phone location");
  await axe(p, "phone-location");
  await shot(p, "phone-location");

  // Deleting the org: the owner types the slug, is told what happens, the portal closes;
  // signing in again (owners may) shows the deletion, and cancelling brings the org back.
  await p.goto(`${base}/#/settings`);
  await waitHeading(p, "Organization settings");
  // The org's archive downloads as a gzip'd tar with its manifest and the catalog's part.
  const [download] = await Promise.all([
    p.waitForEvent("download"),
    p.getByRole("button", { name: "Download archive (.tar.gz)" }).click(),
  ]);
  const archivePath = join(shots, "org-archive.tar.gz");
  await download.saveAs(archivePath);
  const tarBytes = gunzipSync(readFileSync(archivePath)).toString("latin1");
  check(download.suggestedFilename().endsWith(".tar.gz"), `the archive's file name ends in .tar.gz (${download.suggestedFilename()})`);
  check(tarBytes.includes("manifest.json") && tarBytes.includes("catalog"), "the archive holds manifest.json and the catalog's part");
  await p.getByText(/Downloaded .* records\./).waitFor();
  log("ok: the organization's archive downloads from the settings page");
  const del = p.getByRole("button", { name: "Delete organization" });
  check(await del.isDisabled(), "Delete stays disabled until the slug is typed");
  check(await p.getByText(/removed for good/).isVisible(), "the settings page says what deleting does");
  await p.getByLabel(`Type ${slug} to confirm`).fill(slug);
  await axe(p, "settings");
  await shot(p, "phone-settings");
  await del.click();
  await waitHeading(p, /is scheduled for deletion/);
  check(!(await p.getByRole("navigation", { name: "Main" }).isVisible()), "the portal's navigation is gone while the org is being deleted");
  await axe(p, "deletion-pending");
  await shot(p, "phone-deletion-pending");
  await p.reload();
  await waitHeading(p, /is scheduled for deletion/);
  log("ok: the owner's session survives a reload while the org is being deleted");
  await p.getByRole("button", { name: "Cancel the deletion" }).click();
  await p.getByRole("navigation", { name: "Main" }).waitFor();
  await p.goto(`${base}/#/catalog`);
  await p.getByText(/^\d+ entit/).first().waitFor({ timeout: 20000 });
  log("ok: cancelling the deletion brings the org back as it was");
  await phone.close();
} catch (e) {
  problems.unshift(String(e?.stack || e));
  // What each open page showed when the check failed.
  for (const [i, [name, pg]] of openPages.entries()) {
    if (!pg.isClosed()) await pg.screenshot({ path: join(shots, `failure-${i}-${name}.png`), fullPage: true }).catch(() => undefined);
  }
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
log("all checks passed");
