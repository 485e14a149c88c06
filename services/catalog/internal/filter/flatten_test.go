package filter

import (
	"reflect"
	"strings"
	"testing"
)

func TestFlatten(t *testing.T) {
	e := map[string]any{
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "Component",
		"metadata": map[string]any{
			"name": "Web", "namespace": "default", "uid": "U-1", "etag": "skipped",
			"tags":        []any{"java", "Java", "go"},
			"annotations": map[string]any{"Backstage.io/Ref": "Dir:."},
		},
		"spec": map[string]any{
			"owner": "Team-A", "replicas": 3.0, "ratio": 0.5, "tiny": 1e-7, "on": true, "gone": nil,
			"ports": []any{map[string]any{"port": 80.0}, map[string]any{"port": 443.0}},
			"empty": []any{}, "obj": map[string]any{},
		},
		"status":      map[string]any{"items": []any{"skipped"}},
		"attachments": "skipped",
		"relations": []any{
			map[string]any{"type": "ownedBy", "targetRef": "group:default/team-a"},
			map[string]any{"type": "partOf", "targetRef": "system:default/shop"},
			map[string]any{"type": "bad"},
		},
	}
	want := []Pair{
		{Key: "apiversion", Value: "backstage.io/v1alpha1", Original: "backstage.io/v1alpha1"},
		{Key: "kind", Value: "component", Original: "Component"},
		{Key: "metadata.annotations.backstage.io/ref", Value: "dir:.", Original: "Dir:."},
		{Key: "metadata.tags", Value: "java", Original: "java"},
		{Key: "metadata.tags.java", Value: "true", Original: "true"},
		{Key: "metadata.tags", Value: "go", Original: "go"},
		{Key: "metadata.tags.go", Value: "true", Original: "true"},
		{Key: "spec.gone", Null: true},
		{Key: "spec.on", Value: "true", Original: "true"},
		{Key: "spec.owner", Value: "team-a", Original: "Team-A"},
		{Key: "spec.ports.port", Value: "80", Original: "80"},
		{Key: "spec.ports.port", Value: "443", Original: "443"},
		{Key: "spec.ratio", Value: "0.5", Original: "0.5"},
		{Key: "spec.replicas", Value: "3", Original: "3"},
		{Key: "spec.tiny", Value: "1e-7", Original: "1e-7"},
		{Key: "metadata.name", Value: "web", Original: "Web"},
		{Key: "metadata.namespace", Value: "default", Original: "default"},
		{Key: "metadata.uid", Value: "u-1", Original: "U-1"},
		{Key: "relations.ownedby", Value: "group:default/team-a", Original: "group:default/team-a"},
		{Key: "relations.partof", Value: "system:default/shop", Original: "system:default/shop"},
	}
	got := Flatten(e)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Flatten:\n%v\nwant\n%v", got, want)
	}
}

func TestFlattenEdges(t *testing.T) {
	long := strings.Repeat("x", MaxValueLength+1)
	e := map[string]any{
		"metadata": map[string]any{"name": "a", "description": long, "title": strings.Repeat("é", MaxValueLength)},
		"spec": map[string]any{
			strings.Repeat("k", MaxKeyLength): "dropped",
			"emoji":                           strings.Repeat("😀", MaxValueLength/2+1),
			"list":                            []any{"", long},
			"nested":                          []any{[]any{"a"}},
		},
	}
	byKey := map[string][]Pair{}
	for _, p := range Flatten(e) {
		byKey[p.Key] = append(byKey[p.Key], p)
	}
	check := func(key string, want []Pair) {
		t.Helper()
		if !reflect.DeepEqual(byKey[key], want) {
			t.Errorf("%s = %v, want %v", key, byKey[key], want)
		}
	}
	check("metadata.description", []Pair{{Key: "metadata.description", Null: true}})
	check("metadata.title", []Pair{{Key: "metadata.title", Value: strings.Repeat("é", MaxValueLength), Original: strings.Repeat("é", MaxValueLength)}})
	check("spec.emoji", []Pair{{Key: "spec.emoji", Null: true}}) // 202 UTF-16 units
	check("spec.list", []Pair{{Key: "spec.list", Value: "", Original: ""}, {Key: "spec.list", Null: true}})
	check("spec.nested", []Pair{{Key: "spec.nested", Value: "a", Original: "a"}})
	check("spec.nested.a", []Pair{{Key: "spec.nested.a", Value: "true", Original: "true"}})
	if _, ok := byKey["spec."+strings.Repeat("k", MaxKeyLength)]; ok {
		t.Error("a key over the limit was kept")
	}
	// No namespace: both null and "default", so filters on either work.
	check("metadata.namespace", []Pair{{Key: "metadata.namespace", Null: true}, {Key: "metadata.namespace", Value: "default", Original: "default"}})
	check("metadata.uid", []Pair{{Key: "metadata.uid", Null: true}})
}

func TestJSNumber(t *testing.T) {
	tests := map[float64]string{
		0: "0", 1: "1", -2.5: "-2.5", 1e20: "100000000000000000000", 1e21: "1e+21",
		0.000001: "0.000001", 1e-7: "1e-7", -1.5e-10: "-1.5e-10", 123456789.125: "123456789.125",
	}
	for in, want := range tests {
		if got := jsNumber(in); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", in, got, want)
		}
	}
}
