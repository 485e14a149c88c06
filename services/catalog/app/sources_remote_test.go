package app_test

import (
	"context"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"connectrpc.com/connect"
)

// TestLocationTargetsInOtherRepositories: a Location entity whose targets name files of other
// repositories has them fetched and imported, as Backstage's Location processing does (their
// managed-by-location is their own URL, their origin the registered Location); relative
// targets inside the other repository resolve there; a cycle back is read once; a target
// that cannot be fetched is a problem on its field and orphans nothing; a push to the other
// repository alone is picked up by the next refresh, and with nothing changed anywhere the
// refresh reads nothing.
func TestLocationTargetsInOtherRepositories(t *testing.T) {
	g := newGitServer(t)
	base := g.srv.URL
	g.push(t, "org/other", map[string]*string{
		"catalog-info.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-o}\nspec: {type: service, lifecycle: production, owner: team-x}\n" +
			"---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: other-more}\nspec:\n  targets: [./more.yaml, \"" + base + "/org/root/blob/main/catalog-info.yaml\"]\n"),
		"more.yaml": component("svc-o2"),
	})
	rootFile := "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-r}\nspec: {type: service, lifecycle: production, owner: team-x}\n" +
		"---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: elsewhere}\nspec:\n  targets: [\"" + base + "/org/other/blob/main/catalog-info.yaml\"%s]\n"
	g.push(t, "org/root", map[string]*string{"catalog-info.yaml": s(strings.Replace(rootFile, "%s", "", 1))})
	srv := sourceServer(t, []string{g.hostPort()})
	tn := srv.env.Tenant(t, "acme")
	id := &tn.Identity
	ctx := context.Background()
	lc := srv.locations(id)
	target := base + "/org/root/blob/main/catalog-info.yaml"

	dry, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: target, DryRun: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(dry.Msg.GetEntities())[1:], ","); got != "svc-r,elsewhere,svc-o,other-more,svc-o2" || len(dry.Msg.GetProblems()) != 0 {
		t.Fatalf("dry run: %s, problems %v", got, dry.Msg.GetProblems())
	}
	created, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: target}))
	if err != nil {
		t.Fatal(err)
	}
	locID := created.Msg.GetLocation().GetId()
	st, _, v := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-o2", nil)
	if st != 200 || field(v, "metadata", "annotations", "backstage.io/managed-by-location") != "url:"+base+"/org/other/blob/main/more.yaml" ||
		field(v, "metadata", "annotations", "backstage.io/managed-by-origin-location") != "url:"+target {
		t.Fatalf("svc-o2 = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations/by-entity/component/default/svc-o", nil)
	if st != 200 || field(v, "id") != locID {
		t.Fatalf("svc-o's location = %d %v", st, v)
	}

	// Nothing changed in either repository: a push webhook (which, like the worker, skips
	// what is unchanged) checks both and writes nothing.
	sec, err := srv.locations(&tn.Admin).GetWebhookSecret(ctx, connect.NewRequest(&catalogv1.GetWebhookSecretRequest{Id: locID}))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
	if code := srv.webhook(t, id, locID, sec.Msg.GetSecret(), `{}`); code != 202 {
		t.Fatalf("webhook = %d", code)
	}
	waitFor(t, func() bool {
		after, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
		return after.Msg.GetLocation().GetCheckedAt() > before.Msg.GetLocation().GetCheckedAt()
	})
	if after, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID})); after.Msg.GetLocation().GetRefreshedAt() != before.Msg.GetLocation().GetRefreshedAt() {
		t.Fatal("a refresh with nothing changed wrote the location")
	}
	// A push to the other repository only: the next unforced refresh reads it.
	g.push(t, "org/other", map[string]*string{"more.yaml": component("svc-o3")})
	if code := srv.webhook(t, id, locID, sec.Msg.GetSecret(), `{}`); code != 202 {
		t.Fatalf("webhook = %d", code)
	}
	waitFor(t, func() bool {
		st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-o3", nil)
		return st == 200
	})
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-o2", nil)
	if st != 200 || field(v, "metadata", "annotations", "backstage.io/orphan") != "true" {
		t.Fatalf("svc-o2 after its removal = %d %v", st, v)
	}

	// A target that cannot be fetched: a problem on its field, and nothing becomes an orphan.
	g.push(t, "org/root", map[string]*string{"catalog-info.yaml": s(strings.Replace(rootFile, "%s", `, "`+base+`/org/missing/blob/main/catalog-info.yaml"`, 1))})
	res, err := lc.RefreshLocation(ctx, connect.NewRequest(&catalogv1.RefreshLocationRequest{Id: locID}))
	if err != nil || len(res.Msg.GetOrphaned()) != 0 {
		t.Fatalf("refresh with a missing repository = %v, %v", res, err)
	}
	var found bool
	for _, p := range res.Msg.GetLocation().GetProblems() {
		if p.GetFile() == "catalog-info.yaml" && p.GetDocument() == 1 && p.GetField() == "spec.targets[1]" && strings.Contains(p.GetMessage(), "org/missing") {
			found = true
		}
	}
	if !found {
		t.Fatalf("problems = %v", res.Msg.GetLocation().GetProblems())
	}
}
