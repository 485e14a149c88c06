// Package pipeline is the gateway's request path (docs/ARCHITECTURE.md, "A request's way"), one step per
// file, in this order:
//
//	requestid.go  request id from X-Request-Id if sane, else fresh; echoed in the response
//	bodylimit.go  request body limit, per procedure or REST prefix
//	rpc.go/rest.go route lookup: unknown and INTERNAL procedures are NotFound
//	tenant.go     tenant from host or Atrium-Tenant header; its status
//	credential.go bearer token; its tenant must be the request's tenant
//	authorize.go  access.Check and plugin entitlement
//	ratelimit.go  per tenant (per operator, per client address when neither)
//	expansion.go  compressed RPC messages: each must decompress within the body limit
//	forward.go    internal token (one per identity, reused) and request id attached, client
//	              identity headers dropped, proxied over h2c
//	usage.go      one usage event per request
//	telemetry.go  one server span and duration measurement per request
//
// Errors the gateway produces itself are written in the caller's protocol (errwrite).
package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"time"

	"atrium.dev/gateway/internal/credential"
	"atrium.dev/gateway/internal/errwrite"
	"atrium.dev/gateway/internal/membership"
	"atrium.dev/gateway/internal/proxy"
	"atrium.dev/gateway/internal/ratelimit"
	"atrium.dev/gateway/internal/requestcount"
	"atrium.dev/gateway/internal/route"
	"atrium.dev/gateway/internal/tenant"
	"atrium.dev/gateway/internal/usage"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/platform/authn"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Entitlements answers from tenants' entitlement snapshots (platform/entitlements.Client in
// production). Without one every plugin method is refused and no plan rate applies.
type Entitlements interface {
	// Check returns nil when the tenant has plugin installed, else why not.
	Check(ctx context.Context, tenantID, plugin string) (*entv1.PluginUnavailable, error)
	// Limit returns one of the tenant's limits (-1: unlimited).
	Limit(ctx context.Context, tenantID, name string) (int64, error)
}

// Config wires the steps.
type Config struct {
	Routes  *route.Table
	REST    map[string]*url.URL // path prefix ("/api/catalog/") -> upstream
	Tenants *tenant.Resolver
	Auth    *credential.Authenticator
	// Members gives the current role per (tenant, user); nil: the token's claim is believed.
	Members *membership.Cache
	// AuthLimiter is the per-address budget of anonymous sign-in calls and failed
	// authentications; nil: none. TrustedProxyHops: see clientAddr.
	AuthLimiter      *ratelimit.Limiter
	TrustedProxyHops int
	Limiter          *ratelimit.Limiter
	// PlanLimiters, with Entitlements, applies each tenant's api_requests_per_minute.
	PlanLimiters *ratelimit.PlanLimiters
	// Requests, when set, counts each tenant's requests the plan rate let through (the
	// "requests this minute" entitlements reports).
	Requests        *requestcount.Counter
	Usage           *usage.Recorder
	Tokens          *authn.InternalTokenCache // internal tokens, reused per identity
	Transport       http.RoundTripper
	Entitlements    Entitlements // nil: no plugin is enabled
	BodyLimit       int64
	BodyLimits      map[string]int64 // procedure or REST prefix -> limit
	UpstreamTimeout time.Duration    // not applied to streaming methods
	BaseDomains     []string
	Log             *slog.Logger
	// Tracer, when set, gives every request a server span; Meter, when set, records
	// atrium.gateway.request.duration (see telemetry.go).
	Tracer trace.Tracer
	Meter  metric.Meter
}

// Gateway serves RPC and REST requests. It is safe for concurrent use.
type Gateway struct {
	cfg          Config
	obs          *instruments
	errs         *errwrite.Writer
	proxy        *httputil.ReverseProxy
	restPrefixes []string      // longest first
	holds        chan struct{} // refusals being held (holdRefusal)
}

// New returns the pipeline.
func New(cfg Config) *Gateway {
	g := &Gateway{cfg: cfg, holds: make(chan struct{}, maxRefusalHolds), obs: newInstruments(cfg.Tracer, cfg.Meter), errs: errwrite.New(cfg.Log)}
	g.proxy = proxy.New(cfg.Transport, cfg.Log, g.upstreamError)
	for p := range cfg.REST {
		g.restPrefixes = append(g.restPrefixes, p)
	}
	sort.Slice(g.restPrefixes, func(i, j int) bool { return len(g.restPrefixes[i]) > len(g.restPrefixes[j]) })
	return g
}

// RESTPrefix returns the REST prefix serving path, if any.
func (g *Gateway) RESTPrefix(path string) (string, bool) {
	for _, p := range g.restPrefixes {
		if strings.HasPrefix(path, p) {
			return p, true
		}
	}
	return "", false
}

// IsProcedurePath reports whether path has the shape of a procedure, "/pkg.Service/Method":
// such paths are answered as RPCs (NotFound when unknown), never as web app pages.
func IsProcedurePath(path string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && strings.Contains(svc, ".") && method != "" && !strings.Contains(method, "/")
}

// check runs the steps between route lookup and forwarding.
func (g *Gateway) check(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := g.limitBody(w, r, c); err != nil {
		return err
	}
	if err := g.resolveTenant(r, c); err != nil {
		return err
	}
	if err := g.authenticate(r, c); err != nil {
		return g.failedAuth(r, err)
	}
	if err := g.authorize(r, c); err != nil {
		return err
	}
	return g.rateLimit(r, c)
}
