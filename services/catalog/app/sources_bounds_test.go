package app_test

import (
	"context"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/bundle"
	"connectrpc.com/connect"
)

const boundsRoot = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a}
spec: {type: service, lifecycle: production, owner: team-x}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc-b
  description: {$text: ./docs/b.txt}
spec: {type: service, lifecycle: production, owner: team-x}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: more}
spec:
  targets: [%s]
`

func component(name string) *string {
	return s("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: " + name + "}\nspec: {type: service, lifecycle: production, owner: team-x}\n")
}

// TestLocationPastABound: a repository that passes a bound of one read (a placeholder too
// large, more Location targets than allowed) has those items reported with their file,
// document and field, and the rest imported, as Backstage reports errors per entity; the
// entity whose placeholder no longer fits keeps its last good version instead of becoming
// an orphan.
func TestLocationPastABound(t *testing.T) {
	g := newGitServer(t)
	g.push(t, "org/big", map[string]*string{
		"catalog-info.yaml": s(strings.Replace(boundsRoot, "%s", "./x.yaml, ./y.yaml", 1)),
		"docs/b.txt":        s("small"),
		"x.yaml":            component("svc-x"),
		"y.yaml":            component("svc-y"),
		"z.yaml":            component("svc-z"),
	})
	srv := sourceServer(t, []string{g.hostPort()}, func(c *app.Config) {
		c.SourceLimits = bundle.Limits{MaxTargets: 2, MaxEntityExpansion: 100}
	})
	tn := srv.env.Tenant(t, "acme")
	id := &tn.Identity
	ctx := context.Background()
	lc := srv.locations(id)
	target := g.srv.URL + "/org/big/blob/main/catalog-info.yaml"
	created, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: target}))
	if err != nil {
		t.Fatal(err)
	}
	locID := created.Msg.GetLocation().GetId()
	if n := created.Msg.GetLocation().GetEntityCount(); n != 6 { // Location entity, a, b, more, x, y
		t.Fatalf("first refresh: %d entities, location %v", n, created.Msg.GetLocation())
	}

	// Now b's description is past the per-entity expansion bound and the Location names a
	// third target, past MaxTargets.
	g.push(t, "org/big", map[string]*string{
		"catalog-info.yaml": s(strings.Replace(boundsRoot, "%s", "./x.yaml, ./y.yaml, ./z.yaml", 1)),
		"docs/b.txt":        s(strings.Repeat("long ", 100)),
	})
	res, err := lc.RefreshLocation(ctx, connect.NewRequest(&catalogv1.RefreshLocationRequest{Id: locID}))
	if err != nil {
		t.Fatalf("refresh failed as a whole: %v", err)
	}
	loc := res.Msg.GetLocation()
	if loc.GetLastError() != "" || len(res.Msg.GetOrphaned()) != 0 {
		t.Fatalf("location %v orphaned %v", loc, res.Msg.GetOrphaned())
	}
	var sawB, sawZ bool
	for _, p := range loc.GetProblems() {
		switch {
		case p.GetFile() == "catalog-info.yaml" && p.GetHasDocument() && p.GetDocument() == 1 && p.GetField() == "$text":
			sawB = strings.Contains(p.GetMessage(), "at most 100 bytes per entity")
		case p.GetFile() == "catalog-info.yaml" && p.GetDocument() == 2 && p.GetField() == "spec.targets[2]":
			sawZ = strings.Contains(p.GetMessage(), "more than 2 targets")
		}
	}
	if !sawB || !sawZ {
		t.Fatalf("problems = %v", loc.GetProblems())
	}
	for name, want := range map[string]int{"svc-a": 200, "svc-x": 200, "svc-y": 200, "svc-z": 404} {
		if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/"+name, nil); st != want {
			t.Fatalf("%s = %d, want %d", name, st, want)
		}
	}
	// b keeps its last good version (not half-read, not an orphan).
	st, _, v := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-b", nil)
	if st != 200 || field(v, "metadata", "description") != "small" || field(v, "metadata", "annotations", "backstage.io/orphan") != nil {
		t.Fatalf("svc-b = %d %v", st, v)
	}
}
