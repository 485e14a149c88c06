package app_test

import (
	"context"
	"strings"
	"testing"

	"atrium.dev/platform/authn"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"connectrpc.com/connect"
)

// TestTakeoverAcrossTenants is finding 1 of issue 6: with global users, the owner of "evil"
// made an account for ceo@victim.example with a password of its choosing, and that password
// then logged in to "victim" once victim's owner added the same email. Accounts now belong to
// one tenant, so nothing evil does reaches victim.
func TestTakeoverAcrossTenants(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	evil := s.signUp("evil")
	const ceo = "ceo@victim.example"
	s.addMember(evil, ceo, tenancyv1.Role_ROLE_MEMBER) // the attacker's account, goodPassword

	// The victim signs up with the CEO's address: it must not depend on evil's account.
	const victimPassword = "Blue-Orchid-Lantern-58"
	res, err := s.anon().Tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: "Victim", Slug: "victim", AdminEmail: "CEO@victim.example", AdminPassword: victimPassword,
	}))
	if err != nil {
		t.Fatalf("victim sign-up with an email another tenant holds: %v", err)
	}
	victim := res.Msg.GetTenant()
	if res.Msg.GetUser().GetId() == "" {
		t.Fatal("no user")
	}

	login := func(tenant *tenancyv1.Tenant, pw string) error {
		_, err := s.atTenant(tenant).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: ceo, Password: pw}))
		return err
	}
	// The attacker's password opens only the attacker's account.
	wantCode(t, login(victim, goodPassword), connect.CodeUnauthenticated)
	if err := login(victim, victimPassword); err != nil {
		t.Fatalf("victim login: %v", err)
	}
	if err := login(evil.tenant, goodPassword); err != nil {
		t.Fatalf("evil's own account: %v", err)
	}
	wantCode(t, login(evil.tenant, victimPassword), connect.CodeUnauthenticated)
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	accept := func(tenant *tenancyv1.Tenant, token, pw string) (*connect.Response[tenancyv1.AcceptInvitationResponse], error) {
		return s.atTenant(tenant).Auth.AcceptInvitation(ctx, connect.NewRequest(&tenancyv1.AcceptInvitationRequest{
			Token: token, Password: pw, DisplayName: "Ines",
		}))
	}

	token := s.invite(acme.as(s), "Ines@Example.com", tenancyv1.Role_ROLE_ADMIN)
	mail := s.mailTo("ines@example.com", "invited")[0]
	if !strings.Contains(mail.Body, "http://acme.localhost:8080/#/accept-invitation?token=") {
		t.Fatalf("invitation body has no link: %s", mail.Body)
	}
	// The link is acme's: at globex it is as unknown as a made-up one (same answer).
	_, err := accept(globex.tenant, token, goodPassword)
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "token")
	_, err2 := accept(acme.tenant, "atr_inv_"+strings.Repeat("a", 52), goodPassword)
	if err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("foreign token %v, unknown token %v: want the same answer", err, err2)
	}
	// Bad password: field error, the invitation stays usable.
	_, err = accept(acme.tenant, token, "short")
	wantFields(t, err, "password")

	// Pending invitations are listed to admins of acme only.
	list := func(c clients) ([]*tenancyv1.Invitation, error) {
		res, err := c.Members.ListInvitations(ctx, connect.NewRequest(&tenancyv1.ListInvitationsRequest{}))
		return res.Msg.GetInvitations(), err
	}
	pending, err := list(acme.as(s))
	if err != nil || len(pending) != 1 || pending[0].GetEmail() != "ines@example.com" || pending[0].GetRole() != tenancyv1.Role_ROLE_ADMIN {
		t.Fatalf("pending = %v, %v", pending, err)
	}
	if got, _ := list(globex.as(s)); len(got) != 0 {
		t.Fatalf("globex sees acme's invitations: %v", got)
	}
	// Globex cannot resend or revoke acme's invitation by id.
	_, err = globex.as(s).Members.ResendInvitation(ctx, connect.NewRequest(&tenancyv1.ResendInvitationRequest{Id: pending[0].GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = globex.as(s).Members.RevokeInvitation(ctx, connect.NewRequest(&tenancyv1.RevokeInvitationRequest{Id: pending[0].GetId()}))
	wantCode(t, err, connect.CodeNotFound)

	// Resend: a new link; the old one stops working.
	if _, err := acme.as(s).Members.ResendInvitation(ctx, connect.NewRequest(&tenancyv1.ResendInvitationRequest{Id: pending[0].GetId()})); err != nil {
		t.Fatal(err)
	}
	fresh := s.nextMail("ines@example.com", "invited", 1).Token()
	if fresh == token {
		t.Fatal("resend reused the token")
	}
	_, err = accept(acme.tenant, token, goodPassword)
	wantFields(t, err, "token")

	res, err := accept(acme.tenant, fresh, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetRole() != tenancyv1.Role_ROLE_ADMIN || res.Msg.GetUser().GetEmail() != "ines@example.com" || res.Msg.GetAccessToken() == "" {
		t.Fatalf("accept = %v", res.Msg)
	}
	// Used once: a second accept fails, and nothing is listed as pending.
	_, err = accept(acme.tenant, fresh, goodPassword)
	wantFields(t, err, "token")
	if got, _ := list(acme.as(s)); len(got) != 0 {
		t.Fatalf("pending after accept: %v", got)
	}

	// Revoked and expired invitations do not work.
	revoked := s.invite(acme.as(s), "rex@example.com", tenancyv1.Role_ROLE_MEMBER)
	pending, _ = list(acme.as(s))
	if _, err := acme.as(s).Members.RevokeInvitation(ctx, connect.NewRequest(&tenancyv1.RevokeInvitationRequest{Id: pending[0].GetId()})); err != nil {
		t.Fatal(err)
	}
	_, err = accept(acme.tenant, revoked, goodPassword)
	wantFields(t, err, "token")
	expired := s.invite(acme.as(s), "old@example.com", tenancyv1.Role_ROLE_MEMBER)
	if _, err := s.db.Exec(ctx, `UPDATE tenancy.invitations SET expires_at = now() - interval '1 second' WHERE email = 'old@example.com'`); err != nil {
		t.Fatal(err)
	}
	_, err = accept(acme.tenant, expired, goodPassword)
	wantFields(t, err, "token")
	// An expired invitation does not block inviting again.
	s.invite(acme.as(s), "old@example.com", tenancyv1.Role_ROLE_MEMBER)

	// Only owners invite owners.
	admin := s.asUser(acme.tenant, res.Msg.GetUser().GetId(), authn.RoleAdmin)
	_, err = admin.Members.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: "boss@example.com", Role: tenancyv1.Role_ROLE_OWNER}))
	wantCode(t, err, connect.CodePermissionDenied)
	// No token is stored in clear, and sent mail keeps no link.
	if n := s.count(`SELECT count(*) FROM tenancy.invitations WHERE token_hash LIKE 'atr_%'`); n != 0 {
		t.Fatal("invitation token stored in clear")
	}
	waitFor(t, "outbox bodies blanked", func() bool {
		return s.count(`SELECT count(*) FROM tenancy.outbox WHERE sent_at IS NOT NULL AND body <> ''`) == 0
	})
}

// TestSameEmailTwoTenants: one address, two accounts, two passwords, each good only in its own
// tenant.
func TestSameEmailTwoTenants(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	const email = "pat@example.com"
	acceptWith := func(o owner, pw string) string {
		res, err := s.atTenant(o.tenant).Auth.AcceptInvitation(ctx, connect.NewRequest(&tenancyv1.AcceptInvitationRequest{
			Token: s.invite(o.as(s), email, tenancyv1.Role_ROLE_MEMBER), Password: pw,
		}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetUser().GetId()
	}
	const pwAcme = "First-Side-Secret-81"
	idA := acceptWith(acme, pwAcme)
	idG := acceptWith(globex, "Other-Side-Secret-82")
	if idA == idG {
		t.Fatal("one account for two tenants")
	}
	login := func(tn *tenancyv1.Tenant, pw string) error {
		_, err := s.atTenant(tn).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: email, Password: pw}))
		return err
	}
	if err := login(acme.tenant, pwAcme); err != nil {
		t.Fatal(err)
	}
	if err := login(globex.tenant, "Other-Side-Secret-82"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, login(globex.tenant, pwAcme), connect.CodeUnauthenticated)
	wantCode(t, login(acme.tenant, "Other-Side-Secret-82"), connect.CodeUnauthenticated)
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	request := func(tn *tenancyv1.Tenant, email string) error {
		_, err := s.atTenant(tn).Auth.RequestPasswordReset(ctx, connect.NewRequest(&tenancyv1.RequestPasswordResetRequest{Email: email}))
		return err
	}
	reset := func(tn *tenancyv1.Tenant, token, pw string) error {
		_, err := s.atTenant(tn).Auth.ResetPassword(ctx, connect.NewRequest(&tenancyv1.ResetPasswordRequest{Token: token, NewPassword: pw}))
		return err
	}
	// The same answer whether or not the account exists; mail only for the real one.
	if err := request(acme.tenant, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	// globex's owner asking at acme: acme has no such account.
	if err := request(acme.tenant, globex.email); err != nil {
		t.Fatal(err)
	}
	if err := request(acme.tenant, acme.email); err != nil {
		t.Fatal(err)
	}
	token := s.nextMail(acme.email, "Reset", 0).Token()
	if n := len(s.mailTo("nobody@example.com", "Reset")) + len(s.mailTo(globex.email, "Reset")); n != 0 {
		t.Fatalf("%d reset mails for accounts acme does not have", n)
	}
	// Acme's link does nothing at globex.
	err := reset(globex.tenant, token, "Brand-New-Secret-93")
	wantFields(t, err, "token")
	if err := reset(acme.tenant, token, "weak"); err == nil {
		t.Fatal("weak password accepted")
	}
	if err := reset(acme.tenant, token, "Brand-New-Secret-93"); err != nil {
		t.Fatal(err)
	}
	// Once only, and old sessions are over.
	wantFields(t, reset(acme.tenant, token, "Second-New-Secret-94"), "token")
	_, err = s.atTenant(acme.tenant).Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: acme.refresh}))
	wantCode(t, err, connect.CodeUnauthenticated)
	login := func(tn *tenancyv1.Tenant, email, pw string) error {
		_, err := s.atTenant(tn).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: email, Password: pw}))
		return err
	}
	wantCode(t, login(acme.tenant, acme.email, goodPassword), connect.CodeUnauthenticated)
	if err := login(acme.tenant, acme.email, "Brand-New-Secret-93"); err != nil {
		t.Fatal(err)
	}
	// Globex's owner (another account) is untouched.
	if err := login(globex.tenant, globex.email, goodPassword); err != nil {
		t.Fatal(err)
	}
}

func TestTransferOwnership(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	adaID := s.addMember(acme, "ada@example.com", tenancyv1.Role_ROLE_ADMIN)
	transfer := func(c clients, to string) error {
		_, err := c.Members.TransferOwnership(ctx, connect.NewRequest(&tenancyv1.TransferOwnershipRequest{UserId: to}))
		return err
	}
	// Cross-tenant: globex's owner cannot hand acme to anyone, nor take acme's owner.
	wantCode(t, transfer(globex.as(s), adaID), connect.CodeInvalidArgument)
	wantCode(t, transfer(acme.as(s), globex.user.GetId()), connect.CodeInvalidArgument)
	// An admin cannot transfer; a bad id is a field error.
	wantCode(t, transfer(s.asUser(acme.tenant, adaID, authn.RoleAdmin), adaID), connect.CodeInvalidArgument)
	wantCode(t, transfer(s.asUser(acme.tenant, adaID, authn.RoleAdmin), acme.user.GetId()), connect.CodePermissionDenied)
	wantFields(t, transfer(acme.as(s), "bad\x00id"), "user_id")
	if err := transfer(acme.as(s), adaID); err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	rows, _ := s.db.Query(ctx, `SELECT user_id, role FROM tenancy.memberships WHERE tenant_id = $1`, acme.tenant.GetId())
	for rows.Next() {
		var u, r string
		_ = rows.Scan(&u, &r)
		roles[u] = r
	}
	if roles[adaID] != "owner" || roles[acme.user.GetId()] != "admin" {
		t.Fatalf("roles after transfer = %v", roles)
	}
}
