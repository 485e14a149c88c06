package app_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
)

func TestTenantResolution(t *testing.T) {
	s := newStack(t)
	acme := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	tests := []struct {
		name       string
		call       call
		code       connect.Code
		wantTenant string
	}{
		{"host", call{host: "acme", token: acme}, 0, "acme1"},
		{"header", call{tenant: "acme", token: acme}, 0, "acme1"},
		{"header in capitals", call{tenant: "ACME", token: acme}, 0, "acme1"},
		{"host and same header", call{host: "acme", tenant: "acme", token: acme}, 0, "acme1"},
		{"no tenant named: the token's", call{token: acme}, 0, "acme1"},
		{"host and other header", call{host: "acme", tenant: "globex", token: acme}, connect.CodeInvalidArgument, ""},
		{"bad header", call{tenant: "acme corp", token: acme}, connect.CodeInvalidArgument, ""},
		{"unknown host", call{host: "nosuch", token: acme}, connect.CodeNotFound, ""},
		{"unknown header", call{tenant: "nosuch", token: acme}, connect.CodeNotFound, ""},
		{"unknown tenant without token", call{tenant: "nosuch"}, connect.CodeNotFound, ""},
		// GetTenant reaches a deleting tenant (its owners read the purge time), so the token
		// of another tenant is what stops it.
		{"deleting tenant", call{tenant: "gone", token: acme}, connect.CodePermissionDenied, ""},
		{"provisioning tenant", call{tenant: "baking", token: acme}, connect.CodeUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := s.getTenant(tt.call)
			wantCode(t, err, tt.code)
			if err != nil {
				return
			}
			id := e.Identity
			if id.TenantID != tt.wantTenant || id.Schema != "t_"+tt.wantTenant || id.Shard != "main" || id.TenantSlug != "acme" {
				t.Errorf("upstream saw tenant %+v, want %s", id, tt.wantTenant)
			}
			if id.UserID != ownerAcme || id.Role != authn.RoleOwner || id.TenantReadOnly {
				t.Errorf("upstream saw user %+v", id)
			}
		})
	}
	// Cached: many calls for acme resolved it once (plus the unknown and odd ones).
	if n := s.dir.resolves.Load(); n > 8 {
		t.Errorf("directory resolved %d times; the cache is not used", n)
	}
}

func TestCredentials(t *testing.T) {
	s := newStack(t)
	pub := s.tokenKey.Public().(ed25519.PublicKey)
	kid := authn.KeyID(pub)
	claims := func(exp time.Time) authn.UserClaims {
		return authn.UserClaims{TenantID: "acme1", Role: authn.RoleOwner, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: authn.UserTokenIssuer, Audience: jwt.ClaimStrings{authn.UserTokenAudience}, Subject: ownerAcme,
			IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(exp),
		}}
	}
	sign := func(m jwt.SigningMethod, c authn.UserClaims, key any) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		str, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	valid := claims(time.Now().Add(time.Hour))
	forged := sign(jwt.SigningMethodEdDSA, valid, newKey(t))
	expired := sign(jwt.SigningMethodEdDSA, claims(time.Now().Add(-time.Minute)), s.tokenKey)
	none := sign(jwt.SigningMethodNone, valid, jwt.UnsafeAllowNoneSignatureType)
	hs256 := sign(jwt.SigningMethodHS256, valid, []byte(pub))
	member := s.userToken(memberAcme, "acme1", authn.RoleMember)

	tests := []struct {
		name   string
		call   call
		code   connect.Code
		update bool // UpdateTenant (TENANT_ADMIN, write) instead of GetTenant
	}{
		{"no token", call{tenant: "acme"}, connect.CodeUnauthenticated, false},
		{"forged signature", call{tenant: "acme", token: forged}, connect.CodeUnauthenticated, false},
		{"expired", call{tenant: "acme", token: expired}, connect.CodeUnauthenticated, false},
		{"alg none", call{tenant: "acme", token: none}, connect.CodeUnauthenticated, false},
		{"hs256 keyed with the public key", call{tenant: "acme", token: hs256}, connect.CodeUnauthenticated, false},
		{"garbage", call{tenant: "acme", token: "not-a-token"}, connect.CodeUnauthenticated, false},
		{"basic scheme", call{tenant: "acme", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}, connect.CodeUnauthenticated, false},
		{"refresh token as access token", call{tenant: "acme", token: refreshTok}, connect.CodeUnauthenticated, false},
		{"revoked api token", call{tenant: "acme", token: patRevoked}, connect.CodeUnauthenticated, false},
		{"acme token at globex", call{host: "globex", token: member}, connect.CodePermissionDenied, false},
		{"acme token at globex by header", call{tenant: "globex", token: member}, connect.CodePermissionDenied, false},
		{"api token at globex", call{tenant: "globex", token: patGood}, connect.CodePermissionDenied, false},
		{"member calls admin method", call{tenant: "acme", token: member}, connect.CodePermissionDenied, true},
		{"api token (member) calls admin method", call{tenant: "acme", token: patGood}, connect.CodePermissionDenied, true},
		{"operator token on tenant method", call{tenant: "acme", token: opGood}, connect.CodeUnauthenticated, false},
		{"member reads", call{tenant: "acme", token: member}, 0, false},
		{"api token reads", call{tenant: "acme", token: patGood}, 0, false},
		{"owner writes", call{host: "acme", token: s.userToken(ownerAcme, "acme1", authn.RoleOwner)}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.tenantHits.Load()
			var err error
			if tt.update {
				_, err = s.updateTenant(tt.call)
			} else {
				_, err = s.getTenant(tt.call)
			}
			wantCode(t, err, tt.code)
			// The gateway refuses by itself; the upstream's own check is the second guard.
			if reached := s.tenantHits.Load() != before; reached != (tt.code == 0) {
				t.Errorf("reached upstream = %v", reached)
			}
		})
	}

	t.Run("api token identity", func(t *testing.T) {
		e, err := s.getTenant(call{tenant: "acme", token: patGood})
		wantCode(t, err, 0)
		if e.Identity.TokenID != patID || e.Identity.UserID != memberAcme || e.Identity.Role != authn.RoleMember {
			t.Errorf("identity = %+v", e.Identity)
		}
		before := s.dir.intros.Load()
		for range 3 {
			if _, err := s.getTenant(call{tenant: "acme", token: patGood}); err != nil {
				t.Fatal(err)
			}
		}
		if s.dir.intros.Load() != before {
			t.Error("api token introspected again within the cache lifetime")
		}
	})

	t.Run("operator", func(t *testing.T) {
		e, err := s.listTenants(call{token: opGood})
		wantCode(t, err, 0)
		if e.Identity.OperatorID != operatorID || e.Identity.TenantID != "" || e.Identity.UserID != "" {
			t.Errorf("identity = %+v", e.Identity)
		}
		// Operator methods ignore the tenant a host names.
		if _, err := s.listTenants(call{host: "acme", token: opGood}); err != nil {
			t.Errorf("operator at a tenant host: %v", err)
		}
		_, err = s.listTenants(call{tenant: "acme", token: s.userToken(ownerAcme, "acme1", authn.RoleOwner)})
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = s.listTenants(call{})
		wantCode(t, err, connect.CodeUnauthenticated)
	})

	t.Run("public method ignores a bad token", func(t *testing.T) {
		client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL)
		req := connect.NewRequest(&tenancyv1.SignUpRequest{Slug: "newco"})
		req.Header().Set("Authorization", "Bearer "+expired)
		res, err := client.SignUp(context.Background(), req)
		wantCode(t, err, 0)
		e := decodeEcho(t, res.Msg.GetTenant().GetDisplayName())
		if e.Identity.UserID != "" || e.Identity.TenantID != "" || e.Identity.RequestID == "" {
			t.Errorf("sign-up identity = %+v", e.Identity)
		}
	})

	t.Run("sign-up ignores a stale or unknown tenant", func(t *testing.T) {
		client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL)
		for _, tenant := range []string{"nosuchorg", "acme"} {
			req := connect.NewRequest(&tenancyv1.SignUpRequest{Slug: "newco"})
			req.Header().Set("Atrium-Tenant", tenant)
			res, err := client.SignUp(context.Background(), req)
			wantCode(t, err, 0)
			if e := decodeEcho(t, res.Msg.GetTenant().GetDisplayName()); e.Identity.TenantID != "" {
				t.Errorf("sign-up with Atrium-Tenant %s carried tenant %q", tenant, e.Identity.TenantID)
			}
		}
	})
}

func TestSuspendedTenant(t *testing.T) {
	s := newStack(t)
	owner := s.userToken("u-susp-owner", "susp1", authn.RoleOwner)
	e, err := s.getTenant(call{host: "suspended", token: owner})
	wantCode(t, err, 0)
	if !e.Identity.TenantReadOnly {
		t.Errorf("suspended tenant's identity is not read-only: %+v", e.Identity)
	}
	before := s.tenantHits.Load()
	_, err = s.updateTenant(call{host: "suspended", token: owner})
	wantCode(t, err, connect.CodeFailedPrecondition)
	if s.tenantHits.Load() != before {
		t.Error("suspended tenant's write reached the upstream")
	}
	if err != nil && !strings.Contains(err.Error(), "suspended") {
		t.Errorf("message %q does not say suspended", err)
	}
}

func TestNotRoutable(t *testing.T) {
	s := newStack(t)
	client := tenancyv1connect.NewDirectoryServiceClient(h2cClient(""), s.server.URL)
	for _, tok := range []string{"", opGood, s.userToken(ownerAcme, "acme1", authn.RoleOwner)} {
		req := connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: "acme"})
		if tok != "" {
			req.Header().Set("Authorization", "Bearer "+tok)
		}
		_, err := client.ResolveTenant(context.Background(), req)
		wantCode(t, err, connect.CodeNotFound)
	}
	prov := tenancyv1connect.NewProvisioningServiceClient(h2cClient(""), s.server.URL, connect.WithGRPC())
	_, err := prov.Provision(context.Background(), connect.NewRequest(&tenancyv1.ProvisionRequest{TenantId: "acme1"}))
	wantCode(t, err, connect.CodeNotFound)

	for _, path := range []string{"/atrium.tenancy.v1.TenantService/Nope", "/atrium.nope.v1.X/Y", "/x.y/z"} {
		res, err := h2cClient("").Post(s.server.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, res.StatusCode)
		}
	}
}

func TestServiceWithoutUpstream(t *testing.T) {
	s := newStack(t, func(c *app.Config) { delete(c.Upstreams, tenancyv1connect.MemberServiceName) })
	members := tenancyv1connect.NewMemberServiceClient(h2cClient(""), s.server.URL)
	_, err := members.ListMembers(context.Background(), connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	wantCode(t, err, connect.CodeUnimplemented)
}

// A client cannot smuggle an identity: not with an internal token (even one validly signed,
// as if leaked), not with the Atrium-Tenant header to the upstream, not with Authorization.
func TestClientIdentityHeadersNotBelieved(t *testing.T) {
	s := newStack(t)
	smuggled, err := authn.NewInternalSigner(s.internalKey).Sign(authn.Identity{
		TenantID: "globex1", Schema: "t_globex1", Shard: "main", UserID: ownerGlobex, Role: authn.RoleOwner,
	})
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]string{authn.InternalTokenHeader: smuggled, "Atrium-User": ownerGlobex}

	// Alone it is not a credential.
	_, err = s.getTenant(call{tenant: "globex", header: header})
	wantCode(t, err, connect.CodeUnauthenticated)

	// Beside a member's token the upstream sees the member, nothing else.
	e, err := s.getTenant(call{tenant: "acme", token: s.userToken(memberAcme, "acme1", authn.RoleMember), header: header})
	wantCode(t, err, 0)
	if e.Identity.TenantID != "acme1" || e.Identity.UserID != memberAcme || e.Identity.Role != authn.RoleMember {
		t.Errorf("upstream believed the client: %+v", e.Identity)
	}
	if e.Authorization != "" || e.TenantHeader != "" {
		t.Errorf("client headers reached the upstream: %+v", e)
	}

	// A validly signed internal token on a public method is dropped too.
	client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL)
	req := connect.NewRequest(&tenancyv1.SignUpRequest{Slug: "x"})
	req.Header().Set(authn.InternalTokenHeader, smuggled)
	res, err := client.SignUp(context.Background(), req)
	wantCode(t, err, 0)
	if id := decodeEcho(t, res.Msg.GetTenant().GetDisplayName()).Identity; id.UserID != "" || id.TenantID != "" {
		t.Errorf("upstream believed the smuggled token: %+v", id)
	}
}

func TestRequestID(t *testing.T) {
	s := newStack(t)
	tok := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	tests := []struct {
		sent string
		kept bool
	}{
		{"client-req-0001", true},
		{"bad id with spaces", false},
		{"short", false},
		{"", false},
	}
	// One identity, one internal token: the request id travels beside it, not inside.
	tokens := map[string]bool{}
	for _, tt := range tests {
		client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL)
		req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
		call{tenant: "acme", token: tok, header: map[string]string{"X-Request-Id": tt.sent}}.apply(req.Header())
		res, err := client.GetTenant(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got := res.Header().Get("X-Request-Id")
		e := decodeEcho(t, res.Msg.GetTenant().GetDisplayName())
		seen := e.Identity.RequestID
		tokens[e.InternalToken] = true
		if got == "" || got != seen {
			t.Errorf("sent %q: response id %q, upstream saw %q", tt.sent, got, seen)
		}
		if (got == tt.sent) != tt.kept {
			t.Errorf("sent %q: got %q, kept = %v", tt.sent, got, tt.kept)
		}
	}
	if len(tokens) != 1 {
		t.Errorf("%d internal tokens for %d requests of one identity, want 1", len(tokens), len(tests))
	}
	// Another identity gets its own token.
	e, err := s.getTenant(call{tenant: "acme", token: s.userToken(memberAcme, "acme1", authn.RoleMember)})
	if err != nil {
		t.Fatal(err)
	}
	if tokens[e.InternalToken] || e.Identity.UserID != memberAcme || e.Identity.Role != authn.RoleMember {
		t.Errorf("member got %+v with the owner's token: %v", e.Identity, tokens[e.InternalToken])
	}
}

// Tenancy rotates its signing key: tokens of the new key verify at once (the unknown key id
// makes the gateway fetch the keys again), tokens of the old one while it is still published.
func TestKeyRotation(t *testing.T) {
	s := newStack(t)
	oldToken := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	if _, err := s.getTenant(call{tenant: "acme", token: oldToken}); err != nil {
		t.Fatal(err)
	}
	newKey := newKey(t)
	jwks, err := authn.MarshalJWKS(s.tokenKey.Public().(ed25519.PublicKey), newKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	s.dir.setJWKS(jwks)
	newToken, _, err := authn.NewUserTokenSigner(newKey).Issue(ownerAcme, "acme1", authn.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{newToken, oldToken} {
		if _, err := s.getTenant(call{tenant: "acme", token: tok}); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	s := newStack(t, func(c *app.Config) {
		c.UpstreamTimeout = 100 * time.Millisecond
		c.Upstreams[tenancyv1connect.AuthServiceName] = "http://" + closedAddr(t)
	})
	owner := s.userToken(ownerAcme, "acme1", authn.RoleOwner)

	auth := tenancyv1connect.NewAuthServiceClient(h2cClient(""), s.server.URL)
	req := connect.NewRequest(&tenancyv1.LoginRequest{Email: "a@b.c", Password: "x"})
	req.Header().Set("Atrium-Tenant", "acme")
	_, err := auth.Login(context.Background(), req)
	wantCode(t, err, connect.CodeUnavailable)

	client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL)
	ureq := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "slow"})
	call{tenant: "acme", token: owner}.apply(ureq.Header())
	_, err = client.UpdateTenant(context.Background(), ureq)
	wantCode(t, err, connect.CodeDeadlineExceeded)

	// Streams are not bounded by the upstream timeout.
	ops := tenancyv1connect.NewOperatorServiceClient(h2cClient(""), s.server.URL, connect.WithGRPC())
	sreq := connect.NewRequest(&tenancyv1.MigrateTenantsRequest{Concurrency: 99})
	sreq.Header().Set("Authorization", "Bearer "+opGood)
	stream, err := ops.MigrateTenants(context.Background(), sreq)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for stream.Receive() {
		n++
	}
	if err := stream.Err(); err != nil || n != 3 {
		t.Errorf("slow stream: %d messages, err %v", n, err)
	}
}

// TestDeletingTenant: an organization whose deletion is scheduled takes only the calls its
// owners need to cancel (sign-in, GetTenant, CancelTenantDeletion); any other call is
// FailedPrecondition, so a member with an open session learns why.
func TestDeletingTenant(t *testing.T) {
	s := newStack(t)
	gone := s.userToken("u-gone", "gone1", authn.RoleOwner)
	if _, err := s.getTenant(call{tenant: "gone", token: gone}); err != nil {
		t.Fatalf("GetTenant of a deleting tenant: %v", err)
	}
	_, err := s.updateTenant(call{tenant: "gone", token: gone})
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = s.updateTenant(call{token: gone}) // the token's tenant, no host or header
	wantCode(t, err, connect.CodeFailedPrecondition)
}
