package filter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSimplifyKeepsMeaning compares Match before and after Simplify over random filters and
// random entities drawn from a few keys and values, so that every rewrite meets overlaps.
func TestSimplifyKeepsMeaning(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"kind", "spec.type", "metadata.tags", "relations.ownedby"}
	values := []string{"a", "b", "true", ""}
	for trial := 0; trial < 3000; trial++ {
		var filters []string
		for s := 0; s < 1+r.IntN(5); s++ {
			var conds []string
			for c := 0; c < 1+r.IntN(3); c++ {
				k, v := keys[r.IntN(len(keys))], values[r.IntN(len(values))]
				if v == "" {
					conds = append(conds, k)
				} else {
					conds = append(conds, k+"="+v)
				}
			}
			filters = append(filters, strings.Join(conds, ","))
		}
		n, err := Parse(filters)
		if err != nil {
			continue // over a bound
		}
		simple := Simplify(n)
		if Cost(simple) > Cost(n) {
			t.Fatalf("%q: simplified costs %d, more than %d", filters, Cost(simple), Cost(n))
		}
		for e := 0; e < 20; e++ {
			var pairs []Pair
			for p := 0; p < r.IntN(5); p++ {
				pairs = append(pairs, Pair{Key: keys[r.IntN(len(keys))], Value: values[r.IntN(3)]})
			}
			if Match(n, pairs) != Match(simple, pairs) {
				t.Fatalf("%q over %v: %v before Simplify, %v after (%#v)", filters, pairs, Match(n, pairs), Match(simple, pairs), simple)
			}
		}
	}
}

func TestSimplify(t *testing.T) {
	owners := func(base string, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%srelations.ownedBy=group:default/team-%d", base, i))
		}
		return out
	}
	tests := []struct {
		name    string
		filters []string
		cost    int
	}{
		// The portal's "owned" view: one set per owner, each repeating the selection.
		{"owners with a selection", owners("kind=component,spec.type=service,spec.lifecycle=production,", 20), 4},
		{"owners alone", owners("", 30), 2},
		{"repeated sets", []string{"spec.type=a", "spec.type=a", "spec.type=a"}, 1},
		{"exists absorbs values", []string{"spec.type=a", "spec.type"}, 2},
		{"no overlap", []string{"spec.a=x", "spec.b=y"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			if got := Cost(Simplify(n)); got != tt.cost {
				t.Fatalf("cost %d, want %d: %#v", got, tt.cost, Simplify(n))
			}
		})
	}
}
