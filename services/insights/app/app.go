// Package app assembles the insights service: InsightsService, InsightsOperatorService and
// ProvisioningService over Connect, health checks, and the pipeline that moves the usage
// stream into tenant tables. cmd/insightsd and devstack both run it.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/entitlements"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/pipeline"
	"atrium.dev/services/insights/internal/service"
	"atrium.dev/services/insights/internal/store"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// Config is everything insights needs; main fills it from the environment.
type Config struct {
	// Shards maps tenant-plane shard names to Postgres DSNs.
	Shards map[string]string
	// InternalKey verifies incoming internal tokens and signs insights' own calls.
	InternalKey ed25519.PrivateKey
	// RedisURL holds the usage stream; RedisPrefix goes in front of every key.
	RedisURL    string
	RedisPrefix string
	// TenancyURL, when set, resolves shards added at run time, tenant slugs (Replay) and
	// seats (CountMembers).
	TenancyURL string
	// EntitlementsURL, when set, gives each tenant's plan limits (usage_events_per_month,
	// insights_retention_days, seats); without it every tenant is unlimited with
	// DefaultRetentionDays.
	EntitlementsURL string
	// UsageReportInterval is how often usage is sent to entitlements for GetEntitlements
	// (platform/entitlements' ReportInterval; 0: its default).
	UsageReportInterval time.Duration
	// Limits overrides the plan lookup (tests).
	Limits pipeline.Limits
	// Pipeline tuning (zero: the pipeline's defaults).
	Workers           int
	BatchSize         int
	ClaimIdle         time.Duration
	ClaimInterval     time.Duration
	RetentionDays     int
	RetentionInterval time.Duration
	// StreamMaxLen caps the stream for Track's XADDs (default 1,000,000, as the gateway).
	StreamMaxLen int64
	// TrackRate is Track calls per second per tenant (default 20, burst 5x).
	TrackRate float64
	// DisablePipeline serves the API without consuming the stream (benchmarks run their own).
	DisablePipeline bool
	MaxConns        int32
	Logger          *slog.Logger
	Meter           metric.Meter
	Interceptors    []connect.Interceptor
	HTTPClient      *http.Client
	// AfterCommit is the pipeline's test hook.
	AfterCommit func(entries int)
}

// App is a running insights service.
type App struct {
	cfg    Config
	shards *tenantdb.Shards
	store  *store.Store
	rdb    *redis.Client
	pipe   *pipeline.Pipeline
	ent    *entitlements.Client
	mux    *http.ServeMux
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// Stream is the usage stream's key under a prefix.
func Stream(prefix string) string { return prefix + "atrium:usage" }

// New connects and builds the handlers.
func New(ctx context.Context, cfg Config) (*App, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("insights: no shards configured")
	}
	if len(cfg.InternalKey) != ed25519.PrivateKeySize {
		return nil, errors.New("insights: InternalKey must be an ed25519 private key")
	}
	if cfg.RedisURL == "" {
		return nil, errors.New("insights: RedisURL is required (the usage stream)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StreamMaxLen <= 0 {
		cfg.StreamMaxLen = 1_000_000
	}
	if cfg.TrackRate <= 0 {
		cfg.TrackRate = 20
	}
	client := cfg.HTTPClient
	if client == nil {
		client = serve.H2CClient()
	}
	caller := connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(cfg.InternalKey), "insights"))
	var dir tenancyv1connect.DirectoryServiceClient
	var opts []tenantdb.Option
	if cfg.MaxConns > 0 {
		opts = append(opts, tenantdb.WithMaxConns(cfg.MaxConns))
	}
	if cfg.TenancyURL != "" {
		dir = tenancyv1connect.NewDirectoryServiceClient(client, cfg.TenancyURL, caller)
		opts = append(opts, tenantdb.WithResolver(func(ctx context.Context, shard string) (string, error) {
			res, err := dir.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{Name: shard}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetDsn(), nil
		}))
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("insights: RedisURL: %w", err)
	}
	shards, err := tenantdb.Open(ctx, cfg.Shards, opts...)
	if err != nil {
		return nil, fmt.Errorf("insights: %w", err)
	}
	a := &App{cfg: cfg, shards: shards, store: store.New(shards), rdb: redis.NewClient(ropts), mux: http.NewServeMux()}
	limits := cfg.Limits
	if limits == nil && cfg.EntitlementsURL != "" {
		a.ent, err = entitlements.New(entitlements.Config{
			Internal: entitlementsv1connect.NewEntitlementsInternalServiceClient(client, cfg.EntitlementsURL, caller),
			Redis:    a.rdb, Prefix: cfg.RedisPrefix, Logger: cfg.Logger, Meter: cfg.Meter,
			ReportInterval: cfg.UsageReportInterval,
		})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("insights: entitlements: %w", err)
		}
		limits = a.ent
	}
	var usage func(string, int64)
	if a.ent != nil {
		usage = func(tenantID string, n int64) { a.ent.ReportUsage(tenantID, pipeline.LimitMonthlyEvents, n) }
	}
	a.pipe, err = pipeline.New(pipeline.Config{
		Usage: usage,
		Redis: a.rdb, Stream: Stream(cfg.RedisPrefix), TenantsKey: cfg.RedisPrefix + "atrium:insights:tenants",
		Store: a.store, Limits: limits, Workers: cfg.Workers, BatchSize: cfg.BatchSize,
		ClaimIdle: cfg.ClaimIdle, ClaimInterval: cfg.ClaimInterval, DefaultRetentionDays: cfg.RetentionDays,
		RetentionInterval: cfg.RetentionInterval, Log: cfg.Logger, Meter: cfg.Meter, AfterCommit: cfg.AfterCommit,
	})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("insights: %w", err)
	}
	var seats service.Seats
	var resolve func(context.Context, string) (string, error)
	if dir != nil {
		seats = func(ctx context.Context, tenantID string) (int64, error) {
			res, err := dir.CountMembers(ctx, connect.NewRequest(&tenancyv1.CountMembersRequest{TenantId: tenantID}))
			if err != nil {
				return 0, err
			}
			return res.Msg.GetCount(), nil
		}
		resolve = func(ctx context.Context, tenant string) (string, error) {
			res, err := dir.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: tenant}))
			if err != nil {
				if connect.CodeOf(err) == connect.CodeNotFound {
					return "", rpcerr.NotFound("no tenant %q", tenant)
				}
				return "", err
			}
			return res.Msg.GetTenant().GetId(), nil
		}
	}
	var svcLimits service.Limits
	if limits != nil {
		svcLimits = limits
	}
	producer := &service.Producer{Redis: a.rdb, Stream: Stream(cfg.RedisPrefix), MaxLen: cfg.StreamMaxLen, Rate: cfg.TrackRate, Burst: 5 * cfg.TrackRate}
	verifier := authn.NewInternalVerifier(cfg.InternalKey.Public().(ed25519.PublicKey))
	interceptors := append(append([]connect.Interceptor{}, cfg.Interceptors...),
		rpcerr.NewInterceptor(cfg.Logger),
		guard.NewAuthInterceptor(verifier),
		guard.NewPolicyInterceptor(),
	)
	hopts := []connect.HandlerOption{connect.WithInterceptors(interceptors...), connect.WithReadMaxBytes(1 << 20)}
	a.mux.Handle(insightsv1connect.NewInsightsServiceHandler(service.NewInsights(a.store, producer, svcLimits, seats), hopts...))
	a.mux.Handle(insightsv1connect.NewInsightsOperatorServiceHandler(service.NewOperator(a.pipe, resolve), hopts...))
	a.mux.Handle(tenancyv1connect.NewProvisioningServiceHandler(service.NewProvisioning(a.store), hopts...))
	a.mux.Handle(tenancyv1connect.NewTenantDataServiceHandler(service.NewTenantData(a.store), hopts...))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	a.mux.HandleFunc("GET /readyz", a.ready)
	return a, nil
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		http.Error(w, "redis unavailable\n", http.StatusServiceUnavailable)
		return
	}
	for _, name := range a.shards.Names() {
		pool, err := a.shards.Pool(name)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			http.Error(w, "shard "+name+" unavailable\n", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler serves every endpoint.
func (a *App) Handler() http.Handler { return a.mux }

// Pipeline is the app's pipeline (tests and benchmarks read its lag).
func (a *App) Pipeline() *pipeline.Pipeline { return a.pipe }

// Start runs the pipeline (and the entitlements cache) until ctx ends or Close.
func (a *App) Start(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(ctx)
	if a.ent != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.ent.Run(ctx) }()
	}
	if !a.cfg.DisablePipeline {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.pipe.Run(ctx) }()
	}
}

// Close stops the pipeline (entries in flight stay pending and are claimed later) and
// releases Redis and the shard pools.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	// Background work that does not end with ctx within 3 s has Redis closed under it, so
	// Close does not hang on it.
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	<-done
	a.shards.Close()
}
