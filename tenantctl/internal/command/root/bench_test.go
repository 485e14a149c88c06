package root_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/redistest"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchmarkFleetMigrate provisions ATRIUM_BENCH_FLEET tenants (100 by default; the issue's
// figure is 1,000) through the operator API, then times `tenantctl migrate --all` over them:
// once as a real roll-out (the catalog's tables created in every tenant) and once more as the
// no-op re-run an operator does after a fix.
func BenchmarkFleetMigrate(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_FLEET")); err == nil && v > 0 {
		n = v
	}
	dsn := pgtest.New(b)
	rd := redistest.New(b)
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{
		DatabaseURL: dsn, RedisURL: rd.URL, RedisPrefix: rd.Prefix,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		// Operator calls are rate limited per operator; provisioning a fleet is not abuse.
		Gateway: func(c *gatewayapp.Config) { c.RateLimit = gatewayapp.RateLimit{PerSecond: 1e6, Burst: 1e6} },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	op, err := st.OperatorToken(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	c := &cli{st: st, db: db, op: op, env: map[string]string{
		"ATRIUM_CONFIG":         filepath.Join(b.TempDir(), "tenantctl.yaml"),
		"ATRIUM_URL":            st.GatewayURL,
		"ATRIUM_OPERATOR_TOKEN": op,
	}}

	t0 := time.Now()
	createFleet(b, c, "fleet", n)
	provision := time.Since(t0)

	b.ResetTimer()
	for range b.N {
		// A fresh fleet is already at the latest version. To time a real roll-out, take the
		// catalog's tables out of every tenant (the state of a fleet that predates a
		// service), so migrate --all has to create them everywhere.
		b.StopTimer()
		deprovisionCatalog(b, c)
		b.StartTimer()
		rollout := timeMigrate(b, c, n)
		again := timeMigrate(b, c, n)
		b.ReportMetric(provision.Seconds(), "provision-s")
		b.ReportMetric(float64(n)/provision.Seconds(), "provision-tenants/s")
		b.ReportMetric(rollout.Seconds(), "migrate-s")
		b.ReportMetric(again.Seconds(), "remigrate-s")
		b.ReportMetric(float64(n), "tenants")
	}
	b.ReportMetric(0, "ns/op")
}

// deprovisionCatalog calls the catalog's ProvisioningService.Deprovision for every tenant, as
// tenancy would, with an internal token naming tenancy as the caller.
func deprovisionCatalog(b *testing.B, c *cli) {
	b.Helper()
	ctx := context.Background()
	ops := tenancyv1connect.NewOperatorServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(bearer(c.op)))
	prov := tenancyv1connect.NewProvisioningServiceClient(c.st.HTTPClient, c.st.CatalogURL,
		connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(c.st.InternalKey), "tenancy")))
	req := &tenancyv1.ListTenantsRequest{PageSize: 500}
	for {
		resp, err := ops.ListTenants(ctx, connect.NewRequest(req))
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range resp.Msg.GetTenants() {
			if _, err := prov.Deprovision(ctx, connect.NewRequest(&tenancyv1.DeprovisionRequest{TenantId: t.GetId(), Schema: t.GetSchema(), Shard: t.GetShard()})); err != nil {
				b.Fatalf("deprovision %s: %v", t.GetSlug(), err)
			}
		}
		if req.PageToken = resp.Msg.GetNextPageToken(); req.PageToken == "" {
			return
		}
	}
}

func timeMigrate(b *testing.B, c *cli, n int) time.Duration {
	b.Helper()
	t0 := time.Now()
	r := c.run(b, "", "migrate", "--all")
	d := time.Since(t0)
	want := "migrated " + strconv.Itoa(n) + " of " + strconv.Itoa(n)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		b.Fatalf("migrate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return d
}
