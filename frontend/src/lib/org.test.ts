import { describe, expect, it } from "vitest";
import { graceText, OrgStore } from "./org";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("OrgStore", () => {
  it("loads the organization once per session and takes changes", async () => {
    let calls = 0;
    const s = new OrgStore<{ status: string }>(async () => {
      calls++;
      return { tenant: { status: "active" }, deletionGraceSeconds: 604800n };
    });
    s.use("acme/ann");
    s.use("acme/ann");
    await tick();
    expect(calls).toBe(1);
    expect(s.snapshot().tenant?.status).toBe("active");
    s.set({ status: "deleting" });
    expect(s.snapshot().tenant?.status).toBe("deleting");
    expect(s.snapshot().graceSeconds).toBe(604800n);
  });
});

describe("graceText", () => {
  it("names the grace period in the largest whole unit", () => {
    expect(graceText(604800n)).toBe("7 days");
    expect(graceText(86400n)).toBe("1 day");
    expect(graceText(7200n)).toBe("2 hours");
    expect(graceText(300n)).toBe("5 minutes");
    expect(graceText(30n)).toBe("30 seconds");
    expect(graceText(0n)).toBe("a grace period");
  });
});
