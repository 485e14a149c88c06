package pipeline

import (
	"net"
	"net/http"

	"atrium.dev/platform/rpcerr"
)

// rateLimit spends one unit of the caller's budget: the tenant's, an operator's own, or for
// requests with neither (SignUp) the client address's.
func (g *Gateway) rateLimit(r *http.Request, c *call) error {
	var key string
	switch {
	case c.identity.OperatorID != "":
		key = "op:" + c.identity.OperatorID
	case c.identity.TenantID != "":
		key = "t:" + c.identity.TenantID
	default:
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		key = "ip:" + host
	}
	d := g.cfg.Limiter.Allow(r.Context(), key)
	if d.Allowed {
		return nil
	}
	return rpcerr.ResourceExhausted(d.RetryAfter, "rate limit exceeded; retry later")
}
