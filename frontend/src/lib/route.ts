// A hash router: "#/path?query". The gateway only has to serve index.html at "/", and a
// reload keeps the page.

export type Route =
  | { name: "home" }
  // email and created come from a sign-up on another org's host: the new org's portal
  // opens its login page with the address filled in.
  | { name: "login"; email?: string; created?: string }
  | { name: "signup" }
  | { name: "members" }
  | { name: "catalog"; search: URLSearchParams }
  | { name: "entity"; kind: string; namespace: string; entity: string; tab: EntityTab }
  | { name: "import" }
  | { name: "locations" }
  | { name: "registerLocation" }
  // registered: just registered (the page says so).
  | { name: "location"; id: string; registered: boolean }
  | { name: "apis"; search: URLSearchParams }
  | { name: "search"; search: URLSearchParams }
  | { name: "settings" }
  | { name: "audit"; search: URLSearchParams }
  | { name: "insights" }
  | { name: "plugins" }
  // Stripe's Checkout returns with checkout=success or checkout=canceled.
  | { name: "billing"; search: URLSearchParams }
  // The links tenancy mails: the one-time token rides in the hash, never sent to a server.
  | { name: "acceptInvitation"; token: string }
  | { name: "forgotPassword" }
  | { name: "resetPassword"; token: string }
  | { name: "notFound"; path: string };

export const entityTabs = ["overview", "relations", "definition", "members", "ownership"] as const;
export type EntityTab = (typeof entityTabs)[number];

// parseRoute maps location.hash to a route.
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const q = raw.indexOf("?");
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const search = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  const segs = path.split("/").filter((s) => s !== "");
  let parts: string[];
  try {
    parts = segs.map(decodeURIComponent);
  } catch {
    return { name: "notFound", path };
  }
  switch (parts[0]) {
    case undefined:
      return { name: "home" };
    case "login": {
      if (parts.length !== 1) return { name: "notFound", path };
      const r: Route = { name: "login" };
      const email = search.get("email");
      const created = search.get("created");
      if (email) r.email = email;
      if (created) r.created = created;
      return r;
    }
    case "accept-invitation":
      return parts.length === 1 ? { name: "acceptInvitation", token: search.get("token") ?? "" } : { name: "notFound", path };
    case "reset-password":
      return parts.length === 1 ? { name: "resetPassword", token: search.get("token") ?? "" } : { name: "notFound", path };
    case "forgot-password":
      return parts.length === 1 ? { name: "forgotPassword" } : { name: "notFound", path };
    case "signup":
    case "members":
    case "import":
    case "settings":
    case "insights":
    case "plugins":
      return parts.length === 1 ? { name: parts[0] } : { name: "notFound", path };
    case "apis":
    case "search":
    case "audit":
    case "billing":
      return parts.length === 1 ? { name: parts[0], search } : { name: "notFound", path };
    case "locations":
      if (parts.length === 1) return { name: "locations" };
      if (parts.length === 2 && parts[1] === "register") return { name: "registerLocation" };
      if (parts.length === 2) return { name: "location", id: parts[1], registered: search.get("registered") === "1" };
      return { name: "notFound", path };
    case "catalog":
      if (parts.length === 1) return { name: "catalog", search };
      if ((parts.length === 5 || parts.length === 6) && parts[1] === "entity") {
        const tab = (parts[5] ?? "overview") as EntityTab;
        if (!entityTabs.includes(tab)) return { name: "notFound", path };
        return { name: "entity", kind: parts[2], namespace: parts[3], entity: parts[4], tab };
      }
      return { name: "notFound", path };
    default:
      return { name: "notFound", path };
  }
}

// pageKey names the page a route shows, leaving out the catalog's query: moving to another
// page scrolls to the top, refining a query does not.
export function pageKey(r: Route): string {
  switch (r.name) {
    case "entity":
      return ["entity", r.kind, r.namespace, r.entity].map(encodeURIComponent).join("/");
    case "notFound":
      return `notFound/${r.path}`;
    case "location":
      return `location/${encodeURIComponent(r.id)}`;
    default:
      return r.name;
  }
}

// Pages anyone may see without signing in.
export function isPublicRoute(r: Route): boolean {
  return (
    r.name === "login" ||
    r.name === "signup" ||
    r.name === "acceptInvitation" ||
    r.name === "forgotPassword" ||
    r.name === "resetPassword"
  );
}

// loginHref links the login page of a freshly created org with its owner's email filled in.
export function loginHref(email: string, created: string): string {
  return `#/login?${new URLSearchParams({ email, created }).toString()}`;
}
