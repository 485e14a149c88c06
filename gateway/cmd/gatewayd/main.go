// Command gatewayd runs the Atrium gateway, the one public entry point.
package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"atrium.dev/gateway/app"
	"atrium.dev/platform/config"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/telemetry"
)

// Gateway-only settings.
const (
	envStaticDir   = "ATRIUM_STATIC_DIR"   // built web app, e.g. frontend/dist
	envRedisPrefix = "ATRIUM_REDIS_PREFIX" // put before every Redis key
	envBaseDomains = "ATRIUM_BASE_DOMAINS" // comma-separated: "<slug>.<domain>" names a tenant
	envRateRPS     = "ATRIUM_RATE_LIMIT_RPS"
	envRateBurst   = "ATRIUM_RATE_LIMIT_BURST"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewayd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.GatewayPort))
	metricsAddr := env.String(config.EnvMetricsAddr, fmt.Sprintf(":%d", config.GatewayMetricsPort))
	tenancyURL := env.URL(config.EnvTenancyURL, config.DefaultTenancyURL)
	catalogURL := env.URL(config.EnvCatalogURL, config.DefaultCatalogURL)
	insightsURL := env.URL(config.EnvInsightsURL, config.DefaultInsightsURL)
	entitlementsURL := env.URL(config.EnvEntitlementsURL, config.DefaultEntitlementsURL)
	// Billing is optional: without it, its methods answer Unimplemented and no webhook route
	// exists.
	billingURL := env.URL(config.EnvBillingURL, "")
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	otlp := env.String(config.EnvOTLPEndpoint, "")
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	staticDir := env.String(envStaticDir, "")
	redisPrefix := env.String(envRedisPrefix, "")
	baseDomains := env.String(envBaseDomains, "")
	rps := env.Int(envRateRPS, int(app.DefaultRateLimit.PerSecond))
	burst := env.Int(envRateBurst, app.DefaultRateLimit.Burst)
	if err := env.Err(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "gateway", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	upstreams, rest := app.StandardUpstreams(tenancyURL, catalogURL)
	app.InsightsUpstreams(upstreams, insightsURL)
	maps.Copy(upstreams, app.EntitlementsUpstreams(entitlementsURL))
	webhooks := map[string]string{}
	app.BillingUpstreams(upstreams, webhooks, billingURL)
	var domains []string
	for _, d := range strings.Split(baseDomains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	gw, err := app.New(ctx, app.Config{
		TenancyURL:    tenancyURL,
		Upstreams:     upstreams,
		RESTUpstreams: rest,
		Webhooks:      webhooks,
		RedisURL:      redisURL,
		RedisPrefix:   redisPrefix,
		InternalKey:   internalKey,
		// Plugin checks and plan rates come from entitlements' snapshots.
		EntitlementsURL: entitlementsURL,
		RateLimit:       app.RateLimit{PerSecond: float64(rps), Burst: burst},
		StaticDir:       staticDir,
		BaseDomains:     domains,
		Telemetry:       tel,
	})
	if err != nil {
		return err
	}
	gw.Start(ctx)

	// /metrics is not on the public listener (issue 6: it was public on :8080): it gets its
	// own, for the scraper only.
	metrics := http.NewServeMux()
	metrics.Handle("GET /metrics", tel.MetricsHandler())
	go func() {
		if err := serve.Run(ctx, serve.NewServer(metricsAddr, metrics), log); err != nil {
			log.Error("metrics listener", "err", err)
		}
	}()
	// Close after the server has drained, so queued usage events are flushed.
	defer gw.Close()
	return serve.Run(ctx, serve.NewServer(addr, gw.Handler()), log)
}
