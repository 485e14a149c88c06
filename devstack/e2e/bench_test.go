package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	insightsapp "atrium.dev/services/insights/app"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// benchInt reads a size knob from the environment, so `make bench` stays quick and a full run
// can ask for more.
func benchInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// noLimit keeps the rate limiter in the path (it costs what it costs in production) but
// high enough that a benchmark never meets it.
func noLimit(o *stack.Options) {
	o.Gateway = func(c *gatewayapp.Config) { c.RateLimit = gatewayapp.RateLimit{PerSecond: 1e6, Burst: 1e6} }
}

// BenchmarkSignUp: sign-up latency through the gateway (validation, argon2id, schema, role,
// catalog tables by Provision, owner, tokens) over ATRIUM_BENCH_SIGNUPS sign-ups (200), beside
// the same schema + role + tenant-plane DDL (catalog and insights) done directly in SQL on one connection. The two are
// interleaved, one of each in turn, so both meet the same machine load; argon2id alone (the
// deliberate cost of hashing the password, tenancy's parameters) is reported too.
func BenchmarkSignUp(b *testing.B) {
	n := benchInt("ATRIUM_BENCH_SIGNUPS", 200)
	e := start(b, noLimit)
	ctx := context.Background()
	ddl := tenantDDL(b)
	tenants := e.tenants("", "")
	conn, err := e.db.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	b.ResetTimer()
	for iter := range b.N {
		signups := make([]time.Duration, 0, n)
		raw := make([]time.Duration, 0, n)
		for i := range n {
			slug := fmt.Sprintf("bench-%d-%04d", iter, i)
			t0 := time.Now()
			_, err := tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
				OrgName: slug, Slug: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: password,
			}))
			signups = append(signups, time.Since(t0))
			if err != nil {
				b.Fatalf("sign up %s: %v", slug, err)
			}
			raw = append(raw, rawProvision(b, conn.Conn(), ddl, fmt.Sprintf("raw%d_%05d", iter, i)))
		}
		slices.Sort(signups)
		slices.Sort(raw)
		b.ReportMetric(ms(percentile(signups, 0.50)), "signup-p50-ms")
		b.ReportMetric(ms(percentile(signups, 0.99)), "signup-p99-ms")
		b.ReportMetric(ms(percentile(raw, 0.50)), "rawsql-p50-ms")
		b.ReportMetric(ms(percentile(raw, 0.99)), "rawsql-p99-ms")
		b.ReportMetric(float64(percentile(signups, 0.50))/float64(percentile(raw, 0.50)), "p50-ratio")
		b.ReportMetric(ms(argon2idTime()), "argon2id-p50-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// argon2idTime is the median time of one argon2id hash with tenancy's parameters
// (services/tenancy/internal/password: 19 MiB, 2 passes, 1 lane, 32-byte key).
func argon2idTime() time.Duration {
	var ts []time.Duration
	salt := make([]byte, 16)
	for range 21 {
		t0 := time.Now()
		argon2.IDKey([]byte(password), salt, 2, 19*1024, 1, 32)
		ts = append(ts, time.Since(t0))
	}
	slices.Sort(ts)
	return percentile(ts, 0.5)
}

// tenantDDL is the tenant-plane migration SQL of every service that has tables in a tenant
// schema (catalog, insights), read from their source: the raw baseline runs exactly what their
// Provision calls run, minus tern's bookkeeping.
func tenantDDL(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, dir := range []string{"catalog", "insights"} {
		files, err := filepath.Glob("../../services/" + dir + "/internal/store/migrations/*.sql")
		if err != nil || len(files) == 0 {
			tb.Fatalf("%s migrations not found (run from devstack/e2e): %v", dir, err)
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, string(data))
		}
	}
	return out
}

// rawProvision creates one schema and role with the services' DDL straight in SQL, the way
// tenantdb and tern do it (each statement its own transaction), and returns the time.
func rawProvision(tb testing.TB, conn *pgx.Conn, ddl []string, name string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	q := pgx.Identifier{"t_" + name}.Sanitize()
	stmts := []string{
		"CREATE ROLE " + q + " NOLOGIN",
		// pgtest drops the roles of its database by this comment.
		`DO $$ BEGIN EXECUTE format('COMMENT ON ROLE ` + q + ` IS %L', 'atrium tenant role; db=' || current_database()); END $$`,
		"GRANT " + q + " TO CURRENT_USER",
		"CREATE SCHEMA " + q + " AUTHORIZATION " + q,
		"REVOKE ALL ON SCHEMA " + q + " FROM PUBLIC",
		"SET search_path TO " + q + "; SET ROLE " + q,
	}
	stmts = append(stmts, ddl...)
	stmts = append(stmts, "RESET ROLE; RESET search_path")
	t0 := time.Now()
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			tb.Fatalf("raw provision: %v", err)
		}
	}
	return time.Since(t0)
}

// BenchmarkGatewayOverhead: one cheap RPC (TenantService.GetTenant) straight to tenancy with a
// hand-signed internal token, and through the gateway with the user's access token, from the
// same HTTP/2 client in the same run. Latency sequentially (ATRIUM_BENCH_CALLS each, 2,000),
// then throughput with 16 parallel callers (ATRIUM_BENCH_PARALLEL) for 2 s per path. Both
// alternate in blocks so that load from outside the benchmark (GC, autovacuum, other work on a
// shared machine) hits both paths alike. The process's CPU time per call (client, gateway and
// tenancy share the process; Postgres is outside) shows what the gateway adds independent of
// how busy the machine was.
func BenchmarkGatewayOverhead(b *testing.B) {
	calls := benchInt("ATRIUM_BENCH_CALLS", 2000)
	parallel := benchInt("ATRIUM_BENCH_PARALLEL", 16)
	e := start(b, func(o *stack.Options) {
		noLimit(o)
		// Insights ingests every request's usage event; in one process with the gateway it
		// would count against the gateway's CPU per call (a third of it, by CPU profile) and
		// compete for the two cores. In production it is another process; its own cost is
		// the Insights benchmarks'. ATRIUM_BENCH_INSIGHTS=1 keeps it in.
		if os.Getenv("ATRIUM_BENCH_INSIGHTS") == "" {
			o.Insights = func(c *insightsapp.Config) { c.DisablePipeline = true }
		}
	})
	ctx := context.Background()
	b.StopTimer()
	su := signUpB(b, e, "overhead")
	// The plan's request rate (free: 6,000 a minute) is still checked on every call, as in
	// production, but raised so that it never refuses the throughput blocks.
	if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{
		Tenant: su.slug, Limit: "api_requests_per_minute", Value: 1 << 40, Reason: "benchmark",
	})); err != nil {
		b.Fatal(err)
	}

	signer := authn.NewInternalSigner(e.st.InternalKey)
	direct := tenancyv1connect.NewTenantServiceClient(e.st.HTTPClient, e.st.TenancyURL, connect.WithInterceptors(&internalToken{signer: signer, id: authn.Identity{
		TenantID: su.tenant.GetId(), TenantSlug: su.slug, Schema: su.tenant.GetSchema(), Shard: su.tenant.GetShard(),
		UserID: su.userID, Role: authn.RoleOwner, RequestID: "bench",
	}}))
	gw := e.tenants(su.access, su.slug)
	call := func(c tenancyv1connect.TenantServiceClient) error {
		_, err := c.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		return err
	}
	for _, c := range []tenancyv1connect.TenantServiceClient{direct, gw} { // warm connections and caches
		for range 200 {
			if err := call(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StartTimer()
	for range b.N {
		var dl, gl []time.Duration
		for block := 0; block < calls; block += 100 {
			for _, side := range []struct {
				c   tenancyv1connect.TenantServiceClient
				out *[]time.Duration
			}{{direct, &dl}, {gw, &gl}} {
				for range min(100, calls-block) {
					t0 := time.Now()
					if err := call(side.c); err != nil {
						b.Fatal(err)
					}
					*side.out = append(*side.out, time.Since(t0))
				}
			}
		}
		slices.Sort(dl)
		slices.Sort(gl)
		b.ReportMetric(us(percentile(dl, 0.50)), "direct-p50-us")
		b.ReportMetric(us(percentile(gl, 0.50)), "gateway-p50-us")
		b.ReportMetric(us(percentile(gl, 0.50)-percentile(dl, 0.50)), "added-p50-us")
		b.ReportMetric(us(percentile(dl, 0.99)), "direct-p99-us")
		b.ReportMetric(us(percentile(gl, 0.99)), "gateway-p99-us")

		// Eight blocks of 250 ms per path, the order swapped every round.
		var dr, gr block
		for round := range 8 {
			sides := []func(){
				func() { dr.add(throughput(b, func() error { return call(direct) }, parallel, 250*time.Millisecond)) },
				func() { gr.add(throughput(b, func() error { return call(gw) }, parallel, 250*time.Millisecond)) },
			}
			if round%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, f := range sides {
				f()
			}
		}
		b.ReportMetric(dr.perSecond(), "direct-rps")
		b.ReportMetric(gr.perSecond(), "gateway-rps")
		b.ReportMetric(gr.perSecond()/dr.perSecond(), "rps-ratio")
		b.ReportMetric(dr.cpuPerCall(), "direct-cpu-us/call")
		b.ReportMetric(gr.cpuPerCall(), "gateway-cpu-us/call")
	}
	b.ReportMetric(0, "ns/op")
}

// block is a throughput measurement: calls made, wall time, and the process's CPU time.
type block struct {
	calls     int64
	wall, cpu time.Duration
}

func (b *block) add(o block) { b.calls += o.calls; b.wall += o.wall; b.cpu += o.cpu }

func (b *block) perSecond() float64 { return float64(b.calls) / b.wall.Seconds() }

// cpuPerCall is the process's CPU time per call in µs.
func (b *block) cpuPerCall() float64 { return us(b.cpu) / float64(b.calls) }

// throughput runs f from workers goroutines for d.
func throughput(tb testing.TB, f func() error, workers int, d time.Duration) block {
	var n atomic.Int64
	var failed atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	cpu0, t0 := processCPU(), time.Now()
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if err := f(); err != nil {
					failed.Store(err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		tb.Fatal(err)
	}
	return block{calls: n.Load(), wall: time.Since(t0), cpu: processCPU() - cpu0}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// internalToken signs calls straight to a service as the gateway would, re-signing well
// within the token's 60 s life.
type internalToken struct {
	signer *authn.InternalSigner
	id     authn.Identity
	mu     sync.Mutex
	tok    string
	at     time.Time
}

func (it *internalToken) token() (string, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.tok == "" || time.Since(it.at) > 20*time.Second {
		tok, err := it.signer.Sign(it.id)
		if err != nil {
			return "", err
		}
		it.tok, it.at = tok, time.Now()
	}
	return it.tok, nil
}

func (it *internalToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		tok, err := it.token()
		if err != nil {
			return nil, err
		}
		req.Header().Set(authn.InternalTokenHeader, tok)
		return next(ctx, req)
	}
}

func (it *internalToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (it *internalToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// signUpB is signUp for benchmarks.
func signUpB(b *testing.B, e *env, slug string) signedUp {
	b.Helper()
	resp, err := e.tenants("", "").SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: slug, Slug: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: password,
	}))
	if err != nil {
		b.Fatalf("sign up %s: %v", slug, err)
	}
	return signedUp{slug: slug, tenant: resp.Msg.GetTenant(), userID: resp.Msg.GetUser().GetId(), access: resp.Msg.GetAccessToken(), refresh: resp.Msg.GetRefreshToken()}
}
