package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/store"
)

func drafts(t *testing.T, yaml ...string) []store.Draft {
	t.Helper()
	docs, err := ingest.Documents(nil, yaml)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ingest.Prepare(docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func apply(t *testing.T, ctx context.Context, s *store.Store, opts store.ApplyOptions, yaml ...string) []store.Result {
	t.Helper()
	res, err := s.Apply(ctx, drafts(t, yaml...), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const component = `
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Petstore
  description: %s
spec:
  type: service
  lifecycle: %s
  owner: team-a
`

func petstore(description, lifecycle string) string {
	return strings.Replace(strings.Replace(component, "%s", description, 1), "%s", lifecycle, 1)
}

func TestApplySemantics(t *testing.T) {
	env := catalogtest.New(t)
	tn := env.Tenant(t, "acme")
	ctx := tn.Ctx()
	s := env.Store

	// A dry run on an empty catalog reports a create and writes nothing.
	dry := apply(t, ctx, s, store.ApplyOptions{DryRun: true}, petstore("pets", "production"))
	if dry[0].Action != store.Created || dry[0].UID != "" {
		t.Fatalf("dry run = %+v, want created without uid", dry[0])
	}
	if n, _ := s.Count(ctx, nil, ""); n != 0 {
		t.Fatalf("dry run wrote %d entities", n)
	}

	first := apply(t, ctx, s, store.ApplyOptions{}, petstore("pets", "production"))[0]
	if first.Action != store.Created || first.UID == "" || first.Etag == "" || first.Generation != 1 || first.Ref != "component:default/petstore" {
		t.Fatalf("create = %+v", first)
	}

	again := apply(t, ctx, s, store.ApplyOptions{}, petstore("pets", "production"))[0]
	if again.Action != store.Unchanged || again.UID != first.UID || again.Etag != first.Etag || again.Generation != 1 {
		t.Fatalf("re-apply = %+v, want unchanged %+v", again, first)
	}

	// Metadata change: new etag, same generation.
	meta := apply(t, ctx, s, store.ApplyOptions{}, petstore("all the pets", "production"))[0]
	if meta.Action != store.Updated || meta.UID != first.UID || meta.Etag == first.Etag || meta.Generation != 1 {
		t.Fatalf("metadata update = %+v", meta)
	}
	// Spec change: generation increments.
	spec := apply(t, ctx, s, store.ApplyOptions{}, petstore("all the pets", "deprecated"))[0]
	if spec.Action != store.Updated || spec.UID != first.UID || spec.Etag == meta.Etag || spec.Generation != 2 {
		t.Fatalf("spec update = %+v", spec)
	}
	// A dry run of a change reports it but keeps the stored entity.
	dry = apply(t, ctx, s, store.ApplyOptions{DryRun: true}, petstore("x", "experimental"))
	if dry[0].Action != store.Updated || dry[0].UID != first.UID {
		t.Fatalf("dry update = %+v", dry[0])
	}
	e, err := s.GetByRef(ctx, "component:default/petstore")
	if err != nil {
		t.Fatal(err)
	}
	if e.Description() != "all the pets" || e.EtagField() != spec.Etag || e.Generation() != 2 || e.UID() != first.UID {
		t.Fatalf("stored = %v", e)
	}
	// Refs are case-insensitive: a differently cased name is the same entity.
	upper := apply(t, ctx, s, store.ApplyOptions{}, strings.Replace(petstore("all the pets", "deprecated"), "Petstore", "PETSTORE", 1))[0]
	if upper.UID != first.UID || upper.Action != store.Updated {
		t.Fatalf("case variant = %+v", upper)
	}

	audit, err := s.Audit(ctx, "component:default/petstore")
	if err != nil {
		t.Fatal(err)
	}
	// create, metadata update, spec update, case update; unchanged and dry runs wrote nothing.
	if len(audit) != 4 {
		t.Fatalf("audit = %+v, want 4 rows", audit)
	}
	if a := audit[0]; a.Action != "create" || a.Actor != "user:u-acme" || a.EtagBefore != "" || a.EtagAfter != first.Etag || a.RequestID != "req-acme" || a.UID != first.UID {
		t.Fatalf("audit[0] = %+v", a)
	}
	if a := audit[1]; a.Action != "update" || a.EtagBefore != first.Etag || a.EtagAfter != meta.Etag {
		t.Fatalf("audit[1] = %+v", a)
	}

	// Delete: gone, audited, and the uid is fresh when the ref comes back.
	if err := s.Delete(tn.AdminCtx(), first.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetByUID(ctx, first.UID); rpcerr.KindOf(err) != rpcerr.KindNotFound {
		t.Fatalf("get deleted = %v", err)
	}
	if err := s.Delete(tn.AdminCtx(), first.UID); rpcerr.KindOf(err) != rpcerr.KindNotFound {
		t.Fatalf("delete twice = %v", err)
	}
	back := apply(t, ctx, s, store.ApplyOptions{}, petstore("pets", "production"))[0]
	if back.Action != store.Created || back.UID == first.UID {
		t.Fatalf("re-create = %+v", back)
	}
	audit, _ = s.Audit(ctx, "component:default/petstore")
	if len(audit) != 6 || audit[4].Action != "delete" || audit[4].Actor != "user:admin-acme" || audit[4].EtagBefore != upper.Etag {
		t.Fatalf("audit after delete = %+v", audit)
	}
}

func TestEntityLimit(t *testing.T) {
	env := catalogtest.New(t)
	ctx := env.Tenant(t, "acme").Ctx()
	two := petstore("a", "production") + "---\n" + strings.Replace(petstore("b", "production"), "Petstore", "other", 1)
	if _, err := env.Store.Apply(ctx, drafts(t, two), store.ApplyOptions{EntityLimit: 1}); rpcerr.KindOf(err) != rpcerr.KindResourceExhausted {
		t.Fatalf("over the limit: %v", err)
	}
	if n, _ := env.Store.Count(ctx, nil, ""); n != 0 {
		t.Fatalf("a refused batch wrote %d entities", n)
	}
	apply(t, ctx, env.Store, store.ApplyOptions{EntityLimit: 2}, two)
	// Updating at the limit is fine: the count after the batch is what matters.
	apply(t, ctx, env.Store, store.ApplyOptions{EntityLimit: 2}, petstore("changed", "production"))
	_, err := env.Store.Apply(ctx, drafts(t, strings.Replace(petstore("c", "production"), "Petstore", "third", 1)), store.ApplyOptions{EntityLimit: 2})
	var de *rpcerr.Error
	if !errors.As(err, &de) || de.Kind != rpcerr.KindResourceExhausted || !strings.Contains(de.Msg, "limit is 2") {
		t.Fatalf("third entity: %v", err)
	}
}

// TestReplaceDerivedRows checks that updating and deleting an entity leave no stale search
// rows or edges behind.
func TestReplaceDerivedRows(t *testing.T) {
	env := catalogtest.New(t)
	tn := env.Tenant(t, "acme")
	ctx := tn.Ctx()
	s := env.Store
	v1 := "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc, tags: [java], annotations: {a.io/x: one}}\nspec: {type: service, lifecycle: production, owner: team-a, dependsOn: ['resource:db']}\n"
	v2 := "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc, tags: [go]}\nspec: {type: service, lifecycle: production, owner: team-b}\n"
	res := apply(t, ctx, s, store.ApplyOptions{}, v1)[0]
	apply(t, ctx, s, store.ApplyOptions{}, v2)
	count := func(filter ...string) int64 {
		t.Helper()
		node, err := filter2(filter)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Count(ctx, node, "")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for f, want := range map[string]int64{
		"metadata.tags=java": 0, "metadata.tags=go": 1, "metadata.annotations.a.io/x": 0,
		"relations.ownedBy=group:default/team-a": 0, "relations.ownedBy=group:default/team-b": 1,
		"relations.dependsOn": 0, "kind=component": 1,
	} {
		if got := count(f); got != want {
			t.Errorf("after update, %s matches %d, want %d", f, got, want)
		}
	}
	if err := s.Delete(ctx, res.UID); err != nil {
		t.Fatal(err)
	}
	pool, _ := env.Shards.Pool(catalogtest.Shard)
	var rows, edges int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM `+tn.Schema+`.catalog_search), (SELECT count(*) FROM `+tn.Schema+`.catalog_relations)`).Scan(&rows, &edges); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || edges != 0 {
		r, _ := pool.Query(context.Background(), `SELECT key, coalesce(value, 'NULL') FROM `+tn.Schema+`.catalog_search`)
		left, err := pgx.CollectRows(r, func(r pgx.CollectableRow) (string, error) {
			var k, v string
			err := r.Scan(&k, &v)
			return k + "=" + v, err
		})
		_ = err
		t.Fatalf("after delete: %d search rows, %d edges left: %v", rows, edges, left)
	}
}

func filter2(f []string) (store.Expr, error) {
	node, err := filter.Parse(f)
	return store.FromFilter(node), err
}

// Bodies are stored as the text jsonb prints (migration 005), which the raw encoders read as
// it is: keys in jsonb's order, whatever order the YAML gave them, on insert and on update.
func TestStoredBodyIsJSONBText(t *testing.T) {
	env := catalogtest.New(t)
	tn := env.Tenant(t, "acme")
	ctx := tn.Ctx()
	s := env.Store
	apply(t, ctx, s, store.ApplyOptions{}, "kind: Component\napiVersion: backstage.io/v1alpha1\nspec: {type: service, owner: team-a, lifecycle: production}\nmetadata: {name: svc, tags: [b, a], annotations: {z.io/x: '1', a.io/y: \"é\\t\"}}\n")
	apply(t, ctx, s, store.ApplyOptions{}, "metadata: {title: T, name: svc}\nkind: Component\napiVersion: backstage.io/v1alpha1\nspec: {owner: team-b, type: website, lifecycle: experimental}\n")
	pool, _ := env.Shards.Pool(catalogtest.Shard)
	var body, printed string
	if err := pool.QueryRow(context.Background(), `SELECT body::text, body::jsonb::text FROM `+pgx.Identifier{tn.Schema, "catalog_entities"}.Sanitize()+` WHERE ref = 'component:default/svc'`).Scan(&body, &printed); err != nil {
		t.Fatal(err)
	}
	if body != printed || !strings.Contains(body, `"title": "T"`) {
		t.Fatalf("stored body %s, jsonb prints %s", body, printed)
	}
}
