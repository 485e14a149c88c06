import { describe, expect, it } from "vitest";
import { restoreScroll, ScrollMemory, type ScrollWindow } from "./scroll";
import { memoryStorage } from "./session";

describe("ScrollMemory", () => {
  it("remembers positions per URL across instances (a reload)", () => {
    const storage = memoryStorage();
    new ScrollMemory(storage).save("#/catalog?page=2", 812.4);
    const again = new ScrollMemory(storage);
    expect(again.get("#/catalog?page=2")).toBe(812);
    expect(again.get("#/catalog")).toBe(0);
  });
});

describe("restoreScroll", () => {
  it("waits until the page is tall enough before scrolling (the list loads later)", () => {
    const frames: (() => void)[] = [];
    const w: ScrollWindow = {
      scrollY: 0,
      innerHeight: 800,
      document: { documentElement: { scrollHeight: 800 } },
      scrollTo(_x, y) {
        this.scrollY = y;
      },
    };
    restoreScroll(w, 1200, (cb) => frames.push(cb), () => 0);
    expect(w.scrollY).toBe(0);
    w.document.documentElement.scrollHeight = 2400; // the rows arrived
    frames.shift()?.();
    expect(w.scrollY).toBe(1200);
  });
});
