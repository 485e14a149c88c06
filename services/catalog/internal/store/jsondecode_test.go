package store

import (
	"encoding/json"
	"reflect"
	"testing"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/synth"
)

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `null`, `true`, ` false `, `0`, `-1.5e3`, `"x"`, `""`,
		`{"a": [1, 2.5, -3e-2, true, false, null, "s", {"b": {}}], "c": "\"\\\/\b\f\n\r\t"}`,
		`{"u": "\u00e9\u4e2d\ud83d\ude00 and é中😀", "lone": "\ud800x", "k\u0041": 1}`,
		`{"nested": [[[[]]]], "n": 12345678901234567890}`,
	}
	for _, e := range synth.Generate(200, 3).Entities {
		docs = append(docs, string(entity.CanonicalJSON(map[string]any(e))))
		b, _ := json.MarshalIndent(e, "", "  ")
		docs = append(docs, string(b))
	}
	for _, doc := range docs {
		var want any
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("bad test doc %s: %v", doc, err)
		}
		got, err := decodeJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v\nwant %#v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `"abc`, `"\x"`, `"\u12"`, `tru`, `nul`, `{} x`, "\"a\nb\"", `{1: 2}`, `-`, `1e`} {
		if _, err := decodeJSON([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func BenchmarkDecodeBody(b *testing.B) {
	e := synth.Generate(100, 1).Entities[90]
	body, _ := json.Marshal(e)
	b.Run("decodeJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
