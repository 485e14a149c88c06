import { Code, ConnectError } from "@connectrpc/connect";

// The subset of the Web Storage API the store needs, so tests can pass a Map-backed fake.
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  // Milliseconds since the epoch; absent when the server did not say.
  accessExpiresAt?: number;
  // The role the new access token carries; absent keeps the session's role.
  role?: string;
}

export interface Session extends Tokens {
  tenant: string;
  email: string;
  // "owner", "admin" or "member": decides which controls the UI shows. The gateway and the
  // services enforce access themselves, so a stale role only hides or shows a button.
  role: string;
}

const sessionKey = "atrium.session";
const tenantKey = "atrium.tenant";

function isSession(v: unknown): v is Session {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.tenant === "string" &&
    typeof s.accessToken === "string" &&
    typeof s.refreshToken === "string" &&
    typeof s.email === "string" &&
    typeof s.role === "string" &&
    (s.accessExpiresAt === undefined || typeof s.accessExpiresAt === "number")
  );
}

// SessionStore keeps the signed-in session in (session) storage and tells subscribers when
// it changes. get() returns the same object until the session changes, as React's
// useSyncExternalStore requires.
export class SessionStore {
  private current: Session | null;
  private listeners = new Set<() => void>();
  // ended is set when the server ended the session (its refresh token refused), so the login
  // page can say why it appeared; signing in clears it.
  ended = false;

  constructor(private readonly storage: KeyValueStorage) {
    this.current = this.load();
  }

  private load(): Session | null {
    const raw = this.storage.getItem(sessionKey);
    if (!raw) return null;
    try {
      const v: unknown = JSON.parse(raw);
      if (isSession(v)) return v;
    } catch {
      // Corrupt entry: treat as signed out.
    }
    this.storage.removeItem(sessionKey);
    return null;
  }

  get = (): Session | null => this.current;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  // tenant is the org slug sent with every call: the signed-in one, else the last one typed.
  tenant(): string {
    return this.current?.tenant ?? this.storage.getItem(tenantKey) ?? "";
  }

  setTenant(slug: string): void {
    this.storage.setItem(tenantKey, slug);
  }

  signIn(s: Session): void {
    this.ended = false;
    this.setTenant(s.tenant);
    this.save(s);
  }

  setTokens(t: Tokens): void {
    if (!this.current) return;
    this.save({
      ...this.current,
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      accessExpiresAt: t.accessExpiresAt,
      role: t.role ?? this.current.role,
    });
  }

  // pinTenant fixes the org to the one the page's host names. The gateway rejects a tenant
  // header that contradicts the host, so a session for another org cannot work here: it is
  // dropped (its tokens stay valid on that org's own host).
  pinTenant(slug: string): void {
    if (this.current && this.current.tenant !== slug) {
      this.storage.removeItem(sessionKey);
      this.current = null;
      this.emit();
    }
    this.setTenant(slug);
  }

  // signOut forgets the session; ended says the server ended it rather than the user.
  signOut(ended = false): void {
    if (!this.current) return;
    this.ended = ended;
    this.storage.removeItem(sessionKey);
    this.current = null;
    this.emit();
  }

  // expiresWithin reports whether the access token expires in less than marginMs from now.
  expiresWithin(now: number, marginMs: number): boolean {
    const at = this.current?.accessExpiresAt;
    return at !== undefined && at - now < marginMs;
  }

  private save(s: Session): void {
    this.storage.setItem(sessionKey, JSON.stringify(s));
    this.current = s;
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

const roles = new Set(["owner", "admin", "member"]);

// roleFromAccessToken reads the role claim ("rol") of a user access token, a JWT. Refreshes
// return no role of their own, and a member promoted or demoted meanwhile gets a token with
// the new one. Only the display uses it: the server checks the signature, the client cannot.
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

export type RefreshFn = (refreshToken: string) => Promise<Tokens>;

// TokenRefresher rotates the refresh token at most once at a time. Refresh tokens rotate and
// presenting an already-used one revokes the whole family, so two concurrent refreshes with
// the same token would sign the user out: every caller shares the one in flight.
export class TokenRefresher {
  private inFlight: Promise<string | null> | null = null;

  constructor(
    private readonly store: SessionStore,
    private readonly refreshFn: RefreshFn,
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
    if (!this.inFlight) {
      this.inFlight = this.rotate(s.refreshToken).finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private async rotate(refreshToken: string): Promise<string | null> {
    let t: Tokens;
    try {
      t = await this.refreshFn(refreshToken);
    } catch (e) {
      // Only a verdict on the token ends the session; a network failure or an outage leaves
      // it in place so the next call can try again.
      const code = ConnectError.from(e).code;
      if (code === Code.Unauthenticated || code === Code.PermissionDenied || code === Code.NotFound) {
        this.store.signOut(true);
        return null;
      }
      throw e;
    }
    if (!t.accessToken || !t.refreshToken) {
      this.store.signOut(true);
      return null;
    }
    this.store.setTokens(t);
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
