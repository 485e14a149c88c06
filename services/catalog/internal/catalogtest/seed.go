package catalogtest

import (
	"context"
	"fmt"
	"testing"

	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/synth"
	"github.com/jackc/pgx/v5"
)

// Seed writes the synthetic catalog of n entities (seed 42, as the benchmarks through the
// gateway use) into the tenant straight through the store, in batches of ingest.MaxEntities
// as ApplyEntities would write them, then VACUUM ANALYZEs its tables (this server runs
// without autovacuum, so fresh tables would have no planner statistics). It returns the
// written entities' refs, in the catalog's order.
func (e *Env) Seed(t testing.TB, tn Tenant, n int) []string {
	t.Helper()
	cat := synth.Generate(n, 42)
	refs := make([]string, 0, n)
	for i := 0; i < len(cat.Entities); i += ingest.MaxEntities {
		var docs []ingest.Doc
		for j, ent := range cat.Entities[i:min(i+ingest.MaxEntities, len(cat.Entities))] {
			docs = append(docs, ingest.Doc{Index: j, Path: fmt.Sprintf("entities[%d]", j), Entity: ent})
		}
		drafts, err := ingest.Prepare(docs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Store.Apply(tn.Ctx(), drafts, store.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, d := range drafts {
			refs = append(refs, d.Ref)
		}
	}
	pool, err := e.Shards.Pool(Shard)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"catalog_entities", "catalog_search", "catalog_relations"} {
		if _, err := pool.Exec(context.Background(), "VACUUM (ANALYZE) "+pgx.Identifier{tn.Schema, table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return refs
}
