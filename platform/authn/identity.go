// Package authn holds the identities Atrium trusts and the tokens that carry them: user access
// tokens (issued by tenancy, verified by the gateway), internal tokens (signed by the gateway or
// a trusted service, verified by every service) and opaque API/operator token secrets.
//
// An internal token names who acts, not which request: callers reuse one token per identity
// for InternalTokenReuse (InternalTokenCache) and send the request id beside it in
// RequestIDHeader.
package authn

import (
	"context"
	"errors"
)

// Role of a user within a tenant.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// IsAdmin reports whether the role may call TENANT_ADMIN methods.
func (r Role) IsAdmin() bool { return r == RoleOwner || r == RoleAdmin }

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// Identity is who a request acts for, as verified from an internal token. Services trust only
// this; tenantdb turns it into a database session.
type Identity struct {
	// Tenant fields are set when the request was resolved to a tenant.
	TenantID   string `json:"tid,omitempty"`
	TenantSlug string `json:"tsl,omitempty"`
	Schema     string `json:"sch,omitempty"`
	Shard      string `json:"shd,omitempty"`
	// TenantReadOnly is true for suspended tenants: services refuse writes again.
	TenantReadOnly bool `json:"tro,omitempty"`

	UserID string `json:"uid,omitempty"`
	Role   Role   `json:"rol,omitempty"`
	// TokenID names the API token when the user authenticated with one.
	TokenID string `json:"tok,omitempty"`

	// OperatorID is set for platform operators (never together with a user).
	OperatorID string `json:"opr,omitempty"`
	// Service is set when another Atrium service is the caller (INTERNAL methods).
	Service string `json:"svc,omitempty"`

	// RequestID correlates logs and audit entries. It is not vouched for by the token:
	// guard.AuthInterceptor takes it from the RequestIDHeader that travels beside the token
	// (tokens signed before that carried it in "rid", still honoured when the header is
	// missing), and InternalTokenCache leaves it out of the tokens it signs.
	RequestID string `json:"rid,omitempty"`
}

// HasTenant reports whether the identity names a tenant schema.
func (id *Identity) HasTenant() bool {
	return id != nil && id.TenantID != "" && id.Schema != "" && id.Shard != ""
}

// Actor is the audit-log name of whoever acts: "user:<id>", "api-token:<id>",
// "operator:<id>", "service:<name>" or "anonymous".
func (id *Identity) Actor() string {
	switch {
	case id == nil:
		return "anonymous"
	case id.TokenID != "":
		return "api-token:" + id.TokenID
	case id.UserID != "":
		return "user:" + id.UserID
	case id.OperatorID != "":
		return "operator:" + id.OperatorID
	case id.Service != "":
		return "service:" + id.Service
	}
	return "anonymous"
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the verified identity of the request, if any.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}

// ErrNoIdentity is returned by code that needs an identity and finds none in the context.
var ErrNoIdentity = errors.New("authn: no verified identity in context")
