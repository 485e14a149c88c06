package app_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/synth"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"
)

// EnvBenchEntities sets the synthetic catalog's size (default 10,000; make bench uses 100,000).
const EnvBenchEntities = "ATRIUM_BENCH_ENTITIES"

// samples is how many timed calls each query benchmark makes per iteration.
var samples = 300

func benchSize(b *testing.B) int {
	n := 10_000
	if s := os.Getenv(EnvBenchEntities); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 50 {
			b.Fatalf("%s=%q: want an integer >= 50", EnvBenchEntities, s)
		}
		n = v
	}
	return n
}

type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) {
	b.ReportMetric(0, "ns/op") // the percentiles are the figures; ns/op of one iteration is not
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(l[len(l)/2]), prefix+"p50-ms")
	b.ReportMetric(ms(l[min(len(l)-1, len(l)*99/100)]), prefix+"p99-ms")
}

// measure times each call of fn(i) for samples*b.N calls.
func measure(b *testing.B, fn func(i int) error) latencies {
	b.Helper()
	var out latencies
	for i := 0; i < samples*b.N; i++ {
		start := time.Now()
		if err := fn(i); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// BenchmarkCatalog ingests a synthetic catalog through ApplyEntities (batches of 1,000, over
// HTTP/2 to the real service), then times the read paths through the Connect API. Beside each
// figure it reports raw Postgres doing the same work without the catalog: COPY of the same rows
// into plain tables, and plain indexed queries on a plain table of the same entities.
func BenchmarkCatalog(b *testing.B) {
	n := benchSize(b)
	s := newServer(b, func(c *app.Config) { c.EntityLimit = -1 })
	cat := synth.Generate(n, 42)
	var batches [][]*structpb.Struct
	for i := 0; i < len(cat.Entities); i += ingest.MaxEntities {
		var batch []*structpb.Struct
		for _, e := range cat.Entities[i:min(i+ingest.MaxEntities, len(cat.Entities))] {
			st, err := e.ToStruct()
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, st)
		}
		batches = append(batches, batch)
	}
	ctx := context.Background()
	pool, err := s.env.Shards.Pool(catalogtest.Shard)
	if err != nil {
		b.Fatal(err)
	}

	var tn catalogtest.Tenant
	var c catalogv1connect.CatalogServiceClient
	b.Run(fmt.Sprintf("Ingest/%d", n), func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			t := s.env.Tenant(b, fmt.Sprintf("bench%d", i))
			client := s.catalog(&t.Identity)
			start := time.Now()
			// Two requests in flight, as tenantctl import sends them: one is validated while
			// the other is written (writes to a tenant are serialized by the store).
			work := make(chan []*structpb.Struct)
			errs := make(chan error, 2)
			for w := 0; w < 2; w++ {
				go func() {
					for batch := range work {
						if _, err := client.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: batch})); err != nil {
							errs <- err
							for range work {
							}
							return
						}
					}
					errs <- nil
				}()
			}
			for _, batch := range batches {
				work <- batch
			}
			close(work)
			for w := 0; w < 2; w++ {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			total += time.Since(start)
			if i == 0 {
				tn = t
				// Reads without gzip, as the gateway's internal hop asks for them.
				c = catalogv1connect.NewCatalogServiceClient(s.client, s.url, connect.WithInterceptors(as{s.signer, &t.Identity}), connect.WithAcceptCompression("gzip", nil, nil))
			}
		}
		secs := total.Seconds() / float64(b.N)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(secs, "ingest-s")
		b.ReportMetric(float64(n)/secs, "entities/s")
		b.ReportMetric(rawCopy(b, pool, cat), "pg-copy-s")
	})
	if c == nil {
		b.Skip("ingest did not run (filtered out); nothing to query")
	}
	for _, t := range []string{"catalog_entities", "catalog_search", "catalog_relations", "catalog_audit"} {
		// What autovacuum does after a bulk load, without waiting for it.
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{tn.Schema, t}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	rawTable(b, pool, cat)

	st, sctx := s.env.Store, tn.Ctx()
	// Three figures per read path: the store (the catalog's query engine: SQL through tenantdb
	// plus decoding), the Connect API over HTTP/2 (adds protobuf Struct encoding on both ends;
	// the client does not ask for gzip, as the gateway's internal hop would not), and raw
	// Postgres answering the nearest plain query on a plain indexed table.
	threeWays := func(b *testing.B, store, api, pg func(i int) error) {
		measure(b, store).report(b, "")
		measure(b, api).report(b, "api-")
		measure(b, pg).report(b, "pg-")
	}
	team := func(i int) string { return cat.Teams[(i*7919)%len(cat.Teams)] }
	pageFilters := []func(i int) []string{
		func(int) []string { return []string{"kind=component"} },
		func(int) []string { return []string{"kind=component,spec.type=service,spec.lifecycle=production"} },
		func(int) []string { return []string{"kind=component,metadata.tags=java"} },
		func(i int) []string { return []string{"relations.ownedBy=" + team(i)} },
		func(int) []string { return []string{"kind=api,spec.type=grpc", "kind=resource,spec.type=database"} },
	}
	rawKinds := []string{"component", "api", "user", "resource", "group"}
	compile := func(filters []string, order []query.Order, term string, limit int, skipTotal bool) store.Query {
		q, _, err := query.Build(query.Request{Spec: query.Spec{Filter: filters, Order: order, FullText: term}, Limit: limit, SkipTotal: skipTotal})
		if err != nil {
			b.Fatal(err)
		}
		return q
	}
	byName := []query.Order{{Field: "metadata.name", Desc: true}}

	b.Run("ListPage100", func(b *testing.B) {
		// Per filter too (f0..f4 in pageFilters order), to see which one makes the tail.
		perFilter := make([]latencies, len(pageFilters))
		threeWays(b, func(i int) error {
			start := time.Now()
			_, err := st.List(sctx, compile(pageFilters[i%len(pageFilters)](i), nil, "", 100, true))
			perFilter[i%len(pageFilters)] = append(perFilter[i%len(pageFilters)], time.Since(start))
			return err
		}, func(i int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: pageFilters[i%len(pageFilters)](i), PageSize: 100, SkipTotal: true}))
			return err
		}, func(i int) error {
			return drain(pool.Query(ctx, `SELECT body FROM bench_raw.entities WHERE kind = $1 ORDER BY ref LIMIT 100`, rawKinds[i%len(rawKinds)]))
		})
		for f, l := range perFilter {
			slices.Sort(l)
			b.ReportMetric(float64(l[min(len(l)-1, len(l)*99/100)].Microseconds())/1000, fmt.Sprintf("f%d-p99-ms", f))
		}
	})
	b.Run("ListPage100ByName", func(b *testing.B) {
		threeWays(b, func(i int) error {
			_, err := st.List(sctx, compile(pageFilters[i%len(pageFilters)](i), byName, "", 100, true))
			return err
		}, func(i int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: pageFilters[i%len(pageFilters)](i), PageSize: 100, SkipTotal: true,
				Order: []*catalogv1.OrderField{{Field: "metadata.name", Order: catalogv1.SortOrder_SORT_ORDER_DESC}}}))
			return err
		}, func(i int) error {
			return drain(pool.Query(ctx, `SELECT body FROM bench_raw.entities WHERE kind = $1 ORDER BY name DESC LIMIT 100`, rawKinds[i%len(rawKinds)]))
		})
	})
	b.Run("Count", func(b *testing.B) {
		threeWays(b, func(i int) error {
			c := compile(pageFilters[i%len(pageFilters)](i), nil, "", 1, false)
			_, err := st.Count(sctx, c.Filter, "")
			return err
		}, func(i int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: pageFilters[i%len(pageFilters)](i), PageSize: 1}))
			return err
		}, func(i int) error {
			return drain(pool.Query(ctx, `SELECT count(*) FROM bench_raw.entities WHERE kind = $1`, rawKinds[i%len(rawKinds)]))
		})
	})
	b.Run("CountAll", func(b *testing.B) {
		threeWays(b, func(i int) error {
			_, err := st.Count(sctx, nil, "")
			return err
		}, func(i int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageSize: 1}))
			return err
		}, func(i int) error {
			return drain(pool.Query(ctx, `SELECT count(*) FROM bench_raw.entities`))
		})
	})
	facets := []string{"kind", "spec.type", "spec.lifecycle", "metadata.tags", "relations.ownedBy"}
	rawFacets := []string{`body->>'kind'`, `body->'spec'->>'type'`, `body->'spec'->>'lifecycle'`, `jsonb_array_elements_text(coalesce(body->'metadata'->'tags', '[]'))`, `body->'spec'->>'owner'`}
	componentFilter := compile([]string{"kind=component"}, nil, "", 1, true).Filter
	b.Run("Facets", func(b *testing.B) {
		threeWays(b, func(i int) error {
			var f store.Expr
			if i%2 == 1 {
				f = componentFilter
			}
			_, err := st.Facets(sctx, []string{facets[i%len(facets)]}, f)
			return err
		}, func(i int) error {
			req := &catalogv1.GetEntityFacetsRequest{Facets: []string{facets[i%len(facets)]}}
			if i%2 == 1 {
				req.Filter = []string{"kind=component"}
			}
			_, err := c.GetEntityFacets(ctx, connect.NewRequest(req))
			return err
		}, func(i int) error {
			where := ""
			if i%2 == 1 {
				where = " WHERE kind = 'component'"
			}
			return drain(pool.Query(ctx, `SELECT f, count(*) FROM (SELECT `+rawFacets[i%len(rawFacets)]+` AS f FROM bench_raw.entities`+where+`) x GROUP BY f`))
		})
	})
	terms := []string{"payment", "gate", "check", "fraud sig", "ledger store", "inv", "team 12", "card payments", "search engine", "notif"}
	b.Run("FullText", func(b *testing.B) {
		threeWays(b, func(i int) error {
			_, err := st.List(sctx, compile(nil, nil, terms[i%len(terms)], 100, true))
			return err
		}, func(i int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{FullTextTerm: terms[i%len(terms)], PageSize: 100, SkipTotal: true}))
			return err
		}, func(i int) error {
			q := ""
			for j, w := range store.Words(terms[i%len(terms)]) {
				if j > 0 {
					q += " & "
				}
				q += "'" + w + "':*"
			}
			return drain(pool.Query(ctx, `SELECT body FROM bench_raw.entities WHERE words @@ to_tsquery('simple', $1) ORDER BY ref LIMIT 100`, q))
		})
	})
	refOf := func(i int) string { return cat.Entities[(i*104729)%len(cat.Entities)].Ref().String() }
	b.Run("GetByRef", func(b *testing.B) {
		threeWays(b, func(i int) error {
			_, err := st.GetByRef(sctx, refOf(i))
			return err
		}, func(i int) error {
			_, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: refOf(i)}))
			return err
		}, func(i int) error {
			return drain(pool.Query(ctx, `SELECT body FROM bench_raw.entities WHERE ref = $1`, refOf(i)))
		})
	})
}

func drain(rows pgx.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	return rows.Err()
}

func drafts(b *testing.B, cat synth.Catalog) []store.Draft {
	docs := make([]ingest.Doc, len(cat.Entities))
	for i, e := range cat.Entities {
		docs[i] = ingest.Doc{Index: i, Path: "documents", Entity: e}
	}
	ds, err := ingest.Prepare(docs, nil)
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

// rawCopy is the floor for ingest: COPY the same entity, search and relation rows into plain
// tables without indexes, constraints or any per-entity work. It returns seconds.
func rawCopy(b *testing.B, pool *pgxpool.Pool, cat synth.Catalog) float64 {
	ctx := context.Background()
	ds := drafts(b, cat)
	for _, q := range []string{
		`DROP SCHEMA IF EXISTS bench_copy CASCADE`, `CREATE SCHEMA bench_copy`,
		`CREATE TABLE bench_copy.entities (ref text, kind text, body jsonb)`,
		`CREATE TABLE bench_copy.search (ref text, key text, value text)`,
		`CREATE TABLE bench_copy.relations (source text, type text, target text)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var ents, search, rels [][]any
	for _, d := range ds {
		ents = append(ents, []any{d.Ref, d.Kind, string(d.Body)})
		for _, p := range d.Search {
			search = append(search, []any{d.Ref, p.Key, p.Value})
		}
		for _, e := range d.Edges {
			rels = append(rels, []any{e.Source, e.Type, e.Target})
		}
	}
	start := time.Now()
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"entities", []string{"ref", "kind", "body"}, ents},
		{"search", []string{"ref", "key", "value"}, search},
		{"relations", []string{"source", "type", "target"}, rels},
	} {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_copy", c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			b.Fatal(err)
		}
	}
	secs := time.Since(start).Seconds()
	if _, err := pool.Exec(ctx, `DROP SCHEMA bench_copy CASCADE`); err != nil {
		b.Fatal(err)
	}
	return secs
}

// rawTable loads the entities into one plain indexed table for the query baselines.
func rawTable(b *testing.B, pool *pgxpool.Pool, cat synth.Catalog) int {
	ctx := context.Background()
	ds := drafts(b, cat)
	for _, q := range []string{
		`DROP SCHEMA IF EXISTS bench_raw CASCADE`, `CREATE SCHEMA bench_raw`,
		`CREATE TABLE bench_raw.entities (ref text PRIMARY KEY, kind text, name text, body jsonb, text text, words tsvector)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var rows [][]any
	for _, d := range ds {
		rows = append(rows, []any{d.Ref, d.Kind, d.Name, string(d.Body), d.Words})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_raw", "entities"}, []string{"ref", "kind", "name", "body", "text"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE bench_raw.entities SET words = to_tsvector('simple', text)`,
		`CREATE INDEX ON bench_raw.entities (kind, ref)`,
		`CREATE INDEX ON bench_raw.entities (kind, name)`,
		`CREATE INDEX ON bench_raw.entities USING gin (words)`,
		`VACUUM (ANALYZE) bench_raw.entities`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	return len(rows)
}
