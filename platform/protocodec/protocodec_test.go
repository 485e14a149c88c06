package protocodec

import (
	"fmt"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// byRefs is a GetEntitiesByRefs answer of n entities shaped as the catalog writes them
// (metadata, spec, relations with their targets), one ref of them absent.
func byRefs(tb testing.TB, n int) *catalogv1.GetEntitiesByRefsResponse {
	tb.Helper()
	out := &catalogv1.GetEntitiesByRefsResponse{}
	for i := range n {
		if i == 3 {
			out.Items = append(out.Items, &catalogv1.EntityItem{}) // no entity with that ref
			continue
		}
		name := fmt.Sprintf("payment-service-%04d", i)
		var rels []any
		for _, r := range []string{"ownedBy group:default/team-0001", "partOf system:default/payments", "dependsOn resource:default/ledger-db", "providesApi api:default/payments-api"} {
			typ, ref, _ := strings.Cut(r, " ")
			kind, rest, _ := strings.Cut(ref, ":")
			ns, nm, _ := strings.Cut(rest, "/")
			rels = append(rels, map[string]any{"type": typ, "targetRef": ref, "target": map[string]any{"kind": kind, "namespace": ns, "name": nm}})
		}
		s, err := structpb.NewStruct(map[string]any{
			"apiVersion": "backstage.io/v1alpha1",
			"kind":       "Component",
			"metadata": map[string]any{
				"name": name, "namespace": "default", "uid": fmt.Sprintf("7f0e0c3a-0000-4000-8000-%012d", i),
				"etag": "4f1c2a9e", "description": "Handles card payments · ünïcode",
				"tags":        []any{"java", "payments", "grpc"},
				"annotations": map[string]any{"backstage.io/source-location": "url:https://git.example.com/" + name},
			},
			"spec":      map[string]any{"type": "service", "lifecycle": "production", "owner": "team-0001", "replicas": float64(i), "public": i%2 == 0, "retired": nil},
			"relations": rels,
		})
		if err != nil {
			tb.Fatal(err)
		}
		out.Items = append(out.Items, &catalogv1.EntityItem{Entity: s})
	}
	return out
}

func TestUnmarshalMatchesProtobufGo(t *testing.T) {
	resp := byRefs(t, 20)
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	withUnknown := proto.Clone(resp).(*catalogv1.GetEntitiesByRefsResponse)
	withUnknown.ProtoReflect().SetUnknown([]byte{0xf8, 0x06, 0x2a}) // field 111, varint 42
	wireUnknown, err := proto.Marshal(withUnknown)
	if err != nil {
		t.Fatal(err)
	}
	signUp, err := proto.Marshal(&tenancyv1.SignUpRequest{Slug: "acme", OrgName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		wire  []byte
		fresh func() proto.Message
		vt    bool // the message has generated decoding
	}{
		{"catalog entities", wire, func() proto.Message { return &catalogv1.GetEntitiesByRefsResponse{} }, true},
		{"unknown fields kept", wireUnknown, func() proto.Message { return &catalogv1.GetEntitiesByRefsResponse{} }, true},
		{"no generated decoding", signUp, func() proto.Message { return &tenancyv1.SignUpRequest{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.fresh().(vtDecoder); ok != tc.vt {
				t.Fatalf("%T has UnmarshalVT: %v, want %v", tc.fresh(), ok, tc.vt)
			}
			want := tc.fresh()
			if err := proto.Unmarshal(tc.wire, want); err != nil {
				t.Fatal(err)
			}
			got := tc.fresh()
			if err := (Codec{}).Unmarshal(tc.wire, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("decoded differently:\n got %v\nwant %v", got, want)
			}
			// A message decoded into twice holds the second, as with proto.Unmarshal.
			if err := (Codec{}).Unmarshal(tc.wire, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Fatal("a second decode into the same message merged instead of replacing")
			}
			back, err := (Codec{}).Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again := tc.fresh()
			if err := proto.Unmarshal(back, again); err != nil || !proto.Equal(again, want) {
				t.Fatalf("Marshal of the decoded message does not decode back: %v", err)
			}
		})
	}
}

func TestUnmarshalRejectsBadInput(t *testing.T) {
	wire, err := proto.Marshal(byRefs(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wire []byte
		into any
	}{
		{"truncated", wire[:len(wire)-3], &catalogv1.GetEntitiesByRefsResponse{}},
		{"length past the end", []byte{0x0a, 0x7f, 0x0a}, &catalogv1.GetEntitiesByRefsResponse{}},
		{"wrong wire type for the items", []byte{0x0d, 1, 2, 3, 4}, &catalogv1.GetEntitiesByRefsResponse{}},
		{"not a message", wire, "a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := (Codec{}).Unmarshal(tc.wire, tc.into); err == nil {
				t.Fatal("decoded bad input without an error")
			}
		})
	}
}

// BenchmarkUnmarshal decodes 100 entities with protobuf-go (connect's own codec) and with
// Codec, in one run.
func BenchmarkUnmarshal(b *testing.B) {
	wire, err := proto.Marshal(byRefs(b, 100))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte, proto.Message) error
	}{
		{"protobuf-go", proto.Unmarshal},
		{"protocodec", func(w []byte, m proto.Message) error { return Codec{}.Unmarshal(w, m) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.decode(wire, &catalogv1.GetEntitiesByRefsResponse{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
