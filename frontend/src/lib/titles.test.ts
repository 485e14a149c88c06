import { describe, expect, it } from "vitest";
import { parseRoute } from "./route";
import { pageTitle } from "./titles";

describe("pageTitle", () => {
  it("gives every page its own title", () => {
    const hashes = ["#/", "#/login", "#/signup", "#/members", "#/catalog", "#/import", "#/apis", "#/settings", "#/nope"];
    const titles = hashes.map((h) => pageTitle(parseRoute(h), "acme"));
    expect(new Set(titles).size).toBe(hashes.length);
    expect(titles.every((t) => t.endsWith("· acme · Atrium"))).toBe(true);
  });
  it("names the entity", () => {
    expect(pageTitle(parseRoute("#/catalog/entity/component/default/payments"))).toBe("payments (component) · Atrium");
  });
});
