package app_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

func TestSignUp(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")

	tn := o.tenant
	if tn.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || tn.GetSlug() != "acme" ||
		tn.GetDisplayName() != "Acme Inc" || tn.GetShard() != "main" || tn.GetSchema() != "t_"+tn.GetId() {
		t.Fatalf("tenant = %v", tn)
	}
	if !s.schemaExists(tn.GetSchema()) || !s.roleExists(tn.GetSchema()) {
		t.Fatal("schema or role missing after sign-up")
	}
	// The provisioner's migration ran inside the schema, owned by the tenant role.
	if n := s.count(`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'widgets' AND tableowner = $1`, tn.GetSchema()); n != 1 {
		t.Fatalf("widgets table in tenant schema: %d", n)
	}
	// The schema is closed to PUBLIC.
	if n := s.count(`SELECT count(*) FROM pg_namespace WHERE nspname = $1 AND has_schema_privilege('public', oid, 'USAGE')`, tn.GetSchema()); n != 0 {
		t.Fatal("PUBLIC has USAGE on the tenant schema")
	}

	claims, err := authn.NewUserTokenVerifier(s.cfg.TokenKey.Public().(ed25519.PublicKey)).Verify(o.access)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if claims.Subject != o.user.GetId() || claims.TenantID != tn.GetId() || claims.Role != authn.RoleOwner {
		t.Fatalf("claims = %+v", claims)
	}
	if authn.OpaqueKind(o.refresh) != authn.KindRefreshToken {
		t.Fatalf("refresh token %q", o.refresh)
	}
	if o.user.GetEmail() != o.email {
		t.Fatalf("user = %v", o.user)
	}

	// GetTenant as the new owner sees the same tenant.
	got, err := o.as(s).Tenants.GetTenant(context.Background(), connect.NewRequest(&tenancyv1.GetTenantRequest{}))
	if err != nil || got.Msg.GetTenant().GetId() != tn.GetId() {
		t.Fatalf("GetTenant = %v, %v", got, err)
	}
	// The sign-up is audited.
	if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'tenant.signup' AND tenant_id = $1`, tn.GetId()); n != 1 {
		t.Fatalf("sign-up audit events = %d", n)
	}
	// Nothing is left pending on an active tenant.
	if n := s.count(`SELECT count(*) FROM tenancy.tenants WHERE admin_password_hash IS NOT NULL`); n != 0 {
		t.Fatal("pending owner password hash kept after activation")
	}
}

func TestSignUpBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.signUp("taken")
	beforeTenants := s.count(`SELECT count(*) FROM tenancy.tenants`)
	beforeUsers := s.count(`SELECT count(*) FROM tenancy.users`)
	beforeSchemas, beforeRoles := s.tenantSchemas(), s.tenantRoles()

	good := func() *tenancyv1.SignUpRequest {
		return &tenancyv1.SignUpRequest{OrgName: "Globex", Slug: "globex", AdminEmail: "hank@globex.example", AdminPassword: goodPassword}
	}
	tests := []struct {
		name   string
		mod    func(r *tenancyv1.SignUpRequest)
		code   connect.Code
		fields []string
	}{
		{"malformed slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "Globex_Corp" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"short slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "gx" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"reserved slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "admin" }, connect.CodeInvalidArgument, []string{"slug"}},
		{"duplicate slug", func(r *tenancyv1.SignUpRequest) { r.Slug = "taken" }, connect.CodeAlreadyExists, []string{"slug"}},
		{"weak password", func(r *tenancyv1.SignUpRequest) { r.AdminPassword = "password123" }, connect.CodeInvalidArgument, []string{"admin_password"}},
		{"short password", func(r *tenancyv1.SignUpRequest) { r.AdminPassword = "Ab1!" }, connect.CodeInvalidArgument, []string{"admin_password"}},
		{"password has slug", func(r *tenancyv1.SignUpRequest) { r.AdminPassword = "Globex-Rules-42" }, connect.CodeInvalidArgument, []string{"admin_password"}},
		{"bad email", func(r *tenancyv1.SignUpRequest) { r.AdminEmail = "hank@globex" }, connect.CodeInvalidArgument, []string{"admin_email"}},
		{"long org name", func(r *tenancyv1.SignUpRequest) { r.OrgName = strings.Repeat("x", 101) }, connect.CodeInvalidArgument, []string{"org_name"}},
		{"missing fields", func(r *tenancyv1.SignUpRequest) { *r = tenancyv1.SignUpRequest{} }, connect.CodeInvalidArgument,
			[]string{"org_name", "slug", "admin_email", "admin_password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.mod(r)
			_, err := s.anon().Tenants.SignUp(context.Background(), connect.NewRequest(r))
			wantCode(t, err, tt.code)
			wantFields(t, err, tt.fields...)
		})
	}
	if n := s.count(`SELECT count(*) FROM tenancy.tenants`); n != beforeTenants {
		t.Errorf("tenants: %d, want %d", n, beforeTenants)
	}
	if n := s.count(`SELECT count(*) FROM tenancy.users`); n != beforeUsers {
		t.Errorf("users: %d, want %d", n, beforeUsers)
	}
	if n := s.tenantSchemas(); n != beforeSchemas {
		t.Errorf("tenant schemas: %d, want %d", n, beforeSchemas)
	}
	if n := s.tenantRoles(); n != beforeRoles {
		t.Errorf("tenant roles: %d, want %d", n, beforeRoles)
	}
	// The good request still works after all that.
	if _, err := s.anon().Tenants.SignUp(context.Background(), connect.NewRequest(good())); err != nil {
		t.Fatal(err)
	}
}

func TestSignUpSameEmailIsANewAccount(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	first := s.signUp("first")
	// The same person signs up a second organization with the same email and another
	// password: a second, separate account (each tenant is its own realm).
	const other = "Another-Password-77"
	res, err := s.anon().Tenants.SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: "Second", Slug: "second", AdminEmail: strings.ToUpper(first.email), AdminPassword: other,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetUser().GetId() == first.user.GetId() {
		t.Fatalf("second tenant reused account %s", first.user.GetId())
	}
	if n := s.count(`SELECT count(*) FROM tenancy.users WHERE email = $1`, first.email); n != 2 {
		t.Fatalf("accounts for %s = %d, want 2", first.email, n)
	}
}
