import { describe, expect, it } from "vitest";
import { starFilter, StarStore, type StarApi, type StarItem } from "./stars";

function fakeApi(initial: Record<string, StarItem[]>, member: () => string) {
  const db = new Map(Object.entries(initial));
  const calls: string[] = [];
  const api: StarApi & { calls: string[]; refuse?: string } = {
    calls,
    async list() {
      calls.push(`list ${member()}`);
      return [...(db.get(member()) ?? [])];
    },
    async set(ref, on) {
      calls.push(`set ${member()} ${ref} ${on}`);
      if (api.refuse) throw new Error(api.refuse);
      const cur = (db.get(member()) ?? []).filter((s) => s.ref !== ref);
      const star = { ref, uid: `uid-${ref}` };
      db.set(member(), on ? [star, ...cur] : cur);
      return on ? star : undefined;
    },
  };
  return api;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("StarStore", () => {
  it("loads each member's stars from the server once and toggles through it", async () => {
    let who = "acme/ann@x.io";
    const api = fakeApi({ "acme/ann@x.io": [{ ref: "api:default/pay", uid: "u1" }] }, () => who);
    const s = new StarStore(api);
    s.use(who);
    expect(s.snapshot().loading).toBe(true);
    await tick();
    expect(s.snapshot().items).toEqual([{ ref: "api:default/pay", uid: "u1" }]);
    s.use(who); // same member: no second load
    expect(api.calls).toEqual(["list acme/ann@x.io"]);

    const done = s.toggle("component:default/payments");
    expect(s.has("component:default/payments")).toBe(true); // at once
    expect(await done).toBeUndefined();
    expect(s.snapshot().items[0]).toEqual({ ref: "component:default/payments", uid: "uid-component:default/payments" });

    who = "acme/bob@x.io";
    s.use(who);
    await tick();
    expect(s.snapshot().items).toEqual([]); // bob's, not ann's
  });

  it("undoes a toggle the server refuses and keeps the error", async () => {
    const api = fakeApi({}, () => "acme/ann@x.io");
    const s = new StarStore(api);
    s.use("acme/ann@x.io");
    await tick();
    api.refuse = "too many stars";
    const err = await s.toggle("component:default/x");
    expect(String(err)).toContain("too many stars");
    expect(s.has("component:default/x")).toBe(false);
    expect(String(s.snapshot().error)).toContain("too many stars");
  });

  it("builds one uid condition per filter set, skipping stars of missing entities", () => {
    const items = [
      { ref: "a", uid: "u1" },
      { ref: "b", uid: "" },
      { ref: "c", uid: "u2" },
    ];
    expect(starFilter(items, [])).toEqual(["metadata.uid=u1,metadata.uid=u2"]);
    expect(starFilter(items, ["kind=component", "kind=api"])).toEqual([
      "kind=component,metadata.uid=u1,metadata.uid=u2",
      "kind=api,metadata.uid=u1,metadata.uid=u2",
    ]);
    expect(starFilter([{ ref: "b", uid: "" }], [])).toBeNull();
  });
});
