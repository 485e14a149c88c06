package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

func TestMemberRoles(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	ctx := context.Background()
	adminID := s.addMember(o, "ada@example.com", tenancyv1.Role_ROLE_ADMIN)
	memberID := s.addMember(o, "max@example.com", tenancyv1.Role_ROLE_MEMBER)
	admin := s.asUser(o.tenant, adminID, authn.RoleAdmin)
	member := s.asUser(o.tenant, memberID, authn.RoleMember)

	add := func(c clients, email string, role tenancyv1.Role, _ string) error {
		_, err := c.Members.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: email, Role: role}))
		return err
	}
	setRole := func(c clients, id string, role tenancyv1.Role) error {
		_, err := c.Members.UpdateMemberRole(ctx, connect.NewRequest(&tenancyv1.UpdateMemberRoleRequest{UserId: id, Role: role}))
		return err
	}
	remove := func(c clients, id string) error {
		_, err := c.Members.RemoveMember(ctx, connect.NewRequest(&tenancyv1.RemoveMemberRequest{UserId: id}))
		return err
	}

	// Members cannot call admin methods (the policy interceptor refuses).
	wantCode(t, add(member, "x@example.com", tenancyv1.Role_ROLE_MEMBER, goodPassword), connect.CodePermissionDenied)
	// A member whose token still says admin is checked against the database.
	staleAdmin := s.asUser(o.tenant, memberID, authn.RoleAdmin)
	wantCode(t, add(staleAdmin, "x@example.com", tenancyv1.Role_ROLE_MEMBER, goodPassword), connect.CodePermissionDenied)
	// Admins add members and admins, not owners.
	if _, err := s.atTenant(o.tenant).Auth.AcceptInvitation(ctx, connect.NewRequest(&tenancyv1.AcceptInvitationRequest{
		Token: s.invite(admin, "amy@example.com", tenancyv1.Role_ROLE_MEMBER), Password: goodPassword,
	})); err != nil {
		t.Fatal(err)
	}
	wantCode(t, add(admin, "oz@example.com", tenancyv1.Role_ROLE_OWNER, goodPassword), connect.CodePermissionDenied)
	wantCode(t, setRole(admin, memberID, tenancyv1.Role_ROLE_OWNER), connect.CodePermissionDenied)
	wantCode(t, setRole(admin, o.user.GetId(), tenancyv1.Role_ROLE_MEMBER), connect.CodePermissionDenied)
	wantCode(t, remove(admin, o.user.GetId()), connect.CodePermissionDenied)

	// Bad input, duplicates, unknown users.
	err := add(admin, "not-an-email", tenancyv1.Role_ROLE_UNSPECIFIED, "")
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "email", "role")
	// A second pending invitation for one email is refused; a member cannot be invited.
	if err := add(admin, "new@example.com", tenancyv1.Role_ROLE_MEMBER, ""); err != nil {
		t.Fatal(err)
	}
	err = add(admin, "NEW@example.com", tenancyv1.Role_ROLE_ADMIN, "")
	wantCode(t, err, connect.CodeAlreadyExists)
	wantFields(t, err, "email")
	err = add(admin, "max@example.com", tenancyv1.Role_ROLE_ADMIN, "")
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "email")
	wantCode(t, setRole(admin, "9nosuchuser", tenancyv1.Role_ROLE_ADMIN), connect.CodeNotFound)
	err = setRole(admin, "", tenancyv1.Role_ROLE_UNSPECIFIED)
	wantFields(t, err, "user_id", "role")

	// The last owner can be neither demoted nor removed, even by itself.
	ownerC := o.as(s)
	wantCode(t, setRole(ownerC, o.user.GetId(), tenancyv1.Role_ROLE_ADMIN), connect.CodeFailedPrecondition)
	wantCode(t, remove(ownerC, o.user.GetId()), connect.CodeFailedPrecondition)
	// With a second owner, the first can step down.
	if err := setRole(ownerC, adminID, tenancyv1.Role_ROLE_OWNER); err != nil {
		t.Fatal(err)
	}
	if err := setRole(ownerC, o.user.GetId(), tenancyv1.Role_ROLE_ADMIN); err != nil {
		t.Fatal(err)
	}
	newOwner := s.asUser(o.tenant, adminID, authn.RoleOwner)
	wantCode(t, remove(newOwner, adminID), connect.CodeFailedPrecondition)
	if err := remove(newOwner, memberID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, remove(newOwner, memberID), connect.CodeNotFound)

	roles := map[string]tenancyv1.Role{}
	res, err := ownerC.Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Msg.GetMembers() {
		roles[m.GetUser().GetEmail()] = m.GetRole()
	}
	want := map[string]tenancyv1.Role{
		o.email: tenancyv1.Role_ROLE_ADMIN, "ada@example.com": tenancyv1.Role_ROLE_OWNER, "amy@example.com": tenancyv1.Role_ROLE_MEMBER,
	}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("members = %v, want %v", roles, want)
	}
	// Every change was audited with its actor.
	for _, action := range []string{"invitation.create", "member.update_role", "member.remove"} {
		if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = $1 AND tenant_id = $2 AND actor LIKE 'user:%' AND request_id <> ''`, action, o.tenant.GetId()); n == 0 {
			t.Errorf("no audit event %s", action)
		}
	}
}

func TestListMembersPagination(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	ctx := context.Background()
	for i := range 6 {
		s.addMember(o, fmt.Sprintf("user%d@example.com", i), tenancyv1.Role_ROLE_MEMBER)
	}
	seen := map[string]bool{}
	token := ""
	pages := 0
	for {
		res, err := o.as(s).Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{PageSize: 3, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(res.Msg.GetMembers()) > 3 {
			t.Fatalf("page of %d", len(res.Msg.GetMembers()))
		}
		for _, m := range res.Msg.GetMembers() {
			if seen[m.GetUser().GetId()] {
				t.Fatalf("member %s listed twice", m.GetUser().GetEmail())
			}
			seen[m.GetUser().GetId()] = true
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("%d members over %d pages, want 7 over 3", len(seen), pages)
	}
	_, err := o.as(s).Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{PageToken: "garbage!"}))
	wantFields(t, err, "page_token")
	_, err = o.as(s).Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{PageSize: -1}))
	wantFields(t, err, "page_size")
}

// The identity's tenant scopes every query: a user of one tenant sees only that tenant, and
// an identity naming a tenant the user does not belong to gets nothing.
func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	acme := s.signUp("acme")
	globex := s.signUp("globex")
	ctx := context.Background()
	s.addMember(acme, "acme-staff@example.com", tenancyv1.Role_ROLE_MEMBER)
	s.addMember(globex, "globex-staff@example.com", tenancyv1.Role_ROLE_MEMBER)

	res, err := globex.as(s).Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Msg.GetMembers() {
		if m.GetUser().GetEmail() == acme.email || m.GetUser().GetEmail() == "acme-staff@example.com" {
			t.Fatalf("globex's member list includes acme's %s", m.GetUser().GetEmail())
		}
	}
	if len(res.Msg.GetMembers()) != 2 {
		t.Fatalf("globex has %d members, want 2", len(res.Msg.GetMembers()))
	}

	// Globex's owner with acme's tenant data (as a forged or confused identity would carry).
	forged := s.asUser(acme.tenant, globex.user.GetId(), authn.RoleOwner)
	_, err = forged.Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = forged.Tenants.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = forged.Members.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: "spy@example.com", Role: tenancyv1.Role_ROLE_OWNER}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = forged.Members.RemoveMember(ctx, connect.NewRequest(&tenancyv1.RemoveMemberRequest{UserId: acme.user.GetId()}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = forged.Tenants.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "pwned"}))
	wantCode(t, err, connect.CodePermissionDenied)
	// Acme's owner cannot reach globex's users by id either.
	_, err = acme.as(s).Members.RemoveMember(ctx, connect.NewRequest(&tenancyv1.RemoveMemberRequest{UserId: globex.user.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	if n := s.count(`SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1`, acme.tenant.GetId()); n != 2 {
		t.Fatalf("acme memberships = %d after the attempts, want 2", n)
	}
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	ctx := context.Background()
	res, err := o.as(s).Tenants.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "  Acme Corporation "}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetTenant().GetDisplayName() != "Acme Corporation" {
		t.Fatalf("display name %q", res.Msg.GetTenant().GetDisplayName())
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 101), "tab\there"} {
		_, err := o.as(s).Tenants.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: name}))
		wantCode(t, err, connect.CodeInvalidArgument)
		wantFields(t, err, "display_name")
	}
	if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'tenant.update'
		AND details->'before'->>'display_name' = 'Acme Inc' AND details->'after'->>'display_name' = 'Acme Corporation'`); n != 1 {
		t.Fatalf("tenant.update audit events = %d", n)
	}
	// Suspended tenants are read-only.
	if _, err := s.asOperator().Operator.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "acme"})); err != nil {
		t.Fatal(err)
	}
	suspended := s.lookup("acme")
	c := s.asUser(suspended, o.user.GetId(), authn.RoleOwner)
	_, err = c.Tenants.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Nope"}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := c.Tenants.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{})); err != nil {
		t.Fatalf("read on suspended tenant: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	ctx := context.Background()
	memberID := s.addMember(o, "max@example.com", tenancyv1.Role_ROLE_MEMBER)
	member := s.asUser(o.tenant, memberID, authn.RoleMember)
	dir := s.asService().Directory

	created, err := member.Members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "ci", TtlDays: 30}))
	if err != nil {
		t.Fatal(err)
	}
	secret, tok := created.Msg.GetSecret(), created.Msg.GetToken()
	if authn.OpaqueKind(secret) != authn.KindAPIToken || secret[:len(tok.GetPrefix())] != tok.GetPrefix() || len(tok.GetPrefix()) >= len(secret) {
		t.Fatalf("secret %q, token %v", secret, tok)
	}
	if exp := tok.GetExpireTime().AsTime(); exp.Before(time.Now().Add(29*24*time.Hour)) || exp.After(time.Now().Add(31*24*time.Hour)) {
		t.Fatalf("expiry %v, want in 30 days", exp)
	}
	if n := s.count(`SELECT count(*) FROM tenancy.api_tokens WHERE hash = $1`, authn.HashOpaqueToken(secret)); n != 1 {
		t.Fatal("token hash not stored")
	}
	if n := s.count(`SELECT count(*) FROM tenancy.api_tokens WHERE hash = $1 OR prefix = $1 OR name = $1`, secret); n != 0 {
		t.Fatal("secret stored in clear")
	}

	introspect := func(secret string) *tenancyv1.IntrospectTokenResponse {
		t.Helper()
		res, err := dir.IntrospectToken(ctx, connect.NewRequest(&tenancyv1.IntrospectTokenRequest{Token: secret}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg
	}
	got := introspect(secret)
	if !got.GetActive() || got.GetTenantId() != o.tenant.GetId() || got.GetUserId() != memberID ||
		got.GetRole() != tenancyv1.Role_ROLE_MEMBER || got.GetTokenId() != tok.GetId() || got.GetOperator() {
		t.Fatalf("introspect = %v", got)
	}
	// The role is the membership's current one, not the one at creation.
	if _, err := o.as(s).Members.UpdateMemberRole(ctx, connect.NewRequest(&tenancyv1.UpdateMemberRoleRequest{UserId: memberID, Role: tenancyv1.Role_ROLE_ADMIN})); err != nil {
		t.Fatal(err)
	}
	if got := introspect(secret); got.GetRole() != tenancyv1.Role_ROLE_ADMIN {
		t.Fatalf("role after promotion = %v", got.GetRole())
	}

	list, err := member.Members.ListApiTokens(ctx, connect.NewRequest(&tenancyv1.ListApiTokensRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.GetTokens()) != 1 || list.Msg.GetTokens()[0].GetId() != tok.GetId() || list.Msg.GetTokens()[0].GetLastUsedTime() == nil {
		t.Fatalf("tokens = %v, want the one token, used", list.Msg.GetTokens())
	}
	// The owner's list holds only the owner's tokens.
	ownList, err := o.as(s).Members.ListApiTokens(ctx, connect.NewRequest(&tenancyv1.ListApiTokensRequest{}))
	if err != nil || len(ownList.Msg.GetTokens()) != 0 {
		t.Fatalf("owner's tokens = %v, %v", ownList, err)
	}

	// Another tenant cannot revoke it; its owner can.
	other := s.signUp("globex")
	_, err = other.as(s).Members.RevokeApiToken(ctx, connect.NewRequest(&tenancyv1.RevokeApiTokenRequest{Id: tok.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	if _, err := member.Members.RevokeApiToken(ctx, connect.NewRequest(&tenancyv1.RevokeApiTokenRequest{Id: tok.GetId()})); err != nil {
		t.Fatal(err)
	}
	if introspect(secret).GetActive() {
		t.Fatal("revoked token still active")
	}
	_, err = member.Members.RevokeApiToken(ctx, connect.NewRequest(&tenancyv1.RevokeApiTokenRequest{Id: tok.GetId()}))
	wantCode(t, err, connect.CodeNotFound)

	// Expired tokens and tokens of removed members are inactive.
	exp, err := o.as(s).Members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "old", TtlDays: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE tenancy.api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, exp.Msg.GetToken().GetId()); err != nil {
		t.Fatal(err)
	}
	if introspect(exp.Msg.GetSecret()).GetActive() {
		t.Fatal("expired token active")
	}
	second, err := member.Members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "second"}))
	if err != nil {
		t.Fatal(err)
	}
	if second.Msg.GetToken().GetExpireTime() != nil {
		t.Fatal("ttl_days 0 should not expire")
	}
	if _, err := o.as(s).Members.RemoveMember(ctx, connect.NewRequest(&tenancyv1.RemoveMemberRequest{UserId: memberID})); err != nil {
		t.Fatal(err)
	}
	if introspect(second.Msg.GetSecret()).GetActive() {
		t.Fatal("token of a removed member active")
	}
	for _, bad := range []string{"", "atr_pat_unknown", "atr_op_unknown", "eyJhbGciOiJFZERTQSJ9.x.y"} {
		if introspect(bad).GetActive() {
			t.Fatalf("%q active", bad)
		}
	}

	_, err = o.as(s).Members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: " ", TtlDays: -1}))
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "name", "ttl_days")
}
