import { describe, expect, it } from "vitest";
import { addVisit, type Visit } from "./recent";

describe("addVisit", () => {
  it("puts the newest first, once, and keeps ten", () => {
    let list: Visit[] = [];
    for (let i = 0; i < 12; i++) list = addVisit(list, { ref: `c:default/${i}`, title: "", kind: "c", at: i });
    list = addVisit(list, { ref: "c:default/5", title: "", kind: "c", at: 99 });
    expect(list.length).toBe(10);
    expect(list[0].ref).toBe("c:default/5");
    expect(list.filter((v) => v.ref === "c:default/5").length).toBe(1);
  });
});
