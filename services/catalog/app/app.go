// Package app assembles the catalog service: CatalogService and ProvisioningService over
// Connect, Backstage's REST API under /api/catalog/, and health checks. cmd/catalogd and
// devstack both run it.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/entitlements"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/bundle"
	"atrium.dev/services/catalog/internal/lane"
	"atrium.dev/services/catalog/internal/nulbyte"
	"atrium.dev/services/catalog/internal/readcache"
	"atrium.dev/services/catalog/internal/rest"
	"atrium.dev/services/catalog/internal/service"
	"atrium.dev/services/catalog/internal/source"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
	"github.com/klauspost/compress/gzip"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// DefaultEntityLimit is the per-tenant entity limit until plans set their own.
const DefaultEntityLimit = 200_000

// Config is everything the catalog needs; main fills it from the environment.
type Config struct {
	// Shards maps tenant-plane shard names to Postgres DSNs.
	Shards map[string]string
	// InternalKey verifies (with its public half) the internal tokens of incoming calls.
	InternalKey ed25519.PrivateKey
	// EntityLimit caps each tenant's entities; 0 means DefaultEntityLimit, negative no limit.
	EntityLimit int
	// MaxConns caps each shard pool (0: pgx's default).
	MaxConns int32
	Logger   *slog.Logger
	Meter    metric.Meter
	// Interceptors run before the platform's own (telemetry, typically).
	Interceptors []connect.Interceptor
	// TenancyURL, when set, is asked (DirectoryService.ResolveShard) for shards added after
	// start-up, so tenants placed on them work without a restart.
	TenancyURL string
	// HTTPClient reaches tenancy (HTTP/2 cleartext); nil: a default h2c client.
	HTTPClient *http.Client
	// EntitlementsURL, when set, makes each tenant's plan (catalog_entities) its entity limit;
	// EntityLimit then applies only while entitlements cannot answer.
	EntitlementsURL string
	// RedisURL, when set, carries entitlements' change messages (under RedisPrefix), so a
	// plan or limit change reaches the catalog within one message and one fetch, as it reaches
	// the gateway. Without it the snapshots are polled every 5 s (platform/entitlements).
	RedisURL    string
	RedisPrefix string
	// UsageReportInterval is how often usage is sent to entitlements for GetEntitlements
	// (platform/entitlements' ReportInterval; 0: its default).
	UsageReportInterval time.Duration
	// SecretKey (32 bytes) seals integration credentials and derives webhook secrets;
	// without it both are unavailable.
	SecretKey []byte
	// Outbound is the policy of Location fetches (allowed private hosts, size and time).
	Outbound source.Policy
	// Worker tunes the source worker; DisableWorker keeps it from running (tests that
	// refresh by hand).
	Worker        service.WorkerConfig
	DisableWorker bool
	// HeavyPerTenant and HeavyWait tune each tenant's lane for heavy requests (imports,
	// large applies, large pages, costly filters: internal/lane): how many run at once per
	// tenant (0: 1; negative: no lane) and how long the others wait before ResourceExhausted
	// (0: 5 s).
	HeavyPerTenant int
	HeavyWait      time.Duration
	// ReadCacheBytes is the budget of the cache of pages and facet counts, kept under each
	// tenant's data version (internal/readcache): 0 gives readcache.DefaultBytes, negative
	// turns it off.
	ReadCacheBytes int64
	// Lanes, when set, are the lanes themselves (HeavyPerTenant and HeavyWait are then
	// ignored): a test holds a tenant's lane through it.
	Lanes *lane.Lanes
	// SourceLimits bounds what one Location read may name (zero: bundle.DefaultLimits); a
	// file, target or placeholder past a bound is reported on its own, the rest imported.
	SourceLimits bundle.Limits
}

// App is a running catalog service.
type App struct {
	cfg     Config
	shards  *tenantdb.Shards
	ent     *entitlements.Client
	rdb     *redis.Client
	entOnce sync.Once
	store   *store.Store
	mux     *http.ServeMux
	fetcher *source.Fetcher
	worker  *service.Worker
	stop    context.CancelFunc
	done    chan struct{}
}

// New connects to the shards (lazily) and builds the handlers.
func New(ctx context.Context, cfg Config) (*App, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("catalog: no shards configured")
	}
	if len(cfg.InternalKey) != ed25519.PrivateKeySize {
		return nil, errors.New("catalog: InternalKey must be an ed25519 private key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.EntityLimit == 0:
		cfg.EntityLimit = DefaultEntityLimit
	case cfg.EntityLimit < 0:
		cfg.EntityLimit = 0
	}
	var opts []tenantdb.Option
	if cfg.MaxConns > 0 {
		opts = append(opts, tenantdb.WithMaxConns(cfg.MaxConns))
	}
	if cfg.TenancyURL != "" {
		opts = append(opts, tenantdb.WithResolver(shardResolver(cfg)))
	}
	shards, err := tenantdb.Open(ctx, cfg.Shards, opts...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	st := store.New(shards)
	st.CacheReads(readcache.New(cfg.ReadCacheBytes))
	verifier := authn.NewInternalVerifier(cfg.InternalKey.Public().(ed25519.PublicKey))
	lanes := cfg.Lanes
	if lanes == nil {
		lanes = lane.New(lane.Config{PerTenant: cfg.HeavyPerTenant, Wait: cfg.HeavyWait})
	}
	interceptors := append(append([]connect.Interceptor{}, cfg.Interceptors...),
		rpcerr.NewInterceptor(cfg.Logger),
		guard.NewAuthInterceptor(verifier),
		guard.NewPolicyInterceptor(),
		nulbyte.Interceptor{},
		lanes.Interceptor(),
	)
	hopts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		// ApplyEntities and ImportBundle carry up to 4 MiB of entities plus encoding; the
		// gateway enforces the tighter per-method limits.
		connect.WithReadMaxBytes(16 << 20),
		// Responses are gzipped at the fastest level, and only past 1 KiB: the profile of reads
		// through the gateway (docs/BENCHMARKS.md) had the default level's deflate at ~8 % of
		// the process's CPU for pages of entities that BestSpeed shrinks nearly as well.
		// klauspost's gzip, not the standard library's: at the same level it deflates a page
		// of 100 entities in a sixth of the time, to a slightly smaller body (the same gzip
		// stream format, so any client reads it).
		connect.WithCompression("gzip",
			func() connect.Decompressor { return &gzip.Reader{} },
			func() connect.Compressor { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }),
		connect.WithCompressMinBytes(1 << 10),
	}
	secrets, err := service.NewSecrets(cfg.SecretKey)
	if err != nil {
		shards.Close()
		return nil, err
	}
	a := &App{cfg: cfg, shards: shards, store: st, mux: http.NewServeMux(), fetcher: source.New(cfg.Outbound)}
	cat := service.NewCatalog(st, cfg.EntityLimit)
	if cfg.EntitlementsURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = serve.H2CClient()
		}
		internal := entitlementsv1connect.NewEntitlementsInternalServiceClient(client, cfg.EntitlementsURL,
			connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(cfg.InternalKey), "catalog")))
		if cfg.RedisURL != "" {
			ropts, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				shards.Close()
				return nil, fmt.Errorf("catalog: RedisURL: %w", err)
			}
			a.rdb = redis.NewClient(ropts)
		}
		if a.ent, err = entitlements.New(entitlements.Config{Internal: internal, Redis: a.rdb, Prefix: cfg.RedisPrefix,
			Logger: cfg.Logger, Meter: cfg.Meter, ReportInterval: cfg.UsageReportInterval}); err != nil {
			a.closeRedis()
			shards.Close()
			return nil, fmt.Errorf("catalog: entitlements: %w", err)
		}
		cat.WithPlanLimits(func(ctx context.Context, tenantID string) (int64, error) {
			return a.ent.Limit(ctx, tenantID, "catalog_entities")
		})
		// Entities stored, for GetEntitlements: noted after each write, sent periodically.
		st.OnEntityCount(func(tenantID string, count int64) {
			a.ent.ReportUsage(tenantID, "catalog_entities", count)
		})
	}
	src := service.NewSources(cat, st, a.fetcher, secrets)
	if cfg.SourceLimits != (bundle.Limits{}) {
		src.SetLimits(cfg.SourceLimits)
	}
	a.worker = service.NewWorker(src, cfg.Worker, shards.Pool, cfg.Logger)
	a.mux.Handle(catalogv1connect.NewCatalogServiceHandler(cat, hopts...))
	a.mux.Handle(catalogv1connect.NewLocationServiceHandler(service.NewLocations(src), hopts...))
	a.mux.Handle(tenancyv1connect.NewProvisioningServiceHandler(service.NewProvisioning(st), hopts...))
	a.mux.Handle(tenancyv1connect.NewTenantDataServiceHandler(service.NewTenantData(st, secrets), hopts...))
	a.mux.Handle(rest.Prefix, rest.New(st, src, lanes, verifier, cfg.Logger))
	a.mux.Handle(rest.WebhookPrefix, rest.NewWebhook(src, verifier, cfg.Logger, a.worker.Kick))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", a.ready)
	return a, nil
}

// shardResolver looks shards up in tenancy's directory, calling as the catalog service.
func shardResolver(cfg Config) tenantdb.Resolver {
	client := cfg.HTTPClient
	if client == nil {
		client = serve.H2CClient()
	}
	dir := tenancyv1connect.NewDirectoryServiceClient(client, cfg.TenancyURL,
		connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(cfg.InternalKey), "catalog")))
	return func(ctx context.Context, shard string) (string, error) {
		res, err := dir.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{Name: shard}))
		if err != nil {
			return "", err
		}
		return res.Msg.GetDsn(), nil
	}
}

// ready answers when every shard accepts a query.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, name := range a.shards.Names() {
		pool, err := a.shards.Pool(name)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			a.cfg.Logger.WarnContext(ctx, "shard not ready", "shard", name, "err", err)
			http.Error(w, "shard "+name+" unavailable\n", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler serves every endpoint.
func (a *App) Handler() http.Handler { return lane.Hold(a.mux) }

// Start runs the source worker (until Close) and the entitlement snapshot refresh.
func (a *App) Start(ctx context.Context) {
	if a.ent != nil {
		// Until ctx ends: the refresh holds nothing Close must release.
		a.entOnce.Do(func() { go a.ent.Run(ctx) })
	}
	if a.cfg.DisableWorker || a.stop != nil {
		return
	}
	ctx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		a.worker.Run(ctx)
	}()
}

// Worker is the source worker (tests kick it).
func (a *App) Worker() *service.Worker { return a.worker }

// Close stops the worker and releases the shard pools.
func (a *App) Close() {
	if a.stop != nil {
		a.stop()
		<-a.done
	}
	a.fetcher.Close()
	a.shards.Close()
	a.closeRedis()
}

func (a *App) closeRedis() {
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}
