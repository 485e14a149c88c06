package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/synth"
)

// A load of several refs (relations from one scan per relations index for all of them) gives
// each entity exactly as a load of its ref alone does (relations from subqueries per row):
// the same relations in the same order, nil for a missing ref or one a filter drops, every
// place of a repeated ref filled, on the fixture (relations both ways, between the refs of
// one call too, dangling ones), a self-dependent component and a synthetic catalog whose
// groups have hundreds of relations.
func TestByRefsMatchesByRef(t *testing.T) {
	env := catalogtest.New(t)
	ctx := env.Tenant(t, "byrefs").Ctx()
	s := env.Store
	apply(t, ctx, s, store.ApplyOptions{}, catalogtest.Fixture,
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: loop}\nspec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:loop, component:gone]}\n")
	cat := synth.Generate(2000, 7)
	docs := make([]ingest.Doc, len(cat.Entities))
	for i, e := range cat.Entities {
		docs[i] = ingest.Doc{Index: i, Path: "documents", Entity: e}
	}
	ds, err := ingest.Prepare(docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, ds, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	all := []string{"component:default/loop", "component:default/gone"}
	for _, d := range ds {
		all = append(all, d.Ref)
	}
	for _, name := range []string{"org", "team-a", "team-b"} {
		all = append(all, "group:default/"+name)
	}
	all = append(all, "user:default/alice", "system:default/payments", "component:default/payment-gateway",
		"component:default/checkout-web", "api:default/payments-api", "resource:default/payments-db", "domain:default/commerce")

	enc := store.Encoder{Name: "json", Encode: func(e entity.Entity) ([]byte, error) { return json.Marshal(e) }}
	one := func(ref string) []byte {
		t.Helper()
		e, err := s.GetByRef(ctx, ref)
		if err != nil {
			return nil
		}
		if rels, _ := e["relations"].([]any); ref == "component:default/loop" && len(rels) != 4 {
			t.Fatalf("loop's relations %v, want dependsOn and dependencyOf itself, dependsOn gone, ownedBy", rels)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	components, err := filter2([]string{"kind=component"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(refs []string) {
		t.Helper()
		for _, filter := range []store.Expr{nil, components} {
			got, err := s.GetEncodedByRefs(ctx, refs, filter, enc)
			if err != nil {
				t.Fatal(err)
			}
			ents, err := s.GetByRefsWhere(ctx, refs, filter)
			if err != nil {
				t.Fatal(err)
			}
			for i, ref := range refs {
				want := one(ref)
				if filter != nil && want != nil && ents[i].Kind() != "Component" {
					want = nil
				}
				var decoded []byte
				if ents[i] != nil {
					decoded, _ = json.Marshal(ents[i])
				}
				if !bytes.Equal(got[i], want) || !bytes.Equal(decoded, want) {
					t.Fatalf("refs[%d] %s (filter %v):\nby refs %s\ndecoded %s\nby ref  %s", i, ref, filter != nil, got[i], decoded, want)
				}
			}
		}
	}
	check(all[:2])
	check(all[len(all)-12:])
	check(append([]string{"component:default/none", all[len(all)-3], "component:default/none"}, all[len(all)-3:]...))
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 8; round++ {
		refs := make([]string, 100)
		for i := range refs {
			refs[i] = all[r.IntN(len(all))]
		}
		refs[r.IntN(100)] = fmt.Sprintf("component:default/missing-%d", round)
		check(refs)
	}
}
