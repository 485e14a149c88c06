import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import {
  memoryStorage,
  roleFromAccessToken,
  SessionStore,
  TokenRefresher,
  type Session,
  type SessionChannel,
  type SessionMessage,
  type Tokens,
} from "./session";

const session: Session = {
  tenant: "acme",
  email: "ada@acme.test",
  role: "owner",
  accessToken: "a1",
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
  it("keeps tokens in memory only: storage holds the org slug and nothing secret", () => {
    const storage = memoryStorage();
    const store = new SessionStore(storage);
    store.signIn(session);
    expect(storage.getItem("atrium.tenant")).toBe("acme");
    const again = new SessionStore(storage);
    expect(again.get()).toBeNull(); // a reload restores through the cookie, not storage
    expect(again.tenant()).toBe("acme");
    for (const k of ["atrium.session", "atrium.refresh"]) expect(storage.getItem(k)).toBeNull();
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
    store.setTokens({ accessToken: "x" });
    expect(store.get()).toBeNull();
    store.signIn(session);
    store.setTokens({ accessToken: "a2" });
    expect(store.get()).toEqual({ ...session, accessToken: "a2", accessExpiresAt: undefined });
  });

  it("takes a role from new tokens, and keeps the old one when they carry none", () => {
    const store = new SessionStore(memoryStorage());
    store.signIn(session);
    store.setTokens({ accessToken: "a2", role: "member" });
    expect(store.get()?.role).toBe("member");
    store.setTokens({ accessToken: "a3" });
    expect(store.get()?.role).toBe("member");
  });

  it("pins the host's org: drops a session for another org, keeps one for this org", () => {
    const store = new SessionStore(memoryStorage());
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

// bus links SessionChannels as BroadcastChannel does: a post reaches every other tab.
function bus() {
  const tabs: ((m: SessionMessage) => void)[] = [];
  return (): SessionChannel => {
    let mine: ((m: SessionMessage) => void) | undefined;
    return {
      post: (m) => tabs.filter((t) => t !== mine).forEach((t) => t(m)),
      listen: (cb) => {
        mine = cb;
        tabs.push(cb);
      },
    };
  };
}

describe("sessions across tabs", () => {
  it("logging out in one tab ends the session in the others of the org", () => {
    const tab = bus();
    const a = new SessionStore(memoryStorage(), tab());
    const b = new SessionStore(memoryStorage(), tab());
    const other = new SessionStore(memoryStorage(), tab());
    a.signIn(session);
    b.signIn(session, false);
    other.signIn({ ...session, tenant: "globex" }, false);
    a.signOut();
    expect(b.get()).toBeNull();
    expect(b.ended).toBe(false); // the user did it, not the server
    expect(other.get()).not.toBeNull();
  });

  it("a sign-in in one tab makes the signed-out tabs restore", () => {
    const tab = bus();
    const a = new SessionStore(memoryStorage(), tab());
    const b = new SessionStore(memoryStorage(), tab());
    b.setTenant("acme");
    const restore = vi.fn();
    b.onRemoteSignIn = restore;
    a.signIn(session);
    expect(restore).toHaveBeenCalledTimes(1);
  });
});

describe("TokenRefresher", () => {
  function setup(fn: () => Promise<Tokens>) {
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
    d.resolve({ accessToken: "a2", accessExpiresAt: 5 });
    expect(await Promise.all([p1, p2])).toEqual(["a2", "a2"]);
    expect(refreshFn).toHaveBeenCalledTimes(1);
    expect(store.get()).toMatchObject({ accessToken: "a2", accessExpiresAt: 5 });
  });

  it("takes turns with other tabs through the lock, one rotation each", async () => {
    const order: string[] = [];
    let held: Promise<unknown> = Promise.resolve();
    // A lock shared by two tabs, as navigator.locks is.
    const lock = <T,>(_: string, fn: () => Promise<T>): Promise<T> => {
      const run = held.then(fn);
      held = run.catch(() => undefined);
      return run;
    };
    const tabA = new SessionStore(memoryStorage());
    const tabB = new SessionStore(memoryStorage());
    tabA.signIn(session, false);
    tabB.signIn(session, false);
    let cookie = 1;
    const rotate = (tab: string) => async () => {
      const seen = cookie;
      order.push(`${tab}:start:${seen}`);
      await new Promise((r) => setTimeout(r, 5));
      cookie = seen + 1; // the gateway set the rotated cookie
      order.push(`${tab}:end`);
      return { accessToken: `${tab}${cookie}` };
    };
    const a = new TokenRefresher(tabA, rotate("a"), lock);
    const b = new TokenRefresher(tabB, rotate("b"), lock);
    await Promise.all([a.refresh("a1"), b.refresh("a1")]);
    // b never presents the cookie a already spent (that would revoke the family).
    expect(order).toEqual(["a:start:1", "a:end", "b:start:2", "b:end"]);
  });

  it("restores a session from the cookie in a new tab, and says restoring meanwhile", async () => {
    const storage = memoryStorage();
    new SessionStore(storage).signIn(session); // another tab, earlier
    const store = new SessionStore(storage);
    const d = deferred<Tokens>();
    const refresher = new TokenRefresher(store, () => d.promise);
    const p = refresher.restore();
    expect(store.isRestoring()).toBe(true);
    d.resolve({ accessToken: "a9", email: "ada@acme.test", role: "admin" });
    expect(await p).toBe(true);
    expect(store.isRestoring()).toBe(false);
    expect(store.get()).toMatchObject({ tenant: "acme", email: "ada@acme.test", role: "admin", accessToken: "a9" });
  });

  it("a browser that never signed in does not even ask", async () => {
    const store = new SessionStore(memoryStorage());
    store.setTenant("acme");
    const fn = vi.fn(async () => ({ accessToken: "x" }));
    expect(await new TokenRefresher(store, fn).restore()).toBe(false);
    expect(fn).not.toHaveBeenCalled();
  });

  it("a restore with no cookie is simply signed out, not an ended session", async () => {
    const storage = memoryStorage();
    storage.setItem("atrium.signedIn.acme", "1");
    const store = new SessionStore(storage);
    store.setTenant("acme");
    const refresher = new TokenRefresher(store, async () => {
      throw new ConnectError("no session", Code.Unauthenticated);
    });
    expect(await refresher.restore()).toBe(false);
    expect(store.ended).toBe(false);
    expect(store.isRestoring()).toBe(false);
  });

  it("does not rotate again for a token that was already replaced", async () => {
    const { refreshFn, refresher } = setup(async () => ({ accessToken: "a2" }));
    expect(await refresher.refresh("a1")).toBe("a2");
    expect(await refresher.refresh("a1")).toBe("a2");
    expect(refreshFn).toHaveBeenCalledTimes(1);
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
      store.signIn(session);
      expect(store.ended).toBe(false);
    },
  );

  it("signs out on an empty token reply", async () => {
    const { store, refresher } = setup(async () => ({ accessToken: "" }));
    expect(await refresher.refresh("a1")).toBeNull();
    expect(store.get()).toBeNull();
    expect(store.ended).toBe(true);
  });

  it("does not call a sign-out by the user an ended session", () => {
    const { store } = setup(async () => ({ accessToken: "a" }));
    store.signOut();
    expect(store.ended).toBe(false);
  });

  it("keeps the session when the server is unreachable, and retries later", async () => {
    let fail = true;
    const { store, refresher } = setup(async () => {
      if (fail) throw new ConnectError("fetch failed", Code.Unavailable);
      return { accessToken: "a2" };
    });
    await expect(refresher.refresh("a1")).rejects.toThrow(/fetch failed/);
    expect(store.get()?.accessToken).toBe("a1");
    expect(store.ended).toBe(false);
    fail = false;
    expect(await refresher.refresh("a1")).toBe("a2");
  });

  it("returns null when signed out, without a call", async () => {
    const { store, refreshFn, refresher } = setup(async () => ({ accessToken: "a" }));
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
