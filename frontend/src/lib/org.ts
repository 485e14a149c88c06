import { useEffect, useSyncExternalStore } from "react";

// OrgStore holds the signed-in organization (GetTenant) for the app shell, which shows the
// "scheduled for deletion" page instead of the portal while the organization is being
// deleted. Settings tells it when the owner deletes the organization or cancels that.

export type OrgState<T> = { tenant?: T; graceSeconds?: bigint; loading: boolean; error?: unknown };

export class OrgStore<T> {
  private key = "";
  private state: OrgState<T> = { loading: false };
  private listeners = new Set<() => void>();

  constructor(private readonly load: () => Promise<{ tenant?: T; deletionGraceSeconds: bigint }>) {}

  private emit(s: OrgState<T>) {
    this.state = s;
    for (const l of this.listeners) l();
  }

  use(key: string): void {
    if (key === this.key) return;
    this.key = key;
    this.state = { loading: key !== "" }; // another session: nothing of the last one's
    this.reload();
  }

  reload(): void {
    const key = this.key;
    if (key === "") {
      this.emit({ loading: false });
      return;
    }
    this.emit({ ...this.state, loading: true, error: undefined });
    this.load().then(
      (r) => key === this.key && this.emit({ tenant: r.tenant, graceSeconds: r.deletionGraceSeconds, loading: false }),
      (error: unknown) => key === this.key && this.emit({ ...this.state, loading: false, error }),
    );
  }

  // set replaces the tenant with the one a change returned.
  set(tenant: T | undefined): void {
    this.emit({ ...this.state, tenant, loading: false, error: undefined });
  }

  snapshot = () => this.state;
  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}

export function useOrgStore<T>(store: OrgStore<T>, key: string): OrgState<T> {
  useEffect(() => store.use(key), [store, key]);
  return useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
}

// deletionNote is what an organization's deletion means, for the confirmation and the page
// shown while it lasts.
export function graceText(seconds: bigint | undefined): string {
  const s = Number(seconds ?? 0n);
  if (s <= 0) return "a grace period";
  const days = s / 86400;
  if (days >= 1 && Number.isInteger(days)) return days === 1 ? "1 day" : `${days} days`;
  const hours = s / 3600;
  if (hours >= 1 && Number.isInteger(hours)) return hours === 1 ? "1 hour" : `${hours} hours`;
  const minutes = Math.round(s / 60);
  return minutes <= 1 ? `${s} seconds` : `${minutes} minutes`;
}
