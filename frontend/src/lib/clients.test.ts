import { BinaryWriter, base64Encode } from "@bufbuild/protobuf/wire";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { newClients } from "./clients";
import { memoryStorage, SessionStore } from "./session";
import { fieldViolations, violationsByField } from "./violations";

// A fake gateway behind the real Connect transport: what goes over the wire (paths, headers,
// JSON bodies, error bodies) is what the browser would send and read.
interface Seen {
  path: string;
  auth: string | null;
  tenant: string | null;
  body: unknown;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

// The access token a refresh hands out: a JWT whose role claim says the user is now admin.
const a2 = `e30.${btoa(JSON.stringify({ rol: "admin" })).replace(/=+$/, "")}.c2ln`;

function gateway() {
  const seen: Seen[] = [];
  let validRefresh = "r1";
  let cookie = "r1";
  let validAccess = "a1";
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const raw = init?.body;
    const text = raw instanceof Uint8Array ? new TextDecoder().decode(raw) : String(raw ?? "{}");
    const body: unknown = JSON.parse(text);
    seen.push({ path: url.pathname, auth: headers.get("Authorization"), tenant: headers.get("Atrium-Tenant"), body });
    switch (url.pathname) {
      case "/atrium.tenancy.v1.AuthService/Refresh": {
        // The browser sends the httpOnly cookie; the gateway puts its token in the message.
        if (headers.get("Atrium-Session") !== "cookie") return json(400, { code: "invalid_argument", message: "no cookie mode" });
        if (cookie !== validRefresh) return json(401, { code: "unauthenticated", message: "refresh token reused" });
        validRefresh = "r2";
        cookie = "r2";
        validAccess = a2;
        return json(200, { accessToken: a2, accessTokenExpireTime: "2030-01-01T00:00:00Z", user: { email: "ada@acme.test" } });
      }
      case "/atrium.tenancy.v1.TenantService/GetTenant":
        if (headers.get("Authorization") !== `Bearer ${validAccess}`) {
          return json(401, { code: "unauthenticated", message: "token expired" });
        }
        return json(200, { tenant: { slug: headers.get("Atrium-Tenant"), status: "TENANT_STATUS_ACTIVE" } });
      case "/atrium.tenancy.v1.TenantService/SignUp": {
        const w = new BinaryWriter();
        w.uint32(10).fork().uint32(10).string("admin_password").uint32(18).string("too weak").join();
        return json(400, {
          code: "invalid_argument",
          message: "admin_password: too weak",
          details: [{ type: "google.rpc.BadRequest", value: base64Encode(w.finish(), "std_raw") }],
        });
      }
      case "/atrium.catalog.v1.CatalogService/ListEntities":
        return json(200, {
          entities: [{ kind: "Component", metadata: { name: "payments", tags: ["java"] }, spec: { type: "service" } }],
          totalItems: "1",
          nextPageToken: "p2",
        });
      default:
        return json(404, { code: "unimplemented", message: url.pathname });
    }
  };
  return { seen, fetchImpl, expireAccess: () => (validAccess = "gone"), spendCookie: () => (cookie = "spent") };
}

function signedIn() {
  const store = new SessionStore(memoryStorage());
  store.signIn({ tenant: "acme", email: "ada@acme.test", role: "owner", accessToken: "a1" });
  return store;
}

describe("clients over the Connect protocol", () => {
  it("send tenant and token, and decode JSON replies", async () => {
    const gw = gateway();
    const c = newClients("http://portal.test", signedIn(), gw.fetchImpl);
    const r = await c.catalog.listEntities({ filter: ["kind=component"], pageSize: 25 });
    expect(r.entities[0]).toEqual({ kind: "Component", metadata: { name: "payments", tags: ["java"] }, spec: { type: "service" } });
    expect(r.totalItems).toBe(1n);
    expect(r.nextPageToken).toBe("p2");
    expect(gw.seen).toEqual([
      {
        path: "/atrium.catalog.v1.CatalogService/ListEntities",
        auth: "Bearer a1",
        tenant: "acme",
        body: { filter: ["kind=component"], pageSize: 25 },
      },
    ]);
  });

  it("refresh an expired token once, replay the call, and store the rotated tokens and role", async () => {
    const gw = gateway();
    const store = signedIn();
    const c = newClients("http://portal.test", store, gw.fetchImpl);
    gw.expireAccess();
    const [a, b] = await Promise.all([c.tenant.getTenant({}), c.tenant.getTenant({})]);
    expect(a.tenant?.slug).toBe("acme");
    expect(b.tenant?.slug).toBe("acme");
    const refreshes = gw.seen.filter((s) => s.path.endsWith("/Refresh"));
    expect(refreshes).toEqual([
      { path: "/atrium.tenancy.v1.AuthService/Refresh", auth: null, tenant: "acme", body: {} },
    ]);
    expect(store.get()).toMatchObject({
      accessToken: a2,
      accessExpiresAt: Date.UTC(2030, 0, 1),
      role: "admin",
    });
  });

  it("end the session when the refresh token is refused", async () => {
    const gw = gateway();
    const store = new SessionStore(memoryStorage());
    store.signIn({ tenant: "acme", email: "x", role: "member", accessToken: "old" });
    gw.spendCookie();
    const c = newClients("http://portal.test", store, gw.fetchImpl);
    await expect(c.tenant.getTenant({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(store.get()).toBeNull();
  });

  it("surface sign-up field violations by form field", async () => {
    const gw = gateway();
    const store = new SessionStore(memoryStorage());
    const c = newClients("http://portal.test", store, gw.fetchImpl);
    const err = await c.tenant
      .signUp({ orgName: "Acme", slug: "acme", adminEmail: "a@acme.test", adminPassword: "x" })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    const v = violationsByField(fieldViolations(err), ["orgName", "slug", "adminEmail", "adminPassword"] as const);
    expect(v.byField).toEqual({ adminPassword: ["too weak"] });
    expect(gw.seen[0].auth).toBeNull();
  });
});
