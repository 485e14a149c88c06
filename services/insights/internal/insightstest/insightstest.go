// Package insightstest sets up real tenant schemas for insights' tests and benchmarks: a fresh
// database per test (pgtest) and tenants created and provisioned as tenancy would.
package insightstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/store"
)

// Shard is the shard name tests use.
const Shard = "main"

// Env is one test database with its shards and store.
type Env struct {
	DSN    string
	Shards *tenantdb.Shards
	Store  *store.Store
}

// New opens a fresh database.
func New(t testing.TB) *Env {
	t.Helper()
	dsn := pgtest.New(t)
	shards, err := tenantdb.Open(context.Background(), map[string]string{Shard: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	return &Env{DSN: dsn, Shards: shards, Store: store.New(shards)}
}

// Open uses an existing database (benchmarks reusing an earlier run's data).
func Open(t testing.TB, dsn string) *Env {
	t.Helper()
	shards, err := tenantdb.Open(context.Background(), map[string]string{Shard: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	return &Env{DSN: dsn, Shards: shards, Store: store.New(shards)}
}

// Existing is a tenant provisioned earlier, by id.
func Existing(id, slug string) Tenant {
	schema := tenantdb.SchemaFor(id)
	admin := authn.Identity{TenantID: id, TenantSlug: slug, Schema: schema, Shard: Shard, UserID: "admin-" + slug, Role: authn.RoleAdmin}
	return Tenant{ID: id, Slug: slug, Schema: schema, Admin: admin}
}

// Tenant is a provisioned tenant.
type Tenant struct {
	ID, Slug, Schema string
	Admin            authn.Identity
}

// Ctx acts as the tenant's admin.
func (tn Tenant) Ctx() context.Context {
	id := tn.Admin
	return authn.WithIdentity(context.Background(), &id)
}

// Tenant creates and provisions a tenant (random id suffix: roles are cluster-wide).
func (e *Env) Tenant(t testing.TB, slug string) Tenant {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := slug + hex.EncodeToString(b[:])
	schema := tenantdb.SchemaFor(id)
	ctx := context.Background()
	if err := e.Shards.CreateTenant(ctx, Shard, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Provision(ctx, Shard, schema); err != nil {
		t.Fatal(err)
	}
	admin := authn.Identity{TenantID: id, TenantSlug: slug, Schema: schema, Shard: Shard, UserID: "admin-" + slug, Role: authn.RoleAdmin}
	return Tenant{ID: id, Slug: slug, Schema: schema, Admin: admin}
}

// BenchLock takes the machine's benchmark lock (flock on the file ATRIUM_BENCH_LOCK names,
// e.g. /work/bench.lock; unset: no lock) for the measuring part of a benchmark only, so its
// set-up does not hold it. It returns the release, also registered as clean-up.
func BenchLock(t testing.TB) func() {
	t.Helper()
	path := os.Getenv("ATRIUM_BENCH_LOCK")
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Logf("bench lock taken after %v waiting; load: %s", time.Since(start).Round(time.Second), loadavg())
	var once sync.Once
	release := func() {
		once.Do(func() {
			t.Logf("bench lock released; load: %s", loadavg())
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
