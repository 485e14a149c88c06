package pipeline

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"atrium.dev/platform/rpcerr"
)

// rateLimit spends one unit of the caller's budget: the tenant's for its authenticated
// members, an operator's own, and for calls without a credential (PUBLIC methods: sign-up,
// login, refresh) the client address's. Anonymous calls never spend a tenant's budget: one
// outsider flooding Refresh with junk under Atrium-Tenant: acme starved acme's own members
// (issue 6, finding 2). The credential-ish PUBLIC methods (login, password reset, invitation
// accept) also spend the stricter per-address auth budget.
func (g *Gateway) rateLimit(r *http.Request, c *call) error {
	var key string
	switch {
	case c.identity.OperatorID != "":
		key = "op:" + c.identity.OperatorID
	case c.cred != nil && c.identity.TenantID != "":
		key = "t:" + c.identity.TenantID
	default:
		key = "ip:" + g.clientAddr(r)
		if authProcedures[c.procedure] && g.cfg.AuthLimiter != nil {
			if d := g.cfg.AuthLimiter.Allow(r.Context(), "auth:"+g.clientAddr(r)); !d.Allowed {
				g.holdRefusal(r.Context(), d.RetryAfter)
				return rpcerr.ResourceExhausted(d.RetryAfter, "too many sign-in attempts from this address; retry later")
			}
		}
	}
	d := g.cfg.Limiter.Allow(r.Context(), key)
	if !d.Allowed {
		g.holdRefusal(r.Context(), d.RetryAfter)
		return rpcerr.ResourceExhausted(d.RetryAfter, "rate limit exceeded; retry later")
	}
	return g.planRate(r, c)
}

// authProcedures take secrets from anonymous callers; they get the per-address auth budget.
var authProcedures = map[string]bool{
	"/atrium.tenancy.v1.AuthService/Login":                true,
	"/atrium.tenancy.v1.AuthService/AcceptInvitation":     true,
	"/atrium.tenancy.v1.AuthService/RequestPasswordReset": true,
	"/atrium.tenancy.v1.AuthService/ResetPassword":        true,
}

// failedAuth spends the client address's auth budget for a credential that did not verify, so
// a flood of invalid tokens is limited too (it was 355 lookups a second). Over budget, the
// answer is ResourceExhausted instead of the authentication error.
func (g *Gateway) failedAuth(r *http.Request, err error) error {
	if g.cfg.AuthLimiter == nil || rpcerr.KindOf(err) != rpcerr.KindUnauthenticated {
		return err
	}
	if d := g.cfg.AuthLimiter.Allow(r.Context(), "auth:"+g.clientAddr(r)); !d.Allowed {
		g.holdRefusal(r.Context(), d.RetryAfter)
		return rpcerr.ResourceExhausted(d.RetryAfter, "too many failed authentications from this address; retry later")
	}
	return err
}

// clientAddr is the caller's address: the connection's peer, or with TrustedProxyHops = n the
// n-th address from the right of X-Forwarded-For (the one the nearest trusted proxy saw). The
// header is never believed by default: anyone can send one.
func (g *Gateway) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if n := g.cfg.TrustedProxyHops; n > 0 {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hops = append(hops, h)
				}
			}
		}
		if len(hops) >= n {
			if ip := net.ParseIP(hops[len(hops)-n]); ip != nil {
				return ip.String()
			}
		}
	}
	return host
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
		if g.cfg.Requests != nil {
			g.cfg.Requests.Add(tid)
		}
		return nil
	}
	g.holdRefusal(r.Context(), d.RetryAfter)
	return rpcerr.ResourceExhausted(d.RetryAfter, "the plan's limit of %d API requests per minute is reached; retry later", perMinute)
}

// planRateLimit is the snapshot limit the gateway enforces.
const planRateLimit = "api_requests_per_minute"

// holdRefusal delays the answer to a call refused for its rate until it could have been
// allowed (RetryAfter), at most maxRefusalHold, for at most maxRefusalHolds calls at once
// (beyond that, refusals are answered at once). A client that ignores Retry-After and calls
// again the moment it is refused otherwise turns the gateway's CPU into refusals: two such
// callers of one tenant made 4,400 refusals a second, a core's worth on a two-core box, and
// the other tenants' calls queued behind them. Held, they make one call per RetryAfter, and a
// held call costs a goroutine and a timer, no CPU.
func (g *Gateway) holdRefusal(ctx context.Context, retryAfter time.Duration) {
	d := min(retryAfter, maxRefusalHold)
	if d <= 0 {
		return
	}
	select {
	case g.holds <- struct{}{}:
	default:
		return
	}
	defer func() { <-g.holds }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Bounds of holdRefusal.
const (
	maxRefusalHold  = 250 * time.Millisecond
	maxRefusalHolds = 4096
)
