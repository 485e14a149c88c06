import { describe, expect, it } from "vitest";
import {
  buildFilters,
  ownerFilters,
  withoutPosition,
  emptyQuery,
  facetQueries,
  parseKinds,
  queryToSearch,
  searchToQuery,
  toggleValue,
  type CatalogQuery,
} from "./filters";

describe("parseKinds", () => {
  it.each([
    ["", []],
    ["   ", []],
    ["Component", ["component"]],
    ["component, API  system", ["component", "api", "system"]],
    ["api,API,,api", ["api"]],
  ])("%j -> %j", (box, want) => {
    expect(parseKinds(box)).toEqual(want);
  });
});

describe("buildFilters", () => {
  it.each<[string, CatalogQuery, string[]]>([
    ["nothing selected: unfiltered", emptyQuery, []],
    ["empty selections: unfiltered", { text: "x", selected: { kind: [], "spec.type": [] } }, []],
    ["one value", { text: "", selected: { kind: ["component"] } }, ["kind=component"]],
    [
      "repeated key means any of, other fields AND, in a fixed order",
      { text: "", selected: { "metadata.tags": ["java"], kind: ["component", "api"], "spec.lifecycle": ["production"] } },
      ["kind=component,kind=api,spec.lifecycle=production,metadata.tags=java"],
    ],
    [
      "drops values a filter cannot express and duplicates",
      { text: "", selected: { "spec.type": ["a,b", "", "  ", "service", "service"] } },
      ["spec.type=service"],
    ],
    ["only inexpressible values: unfiltered", { text: "", selected: { "spec.type": ["a,b"] } }, []],
    ["values keep '='", { text: "", selected: { "spec.type": ["x=y"] } }, ["spec.type=x=y"]],
  ])("%s", (_, q, want) => {
    expect(buildFilters(q)).toEqual(want);
  });

  it("omits one field", () => {
    const q: CatalogQuery = { text: "", selected: { kind: ["api"], "spec.type": ["openapi"] } };
    expect(buildFilters(q, "spec.type")).toEqual(["kind=api"]);
    expect(buildFilters(q, "kind")).toEqual(["spec.type=openapi"]);
  });
});

describe("facetQueries", () => {
  it("one shared call when nothing is selected", () => {
    expect(facetQueries(emptyQuery)).toEqual([
      { facets: ["kind", "spec.type", "spec.lifecycle", "metadata.tags"], filter: [] },
    ]);
  });

  it("each selected field is counted without its own selection", () => {
    const q: CatalogQuery = { text: "", selected: { kind: ["component"], "metadata.tags": ["go"] } };
    expect(facetQueries(q)).toEqual([
      { facets: ["spec.type", "spec.lifecycle"], filter: ["kind=component,metadata.tags=go"] },
      { facets: ["kind"], filter: ["metadata.tags=go"] },
      { facets: ["metadata.tags"], filter: ["kind=component"] },
    ]);
  });

  it("no shared call when every field is selected", () => {
    const q: CatalogQuery = {
      text: "",
      selected: { kind: ["a"], "spec.type": ["b"], "spec.lifecycle": ["c"], "metadata.tags": ["d"] },
    };
    const plan = facetQueries(q);
    expect(plan.map((p) => p.facets)).toEqual([["kind"], ["spec.type"], ["spec.lifecycle"], ["metadata.tags"]]);
    expect(plan[0].filter).toEqual(["spec.type=b,spec.lifecycle=c,metadata.tags=d"]);
  });
});

describe("toggleValue", () => {
  it("adds and removes without touching the input", () => {
    const q0: CatalogQuery = { text: "t", selected: { kind: ["api"] } };
    const q1 = toggleValue(q0, "kind", "component");
    expect(q1.selected.kind).toEqual(["api", "component"]);
    expect(q0.selected.kind).toEqual(["api"]);
    expect(toggleValue(q1, "kind", "api").selected.kind).toEqual(["component"]);
    expect(toggleValue(q0, "metadata.tags", "go").selected).toEqual({ kind: ["api"], "metadata.tags": ["go"] });
  });

  it("treats values that differ only in case as one", () => {
    const q: CatalogQuery = { text: "", selected: { kind: ["component"] } };
    expect(toggleValue(q, "kind", "Component").selected.kind).toEqual([]);
    expect(buildFilters({ text: "", selected: { kind: ["API", "api", "Api"] } })).toEqual(["kind=API"]);
  });
});

describe("URL form", () => {
  it("round-trips", () => {
    const q: CatalogQuery = {
      text: "payments api",
      selected: { kind: ["component", "api"], "spec.type": ["service"], "metadata.tags": ["c++", "a&b"] },
    };
    const s = queryToSearch(q);
    expect(s).toBe("?q=payments+api&kind=component&kind=api&spec.type=service&metadata.tags=c%2B%2B&metadata.tags=a%26b");
    expect(searchToQuery(s)).toEqual(q);
  });

  it("is empty for the empty query", () => {
    expect(queryToSearch(emptyQuery)).toBe("");
    expect(queryToSearch({ text: "  ", selected: { kind: [] } })).toBe("");
    expect(searchToQuery("")).toEqual(emptyQuery);
  });

  it("ignores unknown parameters and inexpressible values", () => {
    expect(searchToQuery("?spec.owner=team-a&kind=a,b&kind=api&kind=API")).toEqual({
      text: "",
      selected: { kind: ["api"] },
    });
  });
});

describe("catalog position in the URL", () => {
  it("keeps page, cursor, sort and show across a round trip (Back, reload)", () => {
    const q = { text: "pay", selected: { kind: ["api"] }, sort: "owner", desc: true, show: "owned" as const, page: 3, cursor: "tok" };
    const search = queryToSearch(q);
    expect(search).toContain("page=3");
    expect(searchToQuery(search)).toEqual(q);
  });
  it("drops the position when the query changes, and a page without a cursor", () => {
    expect(withoutPosition({ text: "", selected: {}, page: 2, cursor: "x" })).toEqual({ text: "", selected: {} });
    expect(searchToQuery("?page=2")).toEqual({ text: "", selected: {} });
    expect(searchToQuery("?sort=bogus")).toEqual({ text: "", selected: {} });
  });
  it("requires an owner among the member's user and groups", () => {
    expect(ownerFilters(["kind=component"], ["user:default/ann", "group:default/a"])).toEqual([
      "kind=component,relations.ownedBy=user:default/ann",
      "kind=component,relations.ownedBy=group:default/a",
    ]);
    expect(ownerFilters([], ["user:default/ann"])).toEqual(["relations.ownedBy=user:default/ann"]);
  });
});
