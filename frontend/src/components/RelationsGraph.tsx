import { useMemo, useState } from "react";
import { catalogClient } from "../api";
import { RelationDirection } from "../gen/atrium/catalog/v1/catalog_pb";
import { useLoad } from "../hooks";
import { canonicalEdges, layoutGraph } from "../lib/graph";
import { entityHref, parseRef } from "../lib/entityRef";
import { stringAt } from "../lib/entity";
import { Empty, ErrorBanner, Loading } from "./ui";

// The relation types a reader can switch off, as Backstage's catalog graph offers.
const relationTypes = ["ownedBy", "partOf", "dependsOn", "providesApi", "consumesApi", "memberOf", "childOf"];

// RelationsGraph: the entity's relations to the chosen depth, laid out by dagre, drawn as
// SVG. Each node is a link to its entity; the entity itself is highlighted.
export default function RelationsGraph({ entityRef }: { entityRef: string }) {
  const [depth, setDepth] = useState(1);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [zoom, setZoom] = useState(1);
  const { data, error, loading, reload } = useLoad(
    () => catalogClient.getEntityRelations({ ref: entityRef, direction: RelationDirection.BOTH, depth }),
    `${entityRef}:${depth}`,
  );

  const titles = useMemo(() => {
    const m = new Map<string, string>();
    for (const e of data?.entities ?? []) {
      const ref = `${stringAt(e, "kind")}:${stringAt(e, "metadata.namespace") || "default"}/${stringAt(e, "metadata.name")}`.toLowerCase();
      m.set(ref, stringAt(e, "metadata.name"));
    }
    return m;
  }, [data]);

  const placed = useMemo(() => {
    if (!data) return null;
    const edges = canonicalEdges(
      data.edges.map((e) => ({ source: e.sourceRef.toLowerCase(), type: e.type, target: e.targetRef.toLowerCase() })),
    ).filter((e) => !hidden.has(e.type));
    // Only what is still connected to the entity once types are hidden.
    const keep = new Set([entityRef]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const e of edges) {
        if (keep.has(e.source) !== keep.has(e.target)) {
          keep.add(e.source);
          keep.add(e.target);
          grew = true;
        }
      }
    }
    const shownEdges = edges.filter((e) => keep.has(e.source) && keep.has(e.target));
    return layoutGraph([...keep], shownEdges, (id) => label(id, titles));
  }, [data, hidden, entityRef, titles]);

  const present = new Set(canonicalEdges(data?.edges.map((e) => ({ source: e.sourceRef, type: e.type, target: e.targetRef })) ?? []).map((e) => e.type));

  return (
    <section className="graph-section">
      <h2>Relations</h2>
      <div className="graph-controls">
        <label>
          Depth{" "}
          <select value={depth} onChange={(e) => setDepth(Number(e.target.value))}>
            {[1, 2, 3].map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="inline">
          <legend>Relation types</legend>
          {relationTypes
            .filter((t) => present.has(t))
            .map((t) => (
              <label key={t}>
                <input
                  type="checkbox"
                  checked={!hidden.has(t)}
                  onChange={() =>
                    setHidden((h) => {
                      const n = new Set(h);
                      if (n.has(t)) n.delete(t);
                      else n.add(t);
                      return n;
                    })
                  }
                />{" "}
                {t}
              </label>
            ))}
        </fieldset>
        <span className="zoom" role="group" aria-label="Zoom">
          <button type="button" className="secondary small" onClick={() => setZoom((z) => Math.max(0.4, z - 0.2))} aria-label="Zoom out">
            −
          </button>
          <button type="button" className="secondary small" onClick={() => setZoom(1)} aria-label={`${Math.round(zoom * 100)}% (reset zoom)`}>
            {Math.round(zoom * 100)}%
          </button>
          <button type="button" className="secondary small" onClick={() => setZoom((z) => Math.min(2.5, z + 0.2))} aria-label="Zoom in">
            +
          </button>
        </span>
      </div>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      {data?.truncated && <p className="muted">The graph stops at the node limit; lower the depth to see it whole.</p>}
      {placed && placed.nodes.length <= 1 && <Empty title="No relations." />}
      {placed && placed.nodes.length > 1 && (
        <div className="graph-wrap" tabIndex={0} aria-label="Relations graph, scrollable">
          <svg
            className="graph"
            role="group"
            aria-label={`Relations of ${entityRef}: ${placed.edges.length} relations among ${placed.nodes.length} entities`}
            width={placed.width * zoom}
            height={placed.height * zoom}
            viewBox={`0 0 ${placed.width} ${placed.height}`}
          >
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" className="arrowhead" />
              </marker>
            </defs>
            {placed.edges.map((e, i) => {
              const mid = e.points[Math.floor(e.points.length / 2)];
              return (
                <g key={i} className="edge">
                  <polyline points={e.points.map((p) => `${p.x},${p.y}`).join(" ")} markerEnd="url(#arrow)" />
                  {mid && (
                    <text x={mid.x} y={mid.y - 4} textAnchor="middle">
                      {e.type}
                    </text>
                  )}
                </g>
              );
            })}
            {placed.nodes.map((n) => {
              const r = parseRef(n.id);
              const body = (
                <g className={n.id === entityRef ? "node self" : "node"}>
                  <rect x={n.x - n.width / 2} y={n.y - n.height / 2} width={n.width} height={n.height} rx={6} />
                  <text x={n.x} y={n.y - 3} textAnchor="middle" className="kind">
                    {r?.kind ?? ""}
                  </text>
                  <text x={n.x} y={n.y + 13} textAnchor="middle">
                    {label(n.id, titles)}
                  </text>
                </g>
              );
              return r && n.id !== entityRef ? (
                <a key={n.id} href={entityHref(r)}>
                  {body}
                </a>
              ) : (
                <g key={n.id}>{body}</g>
              );
            })}
          </svg>
        </div>
      )}
    </section>
  );
}

function label(id: string, titles: Map<string, string>): string {
  return titles.get(id) ?? parseRef(id)?.name ?? id;
}
