import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { newClients, roleName, sessionHeaders } from "./lib/clients";
import { Tracker } from "./lib/analytics";
import type { Route } from "./lib/route";
import { tenantFromHost } from "./lib/names";
import { browserChannel, browserLock, SessionStore } from "./lib/session";

export { roleName, sessionHeaders };

// The gateway serves this app and the API on one origin, so calls go to the page's origin.
// Only the org slug is stored (localStorage, shared by the tabs); the tokens stay in memory.
export const session = new SessionStore(window.localStorage, browserChannel());

// On an org's own host (acme.localhost) the host decides the org; the gateway refuses a
// tenant header naming another.
export const hostTenant = tenantFromHost(window.location.hostname);
if (hostTenant) session.pinTenant(hostTenant);

const clients = newClients(window.location.origin, session, undefined, browserLock());
export const tenantClient = clients.tenant;
export const authClient = clients.auth;
export const memberClient = clients.member;
export const catalogClient = clients.catalog;
export const refresher = clients.refresher;
export const transport = clients.transport;

// restoreSession brings back the session the cookie holds (new tab, reload, deep link).
export function restoreSession(): Promise<boolean> {
  return refresher.restore();
}
export const initialRestore: Promise<boolean> = restoreSession();
// Another tab signed in to this org: the cookie now holds a session for this tab too.
session.onRemoteSignIn = () => void refresher.restore().catch(() => undefined);
export const insightsClient = clients.insights;
export const pluginClient = clients.plugins;

// Portal analytics: page views (and later searches, entity views) batched to Track.
export const tracker = new Tracker({
  send: (req) => insightsClient.track(req),
  session: () => {
    const s = session.get();
    return s ? `${s.tenant}/${s.email.toLowerCase()}` : "";
  },
});
tracker.start();

export function trackPageView(r: Route) {
  const context: { pluginId: string; entityRef?: string } = { pluginId: r.name === "entity" ? "catalog" : r.name };
  if (r.name === "entity") context.entityRef = `${r.kind}:${r.namespace}/${r.entity}`.toLowerCase();
  tracker.capture({ action: "navigate", subject: window.location.hash.replace(/^#/, "") || "/", context });
}

export function expiry(t: Timestamp | undefined): number | undefined {
  return t ? timestampMs(t) : undefined;
}

export function isAdminRole(role: string | undefined): boolean {
  return role === "owner" || role === "admin";
}

// signOut ends the session here, in the other tabs (SessionStore's channel) and on the
// server, which revokes the cookie's refresh token family and clears the cookie.
export async function signOut(): Promise<void> {
  const ending = session.get();
  const had = ending !== null;
  // What this session viewed and the timer has not sent yet goes with the ending session's
  // token; after signOut the tracker sends nothing (see Tracker's session).
  const events = tracker.drain();
  session.signOut();
  if (ending && events.length > 0) {
    void insightsClient.track({ events }, { headers: { Authorization: `Bearer ${ending.accessToken}` } }).catch(() => undefined);
  }
  if (!had) return;
  try {
    await authClient.logout({}, { headers: sessionHeaders });
  } catch {
    // The local session is gone either way; the refresh token expires on its own.
  }
}
