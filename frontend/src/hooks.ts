import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { session } from "./api";
import { parseRoute, type Route } from "./lib/route";

export function useSession() {
  return useSyncExternalStore(session.subscribe, session.get, session.get);
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
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
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
