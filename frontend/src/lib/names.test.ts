import { describe, expect, it } from "vitest";
import { needsOtherHost, passwordRules, portalOrigin, sharedOrigin, slugProblem, suggestSlug, tenantFromHost } from "./names";

describe("suggestSlug", () => {
  it.each([
    ["Acme Corp", "acme-corp"],
    ["  Globex, Inc.  ", "globex-inc"],
    ["Société Générale", "societe-generale"],
    ["---", ""],
    ["", ""],
    ["a".repeat(39) + " b", "a".repeat(39)],
  ])("%j -> %j", (name, want) => {
    expect(suggestSlug(name)).toBe(want);
  });
});

describe("tenantFromHost", () => {
  it.each([
    ["acme.localhost", "acme"],
    ["ACME.localhost", "acme"],
    ["my-org.localhost", "my-org"],
    ["localhost", ""],
    ["127.0.0.1", ""],
    ["a.b.localhost", ""],
    ["-bad.localhost", ""],
    ["acme.example.com", ""],
  ])("%j -> %j", (host, want) => {
    expect(tenantFromHost(host)).toBe(want);
  });
});

const at = (hostname: string, port = "8080", protocol = "http:") => ({ protocol, hostname, port });

describe("portalOrigin", () => {
  it.each([
    ["acme", at("localhost"), "http://acme.localhost:8080"],
    ["acme", at("demo.localhost"), "http://acme.localhost:8080"],
    ["acme", at("demo.localhost", ""), "http://acme.localhost"],
    ["acme", at("demo.localhost", "443", "https:"), "https://acme.localhost:443"],
    // Not the <slug>.localhost scheme: the tenant travels in a header, any origin serves it.
    ["acme", at("portal.example.com"), ""],
    ["acme", at("127.0.0.1"), ""],
    // Not a host label: no origin to offer.
    ["Bad_Slug!", at("localhost"), ""],
    ["", at("localhost"), ""],
  ])("%j at %j -> %j", (slug, loc, want) => {
    expect(portalOrigin(slug, loc)).toBe(want);
  });
});

describe("sharedOrigin", () => {
  it.each([
    [at("demo.localhost"), "http://localhost:8080"],
    [at("demo.localhost", ""), "http://localhost"],
    [at("localhost"), ""],
    [at("portal.example.com"), ""],
  ])("%j -> %j", (loc, want) => {
    expect(sharedOrigin(loc)).toBe(want);
  });
});

describe("needsOtherHost", () => {
  it.each([
    ["demo", at("demo.localhost"), false],
    ["acme", at("demo.localhost"), true],
    ["acme", at("localhost"), false],
    ["acme", at("127.0.0.1"), false],
  ])("%j at %j -> %j", (slug, loc, want) => {
    expect(needsOtherHost(slug, loc)).toBe(want);
  });
});

describe("slugProblem", () => {
  it("flags what the server would refuse, so no portal URL is previewed for it", () => {
    expect(slugProblem("acme")).toBe("");
    expect(slugProblem("ac")).toBe("must be 3 to 40 characters");
    expect(slugProblem("Acme")).toBe("must be lowercase");
    expect(slugProblem("1acme")).toBe("must start with a letter");
    expect(slugProblem("ac--me")).toBe("must not contain --");
    expect(slugProblem("acme-")).toBe("must not end with -");
    expect(slugProblem("ac_me")).toBe("may only contain a-z, 0-9 and -");
  });
});

describe("passwordRules", () => {
  it("reports each rule as met or not", () => {
    expect(passwordRules("", "acme", "ann@x.io").map((r) => r.met)).toEqual([false, false, false]);
    expect(passwordRules("correct horse 9", "acme", "ann@x.io").every((r) => r.met)).toBe(true);
    expect(passwordRules("acmeIsGreat1", "acme", "ann@x.io")[2].met).toBe(false);
  });
});
