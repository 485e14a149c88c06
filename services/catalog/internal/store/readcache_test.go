package store_test

import (
	"context"
	"slices"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/readcache"
	"atrium.dev/services/catalog/internal/store"
)

// Two replicas of the catalog on one database, each with its own read cache: a write through
// either ends both replicas' cached pages and facet counts at once (the data version is in
// the tenant's schema), a tenant never gets another's cached result, and a repeated read is
// answered from the cache.
func TestReadCacheAcrossReplicas(t *testing.T) {
	env := catalogtest.New(t)
	acme, globex := env.Tenant(t, "acme").Ctx(), env.Tenant(t, "globex").Ctx()
	one, two := store.New(env.Shards), store.New(env.Shards)
	c1, c2 := readcache.New(0), readcache.New(0)
	one.CacheReads(c1)
	two.CacheReads(c2)

	list := func(s *store.Store, ctx context.Context) []string {
		t.Helper()
		q, _, err := query.Build(query.Request{Spec: query.Spec{Filter: []string{"kind=component"}}, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return append(names(p.Entities), "total", string(rune('0'+p.Total)))
	}
	facets := func(s *store.Store, ctx context.Context) []store.FacetValue {
		t.Helper()
		f, err := s.FacetsMatching(ctx, []string{"spec.lifecycle"}, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return f["spec.lifecycle"]
	}
	apply(t, acme, one, store.ApplyOptions{}, components("a", 3))
	apply(t, globex, one, store.ApplyOptions{}, components("g", 2))

	want := []string{"a-000", "a-001", "a-002", "total", "3"}
	for _, s := range []*store.Store{one, two, one, two} {
		if got := list(s, acme); !slices.Equal(got, want) {
			t.Fatalf("acme's list = %v, want %v", got, want)
		}
	}
	if got := list(one, globex); !slices.Equal(got, []string{"g-000", "g-001", "total", "2"}) {
		t.Fatalf("globex's list (same query, acme's result cached) = %v", got)
	}
	if s := c1.Stats(); s.Hits != 1 || s.Tenants != 2 {
		t.Fatalf("replica one's cache: %+v, want 1 hit and 2 tenants", s)
	}
	if f := facets(two, acme); len(f) != 1 || f[0].Count != 3 {
		t.Fatalf("facets %v", f)
	}

	// A write on replica two ends replica one's cached results, and the reverse.
	res := apply(t, acme, two, store.ApplyOptions{}, components("a", 4))
	if got := list(one, acme); !slices.Equal(got, []string{"a-000", "a-001", "a-002", "a-003", "total", "4"}) {
		t.Fatalf("replica one after replica two's write: %v", got)
	}
	if f := facets(two, acme); len(f) != 1 || f[0].Count != 4 {
		t.Fatalf("facets after a write: %v", f)
	}
	if err := one.Delete(acme, res[3].UID); err != nil {
		t.Fatal(err)
	}
	if got := list(two, acme); !slices.Equal(got, want) {
		t.Fatalf("replica two after replica one's delete: %v", got)
	}
	if f := facets(two, acme); len(f) != 1 || f[0].Count != 3 {
		t.Fatalf("facets after a delete: %v", f)
	}
	// globex's cached results outlive acme's writes.
	before := c1.Stats().Hits
	list(one, globex)
	if c1.Stats().Hits != before+1 {
		t.Fatal("acme's writes ended globex's cached page")
	}
}
