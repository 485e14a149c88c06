package tenantdb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var migrations = fstest.MapFS{
	"001_items.sql":      {Data: []byte(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);`)},
	"002_items_note.sql": {Data: []byte(`ALTER TABLE items ADD COLUMN note text;`)},
}

func setup(t *testing.T) (*tenantdb.Shards, context.Context, context.Context) {
	t.Helper()
	ctx := context.Background()
	shards, err := tenantdb.Open(ctx, map[string]string{"main": pgtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	ids := map[string]string{"acme": "acme0001", "globex": "globex0001"}
	ctxs := map[string]context.Context{}
	for slug, id := range ids {
		id += randomSuffix(t)
		schema := tenantdb.SchemaFor(id)
		// Twice: creation and migration are idempotent.
		for i := 0; i < 2; i++ {
			if err := shards.CreateTenant(ctx, "main", schema); err != nil {
				t.Fatal(err)
			}
			v, err := shards.Migrate(ctx, "main", schema, migrations, "test_schema_version")
			if err != nil {
				t.Fatal(err)
			}
			if v != 2 {
				t.Fatalf("version = %d, want 2", v)
			}
		}
		ctxs[slug] = authn.WithIdentity(ctx, &authn.Identity{TenantID: id, TenantSlug: slug, Schema: schema, Shard: "main", UserID: "u1", Role: authn.RoleMember})
	}
	return shards, ctxs["acme"], ctxs["globex"]
}

// randomSuffix keeps role names unique: roles are cluster-wide and test databases run at once.
func randomSuffix(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func TestIsolation(t *testing.T) {
	shards, acme, globex := setup(t)
	globexID, _ := authn.FromContext(globex)
	for ctx, name := range map[context.Context]string{acme: "acme widget", globex: "globex widget"} {
		err := shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO items (id, name) VALUES (1, $1)`, name)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Postgres hides schemas without USAGE from search_path, so pointing search_path at
	// another tenant finds no table rather than a permission error: either way, no rows.
	// (An explicit SET ROLE inside fn could switch tenants, since the session user is a member
	// of every tenant role; no store code issues SET ROLE, and review keeps it that way.)
	tests := []struct {
		name     string
		query    string
		wantCode string
	}{
		{"qualified read of another tenant", `SELECT name FROM ` + pgx.Identifier{globexID.Schema, "items"}.Sanitize(), "42501"},
		{"qualified write to another tenant", `INSERT INTO ` + pgx.Identifier{globexID.Schema, "items"}.Sanitize() + ` VALUES (2, 'x')`, "42501"},
		{"search_path escape", `SET LOCAL search_path TO ` + pgx.Identifier{globexID.Schema}.Sanitize() + `; SELECT name FROM items`, "42P01"},
		{"server catalog of roles", `SELECT 1 FROM pg_catalog.pg_authid`, "42501"},
		{"create in public", `CREATE TABLE public.leak (x int)`, "42501"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := shards.InTx(acme, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, tc.query, pgx.QueryExecModeSimpleProtocol)
				return err
			})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != tc.wantCode {
				t.Fatalf("err = %v, want SQLSTATE %s", err, tc.wantCode)
			}
		})
	}
	// Migrations ran as the tenant role, so the tenant owns everything in its schema.
	pool, _ := shards.Pool("main")
	acmeID, _ := authn.FromContext(acme)
	var foreign int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tableowner <> $1`, acmeID.Schema).Scan(&foreign); err != nil || foreign != 0 {
		t.Fatalf("%d tables in %s not owned by the tenant role (err %v)", foreign, acmeID.Schema, err)
	}
	var got string
	err := shards.InReadTx(acme, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT name FROM items WHERE id = 1`).Scan(&got)
	})
	if err != nil || got != "acme widget" {
		t.Fatalf("own read = %q, %v", got, err)
	}
}

func TestInTxRefusesWithoutTenant(t *testing.T) {
	shards, _, _ := setup(t)
	called := false
	fn := func(context.Context, pgx.Tx) error { called = true; return nil }
	cases := map[string]context.Context{
		"no identity":      context.Background(),
		"no tenant":        authn.WithIdentity(context.Background(), &authn.Identity{UserID: "u1"}),
		"malformed schema": authn.WithIdentity(context.Background(), &authn.Identity{TenantID: "x", Schema: "public; drop", Shard: "main"}),
		"unknown shard":    authn.WithIdentity(context.Background(), &authn.Identity{TenantID: "x", Schema: "t_x", Shard: "nope"}),
	}
	for name, ctx := range cases {
		t.Run(name, func(t *testing.T) {
			if err := shards.InTx(ctx, fn); err == nil {
				t.Fatal("InTx ran without a valid tenant identity")
			}
		})
	}
	if called {
		t.Fatal("fn was called")
	}
	if err := shards.InTx(context.Background(), fn); !errors.Is(err, tenantdb.ErrNoTenant) {
		t.Fatalf("err = %v, want ErrNoTenant", err)
	}
}

func TestDropTenant(t *testing.T) {
	shards, acme, _ := setup(t)
	id, _ := authn.FromContext(acme)
	for i := 0; i < 2; i++ {
		if err := shards.DropTenant(context.Background(), "main", id.Schema); err != nil {
			t.Fatal(err)
		}
	}
	ok, err := shards.SchemaExists(context.Background(), "main", id.Schema)
	if err != nil || ok {
		t.Fatalf("schema exists = %v, %v after drop", ok, err)
	}
}

func TestResolverAddsUnknownShard(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	asked := 0
	shards, err := tenantdb.Open(ctx, nil, tenantdb.WithResolver(func(_ context.Context, name string) (string, error) {
		asked++
		if name != "late" {
			return "", errors.New("no such shard")
		}
		return dsn, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	schema := tenantdb.SchemaFor("late" + randomSuffix(t))
	for i := 0; i < 2; i++ {
		if err := shards.CreateTenant(ctx, "late", schema); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("resolver asked %d times, want 1 (then cached)", asked)
	}
	if err := shards.CreateTenant(ctx, "missing", schema); err == nil {
		t.Fatal("unresolvable shard accepted")
	}
}

// TestInTxRefusesForeignSchema: a tenant record (e.g. from Redis) whose schema is another
// tenant's is refused; only the shape was checked before issue 6.
func TestInTxRefusesForeignSchema(t *testing.T) {
	shards, acme, globex := setup(t)
	a, _ := authn.FromContext(acme)
	g, _ := authn.FromContext(globex)
	forged := *a
	forged.Schema = g.Schema
	err := shards.InTx(authn.WithIdentity(context.Background(), &forged), func(context.Context, pgx.Tx) error {
		t.Fatal("fn ran with another tenant's schema")
		return nil
	})
	if !errors.Is(err, tenantdb.ErrSchemaMismatch) {
		t.Fatalf("err = %v, want ErrSchemaMismatch", err)
	}
}

// TestTenantConcurrencyCap: a tenant over its cap waits, then gets ResourceExhausted, while
// another tenant still gets a connection at once; statements are bounded by the timeout.
func TestTenantConcurrencyCap(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	shards, err := tenantdb.Open(ctx, map[string]string{"main": dsn},
		tenantdb.WithTenantConcurrency(2, 200*time.Millisecond), tenantdb.WithStatementTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	ctxFor := func(base string) context.Context {
		id := base + randomSuffix(t)
		if err := shards.CreateTenant(ctx, "main", tenantdb.SchemaFor(id)); err != nil {
			t.Fatal(err)
		}
		return authn.WithIdentity(ctx, &authn.Identity{TenantID: id, Schema: tenantdb.SchemaFor(id), Shard: "main", UserID: "u", Role: authn.RoleMember})
	}
	a, b := ctxFor("0a"), ctxFor("0b")
	hold := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = shards.InTx(a, func(context.Context, pgx.Tx) error { <-hold; return nil })
		}()
	}
	time.Sleep(100 * time.Millisecond)
	err = shards.InTx(a, func(context.Context, pgx.Tx) error { return nil })
	if rpcerr.KindOf(err) != rpcerr.KindResourceExhausted {
		t.Fatalf("third transaction of a: %v, want ResourceExhausted", err)
	}
	startB := time.Now()
	if err := shards.InTx(b, func(context.Context, pgx.Tx) error { return nil }); err != nil || time.Since(startB) > 150*time.Millisecond {
		t.Fatalf("b while a is at its cap: %v after %v", err, time.Since(startB))
	}
	close(hold)
	wg.Wait()
	err = shards.InTx(b, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_sleep(2)`)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("long statement: %v, want statement timeout (57014)", err)
	}
}

// TestConnRecycledAfterSchemas: a pooled connection that has entered the configured number of
// distinct tenant schemas is closed when released (its relcache grows with every schema), while
// one that keeps serving the same tenants stays; a shard's DSN sizes its own pool and sets its
// own connection lifetime, and the process-wide defaults apply to the others.
func TestConnRecycledAfterSchemas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	shards, err := tenantdb.Open(ctx, map[string]string{"main": dsn, "sized": dsn + "&pool_max_conns=7&pool_max_conn_lifetime=90s"},
		tenantdb.WithMaxConns(1), tenantdb.WithConnRecycling(time.Hour, 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	var ctxs []context.Context
	for i := range 4 {
		id := "rc" + string(rune('a'+i)) + randomSuffix(t)
		if err := shards.CreateTenant(ctx, "main", tenantdb.SchemaFor(id)); err != nil {
			t.Fatal(err)
		}
		ctxs = append(ctxs, authn.WithIdentity(ctx, &authn.Identity{TenantID: id, Schema: tenantdb.SchemaFor(id), Shard: "main", UserID: "u", Role: authn.RoleMember}))
	}
	pid := func(c context.Context) int {
		var p int
		if err := shards.InReadTx(c, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&p)
		}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := pid(ctxs[0])
	// The same two tenants again and again: two schemas, under the bound of three.
	for range 5 {
		if p := pid(ctxs[1]); p != first {
			t.Fatalf("connection replaced after 2 schemas (pid %d, was %d)", p, first)
		}
		if p := pid(ctxs[0]); p != first {
			t.Fatalf("connection replaced after 2 schemas (pid %d, was %d)", p, first)
		}
	}
	// The third distinct schema reaches the bound: that transaction still runs on the old
	// connection, which is then closed instead of pooled.
	if p := pid(ctxs[2]); p != first {
		t.Fatalf("third schema on pid %d, want the pooled %d", p, first)
	}
	if p := pid(ctxs[3]); p == first {
		t.Fatalf("connection %d kept after entering 3 schemas", p)
	}

	mainPool, _ := shards.Pool("main")
	sized, _ := shards.Pool("sized")
	if got := mainPool.Config().MaxConns; got != 1 {
		t.Errorf("main pool: %d connections, want the default 1", got)
	}
	if got := mainPool.Config().MaxConnLifetime; got != time.Hour {
		t.Errorf("main pool: lifetime %v, want 1h", got)
	}
	if got := mainPool.Config().MaxConnLifetimeJitter; got != 6*time.Minute {
		t.Errorf("main pool: lifetime jitter %v, want 6m", got)
	}
	if got := sized.Config().MaxConns; got != 7 {
		t.Errorf("sized pool: %d connections, want the DSN's 7", got)
	}
	if got := sized.Config().MaxConnLifetime; got != 90*time.Second {
		t.Errorf("sized pool: lifetime %v, want the DSN's 90s", got)
	}
}

// TestTenantConcurrencyShare: a tenant uses its whole cap only while it is alone; while another
// tenant has a transaction in flight, it starts new ones only below half of the cap, and gets
// the rest back when the other is done.
func TestTenantConcurrencyShare(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	shards, err := tenantdb.Open(ctx, map[string]string{"main": dsn}, tenantdb.WithTenantConcurrency(4, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	ctxFor := func(base string) context.Context {
		id := base + randomSuffix(t)
		if err := shards.CreateTenant(ctx, "main", tenantdb.SchemaFor(id)); err != nil {
			t.Fatal(err)
		}
		return authn.WithIdentity(ctx, &authn.Identity{TenantID: id, Schema: tenantdb.SchemaFor(id), Shard: "main", UserID: "u", Role: authn.RoleMember})
	}
	a, b := ctxFor("1a"), ctxFor("1b")
	holdA, holdB := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var entered atomic.Int32
	enterA := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = shards.InTx(a, func(context.Context, pgx.Tx) error { entered.Add(1); <-holdA; return nil })
		}()
	}
	// b in flight: a gets its share (2 of 4), not more.
	bIn := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = shards.InTx(b, func(context.Context, pgx.Tx) error { close(bIn); <-holdB; return nil })
	}()
	<-bIn
	for range 3 {
		enterA()
	}
	time.Sleep(300 * time.Millisecond)
	if n := entered.Load(); n != 2 {
		t.Fatalf("a has %d transactions in flight beside b, want its share of 2", n)
	}
	// b done: a is alone and gets the third.
	close(holdB)
	deadline := time.Now().Add(time.Second)
	for entered.Load() != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := entered.Load(); n != 3 {
		t.Fatalf("a has %d transactions in flight alone, want 3", n)
	}
	close(holdA)
	wg.Wait()
}

// TestMigrateConcurrentAndStepwise: migrations of one schema and service run at once take turns
// (each ends at the latest version, the tables made once); a schema at version 1 gets only
// the newer files; a second service's version table in the same schema is its own.
func TestMigrateConcurrentAndStepwise(t *testing.T) {
	ctx := context.Background()
	shards, err := tenantdb.Open(ctx, map[string]string{"main": pgtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	schema := tenantdb.SchemaFor("mig" + randomSuffix(t))
	if err := shards.CreateTenant(ctx, "main", schema); err != nil {
		t.Fatal(err)
	}
	first := fstest.MapFS{"001_items.sql": migrations["001_items.sql"]}
	if v, err := shards.Migrate(ctx, "main", schema, first, "test_schema_version"); err != nil || v != 1 {
		t.Fatalf("first file: version %d, %v", v, err)
	}
	other := fstest.MapFS{"001_other.sql": {Data: []byte("-- a comment on the last line, no newline\nCREATE TABLE other_items (id int);\n-- end")}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fsys fs.FS = migrations
			table, want := "test_schema_version", int64(2)
			if i%2 == 1 {
				fsys, table, want = other, "other_schema_version", 1
			}
			v, err := shards.Migrate(ctx, "main", schema, fsys, table)
			if err == nil && v != want {
				err = fmt.Errorf("%s: version %d, want %d", table, v, want)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pool, err := shards.Pool("main")
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := pool.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'other_items'`, schema).Scan(&owner); err != nil || owner != schema {
		t.Fatalf("other_items owned by %q (%v), want the tenant role", owner, err)
	}
	var cols int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'items'`, schema).Scan(&cols); err != nil || cols != 3 {
		t.Fatalf("items has %d columns (%v), want 3", cols, err)
	}
}

// A tenant whose settings are refused (its role dropped under it) gets an error, and the
// connection that tried goes back to the pool: BEGIN and the settings share a round trip, so
// a half-entered transaction must be ended, not left for the pool to destroy.
func TestEnterRefusedKeepsConnection(t *testing.T) {
	shards, acme, globex := setup(t)
	id, _ := authn.FromContext(acme)
	if err := shards.DropTenant(context.Background(), "main", id.Schema); err != nil {
		t.Fatal(err)
	}
	pool, err := shards.Pool("main")
	if err != nil {
		t.Fatal(err)
	}
	noop := func(ctx context.Context, tx pgx.Tx) error { return nil }
	if err := shards.InReadTx(globex, noop); err != nil {
		t.Fatal(err)
	}
	before := pool.Stat().NewConnsCount()
	const tries = 10
	for i := 0; i < tries; i++ {
		if err := shards.InReadTx(acme, noop); err == nil {
			t.Fatal("entering a dropped tenant succeeded")
		}
		if err := shards.InReadTx(globex, noop); err != nil {
			t.Fatalf("the other tenant after a refused enter: %v", err)
		}
	}
	// Each refused enter would cost a connection if it were destroyed; the pool may open one
	// now and then for its own reasons (its health check holds an idle one for a moment).
	if n := pool.Stat().NewConnsCount() - before; n > 2 {
		t.Fatalf("%d refused enters cost %d new connections, want none", tries, n)
	}
}

// TestReadInt: the one-round-trip read runs as the tenant (its own table, not another's, not
// without a tenant), reports a statement's failure and a missing value as errors, and leaves
// the connection idle and usable after them.
func TestReadInt(t *testing.T) {
	shards, acme, globex := setup(t)
	globexID, _ := authn.FromContext(globex)
	for ctx, n := range map[context.Context]int{acme: 3, globex: 5} {
		err := shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO items (id, name) SELECT i, 'x' FROM generate_series(1, $1::int) i`, n)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		ctx     context.Context
		query   string
		want    int64
		wantErr func(error) bool
	}{
		{"own table", acme, `SELECT count(*) FROM items`, 3, nil},
		{"the other tenant's own", globex, `SELECT count(*) FROM items`, 5, nil},
		{"another tenant's table", acme, `SELECT count(*) FROM ` + pgx.Identifier{globexID.Schema, "items"}.Sanitize(), 0, sqlState("42501")},
		{"read only", acme, `INSERT INTO items (id, name) VALUES (99, 'y') RETURNING id`, 0, sqlState("25006")},
		{"no row", acme, `SELECT id FROM items WHERE id < 0`, 0, func(err error) bool { return errors.Is(err, pgx.ErrNoRows) }},
		{"null", acme, `SELECT max(id) FROM items WHERE id < 0`, 0, func(err error) bool { return errors.Is(err, pgx.ErrNoRows) }},
		{"not an integer", acme, `SELECT 'x'`, 0, func(err error) bool { return err != nil }},
		{"no tenant", context.Background(), `SELECT 1`, 0, func(err error) bool { return errors.Is(err, tenantdb.ErrNoTenant) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shards.ReadInt(tc.ctx, tc.query)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ReadInt = %d, %v; want %d", got, err, tc.want)
				}
			} else if !tc.wantErr(err) {
				t.Fatalf("ReadInt = %d, %v; want another error", got, err)
			}
			// Whatever happened, the pool's connections are idle and the tenant's next read works.
			if n, err := shards.ReadInt(acme, `SELECT count(*) FROM items`); err != nil || n != 3 {
				t.Fatalf("next read = %d, %v", n, err)
			}
		})
	}
	var n int
	if err := shards.InReadTx(acme, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM items WHERE id = 99`).Scan(&n)
	}); err != nil || n != 0 {
		t.Fatalf("the refused insert left %d rows (%v)", n, err)
	}
}

func sqlState(code string) func(error) bool {
	return func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == code
	}
}

// TestInReadBatch: the one-round-trip transaction runs its statements in order as the tenant
// (role, search path, read only, the shards' statement timeout), refuses another tenant's
// table, reports a failed statement, and leaves the connection idle and usable whatever
// happened.
func TestInReadBatch(t *testing.T) {
	ctx := context.Background()
	shards, err := tenantdb.Open(ctx, map[string]string{"main": pgtest.New(t)}, tenantdb.WithStatementTimeout(200*time.Millisecond), tenantdb.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	tenant := func(id string) context.Context {
		id += randomSuffix(t)
		schema := tenantdb.SchemaFor(id)
		if err := shards.CreateTenant(ctx, "main", schema); err != nil {
			t.Fatal(err)
		}
		if _, err := shards.Migrate(ctx, "main", schema, migrations, "test_schema_version"); err != nil {
			t.Fatal(err)
		}
		return authn.WithIdentity(ctx, &authn.Identity{TenantID: id, Schema: schema, Shard: "main", UserID: "u1", Role: authn.RoleMember})
	}
	acme, globex := tenant("acme0001"), tenant("globex0001")
	acmeID, _ := authn.FromContext(acme)
	globexID, _ := authn.FromContext(globex)
	if err := shards.InTx(acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var (
		user, schema, timeout string
		names                 []string
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT current_user, current_schema(), current_setting('statement_timeout')`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&user, &schema, &timeout)
	})
	b.Queue(`SELECT name FROM items ORDER BY id`).Query(func(rows pgx.Rows) error {
		var err error
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err := shards.InReadBatch(acme, b); err != nil {
		t.Fatal(err)
	}
	if user != acmeID.Schema || schema != acmeID.Schema || timeout != "200ms" || fmt.Sprint(names) != "[one two]" {
		t.Fatalf("as %s in %s (timeout %s) read %v", user, schema, timeout, names)
	}

	// Each failure twice: the first time a connection meets a statement it runs the long
	// way (inside InReadTx's transaction), later ones as one pipeline; warm, when set, runs
	// the statement successfully first (with its values, as whom) so that the failing call is
	// pipelined.
	type run struct {
		ctx  context.Context
		args []any
	}
	failing := []struct {
		name  string
		query string
		warm  *run
		fail  run
		want  func(error) bool
	}{
		{"another tenant's table", `SELECT count(*) FROM ` + pgx.Identifier{globexID.Schema, "items"}.Sanitize(), &run{globex, nil}, run{acme, nil}, sqlState("42501")},
		{"a write", `INSERT INTO items (id, name) VALUES (3, 'three')`, nil, run{acme, nil}, sqlState("25006")},
		{"a failing statement", `SELECT 1 / (count(*) - $1::int) FROM items`, &run{acme, []any{0}}, run{acme, []any{2}}, sqlState("22012")},
		{"over the statement timeout", `SELECT pg_sleep($1::float8)`, &run{acme, []any{0}}, run{acme, []any{1}}, sqlState("57014")},
		{"no tenant", `SELECT 1`, nil, run{ctx, nil}, func(err error) bool { return errors.Is(err, tenantdb.ErrNoTenant) }},
	}
	pool, err := shards.Pool("main")
	if err != nil {
		t.Fatal(err)
	}
	conns := pool.Stat().NewConnsCount()
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			if tc.warm != nil {
				for range 2 {
					b := &pgx.Batch{}
					b.Queue(tc.query, tc.warm.args...)
					b.Queue(`SELECT 1`)
					if err := shards.InReadBatch(tc.warm.ctx, b); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range 2 {
				ran := false
				b := &pgx.Batch{}
				b.Queue(tc.query, tc.fail.args...)
				b.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { ran = true; return nil })
				if err := shards.InReadBatch(tc.fail.ctx, b); !tc.want(err) {
					t.Fatalf("err = %v", err)
				}
				if ran {
					t.Fatal("the statement after the failed one ran")
				}
				// One connection in the pool: it must be idle again, as the tenant's next read shows.
				var n int64
				b = &pgx.Batch{}
				b.Queue(`SELECT count(*) FROM items`).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
				if err := shards.InReadBatch(acme, b); err != nil || n != 2 {
					t.Fatalf("next read = %d, %v", n, err)
				}
			}
		})
	}
	// pgx forgets the remembered statements (its cache of 512 per connection lets them go,
	// or, as here, they are deallocated): the batch is prepared again outside the
	// transaction, fails there, and runs the long way.
	pool, err = shards.Pool("main")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Conn().DeallocateAll(ctx)
	c.Release()
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	b = &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM items`).QueryRow(func(row pgx.Row) error { return row.Scan(&count) })
	if err := shards.InReadBatch(acme, b); err != nil || count != 2 {
		t.Fatalf("a read whose statements pgx forgot = %d, %v", count, err)
	}
	// A failure that destroyed the connection would cost a new one each time (the pool may
	// open one now and then for its own reasons).
	if n := pool.Stat().NewConnsCount() - conns; n > 1 {
		t.Fatalf("%d failed reads cost %d new connections, want none", 2*len(failing), n)
	}
	// The connection took the one-pipeline way: its settings statement is prepared.
	var pipelined int64
	b = &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT set_config(%'`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&pipelined)
	})
	for range 2 {
		if err := shards.InReadBatch(acme, b); err != nil {
			t.Fatal(err)
		}
	}
	if pipelined != 1 {
		t.Fatalf("%d settings statements prepared: the pipelined way never ran", pipelined)
	}
	var n int
	if err := shards.InReadTx(acme, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n)
	}); err != nil || n != 2 {
		t.Fatalf("after the refused write: %d rows (%v)", n, err)
	}
}
