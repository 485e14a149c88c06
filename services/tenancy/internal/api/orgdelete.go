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
	"connectrpc.com/connect"
)

// ownerDeletion starts the status reason of a deletion an owner asked for (followed by the
// actor), which only an owner may cancel. An operator's deletion (OperatorService.DeleteTenant,
// "deleted by operator:...") is not the owners' to undo.
const ownerDeletion = "deletion requested by owner "

// reopenable reports whether t is being deleted at an owner's request and its grace period is
// not over: its owners may still sign in, read it and cancel.
func reopenable(t store.Tenant, now time.Time) bool {
	return t.Status == store.StatusDeleting && strings.HasPrefix(t.StatusReason, ownerDeletion) &&
		t.PurgeAt != nil && now.Before(*t.PurgeAt)
}

// mayEnter reports whether a member with role may sign in to t: any member of an active or
// suspended tenant, an owner of a reopenable one.
func mayEnter(t store.Tenant, role string) bool {
	return usable(t) || (authn.Role(role) == authn.RoleOwner && reopenable(t, time.Now()))
}

func owner(ctx context.Context, tx *store.Store) (store.Member, error) {
	m, err := member(ctx, tx, true)
	if err != nil {
		return m, err
	}
	if authn.Role(m.Role) != authn.RoleOwner {
		return m, rpcerr.PermissionDenied("only an owner can delete the organization or cancel its deletion")
	}
	return m, nil
}

func (s *TenantService) ScheduleTenantDeletion(ctx context.Context, req *connect.Request[tenancyv1.ScheduleTenantDeletionRequest]) (*connect.Response[tenancyv1.ScheduleTenantDeletionResponse], error) {
	confirm := strings.TrimSpace(req.Msg.GetConfirmSlug())
	if confirm == "" {
		return nil, rpcerr.InvalidField("confirm_slug", "type the organization's slug to confirm")
	}
	var out store.Tenant
	changed := false
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := owner(ctx, tx); err != nil {
			return err
		}
		t, err := tx.LockTenant(ctx, caller(ctx).TenantID)
		if err != nil {
			return err
		}
		if !strings.EqualFold(confirm, t.Slug) {
			return rpcerr.InvalidField("confirm_slug", "does not match this organization's slug")
		}
		switch t.Status {
		case store.StatusDeleting:
			out = t // already scheduled: nothing to do
			return nil
		case store.StatusActive:
		default:
			return rpcerr.FailedPrecondition("the organization is %s; only an active organization can be deleted", t.Status)
		}
		purge := time.Now().Add(s.DeleteGrace)
		if out, err = tx.SetStatus(ctx, t.ID, store.StatusDeleting, ownerDeletion+caller(ctx).Actor(), &purge); err != nil {
			return err
		}
		changed = true
		return audit(ctx, tx, "tenant.delete", t.ID, "tenant:"+t.Slug, map[string]any{
			"purge_time": purge.UTC(), "previous_status": t.Status, "by": "owner",
		})
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.Notify.TenantChanged(ctx, notify.Change{TenantID: out.ID, Slug: out.Slug, Status: string(out.Status)})
	}
	return connect.NewResponse(&tenancyv1.ScheduleTenantDeletionResponse{Tenant: tenantProto(out)}), nil
}

func (s *TenantService) CancelTenantDeletion(ctx context.Context, _ *connect.Request[tenancyv1.CancelTenantDeletionRequest]) (*connect.Response[tenancyv1.CancelTenantDeletionResponse], error) {
	var out store.Tenant
	changed := false
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := owner(ctx, tx); err != nil {
			return err
		}
		t, err := tx.LockTenant(ctx, caller(ctx).TenantID)
		if err != nil {
			return err
		}
		switch {
		case t.Status == store.StatusActive:
			out = t // nothing scheduled
			return nil
		case t.Status != store.StatusDeleting:
			return rpcerr.FailedPrecondition("the organization is %s; there is no deletion to cancel", t.Status)
		case !strings.HasPrefix(t.StatusReason, ownerDeletion):
			return rpcerr.FailedPrecondition("the platform operator deleted this organization; ask them to restore it")
		case !reopenable(t, time.Now()):
			return rpcerr.FailedPrecondition("the grace period is over; the organization's data is being removed")
		}
		if out, err = tx.SetStatus(ctx, t.ID, store.StatusActive, "", nil); err != nil {
			return err
		}
		changed = true
		return audit(ctx, tx, "tenant.restore", t.ID, "tenant:"+t.Slug, map[string]any{
			"purge_time": t.PurgeAt.UTC(), "by": "owner",
		})
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.Notify.TenantChanged(ctx, notify.Change{TenantID: out.ID, Slug: out.Slug, Status: string(out.Status)})
	}
	return connect.NewResponse(&tenancyv1.CancelTenantDeletionResponse{Tenant: tenantProto(out)}), nil
}
