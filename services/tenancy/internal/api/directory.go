package api

import (
	"context"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
)

// DirectoryService answers the gateway.
type DirectoryService struct{ *Deps }

// NewDirectoryService returns the service.
func NewDirectoryService(d *Deps) *DirectoryService { return &DirectoryService{d} }

// ResolveTenant finds a tenant by id (any state) or slug (live tenants only: a failed or
// deleted tenant's slug is free and names nothing). The gateway decides what each state
// allows.
func (s *DirectoryService) ResolveTenant(ctx context.Context, req *connect.Request[tenancyv1.ResolveTenantRequest]) (*connect.Response[tenancyv1.ResolveTenantResponse], error) {
	ref := req.Msg.GetTenant()
	if ref == "" {
		return nil, rpcerr.InvalidField("tenant", "required")
	}
	t, err := s.Store.LookupTenant(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !store.IsID(ref) && !t.Status.Live() {
		return nil, rpcerr.NotFound("tenant not found")
	}
	return connect.NewResponse(&tenancyv1.ResolveTenantResponse{Tenant: tenantProto(t)}), nil
}

// IntrospectToken resolves an opaque API or operator token. Anything it cannot vouch for is
// simply inactive; the reason is not the gateway's business.
func (s *DirectoryService) IntrospectToken(ctx context.Context, req *connect.Request[tenancyv1.IntrospectTokenRequest]) (*connect.Response[tenancyv1.IntrospectTokenResponse], error) {
	secret := req.Msg.GetToken()
	inactive := connect.NewResponse(&tenancyv1.IntrospectTokenResponse{})
	switch authn.OpaqueKind(secret) {
	case authn.KindAPIToken:
		g, err := s.Store.IntrospectAPIToken(ctx, authn.HashOpaqueToken(secret))
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&tenancyv1.IntrospectTokenResponse{
			Active: true, TenantId: g.TenantID, UserId: g.UserID, Role: roleToProto[g.Role], TokenId: g.TokenID,
		}), nil
	case authn.KindOperatorToken:
		id, tokenID, err := s.Store.OperatorByToken(ctx, authn.HashOpaqueToken(secret))
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&tenancyv1.IntrospectTokenResponse{Active: true, Operator: true, OperatorId: id, TokenId: tokenID}), nil
	}
	return inactive, nil
}

// GetMembership returns a user's current role in a tenant. The gateway caches the answer per
// (tenant, user) and drops it on atrium:membership-changed.
func (s *DirectoryService) GetMembership(ctx context.Context, req *connect.Request[tenancyv1.GetMembershipRequest]) (*connect.Response[tenancyv1.GetMembershipResponse], error) {
	var v rpcerr.Violations
	if d := validID(req.Msg.GetTenantId()); d != "" {
		v.Add("tenant_id", d)
	}
	if d := validID(req.Msg.GetUserId()); d != "" {
		v.Add("user_id", d)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	m, err := s.Store.Membership(ctx, req.Msg.GetTenantId(), req.Msg.GetUserId())
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return connect.NewResponse(&tenancyv1.GetMembershipResponse{}), nil
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.GetMembershipResponse{Member: true, Role: roleToProto[m.Role]}), nil
}

// GetSigningKeys returns the public keys of user access tokens as a JWK set.
func (s *DirectoryService) GetSigningKeys(ctx context.Context, _ *connect.Request[tenancyv1.GetSigningKeysRequest]) (*connect.Response[tenancyv1.GetSigningKeysResponse], error) {
	jwks, err := s.Tokens.JWKS()
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.GetSigningKeysResponse{JwksJson: string(jwks)}), nil
}

// ResolveShard gives tenant-plane services the connection string of a shard added at run time.
func (s *DirectoryService) ResolveShard(ctx context.Context, req *connect.Request[tenancyv1.ResolveShardRequest]) (*connect.Response[tenancyv1.ResolveShardResponse], error) {
	name := req.Msg.GetName()
	if name == "" {
		return nil, rpcerr.InvalidField("name", "required")
	}
	sh, err := s.Store.GetShard(ctx, name)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ResolveShardResponse{Name: sh.Name, Dsn: sh.DSN}), nil
}
