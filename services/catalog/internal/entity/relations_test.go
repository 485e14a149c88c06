package entity

import (
	"fmt"
	"slices"
	"testing"
)

// edgeStrings renders edges as "source type target" with canonical refs.
func edgeStrings(edges []Edge) []string {
	out := make([]string, len(edges))
	for i, e := range edges {
		out[i] = fmt.Sprintf("%s %s %s", e.Source, e.Type, e.Target)
	}
	return out
}

func TestDeriveEdges(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"component owner defaults to group in own namespace",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"web","namespace":"ns1"},
			  "spec":{"type":"service","lifecycle":"production","owner":"team-a"}}`,
			[]string{"component:ns1/web ownedBy group:ns1/team-a", "group:ns1/team-a ownerOf component:ns1/web"}},
		{"component owner with explicit kind and namespace",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"web"},
			  "spec":{"type":"service","lifecycle":"production","owner":"User:Other/JDoe"}}`,
			[]string{"component:default/web ownedBy user:other/jdoe", "user:other/jdoe ownerOf component:default/web"}},
		{"component every field",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"web","namespace":"ns1"},
			  "spec":{"type":"service","lifecycle":"production","owner":"team-a","subcomponentOf":"app",
			  "providesApis":["web-api"],"consumesApis":["pay-api","x/other-api"],
			  "dependsOn":["resource:db"],"dependencyOf":["component:front"],"system":"shop"}}`,
			[]string{
				"component:ns1/web ownedBy group:ns1/team-a", "group:ns1/team-a ownerOf component:ns1/web",
				"component:ns1/web partOf component:ns1/app", "component:ns1/app hasPart component:ns1/web",
				"component:ns1/web providesApi api:ns1/web-api", "api:ns1/web-api apiProvidedBy component:ns1/web",
				"component:ns1/web consumesApi api:ns1/pay-api", "api:ns1/pay-api apiConsumedBy component:ns1/web",
				"component:ns1/web consumesApi api:x/other-api", "api:x/other-api apiConsumedBy component:ns1/web",
				"component:ns1/web dependsOn resource:ns1/db", "resource:ns1/db dependencyOf component:ns1/web",
				"component:ns1/web dependencyOf component:ns1/front", "component:ns1/front dependsOn component:ns1/web",
				"component:ns1/web partOf system:ns1/shop", "system:ns1/shop hasPart component:ns1/web",
			}},
		{"api owner and system",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"a"},
			  "spec":{"type":"openapi","lifecycle":"x","owner":"t","definition":"d","system":"s"}}`,
			[]string{"api:default/a ownedBy group:default/t", "group:default/t ownerOf api:default/a",
				"api:default/a partOf system:default/s", "system:default/s hasPart api:default/a"}},
		{"resource fields",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Resource","metadata":{"name":"db"},
			  "spec":{"type":"database","owner":"t","dependsOn":["resource:disk"],"dependencyOf":["component:web"],"system":"s"}}`,
			[]string{"resource:default/db ownedBy group:default/t", "group:default/t ownerOf resource:default/db",
				"resource:default/db dependsOn resource:default/disk", "resource:default/disk dependencyOf resource:default/db",
				"resource:default/db dependencyOf component:default/web", "component:default/web dependsOn resource:default/db",
				"resource:default/db partOf system:default/s", "system:default/s hasPart resource:default/db"}},
		{"system owner and domain",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"System","metadata":{"name":"s"},"spec":{"owner":"t","domain":"d"}}`,
			[]string{"system:default/s ownedBy group:default/t", "group:default/t ownerOf system:default/s",
				"system:default/s partOf domain:default/d", "domain:default/d hasPart system:default/s"}},
		{"domain owner and subdomainOf",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Domain","metadata":{"name":"d"},"spec":{"owner":"user:u","subdomainOf":"root"}}`,
			[]string{"domain:default/d ownedBy user:default/u", "user:default/u ownerOf domain:default/d",
				"domain:default/d partOf domain:default/root", "domain:default/root hasPart domain:default/d"}},
		{"group parent children members",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Group","metadata":{"name":"g","namespace":"org"},
			  "spec":{"type":"team","parent":"p","children":["c1","other/c2"],"members":["u1","group:not-a-user"]}}`,
			[]string{"group:org/g childOf group:org/p", "group:org/p parentOf group:org/g",
				"group:org/g parentOf group:org/c1", "group:org/c1 childOf group:org/g",
				"group:org/g parentOf group:other/c2", "group:other/c2 childOf group:org/g",
				"group:org/g hasMember user:org/u1", "user:org/u1 memberOf group:org/g",
				"group:org/g hasMember group:org/not-a-user", "group:org/not-a-user memberOf group:org/g"}},
		{"user memberOf",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"User","metadata":{"name":"u"},"spec":{"memberOf":["g1","org/g2"]}}`,
			[]string{"user:default/u memberOf group:default/g1", "group:default/g1 hasMember user:default/u",
				"user:default/u memberOf group:org/g2", "group:org/g2 hasMember user:default/u"}},
		{"template owner",
			`{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"t"},"spec":{"type":"x","steps":[],"owner":"team"}}`,
			[]string{"template:default/t ownedBy group:default/team", "group:default/team ownerOf template:default/t"}},
		{"template under another apiVersion derives nothing",
			`{"apiVersion":"example.com/v1","kind":"Template","metadata":{"name":"t"},"spec":{"owner":"team"}}`,
			nil},
		{"duplicates collapse",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"User","metadata":{"name":"u"},"spec":{"memberOf":["g","G","group:default/g"]}}`,
			[]string{"user:default/u memberOf group:default/g", "group:default/g hasMember user:default/u"}},
		{"location derives nothing",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Location","metadata":{"name":"l"},"spec":{"targets":["./x.yaml"],"owner":"t"}}`,
			nil},
		{"other kinds derive nothing",
			`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"owner":"t"}}`,
			nil},
		{"known kind in wrong case derives nothing",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"component","metadata":{"name":"w"},"spec":{"owner":"t"}}`,
			nil},
		{"a string where a list belongs counts, wrong types and empty strings are skipped",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"w"},
			  "spec":{"owner":5,"system":"","providesApis":"x","consumesApis":[1,"","ok"]}}`,
			[]string{"component:default/w providesApi api:default/x", "api:default/x apiProvidedBy component:default/w",
				"component:default/w consumesApi api:default/ok", "api:default/ok apiConsumedBy component:default/w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edges, vs := DeriveEdges(mustJSON(t, tt.json))
			if len(vs) != 0 {
				t.Fatalf("violations: %v", vs)
			}
			if got := edgeStrings(edges); !slices.Equal(got, tt.want) {
				t.Fatalf("edges:\n%v\nwant:\n%v", got, tt.want)
			}
		})
	}
}

func TestDeriveEdgesKeepsWrittenCase(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"Web"},
		"spec":{"type":"s","lifecycle":"l","owner":"Team-A"}}`)
	edges, _ := DeriveEdges(e)
	if len(edges) != 2 || edges[0].Target != (Ref{"Group", "default", "Team-A"}) || edges[0].Source != (Ref{"Component", "default", "Web"}) {
		t.Fatalf("edges = %+v", edges)
	}
}

func TestDeriveEdgesViolations(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"w"},
		"spec":{"owner":"group:","dependsOn":["db","resource:db"],"dependencyOf":["x"]}}`)
	edges, vs := DeriveEdges(e)
	var fields []string
	for _, v := range vs {
		fields = append(fields, v.Field)
	}
	if want := []string{"spec.owner", "spec.dependsOn[0]", "spec.dependencyOf[0]"}; !slices.Equal(fields, want) {
		t.Fatalf("violation fields = %v, want %v", fields, want)
	}
	// The good reference still yields its edges.
	if got := edgeStrings(edges); !slices.Equal(got, []string{"component:default/w dependsOn resource:default/db", "resource:default/db dependencyOf component:default/w"}) {
		t.Fatalf("edges = %v", got)
	}
}

func TestRelationsOf(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"Web"},
		"spec":{"type":"s","lifecycle":"l","owner":"team-b","system":"shop","consumesApis":["b","a"],"dependsOn":["component:x"]}}`)
	edges, _ := DeriveEdges(e)
	// An edge produced by another entity about this one (a group listing it) counts too.
	edges = append(edges, Edge{Source: Ref{"component", "default", "web"}, Type: RelationOwnedBy, Target: Ref{"Group", "default", "Team-B"}})
	rels := RelationsOf(e.Ref(), edges)
	var got []string
	for _, r := range rels {
		got = append(got, r.Type+" "+r.TargetRef)
		if r.Target.String() != r.TargetRef || r.Target != r.Target.Lower() {
			t.Errorf("target %+v does not match %s", r.Target, r.TargetRef)
		}
	}
	want := []string{"consumesApi api:default/a", "consumesApi api:default/b", "dependsOn component:default/x",
		"ownedBy group:default/team-b", "partOf system:default/shop"}
	if !slices.Equal(got, want) {
		t.Fatalf("relations = %v\nwant %v", got, want)
	}
	if rels := RelationsOf(Ref{"Component", "default", "nobody"}, edges); rels == nil || len(rels) != 0 {
		t.Errorf("relations of an unrelated ref = %#v, want empty non-nil", rels)
	}
}

func TestInverseRelation(t *testing.T) {
	types := RelationTypes()
	if len(types) != 14 {
		t.Fatalf("RelationTypes = %v", types)
	}
	for _, typ := range types {
		inv, ok := InverseRelation(typ)
		if !ok || inv == typ {
			t.Errorf("InverseRelation(%s) = %s, %v", typ, inv, ok)
		}
		if back, _ := InverseRelation(inv); back != typ {
			t.Errorf("inverse of inverse of %s = %s", typ, back)
		}
	}
	if _, ok := InverseRelation("likes"); ok {
		t.Error("unknown relation type has an inverse")
	}
	// Every derived edge pair uses inverse types.
	for kind, rules := range relationRules {
		for _, r := range rules {
			if inv, _ := InverseRelation(r.outgoing); inv != r.incoming {
				t.Errorf("%s.%s: %s/%s are not inverses", kind, r.field, r.outgoing, r.incoming)
			}
		}
	}
}
