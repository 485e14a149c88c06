package app_test

import (
	"context"
	"fmt"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/services/catalog/internal/service"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
)

func star(t *testing.T, c catalogv1connect.CatalogServiceClient, ref string, on bool) (*catalogv1.SetStarResponse, error) {
	t.Helper()
	res, err := c.SetStar(context.Background(), connect.NewRequest(&catalogv1.SetStarRequest{EntityRef: ref, Starred: on}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func starRefs(t *testing.T, c catalogv1connect.CatalogServiceClient) []string {
	t.Helper()
	res, err := c.ListStars(context.Background(), connect.NewRequest(&catalogv1.ListStarsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range res.Msg.GetStars() {
		out = append(out, s.GetEntityRef()+"@"+s.GetUid())
	}
	return out
}

// TestStars: stars are per member, idempotent, newest first, carry the entity's current uid,
// and outlive the entity.
func TestStars(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	ann := s.catalog(&tn.Identity)
	applyFixture(t, ann)
	bobID := tn.Identity
	bobID.UserID = "u-bob"
	bob := s.catalog(&bobID)

	first, err := star(t, ann, "Component:payment-gateway", true) // kind case and default namespace
	if err != nil {
		t.Fatal(err)
	}
	if first.GetStar().GetEntityRef() != "component:default/payment-gateway" || first.GetStar().GetUid() == "" {
		t.Fatalf("star = %v", first.GetStar())
	}
	if _, err := star(t, ann, "component:default/payment-gateway", true); err != nil { // again: no change
		t.Fatal(err)
	}
	if _, err := star(t, ann, "api:payments-api", true); err != nil {
		t.Fatal(err)
	}
	got := starRefs(t, ann)
	if len(got) != 2 || got[0] != "api:default/payments-api@"+uidOf(t, ann, "api:payments-api") ||
		got[1] != "component:default/payment-gateway@"+first.GetStar().GetUid() {
		t.Fatalf("ann's stars = %v", got)
	}
	if got := starRefs(t, bob); len(got) != 0 {
		t.Fatalf("bob sees ann's stars: %v", got)
	}
	// Unstar is idempotent too, also for a ref never starred.
	for range 2 {
		if res, err := star(t, ann, "api:payments-api", false); err != nil || res.GetStar() != nil {
			t.Fatalf("unstar = %v, %v", res, err)
		}
	}
	if _, err := star(t, bob, "group:team-b", false); err != nil {
		t.Fatal(err)
	}
	// A star outlives its entity: listed with no uid.
	admin := s.catalog(&tn.Admin)
	if _, err := admin.DeleteEntity(context.Background(), connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: first.GetStar().GetUid()})); err != nil {
		t.Fatal(err)
	}
	if got := starRefs(t, ann); len(got) != 1 || got[0] != "component:default/payment-gateway@" {
		t.Fatalf("after delete: %v", got)
	}
}

func uidOf(t *testing.T, c catalogv1connect.CatalogServiceClient, ref string) string {
	t.Helper()
	res, err := c.GetEntityByRef(context.Background(), connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: ref}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetEntity().GetFields()["metadata"].GetStructValue().GetFields()["uid"].GetStringValue()
}

// TestStarsCrossTenant: tenant B's identity, even with the same user id as a member of A,
// neither sees A's stars nor stars A's entities; its own stars are its own.
func TestStarsCrossTenant(t *testing.T) {
	s := newServer(t)
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	a := s.catalog(&acme.Identity)
	applyFixture(t, a)
	if _, err := star(t, a, "component:payment-gateway", true); err != nil {
		t.Fatal(err)
	}
	forged := globex.Identity
	forged.UserID = acme.Identity.UserID
	g := s.catalog(&forged)
	if got := starRefs(t, g); len(got) != 0 {
		t.Fatalf("globex sees acme's stars: %v", got)
	}
	_, err := star(t, g, "component:payment-gateway", true)
	wantViolation(t, err, "entity_ref", "no entity")
	if _, err := star(t, g, "component:payment-gateway", false); err != nil {
		t.Fatal(err)
	}
	if got := starRefs(t, a); len(got) != 1 {
		t.Fatalf("globex's unstar reached acme: %v", got)
	}
	applyFixture(t, g)
	if _, err := star(t, g, "group:team-a", true); err != nil {
		t.Fatal(err)
	}
	if got := starRefs(t, a); len(got) != 1 || got[0][:len("component:default/payment-gateway")] != "component:default/payment-gateway" {
		t.Fatalf("acme's stars = %v", got)
	}
	if got := starRefs(t, g); len(got) != 1 || got[0][:len("group:default/team-a")] != "group:default/team-a" {
		t.Fatalf("globex's stars = %v", got)
	}
}

// TestStarsBadInput: malformed refs, unknown entities and one star too many are InvalidArgument
// on entity_ref, and change nothing.
func TestStarsBadInput(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	applyFixture(t, c)
	for _, ref := range []string{"", "payment-gateway", "component:", "component:a\x00b", "component:" + string(make([]byte, 300)), "component:default/nope"} {
		_, err := star(t, c, ref, true)
		wantViolation(t, err, "entity_ref", "")
	}
	if _, err := star(t, c, "payment-gateway", false); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("unstar of a malformed ref: %v", err)
	}
	// Fill up to the limit, then one more.
	var docs []*structpb.Struct
	for i := range service.MaxStars + 1 {
		st, _ := structpb.NewStruct(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
			"metadata": map[string]any{"name": fmt.Sprintf("c%03d", i)},
			"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}})
		docs = append(docs, st)
	}
	if _, err := c.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: docs})); err != nil {
		t.Fatal(err)
	}
	for i := range service.MaxStars {
		if _, err := star(t, c, fmt.Sprintf("component:c%03d", i), true); err != nil {
			t.Fatalf("star %d: %v", i, err)
		}
	}
	_, err := star(t, c, fmt.Sprintf("component:c%03d", service.MaxStars), true)
	wantViolation(t, err, "entity_ref", "unstar one first")
	// Starring one already starred is still fine at the limit.
	if _, err := star(t, c, "component:c000", true); err != nil {
		t.Fatal(err)
	}
	if n := len(starRefs(t, c)); n != service.MaxStars {
		t.Fatalf("%d stars", n)
	}
}
