package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
)

const password = "Correct-Horse-Battery-9"

// signedUp is a tenant made by SignUp through the gateway.
type signedUp struct {
	slug    string
	email   string
	tenant  *tenancyv1.Tenant
	userID  string
	access  string
	refresh string
}

func signUp(t testing.TB, e *env, slug string) signedUp {
	t.Helper()
	email := "owner@" + slug + ".example.com"
	resp, err := e.tenants("", "").SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: strings.ToUpper(slug[:1]) + slug[1:] + " Inc", Slug: slug, AdminEmail: email, AdminPassword: password,
	}))
	if err != nil {
		t.Fatalf("sign up %s: %v", slug, err)
	}
	m := resp.Msg
	if m.GetTenant().GetSlug() != slug || m.GetTenant().GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
		t.Fatalf("sign up %s: tenant = %v", slug, m.GetTenant())
	}
	if m.GetAccessToken() == "" || !strings.HasPrefix(m.GetRefreshToken(), "atr_rt_") {
		t.Fatalf("sign up %s: tokens missing: %q %q", slug, m.GetAccessToken(), m.GetRefreshToken())
	}
	return signedUp{slug: slug, email: email, tenant: m.GetTenant(), userID: m.GetUser().GetId(), access: m.GetAccessToken(), refresh: m.GetRefreshToken()}
}

func wantCode(t *testing.T, err error, want connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded; want %v", want)
	}
	if got := connect.CodeOf(err); got != want {
		t.Fatalf("code = %v (%v); want %v", got, err, want)
	}
}

// TestE2E shares one stack among its subtests: starting one costs more than most of them.
func TestE2E(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	acme := signUp(t, e, "acme")
	globex := signUp(t, e, "globex")

	t.Run("services refuse a decompressed body over their read limit", func(t *testing.T) { testReadLimits(t, e) })

	t.Run("tenant schema and role exist", func(t *testing.T) {
		for _, tn := range []*tenancyv1.Tenant{acme.tenant, globex.tenant} {
			if got := tn.GetSchema(); got != "t_"+tn.GetId() {
				t.Errorf("schema = %q, want t_<id>", got)
			}
			var schemas, roles int
			if err := e.db.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, tn.GetSchema()).Scan(&schemas); err != nil {
				t.Fatal(err)
			}
			if err := e.db.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, tn.GetSchema()).Scan(&roles); err != nil {
				t.Fatal(err)
			}
			if schemas != 1 || roles != 1 {
				t.Errorf("%s: schemas = %d, roles = %d; want 1 and 1", tn.GetSlug(), schemas, roles)
			}
		}
	})

	t.Run("login", func(t *testing.T) {
		resp, err := e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password}))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Msg.GetAccessToken() == "" || resp.Msg.GetRole() != tenancyv1.Role_ROLE_OWNER {
			t.Fatalf("login = %v", resp.Msg)
		}
		// The same person has no account at globex, and a wrong password is no login.
		_, err = e.auth("globex").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password + "x"}))
		wantCode(t, err, connect.CodeUnauthenticated)
		// Login needs a tenant.
		_, err = e.auth("").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password}))
		if err == nil {
			t.Fatal("login without a tenant succeeded")
		}
	})

	t.Run("GetTenant via host and via header", func(t *testing.T) {
		byHost := tenancyv1connect.NewTenantServiceClient(e.hostClient, e.hostURL("acme"), as(acme.access, ""))
		resp, err := byHost.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		if err != nil {
			t.Fatalf("via host: %v", err)
		}
		if resp.Msg.GetTenant().GetId() != acme.tenant.GetId() {
			t.Fatalf("via host: tenant = %v", resp.Msg.GetTenant())
		}
		resp, err = e.tenants(acme.access, "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		if err != nil {
			t.Fatalf("via header: %v", err)
		}
		if resp.Msg.GetTenant().GetId() != acme.tenant.GetId() {
			t.Fatalf("via header: tenant = %v", resp.Msg.GetTenant())
		}
		// Host and header naming two tenants is a contradiction, not a choice.
		both := tenancyv1connect.NewTenantServiceClient(e.hostClient, e.hostURL("acme"), as(acme.access, "globex"))
		_, err = both.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		wantCode(t, err, connect.CodeInvalidArgument)
		_, err = e.tenants(acme.access, "nosuchtenant").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		wantCode(t, err, connect.CodeNotFound)
	})

	t.Run("acme token at globex is denied", func(t *testing.T) {
		_, err := e.tenants(acme.access, "globex").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		wantCode(t, err, connect.CodePermissionDenied)
		byHost := tenancyv1connect.NewTenantServiceClient(e.hostClient, e.hostURL("globex"), as(acme.access, ""))
		_, err = byHost.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		wantCode(t, err, connect.CodePermissionDenied)
	})

	t.Run("no token is unauthenticated", func(t *testing.T) {
		_, err := e.tenants("", "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.operatorClient("").ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
	})

	t.Run("bad tokens are unauthenticated", func(t *testing.T) {
		for name, tok := range badTokens(t, e, acme) {
			t.Run(name, func(t *testing.T) {
				_, err := e.tenants(tok, "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
				wantCode(t, err, connect.CodeUnauthenticated)
			})
		}
	})

	t.Run("jwks served by the gateway", func(t *testing.T) {
		resp, err := e.st.HTTPClient.Get(e.st.GatewayURL + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		keys, err := authn.ParseJWKS(data)
		if err != nil {
			t.Fatalf("jwks %s: %v", data, err)
		}
		if !slices.ContainsFunc(keys, func(k ed25519.PublicKey) bool { return k.Equal(e.st.TokenKey.Public()) }) {
			t.Fatal("jwks lacks the token signing key")
		}
	})

	t.Run("operator methods need operator credentials", func(t *testing.T) {
		_, err := e.operatorClient(acme.access).ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = e.operatorClient("atr_op_"+strings.Repeat("a", 52)).ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
		resp, err := e.operatorClient(e.operator).ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var slugs []string
		for _, tn := range resp.Msg.GetTenants() {
			slugs = append(slugs, tn.GetSlug())
		}
		if !slices.Contains(slugs, "acme") || !slices.Contains(slugs, "globex") {
			t.Fatalf("tenants = %v", slugs)
		}
	})

	t.Run("member calling an admin method is denied", func(t *testing.T) {
		memberEmail := "dev@acme.example.com"
		e.join(t, acme.access, "acme", memberEmail, tenancyv1.Role_ROLE_MEMBER, password)
		login, err := e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: memberEmail, Password: password}))
		if err != nil {
			t.Fatalf("member login: %v", err)
		}
		member := login.Msg.GetAccessToken()
		if _, err := e.tenants(member, "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{})); err != nil {
			t.Fatalf("member GetTenant: %v", err)
		}
		_, err = e.tenants(member, "acme").UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Hijacked"}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = e.members(member, "acme").InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: "x@acme.example.com", Role: tenancyv1.Role_ROLE_ADMIN}))
		wantCode(t, err, connect.CodePermissionDenied)
		// The owner can.
		if _, err := e.tenants(acme.access, "acme").UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Acme Corporation"})); err != nil {
			t.Fatalf("owner UpdateTenant: %v", err)
		}
	})

	t.Run("refresh reuse revokes the family", func(t *testing.T) {
		auth := e.auth("acme")
		first, err := auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password}))
		if err != nil {
			t.Fatal(err)
		}
		rt1 := first.Msg.GetRefreshToken()
		second, err := auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: rt1}))
		if err != nil {
			t.Fatalf("first refresh: %v", err)
		}
		rt2 := second.Msg.GetRefreshToken()
		if rt2 == "" || rt2 == rt1 || second.Msg.GetAccessToken() == "" {
			t.Fatalf("refresh did not rotate: %v", second.Msg)
		}
		_, err = auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: rt1}))
		wantCode(t, err, connect.CodeUnauthenticated)
		// The reuse revoked the whole family: the newest token is dead too.
		_, err = auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: rt2}))
		wantCode(t, err, connect.CodeUnauthenticated)
		// Other sessions are other families.
		if _, err := auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: acme.refresh})); err != nil {
			t.Fatalf("sign-up session refresh: %v", err)
		}
	})

	t.Run("suspended tenant is read-only", func(t *testing.T) {
		initech := signUp(t, e, "initech")
		ops := e.operatorClient(e.operator)
		me := e.tenants(initech.access, "initech")
		// Use the tenant first, so the gateway has it cached as active: the suspension must
		// reach the gateway's cache, not merely be read on a first lookup.
		if _, err := me.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Initech LLC"})); err != nil {
			t.Fatalf("write while active: %v", err)
		}
		if _, err := ops.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "initech", Reason: "e2e"})); err != nil {
			t.Fatalf("suspend: %v", err)
		}
		// The gateway learns of the suspension through Redis pub/sub; wait for it to land.
		err := eventually(func() error {
			_, err := me.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Still writable?"}))
			if connect.CodeOf(err) == connect.CodeFailedPrecondition {
				return nil
			}
			return fmt.Errorf("write while suspended: %v", err)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := me.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
		if err != nil {
			t.Fatalf("read while suspended: %v", err)
		}
		if got.Msg.GetTenant().GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED {
			t.Fatalf("status = %v", got.Msg.GetTenant().GetStatus())
		}
		_, err = e.catalog(initech.access, "initech").ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("svc", "team")}}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		if _, err := e.catalog(initech.access, "initech").ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{})); err != nil {
			t.Fatalf("catalog read while suspended: %v", err)
		}

		if _, err := ops.ResumeTenant(ctx, connect.NewRequest(&tenancyv1.ResumeTenantRequest{Tenant: "initech"})); err != nil {
			t.Fatalf("resume: %v", err)
		}
		err = eventually(func() error {
			_, err := me.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Initech"}))
			return err
		})
		if err != nil {
			t.Fatalf("write after resume: %v", err)
		}
	})

	t.Run("bad sign-up input leaves nothing behind", func(t *testing.T) {
		testBadSignUps(t, e)
	})

	t.Run("catalog is isolated per tenant", func(t *testing.T) {
		testCatalogIsolation(t, e, acme, globex)
	})

	t.Run("catalog refuses costly bundles and filters", func(t *testing.T) { testCatalogBounds(t, e, globex, "globex") })
}

// eventually retries f for a few seconds, for effects that travel through Redis pub/sub.
func eventually(f func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// badTokens are access tokens the gateway must refuse, each a known attack or mistake.
func badTokens(t *testing.T, e *env, acme signedUp) map[string]string {
	t.Helper()
	pub := e.st.TokenKey.Public().(ed25519.PublicKey)
	claims := func(exp time.Time) authn.UserClaims {
		return authn.UserClaims{TenantID: acme.tenant.GetId(), Role: authn.RoleOwner, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: authn.UserTokenIssuer, Audience: jwt.ClaimStrings{authn.UserTokenAudience}, Subject: "someone",
			IssuedAt: jwt.NewNumericDate(exp.Add(-15 * time.Minute)), ExpiresAt: jwt.NewNumericDate(exp),
		}}
	}
	sign := func(c authn.UserClaims, key ed25519.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = authn.KeyID(key.Public().(ed25519.PublicKey))
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forgedWithKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(time.Now().Add(time.Hour)))
	forgedWithKid.Header["kid"] = authn.KeyID(pub) // claims the real key id, signed by another
	forged, err := forgedWithKid.SignedString(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(time.Now().Add(time.Hour))).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(time.Now().Add(time.Hour)))
	hs.Header["kid"] = authn.KeyID(pub)
	hsTok, err := hs.SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(acme.access, ".")
	return map[string]string{
		"forged":                    forged,
		"signed by an unknown key":  sign(claims(time.Now().Add(time.Hour)), otherKey),
		"expired":                   sign(claims(time.Now().Add(-time.Minute)), e.st.TokenKey),
		"alg none":                  none,
		"HS256 keyed by public key": hsTok,
		"tampered signature":        parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"garbage":                   "not-a-token",
		"unknown api token":         "atr_pat_" + strings.Repeat("b", 52),
	}
}

func component(name, owner string) string {
	return fmt.Sprintf(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  tags: [e2e]
spec:
  type: service
  lifecycle: production
  owner: %s
`, name, owner)
}

// tenantObjects counts tenant schemas and roles, to show a failed sign-up left none.
func tenantObjects(t *testing.T, e *env) (tenants, schemas, roles int) {
	t.Helper()
	ctx := context.Background()
	resp, err := e.operatorClient(e.operator).ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{
		PageSize: 500,
		Statuses: []tenancyv1.TenantStatus{
			tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING, tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE,
			tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED, tenancyv1.TenantStatus_TENANT_STATUS_DELETING,
			tenancyv1.TenantStatus_TENANT_STATUS_DELETED, tenancyv1.TenantStatus_TENANT_STATUS_FAILED,
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	tenants = len(resp.Msg.GetTenants())
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\_%'`).Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname LIKE 't\_%' AND shobj_description(oid, 'pg_authid') = 'atrium tenant role; db=' || current_database()`).Scan(&roles); err != nil {
		t.Fatal(err)
	}
	return tenants, schemas, roles
}

func testBadSignUps(t *testing.T, e *env) {
	ctx := context.Background()
	valid := func() *tenancyv1.SignUpRequest {
		return &tenancyv1.SignUpRequest{OrgName: "Hooli", Slug: "hooli", AdminEmail: "gavin@hooli.example.com", AdminPassword: password}
	}
	tests := []struct {
		name   string
		mutate func(*tenancyv1.SignUpRequest)
		code   connect.Code
		fields []string // field violations that must be named
	}{
		{"malformed slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "Hooli_Inc!" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"slug too short", func(r *tenancyv1.SignUpRequest) { r.Slug = "ab" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"reserved slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "www" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"duplicate slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "acme" }, connect.CodeAlreadyExists, nil},
		{"weak password", func(r *tenancyv1.SignUpRequest) { r.AdminPassword = "password1" }, connect.CodeInvalidArgument, []string{"admin_password"}},
		{"common password", func(r *tenancyv1.SignUpRequest) { r.AdminPassword = "password123" }, connect.CodeInvalidArgument, []string{"admin_password"}},
		{"bad email", func(r *tenancyv1.SignUpRequest) { r.AdminEmail = "gavin-at-hooli" }, connect.CodeInvalidArgument, []string{"admin_email"}},
		{"missing fields", func(r *tenancyv1.SignUpRequest) { *r = tenancyv1.SignUpRequest{} }, connect.CodeInvalidArgument, []string{"org_name", "slug", "admin_email", "admin_password"}},
		{"body over the limit", func(r *tenancyv1.SignUpRequest) { r.OrgName = strings.Repeat("x", 2<<20) }, connect.CodeResourceExhausted, nil},
	}
	beforeT, beforeS, beforeR := tenantObjects(t, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := valid()
			tt.mutate(req)
			_, err := e.tenants("", "").SignUp(ctx, connect.NewRequest(req))
			wantCode(t, err, tt.code)
			var got []string
			for _, v := range rpcerr.FieldViolations(err) {
				got = append(got, v.Field)
				if v.Description == "" {
					t.Errorf("violation of %s has no description", v.Field)
				}
			}
			for _, f := range tt.fields {
				if !slices.Contains(got, f) {
					t.Errorf("violations %v do not name %q (error: %v)", got, f, err)
				}
			}
			if tt.code == connect.CodeInvalidArgument && len(got) == 0 {
				t.Errorf("InvalidArgument without field violations: %v", err)
			}
			tn, s, r := tenantObjects(t, e)
			if tn != beforeT || s != beforeS || r != beforeR {
				t.Errorf("left behind: tenants %d->%d, schemas %d->%d, roles %d->%d", beforeT, tn, beforeS, s, beforeR, r)
			}
		})
	}
	if _, err := e.operatorClient(e.operator).LookupTenant(ctx, connect.NewRequest(&tenancyv1.LookupTenantRequest{Tenant: "hooli"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("hooli after failed sign-ups: %v", err)
	}
}

func testCatalogIsolation(t *testing.T, e *env, acme, globex signedUp) {
	ctx := context.Background()
	acmeCat := e.catalog(acme.access, "acme")
	globexCat := e.catalog(globex.access, "globex")
	applied, err := acmeCat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("rocket-sled", "group:road-runners")}}))
	if err != nil {
		t.Fatalf("apply in acme: %v", err)
	}
	if len(applied.Msg.GetResults()) != 1 || applied.Msg.GetResults()[0].GetAction() != catalogv1.ApplyAction_APPLY_ACTION_CREATED {
		t.Fatalf("apply results = %v", applied.Msg.GetResults())
	}
	uid := applied.Msg.GetResults()[0].GetUid()
	const ref = "component:default/rocket-sled"

	if _, err := acmeCat.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: ref})); err != nil {
		t.Fatalf("acme reads its entity: %v", err)
	}
	_, err = globexCat.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: ref}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = globexCat.GetEntityByUid(ctx, connect.NewRequest(&catalogv1.GetEntityByUidRequest{Uid: uid}))
	wantCode(t, err, connect.CodeNotFound)
	list, err := globexCat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if list.Msg.GetTotalItems() != 0 || len(list.Msg.GetEntities()) != 0 {
		t.Fatalf("globex sees %d entities", len(list.Msg.GetEntities()))
	}
	// acme's token is no key to globex's catalog.
	_, err = e.catalog(acme.access, "globex").ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)

	// The Backstage REST API, through the gateway.
	rest := func(token, tenant, path string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.st.GatewayURL+"/api/catalog"+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Atrium-Tenant", tenant)
		resp, err := e.st.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	status, body := rest(acme.access, "acme", "/entities/by-name/component/default/rocket-sled")
	if status != http.StatusOK || !bytes.Contains(body, []byte("rocket-sled")) {
		t.Fatalf("acme by-name: %d %s", status, body)
	}
	status, _ = rest(globex.access, "globex", "/entities/by-name/component/default/rocket-sled")
	if status != http.StatusNotFound {
		t.Fatalf("globex by-name: %d, want 404", status)
	}
	status, body = rest(globex.access, "globex", "/entities")
	if status != http.StatusOK {
		t.Fatalf("globex entities: %d %s", status, body)
	}
	var entities []json.RawMessage
	if err := json.Unmarshal(body, &entities); err != nil {
		t.Fatalf("globex entities body %s: %v", body, err)
	}
	if len(entities) != 0 {
		t.Fatalf("globex lists %d entities through /api/catalog", len(entities))
	}
	status, _ = rest(acme.access, "globex", "/entities")
	if status != http.StatusForbidden {
		t.Fatalf("acme token at globex /api/catalog: %d, want 403", status)
	}
	status, _ = rest("", "acme", "/entities")
	if status != http.StatusUnauthorized {
		t.Fatalf("no token at /api/catalog: %d, want 401", status)
	}
}
