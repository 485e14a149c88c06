package pipeline

import (
	"errors"
	"net/http"

	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// ServeRPC serves a Connect, gRPC or gRPC-Web request for "/pkg.Service/Method".
func (g *Gateway) ServeRPC(w http.ResponseWriter, r *http.Request) {
	c, w, r := g.begin(w, r, false)
	defer g.finish(c)

	rt, ok := g.cfg.Routes.Lookup(r.URL.Path)
	if !ok {
		// Unknown and INTERNAL procedures get the same answer: no one learns which exist.
		c.procedure = "unknown"
		g.fail(w, r, c, rpcerr.NotFound("no such procedure"))
		return
	}
	c.procedure, c.limitKey, c.rule, c.upstream = r.URL.Path, r.URL.Path, rt.Rule, rt.Upstream
	if c.upstream == nil {
		g.fail(w, r, c, connect.NewError(connect.CodeUnimplemented, errors.New(rt.Service+" is not served by this gateway")))
		return
	}
	if err := g.check(w, r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	if err := g.limitExpansion(r, c); err != nil {
		g.fail(w, r, c, err)
		return
	}
	if sp, ok := wantsSession(r, c.procedure); ok {
		g.serveSession(w, r, c, sp)
		return
	}
	g.forward(w, r, c)
}
