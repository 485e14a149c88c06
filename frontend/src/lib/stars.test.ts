import { describe, expect, it, vi } from "vitest";

vi.mock("../api", () => ({ session: { get: () => null } }));

import { memoryStorage } from "./session";
import { starKey, StarStore } from "./stars";

describe("StarStore", () => {
  it("keeps stars per member and across instances", () => {
    const storage = memoryStorage();
    const a = new StarStore(storage);
    const ann = starKey("acme", "Ann@x.io");
    a.toggle(ann, "component:default/payments");
    a.toggle(starKey("acme", "bob@x.io"), "api:default/pay");
    const b = new StarStore(storage);
    expect(b.refs(ann)).toEqual(["component:default/payments"]);
    b.toggle(ann, "component:default/payments");
    expect(b.has(ann, "component:default/payments")).toBe(false);
  });
});
