// Package app assembles the entitlements service: PluginService, EntitlementsOperatorService,
// EntitlementsInternalService and ProvisioningService over Connect, health checks, and the
// sweep that ends trials and expired grants. cmd/entitlementsd and devstack both run it.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/serve"
	"atrium.dev/services/entitlements/internal/plans"
	"atrium.dev/services/entitlements/internal/registry"
	"atrium.dev/services/entitlements/internal/service"
	"atrium.dev/services/entitlements/internal/store"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// Defaults.
const (
	DefaultSweepInterval = 30 * time.Second
	DefaultTrialDays     = 14
)

// Config is everything entitlements needs; main fills it from the environment.
type Config struct {
	// DatabaseURL is the control database; entitlements owns its schema "entitlements".
	DatabaseURL string
	// InternalKey verifies (with its public half) incoming internal tokens and signs calls to
	// tenancy's directory.
	InternalKey ed25519.PrivateKey
	// TenancyURL resolves operators' tenant slugs (DirectoryService). Empty: operators must
	// name tenants by id.
	TenancyURL string
	// RedisURL, when set, is where changes are published (RedisPrefix+"atrium:entitlements-changed").
	RedisURL    string
	RedisPrefix string
	// NewTenantPlan is the plan a new tenant starts on: "free" (default) or a paid plan, which
	// is then a trial of NewTenantTrialDays (default 14; negative: not a trial).
	NewTenantPlan      string
	NewTenantTrialDays int
	// SweepInterval is how often ended trials and grants are applied (default 30 s).
	SweepInterval time.Duration
	// Now is the clock; nil is time.Now. Tests move it to expire trials.
	Now func() time.Time
	// MaxConns caps the database pool (0: pgx's default).
	MaxConns int32
	// HTTPClient reaches tenancy (HTTP/2 cleartext); nil: a default h2c client.
	HTTPClient   *http.Client
	Interceptors []connect.Interceptor
	Logger       *slog.Logger
	Meter        metric.Meter
}

// App is a running entitlements service.
type App struct {
	cfg    Config
	store  *store.Store
	redis  *redis.Client
	engine *service.Engine
	mux    *http.ServeMux
}

// New opens (and migrates) the schema and builds the handlers.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("entitlements: DatabaseURL is required")
	}
	if len(cfg.InternalKey) != ed25519.PrivateKeySize {
		return nil, errors.New("entitlements: InternalKey must be an ed25519 private key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.NewTenantPlan == "" {
		cfg.NewTenantPlan = plans.Free
	}
	if _, ok := plans.Get(cfg.NewTenantPlan); !ok {
		return nil, fmt.Errorf("entitlements: unknown new-tenant plan %q (one of %v)", cfg.NewTenantPlan, plans.IDs())
	}
	switch {
	case cfg.NewTenantTrialDays == 0:
		cfg.NewTenantTrialDays = DefaultTrialDays
	case cfg.NewTenantTrialDays < 0:
		cfg.NewTenantTrialDays = 0
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("entitlements: %w", err)
	}
	a := &App{cfg: cfg, store: st, mux: http.NewServeMux()}
	var pub service.Publisher = service.NopPublisher{}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("entitlements: redis url: %w", err)
		}
		a.redis = redis.NewClient(opts)
		pub = service.NewRedisPublisher(a.redis, cfg.RedisPrefix, cfg.Logger)
	}
	a.engine = service.NewEngine(st, registry.Default(), pub, cfg.Now,
		service.NewTenantPolicy{Plan: cfg.NewTenantPlan, TrialDays: cfg.NewTenantTrialDays}, cfg.Logger)

	var resolve service.TenantResolver
	if cfg.TenancyURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = serve.H2CClient()
		}
		dir := tenancyv1connect.NewDirectoryServiceClient(client, cfg.TenancyURL,
			connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(cfg.InternalKey), "entitlements")))
		resolve = service.DirectoryResolver(dir)
	}

	verifier := authn.NewInternalVerifier(cfg.InternalKey.Public().(ed25519.PublicKey))
	interceptors := append(append([]connect.Interceptor{}, cfg.Interceptors...),
		rpcerr.NewInterceptor(cfg.Logger),
		guard.NewAuthInterceptor(verifier),
		guard.NewPolicyInterceptor(),
	)
	// The read limit applies after decompression, so a gzip bomb cannot become gigabytes.
	hopts := []connect.HandlerOption{connect.WithInterceptors(interceptors...), connect.WithReadMaxBytes(1 << 20)}
	a.mux.Handle(entitlementsv1connect.NewPluginServiceHandler(service.NewPlugins(a.engine), hopts...))
	a.mux.Handle(entitlementsv1connect.NewEntitlementsOperatorServiceHandler(service.NewOperator(a.engine, resolve), hopts...))
	a.mux.Handle(entitlementsv1connect.NewEntitlementsInternalServiceHandler(service.NewInternal(a.engine), hopts...))
	a.mux.Handle(tenancyv1connect.NewProvisioningServiceHandler(service.NewProvisioning(a.engine), hopts...))
	a.mux.Handle(tenancyv1connect.NewTenantDataServiceHandler(service.NewTenantData(a.engine), hopts...))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", a.ready)
	return a, nil
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.cfg.Logger.WarnContext(ctx, "database not ready", "err", err)
		http.Error(w, "database unavailable\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler serves every endpoint.
func (a *App) Handler() http.Handler { return a.mux }

// Start runs the expiry sweep every SweepInterval until ctx ends.
func (a *App) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(a.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := a.Sweep(ctx); err != nil && ctx.Err() == nil {
					a.cfg.Logger.WarnContext(ctx, "entitlements sweep", "err", err)
				}
			}
		}
	}()
}

// Sweep applies every trial and grant that has ended by the clock's now, and returns how many
// tenants changed (tests call it after moving the clock instead of waiting for the ticker).
func (a *App) Sweep(ctx context.Context) (int, error) { return a.engine.Sweep(ctx) }

// Close releases the pool and Redis.
func (a *App) Close() {
	a.store.Close()
	if a.redis != nil {
		_ = a.redis.Close()
	}
}
