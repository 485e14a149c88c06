package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/readcache"
	"atrium.dev/services/catalog/internal/store"
	"github.com/jackc/pgx/v5"
)

// BenchmarkRoundTrips times the reads that take one round trip to Postgres, on a seeded
// synthetic tenant of 1,000 entities, beside what they cost as a transaction of their own
// (InReadTx: BEGIN with the tenant's settings, the statement, COMMIT), in the same rounds:
//
//   - read-cache hits, each read once before: one entity by ref (GetEncodedByRefs, as
//     by-name), a page of 100 with its total (List), four facets (FacetsMatching); and what
//     each rests on, the tenant's data version, read in one round trip (ReadInt,
//     "version-once") and in a transaction ("version-tx", what every hit cost before);
//   - misses: one entity by ref through a store without a cache (InReadBatch,
//     "byname-miss") and the same statement in a transaction ("byname-miss-tx").
//
// Paths alternate in rounds of 50 calls; it reports each path's p50 and p99 in microseconds.
func BenchmarkRoundTrips(b *testing.B) {
	env := catalogtest.New(b)
	tn := env.Tenant(b, "hits")
	ctx := tn.Ctx()
	var ref string
	for _, r := range env.Seed(b, tn, 1000) {
		if strings.HasPrefix(r, "component:") {
			ref = r
			break
		}
	}
	st := store.New(env.Shards)
	cache := readcache.New(0)
	st.CacheReads(cache)
	uncached := store.New(env.Shards)
	enc := store.Encoder{Name: "bench", Encode: func(e entity.Entity) ([]byte, error) { return []byte(e.Name()), nil }}
	page, _, err := query.Build(query.Request{Spec: query.Spec{Filter: []string{"kind=component"}}, Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	facets := []string{"kind", "spec.type", "spec.lifecycle", "metadata.namespace"}
	paths := []struct {
		name string
		fn   func() error
	}{
		{"byname", func() error {
			out, err := st.GetEncodedByRefs(ctx, []string{ref}, nil, enc)
			if err == nil && out[0] == nil {
				b.Fatalf("no entity %s", ref)
			}
			return err
		}},
		{"page", func() error { _, err := st.List(ctx, page); return err }},
		{"facets", func() error { _, err := st.FacetsMatching(ctx, facets, nil, ""); return err }},
		{"version-tx", func() error {
			var v int64
			return env.Shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT data_version FROM catalog_state`).Scan(&v)
			})
		}},
		{"version-once", func() error {
			_, err := env.Shards.ReadInt(ctx, `SELECT data_version FROM catalog_state`)
			return err
		}},
		{"byname-miss", func() error {
			out, err := uncached.GetEncodedByRefs(ctx, []string{ref}, nil, enc)
			if err == nil && out[0] == nil {
				b.Fatalf("no entity %s", ref)
			}
			return err
		}},
		{"byname-miss-tx", func() error {
			return env.Shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, store.ByRefsSQL(1), []string{ref})
				if err != nil {
					return err
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Close(); n != 1 {
					b.Fatalf("%d rows for %s", n, ref)
				}
				return rows.Err()
			})
		}},
	}
	for _, p := range paths { // cache the results, warm the connections' statements
		for range 20 {
			if err := p.fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	hits := cache.Stats().Hits
	lat := make([][]time.Duration, len(paths))
	b.ResetTimer()
	for range b.N {
		for round := range 6 {
			for k := range paths {
				p := paths[(k+round)%len(paths)]
				for range 50 {
					t0 := time.Now()
					if err := p.fn(); err != nil {
						b.Fatal(err)
					}
					lat[(k+round)%len(paths)] = append(lat[(k+round)%len(paths)], time.Since(t0))
				}
			}
		}
	}
	b.StopTimer()
	if got, want := cache.Stats().Hits-hits, int64(3*6*50*b.N); got < want {
		b.Fatalf("%d cache hits, want %d: the cached paths missed", got, want)
	}
	b.ReportMetric(0, "ns/op")
	for i, p := range paths {
		l := lat[i]
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds()), p.name+"-p50-us")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), p.name+"-p99-us")
	}
}
