// Scroll memory for the hash router. A link click starts the new page at its top; Back,
// Forward and reload return to where the reader was on that entry, once the page has grown
// tall enough (the catalog list arrives after the first render). Positions are kept per URL in
// sessionStorage, so a reload of the tab finds them too.

export interface ScrollWindow {
  scrollY: number;
  scrollTo(x: number, y: number): void;
  document: { documentElement: { scrollHeight: number } };
  innerHeight: number;
}

const key = "atrium.scroll";

export class ScrollMemory {
  private positions: Record<string, number>;

  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem"> | undefined) {
    let v: unknown = {};
    try {
      v = JSON.parse(storage?.getItem(key) ?? "{}");
    } catch {
      v = {};
    }
    this.positions = typeof v === "object" && v !== null ? (v as Record<string, number>) : {};
  }

  save(url: string, y: number): void {
    this.positions[url] = Math.round(y);
    // Bounded: the newest 100 URLs are plenty for Back.
    const keys = Object.keys(this.positions);
    if (keys.length > 100) delete this.positions[keys[0]];
    this.storage?.setItem(key, JSON.stringify(this.positions));
  }

  get(url: string): number {
    return this.positions[url] ?? 0;
  }
}

// restoreScroll scrolls w to y once the document is tall enough, trying each frame for up
// to timeoutMs; it returns a function that stops trying (the reader scrolled, or left).
export function restoreScroll(
  w: ScrollWindow,
  y: number,
  frame: (cb: () => void) => unknown,
  now: () => number,
  timeoutMs = 3000,
): () => void {
  let stopped = false;
  const start = now();
  const attempt = () => {
    if (stopped) return;
    const reachable = w.document.documentElement.scrollHeight - w.innerHeight >= y;
    if (reachable || now() - start > timeoutMs) {
      w.scrollTo(0, y);
      return;
    }
    frame(attempt);
  };
  attempt();
  return () => {
    stopped = true;
  };
}
