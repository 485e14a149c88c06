import { useSyncExternalStore } from "react";
import { session } from "../api";
import type { KeyValueStorage } from "./session";

// Stars: entity refs a member marked. Kept per member (org + email) in this browser's
// localStorage for now; the catalog has no per-member store yet (see notes/issue11.md).

export function starKey(tenant: string, email: string): string {
  return `atrium.stars.${tenant}.${email.toLowerCase()}`;
}

export class StarStore {
  private cache = new Map<string, Set<string>>();
  private listeners = new Set<() => void>();
  private version = 0;

  constructor(private readonly storage: KeyValueStorage | undefined) {}

  private load(key: string): Set<string> {
    let set = this.cache.get(key);
    if (set) return set;
    set = new Set();
    try {
      const v: unknown = JSON.parse(this.storage?.getItem(key) ?? "[]");
      if (Array.isArray(v)) for (const r of v) if (typeof r === "string") set.add(r);
    } catch {
      // Corrupt: start empty.
    }
    this.cache.set(key, set);
    return set;
  }

  refs(key: string): string[] {
    return [...this.load(key)].sort();
  }

  has(key: string, ref: string): boolean {
    return this.load(key).has(ref);
  }

  toggle(key: string, ref: string): void {
    const set = this.load(key);
    if (set.has(ref)) set.delete(ref);
    else set.add(ref);
    this.storage?.setItem(key, JSON.stringify([...set]));
    this.version++;
    for (const l of this.listeners) l();
  }

  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  snapshot = () => this.version;
}

export const stars = new StarStore(typeof localStorage !== "undefined" ? localStorage : undefined);

export function useStars() {
  useSyncExternalStore(stars.subscribe, stars.snapshot, stars.snapshot);
  const s = session.get();
  const key = starKey(s?.tenant ?? "", s?.email ?? "");
  return {
    refs: () => stars.refs(key),
    has: (ref: string) => stars.has(key, ref),
    toggle: (ref: string) => stars.toggle(key, ref),
  };
}
