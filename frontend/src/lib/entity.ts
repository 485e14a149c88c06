import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { EntityName } from "./entityRef";

// Reading entities in Backstage's JSON shape, where any field may be missing or odd.

// valueAt follows a dotted path ("spec.owner") through nested objects.
export function valueAt(entity: JsonObject | undefined, path: string): JsonValue | undefined {
  let cur: JsonValue | undefined = entity;
  for (const key of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

export function stringAt(entity: JsonObject | undefined, path: string): string {
  const v = valueAt(entity, path);
  return typeof v === "string" ? v : "";
}

export function stringsAt(entity: JsonObject | undefined, path: string): string[] {
  const v = valueAt(entity, path);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function objectAt(entity: JsonObject | undefined, path: string): JsonObject {
  const v = valueAt(entity, path);
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {};
}

// titleOf is what people call the entity: its title, else a user's or group's display name
// (Backstage keeps those in spec.profile), else its name.
export function titleOf(entity: JsonObject | undefined): string {
  return (
    stringAt(entity, "metadata.title").trim() ||
    stringAt(entity, "spec.profile.displayName").trim() ||
    stringAt(entity, "metadata.name")
  );
}

export function nameOf(entity: JsonObject | undefined): EntityName | null {
  const kind = stringAt(entity, "kind");
  const name = stringAt(entity, "metadata.name");
  if (!kind || !name) return null;
  return { kind, namespace: stringAt(entity, "metadata.namespace") || "default", name };
}

export interface Relation {
  type: string;
  targetRef: string;
}

// relationsByType groups the entity's relations by type, types and targets sorted.
export function relationsByType(entity: JsonObject | undefined): [string, string[]][] {
  const v = valueAt(entity, "relations");
  const groups = new Map<string, Set<string>>();
  if (Array.isArray(v)) {
    for (const r of v) {
      if (r === null || typeof r !== "object" || Array.isArray(r)) continue;
      const type = r.type;
      const target = typeof r.targetRef === "string" ? r.targetRef : "";
      if (typeof type !== "string" || !type || !target) continue;
      const set = groups.get(type) ?? new Set<string>();
      set.add(target);
      groups.set(type, set);
    }
  }
  return [...groups]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([t, s]) => [t, [...s].sort()]);
}

export interface EntityLink {
  url: string;
  title: string;
}

// safeLinks returns metadata.links usable as hrefs: catalog content is user input, and a
// "javascript:" URL must never become a link.
export function safeLinks(entity: JsonObject | undefined): EntityLink[] {
  const v = valueAt(entity, "metadata.links");
  if (!Array.isArray(v)) return [];
  const out: EntityLink[] = [];
  for (const l of v) {
    if (l === null || typeof l !== "object" || Array.isArray(l) || typeof l.url !== "string") continue;
    if (!isSafeUrl(l.url)) continue;
    out.push({ url: l.url, title: typeof l.title === "string" && l.title ? l.title : l.url });
  }
  return out;
}

export function isSafeUrl(url: string): boolean {
  try {
    return ["http:", "https:", "mailto:"].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}
