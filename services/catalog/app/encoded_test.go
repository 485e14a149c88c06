package app_test

import (
	"context"
	"fmt"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// sharedDoc is one component both tenants hold under the same ref, told apart by its
// description.
func sharedDoc(description string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: shared, description: %q}\nspec: {type: service, lifecycle: production, owner: group:default/team-a}\n", description)
}

// Reads answered from encodings the read cache keeps (the protobuf wire form of Connect's
// binary codecs, Backstage's JSON) are the messages and documents the uncached path builds,
// for every codec; a tenant never gets another tenant's cached entity under the same ref; a
// write ends the cached encodings.
func TestEncodedReads(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	apply := func(id *authn.Identity, docs ...string) {
		t.Helper()
		if _, err := s.catalog(id).ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: docs})); err != nil {
			t.Fatal(err)
		}
	}
	applyFixture(t, s.catalog(&acme.Identity))
	apply(&acme.Identity, sharedDoc("acme's"))
	apply(&globex.Identity, sharedDoc("globex's"))

	clients := func(id *authn.Identity) map[string]catalogv1connect.CatalogServiceClient {
		with := func(opts ...connect.ClientOption) catalogv1connect.CatalogServiceClient {
			return catalogv1connect.NewCatalogServiceClient(s.client, s.url, append(opts, connect.WithInterceptors(as{s.signer, id}))...)
		}
		return map[string]catalogv1connect.CatalogServiceClient{
			"json": with(connect.WithProtoJSON()), "proto": with(), "grpc": with(connect.WithGRPC()),
			"grpc-web": with(connect.WithGRPCWeb()), "get": with(connect.WithHTTPGet()),
		}
	}
	refs := []string{"component:default/shared", "component:default/nothing", "group:org", "component:default/shared"}
	calls := map[string]func(c catalogv1connect.CatalogServiceClient) (proto.Message, error){
		"list": func(c catalogv1connect.CatalogServiceClient) (proto.Message, error) {
			r, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageSize: 3}))
			return r.Msg, err
		},
		"list fields": func(c catalogv1connect.CatalogServiceClient) (proto.Message, error) {
			r, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"kind=component"}, Fields: []string{"metadata.name", "metadata.description"}}))
			return r.Msg, err
		},
		"by refs": func(c catalogv1connect.CatalogServiceClient) (proto.Message, error) {
			r, err := c.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: refs}))
			return r.Msg, err
		},
		"by refs fields": func(c catalogv1connect.CatalogServiceClient) (proto.Message, error) {
			r, err := c.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: refs, Fields: []string{"metadata.description"}}))
			return r.Msg, err
		},
		"by ref": func(c catalogv1connect.CatalogServiceClient) (proto.Message, error) {
			r, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "component:shared"}))
			return r.Msg, err
		},
	}
	check := func(id *authn.Identity, description string) {
		t.Helper()
		cs := clients(id)
		for name, call := range calls {
			want, err := call(cs["json"]) // protojson: the Struct messages, built as before
			if err != nil {
				t.Fatalf("%s over json: %v", name, err)
			}
			for round := 0; round < 2; round++ { // a miss, then the read cache
				for codec, c := range cs {
					got, err := call(c)
					if err != nil {
						t.Fatalf("%s over %s: %v", name, codec, err)
					}
					if !proto.Equal(got, want) {
						t.Fatalf("%s over %s (round %d):\n%v\nwant\n%v", name, codec, round, got, want)
					}
				}
			}
		}
		r, err := cs["proto"].GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "component:shared"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Msg.GetEntity().GetFields()["metadata"].GetStructValue().GetFields()["description"].GetStringValue(); got != description {
			t.Fatalf("by ref: description %q, want %q", got, description)
		}
		b, err := cs["grpc"].GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: refs}))
		if err != nil {
			t.Fatal(err)
		}
		if items := b.Msg.GetItems(); len(items) != 4 || items[1].GetEntity() != nil || items[0].GetEntity().GetFields()["metadata"].GetStructValue().GetFields()["description"].GetStringValue() != description {
			t.Fatalf("by refs: %v", b.Msg)
		}
		if _, err := cs["proto"].GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "component:nothing"})); code(err) != connect.CodeNotFound {
			t.Fatalf("by ref of nothing: %v", err)
		}
		// REST: by-refs and by-name from the cached JSON.
		for round := 0; round < 2; round++ {
			st, _, v := s.rest(t, id, "POST", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": refs})
			items, _ := field(v, "items").([]any)
			if st != 200 || len(items) != 4 || items[1] != nil || field(items[0], "metadata", "description") != description || field(items[3], "metadata", "description") != description {
				t.Fatalf("REST by-refs = %d %v", st, v)
			}
			st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/shared", nil)
			if st != 200 || field(v, "metadata", "description") != description {
				t.Fatalf("REST by-name = %d %v", st, v)
			}
		}
	}
	check(&acme.Identity, "acme's")
	check(&globex.Identity, "globex's") // the same refs, cached for acme a moment ago
	apply(&acme.Identity, sharedDoc("acme's, rewritten"))
	check(&acme.Identity, "acme's, rewritten")
	check(&globex.Identity, "globex's")
}
