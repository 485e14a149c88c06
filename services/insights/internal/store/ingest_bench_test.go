package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/store"
)

var oneConnPlugins = []string{"catalog", "techdocs", "search", "scaffolder"}

// BenchmarkIngestOneConn: the cost of one multi-tenant ingest transaction (store.IngestMany) on
// one connection, 32 tenants with 1 or 30 new events each (a few users, plugins, entity views
// and searches, so that every statement of the ingest function runs). Every tenant is written
// a few times before the timer starts, so no function compilation or first planning is timed.
// With ATRIUM_BENCH_TENANTS (default 32) above 32, successive transactions take the next 32
// of that many tenants, all warmed on the connection first: what a connection's caches of
// many tenants' tables cost each call. It reports the transaction's time and the time per
// tenant call.
func BenchmarkIngestOneConn(b *testing.B) {
	env := insightstest.New(b)
	ctx := context.Background()
	shards, err := tenantdb.Open(ctx, map[string]string{insightstest.Shard: env.DSN}, tenantdb.WithMaxConns(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(shards.Close)
	st := store.New(shards)
	const nTenants = 32 // per transaction
	all := make([]insightstest.Tenant, 32)
	if s := os.Getenv("ATRIUM_BENCH_TENANTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 32 {
			b.Fatalf("ATRIUM_BENCH_TENANTS=%q: want a number >= 32", s)
		}
		all = make([]insightstest.Tenant, n)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(all); i += 4 {
				all[i] = env.Tenant(b, fmt.Sprintf("m%d", i))
			}
		}()
	}
	wg.Wait()
	seq, next := 0, 0
	parts := func(per int) []store.Part {
		out := make([]store.Part, nTenants)
		now := time.Now()
		tenants := make([]insightstest.Tenant, nTenants)
		for i := range tenants {
			tenants[i] = all[next%len(all)]
			next++
		}
		for i, tn := range tenants {
			id := tn.Admin
			evs := make([]event.Event, per)
			for k := range evs {
				seq++
				e := event.Event{ID: fmt.Sprint("e", seq), Source: event.SourceTrack, Time: now,
					User: fmt.Sprint("u", k%7), Kind: event.KindUser, Plugin: oneConnPlugins[k%len(oneConnPlugins)]}
				switch k % 3 {
				case 0:
					e.Action, e.Dim, e.DimKey = "navigate", event.DimEntity, fmt.Sprint("component:default/c", k%11)
				case 1:
					v := float64(k % 2)
					e.Action, e.Dim, e.DimKey, e.Value = "search", event.DimSearch, fmt.Sprint("term ", k%5), &v
				}
				evs[k] = e
			}
			out[i] = store.Part{Tenant: &id, Events: evs, Limits: store.Limits{MonthlyEvents: -1}}
		}
		return out
	}
	for _, per := range []int{1, 30} {
		b.Run(fmt.Sprintf("32x%d", per), func(b *testing.B) {
			for range 3 * len(all) / nTenants {
				if _, err := st.IngestMany(ctx, insightstest.Shard, parts(per), time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			in := make([][]store.Part, b.N)
			for i := range in {
				in[i] = parts(per)
			}
			defer insightstest.BenchLock(b)()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if _, err := st.IngestMany(ctx, insightstest.Shard, in[i], time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(el.Microseconds())/1000/float64(b.N), "ms/tx")
			b.ReportMetric(float64(el.Microseconds())/float64(b.N*nTenants), "us/tenant")
		})
	}
}
