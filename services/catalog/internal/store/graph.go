package store

import (
	"context"
	"fmt"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"github.com/jackc/pgx/v5"
)

// Direction says which edges a walk follows from each node.
type Direction int

const (
	Outgoing Direction = iota + 1
	Incoming
	Both
)

// Graph is what a walk reached.
type Graph struct {
	Edges []Edge
	// Entities are the entities reached, the root first; refs without an entity (dangling
	// targets) appear only in Edges.
	Entities []entity.Entity
	// Truncated is true when the walk stopped at the node limit.
	Truncated bool
}

// Walk follows relation edges breadth-first from root (a canonical ref) up to depth levels,
// only edges of the given types (all when empty), until maxNodes refs are reached. NotFound
// when root is not an entity.
func (s *Store) Walk(ctx context.Context, root string, types []string, dir Direction, depth, maxNodes int) (Graph, error) {
	var g Graph
	canon := make([]string, len(types))
	for i, t := range types {
		canon[i] = canonicalRelationType(t)
	}
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog_entities WHERE ref = $1)`, root).Scan(&exists); err != nil {
			return fmt.Errorf("store: walk: %w", err)
		}
		if !exists {
			return rpcerr.NotFound("no entity %s", root)
		}
		order := []string{root}
		seen := map[string]bool{root: true}
		seenEdge := map[Edge]bool{}
		frontier := []string{root}
	levels:
		for level := 0; level < depth && len(frontier) > 0; level++ {
			var next []string
			var queries []string
			// Stored rows are edges source -type-> target; each also reads as the reverse
			// edge target -inverse-> source.
			if dir == Outgoing || dir == Both {
				queries = append(queries, `SELECT source_ref, type, target_ref FROM catalog_relations WHERE source_ref = ANY($1) AND (cardinality($2::text[]) = 0 OR type = ANY($2))
UNION SELECT target_ref, inverse, source_ref FROM catalog_relations WHERE target_ref = ANY($1) AND (cardinality($2::text[]) = 0 OR inverse = ANY($2))`)
			}
			if dir == Incoming || dir == Both {
				queries = append(queries, `SELECT source_ref, type, target_ref FROM catalog_relations WHERE target_ref = ANY($1) AND (cardinality($2::text[]) = 0 OR type = ANY($2))
UNION SELECT target_ref, inverse, source_ref FROM catalog_relations WHERE source_ref = ANY($1) AND (cardinality($2::text[]) = 0 OR inverse = ANY($2))`)
			}
			for _, q := range queries {
				rows, err := tx.Query(ctx, q+` ORDER BY 1, 2, 3`, frontier, canon)
				if err != nil {
					return fmt.Errorf("store: walk: %w", err)
				}
				edges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Edge, error) {
					var e Edge
					err := r.Scan(&e.Source, &e.Type, &e.Target)
					return e, err
				})
				if err != nil {
					return fmt.Errorf("store: walk: %w", err)
				}
				for _, e := range edges {
					for _, ref := range []string{e.Source, e.Target} {
						if seen[ref] {
							continue
						}
						if len(seen) >= maxNodes {
							g.Truncated = true
							break levels
						}
						seen[ref] = true
						order = append(order, ref)
						next = append(next, ref)
					}
					if !seenEdge[e] {
						seenEdge[e] = true
						g.Edges = append(g.Edges, e)
					}
				}
			}
			frontier = next
		}
		byRef, err := loadByRefs(ctx, tx, order)
		if err != nil {
			return err
		}
		for _, ref := range order {
			if e, ok := byRef[ref]; ok {
				g.Entities = append(g.Entities, e)
			}
		}
		return nil
	})
	return g, err
}
