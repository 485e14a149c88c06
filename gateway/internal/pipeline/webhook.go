package pipeline

import (
	"net/http"
	"strings"

	"atrium.dev/platform/access"
	"atrium.dev/platform/rpcerr"
)

// GitWebhookPrefix is where Git hosts post push events for a tenant's Location:
// POST /webhooks/git/{tenant slug or id}/{location id}.
const GitWebhookPrefix = "/webhooks/git/"

// ServeGitWebhook forwards a push webhook to the catalog. There is no user to authenticate
// (a Git host calls it): the tenant comes from the path, and the catalog checks the
// payload's HMAC signature (X-Hub-Signature-256) with the Location's secret. Calls are
// limited per client address like any public call.
func (g *Gateway) ServeGitWebhook(w http.ResponseWriter, r *http.Request) {
	c, w, r := g.begin(w, r, true)
	defer g.finish(c)
	c.procedure = "POST " + GitWebhookPrefix
	c.rule = access.Rule{Procedure: c.procedure, Level: access.Public}
	c.limitKey = GitWebhookPrefix
	c.upstream = g.cfg.REST["/api/catalog/"]
	key, loc, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, GitWebhookPrefix), "/")
	if r.Method != http.MethodPost || !ok || key == "" || loc == "" || strings.Contains(loc, "/") || c.upstream == nil {
		g.fail(w, r, c, rpcerr.NotFound("no such webhook"))
		return
	}
	if err := g.limitBody(w, r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	t, err := g.tenantByKey(r.Context(), key, "")
	if err != nil {
		g.fail(w, r, c, err)
		return
	}
	c.tenant = t
	if err := g.authorize(r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	if err := g.rateLimit(r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	r.URL.Path, r.URL.RawPath = GitWebhookPrefix+loc, ""
	g.forward(w, r, c)
}
