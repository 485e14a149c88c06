package rest

import (
	"bytes"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/store"
)

// TestRawEntityMatchesDecoded: Backstage's JSON written straight from the stored text is the
// JSON of the decoded entity, byte for byte, and text the raw writer refuses is decoded.
func TestRawEntityMatchesDecoded(t *testing.T) {
	cases := catalogtest.RawCases(t)
	bodies := make([]string, len(cases))
	for i, c := range cases {
		bodies[i] = c.Body
	}
	texts := catalogtest.JSONBText(t, bodies)
	enc := jsonEncoder(filter.Projection{})
	if enc.Raw == nil {
		t.Fatal("no raw writer for the whole entity")
	}
	var sizes catalogtest.SizeEstimates
	for i, c := range cases {
		r := store.Raw{Ref: "component:default/x", UID: "6f1c2a9e-0000-4000-8000-00000000000" + string(rune('0'+i%10)), Etag: "etag\"<" + c.Name, Generation: int64(i + 1), Body: texts[i], Relations: c.Rels}
		e, err := store.DecodeRaw(r)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		want, err := enc.Encode(e)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		got, err := enc.Raw(r)
		if err != nil {
			t.Fatalf("%s: raw: %v\n%s", c.Name, err, texts[i])
		}
		sizes.Add(t, c, rawEntitySize(r), len(got))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got  %s\n want %s", c.Name, got, want)
		}
	}
	sizes.Check(t, 0.1)
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":}`, `{"a":1,}`, `{"a":tru}`, `{"a":"\x01"}`, `{"a":1e}`, `{"a":[1 2]}`, `{"a":1}x`} {
		if b, err := enc.Raw(store.Raw{Body: []byte(bad)}); err == nil {
			t.Fatalf("%q written as %s", bad, b)
		}
	}
	if proj := jsonEncoder(filter.Projection{}); proj.Raw == nil {
		t.Fatal("whole entity without raw writer")
	}
	if p, err := filter.ParseFields([]string{"metadata.name"}); err != nil || jsonEncoder(p).Raw != nil {
		t.Fatal("a projection must be applied to the decoded entity")
	}
}

func BenchmarkRawEntity(b *testing.B) {
	cases := catalogtest.RawCases(b)[9:109]
	bodies := make([]string, len(cases))
	for i, c := range cases {
		bodies[i] = c.Body
	}
	texts := catalogtest.JSONBText(b, bodies)
	raws := make([]store.Raw, len(cases))
	for i, c := range cases {
		raws[i] = store.Raw{Ref: "component:default/x", UID: "6f1c2a9e-0000-4000-8000-000000000000", Etag: "abc", Generation: 1, Body: texts[i], Relations: c.Rels}
	}
	enc := jsonEncoder(filter.Projection{})
	b.Run("raw", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, r := range raws {
				if _, err := enc.Raw(r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decode+encode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, r := range raws {
				e, err := store.DecodeRaw(r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := enc.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
