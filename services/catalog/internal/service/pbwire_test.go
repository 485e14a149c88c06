package service

import (
	"strings"
	"testing"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/synth"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// appendStruct writes what proto.Marshal writes of structpb.NewStruct's message, up to the
// order of map entries: decoded, the two are equal for every synthetic entity (with the
// server's fields) and for the special cases, and fail alike.
func TestAppendStruct(t *testing.T) {
	cases := []map[string]any{
		{},
		{"": "", "null": nil, "t": true, "f": false, "zero": 0.0, "neg": -1.5, "big": 1e300, "tiny": 5e-324},
		{"nested": map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{nil, 1.0, "x", []any{map[string]any{"d": true}}}}},
		{"long": strings.Repeat("x", 200), "longer": strings.Repeat("é", 20000), "emoji": "🙂 \u2028 <&>"},
		{"list": []any{strings.Repeat("y", 127), strings.Repeat("z", 128), strings.Repeat("w", 16384)}},
	}
	cat := synth.Generate(300, 7)
	for i, e := range cat.Entities {
		e := entity.Entity(e)
		e.SetServerFields("7f1e6a0e-0000-4000-8000-000000000000", "etag", int64(i), []entity.Relation{})
		cases = append(cases, e)
	}
	for i, m := range cases {
		want, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		b, err := appendStruct(nil, m)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var got structpb.Struct
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("case %d: decoded %v, want %v", i, &got, want)
		}
		// Under a projection, as the handlers encode.
		p, err := filter.ParseFields([]string{"kind,metadata.name"})
		if err != nil {
			t.Fatal(err)
		}
		want, _ = structpb.NewStruct(p.Apply(m))
		if b, err = pbEncoder(p).Encode(m); err != nil {
			t.Fatal(err)
		}
		got.Reset()
		if err := proto.Unmarshal(b, &got); err != nil || !proto.Equal(&got, want) {
			t.Fatalf("case %d projected: %v, %v, want %v", i, err, &got, want)
		}
	}
	for _, bad := range []map[string]any{{"k": "\xff"}, {"\xfe": 1.0}, {"l": []any{"\xff"}}} {
		if _, err := structpb.NewStruct(bad); err == nil {
			t.Fatal("structpb accepted invalid UTF-8")
		}
		if _, err := appendStruct(nil, bad); err == nil {
			t.Fatalf("appendStruct(%q) accepted invalid UTF-8", bad)
		}
	}
}

func TestBinaryCodec(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/proto": true, "application/grpc": true, "application/grpc+proto": true,
		"application/grpc-web+proto": true, "Application/Proto; charset=x": true,
		"application/json": false, "application/grpc+json": false, "application/grpc-web+json": false, "": false,
	} {
		h := map[string][]string{"Content-Type": {ct}}
		if got := binaryCodec(h); got != want {
			t.Errorf("binaryCodec(%q) = %v", ct, got)
		}
	}
}
