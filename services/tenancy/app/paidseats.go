package app

import (
	"context"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// paidSeats is api.Deps.PaidSeats over billing's CheckSeat, or nil without a BillingURL.
// Billing unreachable refuses the invitation (Unavailable, retryable) rather than letting a
// tenant past the seats it paid for.
func (a *App) paidSeats(signer *authn.InternalSigner) func(ctx context.Context, tenantID string, membersAfter int64) error {
	if a.cfg.BillingURL == "" {
		return nil
	}
	client := billingv1connect.NewBillingInternalServiceClient(a.cfg.HTTPClient, a.cfg.BillingURL,
		connect.WithInterceptors(append(append([]connect.Interceptor{}, a.cfg.Interceptors...),
			guard.NewCallerInterceptor(signer, "tenancy"))...))
	return func(ctx context.Context, tenantID string, membersAfter int64) error {
		res, err := client.CheckSeat(ctx, connect.NewRequest(&billingv1.CheckSeatRequest{TenantId: tenantID, MembersAfter: membersAfter}))
		if err != nil {
			return rpcerr.Unavailable("cannot check the paid seats").WithCause(err)
		}
		if !res.Msg.GetAllowed() {
			return rpcerr.ResourceExhausted(0, "%s", res.Msg.GetReason())
		}
		return nil
	}
}
