package app_test

import (
	"context"
	"testing"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// Bad input to every BillingService write and list: InvalidArgument naming the field, and
// nothing sent to Stripe (billingtest.Fake stands in for it) or stored.
func TestBillingBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	tenant := "0tenantbadinputfffff"
	owner := h.billingAs(admin(tenant, authn.RoleOwner))

	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"checkout negative seats", func() error {
			_, err := owner.CreateCheckoutSession(ctx, connect.NewRequest(&billingv1.CreateCheckoutSessionRequest{Plan: "team", Seats: -1}))
			return err
		}, "seats"},
		{"checkout too many seats", func() error {
			_, err := owner.CreateCheckoutSession(ctx, connect.NewRequest(&billingv1.CreateCheckoutSessionRequest{Plan: "team", Seats: 10_001}))
			return err
		}, "seats"},
		{"change to an unknown plan", func() error {
			_, err := owner.ChangePlan(ctx, connect.NewRequest(&billingv1.ChangePlanRequest{Plan: "gold", Preview: true}))
			return err
		}, "plan"},
		{"change with negative seats", func() error {
			_, err := owner.ChangePlan(ctx, connect.NewRequest(&billingv1.ChangePlanRequest{Plan: "team", Seats: -5}))
			return err
		}, "seats"},
		{"invoices negative page size", func() error {
			_, err := owner.ListInvoices(ctx, connect.NewRequest(&billingv1.ListInvoicesRequest{PageSize: -1}))
			return err
		}, "page_size"},
		{"invoices forged page token", func() error {
			_, err := owner.ListInvoices(ctx, connect.NewRequest(&billingv1.ListInvoicesRequest{PageToken: "not a token!"}))
			return err
		}, "page_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("%v, want InvalidArgument", err)
			}
			found := false
			for _, v := range rpcerr.FieldViolations(err) {
				found = found || v.Field == c.field
			}
			if !found {
				t.Fatalf("violations %v do not name %q", rpcerr.FieldViolations(err), c.field)
			}
		})
	}
	if h.stripe.Customers != 0 || len(h.stripe.Updates) != 0 {
		t.Fatalf("bad input reached Stripe: %d customers, %d updates", h.stripe.Customers, len(h.stripe.Updates))
	}
}
