// Package catalogtest sets up real tenant schemas for the catalog's tests and benchmarks: a
// fresh database per test (pgtest), tenants created and provisioned as tenancy would, and
// contexts carrying their identities.
package catalogtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/synth"
	"github.com/jackc/pgx/v5"
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

// RawCase is a stored body and the relations the store would read beside it.
type RawCase struct {
	Name string
	Body string // any JSON; JSONBText stores it as jsonb and reads Postgres' text back
	Rels []entity.Relation
}

func rel(typ, target string) entity.Relation {
	r, err := entity.ParseRef(target, "", "")
	if err != nil {
		panic(err)
	}
	return entity.Edge{Type: typ, Target: r}.Relation()
}

// RawCases are the bodies the handlers' raw encoders (store.Encoder.Raw) are checked on: the synthetic catalog with its
// own relations, and what encoding/json treats specially (escapes, U+2028, HTML characters,
// numbers jsonb prints otherwise than float64 does, keys that sort differently escaped).
func RawCases(t testing.TB) []RawCase {
	t.Helper()
	cases := []RawCase{
		{"escapes", `{"apiVersion":"v1","kind":"Component","metadata":{"name":"x","description":"quo\"te \\ back / tab\t nl\n cr\r bs\b ff\f \u0001 \u001f del\u007f <b>&amp;</b> line\u2028sep\u2029 日本語 😀"},"spec":{}}`, []entity.Relation{rel("ownedBy", "group:default/team-a")}},
		{"numbers", `{"kind":"Component","metadata":{"name":"n"},"spec":{"a":1.0,"b":1.50,"c":1e21,"d":1e-7,"e":-0,"f":123456789012345678901234567890,"g":0.1,"h":-2.5E+3,"i":5e-324,"j":[0,1,2.000]}}`, nil},
		{"keys", `{"kind":"Component","metadata":{"name":"k","annotations":{"b":"1","a\"b":"2","a\\b":"3","\u00e9":"4","z":"5","a/b":"6","A":"7","ab\u2028":"8"}},"spec":{"":"empty key","\u0001":"control key"}}`, []entity.Relation{}},
		{"no metadata", `{"kind":"Component","spec":{"x":null,"y":true,"z":false}}`, []entity.Relation{rel("partOf", "system:default/payments")}},
		{"metadata not an object", `{"kind":"Component","metadata":"oops","spec":{}}`, nil},
		{"server fields stored", `{"kind":"Component","metadata":{"name":"s","uid":"old","etag":"old","generation":9},"relations":[{"type":"old"}],"spec":{}}`, nil},
		{"stored relations, server has some", `{"kind":"Component","metadata":{"name":"s"},"relations":"old","spec":{}}`, []entity.Relation{rel("dependsOn", "resource:default/db \"quoted\""), rel("apiProvidedBy", "component:default/a")}},
		{"nested", `{"kind":"Component","metadata":{"name":"d"},"spec":{"a":[[[]]],"b":[{}],"c":{"d":{"e":{"f":[1,{"g":"h"}]}}}}}`, nil},
		{"spaces", "  {\"kind\" : \"Component\" ,\n\"metadata\":{ \"name\" : \"w\" } }  ", nil},
	}
	for i, e := range synth.Generate(300, 7).Entities {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := entity.ParseRef(e.Kind()+":default/"+e.Name(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		edges, _ := entity.DeriveEdges(e)
		cases = append(cases, RawCase{Name: "synthetic " + string(rune('a'+i%26)), Body: string(raw), Rels: entity.RelationsOf(ref, edges)})
	}
	return cases
}

// JSONBText returns each body as Postgres prints it back from a jsonb value, which is what
// the store hands the raw encoders.
func JSONBText(t testing.TB, bodies []string) [][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := make([][]byte, len(bodies))
	for i, b := range bodies {
		if err := conn.QueryRow(ctx, `SELECT $1::jsonb`, b).Scan(&out[i]); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return out
}

// SizeEstimates checks a raw encoder's estimate of what it writes, over the synthetic cases:
// never less than what it writes (the buffer would grow, copying the entity again), and in
// total at most a given share more (the read cache charges a buffer's capacity).
type SizeEstimates struct{ estimated, written int }

// Add records case c's estimate and the bytes written for it.
func (s *SizeEstimates) Add(t testing.TB, c RawCase, estimate, written int) {
	t.Helper()
	if !strings.HasPrefix(c.Name, "synthetic") {
		return
	}
	if estimate < written {
		t.Errorf("%s: estimated %d bytes, wrote %d", c.Name, estimate, written)
	}
	s.estimated += estimate
	s.written += written
}

// Check fails t if the estimates came to more than over (0.1: 10 %) above what was written.
func (s *SizeEstimates) Check(t testing.TB, over float64) {
	t.Helper()
	if s.written == 0 {
		t.Fatal("no synthetic case recorded")
	}
	if got := float64(s.estimated)/float64(s.written) - 1; got > over {
		t.Errorf("estimates %.1f %% over what was written, want at most %.1f %%", 100*got, 100*over)
	}
}
