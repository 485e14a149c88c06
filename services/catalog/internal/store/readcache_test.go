package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/readcache"
	"atrium.dev/services/catalog/internal/store"
)

// twoReplicas is two catalog stores on one database, each with its own read cache (one's is
// returned), and the tenants acme and globex.
func twoReplicas(t *testing.T) (env *catalogtest.Env, acme, globex context.Context, one, two *store.Store, c1 *readcache.Cache) {
	t.Helper()
	env = catalogtest.New(t)
	acme, globex = env.Tenant(t, "acme").Ctx(), env.Tenant(t, "globex").Ctx()
	one, two = store.New(env.Shards), store.New(env.Shards)
	c1 = readcache.New(0)
	one.CacheReads(c1)
	two.CacheReads(readcache.New(0))
	return env, acme, globex, one, two, c1
}

// Two replicas of the catalog on one database, each with its own read cache: a write through
// either ends both replicas' cached pages and facet counts at once (the data version is in
// the tenant's schema), a tenant never gets another's cached result, and a repeated read is
// answered from the cache.
func TestReadCacheAcrossReplicas(t *testing.T) {
	_, acme, globex, one, two, c1 := twoReplicas(t)

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

// Entities' encodings kept by GetEncodedByRefs are exact across replicas (a write through one
// ends the other's), never cross tenants under the same ref, honour a filter for cached
// entities as for loaded ones, and stay within a tenant's share of the budget.
func TestEncodedByRefsCache(t *testing.T) {
	env, acme, globex, one, two, _ := twoReplicas(t)
	encodes := 0
	enc := store.Encoder{Name: "test", Encode: func(e entity.Entity) ([]byte, error) {
		encodes++
		m, _ := e["spec"].(map[string]any)
		return []byte(fmt.Sprintf("%s/%v/%v", e.Name(), m["tier"], e["metadata"].(map[string]any)["generation"])), nil
	}}
	get := func(s *store.Store, ctx context.Context, filter store.Expr, refs ...string) []string {
		t.Helper()
		bs, err := s.GetEncodedByRefs(ctx, refs, filter, enc)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = string(b)
			if b == nil {
				out[i] = "-"
			}
		}
		return out
	}
	apply(t, acme, one, store.ApplyOptions{}, components("a", 3))
	apply(t, globex, one, store.ApplyOptions{}, components("a", 2)) // the same refs, other entities
	apply(t, globex, one, store.ApplyOptions{}, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-001}\nspec: {type: service, lifecycle: production, owner: team-a, tier: globex}\n")
	refs := []string{"component:default/a-001", "component:default/none", "component:default/a-002", "component:default/a-001"}
	want := []string{"a-001/t1/1", "-", "a-002/t2/1", "a-001/t1/1"}
	for _, s := range []*store.Store{one, two, one, two} {
		if got := get(s, acme, nil, refs...); !slices.Equal(got, want) {
			t.Fatalf("acme's by-refs = %v, want %v", got, want)
		}
	}
	if encodes != 4 { // two entities, once per replica
		t.Fatalf("%d encodings, want 4 (the rest from the cache)", encodes)
	}
	if got := get(one, globex, nil, refs...); !slices.Equal(got, []string{"a-001/globex/2", "-", "-", "a-001/globex/2"}) {
		t.Fatalf("globex's by-refs (acme's cached under the same refs) = %v", got)
	}
	// A filter applies to cached entities too.
	tier, err := query.ParsePredicate([]byte(`{"spec.tier": "t2"}`))
	if err != nil {
		t.Fatal(err)
	}
	before := encodes
	if got := get(one, acme, tier, refs...); !slices.Equal(got, []string{"-", "-", "a-002/t2/1", "-"}) {
		t.Fatalf("filtered by-refs from the cache = %v", got)
	}
	if encodes != before {
		t.Fatal("cached entities were encoded again")
	}
	// A write through replica two ends replica one's encodings.
	apply(t, acme, two, store.ApplyOptions{}, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-001}\nspec: {type: service, lifecycle: production, owner: team-a, tier: new}\n")
	if got := get(one, acme, nil, refs...); !slices.Equal(got, []string{"a-001/new/2", "-", "a-002/t2/1", "a-001/new/2"}) {
		t.Fatalf("replica one after replica two's write: %v", got)
	}
	if got := get(two, globex, nil, refs[0]); !slices.Equal(got, []string{"a-001/globex/2"}) {
		t.Fatalf("globex after acme's write: %v", got)
	}
	// Refs all cached (answered after one read of the version alone), then a write.
	for range 2 {
		if got := get(one, acme, nil, "component:default/a-002"); !slices.Equal(got, []string{"a-002/t2/1"}) {
			t.Fatalf("a cached entity: %v", got)
		}
	}
	apply(t, acme, two, store.ApplyOptions{}, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-002}\nspec: {type: service, lifecycle: production, owner: team-a, tier: newer}\n")
	if got := get(one, acme, nil, "component:default/a-002"); !slices.Equal(got, []string{"a-002/newer/2"}) {
		t.Fatalf("a cached entity after a write through the other replica: %v", got)
	}

	// Bounded: a small cache keeps a tenant within its quarter.
	small := store.New(env.Shards)
	c3 := readcache.New(2000)
	small.CacheReads(c3)
	var many []string
	for i := 0; i < 3; i++ {
		many = append(many, fmt.Sprintf("component:default/a-%03d", i))
	}
	for i := 0; i < 20; i++ {
		get(small, acme, nil, many...)
	}
	if st := c3.Stats(); st.Bytes > 500 || st.Entries == 0 {
		t.Fatalf("small cache: %+v, want at most a quarter of 2000 bytes", st)
	}
}

// A whole by-refs answer is kept from a call's second time under one data version: later
// repeats come from the cache; a write through the other replica makes the next one new;
// tenants asking with the same key get their own; an answer the handler failed to build is not
// kept; without a read cache every call builds.
func TestAnswerByRefs(t *testing.T) {
	env, acme, globex, one, two, _ := twoReplicas(t)
	enc := store.Encoder{Name: "test", Encode: func(e entity.Entity) ([]byte, error) {
		m, _ := e["spec"].(map[string]any)
		return []byte(fmt.Sprintf("%s/%v", e.Name(), m["tier"])), nil
	}}
	// answer plays a handler: it builds the answer from the items unless one was kept, and
	// hands it back when asked to (unless its build failed).
	builds := 0
	var fail error
	answer := func(s *store.Store, ctx context.Context, filter store.Expr, key string, refs ...string) string {
		t.Helper()
		kept, items, keep, err := s.AnswerByRefs(ctx, refs, filter, enc, key)
		if err != nil {
			t.Fatal(err)
		}
		if kept != nil {
			return string(kept)
		}
		builds++
		if fail != nil {
			return "error"
		}
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = string(it)
			if it == nil {
				parts[i] = "-"
			}
		}
		b := strings.Join(parts, ",")
		if keep != nil {
			keep([]byte(b))
		}
		return b
	}
	apply(t, acme, one, store.ApplyOptions{}, components("a", 2))
	apply(t, globex, one, store.ApplyOptions{}, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-000}\nspec: {type: service, lifecycle: production, owner: team-a, tier: globex}\n")
	refs := []string{"component:default/a-000", "component:default/none", "component:default/a-001"}
	tier, err := query.ParsePredicate([]byte(`{"spec.tier": "t1"}`))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		s      *store.Store
		ctx    context.Context
		filter store.Expr
		key    string
		write  string // applied to acme through replica two before the step
		fail   error
		want   string
		builds int // after the step
	}{
		{name: "first call builds", s: one, ctx: acme, key: "k", want: "a-000/<nil>,-,a-001/t1", builds: 1},
		{name: "the second builds and keeps", s: one, ctx: acme, key: "k", want: "a-000/<nil>,-,a-001/t1", builds: 2},
		{name: "the third from the cache", s: one, ctx: acme, key: "k", want: "a-000/<nil>,-,a-001/t1", builds: 2},
		{name: "the other replica builds its own", s: two, ctx: acme, key: "k", want: "a-000/<nil>,-,a-001/t1", builds: 3},
		{name: "another tenant, same key", s: one, ctx: globex, key: "k", want: "a-000/globex,-,-", builds: 4},
		{name: "another tenant, kept", s: one, ctx: globex, key: "k", want: "a-000/globex,-,-", builds: 5},
		{name: "a filter, its own key", s: one, ctx: acme, filter: tier, key: "k tier", want: "-,-,a-001/t1", builds: 6},
		{name: "after a write through replica two", s: one, ctx: acme, key: "k", builds: 7,
			write: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-000}\nspec: {type: service, lifecycle: production, owner: team-a, tier: new}\n",
			want:  "a-000/new,-,a-001/t1"},
		{name: "seen again after the write: kept", s: one, ctx: acme, key: "k", want: "a-000/new,-,a-001/t1", builds: 8},
		{name: "and from the cache", s: one, ctx: acme, key: "k", want: "a-000/new,-,a-001/t1", builds: 8},
		{name: "a failed build, seen once", s: one, ctx: acme, key: "k2", fail: errors.New("no"), want: "error", builds: 9},
		{name: "a failed build, not kept", s: one, ctx: acme, key: "k2", fail: errors.New("no"), want: "error", builds: 10},
		{name: "so it is kept only now", s: one, ctx: acme, key: "k2", want: "a-000/new,-,a-001/t1", builds: 11},
		{name: "from the cache", s: one, ctx: acme, key: "k2", want: "a-000/new,-,a-001/t1", builds: 11},
		{name: "globex unchanged by acme's write", s: one, ctx: globex, key: "k", want: "a-000/globex,-,-", builds: 11},
	}
	for _, st := range steps {
		if st.write != "" {
			apply(t, acme, two, store.ApplyOptions{}, st.write)
		}
		fail = st.fail
		if got := answer(st.s, st.ctx, st.filter, st.key, refs...); got != st.want || builds != st.builds {
			t.Fatalf("%s: %q after %d builds, want %q after %d", st.name, got, builds, st.want, st.builds)
		}
	}
	fail = nil
	uncached := store.New(env.Shards)
	for i := range 2 {
		if got := answer(uncached, acme, nil, "k", refs...); got != "a-000/new,-,a-001/t1" || builds != 12+i {
			t.Fatalf("without a read cache, call %d: %q after %d builds", i, got, builds)
		}
	}
}

// A whole answer of a cached page is handed over from its key's second call and returned
// from the third; each key its own, at most two per page; a write's new page starts again;
// tenants' pages never share one; a page not from the read cache keeps nothing.
func TestAnswerPage(t *testing.T) {
	env, acme, globex, one, two, _ := twoReplicas(t)
	apply(t, acme, one, store.ApplyOptions{}, components("a", 3))
	apply(t, globex, one, store.ApplyOptions{}, components("g", 2))
	page := func(s *store.Store, ctx context.Context) store.Page {
		t.Helper()
		return listRequest(t, ctx, s, query.Request{Spec: query.Spec{Filter: []string{"kind=component"}}, Limit: 10, Encoded: true})
	}
	// ask plays a handler: the kept answer, or "built" (handing it over when asked to).
	ask := func(s *store.Store, ctx context.Context, key, answer string) string {
		t.Helper()
		kept, keep := store.AnswerPage(page(s, ctx), key)
		if kept != nil {
			return string(kept)
		}
		if keep != nil {
			keep([]byte(answer))
			return "built, kept"
		}
		return "built"
	}
	steps := []struct {
		name, key string
		s         *store.Store
		ctx       context.Context
		write     string // applied to acme through replica two before the step
		want      string
	}{
		{name: "first call", key: "gzip", s: one, ctx: acme, want: "built"},
		{name: "second call keeps", key: "gzip", s: one, ctx: acme, want: "built, kept"},
		{name: "third from the page", key: "gzip", s: one, ctx: acme, want: "acme gzip"},
		{name: "another tenant's page", key: "gzip", s: one, ctx: globex, want: "built"},
		{name: "another tenant, kept", key: "gzip", s: one, ctx: globex, want: "built, kept"},
		{name: "another tenant's own", key: "gzip", s: one, ctx: globex, want: "globex gzip"},
		{name: "a second key", key: "zstd", s: one, ctx: acme, want: "built"},
		{name: "a second key, kept", key: "zstd", s: one, ctx: acme, want: "built, kept"},
		{name: "a third key, seen", key: "other", s: one, ctx: acme, want: "built"},
		{name: "a third key: two per page", key: "other", s: one, ctx: acme, want: "built"},
		{name: "the first still there", key: "gzip", s: one, ctx: acme, want: "acme gzip"},
		{name: "the other replica's page", key: "gzip", s: two, ctx: acme, want: "built"},
		{name: "after a write through replica two", key: "gzip", s: one, ctx: acme, want: "built",
			write: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a-009}\nspec: {type: service, lifecycle: production, owner: team-a}\n"},
		{name: "then kept again", key: "gzip", s: one, ctx: acme, want: "built, kept"},
		{name: "globex's page untouched", key: "gzip", s: one, ctx: globex, want: "globex gzip"},
	}
	for _, st := range steps {
		if st.write != "" {
			apply(t, acme, two, store.ApplyOptions{}, st.write)
		}
		name := "acme"
		if st.ctx == globex {
			name = "globex"
		}
		if got := ask(st.s, st.ctx, st.key, name+" "+st.key); got != st.want {
			t.Fatalf("%s: %q, want %q", st.name, got, st.want)
		}
	}
	uncached := store.New(env.Shards)
	for range 3 {
		if got := ask(uncached, acme, "gzip", "acme gzip"); got != "built" {
			t.Fatalf("a page without a read cache: %q", got)
		}
	}
}

// A page listed for an encoding caller (Query.Encoded) keeps its rows and is written through
// the encoder's Raw; a caller reading Page.Entities gets the same entities from it, cached or
// not, and the reverse: whichever kind of caller cached the page first, the other gets what
// an uncached read gives it, and the page is encoded once. Tenants keep their own pages under
// the same query.
func TestEncodedPages(t *testing.T) {
	_, acme, globex, one, _, _ := twoReplicas(t)
	apply(t, acme, one, store.ApplyOptions{}, components("a", 3))
	apply(t, globex, one, store.ApplyOptions{}, components("g", 2))
	writes := 0
	enc := store.Encoder{
		Name:   "name",
		Encode: func(e entity.Entity) ([]byte, error) { writes++; return []byte(e.Name()), nil },
		Raw: func(r store.Raw) ([]byte, error) {
			writes++
			e, err := store.DecodeRaw(r)
			if err != nil {
				return nil, err
			}
			return []byte(e.Name() + "*"), nil // marks what Raw wrote
		},
	}
	list := func(ctx context.Context, limit int, encoded bool) (entities, encodings []string) {
		t.Helper()
		q, _, err := query.Build(query.Request{Spec: query.Spec{Filter: []string{"kind=component"}}, Limit: limit, Encoded: encoded})
		if err != nil {
			t.Fatal(err)
		}
		p, err := one.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := store.EncodePage(p, enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			encodings = append(encodings, string(b))
		}
		return names(p.Entities), encodings
	}
	for i, tc := range []struct {
		name          string
		first, second bool // Encoded of the caller that caches the page, and of the ones after
	}{
		{"encoded, then decoded", true, false},
		{"decoded, then encoded", false, true},
		{"encoded twice", true, true},
		{"decoded twice", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := 50 + i // a query of its own, not cached yet
			// The page's encodings are the first caller's, kept with the cached page.
			wantEncs := []string{"a-000", "a-001", "a-002"}
			if tc.first {
				wantEncs = []string{"a-000*", "a-001*", "a-002*"}
			}
			for call, encoded := range []bool{tc.first, tc.second, tc.second} {
				writes = 0
				ents, encs := list(acme, limit, encoded)
				wantEnts := []string{"a-000", "a-001", "a-002"}
				if encoded && (call == 0 || tc.first) {
					wantEnts = nil // rows only, read through EncodePage
				} else if encoded {
					wantEnts = ents // the page a decoding caller cached holds both
				}
				if !slices.Equal(ents, wantEnts) || !slices.Equal(encs, wantEncs) {
					t.Fatalf("call %d (encoded %v): entities %v encodings %v, want %v and %v", call, encoded, ents, encs, wantEnts, wantEncs)
				}
				if want := map[bool]int{true: 3, false: 0}[call == 0]; writes != want {
					t.Fatalf("call %d wrote %d entities, want %d", call, writes, want)
				}
			}
			ents, encs := list(globex, limit, tc.second)
			if len(encs) != 2 || encs[0][:5] != "g-000" || !tc.second && !slices.Equal(ents, []string{"g-000", "g-001"}) {
				t.Fatalf("globex's page under acme's cached query: %v %v", ents, encs)
			}
		})
	}
}
