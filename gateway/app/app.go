// Package app is the gateway: the one public entry point of Atrium. See
// internal/pipeline for the request path. cmd/gatewayd and devstack wire it.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"atrium.dev/gateway/internal/credential"
	"atrium.dev/gateway/internal/membership"
	"atrium.dev/gateway/internal/pipeline"
	"atrium.dev/gateway/internal/proxy"
	"atrium.dev/gateway/internal/ratelimit"
	"atrium.dev/gateway/internal/requestcount"
	"atrium.dev/gateway/internal/route"
	"atrium.dev/gateway/internal/tenant"
	"atrium.dev/gateway/internal/usage"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/entitlements"
	"atrium.dev/platform/guard"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// App is a configured gateway.
type App struct {
	cfg     Config
	log     *slog.Logger
	rdb     *redis.Client
	keys    *credential.Keys
	tenants *tenant.Resolver
	members *membership.Cache
	// authLimiter: per client address, anonymous sign-in calls and failed authentications.
	authLimiter *ratelimit.Limiter
	usage       *usage.Recorder
	limiter     *ratelimit.Limiter
	// planLimiters apply plans' request rates; entitlements is the snapshot cache (nil when
	// Config.Entitlements replaces it or no EntitlementsURL is set).
	planLimiters *ratelimit.PlanLimiters
	// requests counts tenants' requests per minute for entitlements' usage (with entitlements).
	requests     *requestcount.Counter
	entitlements *entitlements.Client
	pipeline     *pipeline.Gateway
	static       http.Handler
	handler      http.Handler
	webhooks     map[string]*url.URL

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New checks cfg and builds the gateway. It does not contact tenancy or Redis: Start loads the
// signing keys (requests meanwhile load them on demand).
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	routes, err := route.New(route.AtriumServices(), cfg.Upstreams)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	rest := make(map[string]*url.URL, len(cfg.RESTUpstreams))
	for prefix, raw := range cfg.RESTUpstreams {
		if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || pipeline.IsProcedurePath(prefix) {
			return nil, fmt.Errorf("gateway: REST prefix %q: want /path/", prefix)
		}
		u, err := route.ParseUpstream(raw)
		if err != nil {
			return nil, fmt.Errorf("gateway: REST upstream of %s: %w", prefix, err)
		}
		rest[prefix] = u
	}

	webhooks := make(map[string]*url.URL, len(cfg.Webhooks))
	for path, raw := range cfg.Webhooks {
		if !strings.HasPrefix(path, "/webhooks/") || strings.HasSuffix(path, "/") {
			return nil, fmt.Errorf("gateway: webhook path %q: want /webhooks/<name>", path)
		}
		u, err := route.ParseUpstream(raw)
		if err != nil {
			return nil, fmt.Errorf("gateway: webhook upstream of %s: %w", path, err)
		}
		webhooks[path] = u
	}

	a := &App{cfg: cfg, log: cfg.Logger, webhooks: webhooks}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("gateway: RedisURL: %w", err)
		}
		// Short timeouts and one retry: every Redis use in the gateway has a fallback, and a
		// slow Redis must not become a slow gateway.
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
		opts.MaxRetries = 1
		opts.DialerRetries, opts.DialerRetryTimeout = 1, 10*time.Millisecond
		a.rdb = redis.NewClient(opts)
	}

	base := cfg.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// Calls to tenancy's directory get client spans; proxied requests carry the gateway's
	// trace context only (see proxy.TraceTransport).
	dirTransport, proxyTransport := base, base
	if cfg.Telemetry != nil {
		dirTransport, proxyTransport = cfg.Telemetry.HTTPTransport(base), proxy.TraceTransport(base)
	}
	// API calls get their span from the pipeline; the other routes from telemetry's middleware.
	var tracer trace.Tracer
	if cfg.Telemetry != nil {
		tracer = cfg.Telemetry.Tracer("atrium.dev/gateway")
	}
	signer := authn.NewInternalSigner(cfg.InternalKey)
	dir := tenancyv1connect.NewDirectoryServiceClient(
		&http.Client{Transport: dirTransport, Timeout: 10 * time.Second},
		cfg.TenancyURL,
		connect.WithInterceptors(guard.NewCallerInterceptor(signer, "gateway")),
	)
	a.keys = credential.NewKeys(dir, a.log)
	a.tenants = tenant.NewResolver(tenant.Config{
		Directory: dir, Redis: a.rdb, Prefix: cfg.RedisPrefix, LocalTTL: cfg.TenantCacheTTL, Log: a.log,
	})
	a.usage, err = usage.New(usage.Config{
		Redis: a.rdb, Stream: cfg.RedisPrefix + "atrium:usage", MaxLen: cfg.UsageStreamMaxLen,
		Buffer: cfg.UsageBuffer, Meter: cfg.Meter, Log: a.log,
	})
	if err != nil {
		a.closeRedis()
		return nil, fmt.Errorf("gateway: usage: %w", err)
	}
	a.limiter = ratelimit.New(a.rdb, cfg.RedisPrefix, ratelimit.Limit(cfg.RateLimit), a.log)
	var ent pipeline.Entitlements
	switch {
	case cfg.Entitlements != nil:
		ent = cfg.Entitlements
	case cfg.EntitlementsURL != "":
		if _, err := route.ParseUpstream(cfg.EntitlementsURL); err != nil {
			a.closeRedis()
			return nil, fmt.Errorf("gateway: EntitlementsURL: %w", err)
		}
		internal := entitlementsv1connect.NewEntitlementsInternalServiceClient(
			&http.Client{Transport: dirTransport, Timeout: 10 * time.Second},
			cfg.EntitlementsURL,
			connect.WithInterceptors(guard.NewCallerInterceptor(signer, "gateway")),
		)
		a.entitlements, err = entitlements.New(entitlements.Config{
			Internal: internal, Redis: a.rdb, Prefix: cfg.RedisPrefix, Logger: a.log, Meter: cfg.Meter,
			ReportInterval: cfg.UsageReportInterval,
		})
		if err != nil {
			a.closeRedis()
			return nil, fmt.Errorf("gateway: entitlements: %w", err)
		}
		ent = a.entitlements
		a.requests = requestcount.New(requestcount.Config{
			Redis: a.rdb, Prefix: cfg.RedisPrefix, Log: a.log,
			Report: func(tenantID string, n int64) {
				a.entitlements.ReportUsage(tenantID, "api_requests_per_minute", n)
			},
		})
	}
	a.planLimiters = ratelimit.NewPlanLimiters(a.rdb, cfg.RedisPrefix, a.log)
	auth := credential.NewAuthenticator(a.keys, dir, cfg.TokenCacheTTL, a.log)
	a.authLimiter = ratelimit.New(a.rdb, cfg.RedisPrefix, ratelimit.Limit(cfg.AuthRateLimit), a.log)
	a.members = membership.New(membership.Config{
		Directory: dir, Redis: a.rdb, Prefix: cfg.RedisPrefix, TTL: cfg.MembershipCacheTTL, Log: a.log,
		OnChange: func(ch membership.Change) {
			auth.Revoke(func(c *credential.Credential) bool {
				switch {
				case ch.All:
					return true
				case ch.OperatorTokenID != "":
					return c.OperatorTokenID == ch.OperatorTokenID
				case ch.TokenID != "":
					return c.TokenID == ch.TokenID
				}
				return c.TenantID == ch.TenantID && (ch.UserID == "" || c.UserID == ch.UserID)
			})
		},
	})
	a.pipeline = pipeline.New(pipeline.Config{
		Routes:           routes,
		REST:             rest,
		Tenants:          a.tenants,
		Auth:             auth,
		Members:          a.members,
		AuthLimiter:      a.authLimiter,
		TrustedProxyHops: cfg.TrustedProxyHops,
		Limiter:          a.limiter,
		PlanLimiters:     a.planLimiters,
		Requests:         a.requests,
		Usage:            a.usage,
		Tokens:           authn.NewInternalTokenCache(signer, 0),
		Transport:        proxyTransport,
		Entitlements:     ent,
		BodyLimit:        cfg.BodyLimit,
		BodyLimits:       cfg.BodyLimits,
		UpstreamTimeout:  cfg.UpstreamTimeout,
		BaseDomains:      cfg.BaseDomains,
		Log:              a.log,
		Tracer:           tracer,
		Meter:            cfg.Meter,
	})
	a.static = newStatic(cfg.StaticDir, a.log)
	a.handler = a.routes()
	return a, nil
}

func (cfg *Config) defaults() error {
	var errs []error
	if cfg.TenancyURL == "" {
		errs = append(errs, errors.New("TenancyURL is required"))
	} else if _, err := route.ParseUpstream(cfg.TenancyURL); err != nil {
		errs = append(errs, fmt.Errorf("TenancyURL: %w", err))
	}
	if len(cfg.InternalKey) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("InternalKey is required (an ed25519 private key)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("gateway: %w", errors.Join(errs...))
	}
	if cfg.Upstreams == nil {
		cfg.Upstreams, _ = StandardUpstreams(cfg.TenancyURL, "")
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	limits := maps.Clone(DefaultBodyLimits)
	maps.Copy(limits, cfg.BodyLimits)
	cfg.BodyLimits = limits
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.RateLimit == (RateLimit{}) {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.AuthRateLimit == (RateLimit{}) {
		cfg.AuthRateLimit = DefaultAuthRateLimit
	}
	if cfg.KeyRefreshInterval <= 0 {
		cfg.KeyRefreshInterval = 5 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: proxy.H2CTransport()}
	}
	if cfg.Logger == nil {
		if cfg.Telemetry != nil {
			cfg.Logger = cfg.Telemetry.Logger()
		} else {
			cfg.Logger = slog.Default()
		}
	}
	if cfg.Meter == nil {
		if cfg.Telemetry != nil {
			cfg.Meter = cfg.Telemetry.Meter("atrium.dev/gateway")
		} else {
			cfg.Meter = noop.NewMeterProvider().Meter("atrium.dev/gateway")
		}
	}
	return nil
}

// Handler serves everything: RPCs, REST prefixes, /healthz, /readyz, /.well-known/jwks.json
// and the web app. /metrics is main's (telemetry's handler).
func (a *App) Handler() http.Handler { return a.handler }

// Start runs the background work until ctx ends or Close: loading and refreshing the
// signing keys, applying tenant invalidations, writing usage events, reporting rate-limit
// spends to Redis. It does not block.
func (a *App) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return
	}
	a.started = true
	ctx, a.cancel = context.WithCancel(ctx)
	run := func(f func(context.Context)) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			f(ctx)
		}()
	}
	run(func(ctx context.Context) { a.keys.Run(ctx, a.cfg.KeyRefreshInterval) })
	run(a.tenants.Listen)
	run(a.members.Listen)
	run(a.usage.Run)
	run(a.limiter.Run)
	run(a.authLimiter.Run)
	run(a.planLimiters.Run)
	if a.entitlements != nil {
		run(a.entitlements.Run)
		run(a.requests.Run)
	}
}

// Close stops the background work (writing the usage events still queued, for at most a few
// seconds) and releases Redis. Shut the HTTP server down first, so no request is recording
// usage any more. Close returns within closeTimeout whatever Redis does: work still running
// then has Redis closed under it and ends with an error.
func (a *App) Close() {
	a.mu.Lock()
	if a.cancel != nil {
		a.cancel()
	}
	a.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(closeTimeout):
		a.log.Warn("gateway: background work still running at close; closing Redis under it")
	}
	a.closeRedis()
}

// closeTimeout bounds Close: the usage writer's last batch may take up to 3 s.
const closeTimeout = 5 * time.Second

func (a *App) closeRedis() {
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

// Entitlements is the gateway's snapshot cache (nil without EntitlementsURL, or when
// Config.Entitlements replaces it); tests read its staleness.
func (a *App) Entitlements() *entitlements.Client { return a.entitlements }
