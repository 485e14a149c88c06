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

// Fixture is a small catalog exercising every relation field the tests look at: 3 groups, 2
// users, a domain, a system, 3 components, an API and a resource (12 entities).
const Fixture = `
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org, title: The Org}
spec: {type: organization, children: [team-a, team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a, title: Team A}
spec: {type: team, parent: org, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, parent: org, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [team-a], profile: {displayName: Alice Liddell}}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: commerce, description: Selling things}
spec: {owner: org}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: payments, description: Moves money}
spec: {owner: team-a, domain: commerce}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payment-gateway
  title: Payment Gateway
  description: Card authorisation and capture
  tags: [java, payments]
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: payments
  providesApis: [payments-api]
  dependsOn: [resource:payments-db]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout-web
  description: The storefront checkout
  tags: [react]
spec:
  type: website
  lifecycle: production
  owner: team-b
  consumesApis: [payments-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  description: Double-entry bookkeeping
  tags: [go, java]
spec:
  type: service
  lifecycle: experimental
  owner: group:team-a
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments-api, description: Charge cards}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: 3.0.0"
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: payments-db}
spec: {type: database, owner: team-a, system: payments}
`
