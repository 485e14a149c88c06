import { getOption, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { access, AccessLevel } from "../gen/atrium/options/v1/access_pb";
import { TenantService } from "../gen/atrium/tenancy/v1/tenancy_pb";
import type { SessionStore, TokenRefresher } from "./session";

export const tenantHeader = "Atrium-Tenant";

// Refresh a little before expiry so a call does not leave with a token that dies on the way.
const expiryMarginMs = 30_000;

// isPublic reads the method's access option from the generated descriptor, the same policy
// the gateway enforces: public methods (sign-up, login, refresh) carry no bearer token.
export function isPublic(method: DescMethod): boolean {
  return getOption(method, access).level === AccessLevel.PUBLIC;
}

// Methods that belong to no tenant. Sign-up creates one: a tenant header left over from the
// last session would make the gateway look that org up, and fail the sign-up if it is gone.
const tenantless: ReadonlySet<DescMethod> = new Set([TenantService.method.signUp]);

// authInterceptor sends the tenant slug and the access token with every call. When a call
// comes back Unauthenticated it refreshes the token once and retries the call once.
export function authInterceptor(
  store: SessionStore,
  refresher: TokenRefresher,
  now: () => number = Date.now,
): Interceptor {
  return (next) => async (req) => {
    const tenant = store.tenant();
    if (tenant && !req.header.has(tenantHeader) && !tenantless.has(req.method)) req.header.set(tenantHeader, tenant);
    if (isPublic(req.method)) return next(req);

    let token = store.get()?.accessToken;
    if (token && store.expiresWithin(now(), expiryMarginMs)) {
      token = (await refresher.refresh(token)) ?? undefined;
    }
    if (token) req.header.set("Authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (e) {
      // A stream's request body cannot be replayed, so only unary calls are retried.
      if (req.stream || !token || ConnectError.from(e).code !== Code.Unauthenticated) throw e;
      const fresh = await refresher.refresh(token);
      if (!fresh) throw e;
      req.header.set("Authorization", `Bearer ${fresh}`);
      return next(req);
    }
  };
}
