import { Code, ConnectError } from "@connectrpc/connect";

// Sessions in the browser. The refresh token lives in an httpOnly cookie that the gateway
// sets and clears (Login, Refresh and Logout sent with `Atrium-Session: cookie`), so no
// script, ours or an injected one, can read it. The page holds only the 15-minute access
// token, in memory: a new tab, a reload or a deep link restores the session with one
// Refresh, which the cookie authorizes. Logging out in one tab ends the session in all of
// them (SessionChannel).

// The subset of the Web Storage API the store needs, so tests can pass a Map-backed fake.
// Only the org slug is kept there: it is not a secret, and a new tab on the shared host
// (localhost, where the Atrium-Tenant header names the org) needs it to know whose cookie
// to use.
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Tokens {
  accessToken: string;
  // Milliseconds since the epoch; absent when the server did not say.
  accessExpiresAt?: number;
  // The role the new access token carries; absent keeps the session's role.
  role?: string;
  // Who the session is: a refresh that restores a session in a new tab learns it here.
  email?: string;
}

export interface Session {
  tenant: string;
  email: string;
  // "owner", "admin" or "member": decides which controls the UI shows. The gateway and the
  // services enforce access themselves, so a stale role only hides or shows a button.
  role: string;
  accessToken: string;
  accessExpiresAt?: number;
}

// SessionMessage goes between the tabs of one browser.
export type SessionMessage = { type: "signout"; tenant: string } | { type: "signin"; tenant: string };

// SessionChannel carries SessionMessages to the other tabs (BroadcastChannel in browsers).
export interface SessionChannel {
  post(m: SessionMessage): void;
  listen(cb: (m: SessionMessage) => void): void;
}

const tenantKey = "atrium.tenant";
// hintKey marks that this browser signed in to the org and has not signed out: only then
// does a new tab ask the cookie for a session. Without it every visit of a signed-out
// browser would start with a refused Refresh (a 401 in the console, a wasted round trip).
const hintKey = (tenant: string) => `atrium.signedIn.${tenant}`;

// SessionStore keeps the signed-in session in memory and tells subscribers when it changes.
// get() returns the same object until the session changes, as React's useSyncExternalStore
// requires.
export class SessionStore {
  private current: Session | null = null;
  private listeners = new Set<() => void>();
  // restoring is true while the first Refresh of a page load asks whether the cookie still
  // holds a session, so the page shows "loading" rather than flashing the login form.
  private restoring = false;
  // ended is set when the server ended the session (its refresh token refused), so the login
  // page can say why it appeared; signing in clears it.
  ended = false;
  // onRemoteSignIn runs when another tab signed in to this org: this tab restores too.
  onRemoteSignIn: (() => void) | undefined;

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly channel?: SessionChannel,
  ) {
    channel?.listen((m) => {
      if (m.tenant !== this.tenant()) return;
      if (m.type === "signout") this.drop(false);
      else if (!this.current) this.onRemoteSignIn?.();
    });
  }

  get = (): Session | null => this.current;

  isRestoring = (): boolean => this.restoring;

  setRestoring(v: boolean): void {
    if (this.restoring === v) return;
    this.restoring = v;
    this.emit();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  // tenant is the org slug sent with every call: the signed-in one, else the last one used.
  tenant(): string {
    return this.current?.tenant ?? this.storage.getItem(tenantKey) ?? "";
  }

  setTenant(slug: string): void {
    this.storage.setItem(tenantKey, slug);
  }

  // signIn starts a session; other tabs of the org are told, so they restore it as well.
  signIn(s: Session, broadcast = true): void {
    this.ended = false;
    this.restoring = false;
    this.setTenant(s.tenant);
    this.storage.setItem(hintKey(s.tenant), "1");
    this.save(s);
    if (broadcast) this.channel?.post({ type: "signin", tenant: s.tenant });
  }

  setTokens(t: Tokens): void {
    if (!this.current) return;
    this.save({
      ...this.current,
      accessToken: t.accessToken,
      accessExpiresAt: t.accessExpiresAt,
      role: t.role ?? this.current.role,
      email: t.email || this.current.email,
    });
  }

  // pinTenant fixes the org to the one the page's host names. The gateway rejects a tenant
  // header that contradicts the host, so a session for another org cannot work here.
  pinTenant(slug: string): void {
    if (this.current && this.current.tenant !== slug) this.drop(false);
    this.setTenant(slug);
  }

  // signOut forgets the session in this tab and every other tab of the org; ended says the
  // server ended it rather than the user.
  signOut(ended = false): void {
    const tenant = this.tenant();
    const had = this.current !== null;
    this.storage.removeItem(hintKey(tenant));
    this.drop(ended);
    if (had) this.channel?.post({ type: "signout", tenant });
  }

  private drop(ended: boolean): void {
    if (!this.current) return;
    this.ended = ended;
    this.current = null;
    this.emit();
  }

  forgetSession(): void {
    this.storage.removeItem(hintKey(this.tenant()));
  }

  // mayHaveSession says whether a restore is worth a Refresh (see hintKey).
  mayHaveSession(): boolean {
    const t = this.tenant();
    return t !== "" && this.storage.getItem(hintKey(t)) === "1";
  }

  // expiresWithin reports whether the access token expires in less than marginMs from now.
  expiresWithin(now: number, marginMs: number): boolean {
    const at = this.current?.accessExpiresAt;
    return at !== undefined && at - now < marginMs;
  }

  private save(s: Session): void {
    this.current = s;
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

const roles = new Set(["owner", "admin", "member"]);

// roleFromAccessToken reads the role claim ("rol") of a user access token, a JWT. A member
// promoted or demoted meanwhile gets a token with the new one. Only the display uses it:
// the server checks the signature, the client cannot.
export function roleFromAccessToken(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const claims: unknown = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "=")));
    if (typeof claims !== "object" || claims === null) return undefined;
    const rol = (claims as Record<string, unknown>).rol;
    return typeof rol === "string" && roles.has(rol) ? rol : undefined;
  } catch {
    return undefined;
  }
}

// RefreshFn rotates the cookie's refresh token and returns a new access token.
export type RefreshFn = () => Promise<Tokens>;

// LockFn runs fn while holding a lock shared by every tab of the browser.
export type LockFn = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

// noLock is for tests and browsers without the Web Locks API.
export const noLock: LockFn = (_name, fn) => fn();

// TokenRefresher rotates the refresh token at most once at a time. Refresh tokens rotate and
// presenting an already-used one revokes the whole family, so two concurrent refreshes with
// the same cookie would sign the user out: every caller in the tab shares the one in flight,
// and tabs take turns through a Web Lock (each then sends the cookie the previous one left).
export class TokenRefresher {
  private inFlight: Promise<string | null> | null = null;

  constructor(
    private readonly store: SessionStore,
    private readonly refreshFn: RefreshFn,
    private readonly lock: LockFn = noLock,
  ) {}

  // refresh returns a usable access token to replace staleAccessToken, or null when the
  // session is over (it is then signed out). If the token was already replaced, say by a
  // refresh another call finished meanwhile, it returns the current one without a call.
  refresh(staleAccessToken: string | undefined): Promise<string | null> {
    const s = this.store.get();
    if (!s) return Promise.resolve(null);
    if (staleAccessToken !== undefined && s.accessToken !== staleAccessToken) {
      return Promise.resolve(s.accessToken);
    }
    return this.rotateOnce();
  }

  // restore asks whether the cookie holds a session for the store's org and signs in with
  // it. True when signed in. A network failure rejects (the page offers a retry); a refused
  // or missing cookie is simply "signed out".
  async restore(): Promise<boolean> {
    if (this.store.get()) return true;
    const tenant = this.store.tenant();
    if (!tenant || !this.store.mayHaveSession()) return false;
    this.store.setRestoring(true);
    try {
      return (await this.rotateOnce(tenant)) !== null;
    } finally {
      this.store.setRestoring(false);
    }
  }

  private rotateOnce(restoreTenant?: string): Promise<string | null> {
    if (!this.inFlight) {
      this.inFlight = this.lock(`atrium.refresh.${this.store.tenant()}`, () => this.rotate(restoreTenant)).finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private async rotate(restoreTenant?: string): Promise<string | null> {
    let t: Tokens;
    try {
      t = await this.refreshFn();
    } catch (e) {
      // Only a verdict on the token ends the session; a network failure or an outage leaves
      // it in place so the next call can try again.
      const code = ConnectError.from(e).code;
      if (code === Code.Unauthenticated || code === Code.PermissionDenied || code === Code.NotFound) {
        // A restore that finds no session was never signed in here: no "session ended"; and
        // no more asking until the next sign-in.
        if (restoreTenant === undefined) this.store.signOut(true);
        else this.store.forgetSession();
        return null;
      }
      throw e;
    }
    if (!t.accessToken) {
      if (restoreTenant === undefined) this.store.signOut(true);
      return null;
    }
    if (restoreTenant !== undefined && !this.store.get()) {
      // Restored in this tab only: the other tabs already have the session.
      this.store.signIn(
        { tenant: restoreTenant, email: t.email ?? "", role: t.role ?? "member", accessToken: t.accessToken, accessExpiresAt: t.accessExpiresAt },
        false,
      );
    } else {
      this.store.setTokens(t);
    }
    return t.accessToken;
  }
}

export function memoryStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

// browserChannel uses BroadcastChannel, else the storage event (older browsers).
export function browserChannel(): SessionChannel | undefined {
  if (typeof BroadcastChannel !== "undefined") {
    const bc = new BroadcastChannel("atrium.session");
    return {
      post: (m) => bc.postMessage(m),
      listen: (cb) => bc.addEventListener("message", (e: MessageEvent<SessionMessage>) => cb(e.data)),
    };
  }
  if (typeof window === "undefined" || !window.localStorage) return undefined;
  const key = "atrium.session.message";
  return {
    // A fresh value every time, so the same message twice still fires the event.
    post: (m) => window.localStorage.setItem(key, JSON.stringify({ ...m, at: Date.now() + Math.random() })),
    listen: (cb) =>
      window.addEventListener("storage", (e) => {
        if (e.key !== key || !e.newValue) return;
        try {
          cb(JSON.parse(e.newValue) as SessionMessage);
        } catch {
          // Not ours.
        }
      }),
  };
}

// browserLock uses the Web Locks API when the browser has it.
export function browserLock(): LockFn {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  if (!locks) return noLock;
  // request() resolves with what the callback returns; the callback's promise is awaited.
  return <T,>(name: string, fn: () => Promise<T>) => locks.request(name, fn) as unknown as Promise<T>;
}
