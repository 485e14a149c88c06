// Command insightsd serves the insights service (InsightsService, InsightsOperatorService,
// ProvisioningService) and runs the pipeline from the usage stream into tenant tables.
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
	"atrium.dev/services/insights/app"
	"connectrpc.com/connect"
)

// Insights-only settings.
const (
	envRedisPrefix = "ATRIUM_REDIS_PREFIX" // the gateway's: both must agree on the stream name
	envWorkers     = "ATRIUM_INSIGHTS_WORKERS"
	envRetention   = "ATRIUM_INSIGHTS_RETENTION_DAYS" // when the plan does not say
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "insightsd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.InsightsPort))
	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
	shards := config.Shards(env, config.EnvShards, config.DefaultShardName+"="+dbURL)
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	otlp := env.URL(config.EnvOTLPEndpoint, "")
	tenancyURL := env.URL(config.EnvTenancyURL, config.DefaultTenancyURL)
	entURL := env.URL(config.EnvEntitlementsURL, config.DefaultEntitlementsURL)
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	prefix := env.String(envRedisPrefix, "")
	workers := env.Int(envWorkers, 4)
	retention := env.Int(envRetention, 90)
	if err := env.Err(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "insights", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	a, err := app.New(ctx, app.Config{
		Shards:            shards,
		InternalKey:       internalKey,
		RedisURL:          redisURL,
		RedisPrefix:       prefix,
		TenancyURL:        tenancyURL,
		EntitlementsURL:   entURL,
		Workers:           workers,
		RetentionDays:     retention,
		RetentionInterval: time.Hour,
		Interceptors:      []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:            log,
		Meter:             tel.Meter("atrium.dev/services/insights"),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)

	return serve.Run(ctx, serve.NewServer(addr, serve.WithMetrics(tel, a.Handler(), "insights")), log)
}
