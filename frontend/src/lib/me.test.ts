import { describe, expect, it, vi } from "vitest";

vi.mock("../api", () => ({ catalogClient: {}, session: { get: () => null } }));
vi.mock("../hooks", () => ({ useSession: () => null, useLoad: () => ({}) }));

import { ownerRefs } from "./me";

describe("ownerRefs", () => {
  it("is the user and the groups it is a member of", () => {
    expect(
      ownerRefs({
        metadata: { name: "Ann" },
        relations: [
          { type: "memberOf", targetRef: "group:default/payments" },
          { type: "ownerOf", targetRef: "component:default/x" },
        ],
      }),
    ).toEqual(["user:default/ann", "group:default/payments"]);
    expect(ownerRefs(undefined)).toEqual([]);
  });
});
