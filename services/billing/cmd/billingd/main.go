// Command billingd serves the billing service: BillingService, BillingOperatorService,
// BillingInternalService and Stripe's webhooks at /webhooks/stripe, over HTTP/1.1 and HTTP/2
// cleartext.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"atrium.dev/platform/config"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/telemetry"
	"atrium.dev/services/billing/app"
	"connectrpc.com/connect"
)

// Billing-only settings.
const (
	envGraceDays   = "ATRIUM_BILLING_GRACE_DAYS"
	envProration   = "ATRIUM_BILLING_PRORATION"
	envTrialDays   = "ATRIUM_BILLING_TRIAL_DAYS"
	envRedisPrefix = "ATRIUM_REDIS_PREFIX"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "billingd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.BillingPort))
	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	redisPrefix := env.String(envRedisPrefix, "")
	tenancyURL := env.URL(config.EnvTenancyURL, config.DefaultTenancyURL)
	entitlementsURL := env.URL(config.EnvEntitlementsURL, config.DefaultEntitlementsURL)
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	otlp := env.URL(config.EnvOTLPEndpoint, "")
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	stripeKey := env.String(config.EnvStripeSecretKey, "")
	stripeURL := env.URL(config.EnvStripeAPIURL, "")
	webhookSecret := env.String(config.EnvStripeWebhookSecret, "")
	graceDays := env.Int(envGraceDays, 7)
	proration := env.String(envProration, "create_prorations")
	trialDays := env.Int(envTrialDays, 0)
	portalURL := env.String(config.EnvPortalURL, "")
	if err := env.Err(); err != nil {
		return err
	}
	if stripeKey == "" || webhookSecret == "" {
		return fmt.Errorf("%s and %s are required", config.EnvStripeSecretKey, config.EnvStripeWebhookSecret)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "billing", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	a, err := app.New(ctx, app.Config{
		DatabaseURL:     dbURL,
		InternalKey:     internalKey,
		StripeKey:       stripeKey,
		StripeURL:       stripeURL,
		WebhookSecret:   webhookSecret,
		Grace:           time.Duration(graceDays) * 24 * time.Hour,
		Proration:       proration,
		TrialDays:       int64(trialDays),
		PortalURL:       portalURL,
		TenancyURL:      tenancyURL,
		EntitlementsURL: entitlementsURL,
		RedisURL:        redisURL,
		RedisPrefix:     redisPrefix,
		Interceptors:    []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:          log,
		Meter:           tel.Meter("atrium.dev/services/billing"),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)

	return serve.Run(ctx, serve.NewServer(addr, serve.WithMetrics(tel, a.Handler(), "billing")), log)
}
