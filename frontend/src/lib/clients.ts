import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { CatalogService } from "../gen/atrium/catalog/v1/catalog_pb";
import { InsightsService } from "../gen/atrium/insights/v1/insights_pb";
import { AuthService, MemberService, TenantService } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { authInterceptor } from "./auth";
import { roleFromAccessToken, TokenRefresher, type SessionStore } from "./session";

export type Clients = ReturnType<typeof newClients>;

// newClients builds the API clients over one Connect transport that carries the session.
// Refresh is a public method: the interceptor sends it with the tenant header only and never
// refreshes around it, so the same transport serves it without recursion.
// fetchImpl replaces the global fetch, for tests.
export function newClients(baseUrl: string, store: SessionStore, fetchImpl?: typeof fetch) {
  const refresher = new TokenRefresher(store, async (refreshToken) => {
    const r = await auth.refresh({ refreshToken });
    return {
      accessToken: r.accessToken,
      refreshToken: r.refreshToken,
      accessExpiresAt: r.accessTokenExpireTime ? timestampMs(r.accessTokenExpireTime) : undefined,
      role: roleFromAccessToken(r.accessToken),
    };
  });
  const transport = createConnectTransport({
    baseUrl,
    fetch: fetchImpl,
    interceptors: [authInterceptor(store, refresher)],
  });
  const auth = createClient(AuthService, transport);
  return {
    auth,
    tenant: createClient(TenantService, transport),
    member: createClient(MemberService, transport),
    catalog: createClient(CatalogService, transport),
    insights: createClient(InsightsService, transport),
  };
}
