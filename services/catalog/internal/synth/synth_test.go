package synth_test

import (
	"testing"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/synth"
)

func TestGenerateIsValidAndDeterministic(t *testing.T) {
	for _, n := range []int{50, 1000, 10_000} {
		cat := synth.Generate(n, 1)
		if len(cat.Entities) != n {
			t.Fatalf("n=%d: got %d entities", n, len(cat.Entities))
		}
		docs := make([]ingest.Doc, len(cat.Entities))
		kinds := map[string]int{}
		for i, e := range cat.Entities {
			docs[i] = ingest.Doc{Index: i, Path: "documents", Entity: e}
			kinds[e.Kind()]++
		}
		drafts, err := ingest.Prepare(docs, nil)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		edges := 0
		for _, d := range drafts {
			edges += len(d.Edges)
		}
		if kinds[entity.KindComponent] < n/2 || kinds[entity.KindUser] == 0 || kinds[entity.KindAPI] == 0 || edges < 2*n {
			t.Fatalf("n=%d: kinds %v, %d edges", n, kinds, edges)
		}
	}
	a, b := synth.Generate(500, 7), synth.Generate(500, 7)
	for i := range a.Entities {
		if entity.Etag(a.Entities[i]) != entity.Etag(b.Entities[i]) {
			t.Fatalf("entity %d differs between runs", i)
		}
	}
}
