package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/synth"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
)

// seedStore writes a synthetic catalog of n entities straight through the store (batches of
// 1,000, as ApplyEntities would write them) and analyzes the tables.
func seedStore(b *testing.B, env *catalogtest.Env, tn catalogtest.Tenant, n int) {
	b.Helper()
	ctx := tn.Ctx()
	cat := synth.Generate(n, 42)
	for i := 0; i < len(cat.Entities); i += ingest.MaxEntities {
		var docs []ingest.Doc
		for j, e := range cat.Entities[i:min(i+ingest.MaxEntities, len(cat.Entities))] {
			docs = append(docs, ingest.Doc{Index: j, Path: fmt.Sprintf("entities[%d]", j), Entity: e})
		}
		drafts, err := ingest.Prepare(docs, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Store.Apply(ctx, drafts, store.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	pool, err := env.Shards.Pool(catalogtest.Shard)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"catalog_entities", "catalog_search", "catalog_relations"} {
		if _, err := pool.Exec(context.Background(), "VACUUM (ANALYZE) "+pgx.Identifier{tn.Schema, t}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilterBounds times ListEntities (a page of 100 with its total, through the
// Connect API) under the costliest filters the bounds of internal/filter allow, beside the
// same call without a filter, over a synthetic catalog (ATRIUM_BENCH_ENTITIES, default
// 10,000; the bounds are chosen for 100,000). It also times the refusal of issue 6's finding
// 5 (one set of 50 keys of 95 segments, 11 s before the bounds).
func BenchmarkFilterBounds(b *testing.B) {
	n := benchSize(b)
	s := newServer(b, func(c *app.Config) { c.EntityLimit = -1 })
	tn := s.env.Tenant(b, "bench")
	seedStore(b, s.env, tn, n)
	c := s.catalog(&tn.Identity)
	ctx := context.Background()
	old := samples
	samples = 20 // the worst filters take up to seconds each
	defer func() { samples = old }()
	list := func(filters []string) func(int) error {
		return func(int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: filters, PageSize: 100}))
			return err
		}
	}
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	// Keys most entities have, each an existence test of two subqueries (the key, and its
	// split into an array key and an item).
	common := []string{"spec.type", "spec.lifecycle", "spec.owner", "metadata.description", "metadata.tags", "spec.system", "metadata.links", "spec.providesapis", "spec.consumesapis", "spec.dependson"}
	worst := []struct {
		name    string
		filters []string
	}{
		{"4SetsOfOneCommonKey", many(4, func(i int) string { return common[i%len(common)] })},
		{"2SetsOf2CommonKeys", many(2, func(i int) string { return strings.Join(common[i*2:i*2+2], ",") })},
		{"2SetsOf2Relations", []string{"relations.ownedby,relations.partof", "relations.dependson,relations.providesapi"}},
		{"8SetsOfACommonValue", []string{"spec.lifecycle=production", "spec.type=service", "spec.lifecycle=experimental", "spec.type=website",
			"spec.type=library", "spec.lifecycle=deprecated", "metadata.tags=java", "metadata.tags=go"}},
		// The portal's "owned" view: a set per owner repeating the selection (Simplify makes it
		// four subqueries).
		{"20OwnersWithASelection", many(20, func(i int) string {
			return fmt.Sprintf("kind=component,spec.type=service,spec.lifecycle=production,relations.ownedby=group:default/team-%d", i)
		})},
		{"1KeyOf8Segments", []string{"spec.a.b.c.d.e.f.g"}},
		{"1SetOf12Keys", []string{"kind=component,metadata.namespace=default,metadata.name=x,metadata.uid=x,spec.lifecycle=production,spec.type=service,metadata.tags=java,spec.owner=x,metadata.description=x,spec.system=x,metadata.links=x,spec.providesapis=x"}},
		{"50SetsOf4ColumnTests", many(50, func(i int) string {
			return fmt.Sprintf("kind=component,metadata.namespace=default,metadata.name=c-%d,metadata.uid=00000000-0000-0000-0000-%012d", i, i)
		})},
	}
	b.Run("Baseline", func(b *testing.B) { measure(b, list(nil)).report(b, "") })
	for _, w := range worst {
		b.Run("Worst/"+w.name, func(b *testing.B) {
			measure(b, list(w.filters)).report(b, "")
			base := measure(b, list(nil))
			base.report(b, "baseline-")
		})
	}
	finding := []string{strings.Join(many(50, func(i int) string { return fmt.Sprintf("k%d", i) + strings.Repeat(".a", 94) }), ",")}
	b.Run("Finding5Refused", func(b *testing.B) {
		measure(b, func(int) error {
			if err := list(finding)(0); connect.CodeOf(err) != connect.CodeInvalidArgument {
				return fmt.Errorf("want InvalidArgument, got %v", err)
			}
			return nil
		}).report(b, "")
	})
}
