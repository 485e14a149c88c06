// Package catalogtest sets up real tenant schemas for the catalog's tests and benchmarks: a
// fresh database per test (pgtest), tenants created and provisioned as tenancy would, and
// contexts carrying their identities.
package catalogtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/store"
)

// Shard is the shard name tests use.
const Shard = "main"

// Env is one test database with its shards and store.
type Env struct {
	DSN    string
	Shards *tenantdb.Shards
	Store  *store.Store
}

// New opens a fresh database (failing the test when Postgres is unreachable).
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
	// Identity is a member of the tenant; Admin one with the admin role.
	Identity, Admin authn.Identity
}

// Ctx returns a context acting as the tenant's member.
func (tn Tenant) Ctx() context.Context {
	id := tn.Identity
	return authn.WithIdentity(context.Background(), &id)
}

// AdminCtx returns a context acting as the tenant's admin.
func (tn Tenant) AdminCtx() context.Context {
	id := tn.Admin
	return authn.WithIdentity(context.Background(), &id)
}

// Tenant creates and provisions a tenant named slug (the id gets a random suffix: roles are
// cluster-wide and test databases run in parallel).
func (e *Env) Tenant(t testing.TB, slug string) Tenant {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	id := slug + hex.EncodeToString(b[:])
	schema := tenantdb.SchemaFor(id)
	ctx := context.Background()
	if err := e.Shards.CreateTenant(ctx, Shard, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Provision(ctx, Shard, schema); err != nil {
		t.Fatal(err)
	}
	member := authn.Identity{TenantID: id, TenantSlug: slug, Schema: schema, Shard: Shard, UserID: "u-" + slug, Role: authn.RoleMember, RequestID: "req-" + slug}
	admin := member
	admin.UserID, admin.Role = "admin-"+slug, authn.RoleAdmin
	return Tenant{ID: id, Slug: slug, Schema: schema, Identity: member, Admin: admin}
}
