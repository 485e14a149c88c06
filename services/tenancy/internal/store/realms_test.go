package store

import (
	"context"
	"io/fs"
	"testing"

	"atrium.dev/platform/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// TestRealmMigration: a user of three tenants (global accounts, before migration 002) becomes
// three accounts, one per tenant, each with the same password hash, its memberships and tokens
// moved along; a user of no tenant goes.
func TestRealmMigration(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA tenancy`); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO tenancy.shards (name, dsn) VALUES ('main', 'x')`,
		`INSERT INTO tenancy.tenants (id, slug, display_name, status, shard, schema) VALUES
			('1aaa', 'a', 'A', 'active', 'main', 't_1aaa'), ('1bbb', 'b', 'B', 'active', 'main', 't_1bbb'),
			('1ccc', 'c', 'C', 'active', 'main', 't_1ccc')`,
		`INSERT INTO tenancy.users (id, email, password_hash) VALUES ('1pat', 'pat@example.com', 'hash-pat'),
			('1lone', 'lone@example.com', 'hash-lone')`,
		`INSERT INTO tenancy.memberships (tenant_id, user_id, role, created_at) VALUES
			('1aaa', '1pat', 'owner', now() - interval '3 days'), ('1bbb', '1pat', 'member', now() - interval '2 days'),
			('1ccc', '1pat', 'admin', now() - interval '1 day')`,
		`INSERT INTO tenancy.api_tokens (id, tenant_id, user_id, name, prefix, hash) VALUES ('1tok', '1bbb', '1pat', 'ci', 'p', 'h1')`,
		`INSERT INTO tenancy.refresh_tokens (id, family_id, user_id, tenant_id, hash, expires_at) VALUES
			('1rt', 'f', '1pat', '1ccc', 'h2', now() + interval '1 day'), ('1rt2', 'g', '1lone', '1aaa', 'h3', now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := m.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	s := &Store{pool: pool, db: pool}
	ids := map[string]bool{}
	for tenant, role := range map[string]string{"1aaa": "owner", "1bbb": "member", "1ccc": "admin"} {
		u, err := s.UserByEmail(ctx, tenant, "pat@example.com")
		if err != nil {
			t.Fatalf("%s: %v", tenant, err)
		}
		if u.PasswordHash != "hash-pat" || u.TenantID != tenant {
			t.Fatalf("%s: account %+v", tenant, u)
		}
		mem, err := s.Membership(ctx, tenant, u.ID)
		if err != nil || mem.Role != role {
			t.Fatalf("%s: membership %+v, %v", tenant, mem, err)
		}
		ids[u.ID] = true
	}
	if len(ids) != 3 || !ids["1pat"] {
		t.Fatalf("account ids %v: want three, the oldest membership's keeping 1pat", ids)
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM tenancy.api_tokens a JOIN tenancy.users u ON u.id = a.user_id AND u.tenant_id = '1bbb'`).Scan(&n)
	if n != 1 {
		t.Fatal("api token did not follow its tenant's account")
	}
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM tenancy.users WHERE email = 'lone@example.com'`).Scan(&n)
	if n != 0 {
		t.Fatal("a user without tenant survived")
	}
	// Email unique per tenant, not globally.
	if _, err := s.InsertUser(ctx, User{ID: "1x", TenantID: "1aaa", Email: "pat@example.com", PasswordHash: "h"}); err == nil {
		t.Fatal("duplicate email in one tenant accepted")
	}
}
