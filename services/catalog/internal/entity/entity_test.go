package entity

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
)

func TestFromValue(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    Entity
		wantErr string
	}{
		{"numbers become float64", map[string]any{"a": 1, "b": int64(2), "c": uint8(3), "d": float32(1.5), "e": json.Number("7")},
			Entity{"a": 1.0, "b": 2.0, "c": 3.0, "d": 1.5, "e": 7.0}, ""},
		{"nested", map[string]any{"a": []any{map[string]any{"b": []string{"x"}}}},
			Entity{"a": []any{map[string]any{"b": []any{"x"}}}}, ""},
		{"null root", nil, nil, "got null"},
		{"array root", []any{}, nil, "got array"},
		{"string root", "x", nil, "got string"},
		{"NaN", map[string]any{"spec": map[string]any{"x": math.NaN()}}, nil, "spec.x"},
		{"infinity in list", map[string]any{"a": []any{1.0, math.Inf(1)}}, nil, "a[1]"},
		{"non-JSON type", map[string]any{"a b": make(chan int)}, nil, `["a b"]`},
		{"non-string map key", map[string]any{"m": map[int]any{1: "x"}}, nil, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFromValueCopies(t *testing.T) {
	in := map[string]any{"metadata": map[string]any{"name": "a"}}
	e, err := FromValue(in)
	if err != nil {
		t.Fatal(err)
	}
	meta(e)["name"] = "changed"
	if in["metadata"].(map[string]any)["name"] != "a" {
		t.Fatal("FromValue shares maps with its input")
	}
}

func TestFromJSON(t *testing.T) {
	if _, err := FromJSON([]byte(`{"a":1} {"b":2}`)); err == nil {
		t.Error("trailing data accepted")
	}
	if _, err := FromJSON([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
	if _, err := FromJSON([]byte(`[1]`)); err == nil {
		t.Error("array accepted")
	}
	if _, err := FromJSON([]byte(`{"a":1e400}`)); err == nil {
		t.Error("overflowing number accepted")
	}
	e, err := FromJSON([]byte(`{"a":12345678901234567890,"b":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if e["a"] != 12345678901234567890.0 || e["b"] != 0.5 {
		t.Errorf("numbers = %v %v", e["a"], e["b"])
	}
}

func TestStructRoundTrip(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","tags":["x"]},"spec":{"n":2}}`)
	s, err := e.ToStruct()
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromStruct(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip: %v != %v", back, e)
	}
	if _, err := FromStruct(nil); err == nil {
		t.Error("nil struct accepted")
	}
	// structpb's JSON mapping turns NaN into the string "NaN", so it arrives as a string.
	nan, _ := structpb.NewStruct(map[string]any{"a": math.NaN()})
	if got, err := FromStruct(nan); err != nil || got["a"] != "NaN" {
		t.Errorf("NaN: %v, %v", got, err)
	}
}

func TestNormalize(t *testing.T) {
	in := mustJSON(t, `{"apiVersion":"a/v1","kind":"K","relations":[],"status":{},
		"metadata":{"name":"x","uid":"u","etag":"e","generation":3,"annotations":{"a":"b"}},"spec":{"uid":"kept"}}`)
	got := Normalize(in)
	want := mustJSON(t, `{"apiVersion":"a/v1","kind":"K",
		"metadata":{"name":"x","namespace":"default","annotations":{"a":"b"}},"spec":{"uid":"kept"}}`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Normalize = %v\nwant %v", got, want)
	}
	if _, ok := in["relations"]; !ok || meta(in)["uid"] != "u" {
		t.Fatal("Normalize changed its input")
	}

	for _, ns := range []any{nil, ""} {
		e := Normalize(Entity{"metadata": map[string]any{"name": "x", "namespace": ns}})
		if meta(e)["namespace"] != "default" {
			t.Errorf("namespace %v normalized to %v", ns, meta(e)["namespace"])
		}
	}
	e := Normalize(Entity{"metadata": map[string]any{"namespace": "team-ns"}})
	if meta(e)["namespace"] != "team-ns" {
		t.Errorf("explicit namespace replaced: %v", meta(e)["namespace"])
	}
	e = Normalize(Entity{"metadata": map[string]any{"namespace": 5.0}})
	if meta(e)["namespace"] != 5.0 {
		t.Error("a wrongly typed namespace must be left for Validate")
	}
	if got := Normalize(nil); got == nil || len(got) != 0 {
		t.Errorf("Normalize(nil) = %v", got)
	}
	if got := Normalize(Entity{"metadata": "x"}); got["metadata"] != "x" {
		t.Errorf("non-object metadata changed: %v", got)
	}
}

func TestAccessors(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component",
		"metadata":{"name":"Pet","title":"Pet Store","description":"d","uid":"u1","etag":"e1","generation":4,
		"tags":["a",1,"b"],"labels":{"l":"v","n":1},"annotations":{"x":"y"}},"spec":{"owner":"t"}}`)
	checks := []struct{ got, want any }{
		{e.APIVersion(), "backstage.io/v1alpha1"},
		{e.Kind(), "Component"},
		{e.Name(), "Pet"},
		{e.Namespace(), "default"},
		{e.Title(), "Pet Store"},
		{e.Description(), "d"},
		{e.UID(), "u1"},
		{e.EtagField(), "e1"},
		{e.Generation(), int64(4)},
		{e.Tags(), []string{"a", "b"}},
		{e.Labels(), map[string]string{"l": "v"}},
		{e.Annotations(), map[string]string{"x": "y"}},
		{e.Spec()["owner"], "t"},
		{e.Ref(), Ref{Kind: "Component", Namespace: "default", Name: "Pet"}},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("check %d: got %#v, want %#v", i, c.got, c.want)
		}
	}

	// A malformed entity gives zero values, never a panic.
	bad := Entity{"kind": 5.0, "metadata": "x", "spec": []any{}}
	if bad.Kind() != "" || bad.Name() != "" || bad.Namespace() != "default" || bad.Spec() != nil || bad.Tags() != nil || bad.Generation() != 0 {
		t.Error("malformed entity accessors returned non-zero values")
	}
}

func TestSetServerFields(t *testing.T) {
	e := Entity{"kind": "Component"}
	rel := Edge{Type: RelationOwnedBy, Target: Ref{"Group", "default", "Team-A"}}.Relation()
	e.SetServerFields("uid-1", "etag-1", 2, []Relation{rel})
	want := mustJSON(t, `{"kind":"Component","metadata":{"uid":"uid-1","etag":"etag-1","generation":2},
		"relations":[{"type":"ownedBy","targetRef":"group:default/team-a","target":{"kind":"group","namespace":"default","name":"team-a"}}]}`)
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %v\nwant %v", e, want)
	}
	// The result must survive JSON and Struct encoding.
	if _, err := json.Marshal(e); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ToStruct(); err != nil {
		t.Fatal(err)
	}
	e.SetServerFields("uid-1", "etag-2", 3, nil)
	if _, ok := e["relations"]; ok {
		t.Error("nil relations must remove the array")
	}
}

func TestLookup(t *testing.T) {
	e := mustJSON(t, `{"kind":"Component","metadata":{"name":"a","annotations":{"backstage.io/techdocs-ref":"dir:.","backstage.io":"short"}},
		"spec":{"list":[{"a":1}],"nested":{"x":{"y":null}}}}`)
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"kind", "Component", true},
		{"metadata.name", "a", true},
		{"metadata.annotations.backstage.io/techdocs-ref", "dir:.", true},
		{"metadata.annotations.backstage.io", "short", true},
		{"spec.nested.x.y", nil, true},
		{"spec.nested.x", map[string]any{"y": nil}, true},
		{"spec.list.a", nil, false},
		{"spec.missing", nil, false},
		{"metadata.name.x", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, ok := Lookup(e, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}
