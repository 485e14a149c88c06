import { lazy, Suspense, useEffect, useRef, useState, type FormEvent } from "react";
import { initialRestore, isAdminRole, restoreSession, signOut, trackPageView } from "./api";
import { ErrorState, Loading } from "./components/ui";
import { navigate, useRestoring, useRoute, useSession } from "./hooks";
import { isPublicRoute, pageKey, type Route } from "./lib/route";
import { useOrg } from "./lib/orgClient";
import { TenantStatus } from "./gen/atrium/tenancy/v1/tenancy_pb";
import { restoreScroll, ScrollMemory } from "./lib/scroll";
import { pageTitle } from "./lib/titles";
import { AcceptInvitationPage, ForgotPasswordPage, ResetPasswordPage } from "./pages/AccountPages";
import { CatalogPage } from "./pages/CatalogPage";
import { HomePage } from "./pages/HomePage";
import { LoginPage } from "./pages/LoginPage";
import { SignUpPage } from "./pages/SignUpPage";

// Pages off the first screen's path load on demand, so the catalog route's initial
// JavaScript stays small (docs/BENCHMARKS.md).
const EntityPage = lazy(() => import("./pages/EntityPage").then((m) => ({ default: m.EntityPage })));
const ImportPage = lazy(() => import("./pages/ImportPage").then((m) => ({ default: m.ImportPage })));
const LocationsPage = lazy(() => import("./pages/LocationsPage").then((m) => ({ default: m.LocationsPage })));
const LocationPage = lazy(() => import("./pages/LocationsPage").then((m) => ({ default: m.LocationPage })));
const RegisterLocationPage = lazy(() => import("./pages/LocationsPage").then((m) => ({ default: m.RegisterLocationPage })));
const MembersPage = lazy(() => import("./pages/MembersPage").then((m) => ({ default: m.MembersPage })));
const ApisPage = lazy(() => import("./pages/ApisPage").then((m) => ({ default: m.ApisPage })));
const SearchPage = lazy(() => import("./pages/SearchPage").then((m) => ({ default: m.SearchPage })));
const SettingsPage = lazy(() => import("./pages/SettingsPage").then((m) => ({ default: m.SettingsPage })));
const DeletionPending = lazy(() => import("./pages/SettingsPage").then((m) => ({ default: m.DeletionPending })));
const InsightsPage = lazy(() => import("./pages/InsightsPage").then((m) => ({ default: m.InsightsPage })));
const PluginsPage = lazy(() => import("./pages/PluginsPage").then((m) => ({ default: m.PluginsPage })));
const BillingPage = lazy(() => import("./pages/BillingPage").then((m) => ({ default: m.BillingPage })));
const BillingBanner = lazy(() => import("./components/BillingBanner"));

// The navigation, in order. A feature page adds one entry here and one case in Page; active
// says which routes light the entry up.
interface NavItem {
  href: string;
  label: string;
  active: (r: Route) => boolean;
  adminOnly?: boolean;
}

const navItems: NavItem[] = [
  { href: "#/catalog", label: "Catalog", active: (r) => r.name === "catalog" || r.name === "entity" },
  { href: "#/apis", label: "APIs", active: (r) => r.name === "apis" },
  {
    href: "#/import",
    label: "Import",
    active: (r) => r.name === "import" || r.name === "locations" || r.name === "registerLocation" || r.name === "location",
  },
  { href: "#/members", label: "Members", active: (r) => r.name === "members" },
  { href: "#/insights", label: "Insights", active: (r) => r.name === "insights" },
  { href: "#/plugins", label: "Plugins", active: (r) => r.name === "plugins" },
  { href: "#/billing", label: "Billing", active: (r) => r.name === "billing", adminOnly: true },
  { href: "#/settings", label: "Settings", active: (r) => r.name === "settings" || r.name === "audit", adminOnly: true },
];

const scrolls = new ScrollMemory(typeof sessionStorage !== "undefined" ? sessionStorage : undefined);
// Set by a click on an in-app link: that navigation starts at the top. Anything else that
// changes the hash (Back, Forward, typing it) returns to the remembered position.
let linkClicked = false;
if (typeof document !== "undefined") {
  document.addEventListener(
    "click",
    (e) => {
      const a = (e.target as Element | null)?.closest?.("a[href^='#']");
      if (a && !e.defaultPrevented && !e.metaKey && !e.ctrlKey && !e.shiftKey) linkClicked = true;
    },
    true,
  );
}
// The browser's own restoration fights the one below on hash routes.
if (typeof history !== "undefined") history.scrollRestoration = "manual";

export function App() {
  const route = useRoute();
  const s = useSession();
  const restoring = useRestoring();
  const [restoreError, setRestoreError] = useState<unknown>();
  const [tick, setTick] = useState(0);

  // A new tab, a reload or a deep link: the cookie may hold a session.
  // The first restore starts in api.ts before the first render (so the login form does not
  // flash); Retry starts another.
  useEffect(() => {
    setRestoreError(undefined);
    (tick === 0 ? initialRestore : restoreSession()).catch((e: unknown) => setRestoreError(e));
  }, [tick]);
  const waiting = !s && restoring;
  // The organization: while it is being deleted, its page replaces the portal.
  const org = useOrg();
  const deleting = s && org.tenant?.status === TenantStatus.DELETING ? org.tenant : undefined;
  // Until the organization is known a page would call methods a deleting org refuses; a
  // failed load does not hold the portal back.
  const orgPending = s !== null && org.tenant === undefined && org.error === undefined;
  // Signed-out visitors see the login page wherever they were headed; a session that ends
  // (refresh token revoked) lands here too.
  const shown: Route = !s && !isPublicRoute(route) ? { name: "login" } : route;
  const page = pageKey(shown);

  const title = pageTitle(shown, s?.tenant);
  useEffect(() => {
    document.title = title;
  }, [title]);

  // Scroll: remember the position of each URL; on a link, go to the top; otherwise return.
  const url = window.location.hash || "#/";
  useEffect(() => {
    const save = () => scrolls.save(url, window.scrollY);
    window.addEventListener("scroll", save, { passive: true });
    return () => window.removeEventListener("scroll", save);
  }, [url]);
  useEffect(() => {
    if (linkClicked) {
      linkClicked = false;
      window.scrollTo(0, 0);
      return;
    }
    return restoreScroll(window, scrolls.get(url), requestAnimationFrame, () => performance.now());
  }, [url]);

  // Focus: a new page moves focus to its heading, so a screen reader announces it and Tab
  // starts from there. The first page of a load keeps the browser's focus.
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    const t = window.setTimeout(() => focusHeading(), 0);
    return () => window.clearTimeout(t);
  }, [page]);
  // One page view per page shown, batched to Insights.
  useEffect(() => {
    if (s) trackPageView(shown);
  }, [page, s !== null]);
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), focusHeading())}>
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href="#/">
          Atrium
        </a>
        {s && !deleting && (
          <nav aria-label="Main">
            {navItems
              .filter((n) => !n.adminOnly || s.role === "owner" || s.role === "admin")
              .map((n) => (
                <a key={n.href} href={n.href} className={n.active(route) ? "active" : undefined} aria-current={n.active(route) ? "page" : undefined}>
                  {n.label}
                </a>
              ))}
          </nav>
        )}
        {s && !deleting && <QuickSearch />}
        <div className="who">
          {s ? (
            <>
              <span className="who-name">
                {s.email} · <code>{s.tenant}</code>
              </span>
              <button
                className="secondary small"
                onClick={() => {
                  void signOut();
                  navigate("#/login");
                }}
              >
                Log out
              </button>
            </>
          ) : waiting ? null : (
            // Not while the session is being restored: the links would flash and then give
            // way to the member's name, shifting the header.
            <>
              <a href="#/login">Log in</a> <a href="#/signup">Sign up</a>
            </>
          )}
        </div>
      </header>
      <main id="main">
        {s && !deleting && isAdminRole(s.role) && shown.name !== "billing" && (
          <Suspense fallback={null}>
            <BillingBanner tenant={s.tenant} />
          </Suspense>
        )}
        {restoreError !== undefined && !s ? (
          <section>
            <h1 tabIndex={-1}>Cannot reach Atrium</h1>
            <ErrorState error={restoreError} onRetry={() => setTick((t) => t + 1)} />
          </section>
        ) : waiting && !isPublicRoute(route) ? (
          <Loading label="Restoring your session…" />
        ) : orgPending && !isPublicRoute(route) ? (
          <Loading label="Opening your organization…" />
        ) : deleting && !isPublicRoute(route) ? (
          <Suspense fallback={<Loading />}>
            <DeletionPending tenant={deleting} />
          </Suspense>
        ) : (
          <Suspense fallback={<Loading />}>
            <Page route={shown} />
          </Suspense>
        )}
      </main>
    </>
  );
}

function focusHeading() {
  const h = document.querySelector<HTMLElement>("main h1");
  if (!h) return;
  if (!h.hasAttribute("tabindex")) h.setAttribute("tabindex", "-1");
  h.focus({ preventScroll: true });
}

// QuickSearch is the header's search box: it opens the search page.
function QuickSearch() {
  const [q, setQ] = useState("");
  function submit(e: FormEvent) {
    e.preventDefault();
    if (q.trim() === "") return;
    navigate(`#/search?${new URLSearchParams({ q: q.trim() }).toString()}`);
    setQ("");
  }
  return (
    <form className="quick-search" role="search" aria-label="Quick search" onSubmit={submit}>
      <input type="search" aria-label="Search the catalog" placeholder="Search…" value={q} onChange={(e) => setQ(e.target.value)} />
    </form>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case "login":
      return <LoginPage email={route.email} created={route.created} />;
    case "signup":
      return <SignUpPage />;
    case "home":
      return <HomePage />;
    case "members":
      return <MembersPage />;
    case "catalog":
      return <CatalogPage search={route.search} />;
    case "entity":
      return <EntityPage kind={route.kind} namespace={route.namespace} entity={route.entity} tab={route.tab} />;
    case "import":
      return <ImportPage />;
    case "locations":
      return <LocationsPage />;
    case "registerLocation":
      return <RegisterLocationPage />;
    case "location":
      return <LocationPage id={route.id} registered={route.registered} />;
    case "apis":
      return <ApisPage search={route.search} />;
    case "search":
      return <SearchPage search={route.search} />;
    case "settings":
    case "audit":
      return <SettingsPage audit={route.name === "audit"} search={route.name === "audit" ? route.search : undefined} />;
    case "insights":
      return <InsightsPage />;
    case "plugins":
      return <PluginsPage />;
    case "billing":
      return <BillingPage search={route.search} />;
    case "acceptInvitation":
      return <AcceptInvitationPage token={route.token} />;
    case "forgotPassword":
      return <ForgotPasswordPage />;
    case "resetPassword":
      return <ResetPasswordPage token={route.token} />;
    case "notFound":
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <a href="#/">Home</a>
          </p>
        </section>
      );
  }
}
