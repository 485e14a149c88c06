// Package app assembles the billing service: BillingService, BillingOperatorService and
// BillingInternalService over Connect, Stripe's webhooks at /webhooks/stripe, the background
// loops (dunning, effect delivery, seat sync, metered usage, reconciler), and health checks.
// cmd/billingd and devstack both run it.
package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/serve"
	"atrium.dev/services/billing/internal/engine"
	"atrium.dev/services/billing/internal/meter"
	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/service"
	"atrium.dev/services/billing/internal/store"
	"atrium.dev/services/billing/internal/stripeclient"
	"atrium.dev/services/billing/internal/webhook"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// Config is everything billing needs; main fills it from the environment.
type Config struct {
	// DatabaseURL is the control database (schema "billing").
	DatabaseURL string
	MaxConns    int32
	// InternalKey verifies incoming internal tokens and signs billing's calls to tenancy and
	// entitlements.
	InternalKey ed25519.PrivateKey

	// StripeKey is the secret API key; StripeURL overrides Stripe's API base (stripe-mock).
	StripeKey string
	StripeURL string
	// WebhookSecret verifies Stripe-Signature (whsec_...). Required.
	WebhookSecret string
	// WebhookBodyLimit caps a delivery (default 256 KiB).
	WebhookBodyLimit int64

	// Plans maps plans to Stripe price lookup keys; nil: plans.Defaults.
	Plans []plans.Plan
	// Grace before a past-due tenant is suspended (default 7 days).
	Grace time.Duration
	// Proration is Stripe's proration_behavior for seat and plan changes (default
	// create_prorations).
	Proration string
	// SeatDebounce waits after a member change before syncing seats (default 5 s).
	SeatDebounce time.Duration
	// TrialDays given by Checkout (0: none).
	TrialDays int64
	// PortalURL is where Checkout and the Customer Portal return ("{slug}" is replaced).
	PortalURL string

	// TenancyURL serves DirectoryService (CountMembers, SetBillingHold, ResolveTenant).
	TenancyURL string
	// Entitlements receives plan changes; nil: plans are only stored (logged), until the
	// entitlements service is configured.
	Entitlements engine.Entitlements
	// EntitlementsURL, when set and Entitlements is nil, is the entitlements service.
	EntitlementsURL string

	// RedisURL feeds the metered usage (the gateway's usage stream) and member-change
	// messages; empty: neither (seats still sync through MembersChanged and the reconciler).
	RedisURL    string
	RedisPrefix string

	// Intervals of the background loops (defaults: dunning 1 min, delivery 10 s, seats 1 s,
	// reconciler 15 min, meter reports 5 min).
	DunningInterval   time.Duration
	DeliverInterval   time.Duration
	SeatInterval      time.Duration
	ReconcileInterval time.Duration
	MeterInterval     time.Duration

	// Now is the clock (tests move it); nil: time.Now.
	Now func() time.Time

	HTTPClient   *http.Client
	Logger       *slog.Logger
	Meter        metric.Meter
	Interceptors []connect.Interceptor

	// Stripe replaces the Stripe client (tests); nil: stripeclient over StripeKey/StripeURL.
	Stripe service.Stripe
	// MeterStripe replaces the meter-event client (tests); nil: the Stripe client.
	MeterStripe meter.Stripe
}

// App is a running billing service.
type App struct {
	cfg    Config
	store  *store.Store
	engine *engine.Engine
	meter  *meter.Reporter
	rdb    *redis.Client
	mux    *http.ServeMux

	// Webhook is the handler of /webhooks/stripe (benchmarks call it directly).
	Webhook *webhook.Handler

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New opens the store (migrating it) and builds the handlers.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("billing: DatabaseURL is required")
	}
	if len(cfg.InternalKey) != ed25519.PrivateKeySize {
		return nil, errors.New("billing: InternalKey must be an ed25519 private key")
	}
	if cfg.WebhookSecret == "" {
		return nil, errors.New("billing: WebhookSecret is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = serve.H2CClient()
	}
	cat, err := plans.New(cfg.Plans)
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	sc := cfg.Stripe
	if sc == nil {
		if cfg.StripeKey == "" {
			return nil, errors.New("billing: StripeKey is required")
		}
		c, err := stripeclient.New(stripeclient.Config{SecretKey: cfg.StripeKey, BaseURL: cfg.StripeURL, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("billing: %w", err)
		}
		sc = c
		if cfg.MeterStripe == nil {
			cfg.MeterStripe = c
		}
	}
	if cfg.MeterStripe == nil {
		if ms, ok := sc.(meter.Stripe); ok {
			cfg.MeterStripe = ms
		}
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	caller := guard.NewCallerInterceptor(authn.NewInternalSigner(cfg.InternalKey), "billing")
	var ten engine.Tenancy
	if cfg.TenancyURL != "" {
		ten = &tenancyClient{dir: tenancyv1connect.NewDirectoryServiceClient(cfg.HTTPClient, cfg.TenancyURL, connect.WithInterceptors(caller))}
	}
	ent := cfg.Entitlements
	if ent == nil && cfg.EntitlementsURL != "" {
		ent = newEntitlementsClient(cfg.HTTPClient, cfg.EntitlementsURL, caller)
	}
	if ent == nil {
		ent = logEntitlements{cfg.Logger}
	}
	eng := engine.New(&engine.Engine{
		Store: st, Stripe: sc, Plans: cat, Entitlements: ent, Tenancy: ten, Log: cfg.Logger,
		Config: engine.Config{Grace: cfg.Grace, Proration: cfg.Proration, SeatDebounce: cfg.SeatDebounce, Now: cfg.Now},
	})
	a := &App{cfg: cfg, store: st, engine: eng, mux: http.NewServeMux()}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("billing: RedisURL: %w", err)
		}
		a.rdb = redis.NewClient(opts)
	}
	a.meter = meter.New(meter.Config{Store: st, Stripe: cfg.MeterStripe, Plans: cat, Redis: a.rdb,
		Stream: cfg.RedisPrefix + "atrium:usage", Now: eng.Now, Log: cfg.Logger})

	deps := &service.Deps{Engine: eng, Stripe: sc, PortalURL: cfg.PortalURL, TrialDays: cfg.TrialDays, Log: cfg.Logger}
	if deps.PortalURL == "" {
		deps.PortalURL = "http://{slug}.localhost:8080"
	}
	verifier := authn.NewInternalVerifier(cfg.InternalKey.Public().(ed25519.PublicKey))
	interceptors := append(append([]connect.Interceptor{}, cfg.Interceptors...),
		rpcerr.NewInterceptor(cfg.Logger),
		guard.NewAuthInterceptor(verifier),
		guard.NewPolicyInterceptor(),
	)
	hopts := []connect.HandlerOption{connect.WithInterceptors(interceptors...), connect.WithReadMaxBytes(1 << 20)}
	a.mux.Handle(billingv1connect.NewBillingServiceHandler(service.NewBilling(deps), hopts...))
	a.mux.Handle(billingv1connect.NewBillingOperatorServiceHandler(service.NewOperator(deps), hopts...))
	a.mux.Handle(billingv1connect.NewBillingInternalServiceHandler(service.NewInternal(deps), hopts...))
	a.Webhook = &webhook.Handler{Secret: cfg.WebhookSecret, BodyLimit: cfg.WebhookBodyLimit, Engine: eng, Log: cfg.Logger}
	if cfg.Meter != nil {
		if h, err := cfg.Meter.Float64Histogram("atrium.billing.webhook.duration", metric.WithUnit("s"),
			metric.WithDescription("Stripe webhook: receipt to committed effect")); err == nil {
			a.Webhook.Observe = func(outcome string, d time.Duration) { h.Record(context.Background(), d.Seconds()) }
		}
	}
	a.mux.Handle("POST "+webhook.Path, a.Webhook)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	a.mux.HandleFunc("GET /readyz", a.ready)
	return a, nil
}

// Engine is the billing engine (tests drive the dunning clock and loops through it).
func (a *App) Engine() *engine.Engine { return a.engine }

// Meter is the metered-usage reporter.
func (a *App) Meter() *meter.Reporter { return a.meter }

// Store is billing's store (tests read the ledger).
func (a *App) Store() *store.Store { return a.store }

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		http.Error(w, "database unavailable\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler serves every endpoint.
func (a *App) Handler() http.Handler { return a.mux }

// Start runs the background loops until ctx ends or Close.
func (a *App) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return
	}
	ctx, a.cancel = context.WithCancel(ctx)
	every := func(name string, d, def time.Duration, f func(context.Context) error) {
		if d <= 0 {
			d = def
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if err := f(ctx); err != nil && ctx.Err() == nil {
					a.cfg.Logger.WarnContext(ctx, "billing loop failed", "loop", name, "err", err)
				}
			}
		}()
	}
	every("dunning", a.cfg.DunningInterval, time.Minute, func(ctx context.Context) error {
		_, err := a.engine.Dunning(ctx)
		return err
	})
	every("deliver", a.cfg.DeliverInterval, 10*time.Second, a.engine.DeliverOwed)
	every("seats", a.cfg.SeatInterval, time.Second, func(ctx context.Context) error {
		_, err := a.engine.SyncSeats(ctx)
		return err
	})
	every("reconcile", a.cfg.ReconcileInterval, 15*time.Minute, a.Reconcile)
	every("meter", a.cfg.MeterInterval, 5*time.Minute, func(ctx context.Context) error {
		_, err := a.meter.Report(ctx)
		return err
	})
	if a.rdb != nil {
		a.wg.Add(2)
		go func() { defer a.wg.Done(); a.meter.Consume(ctx) }()
		go func() { defer a.wg.Done(); a.listenMembers(ctx) }()
	}
}

// Reconcile compares every tenant with a Stripe customer against Stripe and repairs the
// stored state (missed or failed webhooks); each repair is audited as "reconciler".
func (a *App) Reconcile(ctx context.Context) error {
	after := ""
	var errs []error
	for {
		page, err := a.store.Customers(ctx, after, 200)
		if err != nil {
			return err
		}
		for _, p := range page {
			repairs, err := a.engine.Sync(ctx, p[0], p[1], "reconciler")
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", p[0], err))
				continue
			}
			if len(repairs) > 0 {
				a.cfg.Logger.InfoContext(ctx, "reconciler repaired billing state", "tenant_id", p[0], "repairs", repairs)
			}
		}
		if len(page) < 200 {
			return errors.Join(errs...)
		}
		after = page[len(page)-1][0]
	}
}

// MembershipChannel is tenancy's announcement of member changes (under RedisPrefix).
const MembershipChannel = "atrium:membership-changed"

// listenMembers marks a tenant's seats dirty on every member change; the seat loop syncs
// them debounced.
func (a *App) listenMembers(ctx context.Context) {
	sub := a.rdb.Subscribe(ctx, a.cfg.RedisPrefix+MembershipChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var msg struct {
				TenantID string `json:"tenant_id"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.TenantID == "" {
				continue
			}
			if err := a.store.MarkSeatsDirty(ctx, msg.TenantID, a.engine.Now()); err != nil {
				a.cfg.Logger.WarnContext(ctx, "mark seats dirty", "tenant_id", msg.TenantID, "err", err)
			}
		}
	}
}

// Close stops the loops and releases the database and Redis.
func (a *App) Close() {
	a.mu.Lock()
	if a.cancel != nil {
		a.cancel()
	}
	a.mu.Unlock()
	a.wg.Wait()
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	a.store.Close()
}

// tenancyClient is engine.Tenancy over tenancy's DirectoryService.
type tenancyClient struct {
	dir tenancyv1connect.DirectoryServiceClient
}

func (t *tenancyClient) CountMembers(ctx context.Context, tenantID string) (int64, error) {
	res, err := t.dir.CountMembers(ctx, connect.NewRequest(&tenancyv1.CountMembersRequest{TenantId: tenantID}))
	if err != nil {
		return 0, err
	}
	return res.Msg.GetCount(), nil
}

func (t *tenancyClient) SetHold(ctx context.Context, tenantID string, hold bool, reason string) error {
	_, err := t.dir.SetBillingHold(ctx, connect.NewRequest(&tenancyv1.SetBillingHoldRequest{TenantId: tenantID, Hold: hold, Reason: reason}))
	return err
}

func (t *tenancyClient) Resolve(ctx context.Context, ref string) (string, error) {
	res, err := t.dir.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: ref}))
	if err != nil {
		return "", err
	}
	return res.Msg.GetTenant().GetId(), nil
}

// logEntitlements stands in while no entitlements service is configured: plans are stored
// and shown, and the log says nobody enforces them.
type logEntitlements struct{ log *slog.Logger }

func (l logEntitlements) SetPlan(ctx context.Context, tenantID, plan, reason string) error {
	l.log.WarnContext(ctx, "no entitlements service configured; plan stored only", "tenant_id", tenantID, "plan", plan, "reason", reason)
	return nil
}
