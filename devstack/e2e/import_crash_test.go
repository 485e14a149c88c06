package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	tenancyapp "atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
)

// The child process of TestImportKilledMidway: a whole stack of its own on the parent's
// database and Redis, which imports an archive and stops dead once the catalog's part is
// committed, until the parent kills it.
const (
	envImportChild   = "ATRIUM_E2E_IMPORT_CHILD"
	envImportDB      = "ATRIUM_E2E_IMPORT_DB"
	envImportRedis   = "ATRIUM_E2E_IMPORT_REDIS"
	envImportPrefix  = "ATRIUM_E2E_IMPORT_PREFIX"
	envImportArchive = "ATRIUM_E2E_IMPORT_ARCHIVE"
	importStuckAfter = 2 * time.Second
	importCrashPoint = "import:catalog"
)

// TestImportKilledMidway kills, with SIGKILL, a tenancy process in the middle of
// `tenants import` (the catalog's part restored and committed, the others and the members
// not), then shows that the half-imported tenant never became active or reachable, that a
// rerun while that process is alive is refused rather than taking its tenant, and that a
// rerun after the kill rolls the interrupted import back itself (the reconciler is off here)
// and imports the whole archive.
func TestImportKilledMidway(t *testing.T) {
	if os.Getenv(envImportChild) != "" {
		importChild(t)
		return
	}
	ctx := context.Background()
	var dsn string
	e := start(t, func(o *stack.Options) {
		dsn = o.DatabaseURL
		o.Tenancy = func(c *tenancyapp.Config) {
			c.StuckAfter = importStuckAfter
			c.ReconcileInterval = time.Hour // only the rerun may clean up
		}
	})
	_, _ = seedTenant(t, e, "impsrc", 30)
	archive := filepath.Join(t.TempDir(), "impsrc.tar.gz")
	exportArchive(t, e, "impsrc", archive)

	child := exec.Command(os.Args[0], "-test.run=^TestImportKilledMidway$", "-test.count=1")
	child.Env = append(os.Environ(), envImportChild+"=1", envImportDB+"="+dsn, envImportRedis+"="+e.redisURL,
		envImportPrefix+"="+e.redisPrefix, envImportArchive+"="+archive)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	crashed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "crash-point "); ok {
				crashed <- id
			}
		}
		close(crashed)
	}()
	var half string
	select {
	case id, ok := <-crashed:
		if !ok {
			t.Fatal("the child ended before the crash point")
		}
		half = id
	case <-time.After(60 * time.Second):
		t.Fatal("the child did not reach the crash point in 60 s")
	}

	// Half imported: the catalog's rows are there, the tenant is provisioning, not active,
	// and the gateway does not serve it.
	var status, schema string
	if err := e.db.QueryRow(ctx, `SELECT status, schema FROM tenancy.tenants WHERE id = $1`, half).Scan(&status, &schema); err != nil {
		t.Fatal(err)
	}
	var entities int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM "`+schema+`".catalog_entities`).Scan(&entities); err != nil {
		t.Fatal(err)
	}
	if status != "provisioning" || entities != 30 {
		t.Fatalf("at the crash point: status %s, %d entities; want provisioning with the catalog's 30", status, entities)
	}
	if _, err := e.auth("impdst").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "owner@impsrc.example.com", Password: password})); err == nil {
		t.Fatal("signed in to a half-imported tenant")
	}

	// While its process lives, a rerun does not take the tenant from under it.
	if _, err := importArchive(ctx, e.operatorClient(e.operator), archive, "impdst"); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("rerun beside the running import: %v, want FailedPrecondition (still running)", err)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed = true

	// The rerun after the kill: refused only until the dead import's claim is stale
	// (StuckAfter, 2 s), then it rolls that import back and imports the whole archive.
	var res *connect.Response[tenancyv1.ImportTenantArchiveResponse]
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err = importArchive(ctx, e.operatorClient(e.operator), archive, "impdst")
		if err == nil || connect.CodeOf(err) != connect.CodeFailedPrecondition || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rerun after the kill: %v", err)
	}
	got := res.Msg.GetTenant()
	if got.GetId() == half || got.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || res.Msg.GetRecords()["catalog"] == 0 {
		t.Fatalf("rerun: %v", res.Msg)
	}
	if err := e.db.QueryRow(ctx, `SELECT status FROM tenancy.tenants WHERE id = $1`, half).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "failed" {
		t.Errorf("the interrupted import is %s, want failed (rolled back)", status)
	}
	if schemaOn(t, e.db, schema) {
		t.Error("the interrupted import's schema is left")
	}
	var live int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants WHERE slug = 'impdst' AND status NOT IN ('failed', 'deleted')`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 1 {
		t.Errorf("%d live tenants named impdst, want 1", live)
	}
	var restored int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM "`+got.GetSchema()+`".catalog_entities`).Scan(&restored); err != nil {
		t.Fatal(err)
	}
	var members int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1`, got.GetId()).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if restored != 30 || members != 1 {
		t.Errorf("the rerun's tenant has %d entities and %d members, want 30 and 1", restored, members)
	}
}

// importChild runs in the child process: a stack on the parent's database, and an import that
// stops at the crash point (the catalog's part committed) and waits there to be killed.
func importChild(t *testing.T) {
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{
		DatabaseURL: os.Getenv(envImportDB), RedisURL: os.Getenv(envImportRedis), RedisPrefix: os.Getenv(envImportPrefix),
		Logger: testLogger(),
		Tenancy: func(c *tenancyapp.Config) {
			c.StuckAfter = importStuckAfter
			c.ReconcileInterval = time.Hour
			c.AfterStep = func(tenantID, step string) error {
				if step == importCrashPoint {
					fmt.Printf("crash-point %s\n", tenantID)
					select {} // until the parent kills this process
				}
				return nil
			}
		},
	})
	if err != nil {
		t.Fatalf("child stack: %v", err)
	}
	op, err := st.OperatorToken(ctx, "e2e-child")
	if err != nil {
		t.Fatal(err)
	}
	client := tenancyv1connect.NewOperatorServiceClient(st.HTTPClient, st.GatewayURL, as(op, ""))
	_, err = importArchive(ctx, client, os.Getenv(envImportArchive), "impdst")
	t.Fatalf("the child's import returned (%v) instead of stopping at %s", err, importCrashPoint)
}

// exportArchive writes slug's archive (OperatorService.ExportTenantArchive) to path.
func exportArchive(t *testing.T, e *env, slug, path string) {
	t.Helper()
	stream, err := e.operatorClient(e.operator).ExportTenantArchive(context.Background(), connect.NewRequest(&tenancyv1.ExportTenantArchiveRequest{Tenant: slug}))
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for stream.Receive() {
		data = append(data, stream.Msg().GetPiece().GetChunk()...)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("export %s: %v", slug, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// importArchive sends the archive at path to ImportTenantArchive as tenant slug.
func importArchive(ctx context.Context, client tenancyv1connect.OperatorServiceClient, path, slug string) (*connect.Response[tenancyv1.ImportTenantArchiveResponse], error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	stream := client.ImportTenantArchive(ctx)
	for i := 0; i == 0 || i < len(data); i += 64 << 10 {
		msg := &tenancyv1.ImportTenantArchiveRequest{Chunk: data[i:min(len(data), i+64<<10)]}
		if i == 0 {
			msg.Slug = slug
		}
		if err := stream.Send(msg); err != nil {
			break // the answer is in CloseAndReceive
		}
	}
	return stream.CloseAndReceive()
}
