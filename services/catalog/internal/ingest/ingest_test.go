package ingest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/ingest"
	"google.golang.org/protobuf/types/known/structpb"
)

const ok = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: %s}
spec: {type: service, lifecycle: production, owner: team-a}
`

func many(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("---\n")
		fmt.Fprintf(&b, ok, fmt.Sprintf("c%d", i))
	}
	return b.String()
}

func violations(t *testing.T, err error) []rpcerr.Violation {
	t.Helper()
	var de *rpcerr.Error
	if !errors.As(err, &de) || de.Kind != rpcerr.KindInvalid {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	return de.Violations
}

func hasViolation(vs []rpcerr.Violation, field, contains string) bool {
	for _, v := range vs {
		if v.Field == field && strings.Contains(v.Description, contains) {
			return true
		}
	}
	return false
}

func prepare(structs []*structpb.Struct, files ...string) error {
	docs, err := ingest.Documents(structs, files)
	if err != nil {
		return err
	}
	_, err = ingest.Prepare(docs, nil)
	return err
}

func TestBadInput(t *testing.T) {
	bomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	component, _ := structpb.NewStruct(map[string]any{
		"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "from-struct"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"},
	})
	tests := []struct {
		name     string
		structs  []*structpb.Struct
		files    []string
		field    string
		contains string
	}{
		{"malformed yaml", nil, []string{fmt.Sprintf(ok, "a") + "---\nkind: [unclosed\n"}, "documents[1]", "line"},
		{"yaml bomb", nil, []string{bomb}, "documents[0]", "expanding aliases"},
		{"5 MiB batch", nil, []string{many(1) + "\n# " + strings.Repeat("x", 5<<20)}, "documents", "4 MiB"},
		{"1,001 entities", nil, []string{many(1001)}, "documents", "at most 1000"},
		{"1,001 across files and structs", []*structpb.Struct{component}, []string{many(500), many(500)}, "documents", "at most 1000"},
		{"duplicate refs", nil, []string{fmt.Sprintf(ok, "dup") + "---\n" + fmt.Sprintf(ok, "other") + "---\n" + fmt.Sprintf(ok, "DUP")}, "documents[2].metadata.name", "documents[0]"},
		{"duplicate across struct and yaml", []*structpb.Struct{component}, []string{fmt.Sprintf(ok, "From-Struct")}, "documents[1].metadata.name", "documents[0]"},
		{"invalid ref", nil, []string{strings.Replace(fmt.Sprintf(ok, "x"), "owner: team-a", "owner: 'group:'", 1)}, "documents[0].spec.owner", ""},
		{"invalid dependsOn without kind", nil, []string{strings.Replace(fmt.Sprintf(ok, "x"), "owner: team-a", "owner: team-a, dependsOn: [thing]", 1)}, "documents[0].spec.dependsOn[0]", "kind"},
		{"invalid name", nil, []string{fmt.Sprintf(ok, "not a name")}, "documents[0].metadata.name", ""},
		{"not an object", nil, []string{"- just\n- a list\n"}, "documents[0]", "object"},
		{"second file numbering", nil, []string{fmt.Sprintf(ok, "a"), fmt.Sprintf(ok, "b") + "---\n" + fmt.Sprintf(ok, "b b")}, "documents[2].metadata.name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := violations(t, prepare(tt.structs, tt.files...))
			if !hasViolation(vs, tt.field, tt.contains) {
				t.Fatalf("violations %v, want %s containing %q", vs, tt.field, tt.contains)
			}
		})
	}
}

func TestDocumentsNumbering(t *testing.T) {
	s, _ := structpb.NewStruct(map[string]any{"kind": "Component"})
	docs, err := ingest.Documents([]*structpb.Struct{s, s}, []string{many(2), "\n---\n", many(1)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, fmt.Sprintf("%d:%s", d.Index, d.Path))
	}
	want := "0:documents[0] 1:documents[1] 2:documents[2] 3:documents[3] 4:documents[4]"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	// Exactly 1,000 is fine.
	if _, err := ingest.Documents(nil, []string{many(1000)}); err != nil {
		t.Fatal(err)
	}
}

func TestDraft(t *testing.T) {
	docs, err := ingest.Documents(nil, []string{`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Payment-Gateway
  title: The Payment Gateway
  description: Cards and wallets.
  tags: [java]
  annotations: {backstage.io/techdocs-ref: dir:.}
spec: {type: service, lifecycle: production, owner: team-a, system: payments}
`})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ingest.Prepare(docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	if d.Ref != "component:default/payment-gateway" || d.Kind != "component" || d.Namespace != "default" || d.Name != "payment-gateway" {
		t.Fatalf("ref parts = %+v", d)
	}
	if d.Words != "payment gateway the payment gateway cards and wallets java" {
		t.Fatalf("words = %q", d.Words)
	}
	pairs := map[string]string{}
	for _, p := range d.Search {
		v := "<null>"
		if p.Value != nil {
			v = *p.Value
		}
		pairs[p.Key] = v
		if p.Key == "metadata.tags" && !p.Item {
			t.Fatal("a tag is an array item")
		}
		if p.Key == "metadata.tags.java" {
			t.Fatal("array items get no <key>.<item> row")
		}
		if p.Key == "kind" && p.Original != "Component" {
			t.Fatalf("kind original = %q", p.Original)
		}
		if p.Key == "metadata.uid" || p.Key == "metadata.name" || p.Key == "metadata.namespace" {
			t.Fatalf("%s is a column, not a search row", p.Key)
		}
	}
	for k, v := range map[string]string{"kind": "component",
		"metadata.tags": "java", "spec.owner": "team-a", "relations.ownedby": "group:default/team-a", "metadata.annotations.backstage.io/techdocs-ref": "dir:."} {
		if pairs[k] != v {
			t.Errorf("search %s = %q, want %q (all: %v)", k, pairs[k], v, pairs)
		}
	}
	var edges []string
	for _, e := range d.Edges {
		edges = append(edges, e.Source+" "+e.Type+" "+e.Target)
	}
	// Only the entity's own edges: the store reads each in reverse too.
	want := "component:default/payment-gateway ownedBy group:default/team-a|component:default/payment-gateway partOf system:default/payments"
	if strings.Join(edges, "|") != want {
		t.Fatalf("edges = %v", edges)
	}
}
