import { Graph, layout } from "@dagrejs/dagre";

// Layout of a relations graph with dagre (a maintained Sugiyama layout): nodes are entity
// refs, edges typed relations. Kept apart from the renderer so it can be tested.

export interface GraphEdgeIn {
  source: string;
  type: string;
  target: string;
}

export interface PlacedNode {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge extends GraphEdgeIn {
  points: { x: number; y: number }[];
}

export interface Placed {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

// Relations come in pairs (ownedBy/ownerOf, dependsOn/dependencyOf...): the graph draws one
// arrow per pair, in the direction Backstage's catalog graph draws it.
const inverse: Record<string, string> = {
  ownerOf: "ownedBy",
  hasPart: "partOf",
  dependencyOf: "dependsOn",
  apiProvidedBy: "providesApi",
  apiConsumedBy: "consumesApi",
  parentOf: "childOf",
  hasMember: "memberOf",
};

export function canonicalEdges(edges: GraphEdgeIn[]): GraphEdgeIn[] {
  const seen = new Set<string>();
  const out: GraphEdgeIn[] = [];
  for (const e of edges) {
    const inv = inverse[e.type];
    const c = inv ? { source: e.target, type: inv, target: e.source } : e;
    const k = `${c.source}|${c.type}|${c.target}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(c);
  }
  return out;
}

export function layoutGraph(nodes: string[], edges: GraphEdgeIn[], label: (id: string) => string): Placed {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 80, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of nodes) {
    // Width from the label: about 7 px a character at the graph's font size.
    g.setNode(id, { width: Math.max(120, Math.min(280, label(id).length * 7 + 24)), height: 44 });
  }
  edges.forEach((e, i) => {
    if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target, { label: e.type }, String(i));
  });
  layout(g);
  const placed: Placed = { nodes: [], edges: [], width: g.graph().width ?? 0, height: g.graph().height ?? 0 };
  for (const id of g.nodes()) {
    const n = g.node(id);
    placed.nodes.push({ id, x: n.x, y: n.y, width: n.width, height: n.height });
  }
  edges.forEach((e, i) => {
    if (!g.hasNode(e.source) || !g.hasNode(e.target)) return;
    const ge = g.edge({ v: e.source, w: e.target, name: String(i) });
    placed.edges.push({ ...e, points: (ge?.points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })) });
  });
  return placed;
}
