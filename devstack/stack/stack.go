// Package stack runs the whole of Atrium in one process: tenancy, catalog, entitlements, insights and
// the gateway,
// each on its own loopback listener, talking to each other over real HTTP/2 cleartext exactly
// as separate processes would. `make up` (cmd/devstack) and the end-to-end tests and
// benchmarks start it; nothing here is a shortcut the deployed services do not take.
package stack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	gatewayapp "atrium.dev/gateway/app"
	"atrium.dev/platform/config"
	"atrium.dev/platform/mailsink"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/telemetry"
	billingapp "atrium.dev/services/billing/app"
	catalogapp "atrium.dev/services/catalog/app"
	entitlementsapp "atrium.dev/services/entitlements/app"
	insightsapp "atrium.dev/services/insights/app"
	tenancyapp "atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
)

// Options configure a stack. The zero value plus a DatabaseURL is a working test stack.
type Options struct {
	// DatabaseURL is the control database; it must exist.
	DatabaseURL string
	// Shards are the tenant-plane databases; nil: one shard "main" on DatabaseURL.
	Shards map[string]string
	// RedisURL defaults to config.DefaultRedisURL. Every key goes under RedisPrefix.
	RedisURL    string
	RedisPrefix string
	// StaticDir is the built web app the gateway serves ("" or missing: none).
	StaticDir string
	// Logger receives every service's logs (with a "service" attribute); nil: JSON on stderr.
	Logger *slog.Logger
	// Ports of the loopback listeners; 0 picks a free one.
	GatewayPort, TenancyPort, CatalogPort int
	InsightsPort                          int
	EntitlementsPort                      int
	// SMTPPort is the local SMTP sink's port (0: a free one). Tenancy delivers its mail there
	// and the gateway listener serves what arrived at /_dev/mail (devstack only).
	SMTPPort int
	// KeyDir keeps the signing keys across restarts (make up uses .atrium/keys); "" makes
	// fresh keys on every start.
	KeyDir string
	// DeleteGrace is how long a soft-deleted tenant waits before its schema is dropped
	// (0: tenancy's default).
	DeleteGrace time.Duration

	// StripeURL is the Stripe API billing talks to (make up: stripe-mock on 12111; tests: a
	// fake). Empty: billing is not started (its methods answer Unimplemented).
	StripeURL string
	// StripeWebhookSecret verifies webhook deliveries (default DevStripeWebhookSecret).
	StripeWebhookSecret string
	BillingPort         int

	// Tenancy, Catalog, Billing and Gateway may adjust each service's config before it starts
	// (tests raise rate limits, benchmarks change pool sizes).
	Tenancy func(*tenancyapp.Config)
	Catalog func(*catalogapp.Config)
	// Insights adjusts insights' config (tests shorten its claim idle time).
	Insights func(*insightsapp.Config)
	Billing  func(*billingapp.Config)
	// Entitlements adjusts the entitlements service (tests set its clock and trial policy).
	Entitlements func(*entitlementsapp.Config)
	Gateway      func(*gatewayapp.Config)
}

// devUsageReportInterval is how often the stack's services send usage to entitlements: a
// person watching the portal's usage bars (or a test) sees a change within about a second,
// at one call per active tenant per second, which one machine's stack does not notice.
const devUsageReportInterval = time.Second

// Development-only Stripe credentials: stripe-mock accepts any test key.
const (
	DevStripeKey           = "sk_test_atrium_devstack"
	DevStripeWebhookSecret = "whsec_atrium_devstack"
)

// Stack is a running platform.
type Stack struct {
	GatewayURL string
	TenancyURL string
	CatalogURL string
	// InsightsURL serves insights (and its pipeline runs in this process).
	InsightsURL string
	// BillingURL is empty when billing is not running (no StripeURL).
	BillingURL string
	// EntitlementsURL serves plugins, plans and limits (control plane).
	EntitlementsURL string

	// TokenKey signs user access tokens; InternalKey signs gateway->service tokens. Tests use
	// them to forge tokens and to call services directly.
	TokenKey    ed25519.PrivateKey
	InternalKey ed25519.PrivateKey

	Tenancy *tenancyapp.App
	Catalog *catalogapp.App
	// Insights is the insights service.
	Insights *insightsapp.App
	Billing  *billingapp.App
	// Entitlements is the plugin and plan service; tests call its Sweep after moving its clock.
	Entitlements *entitlementsapp.App
	Gateway      *gatewayapp.App

	// HTTPClient speaks HTTP/2 cleartext, the way the services call each other.
	HTTPClient *http.Client
	// Mail is the SMTP sink tenancy delivers to (invitations, resets); tests read links from it.
	Mail *mailsink.Sink

	log       *slog.Logger
	cancel    context.CancelFunc
	servers   []*http.Server
	closers   []func()
	closeOnce sync.Once
	closeErr  error
}

// H2CClient returns a client that speaks only HTTP/2 over cleartext, as Atrium's services do
// between themselves.
func H2CClient() *http.Client { return serve.H2CClient() }

// Start runs the stack and returns when the gateway is ready. The stack runs until Close
// (not until ctx ends: ctx only bounds the start).
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.DatabaseURL == "" {
		return nil, errors.New("stack: DatabaseURL is required")
	}
	if opts.Shards == nil {
		opts.Shards = map[string]string{config.DefaultShardName: opts.DatabaseURL}
	}
	if opts.RedisURL == "" {
		opts.RedisURL = config.DefaultRedisURL
	}
	s := &Stack{HTTPClient: H2CClient()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel

	if opts.KeyDir != "" {
		if s.TokenKey, err = loadOrCreateKey(opts.KeyDir, "token.key"); err != nil {
			return nil, err
		}
		if s.InternalKey, err = loadOrCreateKey(opts.KeyDir, "internal.key"); err != nil {
			return nil, err
		}
	} else {
		if s.TokenKey, err = newKey(); err != nil {
			return nil, err
		}
		if s.InternalKey, err = newKey(); err != nil {
			return nil, err
		}
	}

	// Listen first: each service's URL must be known before the ones that call it start.
	catalogLn, err := listen(opts.CatalogPort)
	if err != nil {
		return nil, err
	}
	tenancyLn, err := listen(opts.TenancyPort)
	if err != nil {
		catalogLn.Close()
		return nil, err
	}
	gatewayLn, err := listen(opts.GatewayPort)
	if err != nil {
		catalogLn.Close()
		tenancyLn.Close()
		return nil, err
	}
	entLn, err := listen(opts.EntitlementsPort)
	if err != nil {
		return nil, closeAll(err, catalogLn, tenancyLn, gatewayLn)
	}
	s.CatalogURL, s.TenancyURL, s.GatewayURL = baseURL(catalogLn), baseURL(tenancyLn), baseURL(gatewayLn)
	s.EntitlementsURL = baseURL(entLn)
	if s.Mail, err = mailsink.Start(net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.SMTPPort))); err != nil {
		return nil, closeAll(fmt.Errorf("stack: SMTP sink on port %d: %w", opts.SMTPPort, err), catalogLn, tenancyLn, gatewayLn, entLn)
	}
	s.closers = append(s.closers, func() { _ = s.Mail.Close() })

	// Catalog: provisions tenant tables, serves the catalog.
	catTel, catLog, err := s.telemetry(ctx, opts, "catalog")
	if err != nil {
		return nil, closeAll(err, catalogLn, tenancyLn, gatewayLn, entLn)
	}
	catCfg := catalogapp.Config{
		Shards:       opts.Shards,
		InternalKey:  s.InternalKey,
		Interceptors: []connect.Interceptor{catTel.ConnectInterceptor()},
		Logger:       catLog,
		Meter:        catTel.Meter("atrium.dev/services/catalog"),
		TenancyURL:   s.TenancyURL,
		HTTPClient:   H2CClient(),
		// Derived from the internal key so webhook secrets survive a restart of the stack.
		SecretKey: devSecretKey(s.InternalKey),
		// Listening already, so the catalog's first snapshot fetch finds it.
		EntitlementsURL: s.EntitlementsURL,
		// Entitlements' change messages: a plan change reaches the catalog at once.
		RedisURL:    opts.RedisURL,
		RedisPrefix: opts.RedisPrefix,
		// Usage (entities, requests, events) reaches GetEntitlements within a second or two.
		UsageReportInterval: devUsageReportInterval,
	}
	if opts.Catalog != nil {
		opts.Catalog(&catCfg)
	}
	if s.Catalog, err = catalogapp.New(ctx, catCfg); err != nil {
		return nil, closeAll(fmt.Errorf("stack: catalog: %w", err), catalogLn, tenancyLn, gatewayLn, entLn)
	}
	s.closers = append(s.closers, s.Catalog.Close)
	s.Catalog.Start(runCtx)
	s.serve(catalogLn, catTel.HTTPMiddleware(s.Catalog.Handler(), "catalog"), catTel)

	// Insights: provisions its tenant tables, serves Track and the queries, and runs the
	// pipeline from the usage stream. Before tenancy, which provisions through it.
	insightsLn, err := listen(opts.InsightsPort)
	if err != nil {
		return nil, closeAll(err, tenancyLn, gatewayLn, entLn)
	}
	s.InsightsURL = baseURL(insightsLn)
	insTel, insLog, err := s.telemetry(ctx, opts, "insights")
	if err != nil {
		return nil, closeAll(err, insightsLn, tenancyLn, gatewayLn, entLn)
	}
	insCfg := insightsapp.Config{
		Shards:      opts.Shards,
		InternalKey: s.InternalKey,
		RedisURL:    opts.RedisURL,
		RedisPrefix: opts.RedisPrefix,
		TenancyURL:  s.TenancyURL,
		// Plan limits (monthly events, retention, seats) from entitlements' snapshots.
		EntitlementsURL: s.EntitlementsURL,
		// Usage (entities, requests, events) reaches GetEntitlements within a second or two.
		UsageReportInterval: devUsageReportInterval,
		HTTPClient:          H2CClient(),
		Interceptors:        []connect.Interceptor{insTel.ConnectInterceptor()},
		Logger:              insLog,
		Meter:               insTel.Meter("atrium.dev/services/insights"),
	}
	if opts.Insights != nil {
		opts.Insights(&insCfg)
	}
	if s.Insights, err = insightsapp.New(ctx, insCfg); err != nil {
		return nil, closeAll(fmt.Errorf("stack: insights: %w", err), insightsLn, tenancyLn, gatewayLn, entLn)
	}
	s.closers = append(s.closers, s.Insights.Close)
	s.Insights.Start(runCtx)
	s.serve(insightsLn, insTel.HTTPMiddleware(s.Insights.Handler(), "insights"), insTel)

	// Entitlements: plugins, plans and limits; gives each new tenant its plan.
	entTel, entLog, err := s.telemetry(ctx, opts, "entitlements")
	if err != nil {
		return nil, closeAll(err, tenancyLn, gatewayLn, entLn)
	}
	entCfg := entitlementsapp.Config{
		DatabaseURL:  opts.DatabaseURL,
		InternalKey:  s.InternalKey,
		TenancyURL:   s.TenancyURL,
		RedisURL:     opts.RedisURL,
		RedisPrefix:  opts.RedisPrefix,
		HTTPClient:   H2CClient(),
		Interceptors: []connect.Interceptor{entTel.ConnectInterceptor()},
		Logger:       entLog,
		Meter:        entTel.Meter("atrium.dev/services/entitlements"),
	}
	if opts.Entitlements != nil {
		opts.Entitlements(&entCfg)
	}
	if s.Entitlements, err = entitlementsapp.New(ctx, entCfg); err != nil {
		return nil, closeAll(fmt.Errorf("stack: entitlements: %w", err), tenancyLn, gatewayLn, entLn)
	}
	s.closers = append(s.closers, s.Entitlements.Close)
	s.Entitlements.Start(runCtx)
	s.serve(entLn, entTel.HTTPMiddleware(s.Entitlements.Handler(), "entitlements"), entTel)

	// Billing's listener opens before tenancy starts: tenancy's invitations ask it for seats.
	var billingLn net.Listener
	if opts.StripeURL != "" {
		if billingLn, err = listen(opts.BillingPort); err != nil {
			return nil, closeAll(err, tenancyLn, gatewayLn)
		}
		s.BillingURL = baseURL(billingLn)
	}

	// Tenancy: the control plane; provisions through catalog, entitlements and insights.
	tenTel, tenLog, err := s.telemetry(ctx, opts, "tenancy")
	if err != nil {
		return nil, closeAll(err, tenancyLn, gatewayLn, billingLn)
	}
	tenCfg := tenancyapp.Config{
		DatabaseURL:  opts.DatabaseURL,
		Shards:       opts.Shards,
		TokenKey:     s.TokenKey,
		InternalKey:  s.InternalKey,
		Provisioners: map[string]string{"catalog": s.CatalogURL, "entitlements": s.EntitlementsURL, "insights": s.InsightsURL},
		// Seats follow the tenant's plan, and the paid seats when billing runs.
		EntitlementsURL: s.EntitlementsURL,
		BillingURL:      s.BillingURL,
		HTTPClient:      s.HTTPClient,
		DeleteGrace:     opts.DeleteGrace,
		RedisURL:        opts.RedisURL,
		RedisPrefix:     opts.RedisPrefix,
		SMTPURL:         s.Mail.URL(),
		MailPoll:        200 * time.Millisecond,
		PortalURL:       "http://{slug}.localhost:" + strconv.Itoa(gatewayLn.Addr().(*net.TCPAddr).Port),
		Interceptors:    []connect.Interceptor{tenTel.ConnectInterceptor()},
		Logger:          tenLog,
		Meter:           tenTel.Meter("atrium.dev/services/tenancy"),
	}
	if opts.Tenancy != nil {
		opts.Tenancy(&tenCfg)
	}
	if s.Tenancy, err = tenancyapp.New(ctx, tenCfg); err != nil {
		return nil, closeAll(fmt.Errorf("stack: tenancy: %w", err), tenancyLn, gatewayLn, billingLn)
	}
	s.closers = append(s.closers, s.Tenancy.Close)
	s.Tenancy.Start(runCtx)
	s.serve(tenancyLn, tenTel.HTTPMiddleware(s.Tenancy.Handler(), "tenancy"), tenTel)

	// Billing: Stripe subscriptions; tells entitlements the plan and tenancy the hold.
	if billingLn != nil {
		if err := s.startBilling(ctx, runCtx, opts, billingLn); err != nil {
			return nil, closeAll(err, gatewayLn)
		}
	}

	// Gateway: the one public entry point.
	gwTel, gwLog, err := s.telemetry(ctx, opts, "gateway")
	if err != nil {
		return nil, closeAll(err, gatewayLn)
	}
	s.log = gwLog
	upstreams, rest := gatewayapp.StandardUpstreams(s.TenancyURL, s.CatalogURL)
	gatewayapp.InsightsUpstreams(upstreams, s.InsightsURL)
	maps.Copy(upstreams, gatewayapp.EntitlementsUpstreams(s.EntitlementsURL))
	webhooks := map[string]string{}
	gatewayapp.BillingUpstreams(upstreams, webhooks, s.BillingURL)
	gwCfg := gatewayapp.Config{
		TenancyURL:    s.TenancyURL,
		Upstreams:     upstreams,
		RESTUpstreams: rest,
		Webhooks:      webhooks,
		RedisURL:      opts.RedisURL,
		RedisPrefix:   opts.RedisPrefix,
		InternalKey:   s.InternalKey,
		// The gateway enforces plugins and plan rates from entitlements' snapshots.
		EntitlementsURL: s.EntitlementsURL,
		// Usage (entities, requests, events) reaches GetEntitlements within a second or two.
		UsageReportInterval: devUsageReportInterval,
		StaticDir:           opts.StaticDir,
		HTTPClient:          s.HTTPClient,
		Telemetry:           gwTel,
		Logger:              gwLog,
	}
	if opts.Gateway != nil {
		opts.Gateway(&gwCfg)
	}
	if s.Gateway, err = gatewayapp.New(ctx, gwCfg); err != nil {
		return nil, closeAll(fmt.Errorf("stack: gateway: %w", err), gatewayLn)
	}
	s.closers = append(s.closers, s.Gateway.Close)
	s.Gateway.Start(runCtx)
	gw := http.NewServeMux()
	gw.Handle("GET /_dev/mail", s.Mail.Handler())
	gw.Handle("/", s.Gateway.Handler())
	s.serve(gatewayLn, gw, gwTel)

	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// startBilling runs billing on ln, against opts.StripeURL.
func (s *Stack) startBilling(ctx, runCtx context.Context, opts Options, ln net.Listener) error {
	tel, log, err := s.telemetry(ctx, opts, "billing")
	if err != nil {
		ln.Close()
		return err
	}
	secret := opts.StripeWebhookSecret
	if secret == "" {
		secret = DevStripeWebhookSecret
	}
	cfg := billingapp.Config{
		DatabaseURL:     opts.DatabaseURL,
		InternalKey:     s.InternalKey,
		StripeKey:       DevStripeKey,
		StripeURL:       opts.StripeURL,
		WebhookSecret:   secret,
		TenancyURL:      s.TenancyURL,
		EntitlementsURL: s.EntitlementsURL,
		RedisURL:        opts.RedisURL,
		RedisPrefix:     opts.RedisPrefix,
		HTTPClient:      s.HTTPClient,
		Interceptors:    []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:          log,
		Meter:           tel.Meter("atrium.dev/services/billing"),
	}
	if opts.GatewayPort != 0 {
		cfg.PortalURL = "http://{slug}.localhost:" + strconv.Itoa(opts.GatewayPort)
	}
	if opts.Billing != nil {
		opts.Billing(&cfg)
	}
	if s.Billing, err = billingapp.New(ctx, cfg); err != nil {
		ln.Close()
		return fmt.Errorf("stack: billing: %w", err)
	}
	s.closers = append(s.closers, s.Billing.Close)
	s.Billing.Start(runCtx)
	s.serve(ln, tel.HTTPMiddleware(s.Billing.Handler(), "billing"), tel)
	return nil
}

func listen(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("stack: listen on port %d: %w", port, err)
	}
	return ln, nil
}

func baseURL(ln net.Listener) string { return "http://" + ln.Addr().String() }

func closeAll(err error, lns ...net.Listener) error {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
	return err
}

// telemetry sets up one service's providers. With Options.Logger the service logs there;
// telemetry's own JSON logger is then unused.
func (s *Stack) telemetry(ctx context.Context, opts Options, name string) (*telemetry.Telemetry, *slog.Logger, error) {
	cfg := telemetry.Config{ServiceName: name, OTLPEndpoint: os.Getenv(config.EnvOTLPEndpoint), LogLevel: os.Getenv(config.EnvLogLevel)}
	if opts.Logger != nil {
		cfg.LogWriter = io.Discard
	}
	tel, err := telemetry.Setup(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: %s telemetry: %w", name, err)
	}
	s.closers = append(s.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	})
	if opts.Logger != nil {
		return tel, opts.Logger.With("service", name), nil
	}
	return tel, tel.Logger(), nil
}

// serve runs h on ln over HTTP/1.1 and HTTP/2 cleartext, with /metrics from tel.
func (s *Stack) serve(ln net.Listener, h http.Handler, tel *telemetry.Telemetry) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.Handle("/", h)
	// The deployed processes' server (timeouts, h2c, stream deadlines); the listener is ln.
	srv := serve.NewServer("", mux)
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.log != nil {
			s.log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// waitReady polls the gateway's /readyz: it turns ready once it has tenancy's signing keys.
func (s *Stack) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.GatewayURL+"/readyz", nil)
		resp, err := s.HTTPClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack: gateway not ready: %s", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// OperatorToken creates an operator credential ("atr_op_...") named name.
func (s *Stack) OperatorToken(ctx context.Context, name string) (string, error) {
	return s.Tenancy.CreateOperatorToken(ctx, name)
}

// Close stops the listeners (gateway first, so no new request reaches a stopping service),
// the background loops and the services. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(s.servers) - 1; i >= 0; i-- {
			// An HTTP/2 server waits up to a second for clients to close their connections
			// after GOAWAY; the stack's own client (shared by the gateway, tenancy and most
			// tests) closes its idle ones at once instead.
			s.HTTPClient.CloseIdleConnections()
			if err := s.servers[i].Shutdown(ctx); err != nil {
				s.servers[i].Close()
				s.closeErr = errors.Join(s.closeErr, err)
			}
		}
		if s.cancel != nil {
			s.cancel()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
		s.HTTPClient.CloseIdleConnections()
	})
	return s.closeErr
}

// devSecretKey derives the catalog's secret key (credentials, webhook secrets) from the
// stack's internal key: the devstack has no secret store.
func devSecretKey(k []byte) []byte {
	sum := sha256.Sum256(append([]byte("atrium devstack catalog secret\x00"), k...))
	return sum[:]
}
