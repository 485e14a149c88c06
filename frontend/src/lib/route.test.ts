import { describe, expect, it } from "vitest";
import { entityHref } from "./entityRef";
import { isPublicRoute, loginHref, pageKey, parseRoute } from "./route";

describe("parseRoute", () => {
  it.each([
    ["", { name: "home" }],
    ["#", { name: "home" }],
    ["#/", { name: "home" }],
    ["#/login", { name: "login" }],
    ["#/login?email=a%40b.example&created=newco", { name: "login", email: "a@b.example", created: "newco" }],
    ["#/login?email=&other=1", { name: "login" }],
    ["#/signup", { name: "signup" }],
    ["#/members", { name: "members" }],
    ["#/import", { name: "import" }],
    ["#/locations", { name: "locations" }],
    ["#/locations/register", { name: "registerLocation" }],
    ["#/locations/0190-ab", { name: "location", id: "0190-ab", registered: false }],
    ["#/locations/0190-ab?registered=1", { name: "location", id: "0190-ab", registered: true }],
    ["#/locations/0190-ab/extra", { name: "notFound", path: "/locations/0190-ab/extra" }],
    ["#/catalog/entity/component/default/payments", { name: "entity", kind: "component", namespace: "default", entity: "payments", tab: "overview" }],
    ["#/catalog/entity/api/default/pay/definition", { name: "entity", kind: "api", namespace: "default", entity: "pay", tab: "definition" }],
    ["#/catalog/entity/api/default/pay/bogus", { name: "notFound", path: "/catalog/entity/api/default/pay/bogus" }],
    ["#/settings", { name: "settings" }],
    ["#/plugins", { name: "plugins" }],
    ["#/plugins/insights", { name: "notFound", path: "/plugins/insights" }],
    ["#/billing/extra", { name: "notFound", path: "/billing/extra" }],
    ["#/nope", { name: "notFound", path: "/nope" }],
    ["#/login/extra", { name: "notFound", path: "/login/extra" }],
    ["#/catalog/entity/component/default", { name: "notFound", path: "/catalog/entity/component/default" }],
    ["#/catalog/%E0%A4%A", { name: "notFound", path: "/catalog/%E0%A4%A" }],
  ])("%j", (hash, want) => {
    expect(parseRoute(hash)).toEqual(want);
  });

  it("keeps the billing query (the return from Stripe Checkout)", () => {
    const r = parseRoute("#/billing?checkout=success");
    expect(r.name).toBe("billing");
    if (r.name !== "billing") return;
    expect(r.search.get("checkout")).toBe("success");
  });

  it("keeps the catalog query", () => {
    const r = parseRoute("#/catalog?q=pay&kind=api&kind=component");
    expect(r.name).toBe("catalog");
    if (r.name !== "catalog") return;
    expect(r.search.get("q")).toBe("pay");
    expect(r.search.getAll("kind")).toEqual(["api", "component"]);
  });

  it("reads back the entity links it makes", () => {
    const href = entityHref({ kind: "Template", namespace: "my ns", name: "a#b/c" });
    expect(parseRoute(href)).toEqual({ name: "entity", kind: "template", namespace: "my ns", entity: "a#b/c", tab: "overview" });
  });

  it("reads back the login links it makes", () => {
    expect(parseRoute(loginHref("ada+x@acme.example", "acme"))).toEqual({
      name: "login",
      email: "ada+x@acme.example",
      created: "acme",
    });
  });

  it("marks only login and sign-up public", () => {
    expect(isPublicRoute({ name: "login" })).toBe(true);
    expect(isPublicRoute({ name: "signup" })).toBe(true);
    expect(isPublicRoute({ name: "home" })).toBe(false);
    expect(isPublicRoute(parseRoute("#/catalog"))).toBe(false);
  });
});

describe("pageKey", () => {
  const key = (hash: string) => pageKey(parseRoute(hash));

  it("ignores the catalog query", () => {
    expect(key("#/catalog?q=a")).toBe(key("#/catalog?kind=api"));
    expect(key("#/catalog")).toBe("catalog");
  });

  it("tells pages and entities apart", () => {
    expect(key("#/catalog/entity/component/default/a")).not.toBe(key("#/catalog/entity/component/default/b"));
    expect(key("#/catalog/entity/a/b/c%2Fd")).not.toBe(key("#/catalog/entity/a/b%2Fc/d"));
    expect(key("#/members")).not.toBe(key("#/import"));
    expect(key("#/x")).not.toBe(key("#/y"));
  });
});
