// Command devstack runs all of Atrium in one process for local development (`make up`):
// tenancy, catalog and the gateway on the ports of the local settings (ATRIUM_*_PORT, by
// default 8081, 8082 and 8080; see platform/config.ReadLocal), a seeded "demo" tenant with the
// example catalog, and a tenantctl context ("local") so tenantctl works in another terminal.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"atrium.dev/devstack/stack"
	"atrium.dev/platform/config"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// upConfig is everything `up` needs, from flags and the environment.
type upConfig struct {
	DatabaseURL string
	Shards      map[string]string
	RedisURL    string
	GatewayPort int
	TenancyPort int
	CatalogPort int
	SMTPPort    int
	// EntitlementsPort and the ports of services added later come from the same settings.
	EntitlementsPort int
	BillingPort      int
	InsightsPort     int
	// StripeURL is the Stripe API billing uses (stripe-mock, which make up starts); empty:
	// no billing.
	StripeURL    string
	StaticDir    string
	ExamplesDir  string
	KeyDir       string
	Demo         demoTenant
	ConfigPath   string // tenantctl config; "" skips writing it
	ContextName  string
	Logger       *slog.Logger // nil: JSON logs on stderr
	PublicHost   string       // host in printed URLs
	WebOrigin    string       // the portal's public origin ("" : http://PublicHost:gateway port)
	RedisPrefix  string
	OperatorName string
}

// run is the command: flags override the local settings read through getenv. It returns nil
// when ctx ends (Ctrl-C) and the stack stopped cleanly, so `make up` exits 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := config.FromLookup(getenv)
	local := config.ReadLocal(env)
	env.OneOf(config.EnvLogLevel, config.DefaultLogLevel, "debug", "info", "warn", "error")
	if err := env.Err(); err != nil {
		return err
	}
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := upConfig{Demo: defaultDemo, ContextName: local.ContextName, PublicHost: "localhost", OperatorName: "make up"}
	fs.IntVar(&cfg.GatewayPort, "gateway-port", local.Ports.Gateway, "gateway port (env "+config.EnvGatewayPort+")")
	fs.IntVar(&cfg.TenancyPort, "tenancy-port", local.Ports.Tenancy, "tenancy port (env "+config.EnvTenancyPort+")")
	fs.IntVar(&cfg.CatalogPort, "catalog-port", local.Ports.Catalog, "catalog port (env "+config.EnvCatalogPort+")")
	fs.IntVar(&cfg.SMTPPort, "smtp-port", local.Ports.SMTP, "local SMTP sink port, mail shown at /_dev/mail (env "+config.EnvSMTPPort+")")
	fs.IntVar(&cfg.BillingPort, "billing-port", local.Ports.Billing, "billing port (env "+config.EnvBillingPort+")")
	fs.StringVar(&cfg.StripeURL, "stripe-url", fmt.Sprintf("http://127.0.0.1:%d", local.Ports.StripeMock), "Stripe API for billing (stripe-mock, env "+config.EnvStripeMockPort+"); empty: no billing")
	fs.IntVar(&cfg.EntitlementsPort, "entitlements-port", local.Ports.Entitlements, "entitlements port (env "+config.EnvEntitlementsPort+")")
	fs.IntVar(&cfg.InsightsPort, "insights-port", local.Ports.Insights, "insights port (env "+config.EnvInsightsPort+")")
	fs.StringVar(&cfg.StaticDir, "static", "frontend/dist", "built web app to serve (skipped when missing)")
	fs.StringVar(&cfg.ExamplesDir, "examples", "examples/catalog", "example catalog imported into the demo tenant (skipped when missing)")
	fs.StringVar(&cfg.KeyDir, "keys", filepath.Join(stateDir(getenv), "keys"), "where the signing keys are kept across restarts")
	noConfig := fs.Bool("no-tenantctl-config", false, "do not write the tenantctl context")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.Shards, cfg.RedisURL, cfg.RedisPrefix = local.DatabaseURL, local.Shards, local.RedisURL, local.RedisPrefix
	if getenv(config.EnvWebOrigin) != "" {
		cfg.WebOrigin = local.WebOrigin
	}
	if !*noConfig {
		p, err := tenantctlConfigPath(getenv)
		if err != nil {
			return err
		}
		cfg.ConfigPath = p
	}
	if _, err := os.Stat(cfg.StaticDir); err != nil {
		fmt.Fprintf(stderr, "devstack: no web app at %s (make frontend-build); serving the API only\n", cfg.StaticDir)
		cfg.StaticDir = ""
	}

	st, sum, err := up(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	printBanner(stdout, cfg, sum, homeDir())
	<-ctx.Done()
	fmt.Fprintln(stderr, "devstack: stopping")
	if err := st.Close(); err != nil {
		// The listeners are closed either way; a connection that did not finish in time is
		// worth a line, not a failed exit of `make up`.
		fmt.Fprintf(stderr, "devstack: warning: %v\n", err)
	}
	return nil
}

// stateDir is ATRIUM_STATE_DIR, else .atrium (make up runs in the checkout's root).
func stateDir(getenv func(string) string) string {
	if d := getenv(config.EnvStateDir); d != "" {
		return d
	}
	return ".atrium"
}

func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}

// summary is what `up` did, for the banner.
type summary struct {
	GatewayURL      string
	TenancyURL      string
	CatalogURL      string
	EntitlementsURL string
	DemoCreated     bool
	DemoOK          bool
	Imported        int
	ImportNote      string
	OperatorToken   string
	TenantToken     string
	ContextIsCur    bool
}

// up prepares the databases, starts the stack and seeds it. Safe to run again on the same
// databases: the demo tenant, its API token and the operator token are reused.
func up(ctx context.Context, cfg upConfig, warn io.Writer) (*stack.Stack, summary, error) {
	var sum summary
	for _, dsn := range append([]string{cfg.DatabaseURL}, shardDSNs(cfg.Shards)...) {
		created, err := ensureDatabase(ctx, dsn)
		if err != nil {
			return nil, sum, err
		}
		if created {
			fmt.Fprintf(warn, "devstack: created database %s\n", redact(dsn))
		}
	}
	st, err := stack.Start(ctx, stack.Options{
		DatabaseURL: cfg.DatabaseURL,
		Shards:      cfg.Shards,
		RedisURL:    cfg.RedisURL,
		RedisPrefix: cfg.RedisPrefix,
		StaticDir:   cfg.StaticDir,
		Logger:      cfg.Logger,
		GatewayPort: cfg.GatewayPort,
		TenancyPort: cfg.TenancyPort,
		CatalogPort: cfg.CatalogPort,
		BillingPort: cfg.BillingPort,
		StripeURL:   cfg.StripeURL,
		SMTPPort:    cfg.SMTPPort,
		KeyDir:      cfg.KeyDir,

		EntitlementsPort: cfg.EntitlementsPort,
		InsightsPort:     cfg.InsightsPort,
	})
	if err != nil {
		return nil, sum, err
	}
	sum.GatewayURL, sum.TenancyURL, sum.CatalogURL = st.GatewayURL, st.TenancyURL, st.CatalogURL
	sum.EntitlementsURL = st.EntitlementsURL
	g := gatewayClients{http: st.HTTPClient, url: st.GatewayURL}

	var tc *tenantctlConfig
	prev := tenantctlContext{Name: cfg.ContextName}
	if cfg.ConfigPath != "" {
		if tc, err = readTenantctlConfig(cfg.ConfigPath); err != nil {
			fmt.Fprintf(warn, "devstack: warning: %v; writing a fresh one\n", err)
			tc = &tenantctlConfig{}
		}
		prev = tc.context(cfg.ContextName)
	}

	// Keys persist across restarts, so the operator token in the context usually still works.
	sum.OperatorToken = prev.OperatorToken
	if !operatorWorks(ctx, g, sum.OperatorToken) {
		if sum.OperatorToken, err = st.OperatorToken(ctx, cfg.OperatorName); err != nil {
			st.Close()
			return nil, sum, fmt.Errorf("operator token: %w", err)
		}
	}

	// A database reset leaves the gateway's Redis cache naming the old demo tenant for up to
	// a minute; announcing the slug as changed (the channel tenancy uses) drops it.
	announceTenantChanged(ctx, cfg.RedisURL, cfg.RedisPrefix, cfg.Demo.Slug)
	demo, err := seedDemo(ctx, g, cfg.Demo)
	if err != nil {
		fmt.Fprintf(warn, "devstack: warning: demo tenant: %v\n", err)
	} else {
		sum.DemoOK, sum.DemoCreated = true, demo.Created
		sum.Imported, sum.ImportNote = seedCatalog(ctx, g, cfg, demo.AccessToken, warn)
		existing := ""
		if prev.Tenant == cfg.Demo.Slug {
			existing = prev.TenantToken
		}
		if sum.TenantToken, err = ensureAPIToken(ctx, g, cfg.Demo.Slug, demo.AccessToken, existing); err != nil {
			fmt.Fprintf(warn, "devstack: warning: %v\n", err)
		}
	}

	if tc != nil {
		next := tenantctlContext{Name: cfg.ContextName, URL: publicURL(cfg, st.GatewayURL), OperatorToken: sum.OperatorToken}
		if sum.TenantToken != "" {
			next.Tenant, next.TenantToken = cfg.Demo.Slug, sum.TenantToken
		}
		sum.ContextIsCur = tc.upsert(next)
		if err := tc.write(cfg.ConfigPath); err != nil {
			fmt.Fprintf(warn, "devstack: warning: write tenantctl config: %v\n", err)
		}
	}
	return st, sum, nil
}

// announceTenantChanged publishes slug on the tenant-changed channel; best effort.
func announceTenantChanged(ctx context.Context, redisURL, prefix, slug string) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	msg, _ := json.Marshal(map[string]string{"slug": slug})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = c.Publish(ctx, prefix+"atrium:tenant-changed", msg).Err()
}

func seedCatalog(ctx context.Context, g gatewayClients, cfg upConfig, token string, warn io.Writer) (int, string) {
	if cfg.ExamplesDir == "" {
		return 0, "no example catalog configured"
	}
	if _, err := os.Stat(cfg.ExamplesDir); err != nil {
		fmt.Fprintf(warn, "devstack: warning: no example catalog at %s; demo starts empty\n", cfg.ExamplesDir)
		return 0, "example catalog missing"
	}
	resp, err := importExamples(ctx, g, cfg.Demo.Slug, token, cfg.ExamplesDir)
	if err != nil {
		fmt.Fprintf(warn, "devstack: warning: import %s: %v\n", cfg.ExamplesDir, err)
		return 0, "example import failed (see above)"
	}
	return len(resp.GetResults()), ""
}

func shardDSNs(shards map[string]string) []string {
	var out []string
	for _, dsn := range shards {
		out = append(out, dsn)
	}
	return out
}

// publicURL is the gateway URL people type: localhost rather than 127.0.0.1, because the
// tenant subdomains (demo.localhost) only exist under that name.
func publicURL(cfg upConfig, gatewayURL string) string {
	if cfg.WebOrigin != "" {
		return cfg.WebOrigin
	}
	u, err := url.Parse(gatewayURL)
	if err != nil {
		return gatewayURL
	}
	u.Host = cfg.PublicHost + ":" + u.Port()
	return u.String()
}

// printBanner writes what `make up` shows once it is up. The README shows the same block for
// the default settings (TestReadmeBanner); paths under home are written with "~".
func printBanner(w io.Writer, cfg upConfig, sum summary, home string) {
	gw := publicURL(cfg, sum.GatewayURL)
	u, _ := url.Parse(gw)
	var b strings.Builder
	fmt.Fprintf(&b, "\nAtrium is running.\n\n")
	fmt.Fprintf(&b, "  Portal     http://%s.%s\n", cfg.Demo.Slug, u.Host)
	fmt.Fprintf(&b, "             %s  (tenant from the Atrium-Tenant header: %s)\n", gw, cfg.Demo.Slug)
	if sum.DemoOK {
		fmt.Fprintf(&b, "  Log in     %s / %s\n", cfg.Demo.Email, cfg.Demo.Password)
	} else {
		fmt.Fprintf(&b, "  Log in     (demo tenant not ready: see the warnings above)\n")
	}
	if sum.ImportNote == "" {
		fmt.Fprintf(&b, "  Catalog    %d example entities in %s (from %s)\n", sum.Imported, cfg.Demo.Slug, cfg.ExamplesDir)
	} else {
		fmt.Fprintf(&b, "  Catalog    %s\n", sum.ImportNote)
	}
	fmt.Fprintf(&b, "  Try        curl -s %s/atrium.tenancy.v1.AuthService/Login -H 'Atrium-Tenant: %s' \\\n", gw, cfg.Demo.Slug)
	fmt.Fprintf(&b, "               -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"%s\"}'\n", cfg.Demo.Email, cfg.Demo.Password)
	fmt.Fprintf(&b, "  Mail       %s/_dev/mail  (invitations and password resets; SMTP sink on 127.0.0.1:%d)\n", gw, cfg.SMTPPort)
	if cfg.ConfigPath != "" {
		fmt.Fprintf(&b, "  tenantctl  go run ./tenantctl/cmd/tenantctl tenants list   (context %q in %s)\n", cfg.ContextName, tildePath(cfg.ConfigPath, home))
		if !sum.ContextIsCur {
			fmt.Fprintf(&b, "             your current context is another one: add --context %s\n", cfg.ContextName)
		}
		if sum.TenantToken != "" {
			fmt.Fprintf(&b, "             go run ./tenantctl/cmd/tenantctl catalog export --tenant %s\n", cfg.Demo.Slug)
		}
	}
	fmt.Fprintf(&b, "  Services   gateway %s, tenancy %s, catalog %s,\n", sum.GatewayURL, sum.TenancyURL, sum.CatalogURL)
	fmt.Fprintf(&b, "             entitlements %s (each with /metrics)\n", sum.EntitlementsURL)
	fmt.Fprintf(&b, "\nCtrl-C stops it.\n")
	fmt.Fprint(w, b.String())
}

// tildePath writes p under home as "~/...".
func tildePath(p, home string) string {
	if home != "" && strings.HasPrefix(p, home+string(filepath.Separator)) {
		return "~" + p[len(home):]
	}
	return p
}
