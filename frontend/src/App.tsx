import { useEffect } from "react";
import { signOut, trackPageView } from "./api";
import { useRoute, useSession } from "./hooks";
import { isPublicRoute, pageKey, type Route } from "./lib/route";
import { AcceptInvitationPage, ForgotPasswordPage, ResetPasswordPage } from "./pages/AccountPages";
import { CatalogPage } from "./pages/CatalogPage";
import { EntityPage } from "./pages/EntityPage";
import { HomePage } from "./pages/HomePage";
import { ImportPage } from "./pages/ImportPage";
import { InsightsPage } from "./pages/InsightsPage";
import { LoginPage } from "./pages/LoginPage";
import { MembersPage } from "./pages/MembersPage";
import { SignUpPage } from "./pages/SignUpPage";

export function App() {
  const route = useRoute();
  const s = useSession();
  // Signed-out visitors see the login page wherever they were headed; a session that ends
  // (refresh token revoked) lands here too.
  const shown: Route = !s && !isPublicRoute(route) ? { name: "login" } : route;
  // A hash change keeps the scroll position; a new page starts at its top, as a link would.
  const page = pageKey(shown);
  useEffect(() => {
    window.scrollTo(0, 0);
  }, [page]);
  // One page view per page shown, batched to Insights.
  useEffect(() => {
    if (s) trackPageView(shown);
  }, [page, s !== null]);
  return (
    <>
      <header className="top">
        <a className="brand" href="#/">
          Atrium
        </a>
        {s && (
          <nav>
            <NavLink href="#/catalog" active={route.name === "catalog" || route.name === "entity"}>
              Catalog
            </NavLink>
            <NavLink href="#/import" active={route.name === "import"}>
              Import
            </NavLink>
            <NavLink href="#/members" active={route.name === "members"}>
              Members
            </NavLink>
            <NavLink href="#/insights" active={route.name === "insights"}>
              Insights
            </NavLink>
          </nav>
        )}
        <div className="who">
          {s ? (
            <>
              <span>
                {s.email} · <code>{s.tenant}</code>
              </span>
              <button
                className="secondary small"
                onClick={() => {
                  void signOut();
                  window.location.hash = "#/login";
                }}
              >
                Log out
              </button>
            </>
          ) : (
            <>
              <a href="#/login">Log in</a> <a href="#/signup">Sign up</a>
            </>
          )}
        </div>
      </header>
      <main>
        <Page route={shown} />
      </main>
    </>
  );
}

function NavLink(props: { href: string; active: boolean; children: string }) {
  return (
    <a href={props.href} className={props.active ? "active" : undefined}>
      {props.children}
    </a>
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
      return <EntityPage kind={route.kind} namespace={route.namespace} entity={route.entity} />;
    case "import":
      return <ImportPage />;
    case "insights":
      return <InsightsPage />;
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
