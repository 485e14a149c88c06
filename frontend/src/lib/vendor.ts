// loadVendor fetches one of the prebuilt renderer bundles in /vendor (see vite.config.ts)
// once, with its stylesheet, and returns the global it defines.
const loaded = new Map<string, Promise<unknown>>();

export function loadVendor<T>(script: string, css: string, global: string): Promise<T> {
  let p = loaded.get(script);
  if (!p) {
    p = new Promise<unknown>((resolve, reject) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = `/vendor/${css}`;
      document.head.appendChild(link);
      const s = document.createElement("script");
      s.src = `/vendor/${script}`;
      s.async = true;
      s.onload = () => resolve((window as unknown as Record<string, unknown>)[global]);
      s.onerror = () => {
        loaded.delete(script);
        reject(new Error(`could not load the ${global} renderer`));
      };
      document.head.appendChild(s);
    });
    loaded.set(script, p);
  }
  return p as Promise<T>;
}
