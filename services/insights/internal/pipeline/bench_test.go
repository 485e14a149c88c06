package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/pipeline"
	"atrium.dev/services/insights/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func envInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return v
	}
	return def
}

// benchEvent is one synthetic event: its stream fields and its raw-table row.
type benchEvent struct {
	tenant int
	fields []string
	row    []any
}

var (
	benchPlugins = []string{"catalog", "techdocs", "search", "scaffolder", "kubernetes", "tenancy", "insights", "api-docs"}
	benchActions = []string{"navigate", "navigate", "navigate", "search", "create"}
)

// synthEvents makes n events spread over the tenants by a Zipf law (s = 1.1: the biggest
// tenant has ~14 % of the events at 1,000 tenants, the smallest a handful), each tenant with
// its own users; 60 % are gateway request events, 40 % portal Track events (entity views,
// searches, template runs) that feed the top lists too. All are of today (UTC).
func synthEvents(tenants []insightstest.Tenant, n int) []benchEvent {
	r := rand.New(rand.NewPCG(42, 1))
	z := rand.NewZipf(r, 1.1, 1, uint64(len(tenants)-1))
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out := make([]benchEvent, n)
	for i := range out {
		ti := int(z.Uint64())
		tn := tenants[ti]
		ts := day.Add(time.Duration(r.Int64N(int64(max(now.Sub(day), time.Minute)))))
		user := "u" + strconv.Itoa(int(r.Int32N(200)*r.Int32N(200)/200))
		plugin := benchPlugins[r.IntN(len(benchPlugins))]
		id := "b" + strconv.Itoa(i)
		ms := strconv.FormatInt(ts.UnixMilli(), 10)
		var f []string
		if r.IntN(10) < 6 {
			f = []string{"id", id, "source", "request", "time", ms, "tenant", tn.ID, "shard", insightstest.Shard,
				"user", user, "user_kind", "user", "plugin", plugin, "procedure", "/atrium.catalog.v1.CatalogService/ListEntities",
				"code", "ok", "http_status", "200", "duration_us", "850", "bytes_in", "40", "bytes_out", "2000", "request_id", id}
		} else {
			action := benchActions[r.IntN(len(benchActions))]
			subject, ref := "", ""
			switch action {
			case "navigate":
				ref = "component:default/svc-" + strconv.Itoa(int(r.Int32N(100)*r.Int32N(100)/10))
			case "search":
				subject = "term " + strconv.Itoa(r.IntN(300))
			case "create":
				ref = "template:default/tpl-" + strconv.Itoa(r.IntN(20))
			}
			f = []string{"id", "t:" + id, "source", "track", "time", ms, "tenant", tn.ID, "shard", insightstest.Shard,
				"user", user, "user_kind", "user", "plugin", plugin, "action", action, "subject", subject, "entity_ref", ref}
		}
		out[i] = benchEvent{tenant: ti, fields: f, row: []any{day, id, ts, int16(1), "u:" + user, int16(1), plugin, "navigate", "", "ok", int32(850), nil, int16(0), "", nil}}
	}
	return out
}

// warmConns is how many connections the warm-up writes every tenant through: the pool's
// (pgx: max(4, CPUs)).
const warmConns = 4

// onEveryConn calls f once for each of the pool's warmConns connections, with that
// connection the only one the pool can hand out: the others are held meanwhile. Without
// the pinning a warm-up "through each connection" goes wherever the pool sends it, and about
// a third of the (tenant, connection) pairs ((3/4)^4) stay cold, to be compiled and planned
// during the measurement.
func onEveryConn(b *testing.B, pool *pgxpool.Pool, f func(c int)) {
	ctx := context.Background()
	if n := int(pool.Config().MaxConns); n != warmConns {
		b.Fatalf("the pool has %d connections, the warm-up expects %d", n, warmConns)
	}
	held := make([]*pgxpool.Conn, warmConns)
	// Released however f ends: the pool's Close (the test's clean-up) waits for every
	// acquired connection, so a b.Fatal in f would otherwise hang the benchmark.
	defer func() {
		for _, c := range held {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range held {
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		held[i] = c
	}
	for i := range held {
		held[i].Release()
		held[i] = nil
		f(i)
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		held[i] = c
	}
}

// warmEvent is a warm-up event that reaches every statement of the ingest function (a
// person new to the tenant, a plugin, an entity view): a statement is planned on its first
// run per connection and tenant. Each connection's warm-up needs a person of its own: a
// person already counted that day changes no user-hour or plugin-user row, so the bit-word
// statement would not run, and the run would plan it (and, the first time the connection
// opens that table for an upsert, build its publication info, which on Postgres 15 walks a
// list of every table the connection knows) in the middle of the measurement.
func warmEvent(id string) event.Event {
	return event.Event{ID: id, Source: event.SourceTrack, Time: time.Now(), User: id, Kind: event.KindUser,
		Plugin: "catalog", Action: "navigate", Dim: event.DimEntity, DimKey: "component:default/warm"}
}

// benchTenants creates n provisioned tenants, four at a time.
func benchTenants(b *testing.B, env *insightstest.Env, n int) []insightstest.Tenant {
	out := make([]insightstest.Tenant, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = env.Tenant(b, fmt.Sprintf("b%d", i))
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	// Dropping a thousand schemas with the database takes longer than pgtest's clean-up
	// allows: drop them one by one first, four at a time.
	b.Cleanup(func() {
		drop := make(chan string)
		var dwg sync.WaitGroup
		for range 4 {
			dwg.Add(1)
			go func() {
				defer dwg.Done()
				for schema := range drop {
					_ = env.Shards.DropTenant(context.Background(), insightstest.Shard, schema)
				}
			}()
		}
		for _, tn := range out {
			drop <- tn.Schema
		}
		close(drop)
		dwg.Wait()
	})
	return out
}

func xaddAll(ctx context.Context, rdb *redis.Client, stream string, evs []benchEvent) error {
	for i := 0; i < len(evs); i += 1000 {
		pl := rdb.Pipeline()
		for _, e := range evs[i:min(i+1000, len(evs))] {
			pl.XAdd(ctx, &redis.XAddArgs{Stream: stream, MaxLen: 10_000_000, Approx: true, Values: e.fields})
		}
		if _, err := pl.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkIngest: sustained ingest end to end (XADD by a producer running at full speed →
// committed raw events and rollups in each tenant's schema), events over ATRIUM_BENCH_TENANTS
// tenants (default 1,000, Zipf), beside the raw pipelined XADD of the same entries and the raw
// COPY of the same rows into one plain table, measured in the same run.
func BenchmarkIngest(b *testing.B) {
	nTenants := envInt(b, "ATRIUM_BENCH_TENANTS", 1000)
	nEvents := envInt(b, "ATRIUM_BENCH_EVENTS", 300_000)
	workers := envInt(b, "ATRIUM_BENCH_WORKERS", 4)
	batch := envInt(b, "ATRIUM_BENCH_BATCH", 10000)
	writers := envInt(b, "ATRIUM_BENCH_WRITERS", 2)
	env := insightstest.New(b)
	rd := redistest.New(b)
	ctx := context.Background()
	t0 := time.Now()
	tenants := benchTenants(b, env, nTenants)
	// Warm-up: one event per tenant makes today's partitions. A tenant's first event of a day
	// creates that day's partition (DDL with a file sync, tens of ms here), once per tenant
	// and day; and a database connection's first call of a tenant's ingest function compiles
	// it and plans each statement on its first run (~5 ms), once per connection and tenant.
	// Neither is what a sustained rate pays: the warm-up writes a part for every tenant
	// through every pooled connection, with an event that reaches every statement.
	for _, tn := range tenants {
		warm := []event.Event{warmEvent("warm")}
		if _, err := env.Store.Ingest(tn.Ctx(), warm, store.Limits{MonthlyEvents: -1}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	pool, err := env.Shards.Pool(insightstest.Shard)
	if err != nil {
		b.Fatal(err)
	}
	onEveryConn(b, pool, func(c int) {
		parts := make([]store.Part, len(tenants))
		for i, tn := range tenants {
			id := tn.Admin
			parts[i] = store.Part{Tenant: &id, Limits: store.Limits{MonthlyEvents: -1},
				Events: []event.Event{warmEvent(fmt.Sprint("warm-", c))}}
		}
		// In chunks as the pipeline writes them: a transaction over every tenant would
		// exhaust the server's lock table (see the pipeline's maxTenantsPerTx).
		for lo := 0; lo < len(parts); lo += 32 {
			if _, err := env.Store.IngestMany(ctx, insightstest.Shard, parts[lo:min(lo+32, len(parts))], time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Logf("%d tenants provisioned and warmed up in %v", nTenants, time.Since(t0).Round(time.Millisecond))
	evs := synthEvents(tenants, nEvents)
	defer insightstest.BenchLock(b)()
	b.ResetTimer()
	for it := range b.N {
		// Raw baselines first, on the same data: pipelined XADD into a scratch stream, and COPY
		// of the raw rows into one unindexed, unpartitioned table.
		scratch := rd.Prefix + "scratch"
		start := time.Now()
		if err := xaddAll(ctx, rd.Client, scratch, evs); err != nil {
			b.Fatal(err)
		}
		xaddRate := float64(nEvents) / time.Since(start).Seconds()
		rd.Client.Del(ctx, scratch)
		if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS raw_copy; CREATE TABLE raw_copy (day date, event_id text,
			time timestamptz, source int2, user_key text, kind int2, plugin text, action text, subject text, code text,
			duration_us int4, value float8, dim int2, dim_key text, attrs jsonb)`); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"raw_copy"}, []string{"day", "event_id", "time", "source", "user_key", "kind",
			"plugin", "action", "subject", "code", "duration_us", "value", "dim", "dim_key", "attrs"},
			pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) { return evs[i].row, nil })); err != nil {
			b.Fatal(err)
		}
		copyRate := float64(nEvents) / time.Since(start).Seconds()

		// End to end: the producer and the pipeline run at once.
		stream := rd.Prefix + fmt.Sprintf("atrium:usage:%d", it)
		p, err := pipeline.New(pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(env.Shards),
			Workers: workers, BatchSize: batch, Writers: writers})
		if err != nil {
			b.Fatal(err)
		}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		conns0, commits0 := pool.Stat().NewConnsCount(), commits(b, pool)
		start = time.Now()
		go func() { p.Run(pctx); close(done) }()
		var prodErr error
		prodDone := make(chan struct{})
		go func() { prodErr = xaddAll(ctx, rd.Client, stream, evs); close(prodDone) }()
		<-prodDone
		if prodErr != nil {
			b.Fatal(prodErr)
		}
		produced := time.Since(start)
		for {
			l, err := p.ReadLag(ctx)
			if err == nil && l.Lag == 0 && l.Pending == 0 && l.Length == int64(nEvents) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.Logf("during the run: %d new database connections, %d transactions committed",
			pool.Stat().NewConnsCount()-conns0, commits(b, pool)-commits0)
		cancel()
		<-done
		st := p.Stats()
		b.Logf("the writers: %d writes, %d tenant parts (%.1f events each), busy %v of %v each",
			st.Writes, st.Parts, float64(st.Events)/float64(max(st.Parts, 1)), (st.Busy / time.Duration(writers)).Round(time.Millisecond), elapsed.Round(time.Millisecond))
		rate := float64(nEvents) / elapsed.Seconds()

		// Every event committed once: the tenants' monthly counts add up to what was sent.
		var total int64
		for _, tn := range tenants {
			_, events, _, err := env.Store.Quota(tn.Ctx(), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			total += events
		}
		if want := int64(nEvents)*int64(it+1) + int64(nTenants)*(1+warmConns); total != want {
			b.Fatalf("committed %d events, want %d (with the warm-up's)", total, want)
		}
		// The second iteration's events carry the same ids: all duplicates. Report the first.
		if it == 0 {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(float64(nEvents)/produced.Seconds(), "produced-events/s")
			b.ReportMetric(xaddRate, "raw-xadd-events/s")
			b.ReportMetric(copyRate, "raw-copy-events/s")
			b.ReportMetric(rate/min(xaddRate, copyRate), "ratio-to-slower-raw")
			b.Logf("%d events over %d tenants: end to end %v (%.0f/s); raw XADD %.0f/s, raw COPY %.0f/s",
				nEvents, nTenants, elapsed.Round(time.Millisecond), rate, xaddRate, copyRate)
		}
	}
}

// commits is the database's committed transactions so far (the statistics collector's view,
// flushed first so that it is current).
func commits(b *testing.B, pool *pgxpool.Pool) int64 {
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT pg_stat_force_next_flush(), (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())`).Scan(nil, &n); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkFreshness: an event written to the stream (as the gateway or Track writes it) →
// visible in the tenant's DAU (store.ActiveUsersQuery, polled every 2 ms), each sample a new
// user, with the pipeline's defaults; optionally with other tenants' background load
// (ATRIUM_BENCH_LOAD events/s, default 0).
func BenchmarkFreshness(b *testing.B) {
	samples := envInt(b, "ATRIUM_BENCH_SAMPLES", 200)
	load := 0
	if os.Getenv("ATRIUM_BENCH_LOAD") != "" {
		load = envInt(b, "ATRIUM_BENCH_LOAD", 1)
	}
	env := insightstest.New(b)
	rd := redistest.New(b)
	ctx := context.Background()
	stream := rd.Prefix + "atrium:usage"
	acme := env.Tenant(b, "acme")
	p, err := pipeline.New(pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(env.Shards)})
	if err != nil {
		b.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go p.Run(pctx)
	if load > 0 {
		others := benchTenants(b, env, 20)
		evs := synthEvents(others, load*60)
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			per := max(load/100, 1)
			for i := 0; pctx.Err() == nil; i += per {
				<-tick.C
				_ = xaddAll(pctx, rd.Client, stream, evs[i%len(evs):min(i%len(evs)+per, len(evs))])
			}
		}()
	}
	b.ResetTimer()
	var lat []time.Duration
	for it := range b.N {
		for i := range samples {
			user := fmt.Sprintf("fresh-%d-%d", it, i)
			now := time.Now()
			start := time.Now()
			if err := rd.Client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"id", user, "source", "request",
				"time", strconv.FormatInt(now.UnixMilli(), 10), "tenant", acme.ID, "shard", insightstest.Shard,
				"user", user, "user_kind", "user", "plugin", "catalog", "procedure", "/p.S/M", "code", "ok"}}).Err(); err != nil {
				b.Fatal(err)
			}
			want := int64(it*samples + i + 1)
			for {
				au, err := env.Store.ActiveUsersQuery(acme.Ctx(), now.Add(-time.Hour), now.Add(time.Hour), store.ByDay, false)
				if err != nil {
					b.Fatal(err)
				}
				if au.Total >= want {
					break
				}
				if time.Since(start) > 30*time.Second {
					b.Fatalf("sample %d not visible after 30 s", i)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
