package api

import (
	"context"
	"strings"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// MemberService manages the people and API tokens of the caller's tenant. Every query is
// scoped by the identity's tenant id; no request field can name another tenant.
type MemberService struct{ *Deps }

// NewMemberService returns the service.
func NewMemberService(d *Deps) *MemberService { return &MemberService{d} }

// API token limits.
const (
	maxTokenTTLDays = 3650
	tokenPrefixLen  = len("atr_pat_") + 4
)

func (s *MemberService) ListMembers(ctx context.Context, req *connect.Request[tenancyv1.ListMembersRequest]) (*connect.Response[tenancyv1.ListMembersResponse], error) {
	var v rpcerr.Violations
	size := pageSize(req.Msg.GetPageSize(), &v)
	page := decodePage(req.Msg.GetPageToken(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := member(ctx, s.Store, false); err != nil {
		return nil, err
	}
	ms, err := s.Store.ListMembers(ctx, caller(ctx).TenantID, page.cursor(), size+1)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListMembersResponse{}
	if len(ms) > size {
		ms = ms[:size]
		last := ms[len(ms)-1]
		out.NextPageToken = encodePage(pageToken{At: last.CreatedAt, ID: last.User.ID})
	}
	for _, m := range ms {
		out.Members = append(out.Members, memberProto(m))
	}
	return connect.NewResponse(out), nil
}

func (s *MemberService) UpdateMemberRole(ctx context.Context, req *connect.Request[tenancyv1.UpdateMemberRoleRequest]) (*connect.Response[tenancyv1.UpdateMemberRoleResponse], error) {
	var v rpcerr.Violations
	userID := req.Msg.GetUserId()
	if d := validID(userID); d != "" {
		v.Add("user_id", d)
	}
	role, ok := roleFromProto(req.Msg.GetRole())
	if !ok {
		v.Add("role", "must be owner, admin or member")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tenantID := caller(ctx).TenantID
	var out store.Member
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		me, err := member(ctx, tx, true)
		if err != nil {
			return err
		}
		// Owners first, always in the same order, so that concurrent role changes serialize
		// instead of deadlocking, and see each other's result.
		owners, err := tx.LockOwners(ctx, tenantID)
		if err != nil {
			return err
		}
		target, err := tx.LockMembership(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if (role == "owner" || target.Role == "owner") && me.Role != "owner" {
			return rpcerr.PermissionDenied("only an owner can grant or change the owner role")
		}
		if target.Role == "owner" && role != "owner" && len(owners) <= 1 {
			return rpcerr.FailedPrecondition("the last owner cannot be demoted; make someone else owner first")
		}
		if target.Role == role {
			out = target
			return nil
		}
		if err := tx.SetRole(ctx, tenantID, userID, role); err != nil {
			return err
		}
		if out, err = tx.Membership(ctx, tenantID, userID); err != nil {
			return err
		}
		return audit(ctx, tx, "member.update_role", tenantID, "user:"+userID, map[string]any{
			"before": map[string]string{"role": target.Role}, "after": map[string]string{"role": role},
		})
	})
	if err != nil {
		return nil, err
	}
	s.membershipChanged(ctx, tenantID, userID)
	return connect.NewResponse(&tenancyv1.UpdateMemberRoleResponse{Member: memberProto(out)}), nil
}

func (s *MemberService) RemoveMember(ctx context.Context, req *connect.Request[tenancyv1.RemoveMemberRequest]) (*connect.Response[tenancyv1.RemoveMemberResponse], error) {
	userID := req.Msg.GetUserId()
	if d := validID(userID); d != "" {
		return nil, rpcerr.InvalidField("user_id", d)
	}
	tenantID := caller(ctx).TenantID
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		me, err := member(ctx, tx, true)
		if err != nil {
			return err
		}
		owners, err := tx.LockOwners(ctx, tenantID)
		if err != nil {
			return err
		}
		target, err := tx.LockMembership(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if target.Role == "owner" {
			if me.Role != "owner" {
				return rpcerr.PermissionDenied("only an owner can remove an owner")
			}
			if len(owners) <= 1 {
				return rpcerr.FailedPrecondition("the last owner cannot be removed; make someone else owner first")
			}
		}
		if err := tx.RemoveMembership(ctx, tenantID, userID); err != nil {
			return err
		}
		return audit(ctx, tx, "member.remove", tenantID, "user:"+userID, map[string]string{
			"email": target.User.Email, "role": target.Role,
		})
	})
	if err != nil {
		return nil, err
	}
	s.membershipChanged(ctx, tenantID, userID)
	s.seatsChanged(ctx, tenantID)
	return connect.NewResponse(&tenancyv1.RemoveMemberResponse{}), nil
}

func (s *MemberService) CreateApiToken(ctx context.Context, req *connect.Request[tenancyv1.CreateApiTokenRequest]) (*connect.Response[tenancyv1.CreateApiTokenResponse], error) {
	name := strings.TrimSpace(req.Msg.GetName())
	ttl := req.Msg.GetTtlDays()
	var v rpcerr.Violations
	if d := validate.DisplayName(name); d != "" {
		v.Add("name", d)
	}
	if ttl < 0 || ttl > maxTokenTTLDays {
		v.Add("ttl_days", "must be 0 (no expiry) to 3650")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	id := caller(ctx)
	secret, hash := authn.NewOpaqueToken(authn.KindAPIToken)
	var expires *time.Time
	if ttl > 0 {
		e := time.Now().Add(time.Duration(ttl) * 24 * time.Hour)
		expires = &e
	}
	var out store.APIToken
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := member(ctx, tx, false); err != nil {
			return err
		}
		var err error
		out, err = tx.InsertAPIToken(ctx, store.APIToken{
			ID: store.NewID(), TenantID: id.TenantID, UserID: id.UserID, Name: name,
			Prefix: secret[:tokenPrefixLen], Hash: hash, ExpiresAt: expires,
		})
		if err != nil {
			return err
		}
		return audit(ctx, tx, "api_token.create", id.TenantID, "api-token:"+out.ID, map[string]any{
			"name": name, "ttl_days": ttl, "user_id": id.UserID,
		})
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.CreateApiTokenResponse{Token: apiTokenProto(out), Secret: secret}), nil
}

func (s *MemberService) ListApiTokens(ctx context.Context, _ *connect.Request[tenancyv1.ListApiTokensRequest]) (*connect.Response[tenancyv1.ListApiTokensResponse], error) {
	if _, err := member(ctx, s.Store, false); err != nil {
		return nil, err
	}
	id := caller(ctx)
	ts, err := s.Store.ListAPITokens(ctx, id.TenantID, id.UserID)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListApiTokensResponse{}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, apiTokenProto(t))
	}
	return connect.NewResponse(out), nil
}

func (s *MemberService) RevokeApiToken(ctx context.Context, req *connect.Request[tenancyv1.RevokeApiTokenRequest]) (*connect.Response[tenancyv1.RevokeApiTokenResponse], error) {
	tokenID := req.Msg.GetId()
	if d := validID(tokenID); d != "" {
		return nil, rpcerr.InvalidField("id", d)
	}
	id := caller(ctx)
	var owner string
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		me, err := member(ctx, tx, false)
		if err != nil {
			return err
		}
		t, err := tx.GetAPIToken(ctx, id.TenantID, tokenID)
		if err != nil {
			return err
		}
		// Members revoke their own tokens; admins any token of the organization. Someone
		// else's token is "not found" to a member, not "forbidden".
		if t.UserID != id.UserID && !authn.Role(me.Role).IsAdmin() {
			return rpcerr.NotFound("api token not found")
		}
		if err := tx.RevokeAPIToken(ctx, id.TenantID, tokenID); err != nil {
			return err
		}
		owner = t.UserID
		return audit(ctx, tx, "api_token.revoke", id.TenantID, "api-token:"+tokenID, map[string]string{
			"name": t.Name, "user_id": t.UserID,
		})
	})
	if err != nil {
		return nil, err
	}
	// The gateway caches token introspections; this drops the revoked one at once.
	s.Notify.MembershipChanged(ctx, notify.MembershipChange{TenantID: id.TenantID, UserID: owner, TokenID: tokenID})
	return connect.NewResponse(&tenancyv1.RevokeApiTokenResponse{}), nil
}
