// A hash router: "#/path?query". The gateway only has to serve index.html at "/", and a
// reload keeps the page.

export type Route =
  | { name: "home" }
  | { name: "login" }
  | { name: "signup" }
  | { name: "members" }
  | { name: "catalog"; search: URLSearchParams }
  | { name: "entity"; kind: string; namespace: string; entity: string }
  | { name: "import" }
  | { name: "notFound"; path: string };

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
    case "login":
    case "signup":
    case "members":
    case "import":
      return parts.length === 1 ? { name: parts[0] } : { name: "notFound", path };
    case "catalog":
      if (parts.length === 1) return { name: "catalog", search };
      if (parts.length === 5 && parts[1] === "entity") {
        return { name: "entity", kind: parts[2], namespace: parts[3], entity: parts[4] };
      }
      return { name: "notFound", path };
    default:
      return { name: "notFound", path };
  }
}

// Pages anyone may see without signing in.
export function isPublicRoute(r: Route): boolean {
  return r.name === "login" || r.name === "signup";
}
