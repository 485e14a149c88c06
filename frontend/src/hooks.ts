import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { session } from "./api";
import { parseRoute, type Route } from "./lib/route";

export function useSession() {
  return useSyncExternalStore(session.subscribe, session.get, session.get);
}

export function useRestoring() {
  return useSyncExternalStore(session.subscribe, session.isRestoring, session.isRestoring);
}

// useTitle is for pages whose title depends on what they loaded (an entity's name).
export function useTitle(title: string | undefined) {
  useEffect(() => {
    if (title) document.title = title;
  }, [title]);
}

function subscribeHash(cb: () => void) {
  window.addEventListener("hashchange", cb);
  return () => window.removeEventListener("hashchange", cb);
}

const currentHash = () => window.location.hash;

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribeHash, currentHash, currentHash);
  // parseRoute is cheap; recomputing per render keeps Route objects out of the store.
  return parseRoute(hash);
}

export function navigate(hash: string) {
  window.location.hash = hash;
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

// useLoad runs load whenever key changes and keeps the latest result; answers to superseded
// keys are dropped, so a slow old query never overwrites a newer one.
// With a cache, the last answer for a key is shown at once while it is fetched again: Back to
// the catalog shows the rows it left (and can scroll to where the reader was) without waiting.
export function useLoad<T>(load: () => Promise<T>, key: string, cache?: Map<string, T>): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>(() => ({
    data: cache?.get(key),
    loading: true,
  }));
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, data: cache?.get(key) ?? s.data, loading: true }));
    load().then(
      (data) => {
        if (!live) return;
        if (cache) {
          cache.set(key, data);
          // A few recent answers are enough for Back; keep memory bounded.
          if (cache.size > 20) cache.delete(cache.keys().next().value as string);
        }
        setState({ data, loading: false });
      },
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // load is a fresh closure every render; key says when it means something new.
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}
