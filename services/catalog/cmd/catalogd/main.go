// Command catalogd serves the catalog service: CatalogService, ProvisioningService and
// Backstage's REST API under /api/catalog/, over HTTP/1.1 and HTTP/2 cleartext.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"atrium.dev/platform/config"
	"atrium.dev/platform/serve"
	"atrium.dev/platform/telemetry"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/service"
	"atrium.dev/services/catalog/internal/source"
	"connectrpc.com/connect"
)

// EnvEntityLimit is the per-tenant entity limit while entitlements cannot say the plan's.
const EnvEntityLimit = "ATRIUM_CATALOG_ENTITY_LIMIT"

// Settings of Location sources.
const (
	// EnvSecretKey is 32 bytes, base64: seals integration tokens, derives webhook secrets.
	EnvSecretKey = "ATRIUM_CATALOG_SECRET_KEY"
	// EnvOutboundAllow lists hosts (or host:port) Location fetches may reach although they
	// resolve to private, loopback or link-local addresses, comma-separated.
	EnvOutboundAllow = "ATRIUM_CATALOG_OUTBOUND_ALLOW"
	// EnvFetchTimeout and EnvFetchMaxBytes bound one fetch.
	EnvFetchTimeout  = "ATRIUM_CATALOG_FETCH_TIMEOUT"
	EnvFetchMaxBytes = "ATRIUM_CATALOG_FETCH_MAX_BYTES"
	// EnvRefreshInterval is the default refresh interval of a Location.
	EnvRefreshInterval = "ATRIUM_CATALOG_REFRESH_INTERVAL"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "catalogd:", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.FromEnv()
	addr := env.String(config.EnvHTTPAddr, fmt.Sprintf(":%d", config.CatalogPort))
	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
	shards := config.Shards(env, config.EnvShards, config.DefaultShardName+"="+dbURL)
	logLevel := env.String(config.EnvLogLevel, config.DefaultLogLevel)
	otlp := env.URL(config.EnvOTLPEndpoint, "")
	entityLimit := env.Int(EnvEntityLimit, app.DefaultEntityLimit)
	tenancyURL := env.URL(config.EnvTenancyURL, config.DefaultTenancyURL)
	entitlementsURL := env.URL(config.EnvEntitlementsURL, config.DefaultEntitlementsURL)
	redisURL := env.URL(config.EnvRedisURL, config.DefaultRedisURL)
	redisPrefix := env.String(config.EnvRedisPrefix, "")
	internalKey := config.RequiredEd25519Key(env, config.EnvInternalKey)
	var secretKey []byte
	if s := env.String(EnvSecretKey, ""); s != "" {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			env.Invalid(EnvSecretKey, "must be 32 bytes, base64")
		}
		secretKey = k
	}
	var allow []string
	for _, h := range strings.Split(env.String(EnvOutboundAllow, ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			allow = append(allow, h)
		}
	}
	outbound := source.Policy{
		AllowHosts: allow,
		Timeout:    env.Duration(EnvFetchTimeout, source.DefaultTimeout),
		MaxBytes:   int64(env.Int(EnvFetchMaxBytes, source.DefaultMaxBytes)),
	}
	interval := env.Duration(EnvRefreshInterval, service.DefaultRefreshInterval)
	if err := env.Err(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "catalog", OTLPEndpoint: otlp, LogLevel: logLevel})
	if err != nil {
		return err
	}
	defer tel.Close()
	log := tel.Logger()

	a, err := app.New(ctx, app.Config{
		Shards:      shards,
		InternalKey: internalKey,
		EntityLimit: entityLimit,
		TenancyURL:  tenancyURL,
		// Plans set each tenant's entity limit; EntityLimit is the cap while they cannot.
		EntitlementsURL: entitlementsURL,
		// Entitlements' change messages, so plan changes apply at once rather than by polling.
		RedisURL:     redisURL,
		RedisPrefix:  redisPrefix,
		Interceptors: []connect.Interceptor{tel.ConnectInterceptor()},
		Logger:       log,
		Meter:        tel.Meter("atrium.dev/services/catalog"),
		SecretKey:    secretKey,
		Outbound:     outbound,
		Worker:       service.WorkerConfig{Interval: interval},
	})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)

	return serve.Run(ctx, serve.NewServer(addr, serve.WithMetrics(tel, a.Handler(), "catalog")), log)
}
