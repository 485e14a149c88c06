package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/pgtest"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
)

// BenchmarkMoveLarge moves a tenant of ATRIUM_BENCH_MOVE_ENTITIES components (10,000; make
// bench-fleet asks for 100,000) between
// two Postgres servers of the benchmark's own (same settings as BenchmarkFleet's), with a
// reader and a writer calling through the gateway all along, and in the same run copies the
// same schema with `pg_dump -n <schema> | psql` between the same two servers: the raw baseline
// of the copy. It reports the move's total time, the write pause the move recorded, the
// longest time the writer saw its writes refused, and the baseline's time. Seeding runs
// outside ATRIUM_BENCH_LOCK; the baseline and the move inside it.
func BenchmarkMoveLarge(b *testing.B) {
	n := benchInt("ATRIUM_BENCH_MOVE_ENTITIES", 10_000)
	ctx := context.Background()
	servers := make([]*pgtest.Server, 2)
	for i := range servers {
		tmp, err := os.MkdirTemp("", "atrium-move-")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			b.Fatal(err)
		}
		srv, err := pgtest.StartServer(filepath.Join(tmp, "pg"), fleetServerSettings)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = srv.Remove(); os.RemoveAll(tmp) })
		servers[i] = srv
	}
	src, dst := servers[0], servers[1]
	dsn, err := src.EnsureDatabase(ctx, "atrium")
	if err != nil {
		b.Fatal(err)
	}
	second, err := dst.EnsureDatabase(ctx, "atrium_second")
	if err != nil {
		b.Fatal(err)
	}
	e := startOn(b, dsn, func(o *stack.Options) { noLimit(o) })
	if _, err := e.operatorClient(e.operator).AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "second", Dsn: second})); err != nil {
		b.Fatalf("add shard: %v", err)
	}

	const slug = "bigco"
	created, err := e.operatorClient(e.operator).CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
		Slug: slug, DisplayName: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: password, Shard: "main",
	}))
	if err != nil {
		b.Fatal(err)
	}
	schema := created.Msg.GetTenant().GetSchema()
	for _, l := range []struct {
		name string
		v    int64
	}{{"api_requests_per_minute", 1 << 40}, {"catalog_entities", int64(n) + 100_000}} {
		if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{
			Tenant: slug, Limit: l.name, Value: l.v, Reason: "benchmark: a large tenant moved under load",
		})); err != nil {
			b.Fatal(err)
		}
	}
	login, err := e.auth(slug).Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "owner@" + slug + ".example.com", Password: password}))
	if err != nil {
		b.Fatal(err)
	}
	cat := e.catalog(login.Msg.GetAccessToken(), slug)
	t0 := time.Now()
	for i := 0; i < n; i += 1000 {
		var docs []string
		for k := i; k < min(n, i+1000); k++ {
			docs = append(docs, component(fmt.Sprintf("svc-%06d", k), fmt.Sprintf("group:team-%03d", k%300)))
		}
		if _, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: docs})); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.Logf("move: seeded %d entities in %s", n, time.Since(t0).Round(time.Second))
	var size int64
	if err := e.db.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname = $1 AND c.relkind IN ('r', 'p', 't', 'm')`, schema).Scan(&size); err != nil {
		b.Fatal(err)
	}

	unlock := benchLock(b, "move")
	defer unlock()
	// The reader and the writer call with an API token: an access token lasts 15 minutes, and
	// a move that outlasted it made every later call fail Unauthenticated, which the benchmark
	// counted as the move's failed reads. A fresh login first: seeding and waiting for the
	// lock can outlast the first access token.
	login, err = e.auth(slug).Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "owner@" + slug + ".example.com", Password: password}))
	if err != nil {
		b.Fatal(err)
	}
	apiToken, err := e.members(login.Msg.GetAccessToken(), slug).CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "move-bench"}))
	if err != nil {
		b.Fatal(err)
	}
	cat = e.catalog(apiToken.Msg.GetSecret(), slug)

	// The raw baseline: the same schema, dumped and restored between the same two servers.
	dumped, err := dst.EnsureDatabase(ctx, "atrium_dump")
	if err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	pipe := fmt.Sprintf("%s -h 127.0.0.1 -p %d -U postgres -n %s --no-owner --no-acl atrium | %s -X -q -h 127.0.0.1 -p %d -U postgres -v ON_ERROR_STOP=1 atrium_dump >/dev/null",
		src.Bin("pg_dump"), src.Port, schema, dst.Bin("psql"), dst.Port)
	if out, err := exec.Command("bash", "-o", "pipefail", "-c", pipe).CombinedOutput(); err != nil {
		b.Fatalf("pg_dump | psql: %v\n%s", err, out)
	}
	raw := time.Since(t0)
	var restored int64
	if conn, err := pgx.Connect(ctx, dumped); err == nil {
		_ = conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "catalog_entities"}.Sanitize()).Scan(&restored)
		conn.Close(ctx)
	}
	b.Logf("move: pg_dump -n %s | psql: %s (%d entities restored, %.0f MiB of tables)", schema, raw.Round(time.Millisecond), restored, mib(size))

	// The move, with a reader and a writer through the gateway.
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var reads, readErrs, writes, refused atomic.Int64
	var longestRefusal atomic.Int64
	var firstReadErr atomic.Value
	wg.Go(func() {
		for runCtx.Err() == nil {
			_, err := cat.ListEntities(runCtx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"kind=component"}, PageSize: 20, SkipTotal: true}))
			if err != nil && runCtx.Err() == nil {
				if readErrs.Add(1) == 1 {
					firstReadErr.Store(err.Error())
				}
			}
			reads.Add(1)
		}
	})
	wg.Go(func() {
		for i := 0; runCtx.Err() == nil; i++ {
			doc := component(fmt.Sprintf("live-%06d", i), "group:team-000")
			var since time.Time
			for runCtx.Err() == nil {
				_, err := cat.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{doc}}))
				if err == nil {
					writes.Add(1)
					if !since.IsZero() {
						if d := int64(time.Since(since)); d > longestRefusal.Load() {
							longestRefusal.Store(d)
						}
					}
					break
				}
				if connect.CodeOf(err) != connect.CodeFailedPrecondition {
					b.Errorf("write: %v", err)
					return
				}
				refused.Add(1)
				if since.IsZero() {
					since = time.Now()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	time.Sleep(time.Second)
	t0 = time.Now()
	// Every progress line with its time since the start, so a long step shows where it went.
	last, steps, err := runMoveWatched(ctx, e, slug, 3600, func(r *tenancyv1.MoveTenantResponse) {
		if r.GetMessage() != "" {
			fmt.Fprintf(os.Stderr, "move +%s [%s] %s\n", time.Since(t0).Round(time.Millisecond), r.GetMove().GetStep(), r.GetMessage())
		}
	})
	total := time.Since(t0)
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	if err != nil {
		b.Fatalf("move: %v (steps %v)", err, steps)
	}
	if last.GetStep() != "done" {
		b.Fatalf("move ended at %s: %s", last.GetStep(), last.GetError())
	}
	b.Logf("move: %d rows in %s (steps %s); writes paused %d ms by the move's record, longest refusal seen by the writer %s; %d reads (%d failed), %d writes, %d refused",
		last.GetRowsTotal(), total.Round(time.Millisecond), strings.Join(steps, " "), last.GetPauseMillis(),
		time.Duration(longestRefusal.Load()).Round(time.Millisecond), reads.Load(), readErrs.Load(), writes.Load(), refused.Load())
	if readErrs.Load() > 0 {
		b.Errorf("%d reads failed during the move, the first: %v", readErrs.Load(), firstReadErr.Load())
	}
	b.ReportMetric(float64(n), "entities")
	b.ReportMetric(float64(last.GetRowsTotal()), "rows")
	b.ReportMetric(mib(size), "schema-MiB")
	b.ReportMetric(total.Seconds(), "move-s")
	b.ReportMetric(float64(last.GetPauseMillis()), "pause-ms")
	b.ReportMetric(ms(time.Duration(longestRefusal.Load())), "writer-refused-ms")
	b.ReportMetric(raw.Seconds(), "pgdump-psql-s")
	b.ReportMetric(0, "ns/op")
}
