package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/mailsink"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// stack is one tenancy App served over h2c, with the test provisioner it calls and direct
// database access for assertions.
type stack struct {
	t        testing.TB
	cfg      app.Config
	app      *app.App
	url      string
	internal *authn.InternalSigner
	prov     *testProvisioner
	db       *pgxpool.Pool
	dsn      string
	mail     *mailsink.Sink
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newStack starts a tenancy App on a fresh database (one shard, "main", in the same database)
// with one provisioner, "testsvc".
func newStack(t testing.TB, mods ...func(*app.Config)) *stack {
	t.Helper()
	dsn := pgtest.New(t)
	internalKey := newKey(t)
	prov := newTestProvisioner(t, internalKey, map[string]string{"main": dsn})
	sink, err := mailsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfg := app.Config{
		SMTPURL:      sink.URL(),
		MailPoll:     100 * time.Millisecond,
		DatabaseURL:  dsn,
		Shards:       map[string]string{"main": dsn},
		TokenKey:     newKey(t),
		InternalKey:  internalKey,
		Provisioners: map[string]string{"testsvc": prov.url},
		Logger:       quietLogger(),
	}
	db, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s := &stack{t: t, cfg: cfg, internal: authn.NewInternalSigner(internalKey), prov: prov, db: db, dsn: dsn, mail: sink}
	return s.start(mods...)
}

// another starts a second App on the same databases, keys and provisioner: a restarted or
// second replica of the service.
func (s *stack) another(mods ...func(*app.Config)) *stack {
	s.t.Helper()
	c := *s
	return c.start(mods...)
}

func (s *stack) start(mods ...func(*app.Config)) *stack {
	t := s.t
	t.Helper()
	for _, m := range mods {
		m(&s.cfg)
	}
	a, err := app.New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	a.Start(context.Background())
	srv := newH2CServer(t, a.Handler())
	s.app, s.url = a, srv.URL
	return s
}

func newH2CServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// identityInterceptor attaches an internal token for a fixed identity, as the gateway would.
type identityInterceptor struct {
	signer *authn.InternalSigner
	id     authn.Identity
}

func (i identityInterceptor) token() string {
	tok, err := i.signer.Sign(i.id)
	if err != nil {
		panic(err)
	}
	return tok
}

func (i identityInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set(authn.InternalTokenHeader, i.token())
		return next(ctx, req)
	}
}

func (i identityInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set(authn.InternalTokenHeader, i.token())
		return conn
	}
}

func (i identityInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// clients are the tenancy services, called as one identity.
type clients struct {
	Tenants   tenancyv1connect.TenantServiceClient
	Auth      tenancyv1connect.AuthServiceClient
	Members   tenancyv1connect.MemberServiceClient
	Operator  tenancyv1connect.OperatorServiceClient
	Directory tenancyv1connect.DirectoryServiceClient
}

var reqSeq struct {
	sync.Mutex
	n int
}

func (s *stack) as(id authn.Identity) clients {
	reqSeq.Lock()
	reqSeq.n++
	if id.RequestID == "" {
		id.RequestID = fmt.Sprintf("req-%d", reqSeq.n)
	}
	reqSeq.Unlock()
	hc := app.H2CClient()
	opt := connect.WithInterceptors(identityInterceptor{signer: s.internal, id: id})
	return clients{
		Tenants:   tenancyv1connect.NewTenantServiceClient(hc, s.url, opt),
		Auth:      tenancyv1connect.NewAuthServiceClient(hc, s.url, opt),
		Members:   tenancyv1connect.NewMemberServiceClient(hc, s.url, opt),
		Operator:  tenancyv1connect.NewOperatorServiceClient(hc, s.url, opt),
		Directory: tenancyv1connect.NewDirectoryServiceClient(hc, s.url, opt),
	}
}

// anon calls with no user and no tenant (sign-up through the gateway).
func (s *stack) anon() clients { return s.as(authn.Identity{}) }

// atTenant calls for a resolved tenant without a user (login through the gateway).
func (s *stack) atTenant(t *tenancyv1.Tenant) clients { return s.as(tenantIdentity(t)) }

// asUser calls as a user of a tenant with a role, as the gateway does after verifying a token.
func (s *stack) asUser(t *tenancyv1.Tenant, userID string, role authn.Role) clients {
	id := tenantIdentity(t)
	id.UserID, id.Role = userID, role
	return s.as(id)
}

func (s *stack) asOperator() clients { return s.as(authn.Identity{OperatorID: "op-test"}) }
func (s *stack) asService() clients  { return s.as(authn.Identity{Service: "gateway"}) }

func tenantIdentity(t *tenancyv1.Tenant) authn.Identity {
	return authn.Identity{TenantID: t.GetId(), TenantSlug: t.GetSlug(), Schema: t.GetSchema(), Shard: t.GetShard(),
		TenantReadOnly: t.GetStatus() == tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED}
}

// owner is a signed-up tenant and its first owner.
type owner struct {
	tenant   *tenancyv1.Tenant
	user     *tenancyv1.User
	email    string
	password string
	access   string
	refresh  string
}

const goodPassword = "Correct-Horse-Battery-9"

func (s *stack) signUp(slug string) owner {
	s.t.Helper()
	email := "owner@" + slug + ".example.com"
	res, err := s.anon().Tenants.SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: strings.ToUpper(slug[:1]) + slug[1:] + " Inc", Slug: slug, AdminEmail: email, AdminPassword: goodPassword,
	}))
	if err != nil {
		s.t.Fatalf("sign up %s: %v", slug, err)
	}
	return owner{tenant: res.Msg.GetTenant(), user: res.Msg.GetUser(), email: email, password: goodPassword,
		access: res.Msg.GetAccessToken(), refresh: res.Msg.GetRefreshToken()}
}

func (o owner) as(s *stack) clients { return s.asUser(o.tenant, o.user.GetId(), authn.RoleOwner) }

// addMember invites email with role to o's tenant, accepts the mailed invitation with
// goodPassword and returns the new account's id.
func (s *stack) addMember(o owner, email string, role tenancyv1.Role) string {
	s.t.Helper()
	token := s.invite(o.as(s), email, role)
	res, err := s.atTenant(o.tenant).Auth.AcceptInvitation(context.Background(), connect.NewRequest(&tenancyv1.AcceptInvitationRequest{
		Token: token, Password: goodPassword,
	}))
	if err != nil {
		s.t.Fatalf("accept invitation of %s: %v", email, err)
	}
	return res.Msg.GetUser().GetId()
}

// invite invites email as c and returns the token of the invitation mail it caused.
func (s *stack) invite(c clients, email string, role tenancyv1.Role) string {
	s.t.Helper()
	before := len(s.mailTo(email, "invited"))
	if _, err := c.Members.InviteMember(context.Background(), connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: email, Role: role})); err != nil {
		s.t.Fatalf("invite %s: %v", email, err)
	}
	return s.nextMail(email, "invited", before).Token()
}

func (s *stack) mailTo(to, subject string) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range s.mail.Messages() {
		for _, r := range m.To {
			if strings.EqualFold(r, to) && strings.Contains(m.Subject, subject) {
				out = append(out, m)
			}
		}
	}
	return out
}

// nextMail waits for the (before+1)-th message to to about subject.
func (s *stack) nextMail(to, subject string, before int) mailsink.Message {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ms, err := s.mail.WaitCount(ctx, to, subject, before+1)
	if err != nil {
		s.t.Fatal(err)
	}
	return ms[before]
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
}

// wantFields checks err carries a field violation for each field, and no others.
func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	got := map[string]bool{}
	for _, v := range rpcerr.FieldViolations(err) {
		got[v.Field] = true
	}
	for _, f := range fields {
		if !got[f] {
			t.Errorf("no violation for %q in %v", f, err)
		}
		delete(got, f)
	}
	for f := range got {
		t.Errorf("unexpected violation for %q in %v", f, err)
	}
}

func (s *stack) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (s *stack) schemaExists(schema string) bool {
	return s.count(`SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema) == 1
}

func (s *stack) roleExists(role string) bool {
	return s.count(`SELECT count(*) FROM pg_roles WHERE rolname = $1`, role) == 1
}

// tenantSchemas counts the tenant schemas in the test database.
func (s *stack) tenantSchemas() int {
	return s.count(`SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\_%'`)
}

// tenantRoles counts the tenant roles this test database made.
func (s *stack) tenantRoles() int {
	return s.count(`SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = 'atrium tenant role; db=' || current_database()`)
}

func (s *stack) lookup(ref string) *tenancyv1.Tenant {
	s.t.Helper()
	res, err := s.asOperator().Operator.LookupTenant(context.Background(), connect.NewRequest(&tenancyv1.LookupTenantRequest{Tenant: ref}))
	if err != nil {
		s.t.Fatalf("lookup %s: %v", ref, err)
	}
	return res.Msg.GetTenant()
}

// waitFor polls cond until it holds or a generous deadline passes (background loops are
// asynchronous; nothing here measures speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testProvisioner is a tenant-plane service: its Provision migrates a "widgets" table into
// the tenant schema with tenantdb.Migrate, its Deprovision drops it. Failures can be injected
// per tenant.
type testProvisioner struct {
	shards *tenantdb.Shards
	url    string

	mu         sync.Mutex
	migrations fstest.MapFS
	fail       func(tenantID string) error
	provisions map[string]int
}

var widgetsV1 = fstest.MapFS{
	"001_widgets.sql": {Data: []byte(`CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);`)},
}

var widgetsV2 = fstest.MapFS{
	"001_widgets.sql":      widgetsV1["001_widgets.sql"],
	"002_widgets_note.sql": {Data: []byte(`ALTER TABLE widgets ADD COLUMN note text;`)},
}

func newTestProvisioner(t testing.TB, internalKey ed25519.PrivateKey, shards map[string]string) *testProvisioner {
	t.Helper()
	sh, err := tenantdb.Open(context.Background(), shards)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sh.Close)
	p := &testProvisioner{shards: sh, migrations: widgetsV1, provisions: map[string]int{}}
	_, h := tenancyv1connect.NewProvisioningServiceHandler(p, connect.WithInterceptors(
		rpcerr.NewInterceptor(quietLogger()),
		guard.NewAuthInterceptor(authn.NewInternalVerifier(internalKey.Public().(ed25519.PublicKey))),
		guard.NewPolicyInterceptor(),
	))
	p.url = newH2CServer(t, h).URL
	return p
}

func (p *testProvisioner) setFail(f func(tenantID string) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = f
}

func (p *testProvisioner) setMigrations(m fstest.MapFS) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.migrations = m
}

func (p *testProvisioner) provisionCount(tenantID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.provisions[tenantID]
}

func (p *testProvisioner) Provision(ctx context.Context, req *connect.Request[tenancyv1.ProvisionRequest]) (*connect.Response[tenancyv1.ProvisionResponse], error) {
	if id, _ := authn.FromContext(ctx); id.Service != "tenancy" {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("caller %q is not tenancy", id.Service))
	}
	p.mu.Lock()
	fail, migrations := p.fail, p.migrations
	p.provisions[req.Msg.GetTenantId()]++
	p.mu.Unlock()
	if fail != nil {
		if err := fail(req.Msg.GetTenantId()); err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, err)
		}
	}
	if req.Msg.GetSchema() != tenantdb.SchemaFor(req.Msg.GetTenantId()) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("schema does not match tenant"))
	}
	v, err := p.shards.Migrate(ctx, req.Msg.GetShard(), req.Msg.GetSchema(), migrations, "testsvc_schema_version")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ProvisionResponse{Version: v}), nil
}

func (p *testProvisioner) Deprovision(ctx context.Context, req *connect.Request[tenancyv1.DeprovisionRequest]) (*connect.Response[tenancyv1.DeprovisionResponse], error) {
	pool, err := p.shards.Pool(req.Msg.GetShard())
	if err != nil {
		return nil, err
	}
	if !tenantdb.ValidSchema(req.Msg.GetSchema()) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("bad schema"))
	}
	q := pgx.Identifier{req.Msg.GetSchema()}.Sanitize()
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+q+`.widgets, `+q+`.testsvc_schema_version`); err != nil &&
		!strings.Contains(err.Error(), "does not exist") {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.DeprovisionResponse{}), nil
}
