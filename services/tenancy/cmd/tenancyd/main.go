// Command tenancyd serves the tenancy service: tenants and sign-up, users, members, login,
// the operator API and provisioning.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"atrium.dev/platform/config"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/telemetry"
	"atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tenancyd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.TenancyPort))
	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
	shards := config.Shards(env, config.EnvShards, config.DefaultShardName+"="+dbURL)
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	catalogURL := env.URL(config.EnvCatalogURL, config.DefaultCatalogURL)
	insightsURL := env.URL(config.EnvInsightsURL, config.DefaultInsightsURL)
	entitlementsURL := env.URL(config.EnvEntitlementsURL, config.DefaultEntitlementsURL)
	// Billing is optional (no Stripe, no billing): unset, invitations only meet the plan's limit.
	billingURL := env.URL(config.EnvBillingURL, "")
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	smtpURL := env.String(config.EnvSMTPURL, "")
	portalURL := env.String(config.EnvPortalURL, "")
	otlp := env.URL(config.EnvOTLPEndpoint, "")
	tokenKey := config.RequiredEd25519Key(env, config.EnvTokenKey)
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	if err := env.Err(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "tenancy", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	client := app.H2CClient()
	client.Transport = tel.HTTPTransport(client.Transport)
	a, err := app.New(ctx, app.Config{
		DatabaseURL:  dbURL,
		Shards:       shards,
		TokenKey:     tokenKey,
		InternalKey:  internalKey,
		Provisioners: map[string]string{"catalog": catalogURL, "entitlements": entitlementsURL, "insights": insightsURL},
		// Seats follow the tenant's plan.
		EntitlementsURL: entitlementsURL,
		// Paid seats: invitations past them add a seat or are refused (billing's CheckSeat).
		BillingURL:   billingURL,
		HTTPClient:   client,
		RedisURL:     redisURL,
		SMTPURL:      smtpURL,
		PortalURL:    portalURL,
		Interceptors: []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:       log,
		Meter:        tel.Meter("atrium.dev/services/tenancy"),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)

	return serve.Run(ctx, serve.NewServer(addr, serve.WithMetrics(tel, a.Handler(), "tenancy")), log)
}
