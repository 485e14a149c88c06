// Package pgtest gives each test a fresh database on the real Postgres server. A test that
// cannot reach Postgres fails; only -short skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvAdminURL names the server tests use; its database is only used to create and drop others.
const EnvAdminURL = "ATRIUM_TEST_DATABASE_URL"

// DefaultAdminURL is the local server of the dev machines and CI.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the admin connection string: ATRIUM_TEST_DATABASE_URL, else the
// "postgres" database on the local server at ATRIUM_PG_PORT (the port `make deps` serves).
func AdminURL() string {
	if u := os.Getenv(EnvAdminURL); u != "" {
		return u
	}
	if p := os.Getenv("ATRIUM_PG_PORT"); p != "" {
		return strings.Replace(DefaultAdminURL, ":5432/", ":"+p+"/", 1)
	}
	return DefaultAdminURL
}

// New creates a fresh, empty database and returns its URL. At clean-up it drops the database
// and the tenant roles that were made in it (tenantdb comments each role with its database).
func New(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: integration test skipped in -short mode")
	}
	// DROP DATABASE waits for a checkpoint, which under a loaded make test (benchmarks and
	// other packages writing beside it) has taken past 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: Postgres unreachable at %s (start it with scripts/deps.sh): %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	name := "atrium_test_" + strings.ToLower(sanitize(t.Name())) + "_" + randomHex(4)
	if len(name) > 60 {
		name = name[:51] + "_" + randomHex(4)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { drop(t, name) })
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(t testing.TB, name string) {
	// DROP DATABASE waits for a checkpoint, which under a loaded make test (benchmarks and
	// other packages writing beside it) has taken past 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Errorf("pgtest: clean-up: %v", err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
		return
	}
	rows, err := admin.Query(ctx, `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = $1`, "atrium tenant role; db="+name)
	if err != nil {
		t.Errorf("pgtest: list roles: %v", err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("pgtest: list roles: %v", err)
		return
	}
	for _, r := range roles {
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
			t.Errorf("pgtest: drop role %s: %v", r, err)
		}
	}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
