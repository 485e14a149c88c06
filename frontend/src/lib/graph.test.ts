import { describe, expect, it } from "vitest";
import { canonicalEdges, layoutGraph } from "./graph";

describe("relations graph", () => {
  it("draws one arrow per relation pair", () => {
    expect(
      canonicalEdges([
        { source: "component:default/a", type: "ownedBy", target: "group:default/t" },
        { source: "group:default/t", type: "ownerOf", target: "component:default/a" },
      ]),
    ).toEqual([{ source: "component:default/a", type: "ownedBy", target: "group:default/t" }]);
  });
  it("lays nodes out left to right without overlap", () => {
    const p = layoutGraph(
      ["a", "b", "c"],
      [
        { source: "a", type: "dependsOn", target: "b" },
        { source: "a", type: "dependsOn", target: "c" },
      ],
      (id) => id,
    );
    const [a, b, c] = ["a", "b", "c"].map((id) => p.nodes.find((n) => n.id === id)!);
    expect(a.x).toBeLessThan(b.x);
    expect(Math.abs(b.y - c.y)).toBeGreaterThanOrEqual(44);
    expect(p.edges).toHaveLength(2);
    expect(p.edges[0].points.length).toBeGreaterThan(1);
  });
});
