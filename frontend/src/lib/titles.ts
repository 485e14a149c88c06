import type { Route } from "./route";

const names: Record<Route["name"], string> = {
  home: "Home",
  login: "Log in",
  signup: "Sign up",
  members: "Members",
  catalog: "Catalog",
  entity: "Entity",
  import: "Import",
  locations: "Locations",
  registerLocation: "Register existing component",
  location: "Location",
  apis: "APIs",
  search: "Search",
  settings: "Organization settings",
  audit: "Audit log",
  insights: "Insights",
  plugins: "Plugins",
  billing: "Billing",
  notFound: "Not found",
  acceptInvitation: "Accept invitation",
  forgotPassword: "Forgot password",
  resetPassword: "Reset password",
};

// pageTitle names the browser tab after the page (and the org), so tabs, history and screen
// readers can tell pages apart; every page used to be "Atrium".
export function pageTitle(r: Route, tenant?: string): string {
  let name = names[r.name];
  if (r.name === "entity") name = `${r.entity} (${r.kind})`;
  if (r.name === "search" && r.search.get("q")) name = `Search: ${r.search.get("q")}`;
  return [name, tenant, "Atrium"].filter(Boolean).join(" · ");
}
