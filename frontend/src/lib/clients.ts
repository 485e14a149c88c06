import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { CatalogService } from "../gen/atrium/catalog/v1/catalog_pb";
import { PluginService } from "../gen/atrium/entitlements/v1/entitlements_pb";
import { InsightsService } from "../gen/atrium/insights/v1/insights_pb";
import { AuthService, MemberService, Role, TenantService } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { authInterceptor } from "./auth";
import { noLock, roleFromAccessToken, TokenRefresher, type LockFn, type SessionStore } from "./session";

export type Clients = ReturnType<typeof newClients>;

// sessionHeaders asks the gateway to keep the refresh token in its httpOnly cookie (see
// gateway/internal/pipeline/session.go): Login, Refresh and Logout carry them.
export const sessionHeaders = { "Atrium-Session": "cookie" } as const;

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

// newClients builds the API clients over one Connect transport that carries the session.
// Refresh is a public method: the interceptor sends it with the tenant header only and never
// refreshes around it, so the same transport serves it without recursion.
// fetchImpl replaces the global fetch, for tests; lock serializes refreshes across tabs.
export function newClients(baseUrl: string, store: SessionStore, fetchImpl?: typeof fetch, lock: LockFn = noLock) {
  const refresher = new TokenRefresher(
    store,
    async () => {
      // The cookie holds the token; the message's is empty.
      const r = await auth.refresh({}, { headers: sessionHeaders });
      return {
        accessToken: r.accessToken,
        accessExpiresAt: r.accessTokenExpireTime ? timestampMs(r.accessTokenExpireTime) : undefined,
        role: roleFromAccessToken(r.accessToken) ?? (r.role ? roleName(r.role) : undefined),
        email: r.user?.email,
      };
    },
    lock,
  );
  const transport = createConnectTransport({
    baseUrl,
    fetch: fetchImpl,
    interceptors: [authInterceptor(store, refresher)],
  });
  const auth = createClient(AuthService, transport);
  return {
    refresher,
    // For clients created in lazily loaded pages (billing), so their generated code stays
    // out of the first screen's bundle.
    transport,
    auth,
    tenant: createClient(TenantService, transport),
    member: createClient(MemberService, transport),
    catalog: createClient(CatalogService, transport),
    insights: createClient(InsightsService, transport),
    plugins: createClient(PluginService, transport),
  };
}
