import { describe, expect, it } from "vitest";
import { suggestSlug, tenantFromHost } from "./names";

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
