// Package e2e drives a whole stack (stack.Start: tenancy, catalog, gateway on real loopback
// listeners, real Postgres and Redis) through the gateway with the generated Connect clients,
// as a browser, tenantctl or an API client would.
package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/protocodec"
	"atrium.dev/platform/redistest"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
)

// env is one running stack and what tests need to reach it.
type env struct {
	st       *stack.Stack
	db       *pgxpool.Pool // the control database (also the only shard), for catalog checks
	operator string        // an operator token
	// hostClient dials the gateway whatever the URL's host, so "acme.localhost:port" works
	// without DNS.
	hostClient *http.Client
	port       string
	// redisURL and redisPrefix are the stack's, for tests that start more processes on it.
	redisURL, redisPrefix string
}

// start runs a stack on a fresh database and Redis prefix, stopped at the end of tb.
func start(tb testing.TB, adjust func(*stack.Options)) *env {
	tb.Helper()
	return startOn(tb, pgtest.New(tb), adjust)
}

// startOn runs a stack on the control database dsn (which must exist), e.g. one on a server
// of the benchmark's own.
func startOn(tb testing.TB, dsn string, adjust func(*stack.Options)) *env {
	tb.Helper()
	rd := redistest.New(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := stack.Options{
		DatabaseURL: dsn,
		RedisURL:    rd.URL,
		RedisPrefix: rd.Prefix,
		Logger:      testLogger(),
	}
	if adjust != nil {
		adjust(&opts)
	}
	st, err := stack.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("start stack: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	op, err := st.OperatorToken(ctx, "e2e")
	if err != nil {
		tb.Fatalf("operator token: %v", err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(st.GatewayURL, "http://"))
	gwAddr := strings.TrimPrefix(st.GatewayURL, "http://")
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hostClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, gwAddr)
		},
		MaxIdleConnsPerHost: 32,
	}}
	return &env{st: st, db: pool, operator: op, hostClient: hostClient, port: port, redisURL: opts.RedisURL, redisPrefix: opts.RedisPrefix}
}

// testLogger keeps test output quiet: only errors, which always deserve a look.
func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("ATRIUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// creds sets a bearer token and a tenant header on every call.
type creds struct{ token, tenant string }

func (c creds) set(h http.Header) {
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	if c.tenant != "" {
		h.Set("Atrium-Tenant", c.tenant)
	}
}

func (c creds) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		c.set(req.Header())
		return next(ctx, req)
	}
}

func (c creds) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		c.set(conn.RequestHeader())
		return conn
	}
}

func (c creds) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// as returns client options calling with token at tenant (either may be empty).
// as is the options of a client calling as token in tenant, decoding as Atrium's Go clients
// do (protocodec), so that every end-to-end call goes through their codec.
func as(token, tenant string) connect.ClientOption {
	return connect.WithClientOptions(connect.WithInterceptors(creds{token: token, tenant: tenant}), protocodec.ClientOption())
}

func (e *env) tenants(token, tenant string) tenancyv1connect.TenantServiceClient {
	return tenancyv1connect.NewTenantServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

func (e *env) auth(tenant string) tenancyv1connect.AuthServiceClient {
	return tenancyv1connect.NewAuthServiceClient(e.st.HTTPClient, e.st.GatewayURL, as("", tenant))
}

func (e *env) members(token, tenant string) tenancyv1connect.MemberServiceClient {
	return tenancyv1connect.NewMemberServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

func (e *env) operatorClient(token string) tenancyv1connect.OperatorServiceClient {
	return tenancyv1connect.NewOperatorServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, ""))
}

func (e *env) catalog(token, tenant string) catalogv1connect.CatalogServiceClient {
	return catalogv1connect.NewCatalogServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

// hostURL is the gateway's URL with the tenant in the host name, as a browser sees it.
func (e *env) hostURL(slug string) string { return "http://" + slug + ".localhost:" + e.port }

// invite has adminToken's tenant invite email with role, through the gateway, and returns the
// token of the mail it caused (read from the stack's SMTP sink).
func (e *env) invite(tb testing.TB, adminToken, tenant, email string, role tenancyv1.Role) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before, _ := e.st.Mail.WaitCount(ctx, email, "invited", 0)
	if _, err := e.members(adminToken, tenant).InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: email, Role: role})); err != nil {
		tb.Fatalf("invite %s: %v", email, err)
	}
	ms, err := e.st.Mail.WaitCount(ctx, email, "invited", len(before)+1)
	if err != nil {
		tb.Fatal(err)
	}
	return ms[len(before)].Token()
}

// join invites email into tenant and accepts with password; it returns the new member's
// access token and user id.
func (e *env) join(tb testing.TB, adminToken, tenant, email string, role tenancyv1.Role, password string) (string, string) {
	tb.Helper()
	token := e.invite(tb, adminToken, tenant, email, role)
	res, err := e.auth(tenant).AcceptInvitation(context.Background(), connect.NewRequest(&tenancyv1.AcceptInvitationRequest{
		Token: token, Password: password,
	}))
	if err != nil {
		tb.Fatalf("accept invitation of %s: %v", email, err)
	}
	return res.Msg.GetAccessToken(), res.Msg.GetUser().GetId()
}
