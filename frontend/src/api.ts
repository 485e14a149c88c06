import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Role } from "./gen/atrium/tenancy/v1/tenancy_pb";
import { Tracker } from "./lib/analytics";
import { newClients } from "./lib/clients";
import type { Route } from "./lib/route";
import { tenantFromHost } from "./lib/names";
import { SessionStore } from "./lib/session";

// The gateway serves this app and the API on one origin, so calls go to the page's origin.
export const session = new SessionStore(window.sessionStorage);

// On an org's own host (acme.localhost) the host decides the org; the gateway refuses a
// tenant header naming another.
export const hostTenant = tenantFromHost(window.location.hostname);
if (hostTenant) session.pinTenant(hostTenant);

const clients = newClients(window.location.origin, session);
export const tenantClient = clients.tenant;
export const authClient = clients.auth;
export const memberClient = clients.member;
export const catalogClient = clients.catalog;
export const insightsClient = clients.insights;

// Portal analytics: page views (and later searches, entity views) batched to Track.
export const tracker = new Tracker({ send: (req) => insightsClient.track(req) });
tracker.start();

export function trackPageView(r: Route) {
  const context: { pluginId: string; entityRef?: string } = { pluginId: r.name === "entity" ? "catalog" : r.name };
  if (r.name === "entity") context.entityRef = `${r.kind}:${r.namespace}/${r.entity}`.toLowerCase();
  tracker.capture({ action: "navigate", subject: window.location.hash.replace(/^#/, "") || "/", context });
}

export function expiry(t: Timestamp | undefined): number | undefined {
  return t ? timestampMs(t) : undefined;
}

export function roleName(r: Role): string {
  switch (r) {
    case Role.OWNER:
      return "owner";
    case Role.ADMIN:
      return "admin";
    case Role.MEMBER:
      return "member";
    default:
      return "unknown";
  }
}

export function isAdminRole(role: string | undefined): boolean {
  return role === "owner" || role === "admin";
}

export async function signOut(): Promise<void> {
  const s = session.get();
  session.signOut();
  if (!s) return;
  try {
    await authClient.logout({ refreshToken: s.refreshToken });
  } catch {
    // The local session is gone either way; the refresh token expires on its own.
  }
}
