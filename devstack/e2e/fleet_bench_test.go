package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/pgtest"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
)

// Knobs of BenchmarkFleet (defaults keep `make bench` to a couple of minutes).
const (
	// EnvFleetStages: the fleet sizes measured, in order, comma-separated (default "200").
	envFleetStages = "ATRIUM_BENCH_FLEET_STAGES"
	// EnvFleetDir keeps the benchmark's Postgres server in this directory after the run, so a
	// later run measures the same fleet without provisioning it again; unset: a temporary
	// directory, removed at the end.
	envFleetDir = "ATRIUM_BENCH_FLEET_DIR"
	// EnvBenchLock names a lock file (flock) held only while measuring, never while
	// provisioning, so that benchmarks of several people on one machine do not overlap.
	envBenchLock = "ATRIUM_BENCH_LOCK"
)

// BenchmarkFleet provisions a fleet of tenants on a Postgres server of its own (initdb in a
// directory of its own, on a free port, so the shared server's tests never see 10,000
// schemas) and measures, at each fleet size of ATRIUM_BENCH_FLEET_STAGES:
//   - sign-up through the gateway (p50/p99 of ATRIUM_BENCH_FLEET_SIGNUPS, 100), interleaved
//     with the same schema, role and tenant-plane DDL in raw SQL;
//   - ListEntities through the gateway on a random tenant of ATRIUM_BENCH_FLEET_SAMPLE (200)
//     spread over the fleet, each holding 20 components, beside the same two queries in raw
//     SQL in a tenant transaction on one connection (ATRIUM_BENCH_FLEET_READS calls, 2,000);
//   - `migrate --all` (OperatorService.MigrateTenants, what tenantctl calls) as a no-op
//     re-run over the fleet, and as a roll-out where ATRIUM_BENCH_FLEET_ROLLOUT (1,000)
//     tenants lack the catalog's tables;
//   - one Postgres connection's memory after it has run a tenant transaction in k schemas
//     (pg_backend_memory_contexts and the backend's private memory from /proc);
//   - disk: database size per tenant, relations per tenant, the size of pg_class and friends.
//
// Provisioning runs outside ATRIUM_BENCH_LOCK with ATRIUM_BENCH_FLEET_CONC (8) concurrent
// CreateTenant calls; measuring runs inside it.
func BenchmarkFleet(b *testing.B) {
	stages := fleetStages(b)
	if len(stages) == 0 {
		b.Skip(envFleetStages + "=0: no fleet (make bench-fleet FLEET_STAGES=0 runs only the move)")
	}
	conc := benchInt("ATRIUM_BENCH_FLEET_CONC", 8)
	ctx := context.Background()

	dir := os.Getenv(envFleetDir)
	keep := dir != ""
	if !keep {
		// Not b.TempDir: the server runs as postgres when we are root, and must reach it.
		tmp, err := os.MkdirTemp("", "atrium-fleet-")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(tmp, "pg")
		b.Cleanup(func() { os.RemoveAll(tmp) })
	}
	srv, err := pgtest.StartServer(dir, fleetServerSettings)
	if err != nil {
		b.Fatal(err)
	}
	if keep {
		b.Cleanup(func() { _ = srv.Stop() })
	} else {
		b.Cleanup(func() { _ = srv.Remove() })
	}
	dsn, err := srv.EnsureDatabase(ctx, "atrium")
	if err != nil {
		b.Fatal(err)
	}
	e := startOn(b, dsn, func(o *stack.Options) {
		o.Gateway = func(c *gatewayapp.Config) {
			c.RateLimit = gatewayapp.RateLimit{PerSecond: 1e6, Burst: 1e6}
			// The sample's owners sign in one after the other from one address.
			c.AuthRateLimit = gatewayapp.RateLimit{PerSecond: -1}
		}
	})
	// The fleet is bigger than a shard's default capacity on purpose.
	noLimit := int32(0)
	if _, err := e.operatorClient(e.operator).UpdateShard(ctx, connect.NewRequest(&tenancyv1.UpdateShardRequest{Name: "main", MaxTenants: &noLimit})); err != nil {
		b.Fatal(err)
	}
	f := &fleet{b: b, e: e, srv: srv, dsn: dsn, run: fmt.Sprintf("%04x", rand.IntN(1<<16))}
	for _, n := range stages {
		t0 := time.Now()
		made := f.provision(n, conc)
		if made > 0 {
			b.Logf("fleet: provisioned %d tenants in %s (%.1f/s), %d in all", made, time.Since(t0).Round(time.Second), float64(made)/time.Since(t0).Seconds(), n)
		}
		func() {
			unlock := benchLock(b, "fleet")
			defer unlock()
			f.measure(n)
		}()
	}
	b.ReportMetric(0, "ns/op")
}

// fleetServerSettings: Postgres 15's defaults but synchronous_commit (as the development
// server of scripts/deps.sh: provisioning 10,000 tenants commits a million DDL transactions)
// and max_connections (every service's pools and the benchmark's own connections).
var fleetServerSettings = pgtest.ServerSettings{"synchronous_commit": "off", "max_connections": "200"}

func fleetStages(b *testing.B) []int {
	v := os.Getenv(envFleetStages)
	if v == "" {
		v = "200"
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			b.Fatalf("%s: want sizes like 1000,10000 (0: none), got %q", envFleetStages, v)
		}
		if n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// benchLock takes the lock of ATRIUM_BENCH_LOCK (when set) and returns its release; the log
// lines (prefixed by label) give the load average when it was taken and released.
func benchLock(b *testing.B, label string) func() {
	path := os.Getenv(envBenchLock)
	if path == "" {
		return func() {}
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: bench lock taken after %s; load: %s", label, time.Since(t0).Round(time.Second), loadAvg())
	held := time.Now()
	return func() {
		b.Logf("%s: bench lock released after %s; load: %s", label, time.Since(held).Round(time.Second), loadAvg())
		_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
		fh.Close()
	}
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

type fleet struct {
	b   *testing.B
	e   *env
	srv *pgtest.Server
	dsn string
	raw int    // raw-SQL schemas made so far (names must not repeat across stages)
	run string // tells this run's sign-ups from an earlier run's on a kept server
}

// logf logs to the benchmark and, at once, to stderr: a benchmark's log shows only at its end,
// and a fleet run takes an hour.
func (f *fleet) logf(format string, args ...any) {
	f.b.Logf(format, args...)
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

func (f *fleet) count() int {
	var n int
	if err := f.e.db.QueryRow(context.Background(), `SELECT count(*) FROM tenancy.tenants WHERE status = 'active'`).Scan(&n); err != nil {
		f.b.Fatal(err)
	}
	return n
}

// provision creates tenants "f00000"... through OperatorService.CreateTenant (the same
// provisioning as sign-up: schema, role, every service's tables, owner) until n are active.
func (f *fleet) provision(n, conc int) int {
	have := f.count()
	if have >= n {
		return 0
	}
	ctx := context.Background()
	op := f.e.operatorClient(f.e.operator)
	// A run stopped halfway may have left a tenant that the reconciler then rolled back:
	// continue after the highest number made so far.
	var from int
	if err := f.e.db.QueryRow(ctx, `SELECT coalesce(max(substr(slug, 2)::int) + 1, 0) FROM tenancy.tenants WHERE slug ~ '^f[0-9]{5}$'`).Scan(&from); err != nil {
		f.b.Fatal(err)
	}
	last := from + n - have
	var next atomic.Int64
	next.Store(int64(from))
	var made atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	t0 := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= last {
					return
				}
				slug := fmt.Sprintf("f%05d", i)
				_, err := op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
					Slug: slug, DisplayName: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: password,
				}))
				if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
					errc <- fmt.Errorf("create %s: %w", slug, err)
					return
				}
				if m := made.Add(1); m%500 == 0 {
					f.logf("fleet: %d tenants (%.1f/s)", have+int(m), float64(m)/time.Since(t0).Seconds())
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		f.b.Fatal(err)
	}
	return int(made.Load())
}

func (f *fleet) report(n int, name string, v float64) {
	f.b.ReportMetric(v, fmt.Sprintf("t%d-%s", n, name))
}

func (f *fleet) measure(n int) {
	f.logf("fleet %d: measuring", n)
	f.signUps(n)
	f.reads(n)
	f.memory(n)
	f.disk(n)
	f.migrate(n)
	f.backends(n)
}

// backends reads the private memory of the services' connections to the shard after the
// stage's work (migrate --all has had them enter every tenant schema).
func (f *fleet) backends(n int) {
	ctx := context.Background()
	rows, err := f.e.db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		f.b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		f.b.Fatal(err)
	}
	var sum, top int64
	for _, pid := range pids {
		p := privateMem(pid)
		sum += p
		top = max(top, p)
	}
	f.logf("fleet %d: %d service connections to the shard hold %.1f MiB of private memory, the largest %.1f MiB", n, len(pids), mib(sum), mib(top))
	f.report(n, "conns-private-MiB", mib(sum))
	f.report(n, "conn-private-max-MiB", mib(top))
}

// signUps times sign-ups through the gateway beside the raw SQL of one tenant's provisioning.
func (f *fleet) signUps(n int) {
	ctx := context.Background()
	s := benchInt("ATRIUM_BENCH_FLEET_SIGNUPS", 100)
	ddl := tenantDDL(f.b)
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		f.b.Fatal(err)
	}
	defer conn.Close(ctx)
	tenants := f.e.tenants("", "")
	var ups, raws []time.Duration
	var rawNames []string
	for i := range s {
		slug := fmt.Sprintf("s%d-%s-%04d", n, f.run, i)
		t0 := time.Now()
		_, err := tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
			OrgName: slug, Slug: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: password,
		}))
		d := time.Since(t0)
		if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
			f.b.Fatalf("sign up %s: %v", slug, err)
		}
		if err == nil {
			ups = append(ups, d)
		}
		f.raw++
		name := fmt.Sprintf("raw%s%06d", f.run, f.raw)
		rawNames = append(rawNames, name)
		raws = append(raws, rawProvision(f.b, conn, ddl, name))
	}
	// The raw schemas are not tenants: they go, so the next stage's counts are the fleet's.
	for _, name := range rawNames {
		q := pgx.Identifier{"t_" + name}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+q+" CASCADE; DROP ROLE "+q); err != nil {
			f.b.Fatalf("drop raw schema: %v", err)
		}
	}
	slices.Sort(ups)
	slices.Sort(raws)
	f.logf("fleet %d: sign-up p50 %.1f ms p99 %.1f ms (%d); raw SQL p50 %.1f ms p99 %.1f ms", n,
		ms(percentile(ups, .5)), ms(percentile(ups, .99)), len(ups), ms(percentile(raws, .5)), ms(percentile(raws, .99)))
	f.report(n, "signup-p50-ms", ms(percentile(ups, .5)))
	f.report(n, "signup-p99-ms", ms(percentile(ups, .99)))
	f.report(n, "rawsql-p50-ms", ms(percentile(raws, .5)))
	f.report(n, "rawsql-p99-ms", ms(percentile(raws, .99)))
}

type sampled struct {
	slug, schema string
	cat          interface {
		ListEntities(context.Context, *connect.Request[catalogv1.ListEntitiesRequest]) (*connect.Response[catalogv1.ListEntitiesResponse], error)
	}
}

// reads times ListEntities on random tenants of a sample spread over the fleet.
func (f *fleet) reads(n int) {
	ctx := context.Background()
	k := min(benchInt("ATRIUM_BENCH_FLEET_SAMPLE", 200), n)
	calls := benchInt("ATRIUM_BENCH_FLEET_READS", 2000)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	rows, err := f.e.db.Query(ctx, `SELECT slug FROM tenancy.tenants WHERE status = 'active' AND slug ~ '^f[0-9]{5}$'`)
	if err != nil {
		f.b.Fatal(err)
	}
	slugs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.b.Fatal(err)
	}
	k = min(k, len(slugs))
	var sample []sampled
	seen := map[int]bool{}
	for len(sample) < k {
		i := rng.IntN(len(slugs))
		if seen[i] {
			continue
		}
		seen[i] = true
		slug := slugs[i]
		login, err := f.e.auth(slug).Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "owner@" + slug + ".example.com", Password: password}))
		if err != nil {
			f.b.Fatalf("login %s: %v", slug, err)
		}
		cat := f.e.catalog(login.Msg.GetAccessToken(), slug)
		var docs []string
		for j := range 20 {
			docs = append(docs, component(fmt.Sprintf("svc-%02d", j), "group:team"))
		}
		if _, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: docs})); err != nil {
			f.b.Fatalf("seed %s: %v", slug, err)
		}
		var id string
		if err := f.e.db.QueryRow(ctx, `SELECT id FROM tenancy.tenants WHERE slug = $1`, slug).Scan(&id); err != nil {
			f.b.Fatal(err)
		}
		sample = append(sample, sampled{slug: slug, schema: "t_" + id, cat: cat})
	}
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		f.b.Fatal(err)
	}
	defer conn.Close(ctx)
	var gw, raw []time.Duration
	for range calls {
		s := sample[rng.IntN(len(sample))]
		t0 := time.Now()
		resp, err := s.cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"kind=component"}, PageSize: 20}))
		gw = append(gw, time.Since(t0))
		if err != nil || len(resp.Msg.GetEntities()) != 20 {
			f.b.Fatalf("list %s: %v", s.slug, err)
		}
		s = sample[rng.IntN(len(sample))]
		raw = append(raw, rawList(f.b, conn, s.schema))
	}
	slices.Sort(gw)
	slices.Sort(raw)
	f.logf("fleet %d: ListEntities p50 %.2f ms p99 %.2f ms; raw SQL p50 %.2f ms p99 %.2f ms", n,
		ms(percentile(gw, .5)), ms(percentile(gw, .99)), ms(percentile(raw, .5)), ms(percentile(raw, .99)))
	f.report(n, "list-p50-ms", ms(percentile(gw, .5)))
	f.report(n, "list-p99-ms", ms(percentile(gw, .99)))
	f.report(n, "rawlist-p50-ms", ms(percentile(raw, .5)))
	f.report(n, "rawlist-p99-ms", ms(percentile(raw, .99)))
}

// rawList is a tenant transaction as tenantdb opens it with the two statements of a
// ListEntities page (the page of 21 by kind and ref, and the total), and returns the time.
func rawList(tb testing.TB, conn *pgx.Conn, schema string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	q := pgx.Identifier{schema}.Sanitize()
	t0 := time.Now()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+q+"; SET LOCAL ROLE "+q+"; SET LOCAL statement_timeout = 10000", pgx.QueryExecModeSimpleProtocol); err != nil {
		tb.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT e.uid::text, e.ref, e.etag, e.generation, e.body FROM (
		SELECT uid, ref FROM catalog_entities WHERE kind = $1 ORDER BY kind, ref, uid LIMIT 21) p
		JOIN catalog_entities e ON e.uid = p.uid ORDER BY p.ref`, "component")
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
	}
	if rows.Err() != nil {
		tb.Fatal(rows.Err())
	}
	var total int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM catalog_entities WHERE kind = $1`, "component").Scan(&total); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	return time.Since(t0)
}

// memory opens one connection and runs a tenant transaction (rawList) in more and more
// schemas, reading the backend's memory after each step: Postgres keeps every relation and
// catalog row it has looked up in its caches for the connection's life.
func (f *fleet) memory(n int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		f.b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace n JOIN tenancy.tenants t ON n.nspname = 't_' || t.id WHERE t.status = 'active' ORDER BY random()`)
	if err != nil {
		f.b.Fatal(err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.b.Fatal(err)
	}
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		f.b.Fatal(err)
	}
	steps := []int{0, 1, 10, 100, 1000, 2000, 5000, 10000, 20000}
	touched := 0
	var prev backendMem
	for _, k := range steps {
		if k > len(schemas) {
			k = len(schemas)
		}
		if k < touched {
			continue
		}
		t0 := time.Now()
		for ; touched < k; touched++ {
			rawList(f.b, conn, schemas[touched])
		}
		took := time.Since(t0)
		m := readBackendMem(f.b, conn, pid)
		per := 0.0
		if touched > 0 && prev.total > 0 {
			per = float64(m.total-prev.total) / float64(max(1, k-prev.k)) / 1024
		}
		m.k = touched
		f.logf("fleet %d: connection after %5d schemas: contexts %7.1f MiB (cache %7.1f MiB), private %7.1f MiB, rss %7.1f MiB; %.1f KiB per schema of this step; %s per schema",
			n, touched, mib(m.total), mib(m.cache), mib(m.private), mib(m.rss), per, (took / time.Duration(max(1, k-prev.k))).Round(time.Microsecond))
		f.report(n, fmt.Sprintf("mem-%d-schemas-MiB", touched), mib(m.total))
		prev = m
		if touched == len(schemas) {
			break
		}
	}
}

type backendMem struct {
	k                          int
	total, cache, private, rss int64
}

func mib(v int64) float64 { return float64(v) / (1 << 20) }

func readBackendMem(tb testing.TB, conn *pgx.Conn, pid int) backendMem {
	tb.Helper()
	ctx := context.Background()
	var m backendMem
	if err := conn.QueryRow(ctx, `SELECT sum(total_bytes)::bigint,
		coalesce(sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext'), 0)::bigint
		FROM pg_backend_memory_contexts`).Scan(&m.total, &m.cache); err != nil {
		tb.Fatal(err)
	}
	m.private, m.rss = procMem(pid)
	return m
}

func privateMem(pid int) int64 { p, _ := procMem(pid); return p }

// procMem reads a backend's own pages (not the shared buffers it has touched: Private_Clean +
// Private_Dirty of smaps_rollup) and its RSS. Readable when the benchmark runs as root or as
// the server's user; 0 otherwise.
func procMem(pid int) (private, rss int64) {
	fh, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fs[1], 10, 64)
		switch fs[0] {
		case "Private_Clean:", "Private_Dirty:":
			private += kb << 10
		case "Rss:":
			rss = kb << 10
		}
	}
	return private, rss
}

// disk reports the database's size per tenant and the system catalogs' size.
func (f *fleet) disk(n int) {
	ctx := context.Background()
	live := f.count()
	var dbSize, classRows, attRows, catalogSize, deadClass, deadAtt int64
	var schemaRels, schemaSize int64
	if err := f.e.db.QueryRow(ctx, `SELECT pg_database_size(current_database()),
		(SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute),
		(SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		   WHERE n.nspname = 'pg_catalog' AND c.relkind IN ('r', 'm')),
		(SELECT coalesce(n_dead_tup, 0) FROM pg_stat_sys_tables WHERE relname = 'pg_class'),
		(SELECT coalesce(n_dead_tup, 0) FROM pg_stat_sys_tables WHERE relname = 'pg_attribute')`).
		Scan(&dbSize, &classRows, &attRows, &catalogSize, &deadClass, &deadAtt); err != nil {
		f.b.Fatal(err)
	}
	if err := f.e.db.QueryRow(ctx, `SELECT count(*), coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = (SELECT 't_' || id FROM tenancy.tenants WHERE slug = 'f00000') AND c.relkind IN ('r', 'p', 'i', 'S', 't', 'I')`).
		Scan(&schemaRels, &schemaSize); err != nil {
		f.b.Fatal(err)
	}
	f.logf("fleet %d: %d tenants; database %.0f MiB (%.0f KiB per tenant); one empty tenant: %d relations, %.0f KiB; pg_class %d rows (%d dead), pg_attribute %d rows (%d dead); system catalogs %.0f MiB",
		n, live, mib(dbSize), float64(dbSize)/float64(live)/1024, schemaRels, float64(schemaSize)/1024, classRows, deadClass, attRows, deadAtt, mib(catalogSize))
	f.report(n, "db-MiB", mib(dbSize))
	f.report(n, "db-KiB/tenant", float64(dbSize)/float64(live)/1024)
	f.report(n, "tenants", float64(live))
	f.report(n, "relations/tenant", float64(schemaRels))
	f.report(n, "pg_class-rows", float64(classRows))
	f.report(n, "syscatalog-MiB", mib(catalogSize))
}

// migrate times MigrateTenants (tenantctl migrate --all) over the whole fleet: a no-op re-run,
// then a roll-out where some tenants lack the catalog's tables.
func (f *fleet) migrate(n int) {
	ctx := context.Background()
	again := f.migrateAll(n)
	rollout := min(benchInt("ATRIUM_BENCH_FLEET_ROLLOUT", 1000), n)
	f.deprovisionCatalog(rollout)
	roll := f.migrateAll(n)
	live := f.count()
	f.logf("fleet %d: migrate --all over %d tenants: no-op %s (%.2f ms per tenant); with the catalog's tables to make in %d of them %s",
		n, live, again.Round(time.Millisecond), ms(again)/float64(live), rollout, roll.Round(time.Millisecond))
	f.report(n, "migrate-noop-s", again.Seconds())
	f.report(n, fmt.Sprintf("migrate-rollout%d-s", rollout), roll.Seconds())
	_ = ctx
}

func (f *fleet) migrateAll(n int) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	stream, err := f.e.operatorClient(f.e.operator).MigrateTenants(ctx, connect.NewRequest(&tenancyv1.MigrateTenantsRequest{}))
	if err != nil {
		f.b.Fatal(err)
	}
	var done, failed int
	for stream.Receive() {
		m := stream.Msg()
		if !m.GetOk() {
			failed++
			if failed < 5 {
				f.logf("migrate %s: %s", m.GetTenant().GetSlug(), m.GetError())
			}
		}
		done = int(m.GetDone())
	}
	if err := stream.Err(); err != nil {
		f.b.Fatal(err)
	}
	if failed > 0 || done < n {
		f.b.Fatalf("migrate --all: %d done, %d failed, fleet of %d", done, failed, n)
	}
	return time.Since(t0)
}

// deprovisionCatalog takes the catalog's tables out of the first k tenants, as tenancy's
// deprovisioning would (a fleet that predates a catalog migration).
func (f *fleet) deprovisionCatalog(k int) {
	ctx := context.Background()
	prov := tenancyv1connect.NewProvisioningServiceClient(f.e.st.HTTPClient, f.e.st.CatalogURL,
		connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(f.e.st.InternalKey), "tenancy")))
	rows, err := f.e.db.Query(ctx, `SELECT id, shard FROM tenancy.tenants WHERE status = 'active' AND slug LIKE 'f%' ORDER BY slug LIMIT $1`, k)
	if err != nil {
		f.b.Fatal(err)
	}
	type ts struct{ id, shard string }
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ts, error) {
		var t ts
		return t, r.Scan(&t.id, &t.shard)
	})
	if err != nil {
		f.b.Fatal(err)
	}
	for _, t := range list {
		if _, err := prov.Deprovision(ctx, connect.NewRequest(&tenancyv1.DeprovisionRequest{TenantId: t.id, Schema: "t_" + t.id, Shard: t.shard})); err != nil {
			f.b.Fatalf("deprovision %s: %v", t.id, err)
		}
	}
}
