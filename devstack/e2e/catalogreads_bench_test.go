package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	catalogapp "atrium.dev/services/catalog/app"
	insightsapp "atrium.dev/services/insights/app"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
)

// BenchmarkCatalogReads times the catalog's read paths through the gateway, REST (Backstage's
// /api/catalog, gzip accepted as catalog-client's fetch does) and Connect, on the synthetic
// catalog of BenchmarkCatalog (ATRIUM_BENCH_ENTITIES, default 10,000), after the catalog's own
// statistics refresh (no VACUUM by hand: the targets say the catalog keeps them fresh):
// a filtered page of 100 with its total (five rotating filters), four facets, one entity by
// name, 100 entities by ref. ATRIUM_BENCH_CPUPROFILE=file writes a CPU profile of the read
// phase only (gateway, catalog and clients share this process; Postgres is not in it), and
// ATRIUM_BENCH_LOCK=file holds that lock over the read phase.
func BenchmarkCatalogReads(b *testing.B) {
	n := benchInt("ATRIUM_BENCH_ENTITIES", 10_000)
	samples := benchInt("ATRIUM_BENCH_SAMPLES", 300)
	e := start(b, func(o *stack.Options) {
		noLimit(o)
		// As in BenchmarkGatewayOverhead: insights' ingest of every request's usage event
		// would share this process's two cores (another process in production);
		// ATRIUM_BENCH_INSIGHTS=1 keeps it in.
		if os.Getenv("ATRIUM_BENCH_INSIGHTS") == "" {
			o.Insights = func(c *insightsapp.Config) { c.DisablePipeline = true }
		}
	})
	ctx := context.Background()
	acme := signUp(b, e, "reads")
	for _, l := range []string{"api_requests_per_minute", "catalog_entities"} {
		if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{
			Tenant: "reads", Limit: l, Value: 1 << 40, Reason: "e2e: read benchmark",
		})); err != nil {
			b.Fatal(err)
		}
	}
	ents, teams := catalogapp.Synthetic(n, 42)
	cat := catalogv1connect.NewCatalogServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(acme.access, "reads"))
	// catPB decodes with protobuf-go, connect's default codec: the raw baseline of the Go
	// clients' codec (protocodec) on the paths with 100 entities.
	catPB := catalogv1connect.NewCatalogServiceClient(e.st.HTTPClient, e.st.GatewayURL, connect.WithInterceptors(creds{token: acme.access, tenant: "reads"}))
	start := time.Now()
	for i := 0; i < len(ents); i += 1000 {
		var batch []*structpb.Struct
		for _, m := range ents[i:min(i+1000, len(ents))] {
			s, err := structpb.NewStruct(m)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, s)
		}
		var err error
		for try := 0; try < 50; try++ { // the entity limit override reaches the catalog within a second
			if _, err = cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: batch})); err == nil || connect.CodeOf(err) != connect.CodeResourceExhausted {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("ingested %d entities in %s", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // the catalog's ANALYZE after a large write runs in the background

	rest := func(method, path string, body any) error {
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequestWithContext(ctx, method, e.st.GatewayURL+"/api/catalog"+path, rd)
		req.Header.Set("Authorization", "Bearer "+acme.access)
		req.Header.Set("Atrium-Tenant", "reads")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := e.st.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return err
		}
		if res.StatusCode != 200 {
			return fmt.Errorf("%s %s: %s", method, path, res.Status)
		}
		return nil
	}
	team := func(i int) string { return teams[(i*7919)%len(teams)] }
	filters := []func(i int) []string{
		func(int) []string { return []string{"kind=component"} },
		func(int) []string { return []string{"kind=component,spec.type=service,spec.lifecycle=production"} },
		func(int) []string { return []string{"kind=component,metadata.tags=java"} },
		func(i int) []string { return []string{"relations.ownedBy=" + team(i)} },
		func(int) []string { return []string{"kind=api,spec.type=grpc", "kind=resource,spec.type=database"} },
	}
	restFilter := func(fs []string) string {
		q := url.Values{}
		for _, f := range fs {
			q.Add("filter", f)
		}
		return q.Encode()
	}
	facets := []string{"kind", "spec.type", "spec.lifecycle", "metadata.tags"}
	var names, refs []string
	for _, m := range ents {
		if m["kind"] == "Component" {
			names = append(names, m["metadata"].(map[string]any)["name"].(string))
		}
	}
	for i := range names {
		refs = append(refs, "component:default/"+names[i])
	}
	refsAt := func(i int) []string {
		out := make([]string, 100)
		for k := range out {
			out[k] = refs[(i*100+k*37)%len(refs)]
		}
		return out
	}

	// The machine's bench lock (ATRIUM_BENCH_LOCK) covers the timed reads only, not the
	// stack's start or the ingest.
	defer benchLock(b, "reads")()
	if p := os.Getenv("ATRIUM_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if p := os.Getenv("ATRIUM_BENCH_ALLOCPROFILE"); p != "" {
		// Two profiles of the allocations so far, before and after the reads: `go tool pprof
		// -sample_index=alloc_space -base <p>.before <p>` shows the reads' own.
		write := func(name string) {
			f, err := os.Create(name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		write(p + ".before")
		defer func() { runtime.GC(); write(p) }()
	}
	paths := []struct {
		name string
		fn   func(i int) error
	}{
		{"PageWithTotal/REST", func(i int) error {
			return rest("GET", "/entities/by-query?limit=100&"+restFilter(filters[i%len(filters)](i)), nil)
		}},
		{"PageWithTotal/Connect", func(i int) error {
			_, err := cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: filters[i%len(filters)](i), PageSize: 100}))
			return err
		}},
		{"PageWithTotal/Connect-protobuf-go", func(i int) error {
			_, err := catPB.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: filters[i%len(filters)](i), PageSize: 100}))
			return err
		}},
		{"Facets4/REST", func(i int) error {
			q := url.Values{"facet": facets}
			return rest("GET", "/entity-facets?"+q.Encode(), nil)
		}},
		{"Facets4/Connect", func(i int) error {
			_, err := cat.GetEntityFacets(ctx, connect.NewRequest(&catalogv1.GetEntityFacetsRequest{Facets: facets}))
			return err
		}},
		{"ByName/REST", func(i int) error {
			return rest("GET", "/entities/by-name/component/default/"+names[(i*7919)%len(names)], nil)
		}},
		{"ByName/Connect", func(i int) error {
			_, err := cat.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: refs[(i*7919)%len(refs)]}))
			return err
		}},
		{"ByRefs100/REST", func(i int) error {
			return rest("POST", "/entities/by-refs", map[string]any{"entityRefs": refsAt(i)})
		}},
		// The same four sets over and over, as Backstage's entity pages ask for their
		// relations (and the Backstage comparison does): the whole answer is cached.
		{"ByRefs100Repeated/REST", func(i int) error {
			return rest("POST", "/entities/by-refs", map[string]any{"entityRefs": refsAt(i % 4)})
		}},
		{"ByRefs100/Connect", func(i int) error {
			_, err := cat.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: refsAt(i)}))
			return err
		}},
		{"ByRefs100/Connect-protobuf-go", func(i int) error {
			_, err := catPB.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: refsAt(i)}))
			return err
		}},
	}
	// Raw baselines: the nearest plain queries on the tenant's own table, straight to
	// Postgres from this process (no gateway, no tenant transaction, no encoding).
	schema := pgx.Identifier{"t_" + acme.tenant.GetId()}.Sanitize()
	kinds := []string{"component", "api", "resource", "group", "user"}
	paths = append(paths,
		struct {
			name string
			fn   func(i int) error
		}{"PageWithTotal/raw-pg", func(i int) error {
			if err := drain(e.db.Query(ctx, "SELECT body FROM "+schema+".catalog_entities WHERE kind = $1 ORDER BY ref LIMIT 100", kinds[i%len(kinds)])); err != nil {
				return err
			}
			var n int64
			return e.db.QueryRow(ctx, "SELECT count(*) FROM "+schema+".catalog_entities WHERE kind = $1", kinds[i%len(kinds)]).Scan(&n)
		}},
		struct {
			name string
			fn   func(i int) error
		}{"ByName/raw-pg", func(i int) error {
			return drain(e.db.Query(ctx, "SELECT body FROM "+schema+".catalog_entities WHERE ref = $1", refs[(i*7919)%len(refs)]))
		}},
		struct {
			name string
			fn   func(i int) error
		}{"ByRefs100/raw-pg", func(i int) error {
			return drain(e.db.Query(ctx, "SELECT body FROM "+schema+".catalog_entities WHERE ref = ANY($1)", refsAt(i)))
		}},
	)
	for _, p := range paths {
		b.Run(fmt.Sprintf("%s/%d", p.name, n), func(b *testing.B) {
			for i := 0; i < 10; i++ { // warm the connection and the caches
				if err := p.fn(i); err != nil {
					b.Fatal(err)
				}
			}
			var l []time.Duration
			cpu0 := processCPU()
			for i := 0; i < samples*b.N; i++ {
				t0 := time.Now()
				if err := p.fn(i); err != nil {
					b.Fatal(err)
				}
				l = append(l, time.Since(t0))
			}
			cpu := processCPU() - cpu0
			slices.Sort(l)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(l[len(l)/2]), "p50-ms")
			b.ReportMetric(ms(l[min(len(l)-1, len(l)*99/100)]), "p99-ms")
			// This process's CPU per call: gateway, catalog and client, which share it
			// (Postgres is other processes); less skewed by a busy machine than latency.
			b.ReportMetric(ms(cpu)/float64(len(l)), "cpu-ms/op")
		})
	}
}

// drain reads every row of a query.
func drain(rows pgx.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
