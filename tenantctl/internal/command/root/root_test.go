package root_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/redistest"
	"atrium.dev/tenantctl/internal/command/root"
	"atrium.dev/tenantctl/internal/invocation"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
)

// cli runs tenantctl in-process against a stack, the way a person at a terminal would (minus
// the terminal: progress is plain lines).
type cli struct {
	st     *stack.Stack
	db     *pgxpool.Pool
	op     string
	stripe *fakeStripe
	env    map[string]string
}

type result struct {
	code           int
	stdout, stderr string
}

func (c *cli) run(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	inv := &invocation.Invocation{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return c.env[k] },
	}
	code := root.Run(context.Background(), inv, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed.
func (c *cli) ok(t testing.TB, args ...string) result {
	t.Helper()
	r := c.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("tenantctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func start(t *testing.T) *cli {
	t.Helper()
	dsn := pgtest.New(t)
	rd := redistest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Billing runs against a local server speaking Stripe's JSON (billing_test.go).
	stripe, stripeURL := newFakeStripe(t)
	st, err := stack.Start(ctx, stack.Options{
		StripeURL:   stripeURL,
		DatabaseURL: dsn,
		RedisURL:    rd.URL,
		RedisPrefix: rd.Prefix,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	op, err := st.OperatorToken(ctx, "tenantctl-test")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &cli{st: st, db: db, op: op, stripe: stripe, env: map[string]string{
		"ATRIUM_CONFIG":         filepath.Join(t.TempDir(), "tenantctl.yaml"),
		"ATRIUM_URL":            st.GatewayURL,
		"ATRIUM_OPERATOR_TOKEN": op,
	}}
}

type tenantJSON struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Status string `json:"status"`
	Schema string `json:"schema"`
	Shard  string `json:"shard"`
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func (c *cli) schemaExists(t *testing.T, schema string) bool {
	t.Helper()
	var n int
	if err := c.db.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestTenantctl shares one stack among the commands' tests.
func TestTenantctl(t *testing.T) {
	c := start(t)

	t.Run("create", func(t *testing.T) {
		r := c.ok(t, "tenants", "create", "acme", "--display-name", "Acme Inc", "--admin-email", "admin@acme.example.com", "-o", "json")
		out := decode[struct {
			Tenant        tenantJSON `json:"tenant"`
			AdminEmail    string     `json:"adminEmail"`
			AdminPassword string     `json:"adminPassword"`
		}](t, r.stdout)
		if out.Tenant.Slug != "acme" || out.Tenant.Status != "TENANT_STATUS_ACTIVE" || out.AdminPassword == "" {
			t.Fatalf("created %+v", out)
		}
		if !c.schemaExists(t, out.Tenant.Schema) {
			t.Fatalf("schema %s missing", out.Tenant.Schema)
		}
		// The generated password is a real login.
		auth := tenancyv1connect.NewAuthServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(tenantHeader("acme")))
		if _, err := auth.Login(context.Background(), connect.NewRequest(&tenancyv1.LoginRequest{Email: out.AdminEmail, Password: out.AdminPassword})); err != nil {
			t.Fatalf("login with the generated password: %v", err)
		}
		// Table output for people.
		r = c.ok(t, "tenants", "create", "globex", "--admin-email", "ops@globex.example.com", "--admin-password", "Initial-Secret-42")
		for _, want := range []string{"slug:", "globex", "status:", "active", "admin:    ops@globex.example.com"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "password:") {
			t.Errorf("a given password was echoed:\n%s", r.stdout)
		}
	})

	t.Run("create with bad input", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want []string
		}{
			{"malformed slug", []string{"tenants", "create", "Bad_Slug", "--admin-email", "a@b.example.com"}, []string{"error: invalid_argument", "  slug: "}},
			{"bad email and weak password", []string{"tenants", "create", "hooli", "--admin-email", "nope", "--admin-password", "short"}, []string{"  admin_email: ", "  admin_password: "}},
			{"duplicate", []string{"tenants", "create", "acme", "--admin-email", "x@acme.example.com"}, []string{"error: already_exists"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := c.run(t, "", tt.args...)
				if r.code != root.ExitError {
					t.Fatalf("exit %d, want %d\nstderr: %s", r.code, root.ExitError, r.stderr)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
					}
				}
			})
		}
		r := c.ok(t, "tenants", "list", "-o", "json")
		if strings.Contains(r.stdout, "hooli") || strings.Contains(r.stdout, "bad_slug") {
			t.Fatalf("a refused tenant was created:\n%s", r.stdout)
		}
	})

	t.Run("list", func(t *testing.T) {
		r := c.ok(t, "tenants", "list", "-o", "json")
		list := decode[struct {
			Tenants   []tenantJSON `json:"tenants"`
			TotalSize string       `json:"totalSize"`
		}](t, r.stdout)
		var slugs []string
		for _, tn := range list.Tenants {
			slugs = append(slugs, tn.Slug)
		}
		if !slices.Contains(slugs, "acme") || !slices.Contains(slugs, "globex") || list.TotalSize != fmt.Sprint(len(slugs)) {
			t.Fatalf("list = %+v", list)
		}
		r = c.ok(t, "tenants", "list")
		if !strings.HasPrefix(r.stdout, "SLUG") || !strings.Contains(r.stdout, "acme") {
			t.Fatalf("table:\n%s", r.stdout)
		}
		if r := c.run(t, "", "tenants", "list", "--status", "sleepy"); r.code != root.ExitUsage {
			t.Fatalf("bad status: exit %d", r.code)
		}
		if r := c.run(t, "", "tenants", "list", "-o", "yaml"); r.code != root.ExitUsage {
			t.Fatalf("yaml for tenants list: exit %d", r.code)
		}
	})

	t.Run("suspend and resume", func(t *testing.T) {
		r := c.ok(t, "tenants", "suspend", "acme", "--reason", "invoice overdue", "-o", "json")
		if tn := decode[tenantJSON](t, r.stdout); tn.Status != "TENANT_STATUS_SUSPENDED" {
			t.Fatalf("suspend: %s", r.stdout)
		}
		r = c.ok(t, "tenants", "list", "--status", "suspended", "-o", "json")
		list := decode[struct{ Tenants []tenantJSON }](t, r.stdout)
		if len(list.Tenants) != 1 || list.Tenants[0].Slug != "acme" {
			t.Fatalf("suspended = %+v", list.Tenants)
		}
		r = c.ok(t, "tenants", "get", "acme")
		if !strings.Contains(r.stdout, "suspended") || !strings.Contains(r.stdout, "invoice overdue") {
			t.Fatalf("get:\n%s", r.stdout)
		}
		r = c.ok(t, "tenants", "resume", "acme", "-o", "json")
		if tn := decode[tenantJSON](t, r.stdout); tn.Status != "TENANT_STATUS_ACTIVE" {
			t.Fatalf("resume: %s", r.stdout)
		}
		r = c.run(t, "", "tenants", "suspend", "nosuchtenant")
		if r.code != root.ExitError || !strings.Contains(r.stderr, "not_found") {
			t.Fatalf("suspend unknown: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("delete", func(t *testing.T) {
		c.ok(t, "tenants", "create", "doomed", "--admin-email", "a@doomed.example.com")
		c.ok(t, "tenants", "create", "gone", "--admin-email", "a@gone.example.com")
		// Never without confirmation.
		r := c.run(t, "", "tenants", "delete", "doomed")
		if r.code != root.ExitUsage || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("delete without --yes: exit %d %s", r.code, r.stderr)
		}
		if r := c.ok(t, "tenants", "get", "doomed", "-o", "json"); decode[tenantJSON](t, r.stdout).Status != "TENANT_STATUS_ACTIVE" {
			t.Fatalf("unconfirmed delete changed the tenant: %s", r.stdout)
		}
		r = c.ok(t, "tenants", "delete", "doomed", "--yes", "-o", "json")
		soft := decode[tenantJSON](t, r.stdout)
		if soft.Status != "TENANT_STATUS_DELETING" || !c.schemaExists(t, soft.Schema) {
			t.Fatalf("soft delete: %s (schema exists: %v)", r.stdout, c.schemaExists(t, soft.Schema))
		}
		r = c.ok(t, "tenants", "delete", "gone", "--now", "--yes", "-o", "json")
		hard := decode[tenantJSON](t, r.stdout)
		if c.schemaExists(t, hard.Schema) {
			t.Fatalf("delete --now left schema %s", hard.Schema)
		}
		r = c.ok(t, "tenants", "list", "-o", "json")
		if strings.Contains(r.stdout, `"gone"`) {
			t.Fatalf("deleted tenant listed:\n%s", r.stdout)
		}
	})

	t.Run("migrate --all over 50 tenants", func(t *testing.T) {
		createFleet(t, c, "fleet", 50)
		r := c.ok(t, "migrate", "--all", "--concurrency", "8", "-o", "json")
		sum := decode[struct {
			Total    int               `json:"total"`
			Migrated int               `json:"migrated"`
			Failed   []json.RawMessage `json:"failed"`
		}](t, r.stdout)
		if sum.Total < 52 || sum.Migrated != sum.Total || len(sum.Failed) != 0 {
			t.Fatalf("migrate: %+v\nstderr: %s", sum, r.stderr)
		}
		// Without a terminal, progress is one plain line per tenant.
		if n := strings.Count(r.stderr, "migrating "); n != sum.Total {
			t.Errorf("%d progress lines for %d tenants:\n%s", n, sum.Total, r.stderr)
		}
		// Safe to re-run.
		r = c.ok(t, "migrate", "--all")
		if !strings.Contains(r.stdout, fmt.Sprintf("migrated %d of %d tenants", sum.Total, sum.Total)) {
			t.Fatalf("re-run:\n%s", r.stdout)
		}
	})

	t.Run("migrate continues past a failing tenant", func(t *testing.T) {
		r := c.ok(t, "tenants", "get", "fleet-007", "-o", "json")
		broken := decode[tenantJSON](t, r.stdout)
		// Break the tenant behind tenancy's back: no role to migrate as.
		if _, err := c.db.Exec(context.Background(), fmt.Sprintf(`DROP SCHEMA %q CASCADE; DROP ROLE %q`, broken.Schema, broken.Schema)); err != nil {
			t.Fatal(err)
		}
		r = c.run(t, "", "migrate", "--all")
		if r.code != root.ExitError {
			t.Fatalf("exit %d with a failing tenant\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "FAILED fleet-007") || !strings.Contains(r.stdout, "1 failed:") || !strings.Contains(r.stdout, "fleet-007") {
			t.Fatalf("failure not reported\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "migrated 51 of 52") && !regexpMigrated(r.stdout) {
			t.Fatalf("others not migrated:\n%s", r.stdout)
		}
		// The tenant is out of the fleet for good; delete it so later runs are clean.
		c.ok(t, "tenants", "delete", "fleet-007", "--now", "--yes")
		c.ok(t, "migrate", "--all")
	})

	t.Run("migrate usage", func(t *testing.T) {
		for _, args := range [][]string{{"migrate"}, {"migrate", "--all", "--tenant", "acme"}, {"migrate", "--all", "--concurrency", "99"}} {
			if r := c.run(t, "", args...); r.code != root.ExitUsage {
				t.Errorf("%v: exit %d, want usage error", args, r.code)
			}
		}
		r := c.ok(t, "migrate", "--tenant", "acme", "--tenant", "globex", "-o", "json")
		if sum := decode[struct{ Total int }](t, r.stdout); sum.Total != 2 {
			t.Fatalf("two tenants: %s", r.stdout)
		}
	})

	t.Run("shards", func(t *testing.T) {
		r := c.ok(t, "shards", "list", "-o", "json")
		var resp tenancyv1.ListShardsResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.GetShards()) != 1 || resp.GetShards()[0].GetName() != "main" || resp.GetShards()[0].GetTenantCount() < 50 {
			t.Fatalf("shards = %v", resp.GetShards())
		}
		r = c.ok(t, "shards", "list")
		if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "main") {
			t.Fatalf("table:\n%s", r.stdout)
		}
		r = c.run(t, "", "shards", "add", "Bad Name", "postgres://x")
		if r.code != root.ExitError || !strings.Contains(r.stderr, "invalid_argument") {
			t.Fatalf("bad shard: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("audit", func(t *testing.T) {
		r := c.ok(t, "audit", "--tenant", "acme", "--limit", "0", "-o", "json")
		var resp tenancyv1.ListAuditEventsResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range resp.GetEvents() {
			actions = append(actions, e.GetAction())
			if e.GetTenantId() == "" || e.GetActor() == "" {
				t.Errorf("event without tenant or actor: %v", e)
			}
		}
		for _, want := range []string{"tenant.create", "tenant.suspend", "tenant.resume"} {
			if !slices.Contains(actions, want) {
				t.Errorf("audit of acme lacks %s: %v", want, actions)
			}
		}
		// Pagination: a small page, then the rest by token.
		r = c.ok(t, "audit", "--limit", "2")
		if !strings.Contains(r.stderr, "--page-token ") {
			t.Fatalf("no next page hint:\n%s", r.stderr)
		}
		token := strings.TrimSpace(r.stderr[strings.Index(r.stderr, "--page-token ")+len("--page-token "):])
		r2 := c.ok(t, "audit", "--limit", "2", "--page-token", token)
		if strings.Count(r2.stdout, "\n") != 3 || r2.stdout == r.stdout {
			t.Fatalf("second page:\n%s\nfirst page:\n%s", r2.stdout, r.stdout)
		}
	})

	t.Run("contexts", func(t *testing.T) {
		// A context instead of the environment.
		env := map[string]string{"ATRIUM_CONFIG": c.env["ATRIUM_CONFIG"]}
		ctxCLI := &cli{st: c.st, db: c.db, env: env}
		if r := ctxCLI.run(t, "", "tenants", "list"); r.code != root.ExitError || !strings.Contains(r.stderr, "no operator token") {
			t.Fatalf("no credentials: exit %d %s", r.code, r.stderr)
		}
		ctxCLI.ok(t, "context", "set", "test", "--url", c.st.GatewayURL, "--operator-token", c.op)
		ctxCLI.ok(t, "context", "set", "other", "--url", "http://127.0.0.1:1", "--operator-token", "atr_op_x")
		r := ctxCLI.ok(t, "context", "list")
		if !strings.Contains(r.stdout, "*        test") || strings.Contains(r.stdout, c.op) {
			t.Fatalf("context list (current marked, secrets masked):\n%s", r.stdout)
		}
		if r := ctxCLI.ok(t, "tenants", "list", "-o", "json"); !strings.Contains(r.stdout, "acme") {
			t.Fatalf("list through the context:\n%s", r.stdout)
		}
		ctxCLI.ok(t, "context", "use", "other")
		if r := ctxCLI.run(t, "", "tenants", "list"); r.code != root.ExitError || !strings.Contains(r.stderr, "unavailable") {
			t.Fatalf("unreachable context: exit %d %s", r.code, r.stderr)
		}
		if r := ctxCLI.ok(t, "--context", "test", "tenants", "get", "acme"); !strings.Contains(r.stdout, "acme") {
			t.Fatalf("--context override:\n%s", r.stdout)
		}
		if r := ctxCLI.run(t, "", "context", "use", "nope"); r.code != root.ExitError {
			t.Fatalf("use unknown context: exit %d", r.code)
		}
	})

	t.Run("catalog", func(t *testing.T) { testCatalog(t, c) })

	t.Run("plans plugins limits", func(t *testing.T) { testEntitlements(t, c) })
	t.Run("billing", func(t *testing.T) { testBilling(t, c, c.stripe) })

	t.Run("operators", func(t *testing.T) { testOperators(t, c) })
	t.Run("export and import", func(t *testing.T) { testArchive(t, c) })
	t.Run("moves", func(t *testing.T) { testMoves(t, c) })

	t.Run("wrong credentials", func(t *testing.T) {
		r := c.run(t, "", "--token", "atr_op_"+strings.Repeat("z", 52), "tenants", "list")
		if r.code != root.ExitError || !strings.Contains(r.stderr, "unauthenticated") {
			t.Fatalf("bad operator token: exit %d %s", r.code, r.stderr)
		}
	})
}

func regexpMigrated(s string) bool {
	var done, total int
	for _, line := range strings.Split(s, "\n") {
		if n, _ := fmt.Sscanf(line, "migrated %d of %d tenants", &done, &total); n == 2 {
			return done == total-1
		}
	}
	return false
}

// createFleet creates n tenants through the operator API, a few at a time.
func createFleet(t testing.TB, c *cli, prefix string, n int) {
	t.Helper()
	ops := tenancyv1connect.NewOperatorServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(bearer(c.op)))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			slug := fmt.Sprintf("%s-%03d", prefix, i)
			_, err := ops.CreateTenant(context.Background(), connect.NewRequest(&tenancyv1.CreateTenantRequest{
				Slug: slug, DisplayName: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: "Many-Tenants-Pass-1",
			}))
			if err != nil {
				errs <- fmt.Errorf("create %s: %w", slug, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
