// Package insightstest sets up real tenant schemas for insights' tests and benchmarks: a fresh
// database per test (pgtest) and tenants created and provisioned as tenancy would.
package insightstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

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
