// Package credential turns the Authorization header of a request into who is calling: a user
// access token (a JWT tenancy signed; verified here with keys.go), or an opaque API or
// operator token ("atr_pat_...", "atr_op_...") that tenancy's DirectoryService introspects,
// cached for a short while by the token's hash.
package credential

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"atrium.dev/gateway/internal/cache"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"golang.org/x/sync/singleflight"
)

// Credential is the verified caller. Exactly one of UserID and OperatorID is set.
type Credential struct {
	UserID   string
	TenantID string
	Role     authn.Role
	TokenID  string // set for API tokens

	OperatorID      string
	OperatorTokenID string // the operator credential, for revocation
}

// Authenticator is safe for concurrent use.
type Authenticator struct {
	keys     *Keys
	dir      tenancyv1connect.DirectoryServiceClient
	log      *slog.Logger
	opaque   *cache.Cache[string, *Credential] // by token hash; nil value: inactive token
	opaqueTT time.Duration
	group    singleflight.Group
	// verified remembers JWTs already verified, until they expire (at most a minute), so a
	// client's stream of requests costs one signature check, not one each. An entry is only
	// good with the key set it was verified with.
	verified *cache.Cache[string, verifiedJWT]
}

type verifiedJWT struct {
	cred *Credential
	keys *keyState
}

// verifiedTTL bounds how long a verified JWT is trusted without checking it again.
const verifiedTTL = time.Minute

// NewAuthenticator verifies JWTs with keys and introspects opaque tokens through dir, caching
// the answers (active or not) for ttl (default 30 s): a revoked API token keeps working at
// most that long.
func NewAuthenticator(keys *Keys, dir tenancyv1connect.DirectoryServiceClient, ttl time.Duration, log *slog.Logger) *Authenticator {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Authenticator{
		keys: keys, dir: dir, log: log,
		opaque: cache.New[string, *Credential](10000), opaqueTT: ttl,
		verified: cache.New[string, verifiedJWT](50000),
	}
}

// Revoke drops cached introspections of opaque tokens that match: a revoked API token (or
// every token of a removed member, or an operator credential) stops working at once instead
// of when its cache entry expires. Inactive answers are kept.
func (a *Authenticator) Revoke(match func(*Credential) bool) int {
	return a.opaque.DeleteFunc(func(_ string, c *Credential) bool { return c != nil && match(c) })
}

// Keys returns the key set the authenticator verifies JWTs with.
func (a *Authenticator) Keys() *Keys { return a.keys }

// Authenticate verifies the Authorization header value. An empty header returns nil, nil.
// Anything that does not verify is Unauthenticated; a directory that cannot be reached is
// Unavailable.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (*Credential, error) {
	if authorization == "" {
		return nil, nil
	}
	scheme, token, ok := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, rpcerr.Unauthenticated("Authorization must be \"Bearer <token>\"")
	}
	switch authn.OpaqueKind(token) {
	case "":
		return a.jwt(ctx, token)
	case authn.KindAPIToken, authn.KindOperatorToken:
		return a.introspect(ctx, token)
	case authn.KindRefreshToken:
		return nil, rpcerr.Unauthenticated("a refresh token is not an access token; call AuthService.Refresh")
	}
	return nil, rpcerr.Unauthenticated("unknown token kind")
}

func (a *Authenticator) jwt(ctx context.Context, token string) (*Credential, error) {
	if v, ok := a.verified.Get(token); ok && v.keys == a.keys.state.Load() {
		return v.cred, nil
	}
	ks, err := a.keys.current(ctx, token)
	if err != nil {
		return nil, rpcerr.Unavailable("token keys unavailable").WithCause(err)
	}
	claims, err := ks.verifier.Verify(token)
	if err != nil {
		return nil, rpcerr.Unauthenticated("invalid access token").WithCause(err)
	}
	cred := &Credential{UserID: claims.Subject, TenantID: claims.TenantID, Role: claims.Role}
	if claims.ExpiresAt != nil {
		a.verified.Set(token, verifiedJWT{cred: cred, keys: ks}, min(time.Until(claims.ExpiresAt.Time), verifiedTTL))
	}
	return cred, nil
}

func (a *Authenticator) introspect(ctx context.Context, token string) (*Credential, error) {
	hash := authn.HashOpaqueToken(token)
	if c, ok := a.opaque.Get(hash); ok {
		if c == nil {
			return nil, rpcerr.Unauthenticated("invalid or revoked token")
		}
		return c, nil
	}
	v, err, _ := a.group.Do(hash, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		res, err := a.dir.IntrospectToken(ctx, connect.NewRequest(&tenancyv1.IntrospectTokenRequest{Token: token}))
		if err != nil {
			return nil, rpcerr.Unavailable("token directory unavailable").WithCause(err)
		}
		c := fromIntrospection(res.Msg)
		a.opaque.Set(hash, c, a.opaqueTT)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	c := v.(*Credential)
	if c == nil {
		return nil, rpcerr.Unauthenticated("invalid or revoked token")
	}
	return c, nil
}

// fromIntrospection returns nil for anything but a complete, active answer.
func fromIntrospection(m *tenancyv1.IntrospectTokenResponse) *Credential {
	if !m.GetActive() {
		return nil
	}
	if m.GetOperator() {
		if m.GetOperatorId() == "" {
			return nil
		}
		// No TokenID: Identity.Actor would call the operator an API token.
		return &Credential{OperatorID: m.GetOperatorId(), OperatorTokenID: m.GetTokenId()}
	}
	role := roleOf(m.GetRole())
	if m.GetUserId() == "" || m.GetTenantId() == "" || role == "" {
		return nil
	}
	return &Credential{UserID: m.GetUserId(), TenantID: m.GetTenantId(), Role: role, TokenID: m.GetTokenId()}
}

func roleOf(r tenancyv1.Role) authn.Role {
	switch r {
	case tenancyv1.Role_ROLE_OWNER:
		return authn.RoleOwner
	case tenancyv1.Role_ROLE_ADMIN:
		return authn.RoleAdmin
	case tenancyv1.Role_ROLE_MEMBER:
		return authn.RoleMember
	}
	return ""
}
