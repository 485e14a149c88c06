// Package synth generates a realistic synthetic catalog of any size for benchmarks: an
// organisation of departments and teams, users in them, domains and systems owned by teams,
// and mostly components, with APIs and resources between them. Entities carry the relations,
// tags, annotations and descriptions real catalogs have, so filters, facets and full-text
// search meet realistic selectivities. The same seed and size give the same catalog.
package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"atrium.dev/services/catalog/internal/entity"
)

// Mix is the share of each kind, in per mille of the total.
var Mix = struct{ Users, Groups, Domains, Systems, APIs, Resources int }{
	Users: 100, Groups: 15, Domains: 2, Systems: 25, APIs: 150, Resources: 60,
}

var (
	tags       = []string{"java", "go", "python", "typescript", "react", "kotlin", "rust", "grpc", "kafka", "postgres", "redis", "graphql", "terraform", "k8s", "ml", "payments", "search", "auth", "mobile", "internal"}
	nouns      = []string{"payment", "checkout", "ledger", "invoice", "catalog", "search", "identity", "session", "profile", "inventory", "shipping", "pricing", "recommendation", "notification", "billing", "analytics", "gateway", "scheduler", "report", "media", "review", "order", "cart", "fraud", "loyalty"}
	roles      = []string{"service", "api", "worker", "web", "sync", "processor", "store", "adapter", "engine", "portal"}
	verbs      = []string{"Handles", "Serves", "Computes", "Stores", "Routes", "Validates", "Publishes", "Aggregates", "Indexes", "Renders"}
	objects    = []string{"card payments", "customer sessions", "order events", "price quotes", "product listings", "shipping labels", "fraud signals", "search queries", "user profiles", "monthly invoices"}
	lifecycles = []string{"production", "production", "production", "experimental", "deprecated"}
	compTypes  = []string{"service", "service", "service", "website", "library"}
	apiTypes   = []string{"openapi", "openapi", "grpc", "asyncapi", "graphql"}
	resTypes   = []string{"database", "s3-bucket", "queue", "cache"}
	firstNames = []string{"ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis", "radia", "edsger", "frances", "john", "lynn", "tim", "hedy"}
)

// Catalog is a generated catalog in dependency-friendly order: groups, users, domains,
// systems, resources, APIs, components.
type Catalog struct {
	Entities []entity.Entity
	// Teams are the canonical refs of the team groups (for owner filters).
	Teams []string
}

type gen struct {
	r   *rand.Rand
	out []entity.Entity
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) tags(max int) []any {
	n := g.r.IntN(max + 1)
	seen := map[string]bool{}
	var out []any
	for i := 0; i < n; i++ {
		t := g.pick(tags)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func (g *gen) add(kind, name string, meta map[string]any, spec map[string]any) {
	meta["name"] = name
	g.out = append(g.out, entity.Entity{"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec})
}

func share(total, perMille, min int) int {
	return max(total*perMille/1000, min)
}

// Generate returns n entities (n >= 50), deterministically for a seed.
func Generate(n int, seed uint64) Catalog {
	n = max(n, 50)
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	groups := share(n, Mix.Groups, 4)
	depts := max(groups/10, 1)
	teams := groups - depts - 1
	users := share(n, Mix.Users, 2)
	domains := share(n, Mix.Domains, 1)
	systems := share(n, Mix.Systems, 2)
	apis := share(n, Mix.APIs, 2)
	resources := share(n, Mix.Resources, 1)
	components := n - groups - users - domains - systems - apis - resources

	teamName := func(i int) string { return fmt.Sprintf("team-%04d", i) }
	var cat Catalog
	// Organisation: one root, departments under it, teams under departments.
	var deptChildren []any
	for d := 0; d < depts; d++ {
		deptChildren = append(deptChildren, fmt.Sprintf("dept-%03d", d))
	}
	g.add("Group", "org", map[string]any{"title": "The Organisation"}, map[string]any{"type": "organization", "children": deptChildren})
	for d := 0; d < depts; d++ {
		var children []any
		for t := d; t < teams; t += depts {
			children = append(children, teamName(t))
		}
		g.add("Group", fmt.Sprintf("dept-%03d", d), map[string]any{"title": fmt.Sprintf("Department %d", d)}, map[string]any{"type": "department", "parent": "org", "children": children})
	}
	for t := 0; t < teams; t++ {
		noun := nouns[t%len(nouns)]
		g.add("Group", teamName(t), map[string]any{
			"title":       fmt.Sprintf("%s team %d", strings.ToUpper(noun[:1])+noun[1:], t),
			"description": fmt.Sprintf("Owns the %s platform.", noun),
		}, map[string]any{"type": "team", "parent": fmt.Sprintf("dept-%03d", t%depts), "children": []any{},
			"profile": map[string]any{"email": teamName(t) + "@example.com"}})
		cat.Teams = append(cat.Teams, "group:default/"+teamName(t))
	}
	team := func() string { return teamName(g.r.IntN(teams)) }
	for u := 0; u < users; u++ {
		first := g.pick(firstNames)
		memberOf := []any{team()}
		if g.r.IntN(5) == 0 {
			memberOf = append(memberOf, team())
		}
		name := fmt.Sprintf("%s.%05d", first, u)
		g.add("User", name, map[string]any{}, map[string]any{
			"memberOf": memberOf,
			"profile":  map[string]any{"displayName": fmt.Sprintf("%s %d", strings.ToUpper(first[:1])+first[1:], u), "email": name + "@example.com"},
		})
	}
	for d := 0; d < domains; d++ {
		g.add("Domain", fmt.Sprintf("domain-%03d", d), map[string]any{"description": "Everything about " + nouns[d%len(nouns)] + "."}, map[string]any{"owner": fmt.Sprintf("dept-%03d", d%depts)})
	}
	sysName := func(i int) string { return fmt.Sprintf("%s-system-%04d", nouns[i%len(nouns)], i) }
	for s := 0; s < systems; s++ {
		g.add("System", sysName(s), map[string]any{"description": fmt.Sprintf("The %s system.", nouns[s%len(nouns)]), "tags": g.tags(2)},
			map[string]any{"owner": team(), "domain": fmt.Sprintf("domain-%03d", s%domains)})
	}
	system := func() string { return sysName(g.r.IntN(systems)) }
	resName := func(i int) string {
		return fmt.Sprintf("%s-%s-%05d", nouns[i%len(nouns)], resTypes[i%len(resTypes)], i)
	}
	for i := 0; i < resources; i++ {
		g.add("Resource", resName(i), map[string]any{"description": "Stores " + g.pick(objects) + "."},
			map[string]any{"type": resTypes[i%len(resTypes)], "owner": team(), "system": system()})
	}
	apiName := func(i int) string { return fmt.Sprintf("%s-api-%05d", nouns[i%len(nouns)], i) }
	for i := 0; i < apis; i++ {
		g.add("API", apiName(i), map[string]any{"description": g.pick(verbs) + " " + g.pick(objects) + ".", "tags": g.tags(2)},
			map[string]any{"type": g.pick(apiTypes), "lifecycle": g.pick(lifecycles), "owner": team(), "system": system(),
				"definition": fmt.Sprintf("openapi: 3.0.0\ninfo:\n  title: %s\n  version: 1.0.%d\npaths: {}\n", apiName(i), i%10)})
	}
	for i := 0; i < components; i++ {
		noun := nouns[i%len(nouns)]
		name := fmt.Sprintf("%s-%s-%05d", noun, roles[(i/len(nouns))%len(roles)], i)
		spec := map[string]any{"type": g.pick(compTypes), "lifecycle": g.pick(lifecycles), "owner": team()}
		if g.r.IntN(10) < 8 {
			spec["system"] = system()
		}
		if g.r.IntN(3) == 0 {
			spec["providesApis"] = []any{apiName(g.r.IntN(apis))}
		}
		if k := g.r.IntN(3); k > 0 {
			var c []any
			for j := 0; j < k; j++ {
				c = append(c, apiName(g.r.IntN(apis)))
			}
			spec["consumesApis"] = c
		}
		if g.r.IntN(2) == 0 {
			spec["dependsOn"] = []any{"resource:" + resName(g.r.IntN(resources))}
		}
		g.add("Component", name, map[string]any{
			"title":       strings.ToUpper(noun[:1]) + noun[1:] + " " + roles[(i/len(nouns))%len(roles)] + fmt.Sprintf(" %d", i),
			"description": g.pick(verbs) + " " + g.pick(objects) + " for the " + noun + " domain.",
			"tags":        g.tags(3),
			"annotations": map[string]any{
				"github.com/project-slug":   "example/" + name,
				"backstage.io/techdocs-ref": "dir:.",
			},
			"links": []any{map[string]any{"url": "https://runbooks.example.com/" + name, "title": "Runbook"}},
		}, spec)
	}
	cat.Entities = g.out
	return cat
}
