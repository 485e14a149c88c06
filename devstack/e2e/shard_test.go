package e2e

import (
	"context"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/pgtest"
	"connectrpc.com/connect"
)

// A shard added at run time (tenantctl shards add) takes new tenants at once, and the catalog,
// which was started without it, finds it through tenancy's directory.
func TestShardAddedAtRunTime(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	op := e.operatorClient(e.operator)
	second := pgtest.New(t)

	_, err := op.AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "second", Dsn: second}))
	if err != nil {
		t.Fatalf("add shard: %v", err)
	}
	created, err := op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
		Slug: "initech", DisplayName: "Initech", AdminEmail: "owner@initech.example.com", AdminPassword: password, Shard: "second",
	}))
	if err != nil {
		t.Fatalf("create tenant on the new shard: %v", err)
	}
	if got := created.Msg.GetTenant().GetShard(); got != "second" {
		t.Fatalf("tenant placed on %q, want second", got)
	}
	login, err := e.auth("initech").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "owner@initech.example.com", Password: password}))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	cat := e.catalog(login.Msg.GetAccessToken(), "initech")
	if _, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("stapler", "group:milton")}})); err != nil {
		t.Fatalf("apply on the new shard: %v", err)
	}

	// The entity is in the second database, not the first.
	schema := created.Msg.GetTenant().GetSchema()
	var inFirst bool
	if err := e.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&inFirst); err != nil || inFirst {
		t.Fatalf("schema %s on the first shard: %v, %v", schema, inFirst, err)
	}
	list, err := cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{}))
	if err != nil || list.Msg.GetTotalItems() != 1 {
		t.Fatalf("list on the new shard = %v, %v", list, err)
	}
}
