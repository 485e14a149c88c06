package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Local settings: what a checkout running `make up`, `make deps` or `make test` reads. Each
// has a default, so a fresh clone needs none of them; a second checkout beside the first
// needs only a different ATRIUM_PORT_OFFSET, ATRIUM_DATABASE_URL and ATRIUM_REDIS_PREFIX (see
// the README's settings table, which TestReadmeSettingsTable keeps equal to Settings()).
//
// Every port of ours is "standard port + ATRIUM_PORT_OFFSET" unless its own variable is set,
// so a service added later (give it the next port of the 808x block) fits the same scheme by
// adding one entry to servicePorts. Postgres and Redis ports are not offset: side-by-side
// checkouts share one Postgres and one Redis, isolated by database name and key prefix.
const (
	EnvPortOffset        = "ATRIUM_PORT_OFFSET"
	EnvGatewayPort       = "ATRIUM_GATEWAY_PORT"
	EnvTenancyPort       = "ATRIUM_TENANCY_PORT"
	EnvCatalogPort       = "ATRIUM_CATALOG_PORT"
	EnvEntitlementsPort  = "ATRIUM_ENTITLEMENTS_PORT"
	EnvInsightsPort      = "ATRIUM_INSIGHTS_PORT"
	EnvBillingPort       = "ATRIUM_BILLING_PORT"
	EnvSMTPPort          = "ATRIUM_SMTP_PORT"
	EnvStripeMockPort    = "ATRIUM_STRIPE_MOCK_PORT"
	EnvStripeMockTLSPort = "ATRIUM_STRIPE_MOCK_HTTPS_PORT"
	EnvWebDevPort        = "ATRIUM_WEB_DEV_PORT"
	EnvPGPort            = "ATRIUM_PG_PORT"
	EnvRedisPort         = "ATRIUM_REDIS_PORT"
	EnvRedisPrefix       = "ATRIUM_REDIS_PREFIX"
	EnvWebOrigin         = "ATRIUM_WEB_ORIGIN"
	EnvStateDir          = "ATRIUM_STATE_DIR"
	EnvContextName       = "ATRIUM_CONTEXT_NAME"
	EnvConfigPath        = "ATRIUM_CONFIG"
	EnvTestDatabaseURL   = "ATRIUM_TEST_DATABASE_URL"
	EnvTestRedisURL      = "ATRIUM_TEST_REDIS_URL"
)

// Standard ports of the processes devstack runs, before ATRIUM_PORT_OFFSET.
const (
	SMTPPort            = 2525
	StripeMockPort      = 12111
	StripeMockHTTPSPort = 12112
	PostgresPort        = 5432
	RedisPort           = 6379
)

// Ports are the resolved listen ports of one local stack.
type Ports struct {
	Gateway, Tenancy, Catalog, Entitlements, Insights, Billing int
	SMTP, StripeMock, StripeMockHTTPS, WebDev                  int
}

// servicePort is one offset port: its variable, its standard port and where it goes.
type servicePort struct {
	env  string
	std  int
	doc  string
	dest func(*Ports) *int
}

var servicePorts = []servicePort{
	{EnvGatewayPort, GatewayPort, "gateway: portal, API, Backstage REST", func(p *Ports) *int { return &p.Gateway }},
	{EnvTenancyPort, TenancyPort, "tenancy service", func(p *Ports) *int { return &p.Tenancy }},
	{EnvCatalogPort, CatalogPort, "catalog service", func(p *Ports) *int { return &p.Catalog }},
	{EnvEntitlementsPort, EntitlementsPort, "entitlements service", func(p *Ports) *int { return &p.Entitlements }},
	{EnvInsightsPort, InsightsPort, "insights service", func(p *Ports) *int { return &p.Insights }},
	{EnvBillingPort, BillingPort, "billing service", func(p *Ports) *int { return &p.Billing }},
	{EnvSMTPPort, SMTPPort, "SMTP sink (devstack only; mail shown at <gateway>/_dev/mail)", func(p *Ports) *int { return &p.SMTP }},
	{EnvStripeMockPort, StripeMockPort, "stripe-mock HTTP", func(p *Ports) *int { return &p.StripeMock }},
	{EnvStripeMockTLSPort, StripeMockHTTPSPort, "stripe-mock HTTPS", func(p *Ports) *int { return &p.StripeMockHTTPS }},
	{EnvWebDevPort, WebDevPort, "Vite dev server (`npm run dev` in frontend/; it forwards the API to `ATRIUM_GATEWAY_PORT`)", func(p *Ports) *int { return &p.WebDev }},
}

// ReadPorts resolves every local port: its own variable, else standard + ATRIUM_PORT_OFFSET.
func ReadPorts(e *Env) Ports {
	off := e.Int(EnvPortOffset, 0)
	if off < 0 || off > 50000 {
		e.Invalid(EnvPortOffset, fmt.Sprintf("want 0 to 50000, got %d", off))
		off = 0
	}
	var p Ports
	for _, sp := range servicePorts {
		*sp.dest(&p) = e.port(sp.env, sp.std+off)
	}
	return p
}

func (e *Env) port(name string, def int) int {
	n := e.Int(name, def)
	if n < 0 || n > 65535 {
		e.Invalid(name, fmt.Sprintf("want a port 0 to 65535, got %d", n))
		return def
	}
	return n
}

// Local is everything a local checkout is configured by.
type Local struct {
	Ports       Ports
	PGPort      int
	RedisPort   int
	DatabaseURL string
	Shards      map[string]string
	RedisURL    string
	RedisPrefix string
	// WebOrigin is the portal's public origin, used in printed links and mail; its host's
	// subdomains name tenants ("demo.localhost").
	WebOrigin   string
	ContextName string
}

// ReadLocal resolves the local settings with their defaults.
func ReadLocal(e *Env) Local {
	l := Local{Ports: ReadPorts(e)}
	l.PGPort = e.port(EnvPGPort, PostgresPort)
	l.RedisPort = e.port(EnvRedisPort, RedisPort)
	l.DatabaseURL = e.URL(EnvDatabaseURL, LocalDatabaseURL(l.PGPort, "atrium"))
	l.Shards = Shards(e, EnvShards, DefaultShardName+"="+l.DatabaseURL)
	l.RedisURL = e.URL(EnvRedisURL, fmt.Sprintf("redis://127.0.0.1:%d/0", l.RedisPort))
	l.RedisPrefix = e.String(EnvRedisPrefix, "")
	l.WebOrigin = strings.TrimRight(e.URL(EnvWebOrigin, fmt.Sprintf("http://localhost:%d", l.Ports.Gateway)), "/")
	l.ContextName = e.String(EnvContextName, "local")
	return l
}

// LocalDatabaseURL is the URL of database db on the local Postgres at port.
func LocalDatabaseURL(port int, db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, db)
}

// Setting documents one local setting: the README's table is made of these.
type Setting struct {
	Name    string
	Default string
	Doc     string
}

// Settings lists every local setting in the README's order.
func Settings() []Setting {
	out := []Setting{{EnvPortOffset, "0", "added to every port below (not Postgres/Redis): `100` gives gateway 8180, tenancy 8181, ..."}}
	for _, sp := range servicePorts {
		out = append(out, Setting{sp.env, strconv.Itoa(sp.std) + " + offset", sp.doc})
	}
	return append(out,
		Setting{EnvPGPort, strconv.Itoa(PostgresPort), "Postgres port `make deps` checks and, when nothing answers, starts a server on"},
		Setting{EnvRedisPort, strconv.Itoa(RedisPort), "Redis port, likewise"},
		Setting{EnvDatabaseURL, strings.Replace(LocalDatabaseURL(PostgresPort, "atrium"), "5432", "$ATRIUM_PG_PORT", 1), "control database (created when missing); its host and port override ATRIUM_PG_PORT"},
		Setting{EnvShards, "main=$ATRIUM_DATABASE_URL", "tenant-plane shards, `name=dsn;name2=dsn2`; a DSN may size its own pool (`pool_max_conns=20`, `pool_max_conn_lifetime=30m`)"},
		Setting{EnvRedisURL, "redis://127.0.0.1:$ATRIUM_REDIS_PORT/0", "Redis; its port overrides ATRIUM_REDIS_PORT"},
		Setting{EnvRedisPrefix, "(empty)", "put before every Redis key and channel (`b:` gives `b:atrium:tenant-changed`)"},
		Setting{EnvWebOrigin, "http://localhost:$ATRIUM_GATEWAY_PORT", "the portal's public origin, in printed links and mail"},
		Setting{EnvContextName, "local", "tenantctl context devstack writes"},
		Setting{EnvConfigPath, "~/.config/atrium/tenantctl.yaml", "tenantctl's config file (also read by devstack)"},
		Setting{EnvStateDir, ".atrium", "local state: Postgres/Redis data when deps starts them, keys, tools, logs"},
		Setting{EnvTestDatabaseURL, strings.Replace(LocalDatabaseURL(PostgresPort, "postgres"), "5432", "$ATRIUM_PG_PORT", 1), "server tests make their databases on"},
		Setting{EnvTestRedisURL, "$ATRIUM_REDIS_URL", "Redis tests use (each test gets its own prefix)"},
	)
}
