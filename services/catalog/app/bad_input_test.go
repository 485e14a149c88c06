package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestBadInput: NUL bytes in any string, malformed page cursors and oversized strings are
// InvalidArgument naming the field (400 InputError on the REST API), never Internal, and
// change nothing. Issue 6 found each answered with a 500.
func TestBadInput(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Admin) // DeleteEntity needs an admin
	applyFixture(t, c)
	ctx := context.Background()
	mb := strings.Repeat("word ", 1<<20/5)
	comp := func(meta map[string]any) *structpb.Struct {
		m := map[string]any{"name": "x"}
		for k, v := range meta {
			m[k] = v
		}
		st, err := structpb.NewStruct(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": m,
			"spec": map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Tokens that decode but do not hold a position of this query.
	badTokens := map[string]string{
		"not base64":    "%%%",
		"not json":      "bm90IGpzb24",
		"bad uid":       query.Token{Pos: store.Position{UID: "nope"}}.Encode(),
		"keys of other": query.Token{Spec: query.Spec{Order: []query.Order{{Field: "metadata.name"}}}, Pos: store.Position{UID: "00000000-0000-0000-0000-000000000000"}}.Encode(),
		"nul in key":    query.Token{Spec: query.Spec{Order: []query.Order{{Field: "metadata.name"}}}, Pos: store.Position{UID: "00000000-0000-0000-0000-000000000000", Keys: []*string{ptr("a\x00b")}}}.Encode(),
		"nul in filter": query.Token{Spec: query.Spec{Filter: []string{"kind=a\x00"}}, Pos: store.Position{UID: "00000000-0000-0000-0000-000000000000"}}.Encode(),
		"extra keys":    query.Token{Pos: store.Position{UID: "00000000-0000-0000-0000-000000000000", Keys: []*string{ptr("a"), ptr("b"), ptr("c")}}}.Encode(),
	}
	type rpc struct {
		name  string
		call  func() error
		field string
	}
	rpcs := []rpc{
		{"apply: NUL in a structured description", func() error {
			_, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{comp(map[string]any{"description": "a\x00b"})}}))
			return err
		}, "entities[0].metadata.description"},
		{"apply: NUL in an annotation key", func() error {
			_, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{comp(map[string]any{"annotations": map[string]any{"a\x00": "b"}})}}))
			return err
		}, "entities[0].metadata.annotations"},
		{"apply: NUL in YAML", func() error {
			_, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x, description: \"a\\0b\"}\nspec: {type: service, lifecycle: production, owner: team-a}\n"}}))
			return err
		}, "documents[0].metadata.description"},
		{"apply: 1 MB description", func() error {
			_, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{comp(map[string]any{"description": mb})}}))
			return err
		}, "documents[0].metadata.description"},
		{"import: NUL in a file", func() error {
			_, err := c.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: map[string]string{"catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g, description: \"\\0\"}\nspec: {type: team, children: []}\n"}, Strict: true}))
			return err
		}, `files["catalog-info.yaml"].documents[0]`},
		{"get by ref: NUL", func() error {
			_, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "component:a\x00"}))
			return err
		}, "ref"},
		{"get by uid: NUL", func() error {
			_, err := c.GetEntityByUid(ctx, connect.NewRequest(&catalogv1.GetEntityByUidRequest{Uid: "a\x00"}))
			return err
		}, "uid"},
		{"get by refs: NUL", func() error {
			_, err := c.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: []string{"component:a\x00"}}))
			return err
		}, "refs[0]"},
		{"delete: NUL", func() error {
			_, err := c.DeleteEntity(ctx, connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: "\x00"}))
			return err
		}, "uid"},
		{"list: NUL in a filter value", func() error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"spec.type=a\x00"}}))
			return err
		}, "filter[0]"},
		{"list: NUL in the term", func() error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{FullTextTerm: "a\x00"}))
			return err
		}, "full_text_term"},
		{"list: NUL in an order field", func() error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Order: []*catalogv1.OrderField{{Field: "spec.\x00"}}}))
			return err
		}, "order[0].field"},
		{"facets: NUL in a filter value", func() error {
			_, err := c.GetEntityFacets(ctx, connect.NewRequest(&catalogv1.GetEntityFacetsRequest{Facets: []string{"kind"}, Filter: []string{"kind=\x00"}}))
			return err
		}, "filter[0]"},
		{"facets: NUL in the term", func() error {
			_, err := c.GetEntityFacets(ctx, connect.NewRequest(&catalogv1.GetEntityFacetsRequest{Facets: []string{"kind"}, FullTextTerm: "\x00"}))
			return err
		}, "full_text_term"},
		{"relations: NUL", func() error {
			_, err := c.GetEntityRelations(ctx, connect.NewRequest(&catalogv1.GetEntityRelationsRequest{Ref: "component:\x00"}))
			return err
		}, "ref"},
		{"finding 5: deep keys", func() error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{strings.Repeat("k"+strings.Repeat(".a", 94)+",", 50)}}))
			return err
		}, "filter[0]"},
	}
	for name, tok := range badTokens {
		rpcs = append(rpcs, rpc{"list: cursor " + name, func() error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageToken: tok}))
			return err
		}, "page_token"})
	}
	for _, r := range rpcs {
		t.Run("connect/"+r.name, func(t *testing.T) {
			err := r.call()
			if code(err) != connect.CodeInvalidArgument {
				t.Fatalf("want InvalidArgument, got %v", err)
			}
			for _, v := range rpcerr.FieldViolations(err) {
				if strings.HasPrefix(v.Field, r.field) {
					return
				}
			}
			t.Fatalf("violations %q, want one naming %s", rpcerr.FieldViolations(err), r.field)
		})
	}
	if n := total(t, c); n != 12 {
		t.Fatalf("%d entities after bad input, want the fixture's 12", n)
	}

	restCases := []struct {
		name, method, path string
		body               any
	}{
		{"entities: NUL in a filter", "GET", "/api/catalog/entities?filter=kind=a%00", nil},
		{"by-query: NUL in the term", "GET", "/api/catalog/entities/by-query?fullTextFilterTerm=a%00", nil},
		{"by-query: NUL in an order field", "GET", "/api/catalog/entities/by-query?orderField=metadata.%00,asc", nil},
		{"by-query: NUL in a predicate", "POST", "/api/catalog/entities/by-query", map[string]any{"query": map[string]any{"kind": "a\x00"}}},
		{"by-query: deep predicate keys", "POST", "/api/catalog/entities/by-query", map[string]any{"query": map[string]any{"$any": func() []any {
			var out []any
			for i := 0; i < 20; i++ {
				out = append(out, map[string]any{"k" + string(rune('a'+i)) + ".b.c": map[string]any{"$exists": true}})
			}
			return out
		}()}}},
		{"by-refs: NUL", "POST", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{"component:a\x00"}}},
		{"by-uid: NUL", "GET", "/api/catalog/entities/by-uid/a%00", nil},
		{"by-name: NUL", "GET", "/api/catalog/entities/by-name/component/default/a%00", nil},
		{"facets: NUL", "GET", "/api/catalog/entity-facets?facet=kind&filter=kind=%00", nil},
		{"validate: NUL", "POST", "/api/catalog/validate-entity", map[string]any{"location": "url:x", "entity": map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "x", "description": "\x00"}, "spec": map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}}}},
		{"locations: NUL", "POST", "/api/catalog/locations", map[string]any{"type": "url", "target": "https://example.com/\x00"}},
	}
	for name, tok := range badTokens {
		restCases = append(restCases, struct {
			name, method, path string
			body               any
		}{"by-query: cursor " + name, "GET", "/api/catalog/entities/by-query?cursor=" + url.QueryEscape(tok), nil})
	}
	for _, rc := range restCases {
		t.Run("rest/"+rc.name, func(t *testing.T) {
			st, _, v := s.rest(t, &tn.Admin, rc.method, rc.path, rc.body)
			name := field(v, "error", "name")
			if errs, ok := field(v, "errors").([]any); ok && len(errs) > 0 {
				name = field(errs[0], "name") // validate-entity answers as Backstage's does
			}
			if st != http.StatusBadRequest || name != "InputError" {
				t.Fatalf("%s %s = %d %v, want 400 InputError", rc.method, rc.path, st, v)
			}
		})
	}
	if n := total(t, c); n != 12 {
		t.Fatalf("%d entities after bad input, want the fixture's 12", n)
	}
}

func ptr(s string) *string { return &s }
