package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/store"
	"github.com/jackc/pgx/v5"
)

// BenchmarkByRefsMiss seeds the synthetic catalog (ATRIUM_BENCH_ENTITIES, default 10,000;
// seed 42, as BenchmarkCatalogReads) in one tenant, vacuums it (autovacuum's work after the
// load would otherwise share the machine with the first paths timed), and times loading 100
// components by ref as a by-refs call that misses the read cache does (GetEncodedByRefs, no
// cache, an encoder that keeps the body as read), beside raw Postgres on one connection with
// the tenant's search path: the store's statement (store.ByRefsSQL) and the same load with
// relations subqueries per row (store.PerRowSQL), alternately, twice each, then the bodies
// alone. The refs of call i are those of BenchmarkCatalogReads' call i.
func BenchmarkByRefsMiss(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_ENTITIES")); err == nil && v > 0 {
		n = v
	}
	samples := 300
	env := catalogtest.New(b)
	tn := env.Tenant(b, "byrefs")
	ctx := tn.Ctx()
	var refs []string
	for _, ref := range env.Seed(b, tn, n) {
		if strings.HasPrefix(ref, "component:") {
			refs = append(refs, ref)
		}
	}
	refsAt := func(i int) []string {
		out := make([]string, 100)
		for k := range out {
			out[k] = refs[(i*100+k*37)%len(refs)]
		}
		return out
	}
	pool, err := env.Shards.Pool(catalogtest.Shard)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(context.Background(), "SET search_path TO "+pgx.Identifier{tn.Schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	raw := func(sql string) func(i int) error {
		return func(i int) error {
			rows, err := conn.Query(context.Background(), sql, refsAt(i))
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}
	}
	enc := store.Encoder{Name: "body", Encode: func(e entity.Entity) ([]byte, error) { return []byte("{}"), nil },
		Raw: func(r store.Raw) ([]byte, error) { return r.Body, nil }}
	paths := []struct {
		name string
		fn   func(i int) error
	}{
		{"store", func(i int) error {
			out, err := env.Store.GetEncodedByRefs(ctx, refsAt(i), nil, enc)
			if err == nil && out[0] == nil {
				err = fmt.Errorf("ref %s not found", refsAt(i)[0])
			}
			return err
		}},
		{"pg-statement", raw(store.ByRefsSQL(100))},
		{"pg-per-row", raw(store.PerRowSQL)},
		{"pg-statement-2", raw(store.ByRefsSQL(100))},
		{"pg-per-row-2", raw(store.PerRowSQL)},
		{"pg-bodies", raw("SELECT body FROM catalog_entities WHERE ref = ANY($1)")},
	}
	for _, p := range paths {
		b.Run(fmt.Sprintf("%s/%d", p.name, n), func(b *testing.B) {
			for i := 0; i < 10; i++ {
				if err := p.fn(i); err != nil {
					b.Fatal(err)
				}
			}
			var l []time.Duration
			for i := 0; i < samples*b.N; i++ {
				t0 := time.Now()
				if err := p.fn(i); err != nil {
					b.Fatal(err)
				}
				l = append(l, time.Since(t0))
			}
			slices.Sort(l)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(l[len(l)/2]), "p50-ms")
			b.ReportMetric(ms(l[min(len(l)-1, len(l)*99/100)]), "p99-ms")
		})
	}
}
