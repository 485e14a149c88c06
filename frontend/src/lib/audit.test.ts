import { describe, expect, it } from "vitest";
import { auditQuery, auditSearch } from "./audit";

describe("audit filters", () => {
  it("round-trip through the URL and drop what is not a date", () => {
    const q = auditQuery(new URLSearchParams("actor=user%3Au1&action=member.&from=2026-12-01&to=yesterday"));
    expect(q).toEqual({ actor: "user:u1", action: "member.", from: "2026-12-01", to: "" });
    expect(auditSearch(q)).toBe("actor=user%3Au1&action=member.&from=2026-12-01");
    expect(auditSearch({ actor: " ", action: "", from: "", to: "" })).toBe("");
  });
});
