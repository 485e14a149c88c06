import type { JsonObject } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { isSafeUrl, nameOf, relationsByType, safeLinks, stringAt, stringsAt, titleOf, valueAt } from "./entity";

const entity: JsonObject = {
  apiVersion: "backstage.io/v1alpha1",
  kind: "Component",
  metadata: {
    name: "payments",
    tags: ["java", 3, "payments"],
    links: [
      { url: "https://runbooks.example/payments", title: "Runbook" },
      { url: "javascript:alert(1)", title: "x" },
      { url: "not a url" },
      { url: "mailto:team@example.com" },
      "junk",
    ],
  },
  spec: { type: "service", owner: "team-a", nested: { deep: ["a"] } },
  relations: [
    { type: "ownedBy", targetRef: "group:default/team-a" },
    { type: "dependsOn", targetRef: "resource:default/db" },
    { type: "dependsOn", targetRef: "component:default/auth" },
    { type: "dependsOn", targetRef: "component:default/auth" },
    { type: "partOf" },
    null,
  ],
};

describe("reading entities", () => {
  it("follows dotted paths and tolerates odd shapes", () => {
    expect(valueAt(entity, "spec.nested.deep")).toEqual(["a"]);
    expect(valueAt(entity, "spec.type.length")).toBeUndefined();
    expect(valueAt(entity, "metadata.tags.0")).toBeUndefined();
    expect(valueAt(undefined, "kind")).toBeUndefined();
    expect(stringAt(entity, "spec.owner")).toBe("team-a");
    expect(stringAt(entity, "spec.nested")).toBe("");
    expect(stringsAt(entity, "metadata.tags")).toEqual(["java", "payments"]);
    expect(stringsAt(entity, "spec.type")).toEqual([]);
  });

  it("names entities, defaulting the namespace", () => {
    expect(nameOf(entity)).toEqual({ kind: "Component", namespace: "default", name: "payments" });
    expect(nameOf({ kind: "API" })).toBeNull();
  });

  it("groups relations by type without duplicates or malformed items", () => {
    expect(relationsByType(entity)).toEqual([
      ["dependsOn", ["component:default/auth", "resource:default/db"]],
      ["ownedBy", ["group:default/team-a"]],
    ]);
    expect(relationsByType({})).toEqual([]);
  });

  it("keeps only safe links", () => {
    expect(safeLinks(entity)).toEqual([
      { url: "https://runbooks.example/payments", title: "Runbook" },
      { url: "mailto:team@example.com", title: "mailto:team@example.com" },
    ]);
    expect(isSafeUrl("JavaScript:alert(1)")).toBe(false);
    expect(isSafeUrl("data:text/html,x")).toBe(false);
    expect(isSafeUrl("http://x")).toBe(true);
  });
});

describe("titleOf", () => {
  it.each([
    [{ metadata: { name: "payments", title: "Payments" } }, "Payments"],
    [{ kind: "User", metadata: { name: "ada" }, spec: { profile: { displayName: "Ada Lovelace" } } }, "Ada Lovelace"],
    [{ metadata: { name: "ada", title: "  " }, spec: { profile: { displayName: "Ada" } } }, "Ada"],
    [{ metadata: { name: "ada" }, spec: { profile: { displayName: 7 } } }, "ada"],
    [{ metadata: { name: "ada" }, spec: { profile: "x" } }, "ada"],
    [{}, ""],
  ])("%j -> %j", (e, want) => {
    expect(titleOf(e as JsonObject)).toBe(want);
  });
});
