import { describe, expect, it } from "vitest";
import { Tracker } from "./analytics";

function tracker(fail = false) {
  const sent: string[][] = [];
  let n = 0;
  let failing = fail;
  const t = new Tracker({
    send: async (req) => {
      if (failing) throw new Error("unavailable");
      sent.push(req.events.map((e) => e.id));
    },
    newId: () => `e${n++}`,
    now: () => 1_700_000_000_000,
    maxQueued: 250,
  });
  return { t, sent, setFailing: (f: boolean) => (failing = f) };
}

describe("Tracker", () => {
  it("sends queued events in batches of at most 100", async () => {
    const { t, sent } = tracker();
    for (let i = 0; i < 230; i++) t.capture({ action: "navigate", subject: "/x" });
    await t.flush();
    expect(sent.map((b) => b.length)).toEqual([100, 100, 30]);
    expect(t.pending).toBe(0);
  });

  it("keeps a failed batch and re-sends it with the same ids", async () => {
    const { t, sent, setFailing } = tracker(true);
    t.capture({ action: "search", subject: "kafka", value: 0 });
    await t.flush();
    expect(t.pending).toBe(1);
    setFailing(false);
    await t.flush();
    expect(sent).toEqual([["e0"]]);
  });

  it("sends nothing while held (an organization being deleted) and the held events after", async () => {
    const { t, sent } = tracker();
    t.capture({ action: "navigate", subject: "/settings" });
    t.hold(true);
    t.capture({ action: "navigate", subject: "/" });
    await t.flush();
    expect(sent).toEqual([]);
    expect(t.pending).toBe(2);
    t.hold(false); // the deletion was cancelled
    await t.flush();
    expect(sent).toEqual([["e0", "e1"]]);
    t.capture({ action: "navigate", subject: "/x" });
    t.hold(true);
    expect(t.drain()).toEqual([]); // signing out while held sends nothing either
    expect(t.pending).toBe(0);
  });

  it("bounds what it holds and counts what it dropped", () => {
    const { t } = tracker(true);
    for (let i = 0; i < 300; i++) t.capture({ action: "click" });
    expect(t.pending).toBe(250);
    expect(t.dropped).toBe(50);
  });
});

describe("Tracker sessions", () => {
  it("never sends after the session ended, nor one member's events as another's", async () => {
    let who = "acme/ann@x.io";
    const sent: string[][] = [];
    let n = 0;
    const t = new Tracker({ send: async (req) => void sent.push(req.events.map((e) => e.id)), newId: () => `e${n++}`, session: () => who });
    t.capture({ action: "navigate", subject: "/catalog" });
    who = ""; // signed out (here or in another tab) before the timer's flush
    await t.flush();
    expect(sent).toEqual([]);
    expect(t.pending).toBe(0);
    t.capture({ action: "navigate", subject: "/login" }); // signed out: not kept
    expect(t.pending).toBe(0);
    who = "acme/ann@x.io";
    t.capture({ action: "navigate", subject: "/a" });
    who = "acme/bob@x.io";
    t.capture({ action: "navigate", subject: "/b" });
    await t.flush();
    expect(sent).toEqual([["e2"]]); // bob's only; ann's was dropped at the switch
  });
});
