import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { CatalogService, ListEntitiesRequestSchema } from "../gen/atrium/catalog/v1/catalog_pb";
import { AuthService, LoginRequestSchema, SignUpRequestSchema, TenantService } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { authInterceptor, isPublic } from "./auth";
import { memoryStorage, SessionStore, TokenRefresher, type Tokens } from "./session";

function request(method: UnaryRequest["method"], message: UnaryRequest["message"]): UnaryRequest {
  return {
    stream: false,
    service: method.parent,
    method,
    requestMethod: "POST",
    url: `http://localhost/${method.parent.typeName}/${method.name}`,
    signal: new AbortController().signal,
    header: new Headers(),
    contextValues: createContextValues(),
    message,
  };
}

const listEntities = () => request(CatalogService.method.listEntities, create(ListEntitiesRequestSchema));
const login = () => request(AuthService.method.login, create(LoginRequestSchema, { email: "a@b.c" }));

function response(req: UnaryRequest): UnaryResponse {
  return { stream: false, service: req.service, method: req.method, header: new Headers(), trailer: new Headers(), message: req.message };
}

function setup(opts: { signedIn?: boolean; expiresAt?: number; refresh?: () => Promise<Tokens> } = {}) {
  const store = new SessionStore(memoryStorage());
  store.setTenant("acme");
  if (opts.signedIn ?? true) {
    store.signIn({
      tenant: "acme",
      email: "ada@acme.test",
      role: "member",
      accessToken: "a1",
      accessExpiresAt: opts.expiresAt,
    });
  }
  const refreshFn = vi.fn(opts.refresh ?? (async () => ({ accessToken: "a2" })));
  const refresher = new TokenRefresher(store, refreshFn);
  const seen: { auth: string | null; tenant: string | null }[] = [];
  const interceptor = authInterceptor(store, refresher, () => 0);
  const call = (req: UnaryRequest, server: (auth: string | null) => void = () => {}) =>
    interceptor(async (r) => {
      const auth = r.header.get("Authorization");
      seen.push({ auth, tenant: r.header.get("Atrium-Tenant") });
      server(auth);
      return response(r as UnaryRequest);
    })(req);
  return { store, refreshFn, seen, call };
}

const expired = (auth: string | null) => {
  if (auth !== "Bearer a2") throw new ConnectError("token expired", Code.Unauthenticated);
};

describe("isPublic", () => {
  it("follows the access option of the generated descriptors", () => {
    expect(isPublic(AuthService.method.login)).toBe(true);
    expect(isPublic(AuthService.method.refresh)).toBe(true);
    expect(isPublic(TenantService.method.signUp)).toBe(true);
    expect(isPublic(TenantService.method.getTenant)).toBe(false);
    expect(isPublic(CatalogService.method.listEntities)).toBe(false);
  });
});

describe("authInterceptor", () => {
  it("sends tenant and bearer token", async () => {
    const { seen, call } = setup();
    await call(listEntities());
    expect(seen).toEqual([{ auth: "Bearer a1", tenant: "acme" }]);
  });

  it("sends no tenant with sign-up, which belongs to no tenant yet", async () => {
    const { seen, call } = setup();
    await call(request(TenantService.method.signUp, create(SignUpRequestSchema, { slug: "newco" })));
    expect(seen).toEqual([{ auth: null, tenant: null }]);
  });

  it("sends no token to public methods, and keeps an explicit tenant header", async () => {
    const { seen, call } = setup();
    const req = login();
    req.header.set("Atrium-Tenant", "globex");
    await call(req);
    expect(seen).toEqual([{ auth: null, tenant: "globex" }]);
  });

  it("refreshes once and retries once on Unauthenticated", async () => {
    const { store, refreshFn, seen, call } = setup();
    await call(listEntities(), expired);
    expect(seen.map((s) => s.auth)).toEqual(["Bearer a1", "Bearer a2"]);
    expect(refreshFn).toHaveBeenCalledTimes(1);
    expect(store.get()?.accessToken).toBe("a2");
  });

  it("gives up after one retry", async () => {
    const { refreshFn, seen, call } = setup();
    const always = () => {
      throw new ConnectError("no", Code.Unauthenticated);
    };
    await expect(call(listEntities(), always)).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(seen).toHaveLength(2);
    expect(refreshFn).toHaveBeenCalledTimes(1);
  });

  it("signs out and surfaces the error when the refresh token is rejected", async () => {
    const { store, seen, call } = setup({
      refresh: async () => {
        throw new ConnectError("reused", Code.Unauthenticated);
      },
    });
    await expect(call(listEntities(), expired)).rejects.toThrow(/token expired/);
    expect(seen).toHaveLength(1);
    expect(store.get()).toBeNull();
  });

  it("does not refresh on other errors or without a session", async () => {
    const denied = () => {
      throw new ConnectError("admins only", Code.PermissionDenied);
    };
    const a = setup();
    await expect(a.call(listEntities(), denied)).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(a.refreshFn).not.toHaveBeenCalled();

    const b = setup({ signedIn: false });
    await expect(b.call(listEntities(), expired)).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(b.seen).toEqual([{ auth: null, tenant: "acme" }]);
    expect(b.refreshFn).not.toHaveBeenCalled();
  });

  it("refreshes before the call when the token is about to expire", async () => {
    const { refreshFn, seen, call } = setup({ expiresAt: 10_000 });
    await call(listEntities(), expired);
    expect(seen.map((s) => s.auth)).toEqual(["Bearer a2"]);
    expect(refreshFn).toHaveBeenCalledTimes(1);
  });

  it("shares one refresh between concurrent failing calls", async () => {
    const { refreshFn, seen, call } = setup();
    await Promise.all([call(listEntities(), expired), call(listEntities(), expired), call(listEntities(), expired)]);
    expect(refreshFn).toHaveBeenCalledTimes(1);
    expect(seen.filter((s) => s.auth === "Bearer a2")).toHaveLength(3);
  });
});
