package ingest

import (
	"testing"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/synth"
)

func TestEtagOfBody(t *testing.T) {
	for _, raw := range synth.Generate(300, 9).Entities {
		raw["relations"] = []any{map[string]any{"type": "ownedBy", "targetRef": "group:default/x"}}
		e := entity.Normalize(raw)
		if got, want := Draft(e, e.Ref().String(), nil).Etag, entity.Etag(e); got != want {
			t.Fatalf("%s: etag %s, entity.Etag %s", e.Ref(), got, want)
		}
	}
}
