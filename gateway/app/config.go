package app

import (
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"time"

	"atrium.dev/gateway/internal/pipeline"
	"atrium.dev/platform/telemetry"
	"go.opentelemetry.io/otel/metric"
)

// Config is everything the gateway needs; main and devstack fill it (no environment reading
// here). Zero values take the defaults named on each field.
type Config struct {
	// TenancyURL is the base URL of tenancy's DirectoryService (tenant resolution, token
	// introspection, signing keys). Required.
	TenancyURL string
	// Upstreams maps a proto service's full name to the base URL serving it, e.g.
	// "atrium.tenancy.v1.TenantService" -> "http://127.0.0.1:8081". Routable services left out
	// answer Unimplemented; naming an unknown or INTERNAL-only service fails New. Nil: the
	// tenancy services at TenancyURL (StandardUpstreams(TenancyURL, "")).
	Upstreams map[string]string
	// RESTUpstreams maps a path prefix ("/api/catalog/", starting and ending with "/") to the
	// base URL serving it; the request path is forwarded unchanged.
	RESTUpstreams map[string]string
	// Webhooks maps an exact path ("/webhooks/stripe") to the base URL of the service that
	// verifies its deliveries. Only POST is routed; no user credential is asked or forwarded.
	Webhooks map[string]string
	// WebhookBodyLimit caps webhook bodies (default 256 KiB).
	WebhookBodyLimit int64

	// RedisURL ("redis://host:port/db") holds rate limits, the shared tenant cache, the tenant
	// invalidation channel and the usage stream. Empty: no Redis at all (local limits and
	// cache, usage events dropped and counted). Unreachable: the same, until it comes back.
	RedisURL string
	// RedisPrefix is put in front of every key and channel ("atrium:usage" becomes
	// RedisPrefix+"atrium:usage").
	RedisPrefix string

	// InternalKey signs the internal tokens the gateway sends upstream, and the gateway's own
	// calls to DirectoryService. Required.
	InternalKey ed25519.PrivateKey

	// BodyLimit caps request bodies (default 1 MiB). BodyLimits overrides it per procedure
	// ("/atrium.catalog.v1.CatalogService/ApplyEntities") or REST prefix; it is applied on
	// top of DefaultBodyLimits.
	BodyLimit  int64
	BodyLimits map[string]int64
	// UpstreamTimeout bounds unary calls and REST requests (default 30 s); streams are not
	// bounded.
	UpstreamTimeout time.Duration
	// RateLimit is the budget of each tenant (and each operator, and each client address for
	// tenantless public calls), shared by all gateways through Redis. Zero: DefaultRateLimit.
	// PerSecond < 0: no limit.
	RateLimit RateLimit
	// AuthRateLimit is each client address's budget of sign-in calls (Login, AcceptInvitation,
	// password reset) and failed authentications (bad or revoked tokens). Zero:
	// DefaultAuthRateLimit. PerSecond < 0: no limit.
	AuthRateLimit RateLimit
	// TrustedProxyHops is how many proxies in front of the gateway append to X-Forwarded-For;
	// the client address is the one the outermost trusted proxy saw. 0 (default): the header is
	// ignored and the connection's peer is the client.
	TrustedProxyHops int

	// StaticDir serves the built web app (frontend/dist) for GET requests that are not API
	// calls, falling back to index.html for client-side routes. Empty or missing: none.
	StaticDir string
	// BaseDomains are the domains under which "<slug>.<domain>" names a tenant, besides
	// "localhost".
	BaseDomains []string

	// EntitlementsURL is the entitlements service (its internal API). Set, the gateway keeps
	// tenants' entitlement snapshots in memory (refreshed by RedisPrefix+
	// "atrium:entitlements-changed"), refuses methods of plugins a tenant has not installed,
	// and applies each plan's api_requests_per_minute.
	EntitlementsURL string
	// UsageReportInterval is how often usage is sent to entitlements for GetEntitlements
	// (platform/entitlements' ReportInterval; 0: its default).
	UsageReportInterval time.Duration
	// Entitlements, when set, answers instead of a client of EntitlementsURL (tests). With
	// neither, every method that declares a plugin is PermissionDenied.
	Entitlements Entitlements

	// HTTPClient talks to tenancy and, through its Transport, to every upstream. It must
	// speak HTTP/2 cleartext. Nil: an h2c client.
	HTTPClient *http.Client

	// KeyRefreshInterval is how often the user-token keys are fetched again (default 5 min).
	KeyRefreshInterval time.Duration
	// TenantCacheTTL is the in-process tenant cache lifetime (default 10 s; Redis keeps them
	// a minute); TokenCacheTTL that of API/operator token introspections (default 30 s).
	TenantCacheTTL time.Duration
	TokenCacheTTL  time.Duration
	// MembershipCacheTTL bounds how long a (tenant, user) role is believed when tenancy's
	// atrium:membership-changed message is missed (default 30 s with Redis, 2 s without);
	// with the message, changes apply within milliseconds. Revoked API and operator tokens
	// are dropped by the same message.
	MembershipCacheTTL time.Duration
	// UsageBuffer is the usage channel's capacity (default 10,000); UsageStreamMaxLen the
	// approximate cap of the usage stream (default 1,000,000).
	UsageBuffer       int
	UsageStreamMaxLen int64

	// Telemetry, when set, traces every request (a new trace per request, linked to the
	// caller's), propagates the trace to upstreams, and provides Logger and Meter when those
	// are nil.
	Telemetry *telemetry.Telemetry
	Logger    *slog.Logger
	Meter     metric.Meter
}

// RateLimit is a sustained rate with a burst.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// Strict waits for Redis on every request, for a limit exact across gateways. Default:
	// each gateway decides locally and reports to Redis in the background, so the fleet's
	// total is shared but may overshoot by one batch round trip of traffic (see
	// internal/ratelimit). One gateway alone is exact either way.
	Strict bool
}

// Entitlements answers plugin checks and limits from tenants' snapshots.
type Entitlements = pipeline.Entitlements

// Defaults.
const (
	DefaultBodyLimit       = 1 << 20
	DefaultUpstreamTimeout = 30 * time.Second
)

// DefaultRateLimit is generous: it protects the platform from a runaway client, it is not a
// plan limit.
var DefaultRateLimit = RateLimit{PerSecond: 100, Burst: 200}

// DefaultAuthRateLimit: a person signing in needs a few attempts a minute, a password-guessing
// or token-guessing client thousands.
var DefaultAuthRateLimit = RateLimit{PerSecond: 2, Burst: 20}

// DefaultBodyLimits lets catalog imports be large, and a tenant archive (a client stream of
// chunks, each within tenancy's message limit) as large as tenancy accepts.
var DefaultBodyLimits = map[string]int64{
	"/atrium.catalog.v1.CatalogService/ApplyEntities":        8 << 20,
	"/atrium.catalog.v1.CatalogService/ImportBundle":         8 << 20,
	"/atrium.tenancy.v1.OperatorService/ImportTenantArchive": 2 << 30,
}
