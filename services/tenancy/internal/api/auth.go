package api

import (
	"context"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/password"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// RefreshTTL is the life of a refresh token. Each refresh issues a new one with a full TTL.
const RefreshTTL = 30 * 24 * time.Hour

// AuthService logs users in and rotates their tokens.
type AuthService struct{ *Deps }

// NewAuthService returns the service.
func NewAuthService(d *Deps) *AuthService { return &AuthService{d} }

// One message for every login failure, so responses do not tell which part was wrong.
func badLogin() error { return rpcerr.Unauthenticated("wrong email or password") }

// One message for every refresh failure.
func badRefresh() error {
	return rpcerr.Unauthenticated("refresh token is invalid, expired or revoked")
}

type tokens struct {
	access       string
	accessExpiry time.Time
	refresh      string
}

// issueTokens signs an access token and stores a new refresh token in family (a new family
// when empty).
func issueTokens(ctx context.Context, tx *store.Store, signer *authn.UserTokenSigner, userID, tenantID string, role authn.Role, family string) (tokens, error) {
	access, exp, err := signer.Issue(userID, tenantID, role)
	if err != nil {
		return tokens{}, err
	}
	secret, hash := authn.NewOpaqueToken(authn.KindRefreshToken)
	if family == "" {
		family = store.NewID()
	}
	err = tx.InsertRefreshToken(ctx, store.RefreshToken{
		ID: store.NewID(), FamilyID: family, UserID: userID, TenantID: tenantID, Hash: hash,
		ExpiresAt: time.Now().Add(RefreshTTL),
	})
	if err != nil {
		return tokens{}, err
	}
	return tokens{access: access, accessExpiry: exp, refresh: secret}, nil
}

// usable reports whether users may sign in to a tenant in this state. Suspended tenants are
// read-only, not closed.
func usable(t store.Tenant) bool {
	return t.Status == store.StatusActive || t.Status == store.StatusSuspended
}

func (s *AuthService) Login(ctx context.Context, req *connect.Request[tenancyv1.LoginRequest]) (*connect.Response[tenancyv1.LoginResponse], error) {
	email := validate.NormalizeEmail(req.Msg.GetEmail())
	pw := req.Msg.GetPassword()
	var v rpcerr.Violations
	if email == "" {
		v.Add("email", "required")
	}
	if pw == "" {
		v.Add("password", "required")
	} else if len(pw) > validate.PasswordMax {
		v.Add("password", "must be at most 128 bytes")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	t, err := tenantOf(ctx, s.Store)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !usable(t) && !reopenable(t, time.Now())) {
		return nil, rpcerr.FailedPrecondition("organization is not available")
	}
	if err != nil {
		return nil, err
	}
	if s.Throttle != nil {
		if wait := s.Throttle.Wait(ctx, t.ID, email); wait > 0 {
			return nil, rpcerr.ResourceExhausted(wait, "too many failed logins for this account; retry later")
		}
	}
	u, m, err := s.checkPassword(ctx, t.ID, email, pw)
	if err != nil {
		if s.Throttle != nil && rpcerr.KindOf(err) == rpcerr.KindUnauthenticated {
			s.Throttle.Failed(ctx, t.ID, email)
		}
		return nil, err
	}
	if s.Throttle != nil {
		s.Throttle.Succeeded(ctx, t.ID, email)
	}
	if !mayEnter(t, m.Role) {
		// The password was right: say why, and when, rather than "not available".
		return nil, rpcerr.FailedPrecondition("this organization is scheduled for deletion on %s; only its owners can sign in, to cancel it",
			t.PurgeAt.UTC().Format("2 January 2006 15:04 UTC"))
	}
	var tok tokens
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		tok, err = issueTokens(ctx, tx, s.Tokens, u.ID, t.ID, authn.Role(m.Role), "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.LoginResponse{
		AccessToken: tok.access, RefreshToken: tok.refresh, AccessTokenExpireTime: ts(tok.accessExpiry),
		User: userProto(u), Role: roleToProto[m.Role],
	}), nil
}

// checkPassword finds the tenant's account for email and checks its password and membership.
// Every failure is badLogin.
func (s *AuthService) checkPassword(ctx context.Context, tenantID, email, pw string) (store.User, store.Member, error) {
	u, err := s.Store.UserByEmail(ctx, tenantID, email)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		// Spend the time a real check takes, so unknown emails cannot be told apart by timing.
		password.Waste(pw)
		return store.User{}, store.Member{}, badLogin()
	}
	if err != nil {
		return store.User{}, store.Member{}, err
	}
	ok, err := password.Verify(pw, u.PasswordHash)
	if err != nil {
		return store.User{}, store.Member{}, err
	}
	if !ok {
		return store.User{}, store.Member{}, badLogin()
	}
	m, err := s.Store.Membership(ctx, tenantID, u.ID)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return store.User{}, store.Member{}, badLogin()
	}
	return u, m, err
}

func (s *AuthService) Refresh(ctx context.Context, req *connect.Request[tenancyv1.RefreshRequest]) (*connect.Response[tenancyv1.RefreshResponse], error) {
	secret := req.Msg.GetRefreshToken()
	if secret == "" {
		return nil, rpcerr.InvalidField("refresh_token", "required")
	}
	if authn.OpaqueKind(secret) != authn.KindRefreshToken {
		return nil, badRefresh()
	}
	var (
		tok  tokens
		user store.User
		role string
	)
	reused := false
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		rt, err := tx.LockRefreshToken(ctx, authn.HashOpaqueToken(secret))
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return badRefresh()
		}
		if err != nil {
			return err
		}
		if id := caller(ctx); id.TenantID != "" && id.TenantID != rt.TenantID {
			return badRefresh()
		}
		switch {
		case rt.RevokedAt != nil || time.Now().After(rt.ExpiresAt):
			return badRefresh()
		case rt.UsedAt != nil:
			// A rotated token came back: either the client or a thief holds a copy. Revoke the
			// whole family so whichever it is has to sign in again. The revocation must
			// commit, so the error is returned after the transaction.
			reused = true
			return tx.RevokeFamily(ctx, rt.FamilyID)
		}
		t, err := tx.GetTenant(ctx, rt.TenantID)
		if err != nil {
			return err
		}
		m, err := tx.Membership(ctx, rt.TenantID, rt.UserID)
		if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !mayEnter(t, m.Role)) {
			return badRefresh()
		}
		if err != nil {
			return err
		}
		if err := tx.UseRefreshToken(ctx, rt.ID); err != nil {
			return err
		}
		if user, err = tx.GetUser(ctx, rt.TenantID, rt.UserID); err != nil {
			return err
		}
		role = m.Role
		tok, err = issueTokens(ctx, tx, s.Tokens, rt.UserID, rt.TenantID, authn.Role(m.Role), rt.FamilyID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		s.Log.WarnContext(ctx, "refresh token reused; family revoked")
		return nil, badRefresh()
	}
	return connect.NewResponse(&tenancyv1.RefreshResponse{
		AccessToken: tok.access, RefreshToken: tok.refresh, AccessTokenExpireTime: ts(tok.accessExpiry),
		User: userProto(user), Role: roleToProto[role],
	}), nil
}

func (s *AuthService) Logout(ctx context.Context, req *connect.Request[tenancyv1.LogoutRequest]) (*connect.Response[tenancyv1.LogoutResponse], error) {
	secret := req.Msg.GetRefreshToken()
	if secret == "" {
		return nil, rpcerr.InvalidField("refresh_token", "required")
	}
	// Logging out with an unknown or foreign token succeeds without effect: there is nothing
	// to tell the caller that would not help someone probing tokens.
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		rt, err := tx.LockRefreshToken(ctx, authn.HashOpaqueToken(secret))
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if id := caller(ctx); id.TenantID != "" && id.TenantID != rt.TenantID {
			return nil
		}
		return tx.RevokeFamily(ctx, rt.FamilyID)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.LogoutResponse{}), nil
}
