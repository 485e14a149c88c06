package pipeline

import (
	"fmt"
	"testing"

	"atrium.dev/services/insights/internal/event"
)

// A writer merges one tenant's parts of several batches, each tenant's first PerTenantBatch
// events first; a part is a window of its reader's slice, whose later rounds must survive.
func TestMergeParts(t *testing.T) {
	p := &Pipeline{cfg: Config{PerTenantBatch: 2}}
	reader := []event.Event{{ID: "a1"}, {ID: "a2"}, {ID: "a3"}} // a3: the reader's next round
	j1 := &writeJob{parts: []tenantPart{{tenant: "a", events: reader[:2]}, {tenant: "b", events: []event.Event{{ID: "b1"}}}}}
	j2 := &writeJob{parts: []tenantPart{{tenant: "a", events: []event.Event{{ID: "x1"}}}, {tenant: "c", events: []event.Event{{ID: "c1"}}}}}
	var got []string
	for i, round := range p.mergeParts([]*writeJob{j1, j2}) {
		for _, tp := range round {
			s := fmt.Sprintf("%d/%s:", i, tp.tenant)
			for _, e := range tp.events {
				s += e.ID + ","
			}
			got = append(got, s)
		}
	}
	want := []string{"0/a:a1,a2,", "0/b:b1,", "0/c:c1,", "1/a:x1,"}
	if len(got) != len(want) {
		t.Fatalf("parts %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parts %v, want %v", got, want)
		}
	}
	if reader[2].ID != "a3" {
		t.Fatalf("the merge overwrote the reader's next round: %v", reader)
	}
}
