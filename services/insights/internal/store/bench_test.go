package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/store"
	"github.com/jackc/pgx/v5"
)

func benchInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return v
	}
	return def
}

// seedSQL fills a tenant's raw events numbered $4 to $5 over the 90 days up to $1 (UTC days),
// $2 users (activity skewed: a few users make most events) and $3 entities (views skewed the
// same way): 50 % entity views, 20 % searches (of 500 terms; every fifth term never finds
// anything, the others find nothing 5 % of the time), 30 % plain requests, every one under a
// plugin.
// It runs as the tenant role with the tenant schema first on the search path.
const seedSQL = `
INSERT INTO insights_events (day, event_id, time, source, user_key, kind, plugin, action, subject, code,
    duration_us, value, dim, dim_key)
SELECT d, 'e' || i, d + (i % 86400) * interval '1 second', 2, 'u:' || floor($2 * r1 ^ 3)::int, 1,
       (ARRAY['catalog','techdocs','search','scaffolder','kubernetes','tenancy','insights','api-docs'])[1 + i % 8],
       CASE WHEN k < 5 THEN 'navigate' WHEN k < 7 THEN 'search' ELSE 'request' END, '', 'ok', NULL,
       CASE WHEN k >= 5 AND k < 7 THEN CASE WHEN floor(500 * r2 ^ 2)::int % 5 = 0 OR r1 < 0.05 THEN 0 ELSE 1 + floor(20 * r1) END END,
       CASE WHEN k < 5 THEN 2 WHEN k < 7 THEN 3 ELSE 0 END,
       CASE WHEN k < 5 THEN 'component:default/c' || floor($3 * r2 ^ 4)::int
            WHEN k < 7 THEN 'term ' || floor(500 * r2 ^ 2)::int ELSE '' END
FROM (SELECT i, ($1::date - 89 + (i % 90)::int) AS d, random() AS r1, random() AS r2, (i / 90) % 10 AS k
      FROM generate_series($4::bigint, $5::bigint) i) s`

// rollupSQL builds the rollups from the raw events with the aggregation the pipeline's
// ingest statement applies batch by batch.
var rollupSQL = []string{
	`INSERT INTO insights_users SELECT user_key, max(kind), min(day), max(day) FROM insights_events
	 WHERE user_key IS NOT NULL GROUP BY user_key`,
	`INSERT INTO insights_user_months SELECT date_trunc('month', day)::date, user_key, max(kind),
	 bit_or(1 << (extract(day FROM day)::int - 1)) FROM insights_events WHERE user_key IS NOT NULL GROUP BY 1, 2`,
	`INSERT INTO insights_user_hours SELECT day, user_key, max(kind), bit_or(1 << extract(hour FROM time AT TIME ZONE 'UTC')::int)
	 FROM insights_events WHERE user_key IS NOT NULL GROUP BY 1, 2`,
	`INSERT INTO insights_plugin_users SELECT date_trunc('month', day)::date, plugin, user_key, max(kind),
	 bit_or(1 << (extract(day FROM day)::int - 1)) FROM insights_events WHERE user_key IS NOT NULL AND plugin <> '' GROUP BY 1, 2, 3`,
	`INSERT INTO insights_counts (dim, grain, bucket, key, n, n2)
	 SELECT x.dim, g.grain, g.bucket, x.key, count(*), sum(x.n2) FROM (
	     SELECT 1::int2 AS dim, plugin AS key, day, (code NOT IN ('', 'ok'))::int AS n2 FROM insights_events WHERE plugin <> ''
	     UNION ALL
	     SELECT dim, dim_key, day, coalesce(dim = 3 AND value = 0, false)::int FROM insights_events WHERE dim > 0
	 ) x CROSS JOIN LATERAL (VALUES ('d'::"char", x.day),
	                                ('w'::"char", x.day - (extract(isodow FROM x.day)::int - 1))) g(grain, bucket)
	 GROUP BY 1, 2, 3, 4`,
	`INSERT INTO insights_months (month, events) SELECT date_trunc('month', day)::date, count(*) FROM insights_events GROUP BY 1`,
	// People's numbers and the plugin bit sets, from the rollups (migration 005's backfill).
	`SELECT insights_rebuild_plugin_words()`,
}

// BenchmarkQueries: GetActiveUsers' query (DAU with rolling WAU and MAU over 90 days, by day)
// and the top 10 entities over 90 days, in one tenant holding ATRIUM_BENCH_INSIGHTS_EVENTS raw
// events (default 10,000,000, seeded with generate_series and rolled up in SQL), beside the
// raw SQL a plain table of events would need (count(DISTINCT user) per day; GROUP BY entity
// ORDER BY count LIMIT 10, over the same raw rows).
func BenchmarkQueries(b *testing.B) {
	n := benchInt(b, "ATRIUM_BENCH_INSIGHTS_EVENTS", 10_000_000)
	users := benchInt(b, "ATRIUM_BENCH_INSIGHTS_USERS", 5_000)
	entities := benchInt(b, "ATRIUM_BENCH_INSIGHTS_ENTITIES", 20_000)
	samples := benchInt(b, "ATRIUM_BENCH_SAMPLES", 200)
	// ATRIUM_BENCH_INSIGHTS_DSN and ATRIUM_BENCH_INSIGHTS_TENANT time the queries on a tenant
	// an earlier run seeded (a run killed while it waited for the bench lock leaves its
	// database): no seeding, and the database is left for its owner to drop.
	reuse := os.Getenv("ATRIUM_BENCH_INSIGHTS_DSN") != ""
	var env *insightstest.Env
	var acme insightstest.Tenant
	if reuse {
		env = insightstest.Open(b, os.Getenv("ATRIUM_BENCH_INSIGHTS_DSN"))
		acme = insightstest.Existing(os.Getenv("ATRIUM_BENCH_INSIGHTS_TENANT"), "acme")
	} else {
		env = insightstest.New(b)
		acme = env.Tenant(b, "acme")
	}
	ctx := context.Background()
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	pool, err := env.Shards.Pool(insightstest.Shard)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	schema := pgx.Identifier{acme.Schema}.Sanitize()
	exec := func(sql string, args ...any) {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			conn.Release()
			b.Fatalf("%s: %v", sql[:min(len(sql), 60)], err)
		}
	}
	if !reuse {
		start := time.Now()
		// A bulk load's settings for this session only: the rollups' GROUP BYs over millions of
		// rows spill to disk at the default work_mem.
		exec("SET work_mem = '256MB'; SET synchronous_commit = off")
		exec("SET search_path TO " + schema + "; SET ROLE " + schema)
		for d := range 91 {
			day := today.AddDate(0, 0, -90+d)
			exec(fmt.Sprintf(`CREATE TABLE insights_events_%s PARTITION OF insights_events FOR VALUES FROM ('%s') TO ('%s')`,
				day.Format("20060102"), day.Format(time.DateOnly), day.AddDate(0, 0, 1).Format(time.DateOnly)))
		}
		const chunk = 1_000_000
		for lo := 1; lo <= n; lo += chunk {
			exec(seedSQL, today, users, entities, lo, min(lo+chunk-1, n))
		}
		seeded := time.Since(start)
		for _, q := range rollupSQL {
			exec(q)
		}
		exec("RESET ROLE; RESET work_mem")
		exec("VACUUM ANALYZE insights_events, insights_users, insights_user_months, insights_user_hours, insights_plugin_users, insights_plugin_words, insights_counts")
		var rollupRows int64
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM insights_user_months) + (SELECT count(*) FROM insights_counts WHERE dim = 2)`).Scan(&rollupRows); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d events seeded in %v, rolled up and analyzed in %v (user-month rows + entity count rows: %d)",
			n, seeded.Round(time.Millisecond), (time.Since(start) - seeded).Round(time.Millisecond), rollupRows)

	}
	from, to := today.AddDate(0, 0, -89), today.AddDate(0, 0, 1)
	release := insightstest.BenchLock(b)
	defer release()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	report := func(name string, k int, fn func() error) {
		lat := make([]time.Duration, 0, k)
		for range k {
			t := time.Now()
			if err := fn(); err != nil {
				conn.Release()
				b.Fatalf("%s: %v", name, err)
			}
			lat = append(lat, time.Since(t))
		}
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), name+"-p50-ms")
		b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), name+"-p99-ms")
	}
	b.ResetTimer()
	b.ReportMetric(0, "ns/op")
	var dau *store.ActiveUsers
	report("dau", samples*b.N, func() error {
		var err error
		dau, err = env.Store.ActiveUsersQuery(acme.Ctx(), from, to, store.ByDay, false)
		return err
	})
	var top []store.Item
	report("top10", samples*b.N, func() error {
		var err error
		top, err = env.Store.Top(acme.Ctx(), event.DimEntity, from, to, 10, false)
		return err
	})
	// The other queries of the service, at the same data (GetTopSearches with and without
	// "no results only", GetPluginAdoption, GetRetention), fewer samples.
	other := max(20, samples/4)
	report("top-searches", other, func() error {
		_, err := env.Store.Top(acme.Ctx(), event.DimSearch, from, to, 10, false)
		return err
	})
	var noResult []store.Item
	report("top-searches-noresult", other, func() error {
		var err error
		noResult, err = env.Store.Top(acme.Ctx(), event.DimSearch, from, to, 10, true)
		return err
	})
	var plugins []store.PluginUse
	var people int64
	report("plugin-adoption", other, func() error {
		var err error
		plugins, people, err = env.Store.PluginAdoption(acme.Ctx(), from, to)
		return err
	})
	report("retention", other, func() error {
		_, err := env.Store.Retention(acme.Ctx(), from, to, now)
		return err
	})
	// The raw baselines read every raw row of the range: a few samples are enough.
	rawSamples := max(3, samples/40)
	var rawDays int
	report("raw-dau", rawSamples, func() error {
		rows, err := conn.Query(ctx, `SELECT day, count(DISTINCT user_key) FROM `+schema+`.insights_events
			WHERE day >= $1 AND day < $2 AND kind = 1 GROUP BY day`, from, to)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			D time.Time
			N int64
		}])
		rawDays = len(got)
		return err
	})
	var rawTop []string
	report("raw-top10", rawSamples, func() error {
		rows, err := conn.Query(ctx, `SELECT dim_key FROM `+schema+`.insights_events
			WHERE dim = 2 AND day >= $1 AND day < $2 GROUP BY dim_key ORDER BY count(*) DESC, dim_key LIMIT 10`, from, to)
		if err != nil {
			return err
		}
		rawTop, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	b.StopTimer()
	release()
	// Plugin adoption and the no-result searches against plain SQL over the raw events
	// (outside the lock: ~10 s each at 10M events, not a baseline).
	rawPlugins := map[string]int64{}
	rows, err := conn.Query(ctx, `SELECT plugin, count(DISTINCT user_key) FROM `+schema+`.insights_events
		WHERE day >= $1 AND day < $2 AND kind = 1 AND plugin <> '' GROUP BY plugin`, from, to)
	if err != nil {
		b.Fatal(err)
	}
	var (
		plugin string
		pusers int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&plugin, &pusers}, func() error { rawPlugins[plugin] = pusers; return nil }); err != nil {
		b.Fatal(err)
	}
	var rawPeople int64
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT user_key) FROM `+schema+`.insights_events
		WHERE day >= $1 AND day < $2 AND kind = 1`, from, to).Scan(&rawPeople); err != nil {
		b.Fatal(err)
	}
	if people != rawPeople || len(plugins) != len(rawPlugins) {
		b.Fatalf("plugin adoption: %d people, %d plugins; raw %d people, %v", people, len(plugins), rawPeople, rawPlugins)
	}
	for _, p := range plugins {
		if rawPlugins[p.Plugin] != p.Users {
			b.Fatalf("plugin adoption: %+v, raw %d users", p, rawPlugins[p.Plugin])
		}
	}
	rows, err = conn.Query(ctx, `SELECT dim_key, count(*), count(*) FILTER (WHERE value = 0) FROM `+schema+`.insights_events
		WHERE dim = 3 AND day >= $1 AND day < $2 GROUP BY dim_key HAVING count(*) FILTER (WHERE value = 0) > 0
		ORDER BY 3 DESC, dim_key LIMIT 10`, from, to)
	if err != nil {
		b.Fatal(err)
	}
	rawNoResult, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Item])
	if err != nil {
		b.Fatal(err)
	}
	if fmt.Sprint(noResult) != fmt.Sprint(rawNoResult) || len(noResult) != 10 {
		b.Fatalf("no-result searches:\n got %v\nraw %v", noResult, rawNoResult)
	}
	conn.Release()
	// Same answers both ways.
	if len(dau.Points) != 90 || rawDays != 90 || len(top) != 10 || len(rawTop) != 10 || top[0].Key != rawTop[0] {
		b.Fatalf("answers differ: %d DAU points (raw %d days), top %v vs raw %v", len(dau.Points), rawDays, top, rawTop)
	}
	b.Logf("DAU over 90 days: %d users in the range, last day %d active; top entity %s (%d views); %d plugins, %d people; top no-result search %s (%d)",
		dau.Total, dau.Points[len(dau.Points)-1].Active, top[0].Key, top[0].Count, len(plugins), people, noResult[0].Key, noResult[0].NoResults)
}

// BenchmarkIngestMany: one multi-tenant transaction (IngestMany) of ATRIUM_BENCH_PARTS
// tenants (default 100) with ATRIUM_BENCH_PER_PART events each (default 5), against the same
// parts written one transaction per tenant (Ingest), on warm partitions. Reports µs per part.
func BenchmarkIngestMany(b *testing.B) {
	nParts := benchInt(b, "ATRIUM_BENCH_PARTS", 100)
	per := benchInt(b, "ATRIUM_BENCH_PER_PART", 5)
	env := insightstest.New(b)
	tenants := make([]insightstest.Tenant, nParts)
	for i := range tenants {
		tenants[i] = env.Tenant(b, fmt.Sprintf("m%d", i))
	}
	now := time.Now().UTC()
	mk := func(round, ti int) []event.Event {
		evs := make([]event.Event, per)
		for k := range evs {
			evs[k] = event.Event{ID: fmt.Sprintf("r%d-%d-%d", round, ti, k), Source: event.SourceTrack, Time: now,
				Kind: event.KindUser, User: fmt.Sprintf("u%d", k%7), Plugin: "catalog", Action: "navigate",
				Dim: event.DimEntity, DimKey: fmt.Sprintf("component:default/c%d", k%11)}
		}
		return evs
	}
	lim := store.Limits{MonthlyEvents: -1}
	for i, tn := range tenants { // warm: partitions
		if _, err := env.Store.Ingest(tn.Ctx(), mk(-1, i), lim, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var many, single time.Duration
	for it := range b.N {
		parts := make([]store.Part, nParts)
		for i, tn := range tenants {
			id := tn.Admin
			parts[i] = store.Part{Tenant: &id, Events: mk(2*it, i), Limits: lim}
		}
		t := time.Now()
		res, err := env.Store.IngestMany(context.Background(), insightstest.Shard, parts, now)
		if err != nil {
			b.Fatal(err)
		}
		many += time.Since(t)
		if res[0].Counted != per {
			b.Fatalf("counted %d, want %d", res[0].Counted, per)
		}
		t = time.Now()
		for i, tn := range tenants {
			if _, err := env.Store.Ingest(tn.Ctx(), mk(2*it+1, i), lim, now); err != nil {
				b.Fatal(err)
			}
		}
		single += time.Since(t)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(many.Microseconds())/float64(b.N*nParts), "many-us/part")
	b.ReportMetric(float64(single.Microseconds())/float64(b.N*nParts), "single-us/part")
}
