package access_test

import (
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Every RPC of every service must declare its access level; this fails when one forgets.
func TestEveryMethodDeclaresAccess(t *testing.T) {
	files := []protoreflect.FileDescriptor{tenancyv1.File_atrium_tenancy_v1_tenancy_proto, catalogv1.File_atrium_catalog_v1_catalog_proto}
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			sd := f.Services().Get(i)
			rules, err := access.ServiceRules(sd)
			if err != nil {
				t.Fatal(err)
			}
			if len(rules) != sd.Methods().Len() {
				t.Fatalf("%s: %d rules for %d methods", sd.FullName(), len(rules), sd.Methods().Len())
			}
		}
	}
}

func TestForProcedure(t *testing.T) {
	tests := []struct {
		procedure string
		ok        bool
		level     access.Level
		readOnly  bool
	}{
		{"/atrium.tenancy.v1.TenantService/SignUp", true, access.Public, false},
		{"/atrium.tenancy.v1.TenantService/GetTenant", true, access.TenantMember, true},
		{"/atrium.tenancy.v1.TenantService/UpdateTenant", true, access.TenantAdmin, false},
		{"/atrium.tenancy.v1.OperatorService/ListTenants", true, access.Operator, true},
		{"/atrium.tenancy.v1.DirectoryService/ResolveTenant", true, access.Internal, true},
		{"/atrium.catalog.v1.CatalogService/DeleteEntity", true, access.TenantAdmin, false},
		{"/atrium.tenancy.v1.TenantService/Nope", false, 0, false},
		{"/no.such.Service/Method", false, 0, false},
		{"garbage", false, 0, false},
		{"/", false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.procedure, func(t *testing.T) {
			r, ok := access.ForProcedure(tc.procedure)
			if ok != tc.ok || r.Level != tc.level || r.ReadOnly != tc.readOnly {
				t.Fatalf("got %+v, %v", r, ok)
			}
		})
	}
	r, _ := access.ForProcedure("/atrium.tenancy.v1.OperatorService/MigrateTenants")
	if !r.Streaming {
		t.Fatal("MigrateTenants not marked streaming")
	}
}

func TestCheck(t *testing.T) {
	tenant := authn.Identity{TenantID: "t1", Schema: "t_t1", Shard: "main"}
	member, admin, owner := tenant, tenant, tenant
	member.UserID, member.Role = "u1", authn.RoleMember
	admin.UserID, admin.Role = "u2", authn.RoleAdmin
	owner.UserID, owner.Role = "u3", authn.RoleOwner
	suspended := member
	suspended.TenantReadOnly = true
	operator := authn.Identity{OperatorID: "op1"}
	service := authn.Identity{Service: "tenancy"}
	noTenantUser := authn.Identity{UserID: "u1", Role: authn.RoleOwner}

	rule := func(l access.Level, ro bool) access.Rule { return access.Rule{Level: l, ReadOnly: ro} }
	tests := []struct {
		name string
		rule access.Rule
		id   *authn.Identity
		want rpcerr.Kind
	}{
		{"public anonymous", rule(access.Public, false), nil, 0},
		{"member anonymous", rule(access.TenantMember, true), nil, rpcerr.KindUnauthenticated},
		{"member ok", rule(access.TenantMember, true), &member, 0},
		{"member without tenant", rule(access.TenantMember, true), &noTenantUser, rpcerr.KindPermissionDenied},
		{"admin by member", rule(access.TenantAdmin, false), &member, rpcerr.KindPermissionDenied},
		{"admin by admin", rule(access.TenantAdmin, false), &admin, 0},
		{"admin by owner", rule(access.TenantAdmin, false), &owner, 0},
		{"suspended read", rule(access.TenantMember, true), &suspended, 0},
		{"suspended write", rule(access.TenantMember, false), &suspended, rpcerr.KindFailedPrecondition},
		{"operator by operator", rule(access.Operator, false), &operator, 0},
		{"operator by user", rule(access.Operator, false), &owner, rpcerr.KindPermissionDenied},
		{"operator anonymous", rule(access.Operator, false), nil, rpcerr.KindUnauthenticated},
		{"internal by service", rule(access.Internal, false), &service, 0},
		{"internal by operator", rule(access.Internal, false), &operator, rpcerr.KindPermissionDenied},
		{"internal by owner", rule(access.Internal, false), &owner, rpcerr.KindPermissionDenied},
		{"no level", access.Rule{}, &owner, rpcerr.KindPermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rpcerr.KindOf(access.Check(tc.rule, tc.id)); got != tc.want {
				t.Fatalf("kind = %v, want %v", got, tc.want)
			}
		})
	}
}
