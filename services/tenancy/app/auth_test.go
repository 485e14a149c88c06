package app_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	acme := s.signUp("acme")
	globex := s.signUp("globex")
	memberID := s.addMember(acme, "mia@example.com", tenancyv1.Role_ROLE_MEMBER)
	verifier := authn.NewUserTokenVerifier(s.cfg.TokenKey.Public().(ed25519.PublicKey))
	ctx := context.Background()

	login := func(c clients, email, pw string) (*connect.Response[tenancyv1.LoginResponse], error) {
		return c.Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: email, Password: pw}))
	}

	res, err := login(s.atTenant(acme.tenant), "MIA@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.Verify(res.Msg.GetAccessToken())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != memberID || claims.TenantID != acme.tenant.GetId() || claims.Role != authn.RoleMember ||
		res.Msg.GetRole() != tenancyv1.Role_ROLE_MEMBER || res.Msg.GetUser().GetEmail() != "mia@example.com" {
		t.Fatalf("login = %v, claims %+v", res.Msg, claims)
	}

	// Every way of getting it wrong gets the same answer.
	var msgs []string
	for name, tc := range map[string]struct {
		c         clients
		email, pw string
	}{
		"wrong password": {s.atTenant(acme.tenant), "mia@example.com", "Wrong-Password-11"},
		"unknown email":  {s.atTenant(acme.tenant), "nobody@example.com", goodPassword},
		"not a member":   {s.atTenant(globex.tenant), "mia@example.com", goodPassword},
		"other owner":    {s.atTenant(acme.tenant), globex.email, globex.password},
	} {
		_, err := login(tc.c, tc.email, tc.pw)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("%s: err = %v, want Unauthenticated", name, err)
		}
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("login failures differ: %q vs %q", m, msgs[0])
		}
	}

	_, err = login(s.atTenant(acme.tenant), "", "")
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "email", "password")

	// Without a tenant there is nothing to log in to.
	_, err = login(s.anon(), "mia@example.com", goodPassword)
	wantCode(t, err, connect.CodeFailedPrecondition)
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	c := s.atTenant(o.tenant)
	ctx := context.Background()
	refresh := func(tok string) (*connect.Response[tenancyv1.RefreshResponse], error) {
		return c.Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: tok}))
	}

	r1, err := refresh(o.refresh)
	if err != nil {
		t.Fatal(err)
	}
	rt2 := r1.Msg.GetRefreshToken()
	if rt2 == o.refresh || r1.Msg.GetAccessToken() == "" {
		t.Fatal("refresh did not rotate")
	}
	r2, err := refresh(rt2)
	if err != nil {
		t.Fatal(err)
	}
	rt3 := r2.Msg.GetRefreshToken()

	// The first token comes back: the whole family is revoked, including the newest token.
	_, err = refresh(o.refresh)
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = refresh(rt3)
	wantCode(t, err, connect.CodeUnauthenticated)

	// A fresh login starts a new family that works.
	l, err := c.Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: o.email, Password: o.password}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(l.Msg.GetRefreshToken()); err != nil {
		t.Fatal(err)
	}

	// Garbage, other kinds of token, and another tenant's token.
	for _, tok := range []string{"nonsense", "atr_rt_doesnotexist", "atr_pat_abc"} {
		_, err := refresh(tok)
		wantCode(t, err, connect.CodeUnauthenticated)
	}
	other := s.signUp("globex")
	_, err = refresh(other.refresh)
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = refresh("")
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "refresh_token")
}

func TestRefreshRoleFollowsMembership(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	ctx := context.Background()
	id := s.addMember(o, "ann@example.com", tenancyv1.Role_ROLE_MEMBER)
	l, err := s.atTenant(o.tenant).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "ann@example.com", Password: goodPassword}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.as(s).Members.UpdateMemberRole(ctx, connect.NewRequest(&tenancyv1.UpdateMemberRoleRequest{UserId: id, Role: tenancyv1.Role_ROLE_ADMIN})); err != nil {
		t.Fatal(err)
	}
	r, err := s.atTenant(o.tenant).Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: l.Msg.GetRefreshToken()}))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := authn.NewUserTokenVerifier(s.cfg.TokenKey.Public().(ed25519.PublicKey)).Verify(r.Msg.GetAccessToken())
	if err != nil || claims.Role != authn.RoleAdmin {
		t.Fatalf("refreshed role = %+v, %v; want admin", claims, err)
	}
	// Removed members cannot refresh.
	if _, err := o.as(s).Members.RemoveMember(ctx, connect.NewRequest(&tenancyv1.RemoveMemberRequest{UserId: id})); err != nil {
		t.Fatal(err)
	}
	_, err = s.atTenant(o.tenant).Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: r.Msg.GetRefreshToken()}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := s.signUp("acme")
	c := s.atTenant(o.tenant)
	ctx := context.Background()
	r, err := c.Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: o.refresh}))
	if err != nil {
		t.Fatal(err)
	}
	// Logging out with the current token ends the session: no token of the family refreshes.
	if _, err := c.Auth.Logout(ctx, connect.NewRequest(&tenancyv1.LogoutRequest{RefreshToken: r.Msg.GetRefreshToken()})); err != nil {
		t.Fatal(err)
	}
	_, err = c.Auth.Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: r.Msg.GetRefreshToken()}))
	wantCode(t, err, connect.CodeUnauthenticated)
	// Unknown tokens log out quietly; an empty one is a bad request.
	if _, err := c.Auth.Logout(ctx, connect.NewRequest(&tenancyv1.LogoutRequest{RefreshToken: "atr_rt_unknown"})); err != nil {
		t.Fatal(err)
	}
	_, err = c.Auth.Logout(ctx, connect.NewRequest(&tenancyv1.LogoutRequest{}))
	wantCode(t, err, connect.CodeInvalidArgument)
}
