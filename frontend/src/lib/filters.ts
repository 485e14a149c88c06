// Catalog query state, and its translation into Backstage filter strings and URL parameters.
//
// Backstage filters: a filter set "k=v,k2=v2,k3" ANDs its conditions, a repeated key matches
// any of its values, several sets are ORed. The catalog page builds one set: every facet field
// with a selection is one condition, its selected values ORed.

export const facetFields = ["kind", "spec.type", "spec.lifecycle", "metadata.tags"] as const;
export type FacetField = (typeof facetFields)[number];

export interface CatalogQuery {
  // Full-text term over name, title, description and tags.
  text: string;
  // Selected values per facet field; the kind box edits selected.kind.
  selected: Partial<Record<FacetField, string[]>>;
  // Sort column (a sortable field) and direction; absent: by name, ascending.
  sort?: string;
  desc?: boolean;
  // "owned": only what the signed-in member (or one of their groups) owns; "starred": their stars.
  show?: "owned" | "starred";
  // Where the list stands: the page number shown and the token that fetches it. Both live in
  // the URL, so Back and reload return to the same page.
  page?: number;
  cursor?: string;
}

export const emptyQuery: CatalogQuery = { text: "", selected: {} };

// Columns the list may be sorted by, with the field the catalog orders on.
export const sortFields: Record<string, string> = {
  name: "metadata.name",
  title: "metadata.title",
  kind: "kind",
  type: "spec.type",
  lifecycle: "spec.lifecycle",
  owner: "spec.owner",
  system: "spec.system",
};

// withoutPosition is q at its first page: any change of filters, text or sort starts there.
export function withoutPosition(q: CatalogQuery): CatalogQuery {
  const { page: _p, cursor: _c, ...rest } = q;
  return rest;
}

// ownerFilters turns the filter sets into ones that also require an owner among owners (the
// member's user entity and groups): one set per owner, since sets are ORed and conditions ANDed.
export function ownerFilters(sets: string[], owners: string[]): string[] {
  if (owners.length === 0) return ["metadata.uid=__none__"];
  const base = sets.length === 0 ? [""] : sets;
  return base.flatMap((set) => owners.map((o) => (set ? `${set},relations.ownedBy=${o}` : `relations.ownedBy=${o}`)));
}

// A filter set cannot express a value containing "," (the condition separator), so such a
// value cannot be selected; an empty one would turn into an exists check.
export function isFilterableValue(v: string): boolean {
  return v.trim() !== "" && !v.includes(",");
}

// parseKinds reads the kind box: kinds separated by commas or spaces, case-insensitive.
export function parseKinds(box: string): string[] {
  return dedupe(
    box
      .split(/[\s,]+/)
      .map((k) => k.trim().toLowerCase())
      .filter((k) => k !== ""),
  );
}

// Filters match case-insensitively, so "Component" and "component" are one value; the first
// spelling wins.
export function sameValue(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function dedupe(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = v.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// buildFilters returns the filter sets for q: none when nothing is selected, so the list is
// unfiltered. omit leaves one field out, for that field's own facet counts.
export function buildFilters(q: CatalogQuery, omit?: FacetField): string[] {
  const conditions: string[] = [];
  for (const field of facetFields) {
    if (field === omit) continue;
    for (const v of dedupe(q.selected[field] ?? [])) {
      if (isFilterableValue(v)) conditions.push(`${field}=${v.trim()}`);
    }
  }
  return conditions.length === 0 ? [] : [conditions.join(",")];
}

export interface FacetQuery {
  facets: FacetField[];
  filter: string[];
}

// facetQueries plans the GetEntityFacets calls for the sidebar. A field's counts must not be
// narrowed by its own selection, or picking "service" would hide every other type: each
// field with a selection gets its own call without it; the others share one call.
export function facetQueries(q: CatalogQuery): FacetQuery[] {
  const shared: FacetField[] = [];
  const own: FacetQuery[] = [];
  for (const field of facetFields) {
    if (selectedValues(q, field).length > 0) {
      own.push({ facets: [field], filter: buildFilters(q, field) });
    } else {
      shared.push(field);
    }
  }
  return shared.length > 0 ? [{ facets: shared, filter: buildFilters(q) }, ...own] : own;
}

function selectedValues(q: CatalogQuery, field: FacetField): string[] {
  return (q.selected[field] ?? []).filter(isFilterableValue);
}

// toggleValue selects or unselects one facet value.
export function toggleValue(q: CatalogQuery, field: FacetField, value: string): CatalogQuery {
  const cur = q.selected[field] ?? [];
  const next = cur.some((v) => sameValue(v, value))
    ? cur.filter((v) => !sameValue(v, value))
    : [...cur, value];
  return { ...withoutPosition(q), selected: { ...q.selected, [field]: next } };
}

// The URL form: "?q=term&kind=component&kind=api&spec.type=service", so a view can be
// bookmarked and the back button works.
export function queryToSearch(q: CatalogQuery): string {
  const p = new URLSearchParams();
  if (q.text.trim() !== "") p.set("q", q.text.trim());
  for (const field of facetFields) {
    for (const v of dedupe(q.selected[field] ?? [])) {
      if (isFilterableValue(v)) p.append(field, v);
    }
  }
  if (q.show) p.set("show", q.show);
  if (q.sort && q.sort in sortFields && (q.sort !== "name" || q.desc)) p.set("sort", q.desc ? `-${q.sort}` : q.sort);
  if (q.page && q.page > 1 && q.cursor) {
    p.set("page", String(q.page));
    p.set("cursor", q.cursor);
  }
  const s = p.toString();
  return s === "" ? "" : `?${s}`;
}

export function searchToQuery(search: string | URLSearchParams): CatalogQuery {
  const p = typeof search === "string" ? new URLSearchParams(search) : search;
  const selected: CatalogQuery["selected"] = {};
  for (const field of facetFields) {
    const values = dedupe(p.getAll(field).filter(isFilterableValue));
    if (values.length > 0) selected[field] = values;
  }
  const q: CatalogQuery = { text: p.get("q") ?? "", selected };
  const show = p.get("show");
  if (show === "owned" || show === "starred") q.show = show;
  const sort = p.get("sort") ?? "";
  const key = sort.replace(/^-/, "");
  if (key in sortFields) {
    q.sort = key;
    if (sort.startsWith("-")) q.desc = true;
  }
  const page = Number(p.get("page"));
  const cursor = p.get("cursor");
  if (Number.isInteger(page) && page > 1 && cursor) {
    q.page = page;
    q.cursor = cursor;
  }
  return q;
}
