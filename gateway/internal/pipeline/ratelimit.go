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
	if !d.Allowed {
		return rpcerr.ResourceExhausted(d.RetryAfter, "rate limit exceeded; retry later")
	}
	return g.planRate(r, c)
}

// planRate spends one request of the tenant's plan budget (api_requests_per_minute). It
// applies to tenant requests only, and only with entitlements configured; a tenant whose
// snapshot cannot be had (entitlements down, nothing cached) is not held back by it.
func (g *Gateway) planRate(r *http.Request, c *call) error {
	tid := c.identity.TenantID
	if g.cfg.Entitlements == nil || g.cfg.PlanLimiters == nil || tid == "" || c.identity.OperatorID != "" {
		return nil
	}
	perMinute, err := g.cfg.Entitlements.Limit(r.Context(), tid, planRateLimit)
	if err != nil {
		return nil
	}
	d := g.cfg.PlanLimiters.Allow(r.Context(), tid, perMinute)
	if d.Allowed {
		return nil
	}
	return rpcerr.ResourceExhausted(d.RetryAfter, "the plan's limit of %d API requests per minute is reached; retry later", perMinute)
}

// planRateLimit is the snapshot limit the gateway enforces.
const planRateLimit = "api_requests_per_minute"
