import { useEffect, useSyncExternalStore } from "react";

// Stars: entity refs a member marked, kept per member on the server (CatalogService.ListStars
// and SetStar), so they follow the member to every browser. The store loads them once per
// session (key: org + member) and applies a toggle at once, undoing it when the server refuses.

export type StarItem = { ref: string; uid: string };

export interface StarApi {
  list(): Promise<StarItem[]>;
  set(ref: string, starred: boolean): Promise<StarItem | undefined>;
}

export type StarState = {
  // Newest first.
  items: StarItem[];
  loading: boolean;
  error?: unknown;
};

const empty: StarState = { items: [], loading: true };

export class StarStore {
  private key = "";
  private state: StarState = empty;
  private listeners = new Set<() => void>();
  private loadedKey = "";

  constructor(private readonly api: StarApi) {}

  private emit(s: StarState) {
    this.state = s;
    for (const l of this.listeners) l();
  }

  // use makes the store hold key's stars, loading them when key is new.
  use(key: string): void {
    if (key === this.key) return;
    this.key = key;
    this.reload();
  }

  reload(): void {
    const key = this.key;
    if (key === "") {
      this.emit({ items: [], loading: false });
      return;
    }
    this.emit({ items: this.loadedKey === key ? this.state.items : [], loading: true });
    this.api.list().then(
      (items) => {
        if (key !== this.key) return;
        this.loadedKey = key;
        this.emit({ items, loading: false });
      },
      (error: unknown) => {
        if (key === this.key) this.emit({ ...this.state, loading: false, error });
      },
    );
  }

  snapshot = (): StarState => this.state;

  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  has(ref: string): boolean {
    return this.state.items.some((s) => s.ref === ref);
  }

  // toggle stars or unstars ref; it resolves with the server's refusal, if any (the star is
  // then as it was).
  async toggle(ref: string): Promise<unknown> {
    const key = this.key;
    const on = !this.has(ref);
    const before = this.state.items;
    this.emit({ ...this.state, items: on ? [{ ref, uid: "" }, ...before] : before.filter((s) => s.ref !== ref), error: undefined });
    try {
      const star = await this.api.set(ref, on);
      if (key !== this.key) return undefined;
      if (on && star) this.emit({ ...this.state, items: this.state.items.map((s) => (s.ref === ref ? star : s)) });
      return undefined;
    } catch (error) {
      if (key === this.key) this.emit({ ...this.state, items: before, error });
      return error;
    }
  }
}

// useStarStore subscribes a component to store, loading key's stars.
export function useStarStore(store: StarStore, key: string) {
  useEffect(() => store.use(key), [store, key]);
  const state = useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
  return {
    ...state,
    refs: () => state.items.map((s) => s.ref),
    has: (ref: string) => state.items.some((s) => s.ref === ref),
    toggle: (ref: string) => store.toggle(ref),
    reload: () => store.reload(),
  };
}

// starFilter is the catalog filter of the starred entities that exist: one condition on
// metadata.uid with every uid (a repeated key matches any of its values), ANDed with each of
// the selection's filter sets. null: nothing starred exists.
export function starFilter(items: StarItem[], base: string[]): string[] | null {
  const uids = [...new Set(items.map((s) => s.uid).filter((u) => u !== ""))];
  if (uids.length === 0) return null;
  const cond = uids.map((u) => `metadata.uid=${u}`).join(",");
  return base.length === 0 ? [cond] : base.map((b) => `${b},${cond}`);
}
