package nulbyte_test

import (
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/services/catalog/internal/nulbyte"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestMessagePaths(t *testing.T) {
	entity := func(v map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"clean", &catalogv1.ListEntitiesRequest{Filter: []string{"kind=a"}, FullTextTerm: "x"}, ""},
		{"repeated string", &catalogv1.ListEntitiesRequest{Filter: []string{"kind=a", "b\x00"}}, "filter[1]"},
		{"string", &catalogv1.ListEntitiesRequest{PageToken: "\x00"}, "page_token"},
		{"nested message", &catalogv1.ListEntitiesRequest{Order: []*catalogv1.OrderField{{Field: "a"}, {Field: "\x00"}}}, "order[1].field"},
		{"map value", &catalogv1.ImportBundleRequest{Files: map[string]string{"a.yaml": "x\x00"}}, `files["a.yaml"]`},
		{"map key", &catalogv1.ImportBundleRequest{Files: map[string]string{"a\x00": "x"}}, `files["a\x00"]`},
		{"inside a struct", &catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{
			entity(map[string]any{"kind": "A"}),
			entity(map[string]any{"metadata": map[string]any{"tags": []any{"a", "b\x00"}}}),
		}}, "entities[1].metadata.tags[1]"},
		{"struct key", &catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{entity(map[string]any{"spec": map[string]any{"\x00": 1}})}}, `entities[0].spec["\x00"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nulbyte.Message(tt.msg.ProtoReflect()); got != tt.want {
				t.Fatalf("Message = %q, want %q", got, tt.want)
			}
		})
	}
}
