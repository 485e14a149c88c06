package pipeline

import (
	"context"
	"errors"
	"net/http"

	"atrium.dev/gateway/internal/proxy"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// forward gets the internal token for the request's identity and proxies the request.
// Unary calls get the upstream timeout; streams do not, they last as long as the client wants.
//
// Every request reuses one token per identity (the request id goes in its own header, which
// guard.Authenticate reads for RPCs and for the catalog's REST and webhook handlers alike).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, c *call) {
	tok, err := g.cfg.Tokens.Token(c.identity)
	if err != nil {
		g.fail(w, r, c, rpcerr.Unavailable("cannot sign the internal token").WithCause(err))
		return
	}
	ctx := proxy.WithTarget(r.Context(), proxy.Target{Base: c.upstream, InternalToken: tok, RequestID: c.requestID})
	if !c.rule.Streaming && g.cfg.UpstreamTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.UpstreamTimeout)
		defer cancel()
	}
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// upstreamError answers a request the upstream did not: the body was over its limit, the
// client left, the upstream timed out or could not be reached.
func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	refusal := expansionRefusal(err) // the body over its limit (see limitBody, limitExpansion)
	switch {
	case refusal != nil:
		err = refusal
	case errors.Is(err, context.DeadlineExceeded):
		err = connect.NewError(connect.CodeDeadlineExceeded, errors.New("upstream timed out"))
	case errors.Is(err, context.Canceled):
		err = connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	default:
		g.cfg.Log.WarnContext(r.Context(), "upstream unavailable", "upstream", c.upstream.Host, "err", err)
		err = rpcerr.Unavailable("upstream unavailable").WithCause(err)
	}
	g.fail(w, r, c, err)
}

// fail answers with an error the gateway produced.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	if c.rest {
		status := g.errs.REST(w, r, err)
		c.code = codeOfHTTP(status)
		return
	}
	c.code = codeString(g.errs.RPC(w, r, err))
}
