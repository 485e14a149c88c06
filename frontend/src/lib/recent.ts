// Recently viewed entities, newest first, per browser (what Backstage's home page shows).

export interface Visit {
  ref: string;
  title: string;
  kind: string;
  at: number;
}

const key = "atrium.recent";
const max = 10;

export function addVisit(list: Visit[], v: Visit): Visit[] {
  return [v, ...list.filter((x) => x.ref !== v.ref)].slice(0, max);
}

export function recentVisits(): Visit[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
    return Array.isArray(v) ? (v as Visit[]).filter((x) => typeof x?.ref === "string") : [];
  } catch {
    return [];
  }
}

export function recordVisit(ref: string, title: string, kind: string): void {
  try {
    localStorage.setItem(key, JSON.stringify(addVisit(recentVisits(), { ref, title, kind, at: Date.now() })));
  } catch {
    // Storage full or blocked: the home page just shows fewer.
  }
}
