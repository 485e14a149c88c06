package api

import (
	"context"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
)

// BillingHoldPrefix starts the status reason of a billing suspension, so resuming for billing
// never lifts a suspension an operator made.
const BillingHoldPrefix = "billing: "

// CountMembers gives billing the seat count.
func (s *DirectoryService) CountMembers(ctx context.Context, req *connect.Request[tenancyv1.CountMembersRequest]) (*connect.Response[tenancyv1.CountMembersResponse], error) {
	id := req.Msg.GetTenantId()
	if id == "" {
		return nil, rpcerr.InvalidField("tenant_id", "required")
	}
	n, err := s.Store.CountMembers(ctx, id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.CountMembersResponse{Count: n}), nil
}

// SetBillingHold suspends or resumes a tenant for billing through the same audited transition
// as an operator's suspension (read-only: the gateway lets only reads through).
func (s *DirectoryService) SetBillingHold(ctx context.Context, req *connect.Request[tenancyv1.SetBillingHoldRequest]) (*connect.Response[tenancyv1.SetBillingHoldResponse], error) {
	id := req.Msg.GetTenantId()
	if id == "" || !store.IsID(id) {
		return nil, rpcerr.InvalidField("tenant_id", "an id is required")
	}
	reason := strings.TrimSpace(req.Msg.GetReason())
	if len(reason) > maxReasonLen-len(BillingHoldPrefix) {
		return nil, rpcerr.InvalidField("reason", "must be at most 490 characters")
	}
	op := &OperatorService{s.Deps}
	var t store.Tenant
	var err error
	if req.Msg.GetHold() {
		t, err = op.transition(ctx, id, "tenant.suspend", func(tx *store.Store, t store.Tenant) (store.Tenant, bool, any, error) {
			if t.Status != store.StatusActive {
				// Already suspended (by anyone) or not live: nothing for billing to do.
				return t, false, nil, nil
			}
			out, err := tx.SetStatus(ctx, t.ID, store.StatusSuspended, BillingHoldPrefix+reason, nil)
			return out, true, map[string]string{"reason": BillingHoldPrefix + reason}, err
		})
	} else {
		t, err = op.transition(ctx, id, "tenant.resume", func(tx *store.Store, t store.Tenant) (store.Tenant, bool, any, error) {
			if t.Status != store.StatusSuspended || !strings.HasPrefix(t.StatusReason, BillingHoldPrefix) {
				return t, false, nil, nil
			}
			out, err := tx.SetStatus(ctx, t.ID, store.StatusActive, "", nil)
			return out, true, map[string]string{"previous_reason": t.StatusReason}, err
		})
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.SetBillingHoldResponse{Tenant: tenantProto(t)}), nil
}
