package filter

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseOrder(t *testing.T) {
	got, err := ParseOrder([]string{"asc:metadata.name", " desc:Spec.Type "})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Order{{"metadata.name", false}, {"spec.type", true}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, err := ParseOrder(nil); err != nil || len(got) != 0 {
		t.Errorf("no order: %v, %v", got, err)
	}
	bad := []struct {
		params []string
		field  string
	}{
		{[]string{"metadata.name"}, "order[0]"},
		{[]string{"asc:a", "up:metadata.name"}, "order[1]"},
		{[]string{"ASC:metadata.name"}, "order[0]"},
		{[]string{"asc:"}, "order[0]"},
		{[]string{"desc:a..b"}, "order[0]"},
		{[]string{"asc:a", "asc:b", "asc:c", "asc:d", "asc:e", "asc:f"}, "order"},
	}
	for _, tt := range bad {
		_, err := ParseOrder(tt.params)
		var fe *Error
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("ParseOrder(%q) = %v, want error at %s", tt.params, err, tt.field)
		}
	}
	if o, err := NewOrder("Metadata.Title", true); err != nil || o != (Order{"metadata.title", true}) {
		t.Errorf("NewOrder = %v, %v", o, err)
	}
	if _, err := NewOrder("", false); err == nil {
		t.Error("NewOrder accepted an empty field")
	}
}

func TestParseFields(t *testing.T) {
	p, err := ParseFields([]string{"kind, metadata.name", "", "kind,spec.owner,"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kind", "metadata.name", "spec.owner"}; !reflect.DeepEqual(p.Fields(), want) {
		t.Errorf("Fields = %v, want %v", p.Fields(), want)
	}
	if p, err := ParseFields([]string{" , "}); err != nil || !p.IsZero() {
		t.Errorf("blank fields: %v, %v", p, err)
	}
	bad := []struct {
		params []string
		field  string
	}{
		{[]string{"kind", "relations[0]"}, "fields[1]"},
		{[]string{"a..b"}, "fields[0]"},
		{[]string{strings.Repeat("f", MaxKeyLength+1)}, "fields[0]"},
		{[]string{"kind", manyFields(MaxFields)}, "fields[1]"},
	}
	for _, tt := range bad {
		_, err := ParseFields(tt.params)
		var fe *Error
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("ParseFields(%q) = %v, want error at %s", tt.params, err, tt.field)
		}
	}
}

func manyFields(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("spec.f%d", i)
	}
	return strings.Join(names, ",")
}

func TestProjectionApply(t *testing.T) {
	e := map[string]any{
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "Component",
		"metadata": map[string]any{
			"name":        "web",
			"tags":        []any{"java"},
			"annotations": map[string]any{"backstage.io/techdocs-ref": "dir:.", "other": "x"},
		},
		"spec":      map[string]any{"owner": "team-a", "type": "service"},
		"relations": []any{map[string]any{"type": "ownedBy"}},
	}
	tests := []struct {
		fields []string
		want   map[string]any
	}{
		{[]string{"kind", "metadata.name"}, map[string]any{"kind": "Component", "metadata": map[string]any{"name": "web"}}},
		{[]string{"metadata.tags", "spec.missing", "nope.deeper"}, map[string]any{"metadata": map[string]any{"tags": []any{"java"}}}},
		{[]string{"metadata.annotations.backstage.io/techdocs-ref"},
			map[string]any{"metadata": map[string]any{"annotations": map[string]any{"backstage.io/techdocs-ref": "dir:."}}}},
		{[]string{"metadata", "metadata.name"}, map[string]any{"metadata": e["metadata"]}},
		{[]string{"metadata.name", "metadata"}, map[string]any{"metadata": e["metadata"]}},
		{[]string{"spec.owner", "spec.type"}, map[string]any{"spec": map[string]any{"owner": "team-a", "type": "service"}}},
		{[]string{"relations.type", "kind.x"}, map[string]any{}},
		{[]string{"relations"}, map[string]any{"relations": e["relations"]}},
	}
	for _, tt := range tests {
		p, err := ParseFields(tt.fields)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Apply(e); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Apply(%v) = %v, want %v", tt.fields, got, tt.want)
		}
	}
	// The entity itself is never written to.
	if meta := e["metadata"].(map[string]any); len(meta) != 3 || len(e) != 5 {
		t.Errorf("entity changed: %v", e)
	}
	var zero Projection
	if got := zero.Apply(e); !reflect.DeepEqual(got, e) {
		t.Error("zero projection must return the entity")
	}
}
