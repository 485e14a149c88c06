package rest

import "testing"

// Calls that differ in any part get different keys, however their parts would concatenate.
func TestAnswerKeyDistinct(t *testing.T) {
	calls := []struct {
		coding, encoder string
		refs, filters   []string
		predicate       string
	}{
		{"gzip", "json", []string{"a:b/c"}, nil, ""},
		{"", "json", []string{"a:b/c"}, nil, ""},
		{"zstd", "json", []string{"a:b/c"}, nil, ""},
		{"gzip", "json\x00metadata.name", []string{"a:b/c"}, nil, ""},
		{"gzip", "json", []string{"a:b/c", "a:b/d"}, nil, ""},
		{"gzip", "json", []string{"a:b/ca:b/d"}, nil, ""},
		{"gzip", "json", []string{"a:b/d", "a:b/c"}, nil, ""},
		{"gzip", "json", []string{"a:b/c"}, []string{"kind=x"}, ""},
		{"gzip", "json", []string{"kind=x", "a:b/c"}, nil, ""},
		{"gzip", "json", []string{"a:b/c"}, []string{"kind=x,spec.type=y"}, ""},
		{"gzip", "json", []string{"a:b/c"}, []string{"kind=x", "spec.type=y"}, ""},
		{"gzip", "json", []string{"a:b/c"}, nil, `{"kind":"x"}`},
		{"gzip", "json", nil, nil, ""},
	}
	seen := map[string]int{}
	for i, c := range calls {
		k := answerKey("by-refs", c.coding, c.encoder, c.refs, c.filters, c.predicate)
		if j, ok := seen[k]; ok {
			t.Fatalf("calls %d and %d share the key %q", j, i, k)
		}
		seen[k] = i
	}
	if answerKey("by-refs", "gzip", "json", []string{"a:b/c"}, nil, "") == answerKey("by-query", "gzip", "json", []string{"a:b/c"}, nil, "") {
		t.Fatal("a by-refs and a page share a key")
	}
	if answerKey("by-refs", "gzip", "json", []string{"a:b/c"}, nil, "") != answerKey("by-refs", "gzip", "json", []string{"a:b/c"}, []string{}, "") {
		t.Fatal("no filters and an empty list of them should be one call")
	}
}
