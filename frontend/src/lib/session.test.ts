import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import {
  memoryStorage,
  roleFromAccessToken,
  SessionStore,
  TokenRefresher,
  type Session,
  type Tokens,
} from "./session";

const session: Session = {
  tenant: "acme",
  email: "ada@acme.test",
  role: "owner",
  accessToken: "a1",
  refreshToken: "r1",
  accessExpiresAt: 1_000_000,
};

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("SessionStore", () => {
  it("persists the session and reloads it", () => {
    const storage = memoryStorage();
    new SessionStore(storage).signIn(session);
    const again = new SessionStore(storage);
    expect(again.get()).toEqual(session);
    expect(again.tenant()).toBe("acme");
  });

  it("drops a corrupt or incomplete stored session", () => {
    for (const raw of ["{not json", JSON.stringify({ tenant: "acme" }), "null", "42"]) {
      const storage = memoryStorage();
      storage.setItem("atrium.session", raw);
      expect(new SessionStore(storage).get()).toBeNull();
      expect(storage.getItem("atrium.session")).toBeNull();
    }
  });

  it("keeps the tenant after sign-out and notifies subscribers once per change", () => {
    const store = new SessionStore(memoryStorage());
    const listener = vi.fn();
    const unsubscribe = store.subscribe(listener);
    store.signIn(session);
    const first = store.get();
    expect(store.get()).toBe(first); // stable snapshot
    store.signOut();
    store.signOut(); // already signed out: no event
    expect(listener).toHaveBeenCalledTimes(2);
    expect(store.get()).toBeNull();
    expect(store.tenant()).toBe("acme");
    unsubscribe();
    store.signIn(session);
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it("replaces tokens, not identity, and ignores tokens when signed out", () => {
    const store = new SessionStore(memoryStorage());
    store.setTokens({ accessToken: "x", refreshToken: "y" });
    expect(store.get()).toBeNull();
    store.signIn(session);
    store.setTokens({ accessToken: "a2", refreshToken: "r2" });
    expect(store.get()).toEqual({ ...session, accessToken: "a2", refreshToken: "r2", accessExpiresAt: undefined });
  });

  it("takes a role from new tokens, and keeps the old one when they carry none", () => {
    const store = new SessionStore(memoryStorage());
    store.signIn(session);
    store.setTokens({ accessToken: "a2", refreshToken: "r2", role: "member" });
    expect(store.get()?.role).toBe("member");
    store.setTokens({ accessToken: "a3", refreshToken: "r3" });
    expect(store.get()?.role).toBe("member");
  });

  it("pins the host's org: drops a session for another org, keeps one for this org", () => {
    const storage = memoryStorage();
    const store = new SessionStore(storage);
    store.signIn(session);
    const listener = vi.fn();
    store.subscribe(listener);
    store.pinTenant("acme");
    expect(store.get()).toEqual(session);
    expect(listener).not.toHaveBeenCalled();

    store.pinTenant("globex");
    expect(store.get()).toBeNull();
    expect(store.tenant()).toBe("globex");
    expect(listener).toHaveBeenCalledTimes(1);
    expect(new SessionStore(storage).get()).toBeNull();
  });

  it.each([
    [undefined, 0, false],
    [1_000_000, 900_000, false],
    [1_000_000, 980_000, true],
    [1_000_000, 2_000_000, true],
  ])("expiry %s at now %s within 30s: %s", (at, now, want) => {
    const store = new SessionStore(memoryStorage());
    store.signIn({ ...session, accessExpiresAt: at });
    expect(store.expiresWithin(now, 30_000)).toBe(want);
  });
});

describe("TokenRefresher", () => {
  function setup(fn: (rt: string) => Promise<Tokens>) {
    const store = new SessionStore(memoryStorage());
    store.signIn(session);
    const refreshFn = vi.fn(fn);
    return { store, refreshFn, refresher: new TokenRefresher(store, refreshFn) };
  }

  it("shares one rotation between concurrent callers", async () => {
    const d = deferred<Tokens>();
    const { store, refreshFn, refresher } = setup(() => d.promise);
    const p1 = refresher.refresh("a1");
    const p2 = refresher.refresh("a1");
    d.resolve({ accessToken: "a2", refreshToken: "r2", accessExpiresAt: 5 });
    expect(await Promise.all([p1, p2])).toEqual(["a2", "a2"]);
    expect(refreshFn).toHaveBeenCalledTimes(1);
    expect(refreshFn).toHaveBeenCalledWith("r1");
    expect(store.get()).toMatchObject({ accessToken: "a2", refreshToken: "r2", accessExpiresAt: 5 });
  });

  it("does not rotate again for a token that was already replaced", async () => {
    const { refreshFn, refresher } = setup(async () => ({ accessToken: "a2", refreshToken: "r2" }));
    expect(await refresher.refresh("a1")).toBe("a2");
    expect(await refresher.refresh("a1")).toBe("a2");
    expect(refreshFn).toHaveBeenCalledTimes(1);
    // A later expiry of a2 rotates r2, never the spent r1.
    expect(await refresher.refresh("a2")).toBe("a2");
    expect(refreshFn).toHaveBeenLastCalledWith("r2");
  });

  it.each([Code.Unauthenticated, Code.PermissionDenied, Code.NotFound])(
    "signs out when the server rejects the refresh token (%s)",
    async (code) => {
      const { store, refresher } = setup(async () => {
        throw new ConnectError("revoked", code);
      });
      expect(await refresher.refresh("a1")).toBeNull();
      expect(store.get()).toBeNull();
      expect(store.ended).toBe(true);
      // Signing in again starts afresh.
      store.signIn(session);
      expect(store.ended).toBe(false);
    },
  );

  it("signs out on an empty token reply", async () => {
    const { store, refresher } = setup(async () => ({ accessToken: "", refreshToken: "" }));
    expect(await refresher.refresh("a1")).toBeNull();
    expect(store.get()).toBeNull();
    expect(store.ended).toBe(true);
  });

  it("does not call a sign-out by the user an ended session", () => {
    const { store } = setup(async () => ({ accessToken: "a", refreshToken: "r" }));
    store.signOut();
    expect(store.ended).toBe(false);
  });

  it("keeps the session when the server is unreachable, and retries later", async () => {
    let fail = true;
    const { store, refresher } = setup(async () => {
      if (fail) throw new ConnectError("fetch failed", Code.Unavailable);
      return { accessToken: "a2", refreshToken: "r2" };
    });
    await expect(refresher.refresh("a1")).rejects.toThrow(/fetch failed/);
    expect(store.get()?.refreshToken).toBe("r1");
    expect(store.ended).toBe(false);
    fail = false;
    expect(await refresher.refresh("a1")).toBe("a2");
  });

  it("returns null when signed out, without a call", async () => {
    const { store, refreshFn, refresher } = setup(async () => ({ accessToken: "a", refreshToken: "r" }));
    store.signOut();
    expect(await refresher.refresh("a1")).toBeNull();
    expect(refreshFn).not.toHaveBeenCalled();
  });
});

// jwt builds an unsigned token with the given claims, base64url-encoded like a real one.
function jwt(claims: unknown): string {
  const enc = (v: unknown) => btoa(JSON.stringify(v)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${enc({ alg: "EdDSA", typ: "JWT" })}.${enc(claims)}.c2ln`;
}

describe("roleFromAccessToken", () => {
  it.each([
    [jwt({ tid: "t1", rol: "admin", sub: "u1" }), "admin"],
    [jwt({ rol: "owner" }), "owner"],
    [jwt({ rol: "member", name: "\u00e9\u00e8?>>" }), "member"],
    [jwt({ rol: "root" }), undefined],
    [jwt({ rol: 1 }), undefined],
    [jwt({}), undefined],
    [jwt(null), undefined],
    ["atr_pat_opaque", undefined],
    ["a.%%%.c", undefined],
    ["", undefined],
  ])("%s -> %s", (token, want) => {
    expect(roleFromAccessToken(token)).toBe(want);
  });
});
