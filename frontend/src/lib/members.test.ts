import { describe, expect, it } from "vitest";
import { assignableRoles, canManage, duplicateTokenName } from "./members";

describe("assignableRoles", () => {
  it.each([
    ["owner", ["owner", "admin", "member"]],
    ["admin", ["admin", "member"]],
    ["member", []],
    ["", []],
    ["root", []],
  ])("%j -> %j", (role, want) => {
    expect(assignableRoles(role)).toEqual(want);
  });
});

describe("canManage", () => {
  it.each([
    ["owner", "owner", true],
    ["owner", "admin", true],
    ["owner", "member", true],
    ["admin", "owner", false],
    ["admin", "admin", true],
    ["admin", "member", true],
    ["member", "member", false],
    ["member", "owner", false],
    ["unknown", "member", false],
  ])("%s manages %s: %s", (me, them, want) => {
    expect(canManage(me, them)).toBe(want);
  });
});

describe("duplicateTokenName", () => {
  it("refuses a name already used, whatever its case and spaces", () => {
    expect(duplicateTokenName(" CI-sync ", ["ci-sync", "deploy"])).toBe(true);
    expect(duplicateTokenName("new", ["ci-sync"])).toBe(false);
    expect(duplicateTokenName("", [""])).toBe(false);
  });
});
