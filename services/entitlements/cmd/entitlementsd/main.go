// Command entitlementsd serves the entitlements service: PluginService,
// EntitlementsOperatorService, EntitlementsInternalService and ProvisioningService, over
// HTTP/1.1 and HTTP/2 cleartext.
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
	"atrium.dev/services/entitlements/app"
	"connectrpc.com/connect"
)

// Settings only entitlements reads.
const (
	// EnvNewTenantPlan is the plan new tenants start on ("free" or "team"/"enterprise" as a
	// trial); EnvNewTenantTrialDays how long that trial lasts.
	EnvNewTenantPlan      = "ATRIUM_ENTITLEMENTS_NEW_TENANT_PLAN"
	EnvNewTenantTrialDays = "ATRIUM_ENTITLEMENTS_TRIAL_DAYS"
	EnvSweepInterval      = "ATRIUM_ENTITLEMENTS_SWEEP_INTERVAL"
	// envRedisPrefix is the gateway's variable: both must agree for the gateway to hear changes.
	envRedisPrefix = "ATRIUM_REDIS_PREFIX"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "entitlementsd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.EntitlementsPort))
	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	redisPrefix := env.String(envRedisPrefix, "")
	tenancyURL := env.URL(config.EnvTenancyURL, config.DefaultTenancyURL)
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	otlp := env.URL(config.EnvOTLPEndpoint, "")
	plan := env.OneOf(EnvNewTenantPlan, "free", "free", "team", "enterprise")
	trialDays := env.Int(EnvNewTenantTrialDays, app.DefaultTrialDays)
	sweep := env.Duration(EnvSweepInterval, app.DefaultSweepInterval)
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	if err := env.Err(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "entitlements", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	a, err := app.New(ctx, app.Config{
		DatabaseURL:        dbURL,
		InternalKey:        internalKey,
		TenancyURL:         tenancyURL,
		RedisURL:           redisURL,
		RedisPrefix:        redisPrefix,
		NewTenantPlan:      plan,
		NewTenantTrialDays: trialDays,
		SweepInterval:      sweep,
		Interceptors:       []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:             log,
		Meter:              tel.Meter("atrium.dev/services/entitlements"),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)

	return serve.Run(ctx, serve.NewServer(addr, serve.WithMetrics(tel, a.Handler(), "entitlements")), log)
}
