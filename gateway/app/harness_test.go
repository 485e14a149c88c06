package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/redistest"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// The test world: tenants the directory knows, by slug.
var testTenants = []*tenancyv1.Tenant{
	{Id: "acme1", Slug: "acme", Status: tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE, Shard: "main", Schema: "t_acme1"},
	{Id: "globex1", Slug: "globex", Status: tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE, Shard: "main", Schema: "t_globex1"},
	{Id: "susp1", Slug: "suspended", Status: tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED, Shard: "main", Schema: "t_susp1"},
	{Id: "gone1", Slug: "gone", Status: tenancyv1.TenantStatus_TENANT_STATUS_DELETING, Shard: "main", Schema: "t_gone1"},
	{Id: "bake1", Slug: "baking", Status: tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING, Shard: "main", Schema: "t_bake1"},
}

// Opaque tokens the directory knows.
const (
	patGood     = "atr_pat_goodgoodgoodgoodgoodgoodgoodgoodgoodgoodgoodgood"
	patRevoked  = "atr_pat_revokedrevokedrevokedrevokedrevokedrevokedrevo"
	opGood      = "atr_op_operatoroperatoroperatoroperatoroperatoroperato"
	refreshTok  = "atr_rt_refreshrefreshrefreshrefreshrefreshrefreshrefre"
	operatorID  = "op1"
	patID       = "pat1"
	memberAcme  = "u-acme-member"
	ownerAcme   = "u-acme-owner"
	ownerGlobex = "u-globex-owner"
)

// directory is tenancy's DirectoryService as far as the gateway can tell.
type directory struct {
	tenancyv1connect.UnimplementedDirectoryServiceHandler

	mu       sync.Mutex
	jwks     []byte
	tenants  map[string]*tenancyv1.Tenant // by slug and by id
	resolves atomic.Int64
	intros   atomic.Int64
	// members are the current roles; userToken records the role it issues, and a test may
	// change one (demotion, removal) with setMember.
	members map[[2]string]tenancyv1.Role
}

func (d *directory) setMember(tenantID, userID string, role tenancyv1.Role) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.members[[2]string{tenantID, userID}] = role
}

func (d *directory) GetMembership(_ context.Context, req *connect.Request[tenancyv1.GetMembershipRequest]) (*connect.Response[tenancyv1.GetMembershipResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.members[[2]string{req.Msg.GetTenantId(), req.Msg.GetUserId()}]
	if !ok && req.Msg.GetUserId() == memberAcme && req.Msg.GetTenantId() == "acme1" {
		r, ok = tenancyv1.Role_ROLE_MEMBER, true // the API token's user
	}
	return connect.NewResponse(&tenancyv1.GetMembershipResponse{Member: ok && r != tenancyv1.Role_ROLE_UNSPECIFIED, Role: r}), nil
}

func newDirectory(jwks []byte) *directory {
	d := &directory{jwks: jwks, tenants: map[string]*tenancyv1.Tenant{}, members: map[[2]string]tenancyv1.Role{}}
	for _, t := range testTenants {
		d.put(t)
	}
	return d
}

func (d *directory) put(t *tenancyv1.Tenant) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tenants[t.GetSlug()], d.tenants[t.GetId()] = t, t
}

func (d *directory) ResolveTenant(ctx context.Context, req *connect.Request[tenancyv1.ResolveTenantRequest]) (*connect.Response[tenancyv1.ResolveTenantResponse], error) {
	d.resolves.Add(1)
	if id, ok := authn.FromContext(ctx); !ok || id.Service != "gateway" {
		return nil, rpcerr.PermissionDenied("only the gateway resolves tenants here")
	}
	d.mu.Lock()
	t, ok := d.tenants[req.Msg.GetTenant()]
	d.mu.Unlock()
	if !ok {
		return nil, rpcerr.NotFound("tenant not found")
	}
	return connect.NewResponse(&tenancyv1.ResolveTenantResponse{Tenant: t}), nil
}

func (d *directory) IntrospectToken(_ context.Context, req *connect.Request[tenancyv1.IntrospectTokenRequest]) (*connect.Response[tenancyv1.IntrospectTokenResponse], error) {
	d.intros.Add(1)
	var res tenancyv1.IntrospectTokenResponse
	switch req.Msg.GetToken() {
	case patGood:
		res = tenancyv1.IntrospectTokenResponse{Active: true, TenantId: "acme1", UserId: memberAcme, Role: tenancyv1.Role_ROLE_MEMBER, TokenId: patID}
	case opGood:
		res = tenancyv1.IntrospectTokenResponse{Active: true, Operator: true, OperatorId: operatorID}
	}
	return connect.NewResponse(&res), nil
}

func (d *directory) GetSigningKeys(context.Context, *connect.Request[tenancyv1.GetSigningKeysRequest]) (*connect.Response[tenancyv1.GetSigningKeysResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return connect.NewResponse(&tenancyv1.GetSigningKeysResponse{JwksJson: string(d.jwks)}), nil
}

func (d *directory) setJWKS(jwks []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jwks = jwks
}

// echo is what the upstream saw: the identity from the verified internal token, and the
// identity headers of the request (which must not be the client's).
type echo struct {
	Identity      authn.Identity `json:"identity"`
	Authorization string         `json:"authorization"`
	TenantHeader  string         `json:"tenant_header"`
	TraceParent   string         `json:"traceparent"`
	Baggage       string         `json:"baggage"`
	InternalToken string         `json:"internal_token"`
}

func echoOf(ctx context.Context, h http.Header) string {
	id, _ := authn.FromContext(ctx)
	e := echo{Authorization: h.Get("Authorization"), TenantHeader: h.Get("Atrium-Tenant"), TraceParent: h.Get("Traceparent"), Baggage: h.Get("Baggage"), InternalToken: h.Get(authn.InternalTokenHeader)}
	if id != nil {
		e.Identity = *id
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func decodeEcho(t testing.TB, s string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatalf("echo %q: %v", s, err)
	}
	return e
}

// tenantService answers with what it was told about the caller.
type tenantService struct {
	tenancyv1connect.UnimplementedTenantServiceHandler
	hits *atomic.Int64
}

func (ts tenantService) GetTenant(ctx context.Context, req *connect.Request[tenancyv1.GetTenantRequest]) (*connect.Response[tenancyv1.GetTenantResponse], error) {
	ts.hits.Add(1)
	return connect.NewResponse(&tenancyv1.GetTenantResponse{Tenant: &tenancyv1.Tenant{DisplayName: echoOf(ctx, req.Header())}}), nil
}

func (ts tenantService) UpdateTenant(ctx context.Context, req *connect.Request[tenancyv1.UpdateTenantRequest]) (*connect.Response[tenancyv1.UpdateTenantResponse], error) {
	if req.Msg.GetDisplayName() == "slow" {
		// Hangs until the gateway gives up on it.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	ts.hits.Add(1)
	return connect.NewResponse(&tenancyv1.UpdateTenantResponse{Tenant: &tenancyv1.Tenant{DisplayName: echoOf(ctx, req.Header())}}), nil
}

func (ts tenantService) SignUp(ctx context.Context, req *connect.Request[tenancyv1.SignUpRequest]) (*connect.Response[tenancyv1.SignUpResponse], error) {
	ts.hits.Add(1)
	return connect.NewResponse(&tenancyv1.SignUpResponse{Tenant: &tenancyv1.Tenant{Slug: req.Msg.GetSlug(), DisplayName: echoOf(ctx, req.Header())}}), nil
}

type operatorService struct {
	tenancyv1connect.UnimplementedOperatorServiceHandler
	// held is set when a held stream (Concurrency 98) has ended.
	held *atomic.Bool
}

func (operatorService) ListTenants(ctx context.Context, req *connect.Request[tenancyv1.ListTenantsRequest]) (*connect.Response[tenancyv1.ListTenantsResponse], error) {
	return connect.NewResponse(&tenancyv1.ListTenantsResponse{Tenants: []*tenancyv1.Tenant{{DisplayName: echoOf(ctx, req.Header())}}}), nil
}

// MigrateTenants streams one message per test tenant, so streaming through the gateway shows.
// Concurrency 98 sends one message and holds the stream open until the client leaves (at most
// 10 s).
func (o operatorService) MigrateTenants(ctx context.Context, req *connect.Request[tenancyv1.MigrateTenantsRequest], stream *connect.ServerStream[tenancyv1.MigrateTenantsResponse]) error {
	if req.Msg.GetConcurrency() == 98 {
		defer o.held.Store(true)
		if err := stream.Send(&tenancyv1.MigrateTenantsResponse{Tenant: testTenants[0], Done: 1, Total: 1}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		return nil
	}
	for i, t := range testTenants[:3] {
		if req.Msg.GetConcurrency() == 99 {
			time.Sleep(150 * time.Millisecond) // a slow stream, longer than the test's upstream timeout
		}
		if err := stream.Send(&tenancyv1.MigrateTenantsResponse{Tenant: t, Ok: true, Done: int32(i + 1), Total: 3, Error: echoOf(ctx, req.Header())}); err != nil {
			return err
		}
	}
	return nil
}

// stack is a gateway in front of real Connect upstreams that verify its internal tokens.
type stack struct {
	t           testing.TB
	gateway     *app.App
	server      *httptest.Server // the gateway
	upstream    *httptest.Server
	dir         *directory
	redis       *redistest.Redis
	tokenKey    ed25519.PrivateKey
	internalKey ed25519.PrivateKey
	tokens      *authn.UserTokenSigner
	restHits    atomic.Int64
	// tenantHits counts calls that reached TenantService: refused ones must not.
	tenantHits      atomic.Int64
	heldStreamEnded atomic.Bool
	auth            authService
	// upstreamRequests and upstreamBytes count what reached the upstream besides the
	// gateway's own directory calls (requests, body bytes read).
	upstreamRequests atomic.Int64
	upstreamBytes    atomic.Int64
}

type stackOption func(*app.Config)

func newStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	s := &stack{t: t, redis: redistest.New(t), tokenKey: newKey(t), internalKey: newKey(t)}
	s.tokens = authn.NewUserTokenSigner(s.tokenKey)
	jwks, err := s.tokens.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	s.dir = newDirectory(jwks)

	interceptors := connect.WithInterceptors(
		rpcerr.NewInterceptor(nil),
		guard.NewAuthInterceptor(authn.NewInternalVerifier(s.internalKey.Public().(ed25519.PublicKey))),
		guard.NewPolicyInterceptor(),
	)
	mux := http.NewServeMux()
	mux.Handle(tenancyv1connect.NewDirectoryServiceHandler(s.dir, interceptors))
	mux.Handle(tenancyv1connect.NewTenantServiceHandler(tenantService{hits: &s.tenantHits}, interceptors))
	mux.Handle(tenancyv1connect.NewOperatorServiceHandler(operatorService{held: &s.heldStreamEnded}, interceptors))
	mux.Handle(tenancyv1connect.NewAuthServiceHandler(&s.auth, interceptors))
	verifier := authn.NewInternalVerifier(s.internalKey.Public().(ed25519.PublicKey))
	mux.HandleFunc("/api/catalog/", func(w http.ResponseWriter, r *http.Request) {
		s.restHits.Add(1)
		id, err := verifier.Verify(r.Header.Get(authn.InternalTokenHeader))
		if err != nil {
			http.Error(w, `{"error":{"name":"AuthenticationError","message":"no internal token"}}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(echoOf(authn.WithIdentity(r.Context(), id), r.Header)))
	})
	s.upstream = startH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/"+tenancyv1connect.DirectoryServiceName+"/") {
			s.upstreamRequests.Add(1)
			r.Body = &countedBody{ReadCloser: r.Body, n: &s.upstreamBytes}
		}
		mux.ServeHTTP(w, r)
	}))

	rpc, rest := app.StandardUpstreams(s.upstream.URL, "")
	rest["/api/catalog/"] = s.upstream.URL
	cfg := app.Config{
		TenancyURL:    s.upstream.URL,
		Upstreams:     rpc,
		RESTUpstreams: rest,
		RedisURL:      s.redis.URL,
		RedisPrefix:   s.redis.Prefix,
		InternalKey:   s.internalKey,
		RateLimit:     app.RateLimit{PerSecond: -1},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s.gateway, err = app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.gateway.Start(ctx)
	s.server = startH2C(t, s.gateway.Handler())
	t.Cleanup(func() {
		s.server.Close()
		cancel()
		s.gateway.Close()
	})
	return s
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startH2C serves h with HTTP/1.1 and HTTP/2 cleartext, as every Atrium process does.
func startH2C(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// h2cClient speaks HTTP/2 cleartext; host, when set, replaces the Host of every request
// ("acme.localhost:1234").
func h2cClient(host string) *http.Client {
	tr := &http.Transport{}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: hostRewriter{host: host, rt: tr}}
}

// http1Client speaks HTTP/1.1, as a browser without h2c does.
func http1Client(host string) *http.Client {
	return &http.Client{Transport: hostRewriter{host: host, rt: &http.Transport{}}}
}

type hostRewriter struct {
	host string
	rt   http.RoundTripper
}

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.host != "" {
		r = r.Clone(r.Context())
		r.Host = h.host
	}
	return h.rt.RoundTrip(r)
}

// tenantHost is the gateway's address under a tenant's name.
func (s *stack) tenantHost(slug string) string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.server.URL, "http://"))
	return slug + ".localhost:" + port
}

// userToken is a valid access token of tenancy's key.
func (s *stack) userToken(userID, tenantID string, role authn.Role) string {
	s.t.Helper()
	tok, _, err := s.tokens.Issue(userID, tenantID, role)
	if err != nil {
		s.t.Fatal(err)
	}
	protoRole := map[authn.Role]tenancyv1.Role{authn.RoleOwner: tenancyv1.Role_ROLE_OWNER, authn.RoleAdmin: tenancyv1.Role_ROLE_ADMIN,
		authn.RoleMember: tenancyv1.Role_ROLE_MEMBER}[role]
	s.dir.setMember(tenantID, userID, protoRole)
	return tok
}

// call is one request's options.
type call struct {
	host   string // tenant slug for the host, "" for the bare address
	tenant string // Atrium-Tenant header
	token  string
	header map[string]string
	opts   []connect.ClientOption
}

func (c call) apply(h http.Header) {
	if c.tenant != "" {
		h.Set("Atrium-Tenant", c.tenant)
	}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		h.Set(k, v)
	}
}

func (s *stack) httpClient(c call) *http.Client {
	host := ""
	if c.host != "" {
		host = s.tenantHost(c.host)
	}
	return h2cClient(host)
}

func (s *stack) getTenant(c call) (echo, error) {
	s.t.Helper()
	client := tenancyv1connect.NewTenantServiceClient(s.httpClient(c), s.server.URL, c.opts...)
	req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
	c.apply(req.Header())
	res, err := client.GetTenant(context.Background(), req)
	if err != nil {
		return echo{}, err
	}
	return decodeEcho(s.t, res.Msg.GetTenant().GetDisplayName()), nil
}

func (s *stack) updateTenant(c call) (echo, error) {
	s.t.Helper()
	client := tenancyv1connect.NewTenantServiceClient(s.httpClient(c), s.server.URL, c.opts...)
	req := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "x"})
	c.apply(req.Header())
	res, err := client.UpdateTenant(context.Background(), req)
	if err != nil {
		return echo{}, err
	}
	return decodeEcho(s.t, res.Msg.GetTenant().GetDisplayName()), nil
}

func (s *stack) listTenants(c call) (echo, error) {
	s.t.Helper()
	client := tenancyv1connect.NewOperatorServiceClient(s.httpClient(c), s.server.URL, c.opts...)
	req := connect.NewRequest(&tenancyv1.ListTenantsRequest{})
	c.apply(req.Header())
	res, err := client.ListTenants(context.Background(), req)
	if err != nil {
		return echo{}, err
	}
	return decodeEcho(s.t, res.Msg.GetTenants()[0].GetDisplayName()), nil
}

// wantCode fails unless err carries code (0: no error).
func wantCode(t testing.TB, err error, code connect.Code) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v (code %v), want code %v", err, got, code)
	}
}

// eventually polls cond for up to 5 s: for effects of background work (pub/sub, streams).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
