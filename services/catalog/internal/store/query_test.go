package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
)

func fixture(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	env := catalogtest.New(t)
	ctx := env.Tenant(t, "acme").Ctx()
	apply(t, ctx, env.Store, store.ApplyOptions{}, catalogtest.Fixture)
	return env.Store, ctx
}

func names(es []entity.Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name()
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func list(t *testing.T, ctx context.Context, s *store.Store, spec query.Spec, limit int) store.Page {
	t.Helper()
	return listRequest(t, ctx, s, query.Request{Spec: spec, Limit: limit})
}

// listRequest lists the page req asks for.
func listRequest(t *testing.T, ctx context.Context, s *store.Store, req query.Request) store.Page {
	t.Helper()
	q, _, err := query.Build(req)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.List(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFilterSemantics(t *testing.T) {
	s, ctx := fixture(t)
	all := list(t, ctx, s, query.Spec{}, 500)
	if len(all.Entities) != 12 || all.Total != 12 {
		t.Fatalf("all = %d entities, total %d", len(all.Entities), all.Total)
	}
	tests := []struct {
		name   string
		filter []string
		pred   string
		want   []string
	}{
		{"kind", []string{"kind=component"}, "", []string{"checkout-web", "ledger", "payment-gateway"}},
		{"kind case-insensitive", []string{"KIND=Component"}, "", []string{"checkout-web", "ledger", "payment-gateway"}},
		{"and", []string{"kind=component,spec.type=service"}, "", []string{"ledger", "payment-gateway"}},
		{"repeated key is in", []string{"kind=component,spec.type=service,spec.type=website"}, "", []string{"checkout-web", "ledger", "payment-gateway"}},
		{"sets are ored", []string{"kind=api", "kind=resource"}, "", []string{"payments-api", "payments-db"}},
		{"exists", []string{"spec.system"}, "", []string{"payment-gateway", "payments-db"}},
		{"exists and value", []string{"spec.system,kind=resource"}, "", []string{"payments-db"}},
		{"array any item, case-insensitive", []string{"metadata.tags=JAVA"}, "", []string{"ledger", "payment-gateway"}},
		{"array item key", []string{"metadata.tags.react=true"}, "", []string{"checkout-web"}},
		{"array item key exists", []string{"spec.consumesApis.payments-api"}, "", []string{"checkout-web"}},
		{"array item key holding dots and colons", []string{"spec.dependsOn.resource:payments-db"}, "", []string{"payment-gateway"}},
		{"scalar is not an array item", []string{"spec.owner.team-a"}, "", nil},
		{"array item key, other value", []string{"metadata.tags.react=false"}, "", nil},
		{"nested value", []string{"spec.profile.displayname=alice liddell"}, "", []string{"alice"}},
		{"name column", []string{"metadata.name=LEDGER"}, "", []string{"ledger"}},
		{"namespace column", []string{"metadata.namespace=default,kind=user"}, "", []string{"alice", "bob"}},
		{"relation outgoing", []string{"relations.ownedBy=group:default/team-a"}, "", []string{"ledger", "payment-gateway", "payments", "payments-api", "payments-db"}},
		{"relation lowercased key", []string{"relations.ownedby=GROUP:default/team-b"}, "", []string{"checkout-web"}},
		{"relation inverse", []string{"relations.ownerOf=component:default/ledger"}, "", []string{"team-a"}},
		{"relation member", []string{"relations.hasMember=user:default/alice"}, "", []string{"team-a"}},
		{"relation exists", []string{"relations.partOf,kind=component"}, "", []string{"payment-gateway"}},
		{"no match", []string{"kind=nothing"}, "", nil},
		{"unknown key", []string{"spec.nope=1"}, "", nil},
		{"predicate not", nil, `{"$not": {"kind": {"$in": ["component", "group", "user"]}}}`, []string{"commerce", "payments", "payments-api", "payments-db"}},
		{"predicate prefix", nil, `{"metadata.name": {"$hasPrefix": "PAY"}}`, []string{"payment-gateway", "payments", "payments-api", "payments-db"}},
		{"predicate any/all", nil, `{"$any": [{"$all": [{"kind": "component"}, {"spec.lifecycle": "experimental"}]}, {"kind": "domain"}]}`, []string{"commerce", "ledger"}},
		{"predicate exists false", nil, `{"kind": "component", "metadata.tags": {"$exists": false}}`, nil},
		{"predicate search prefix", nil, `{"spec.type": {"$hasPrefix": "web"}}`, []string{"checkout-web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := query.Spec{Filter: tt.filter}
			if tt.pred != "" {
				spec.Predicate = json.RawMessage(tt.pred)
			}
			p := list(t, ctx, s, spec, 500)
			got := sorted(names(p.Entities))
			if !slices.Equal(got, sorted(tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if p.Total != int64(len(tt.want)) {
				t.Fatalf("total = %d, want %d", p.Total, len(tt.want))
			}
			if tt.filter == nil {
				return
			}
			// The SQL agrees with the filter package's reference semantics over the entities
			// as read (relations included).
			node, err := filter.Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ref []string
			for _, e := range all.Entities {
				if filter.Match(node, filter.Flatten(map[string]any(e))) {
					ref = append(ref, e.Name())
				}
			}
			if !slices.Equal(sorted(ref), got) {
				t.Fatalf("reference semantics give %v, SQL %v", sorted(ref), got)
			}
		})
	}
}

func TestBadQueries(t *testing.T) {
	for _, spec := range []query.Spec{
		{Filter: []string{"=x"}},
		{Filter: []string{"a..b=1"}},
		{Predicate: json.RawMessage(`{"$nope": 1}`)},
		{Predicate: json.RawMessage(`{"kind": {"$in": "x"}}`)},
		{Predicate: json.RawMessage(`[1]`)},
		{Filter: []string{"kind=a"}, Predicate: json.RawMessage(`{"kind": "a"}`)},
		{Order: []query.Order{{Field: ""}}},
		{FullText: strings.Repeat("x", 201)},
	} {
		if _, _, err := query.Build(query.Request{Spec: spec, TokenField: "page_token"}); err == nil {
			t.Errorf("%+v: no error", spec)
		}
	}
	for _, tok := range []string{"garbage", "e30", query.Token{Pos: store.Position{UID: "not-a-uuid"}}.Encode()} {
		if _, _, err := query.Build(query.Request{Token: tok, TokenField: "page_token"}); err == nil {
			t.Errorf("token %q: no error", tok)
		}
	}
}

func TestFullText(t *testing.T) {
	s, ctx := fixture(t)
	tests := []struct {
		term string
		want []string
	}{
		{"pay", []string{"payment-gateway", "payments", "payments-api", "payments-db"}},
		{"gateway", []string{"payment-gateway"}},
		{"pay gate", []string{"payment-gateway"}},
		{"Card", []string{"payment-gateway", "payments-api"}}, // description words, any case
		{"react", []string{"checkout-web"}},                   // tags
		{"team a", []string{"team-a"}},                        // title "Team A"
		{"bookkeep", []string{"ledger"}},                      // prefix inside a description
		{"zzz", nil},                                          // nothing
		{"'&|!:*()", nil},                                     // no words: nothing, not everything
	}
	for _, tt := range tests {
		spec := query.Spec{FullText: tt.term}
		p := list(t, ctx, s, spec, 100)
		if got := sorted(names(p.Entities)); !slices.Equal(got, sorted(tt.want)) {
			t.Errorf("%q: got %v, want %v", tt.term, got, tt.want)
		}
	}
	// Full text combines with filters.
	p := list(t, ctx, s, query.Spec{FullText: "pay", Filter: []string{"kind=api"}}, 100)
	if got := names(p.Entities); !slices.Equal(got, []string{"payments-api"}) || p.Total != 1 {
		t.Fatalf("filtered full text = %v (total %d)", got, p.Total)
	}
}

func TestFacets(t *testing.T) {
	s, ctx := fixture(t)
	facets, err := s.Facets(ctx, []string{"kind", "spec.type", "metadata.tags", "relations.ownedBy", "spec.nothing"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := func(name string) string {
		var parts []string
		for _, v := range facets[name] {
			parts = append(parts, fmt.Sprintf("%s=%d", v.Value, v.Count))
		}
		return strings.Join(parts, " ")
	}
	want := map[string]string{
		"kind":              "Component=3 Group=3 User=2 API=1 Domain=1 Resource=1 System=1",
		"spec.type":         "service=2 team=2 database=1 openapi=1 organization=1 website=1",
		"metadata.tags":     "java=2 go=1 payments=1 react=1",
		"relations.ownedBy": "group:default/team-a=5 group:default/org=1 group:default/team-b=1",
		"spec.nothing":      "",
	}
	for name, w := range want {
		if g := got(name); g != w {
			t.Errorf("facet %s = %q, want %q", name, g, w)
		}
	}
	node, _ := filter.Parse([]string{"kind=component"})
	facets, err = s.Facets(ctx, []string{"spec.lifecycle", "relations.ownedBy"}, store.FromFilter(node))
	if err != nil {
		t.Fatal(err)
	}
	if g := got("spec.lifecycle"); g != "production=2 experimental=1" {
		t.Errorf("filtered lifecycle = %q", g)
	}
	if g := got("relations.ownedBy"); g != "group:default/team-a=2 group:default/team-b=1" {
		t.Errorf("filtered owners = %q", g)
	}
	// Name and namespace come from columns, names as written.
	apply(t, ctx, s, store.ApplyOptions{}, petstore("x", "production"))
	facets, err = s.Facets(ctx, []string{"metadata.name", "metadata.namespace"}, store.FromFilter(node))
	if err != nil {
		t.Fatal(err)
	}
	if g := got("metadata.name"); g != "Petstore=1 checkout-web=1 ledger=1 payment-gateway=1" {
		t.Errorf("name facet = %q", g)
	}
	if g := got("metadata.namespace"); g != "default=4" {
		t.Errorf("namespace facet = %q", g)
	}
}

func TestRelationsBothWays(t *testing.T) {
	s, ctx := fixture(t)
	teamA, err := s.GetByRef(ctx, "group:default/team-a")
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, r := range teamA["relations"].([]any) {
		m := r.(map[string]any)
		rels = append(rels, m["type"].(string)+" "+m["targetRef"].(string))
	}
	want := []string{
		"childOf group:default/org",        // its own spec.parent
		"hasMember user:default/alice",     // alice's memberOf
		"ownerOf api:default/payments-api", // the owners' specs
		"ownerOf component:default/ledger",
		"ownerOf component:default/payment-gateway",
		"ownerOf resource:default/payments-db",
		"ownerOf system:default/payments",
	}
	if !slices.Equal(rels, want) {
		t.Fatalf("team-a relations = %v\nwant %v", rels, want)
	}
	pg, _ := s.GetByRef(ctx, "component:default/payment-gateway")
	first := pg["relations"].([]any)[0].(map[string]any)
	if first["type"] != "dependsOn" || first["targetRef"] != "resource:default/payments-db" ||
		first["target"].(map[string]any)["kind"] != "resource" {
		t.Fatalf("relation shape = %v", first)
	}

	g, err := s.Walk(ctx, "component:default/ledger", []string{"ownedby"}, store.Outgoing, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 1 || g.Edges[0] != (store.Edge{Source: "component:default/ledger", Type: "ownedBy", Target: "group:default/team-a"}) || len(g.Entities) != 2 {
		t.Fatalf("depth 1 = %+v", g)
	}
	g, err = s.Walk(ctx, "component:default/ledger", []string{"ownedBy", "childOf"}, store.Outgoing, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(g.Entities); !slices.Equal(got, []string{"ledger", "team-a", "org"}) {
		t.Fatalf("depth 2 reached %v", got)
	}
	g, err = s.Walk(ctx, "group:default/team-a", []string{"ownedBy"}, store.Incoming, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 5 {
		t.Fatalf("incoming ownedBy edges = %+v", g.Edges)
	}
	g, err = s.Walk(ctx, "group:default/team-a", nil, store.Both, 5, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Truncated || len(g.Entities) > 4 {
		t.Fatalf("limited walk = truncated %v, %d entities", g.Truncated, len(g.Entities))
	}
	// Deleting an entity drops the edges it produced: team-a is no longer ledger's owner by
	// ledger's spec, and its ownerOf edge to ledger is gone.
	ledger, _ := s.GetByRef(ctx, "component:default/ledger")
	if err := s.Delete(ctx, ledger.UID()); err != nil {
		t.Fatal(err)
	}
	teamA, _ = s.GetByRef(ctx, "group:default/team-a")
	for _, r := range teamA["relations"].([]any) {
		if r.(map[string]any)["targetRef"] == "component:default/ledger" {
			t.Fatalf("relation to the deleted ledger survives: %v", r)
		}
	}
	// A dangling target is fine.
	apply(t, ctx, s, store.ApplyOptions{}, strings.Replace(petstore("x", "production"), "team-a", "group:ghosts", 1))
	g, err = s.Walk(ctx, "component:default/petstore", []string{"ownedBy"}, store.Outgoing, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 1 || g.Edges[0].Target != "group:default/ghosts" || len(g.Entities) != 1 {
		t.Fatalf("dangling walk = %+v", g)
	}
}

// Facet counts beside a search count the search's results only (the portal showed counts
// of the whole catalog next to a filtered list).
func TestFacetsMatchingFullText(t *testing.T) {
	s, ctx := fixture(t)
	facets, err := s.FacetsMatching(ctx, []string{"kind", "metadata.tags"}, nil, "pay")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, v := range facets["kind"] {
		total += v.Count
	}
	p := list(t, ctx, s, query.Spec{FullText: "pay"}, 100)
	if total != p.Total || total == 0 {
		t.Fatalf("kind counts under the term sum to %d, the list has %d: %v", total, p.Total, facets["kind"])
	}
	node, _ := filter.Parse([]string{"kind=api"})
	facets, err = s.FacetsMatching(ctx, []string{"kind"}, store.FromFilter(node), "pay")
	if err != nil {
		t.Fatal(err)
	}
	if len(facets["kind"]) != 1 || facets["kind"][0].Count != 1 {
		t.Fatalf("filtered and searched kinds = %v", facets["kind"])
	}
	facets, err = s.FacetsMatching(ctx, []string{"kind"}, nil, "!!!")
	if err != nil {
		t.Fatal(err)
	}
	if len(facets["kind"]) != 0 {
		t.Fatalf("punctuation-only term counts %v, want nothing", facets["kind"])
	}
}
