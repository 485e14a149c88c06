// Package config reads a process's settings from environment variables.
//
// A main reads every variable it needs through one Env, then checks Env.Err
// once before doing anything else, so a misconfigured process reports every
// problem at start-up instead of the first one (and instead of failing later
// at the first request that needs the setting).
//
//	env := config.FromEnv()
//	addr := env.String(config.EnvHTTPAddr, ":8081")
//	dbURL := env.URL(config.EnvDatabaseURL, config.DefaultDatabaseURL)
//	if err := env.Err(); err != nil {
//		fmt.Fprintln(os.Stderr, err)
//		os.Exit(2)
//	}
//
// An unset variable and a variable set to the empty string are the same:
// both take the default.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variable names shared by every process.
const (
	EnvDatabaseURL = "ATRIUM_DATABASE_URL" // control database
	EnvShards      = "ATRIUM_SHARDS"       // tenant-plane shards, "name=dsn;name2=dsn2"
	EnvRedisURL    = "ATRIUM_REDIS_URL"
	EnvHTTPAddr    = "ATRIUM_HTTP_ADDR" // listen address, per process
	EnvTenancyURL  = "ATRIUM_TENANCY_URL"
	EnvCatalogURL  = "ATRIUM_CATALOG_URL"
	EnvBillingURL  = "ATRIUM_BILLING_URL"
	EnvInternalKey = "ATRIUM_INTERNAL_KEY" // base64 ed25519 seed: gateway -> service tokens
	EnvTokenKey    = "ATRIUM_TOKEN_KEY"    // base64 ed25519 seed: user access tokens
	EnvLogLevel    = "ATRIUM_LOG_LEVEL"
	EnvMetricsAddr = "ATRIUM_METRICS_ADDR" // gateway: /metrics listener, apart from the public one
	EnvSMTPURL     = "ATRIUM_SMTP_URL"     // tenancy's mail relay, smtp://[user:password@]host:port
	EnvPortalURL   = "ATRIUM_PORTAL_URL"   // web app base URL in mailed links, "{slug}" replaced

	// Billing's Stripe settings: the secret API key, the API base (stripe-mock in
	// development: http://127.0.0.1:12111) and the webhook endpoint secret (whsec_...).
	EnvStripeSecretKey     = "ATRIUM_STRIPE_SECRET_KEY"
	EnvStripeAPIURL        = "ATRIUM_STRIPE_API_URL"
	EnvStripeWebhookSecret = "ATRIUM_STRIPE_WEBHOOK_SECRET"

	// Standard OpenTelemetry variables.
	EnvOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvServiceName  = "OTEL_SERVICE_NAME"
)

// Defaults shared by code, devstack and the manifest checks.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/atrium?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultShardName   = "main"
	DefaultShards      = DefaultShardName + "=" + DefaultDatabaseURL
	DefaultLogLevel    = "info"

	GatewayPort = 8080
	// GatewayMetricsPort is the gateway's /metrics listener (ATRIUM_METRICS_ADDR), apart from
	// the public one.
	GatewayMetricsPort = 9464
	TenancyPort        = 8081
	CatalogPort        = 8082
	BillingPort        = 8085
	WebDevPort         = 5173

	DefaultTenancyURL = "http://127.0.0.1:8081"
	DefaultCatalogURL = "http://127.0.0.1:8082"
	DefaultBillingURL = "http://127.0.0.1:8085"
)

// Entitlements (its own block so services added alongside do not realign each other's lines).
const (
	// EnvEntitlementsURL is where the gateway and the limit-enforcing services reach
	// entitlements' internal API.
	EnvEntitlementsURL     = "ATRIUM_ENTITLEMENTS_URL"
	EntitlementsPort       = 8083
	DefaultEntitlementsURL = "http://127.0.0.1:8083"
)

// Insights (its own block, like entitlements').
const (
	// EnvInsightsURL is where the gateway reaches insights.
	EnvInsightsURL     = "ATRIUM_INSIGHTS_URL"
	InsightsPort       = 8084
	DefaultInsightsURL = "http://127.0.0.1:8084"
)

// KnownEnv lists every environment variable Atrium processes read.
func KnownEnv() []string {
	return []string{
		EnvDatabaseURL,
		EnvShards,
		EnvRedisURL,
		EnvHTTPAddr,
		EnvTenancyURL,
		EnvCatalogURL,
		EnvBillingURL,
		EnvEntitlementsURL,
		EnvInsightsURL,
		EnvInternalKey,
		EnvTokenKey,
		EnvLogLevel,
		EnvStripeSecretKey,
		EnvStripeAPIURL,
		EnvStripeWebhookSecret,
		EnvSMTPURL,
		EnvPortalURL,
		EnvMetricsAddr,
		EnvOTLPEndpoint,
		EnvServiceName,
	}
}

// Env reads variables and collects what is wrong with them. Its methods
// return the default (or the zero value) for a bad value and record the
// problem; Err reports all of them. An Env is not safe for concurrent use.
type Env struct {
	lookup func(string) string
	errs   []error
}

// FromEnv returns an Env reading the process environment.
func FromEnv() *Env {
	return &Env{lookup: os.Getenv}
}

// FromLookup returns an Env reading through getenv (os.Getenv, or a test's own).
func FromLookup(getenv func(string) string) *Env {
	return &Env{lookup: getenv}
}

// FromMap returns an Env reading m, for tests.
func FromMap(m map[string]string) *Env {
	return &Env{lookup: func(name string) string { return m[name] }}
}

func (e *Env) get(name string) string {
	return strings.TrimSpace(e.lookup(name))
}

// Invalid records a problem with the variable name. Mains use it for checks
// this package cannot know about (say, a key production requires), so the
// problem is reported together with the others by Err.
func (e *Env) Invalid(name, reason string) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, reason))
}

// Err returns every problem recorded so far, one per line, each naming its
// variable, or nil.
func (e *Env) Err() error {
	return errors.Join(e.errs...)
}

// String returns the variable, or def when it is unset.
func (e *Env) String(name, def string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records a problem when it is unset.
func (e *Env) Required(name string) string {
	v := e.get(name)
	if v == "" {
		e.Invalid(name, "required but not set")
	}
	return v
}

// Int returns the variable as a decimal integer, or def when it is unset.
func (e *Env) Int(name string, def int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.Invalid(name, fmt.Sprintf("want an integer, got %q", v))
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("250ms", "1m30s"), or def
// when it is unset. Negative durations are rejected: no setting of ours is
// meaningful below zero and a sign typo should not silently disable a timeout.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.Invalid(name, fmt.Sprintf("want a duration such as 30s or 5m, got %q", v))
		return def
	}
	if d < 0 {
		e.Invalid(name, fmt.Sprintf("want a duration of zero or more, got %q", v))
		return def
	}
	return d
}

// Bool returns the variable as a boolean (1, t, true, 0, f, false, in any
// case), or def when it is unset.
func (e *Env) Bool(name string, def bool) bool {
	v := e.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Invalid(name, fmt.Sprintf("want true or false, got %q", v))
		return def
	}
	return b
}

// URL returns the variable, or def when it is unset, after checking that it
// parses as an absolute URL with a host. An empty def makes the variable
// optional: unset returns "" without a problem.
func (e *Env) URL(name, def string) string {
	v := e.get(name)
	if v == "" {
		return def
	}
	if err := checkURL(v); err != nil {
		// The value is not echoed: URLs here can carry passwords.
		e.Invalid(name, err.Error())
		return def
	}
	return v
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme == "" || u.Host == "" {
		return errors.New("want an absolute URL such as scheme://host:port/...")
	}
	return nil
}

// OneOf returns the variable, or def when it is unset, after checking that it
// is one of allowed (compared without regard to case). The result is the
// matching entry of allowed.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.get(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	e.Invalid(name, fmt.Sprintf("want one of %s, got %q", strings.Join(allowed, ", "), v))
	return def
}
