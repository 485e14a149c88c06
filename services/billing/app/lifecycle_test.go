package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/services/billing/internal/billingtest"
	"atrium.dev/services/billing/internal/store"
	"connectrpc.com/connect"
)

// The dunning timeline with an injectable clock: active -> payment fails (past_due, grace of
// 7 days, days left counting down) -> grace over (suspended through tenancy's billing hold)
// -> invoice paid (active, hold lifted). Stripe is billingtest.Fake; events are signed.
func TestDunningTimeline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	tenant := "0tenantddddddddddddd"
	start := time.Now()
	sub := billingtest.Sub{ID: "sub_d", Customer: "cus_d", Status: "active", TenantID: tenant, Plan: "team", Seats: 2, Created: start.Unix()}
	h.stripe.Put(sub)
	if s := h.deliver(subEvent("evt_d1", "customer.subscription.created", start, sub)); s != 200 {
		t.Fatal(s)
	}
	get := func() *billingv1.Billing {
		t.Helper()
		res, err := h.billingAs(admin(tenant, authn.RoleOwner)).GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetBilling()
	}

	sub.Status = "past_due"
	h.stripe.Put(sub)
	if s := h.deliver(invoiceEvent("evt_d2", "invoice.payment_failed", start.Add(time.Second), sub)); s != 200 {
		t.Fatal(s)
	}
	steps := []struct {
		name     string
		advance  time.Duration
		state    billingv1.BillingState
		daysLeft int32
		holds    []bool
	}{
		{"payment failed", 0, billingv1.BillingState_BILLING_STATE_PAST_DUE, 7, nil},
		{"3 days later", 3 * 24 * time.Hour, billingv1.BillingState_BILLING_STATE_PAST_DUE, 4, nil},
		{"last hour of grace", 4*24*time.Hour - time.Hour, billingv1.BillingState_BILLING_STATE_PAST_DUE, 1, nil},
		{"grace over", time.Hour, billingv1.BillingState_BILLING_STATE_SUSPENDED, 0, []bool{true}},
		{"a day later, still unpaid", 24 * time.Hour, billingv1.BillingState_BILLING_STATE_SUSPENDED, 0, []bool{true}},
	}
	for _, s := range steps {
		h.clock.Add(s.advance)
		if _, err := h.app.Engine().Dunning(ctx); err != nil {
			t.Fatal(err)
		}
		b := get()
		if b.GetState() != s.state || b.GetGraceDaysLeft() != s.daysLeft || b.GetPaymentState() != "failed" {
			t.Fatalf("%s: state %v, days left %d, payment %s; want %v, %d", s.name, b.GetState(), b.GetGraceDaysLeft(), b.GetPaymentState(), s.state, s.daysLeft)
		}
		if got := h.tenancy.holdCalls(); !slices.Equal(got, s.holds) {
			t.Fatalf("%s: holds %v, want %v", s.name, got, s.holds)
		}
	}
	// A retried payment_failed while suspended does not reset the grace period.
	if s := h.deliver(invoiceEvent("evt_d3", "invoice.payment_failed", start.Add(2*time.Second), sub)); s != 200 || h.sub(tenant).State != store.StateSuspended {
		t.Fatalf("second failure: %d %s", s, h.sub(tenant).State)
	}

	sub.Status = "active"
	h.stripe.Put(sub)
	if s := h.deliver(invoiceEvent("evt_d4", "invoice.paid", start.Add(3*time.Second), sub)); s != 200 {
		t.Fatal(s)
	}
	b := get()
	if b.GetState() != billingv1.BillingState_BILLING_STATE_ACTIVE || b.GetPaymentState() != "ok" || b.GetGraceEndTime() != nil {
		t.Fatalf("after payment: %v", b)
	}
	if got := h.tenancy.holdCalls(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("holds %v, want suspend then resume", got)
	}
	var trail []string
	for _, a := range h.audit(tenant) {
		if a.Action == "billing.state" {
			trail = append(trail, a.From+">"+a.To+"@"+a.Actor)
		}
	}
	want := []string{"none>active@stripe:evt_d1", "active>past_due@stripe:evt_d2", "past_due>suspended@dunning", "suspended>active@stripe:evt_d4"}
	if !slices.Equal(trail, want) {
		t.Fatalf("audited transitions %v, want %v", trail, want)
	}
	// The admin sees them too.
	if len(b.GetRecentEvents()) == 0 || b.GetRecentEvents()[0].GetAction() == "" {
		t.Fatal("GetBilling shows no transitions")
	}
}

// Seats follow the member count, debounced: a burst of member changes is one Stripe update
// after the debounce window, with the configured proration. Stripe is billingtest.Fake.
func TestSeatSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	tenant := "0tenanteeeeeeeeeeeee"
	now := time.Now()
	sub := billingtest.Sub{ID: "sub_s", Customer: "cus_s", Status: "active", TenantID: tenant, Plan: "team", Seats: 2, Created: now.Unix()}
	h.stripe.Put(sub)
	if s := h.deliver(subEvent("evt_s1", "customer.subscription.created", now, sub)); s != 200 {
		t.Fatal(s)
	}
	internal := h.internalAs(authn.Identity{Service: "tenancy"})
	for i := 0; i < 3; i++ {
		h.tenancy.setMembers(tenant, int64(3+i))
		if _, err := internal.MembersChanged(ctx, connect.NewRequest(&billingv1.MembersChangedRequest{TenantId: tenant})); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Second)
	}
	if n, err := h.app.Engine().SyncSeats(ctx); err != nil || n != 0 || len(h.stripe.Updates) != 0 {
		t.Fatalf("inside the debounce window: synced %d (%v), updates %v", n, err, h.stripe.Updates)
	}
	h.clock.Add(5 * time.Second)
	if n, err := h.app.Engine().SyncSeats(ctx); err != nil || n != 1 {
		t.Fatalf("after the window: synced %d, %v", n, err)
	}
	if want := []billingtest.Update{{ID: "sub_s", Quantity: 5, Proration: "create_prorations"}}; !slices.Equal(h.stripe.Updates, want) {
		t.Fatalf("Stripe updates %v, want %v", h.stripe.Updates, want)
	}
	if got := h.sub(tenant); got.SeatsPaid != 5 || got.SeatsDirtyAt != nil {
		t.Fatalf("after sync: seats %d, dirty %v", got.SeatsPaid, got.SeatsDirtyAt)
	}
	// Nothing left to do: no second update.
	h.clock.Add(time.Minute)
	if n, _ := h.app.Engine().SyncSeats(ctx); n != 0 || len(h.stripe.Updates) != 1 {
		t.Fatalf("second round synced %d", n)
	}

	// Inviting past the paid seats: team adds a seat (the sync follows), enterprise refuses
	// naming the limit.
	res, err := internal.CheckSeat(ctx, connect.NewRequest(&billingv1.CheckSeatRequest{TenantId: tenant, MembersAfter: 6}))
	if err != nil || !res.Msg.GetAllowed() || !res.Msg.GetSeatAdded() {
		t.Fatalf("team past seats: %v, %v", res, err)
	}
}

// Checkout for a tenant that already has a subscription is refused; members and other
// callers are denied; the Checkout URL comes from Stripe. Stripe is billingtest.Fake.
func TestCheckoutAndAccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	tenant := "0tenantfffffffffffff"
	owner := h.billingAs(admin(tenant, authn.RoleOwner))

	_, err := h.billingAs(admin(tenant, authn.RoleMember)).GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("member GetBilling: %v, want PermissionDenied", err)
	}
	_, err = h.billingAs(admin(tenant, authn.RoleMember)).CreateCheckoutSession(ctx, connect.NewRequest(&billingv1.CreateCheckoutSessionRequest{Plan: "team"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("member checkout: %v, want PermissionDenied", err)
	}
	_, err = h.internalAs(admin(tenant, authn.RoleOwner)).CheckSeat(ctx, connect.NewRequest(&billingv1.CheckSeatRequest{TenantId: tenant}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("user calling internal: %v, want PermissionDenied", err)
	}
	for _, plan := range []string{"", "free", "gold"} {
		_, err := owner.CreateCheckoutSession(ctx, connect.NewRequest(&billingv1.CreateCheckoutSessionRequest{Plan: plan}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("checkout plan %q: %v, want InvalidArgument", plan, err)
		}
	}
	_, err = owner.CreatePortalSession(ctx, connect.NewRequest(&billingv1.CreatePortalSessionRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("portal without customer: %v", err)
	}

	now := time.Now()
	sub := billingtest.Sub{ID: "sub_c", Customer: "cus_" + tenant, Status: "active", TenantID: tenant, Plan: "team", Seats: 1, Created: now.Unix()}
	h.stripe.Put(sub)
	if s := h.deliver(billingtest.Event("evt_c1", "checkout.session.completed", now, map[string]any{"id": "cs_1", "object": "checkout.session",
		"client_reference_id": tenant, "customer": sub.Customer, "subscription": sub.ID, "mode": "subscription"})); s != 200 {
		t.Fatal(s)
	}
	_, err = owner.CreateCheckoutSession(ctx, connect.NewRequest(&billingv1.CreateCheckoutSessionRequest{Plan: "enterprise"}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("checkout with an active subscription: %v, want FailedPrecondition", err)
	}
	prev, err := owner.ChangePlan(ctx, connect.NewRequest(&billingv1.ChangePlanRequest{Plan: "enterprise", Seats: 4, Preview: true}))
	if err != nil || prev.Msg.GetApplied() || prev.Msg.GetProration().GetAmountDue() != 1200 {
		t.Fatalf("preview: %v, %v", prev, err)
	}
	if len(h.stripe.Updates) != 0 {
		t.Fatal("a preview changed the subscription")
	}
}
