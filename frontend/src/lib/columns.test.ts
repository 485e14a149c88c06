import { describe, expect, it } from "vitest";
import { columnsFor, displayName } from "./columns";

describe("columnsFor", () => {
  it("shows the kind whenever several kinds may be listed", () => {
    expect(columnsFor([])).toContain("kind");
    expect(columnsFor(["system", "group"])).toContain("kind");
  });
  it("has per-kind columns", () => {
    expect(columnsFor(["Component"])).toEqual(["name", "system", "owner", "type", "lifecycle", "tags", "description"]);
    expect(columnsFor(["user"])).toContain("email");
  });
});

describe("displayName", () => {
  it("leads with the name the list is sorted by, the title beside it when different", () => {
    expect(displayName({ metadata: { name: "billing", title: "Billing" } })).toEqual({ name: "billing", title: "Billing" });
    expect(displayName({ metadata: { name: "billing", title: "billing" } })).toEqual({ name: "billing", title: "" });
    expect(displayName({ kind: "User", metadata: { name: "ann" }, spec: { profile: { displayName: "Ann Lee" } } })).toEqual({
      name: "ann",
      title: "Ann Lee",
    });
  });
});
