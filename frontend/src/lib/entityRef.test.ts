import { describe, expect, it } from "vitest";
import { entityHref, formatRef, parseRef, refHref } from "./entityRef";

describe("parseRef", () => {
  it.each([
    ["component:default/payments", {}, { kind: "component", namespace: "default", name: "payments" }],
    ["Group:ops/Team-A", {}, { kind: "Group", namespace: "ops", name: "Team-A" }],
    ["api:billing", {}, { kind: "api", namespace: "default", name: "billing" }],
    ["team-a", { kind: "group" }, { kind: "group", namespace: "default", name: "team-a" }],
    ["ns/team-a", { kind: "group", namespace: "x" }, { kind: "group", namespace: "ns", name: "team-a" }],
    ["team-a", { kind: "group", namespace: "x" }, { kind: "group", namespace: "x", name: "team-a" }],
    [" system:default/core ", {}, { kind: "system", namespace: "default", name: "core" }],
  ])("%j with defaults %j", (ref, defaults, want) => {
    expect(parseRef(ref, defaults)).toEqual(want);
  });

  it.each(["", "team-a", ":default/x", "component:/x", "component:default/", "a:b/c/d", "a:b:c"])(
    "rejects %j without a default kind",
    (ref) => {
      expect(parseRef(ref)).toBeNull();
    },
  );
});

describe("links", () => {
  it("formats lowercased refs and encoded hrefs", () => {
    const e = { kind: "Component", namespace: "default", name: "Payments" };
    expect(formatRef(e)).toBe("component:default/payments");
    expect(entityHref({ kind: "Template", namespace: "my ns", name: "a#b" })).toBe(
      "#/catalog/entity/template/my%20ns/a%23b",
    );
    expect(refHref("group:default/team-a")).toBe("#/catalog/entity/group/default/team-a");
    expect(refHref("nonsense")).toBeNull();
  });
});
