package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
)

// components returns YAML for n components named prefix-000..., every third without a
// lifecycle-like "spec.tier" so ordering by it meets nulls.
func components(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: %s-%03d}\nspec: {type: service, lifecycle: production, owner: team-a", prefix, i)
		if i%3 != 0 {
			fmt.Fprintf(&b, ", tier: t%d", i%4)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// walk pages through a query with next tokens, calling between after each page.
func walk(t *testing.T, ctx context.Context, s *store.Store, spec query.Spec, size int, between func(page int)) (seen []string, pages []store.Page) {
	t.Helper()
	token := ""
	for i := 0; ; i++ {
		q, sp, err := query.Build(query.Request{Spec: spec, Token: token, TokenField: "page_token", Limit: size})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		seen = append(seen, names(p.Entities)...)
		if between != nil {
			between(i)
		}
		next, _ := query.Tokens(sp, p)
		if next == "" {
			return seen, pages
		}
		if i > 100 {
			t.Fatal("pagination does not end")
		}
		token = next
	}
}

func TestPaginationOrders(t *testing.T) {
	env := catalogtest.New(t)
	ctx := env.Tenant(t, "acme").Ctx()
	apply(t, ctx, env.Store, store.ApplyOptions{}, components("svc", 95))
	all := list(t, ctx, env.Store, query.Spec{}, 500)
	if len(all.Entities) != 95 {
		t.Fatalf("%d entities", len(all.Entities))
	}
	orders := []struct {
		name   string
		order  []query.Order
		filter []string
	}{
		{"default (ref)", nil, nil},
		{"default with a pinned kind (kind, ref)", nil, []string{"kind=component,spec.type=service"}},
		{"name desc", []query.Order{{Field: "metadata.name", Desc: true}}, nil},
		{"nullable field asc", []query.Order{{Field: "spec.tier"}}, nil},
		{"nullable field desc then name", []query.Order{{Field: "spec.tier", Desc: true}, {Field: "metadata.name"}}, nil},
		{"kind then name desc", []query.Order{{Field: "kind"}, {Field: "metadata.name", Desc: true}}, nil},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			spec := query.Spec{Order: o.order, Filter: o.filter}
			full := names(list(t, ctx, env.Store, spec, 500).Entities)
			seen, pages := walk(t, ctx, env.Store, spec, 20, nil)
			if !slices.Equal(seen, full) {
				t.Fatalf("paged %v\nwhole %v", seen, full)
			}
			if len(pages) != 5 || pages[0].Prev != nil || pages[1].Prev == nil || pages[4].Next != nil {
				t.Fatalf("page links wrong: %d pages", len(pages))
			}
			// Previous-page tokens walk back to the same pages.
			last := pages[len(pages)-1]
			_, prev := query.Tokens(spec, last)
			for i := len(pages) - 2; i >= 0; i-- {
				q, sp, err := query.Build(query.Request{Token: prev, TokenField: "page_token", Limit: 20})
				if err != nil {
					t.Fatal(err)
				}
				p, err := env.Store.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(names(p.Entities), names(pages[i].Entities)) {
					t.Fatalf("back to page %d: %v, want %v", i, names(p.Entities), names(pages[i].Entities))
				}
				if (i == 0) != (p.Prev == nil) || p.Next == nil {
					t.Fatalf("page %d going back: prev %v next %v", i, p.Prev, p.Next)
				}
				_, prev = query.Tokens(sp, p)
			}
		})
	}
	// Ordering by the nullable field puts entities without it last.
	byTier := names(list(t, ctx, env.Store, query.Spec{Order: []query.Order{{Field: "spec.tier"}}}, 500).Entities)
	tierOf := func(name string) int { // -1: no tier
		var i int
		fmt.Sscanf(name, "svc-%d", &i)
		if i%3 == 0 {
			return -1
		}
		return i % 4
	}
	for i := 1; i < len(byTier); i++ {
		a, b := tierOf(byTier[i-1]), tierOf(byTier[i])
		if (a == -1 && b != -1) || (a != -1 && b != -1 && a > b) {
			t.Fatalf("tier order breaks at %s, %s: %v", byTier[i-1], byTier[i], byTier)
		}
	}
	if tierOf(byTier[len(byTier)-1]) != -1 || tierOf(byTier[0]) != 0 {
		t.Fatalf("tier order starts %v ends %v", byTier[:3], byTier[len(byTier)-3:])
	}
	// Offset pages are Backstage's older pagination.
	q, _, _ := query.Build(query.Request{Limit: 10, Offset: 90})
	p, err := env.Store.List(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entities) != 5 || p.Next != nil || p.Prev == nil {
		t.Fatalf("offset page: %d entities, next %v", len(p.Entities), p.Next)
	}
}

// TestPaginationStableUnderInserts pages through a catalog while another writer inserts
// entities that sort before, between and after the pages: every entity that existed at the
// start is seen exactly once, and nothing is seen twice.
func TestPaginationStableUnderInserts(t *testing.T) {
	env := catalogtest.New(t)
	tn := env.Tenant(t, "acme")
	ctx := tn.Ctx()
	apply(t, ctx, env.Store, store.ApplyOptions{}, components("m", 120))
	before := names(list(t, ctx, env.Store, query.Spec{}, 500).Entities)

	for _, order := range [][]query.Order{nil, {{Field: "metadata.name", Desc: true}}, {{Field: "spec.tier"}}} {
		var wg sync.WaitGroup
		seen, _ := walk(t, ctx, env.Store, query.Spec{Order: order}, 25, func(page int) {
			// Concurrently with the next page read, add names that sort everywhere.
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := components(fmt.Sprintf("a%d%d", len(order), page), 3) + components(fmt.Sprintf("m-05%d%d", len(order), page), 3) + components(fmt.Sprintf("z%d%d", len(order), page), 3)
				if _, err := env.Store.Apply(ctx, drafts(t, batch), store.ApplyOptions{}); err != nil {
					t.Error(err)
				}
			}()
			if page%2 == 0 {
				wg.Wait() // sometimes before the next read, sometimes racing it
			}
		})
		wg.Wait()
		count := map[string]int{}
		for _, n := range seen {
			count[n]++
			if count[n] > 1 {
				t.Fatalf("order %v: %s seen twice", order, n)
			}
		}
		for _, n := range before {
			if count[n] != 1 {
				t.Fatalf("order %v: %s seen %d times", order, n, count[n])
			}
		}
	}
}
