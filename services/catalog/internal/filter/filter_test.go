package filter

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"atrium.dev/services/catalog/internal/entity"
)

func allOf(conds ...Cond) All {
	a := All{}
	for _, c := range conds {
		a.Of = append(a.Of, c)
	}
	return a
}

func anyOf(sets ...All) Any {
	a := Any{}
	for _, s := range sets {
		a.Of = append(a.Of, s)
	}
	return a
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		filters []string
		want    Node
	}{
		{"none", nil, nil},
		{"only blanks", []string{"", " , ,"}, nil},
		{"one condition", []string{"kind=component"}, anyOf(allOf(Cond{"kind", []string{"component"}}))},
		{"and", []string{"kind=component,spec.type=service"},
			anyOf(allOf(Cond{"kind", []string{"component"}}, Cond{"spec.type", []string{"service"}}))},
		{"or of sets", []string{"kind=component", "kind=api,spec.type=openapi"},
			anyOf(allOf(Cond{"kind", []string{"component"}}), allOf(Cond{"kind", []string{"api"}}, Cond{"spec.type", []string{"openapi"}}))},
		{"repeated key is in", []string{"spec.type=service,kind=component,spec.type=website"},
			anyOf(allOf(Cond{"spec.type", []string{"service", "website"}}, Cond{"kind", []string{"component"}}))},
		{"bare key exists", []string{"metadata.tags"}, anyOf(allOf(Cond{"metadata.tags", nil}))},
		{"key= is exists", []string{"spec.owner="}, anyOf(allOf(Cond{"spec.owner", nil}))},
		{"bare key with values is the values", []string{"kind,kind=API"}, anyOf(allOf(Cond{"kind", []string{"api"}}))},
		{"case folded", []string{"Kind=Component,Relations.OwnedBy=Group:Default/Team-A"},
			anyOf(allOf(Cond{"kind", []string{"component"}}, Cond{"relations.ownedby", []string{"group:default/team-a"}}))},
		{"duplicate values collapse", []string{"kind=a,kind=A,kind=a"}, anyOf(allOf(Cond{"kind", []string{"a"}}))},
		{"whitespace trimmed", []string{"  kind = component , spec.type=  service  "},
			anyOf(allOf(Cond{"kind", []string{"component"}}, Cond{"spec.type", []string{"service"}}))},
		{"value keeps later equals signs", []string{"metadata.annotations.x=a=b"}, anyOf(allOf(Cond{"metadata.annotations.x", []string{"a=b"}}))},
		{"annotation key with slash and dots", []string{"metadata.annotations.backstage.io/techdocs-ref=dir:."},
			anyOf(allOf(Cond{"metadata.annotations.backstage.io/techdocs-ref", []string{"dir:."}}))},
		{"empty sets dropped", []string{"", "kind=a"}, anyOf(allOf(Cond{"kind", []string{"a"}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name    string
		filters []string
		field   string
		msg     string
	}{
		{"missing key", []string{"kind=a", "=x"}, "filter[1]", "not a valid statement"},
		{"empty segment", []string{"spec..type=x"}, "filter[0]", "empty path segment"},
		{"leading dot", []string{".kind"}, "filter[0]", "empty path segment"},
		{"trailing dot", []string{"spec.=x"}, "filter[0]", "empty path segment"},
		{"control character", []string{"ki\x01nd=x"}, "filter[0]", "control character"},
		{"key too long", []string{strings.Repeat("k", MaxKeyLength+1)}, "filter[0]", "longer than 200"},
		{"value too long", []string{"kind=" + strings.Repeat("v", MaxValueLength+1)}, "filter[0]", "longer than 200"},
		{"too many sets", many(MaxFilterSets+1, func(i int) string { return fmt.Sprintf("kind=k%d", i) }), "filter[50]", "filter sets"},
		// Issue 6, finding 5: one set of 50 keys of 95 segments compiled to 4,750 subqueries
		// and took 11 s to plan.
		{"the finding", []string{strings.Join(many(50, func(j int) string { return deepKey(95, j) }), ",")}, "filter[0]", "95 path segments"},
		{"key too deep", []string{"kind=x", deepKey(MaxPathDepth+1, 0)}, "filter[1]", "at most 16"},
		{"too many keys in a set", many(2, func(i int) string {
			return strings.Join(many(MaxKeysPerSet+1, func(j int) string { return fmt.Sprintf("spec.k%d=v", j) }), ",")
		}), "filter[0]", "keys in one filter set"},
		{"too many subqueries", many(5, func(i int) string { return fmt.Sprintf("spec.k%d", i) }), "filter[4]", "10 subqueries"},
		{"deep keys use the budget up", []string{deepKey(MaxSubqueries, 0), "spec.type=x"}, "filter[1]", "9 subqueries"},
		{"too many conditions", append(many(MaxFilterSets, func(i int) string {
			return "kind=a,metadata.namespace=b,metadata.name=c,metadata.uid=d"
		}), "kind=e"), "filter[50]", "filter sets"},
		{"too many values", many(2, func(i int) string {
			return strings.Join(many(600, func(j int) string { return fmt.Sprintf("kind=v%d", j) }), ",")
		}), "filter[1]", "values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.filters)
			var fe *Error
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Description, tt.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.field, tt.msg)
			}
		})
	}
	// At the limits exactly, parsing succeeds.
	atLimits := [][]string{
		many(MaxFilterSets, func(i int) string { return "kind=a,metadata.namespace=b,metadata.name=c,metadata.uid=d" }),
		{deepKey(MaxSubqueries, 0)},
		many(MaxSubqueries/2, func(i int) string { return fmt.Sprintf("spec.k%d", i) }),
		{"kind=a,metadata.namespace=b,metadata.name=c,metadata.uid=d," + strings.Join(many(MaxKeysPerSet-4, func(j int) string { return fmt.Sprintf("spec.k%d=v", j) }), ",")},
		many(MaxSubqueries/2, func(i int) string { return fmt.Sprintf("relations.r%d", i) }),
	}
	for i, f := range atLimits {
		if _, err := Parse(f); err != nil {
			t.Errorf("at limits %d: %v", i, err)
		}
	}
	if _, err := Parse(many(MaxFilterSets, func(i int) string { return "kind=x" })); err != nil {
		t.Errorf("%d sets: %v", MaxFilterSets, err)
	}
	if _, err := Parse([]string{"kind=" + strings.Repeat("v", MaxValueLength)}); err != nil {
		t.Errorf("value of %d characters: %v", MaxValueLength, err)
	}
}

func TestNormalizeKey(t *testing.T) {
	if k, err := NormalizeKey("Relations.OwnedBy"); err != nil || k != "relations.ownedby" {
		t.Errorf("NormalizeKey = %q, %v", k, err)
	}
	for _, bad := range []string{"", "a..b", ".a", "a.", "a\nb", strings.Repeat("x", 201)} {
		if _, err := NormalizeKey(bad); err == nil {
			t.Errorf("NormalizeKey(%q) accepted", bad)
		}
	}
}

// catalog is a small catalog to run filters over.
func catalog(t *testing.T) map[string][]Pair {
	t.Helper()
	docs := []string{
		`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"web","tags":["java","Frontend"]},
		  "spec":{"type":"website","lifecycle":"production","owner":"team-a","system":"shop"}}`,
		`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"pay","tags":["go"],
		  "annotations":{"backstage.io/techdocs-ref":"dir:."}},
		  "spec":{"type":"service","lifecycle":"experimental","owner":"group:payments/team-b"}}`,
		`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"pay-api","namespace":"payments"},
		  "spec":{"type":"openapi","lifecycle":"production","owner":"team-b","definition":"x"}}`,
		`{"apiVersion":"backstage.io/v1alpha1","kind":"Group","metadata":{"name":"team-a"},"spec":{"type":"team","children":[]}}`,
	}
	out := map[string][]Pair{}
	for _, d := range docs {
		e, err := entity.FromJSON([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		e = entity.Normalize(e)
		edges, vs := entity.DeriveEdges(e)
		if len(vs) > 0 {
			t.Fatal(vs)
		}
		e.SetServerFields("uid-"+e.Name(), entity.Etag(e), 1, entity.RelationsOf(e.Ref(), edges))
		out[e.Name()] = Flatten(e)
	}
	return out
}

func TestMatchSemantics(t *testing.T) {
	cat := catalog(t)
	tests := []struct {
		name    string
		filters []string
		want    []string
	}{
		{"no filter matches all", nil, []string{"pay", "pay-api", "team-a", "web"}},
		{"equality", []string{"kind=component"}, []string{"pay", "web"}},
		{"case-insensitive key and value", []string{"KIND=Component"}, []string{"pay", "web"}},
		{"and", []string{"kind=component,spec.lifecycle=production"}, []string{"web"}},
		{"or", []string{"kind=api", "kind=group"}, []string{"pay-api", "team-a"}},
		{"in", []string{"spec.type=service,spec.type=openapi"}, []string{"pay", "pay-api"}},
		{"exists", []string{"spec.system"}, []string{"web"}},
		{"exists and value", []string{"metadata.tags,kind=component"}, []string{"pay", "web"}},
		{"array matches any item", []string{"metadata.tags=java"}, []string{"web"}},
		{"array item case-insensitive", []string{"metadata.tags=frontend"}, []string{"web"}},
		{"array item key", []string{"metadata.tags.go"}, []string{"pay"}},
		{"namespace", []string{"metadata.namespace=payments"}, []string{"pay-api"}},
		{"default namespace", []string{"metadata.namespace=default,kind=component"}, []string{"pay", "web"}},
		{"relations", []string{"relations.ownedBy=group:default/team-a"}, []string{"web"}},
		{"relation to other namespace", []string{"relations.ownedby=group:payments/team-b"}, []string{"pay", "pay-api"}},
		{"incoming relation derived from the other side is not stored here", []string{"relations.ownerOf"}, nil},
		{"relation exists", []string{"relations.partOf"}, []string{"web"}},
		{"annotation with dots and slash", []string{"metadata.annotations.backstage.io/techdocs-ref=dir:."}, []string{"pay"}},
		{"uid", []string{"metadata.uid=UID-PAY"}, []string{"pay"}},
		{"no match", []string{"kind=domain"}, nil},
		{"or of ands", []string{"kind=component,metadata.tags=go", "kind=group,spec.type=team"}, []string{"pay", "team-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, name := range []string{"pay", "pay-api", "team-a", "web"} {
				if Match(n, cat[name]) {
					got = append(got, name)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchTree(t *testing.T) {
	pairs := []Pair{{Key: "kind", Value: "component", Original: "Component"}, {Key: "spec.x", Null: true}}
	tests := []struct {
		n    Node
		want bool
	}{
		{Not{Cond{"kind", []string{"api"}}}, true},
		{Not{Cond{"kind", nil}}, false},
		{All{}, true},
		{Any{}, false},
		{Cond{"spec.x", nil}, true},           // null values exist
		{Cond{"spec.x", []string{""}}, false}, // but equal nothing
		{All{Of: []Node{Cond{"kind", nil}, Not{Cond{"spec.y", nil}}}}, true},
	}
	for i, tt := range tests {
		if got := Match(tt.n, pairs); got != tt.want {
			t.Errorf("case %d: Match(%#v) = %v", i, tt.n, got)
		}
	}
}

// deepKey is a key of n segments, the first naming i.
func deepKey(n, i int) string {
	return fmt.Sprintf("k%d", i) + strings.Repeat(".a", n-1)
}

// TestSubqueries: the cost of a condition in subqueries (store's tests check that the
// compiled SQL has as many).
func TestSubqueries(t *testing.T) {
	tests := []struct {
		key    string
		values []string
		want   int
	}{
		{"kind", nil, 0}, {"metadata.name", []string{"x"}, 0},
		{"relations.ownedby", nil, 2},
		{"spec.type", []string{"service"}, 1},
		{"spec.type", nil, 2},
		{"metadata.tags.java", []string{"true"}, 3},
		{"metadata.annotations.backstage.io/techdocs-ref", nil, 4},
	}
	for _, tt := range tests {
		if got := Subqueries(tt.key, tt.values, true); got != tt.want {
			t.Errorf("Subqueries(%s, %v) = %d, want %d", tt.key, tt.values, got, tt.want)
		}
	}
}
