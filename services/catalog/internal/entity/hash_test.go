package entity

import (
	"encoding/json"
	"testing"
)

func TestEtag(t *testing.T) {
	a := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","namespace":"default","tags":["x"]},"spec":{"type":"service","n":1}}`)
	reordered := mustJSON(t, `{"spec":{"n":1.0,"type":"service"},"metadata":{"tags":["x"],"namespace":"default","name":"a"},"kind":"Component","apiVersion":"backstage.io/v1alpha1"}`)
	withServer := a.Clone()
	withServer.SetServerFields("uid", "etag", 7, []Relation{{Type: "ownedBy", TargetRef: "group:default/x"}})
	withServer["status"] = map[string]any{"items": []any{}}

	if Etag(a) != Etag(reordered) {
		t.Error("key order or number spelling changed the etag")
	}
	if Etag(a) != Etag(withServer) {
		t.Error("uid, etag, generation, relations or status changed the etag")
	}
	if len(Etag(a)) != 32 {
		t.Errorf("etag %q is not 32 hex characters", Etag(a))
	}

	changes := []func(e Entity){
		func(e Entity) { meta(e)["description"] = "new" },
		func(e Entity) { meta(e)["tags"] = []any{"y"} },
		func(e Entity) { meta(e)["tags"] = []any{"x", "x"} },
		func(e Entity) { spec(e)["n"] = 2.0 },
		func(e Entity) { spec(e)["n"] = "1" },
		func(e Entity) { e["kind"] = "Resource" },
		func(e Entity) { delete(spec(e), "n") },
		func(e Entity) { spec(e)["extra"] = nil },
	}
	for i, change := range changes {
		b := a.Clone()
		change(b)
		if Etag(a) == Etag(b) {
			t.Errorf("change %d did not change the etag", i)
		}
	}
}

func TestSpecHash(t *testing.T) {
	a := mustJSON(t, `{"kind":"Component","metadata":{"name":"a"},"spec":{"type":"service","list":[1,2]}}`)
	b := a.Clone()
	meta(b)["description"] = "metadata only"
	if SpecHash(a) != SpecHash(b) {
		t.Error("a metadata change changed the spec hash")
	}
	spec(b)["list"] = []any{2.0, 1.0}
	if SpecHash(a) == SpecHash(b) {
		t.Error("reordering a list did not change the spec hash")
	}
	if SpecHash(Entity{}) != SpecHash(Entity{"spec": nil}) {
		t.Error("absent and null spec should hash alike")
	}
	if SpecHash(Entity{}) == SpecHash(Entity{"spec": map[string]any{}}) {
		t.Error("absent and empty spec should differ")
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{map[string]any{"b": 1.0, "a": []any{true, nil, "x"}}, `{"a":[true,null,"x"],"b":1}`},
		{map[string]any{"s": "<&>\"\\\n\t\x01é"}, `{"s":"<&>\"\\\n\t\u0001é"}`},
		{"\xff", `"\ufffd"`},
		{1e21, `1e+21`},
		{123456789012.0, `123456789012`},
		{0.1, `0.1`},
		{-0.0, `0`},
		{int64(5), `5`},
		{json.Number("2.50"), `2.5`},
		{Entity{"z": 1, "a": 2}, `{"a":2,"z":1}`},
		{struct{ A int }{1}, `{"A":1}`},
	}
	for _, tt := range tests {
		if got := string(CanonicalJSON(tt.in)); got != tt.want {
			t.Errorf("CanonicalJSON(%#v) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// Output is valid JSON that decodes to the same value.
	in := map[string]any{"k": "line\u2028sep", "n": []any{1.5, "x"}}
	var back map[string]any
	if err := json.Unmarshal(CanonicalJSON(in), &back); err != nil || back["k"] != in["k"] {
		t.Fatalf("round trip: %v %v", back, err)
	}
}
