package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/store"
)

// The usage hook hears each tenant's count after every committed write, and only then.
func TestOnEntityCount(t *testing.T) {
	env := catalogtest.New(t)
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	var mu sync.Mutex
	var heard []string
	env.Store.OnEntityCount(func(tenantID string, n int64) {
		mu.Lock()
		heard = append(heard, fmt.Sprintf("%s=%d", map[string]string{acme.ID: "acme", globex.ID: "globex"}[tenantID], n))
		mu.Unlock()
	})
	take := func() string {
		mu.Lock()
		defer mu.Unlock()
		s := strings.Join(heard, " ")
		heard = nil
		return s
	}
	named := func(name string) string { return strings.Replace(petstore("x", "production"), "Petstore", name, 1) }
	for _, tt := range []struct {
		name string
		do   func(t *testing.T)
		want string
	}{
		{"apply creates", func(t *testing.T) {
			apply(t, acme.Ctx(), env.Store, store.ApplyOptions{}, named("a")+"---\n"+named("b"))
		}, "acme=2"},
		{"another tenant", func(t *testing.T) { apply(t, globex.Ctx(), env.Store, store.ApplyOptions{}, named("a")) }, "globex=1"},
		{"an update keeps the count", func(t *testing.T) {
			apply(t, acme.Ctx(), env.Store, store.ApplyOptions{}, strings.Replace(named("a"), "description: x", "description: y", 1))
		}, "acme=2"},
		{"a dry run is not a write", func(t *testing.T) {
			apply(t, acme.Ctx(), env.Store, store.ApplyOptions{DryRun: true}, named("c"))
		}, ""},
		{"a refused batch is not a write", func(t *testing.T) {
			if _, err := env.Store.Apply(acme.Ctx(), drafts(t, named("c")), store.ApplyOptions{EntityLimit: 2}); err == nil {
				t.Fatal("over the limit applied")
			}
		}, ""},
		{"delete", func(t *testing.T) {
			page, err := env.Store.List(acme.Ctx(), store.Query{Limit: 1})
			if err != nil || len(page.Entities) == 0 {
				t.Fatalf("list: %v", err)
			}
			if err := env.Store.Delete(acme.Ctx(), page.Entities[0].UID()); err != nil {
				t.Fatal(err)
			}
		}, "acme=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.do(t)
			if got := take(); got != tt.want {
				t.Fatalf("heard %q, want %q", got, tt.want)
			}
		})
	}

}
