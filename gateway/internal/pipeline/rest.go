package pipeline

import (
	"net/http"
	"strings"

	"atrium.dev/platform/access"
	"atrium.dev/platform/rpcerr"
)

// ServeREST serves the plain-HTTP routes under a REST prefix (Backstage's catalog API). They
// take the same path as RPCs; their access rule comes from the HTTP method.
func (g *Gateway) ServeREST(w http.ResponseWriter, r *http.Request) {
	c, w, r := g.begin(w, r, true)
	defer g.finish(c)

	prefix, ok := g.RESTPrefix(r.URL.Path)
	if !ok {
		c.procedure = "unknown"
		g.fail(w, r, c, rpcerr.NotFound("no such API"))
		return
	}
	c.procedure = restProcedure(r.Method, prefix, r.URL.Path)
	c.limitKey, c.rule, c.upstream = prefix, restRule(r.Method, r.URL.Path), g.cfg.REST[prefix]
	if err := g.check(w, r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	g.forward(w, r, c)
}

// restRule: reads (GET, HEAD, and the POST queries: by-query, by-refs, entity-facets, and
// validate-entity and analyze-location, which write nothing) need a member, and pass for
// suspended tenants; DELETE needs an admin; any other write a member.
func restRule(method, path string) access.Rule {
	rule := access.Rule{Procedure: method + " " + path, Level: access.TenantMember}
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		rule.ReadOnly = true
	case method == http.MethodPost && (strings.HasSuffix(path, "/by-query") || strings.HasSuffix(path, "/by-refs") ||
		strings.HasSuffix(path, "/entity-facets") || strings.HasSuffix(path, "/validate-entity") ||
		strings.HasSuffix(path, "/analyze-location")):
		rule.ReadOnly = true
	case method == http.MethodDelete:
		rule.Level = access.TenantAdmin
	}
	return rule
}

// restProcedure names a REST call by method, prefix and first path segment
// ("GET /api/catalog/entities"), which keeps ids and names out of usage rollups.
func restProcedure(method, prefix, path string) string {
	rest := strings.TrimPrefix(path, prefix)
	first, _, _ := strings.Cut(rest, "/")
	return method + " " + prefix + first
}
