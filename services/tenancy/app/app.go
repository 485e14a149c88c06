// Package app assembles the tenancy service: tenants and sign-up, users, members, login, the
// operator API and provisioning. cmd/tenancyd and devstack build an App from a Config and
// serve its Handler; the App owns its database pools and background loops.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/entitlements"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/api"
	"atrium.dev/services/tenancy/internal/mail"
	"atrium.dev/services/tenancy/internal/move"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/provision"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// Config configures the tenancy service. Zero durations take the defaults below.
type Config struct {
	// DatabaseURL is the control database; tenancy owns its schema "tenancy".
	DatabaseURL string
	// Shards are the tenant-plane Postgres clusters, name to DSN. They are recorded in
	// tenancy.shards; shards added at run time (OperatorService.AddShard) are loaded from there.
	Shards map[string]string
	// TokenKey signs user access tokens.
	TokenKey ed25519.PrivateKey
	// InternalKey's public half verifies incoming internal tokens; the key signs tenancy's
	// calls to provisioners.
	InternalKey ed25519.PrivateKey
	// Provisioners maps a name to the base URL of a service implementing
	// atrium.tenancy.v1.ProvisioningService; each is called, in name order, for every tenant.
	Provisioners map[string]string
	// HTTPClient calls the provisioners; nil is an HTTP/2 cleartext (h2c) client.
	HTTPClient *http.Client
	// DeleteGrace is how long a deleted tenant keeps its schema (default 7 days).
	DeleteGrace time.Duration
	// ReconcileInterval is how often Start's loop reconciles stuck tenants and purges deleted
	// ones (default 30 s).
	ReconcileInterval time.Duration
	// StuckAfter is how long a provisioning tenant may go without progress before the
	// reconciler takes it over (default 1 minute).
	StuckAfter time.Duration
	// MaxProvisionAttempts is how often a tenant is tried before it is rolled back (default 3).
	MaxProvisionAttempts int
	// RedisURL, when set, is where tenant changes are published (channel
	// RedisPrefix+"atrium:tenant-changed") for the gateway's caches.
	RedisURL    string
	RedisPrefix string
	// SMTPURL (ATRIUM_SMTP_URL, smtp://[user:password@]host:port) is where the outbox is
	// delivered; empty: mail stays queued in tenancy.outbox. MailFrom is the sender address.
	SMTPURL  string
	MailFrom string
	// MailPoll is how often the outbox is checked without a wake-up (default 2 s).
	MailPoll time.Duration
	// PortalURL is the web app's base URL in mailed links; "{slug}" is replaced by the
	// tenant's slug. Default "http://{slug}.localhost:8080".
	PortalURL string
	// ReadMaxBytes caps every request body after decompression (default 1 MiB).
	ReadMaxBytes int64
	// Seats, when set, is asked before a seat is taken (see api.Deps.Seats).
	Seats func(ctx context.Context, tenantID string, current int64) error
	// EntitlementsURL, when set and Seats is not, makes the tenant's plan decide seats
	// (entitlements' CheckLimit "seats", through platform/entitlements).
	EntitlementsURL string
	// BillingURL, when set, makes invitations past the paid seats of a subscription ask
	// billing (BillingInternalService.CheckSeat: add a seat or refuse, by plan). Empty (no
	// billing deployed): only the plan's seat limit applies.
	BillingURL string

	// Interceptors run before the platform's (rpcerr, auth, policy) on every handler:
	// typically the telemetry interceptor.
	Interceptors []connect.Interceptor
	Logger       *slog.Logger
	Meter        metric.Meter // optional

	// AfterStep is for tests only: it runs after every provisioning step ("schema",
	// "provision:<name>", "owner", "activate") of every tenant. An error fails the step;
	// ErrSimulatedCrash stops the sequence as if the process had died there.
	AfterStep func(tenantID, step string) error
	// MoveAfterStep is for tests only: it runs after every recorded step of a tenant move;
	// ErrSimulatedMoveCrash stops the move there as a crash would.
	MoveAfterStep func(step string) error
}

// ErrSimulatedMoveCrash, returned from Config.MoveAfterStep, stops a move mid-way.
var ErrSimulatedMoveCrash = move.ErrCrash

// ErrSimulatedCrash, returned from Config.AfterStep, leaves a tenant half-provisioned for the
// reconciler, as a crash would.
var ErrSimulatedCrash = provision.ErrCrash

// Defaults.
const (
	DefaultDeleteGrace       = 7 * 24 * time.Hour
	DefaultReconcileInterval = 30 * time.Second
	DefaultStuckAfter        = time.Minute
	DefaultPortalURL         = "http://{slug}.localhost:8080"
	// DefaultReadMaxBytes bounds a request after decompression: tenancy's messages are small,
	// and a gzip bomb must not become gigabytes in memory.
	DefaultReadMaxBytes = 1 << 20
)

// App is a running tenancy service.
type App struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	shards *tenantdb.Shards
	prov   *provision.Provisioner
	mover  *move.Mover
	redis  *redis.Client
	deps   *api.Deps
	mail   *mail.Sender

	mu      sync.Mutex
	cancel  context.CancelFunc
	loops   sync.WaitGroup
	started bool
}

// New connects to the databases, migrates the tenancy schema and registers the shards.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.defaults()
	a := &App{cfg: cfg, log: cfg.Logger}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	var err error
	if a.store, err = store.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if a.shards, err = a.openShards(ctx); err != nil {
		return nil, err
	}
	var pub notify.Publisher = notify.Nop{}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("tenancy: redis url: %w", err)
		}
		a.redis = redis.NewClient(opts)
		pub = notify.NewRedis(a.redis, cfg.RedisPrefix, a.log)
	}

	signer := authn.NewInternalSigner(cfg.InternalKey)
	names := make([]string, 0, len(cfg.Provisioners))
	for n := range cfg.Provisioners {
		names = append(names, n)
	}
	sort.Strings(names)
	var services []provision.Service
	var data []api.DataService
	for _, n := range names {
		data = append(data, api.DataService{Name: n, Client: tenancyv1connect.NewTenantDataServiceClient(
			cfg.HTTPClient, cfg.Provisioners[n],
			connect.WithInterceptors(append(append([]connect.Interceptor{}, cfg.Interceptors...),
				guard.NewCallerInterceptor(signer, "tenancy"))...),
		)})
		services = append(services, provision.Service{Name: n, Client: tenancyv1connect.NewProvisioningServiceClient(
			cfg.HTTPClient, cfg.Provisioners[n],
			connect.WithInterceptors(append(append([]connect.Interceptor{}, cfg.Interceptors...),
				guard.NewCallerInterceptor(signer, "tenancy"))...),
		)})
	}
	a.prov = provision.New(provision.Config{
		Store: a.store, Shards: a.shards, Services: services, Notify: pub, Log: a.log, Meter: cfg.Meter,
		MaxAttempts: cfg.MaxProvisionAttempts, StuckAfter: cfg.StuckAfter, AfterStep: cfg.AfterStep,
	})
	a.mover = move.New(move.Config{
		Store: a.store, Shards: a.shards, Provisioner: a.prov, Notify: pub, Log: a.log, Audit: api.Audit,
		AfterStep: cfg.MoveAfterStep,
	})
	if a.mail, err = mail.New(mail.Config{Store: a.store, URL: cfg.SMTPURL, From: cfg.MailFrom, Poll: cfg.MailPoll, Log: a.log}); err != nil {
		return nil, err
	}
	var seatsUsed func(context.Context, string, int64)
	if cfg.Seats == nil && cfg.EntitlementsURL != "" {
		ent, err := entitlements.New(entitlements.Config{
			Internal: entitlementsv1connect.NewEntitlementsInternalServiceClient(cfg.HTTPClient, cfg.EntitlementsURL,
				connect.WithInterceptors(guard.NewCallerInterceptor(signer, "tenancy"))),
			Logger: a.log, Meter: cfg.Meter,
		})
		if err != nil {
			return nil, fmt.Errorf("tenancy: entitlements: %w", err)
		}
		// CheckLimit answers from the service (falling back to the cache), so no Run loop.
		cfg.Seats = ent.GrowthCheck("seats")
		// Seats in use are recorded with the same call, increment 0, after each change. In line
		// rather than in the background, so two quick changes are recorded in their order; one
		// internal call, bounded, and a failure only means GetEntitlements shows the count late.
		seatsUsed = func(ctx context.Context, tenantID string, used int64) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if _, err := ent.CheckLimit(cctx, tenantID, "seats", used, 0); err != nil {
				a.log.WarnContext(ctx, "seats in use not recorded", "tenant_id", tenantID, "err", err)
			}
		}
	}
	a.deps = &api.Deps{
		Store: a.store, Shards: a.shards, Provisioner: a.prov, Mover: a.mover, Tokens: authn.NewUserTokenSigner(cfg.TokenKey),
		Notify: pub, DeleteGrace: cfg.DeleteGrace, Log: a.log, PortalURL: cfg.PortalURL, Mail: a.mail,
		Seats: cfg.Seats, SeatsUsed: seatsUsed, PaidSeats: a.paidSeats(signer), Throttle: api.NewThrottle(a.redis, cfg.RedisPrefix),
		Data: data,
	}
	ok = true
	return a, nil
}

func (c *Config) check() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DatabaseURL is required"))
	}
	if len(c.Shards) == 0 {
		errs = append(errs, errors.New("at least one shard is required"))
	}
	if len(c.TokenKey) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("TokenKey must be an ed25519 private key"))
	}
	if len(c.InternalKey) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("InternalKey must be an ed25519 private key"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tenancy: config: %w", err)
	}
	return nil
}

func (c *Config) defaults() {
	if c.DeleteGrace == 0 {
		c.DeleteGrace = DefaultDeleteGrace
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.StuckAfter == 0 {
		c.StuckAfter = DefaultStuckAfter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PortalURL == "" {
		c.PortalURL = DefaultPortalURL
	}
	if c.ReadMaxBytes <= 0 {
		c.ReadMaxBytes = DefaultReadMaxBytes
	}
	if c.HTTPClient == nil {
		c.HTTPClient = H2CClient()
	}
}

// H2CClient returns an HTTP client that speaks HTTP/2 without TLS, as services do among
// themselves.
func H2CClient() *http.Client { return serve.H2CClient() }

// openShards records the configured shards and opens pools for them and for any shard
// registered earlier at run time.
func (a *App) openShards(ctx context.Context) (*tenantdb.Shards, error) {
	names := make([]string, 0, len(a.cfg.Shards))
	for n := range a.cfg.Shards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := a.store.UpsertShard(ctx, n, a.cfg.Shards[n]); err != nil {
			return nil, err
		}
	}
	known, err := a.store.ListShards(ctx)
	if err != nil {
		return nil, err
	}
	dsns := map[string]string{}
	for _, sh := range known {
		dsns[sh.Name] = sh.DSN
	}
	return tenantdb.Open(ctx, dsns)
}

// Handler serves every tenancy Connect service plus /healthz (alive) and /readyz (the
// control database answers).
func (a *App) Handler() http.Handler {
	interceptors := append(append([]connect.Interceptor{}, a.cfg.Interceptors...),
		rpcerr.NewInterceptor(a.log),
		guard.NewAuthInterceptor(authn.NewInternalVerifier(a.cfg.InternalKey.Public().(ed25519.PublicKey))),
		guard.NewPolicyInterceptor(),
	)
	// The read limit applies after decompression (Connect, gRPC and gRPC-Web alike).
	opts := connect.WithHandlerOptions(connect.WithInterceptors(interceptors...), connect.WithReadMaxBytes(int(a.cfg.ReadMaxBytes)))
	mux := http.NewServeMux()
	mux.Handle(tenancyv1connect.NewTenantServiceHandler(api.NewTenantService(a.deps), opts))
	mux.Handle(tenancyv1connect.NewAuthServiceHandler(api.NewAuthService(a.deps), opts))
	mux.Handle(tenancyv1connect.NewMemberServiceHandler(api.NewMemberService(a.deps), opts))
	mux.Handle(tenancyv1connect.NewOperatorServiceHandler(api.NewOperatorService(a.deps), opts))
	mux.Handle(tenancyv1connect.NewDirectoryServiceHandler(api.NewDirectoryService(a.deps), opts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			a.log.WarnContext(ctx, "not ready", "err", err)
			http.Error(w, "control database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Start runs the background loop (reconcile stuck provisioning, purge deleted tenants) every
// ReconcileInterval until ctx ends or Close is called. It returns at once; calling it again
// does nothing.
func (a *App) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return
	}
	a.started = true
	ctx, a.cancel = context.WithCancel(ctx)
	a.loops.Go(func() { a.mail.Run(ctx) })
	a.loops.Go(func() {
		t := time.NewTicker(a.cfg.ReconcileInterval)
		defer t.Stop()
		for {
			a.tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

func (a *App) tick(ctx context.Context) {
	if n, err := a.prov.Reconcile(ctx); err != nil && ctx.Err() == nil {
		a.log.ErrorContext(ctx, "reconcile", "err", err)
	} else if n > 0 {
		a.log.InfoContext(ctx, "reconciled stuck tenants", "count", n)
	}
	if n, err := a.prov.Purge(ctx); err != nil && ctx.Err() == nil {
		a.log.ErrorContext(ctx, "purge", "err", err)
	} else if n > 0 {
		a.log.InfoContext(ctx, "purged deleted tenants", "count", n)
	}
	if n, err := a.mover.DropDue(ctx); err != nil && ctx.Err() == nil {
		a.log.ErrorContext(ctx, "drop moved tenants' source copies", "err", err)
	} else if n > 0 {
		a.log.InfoContext(ctx, "dropped moved tenants' source copies", "count", n)
	}
	if n := a.mover.ResumePaused(ctx, time.Minute); n > 0 {
		a.log.InfoContext(ctx, "resumed paused tenant moves", "count", n)
	}
}

// DropMovedSources drops the source copies of finished moves whose grace period is over (the
// background loop does it every ReconcileInterval).
func (a *App) DropMovedSources(ctx context.Context) (int, error) { return a.mover.DropDue(ctx) }

// Close stops the background loop and closes every connection.
func (a *App) Close() {
	a.mu.Lock()
	if a.cancel != nil {
		a.cancel()
	}
	a.mu.Unlock()
	a.loops.Wait()
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.shards != nil {
		a.shards.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

// CreateOperatorToken creates (or reuses) the operator name and returns a new secret operator
// token ("atr_op_...") for it, named name, that never expires: make up's local credential.
// Credentials for people come from OperatorService.CreateOperator and expire. Only the hash is
// kept; the secret cannot be shown again.
func (a *App) CreateOperatorToken(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("tenancy: operator name required")
	}
	_, secret, err := api.CreateOperatorToken(ctx, a.store, "system", "", name, name, nil)
	return secret, err
}
