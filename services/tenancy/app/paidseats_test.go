package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
)

// fakeBilling answers CheckSeat with paid seats: allowed up to paid, refused past them.
type fakeBilling struct {
	billingv1connect.UnimplementedBillingInternalServiceHandler
	paid int64
	mu   sync.Mutex
	seen []*billingv1.CheckSeatRequest
}

func (f *fakeBilling) CheckSeat(_ context.Context, req *connect.Request[billingv1.CheckSeatRequest]) (*connect.Response[billingv1.CheckSeatResponse], error) {
	f.mu.Lock()
	f.seen = append(f.seen, req.Msg)
	f.mu.Unlock()
	out := &billingv1.CheckSeatResponse{SeatsPaid: f.paid, Allowed: req.Msg.GetMembersAfter() <= f.paid}
	if !out.Allowed {
		out.Reason = `all 2 paid seats are taken (limit "seats"): add seats on the Billing page`
	}
	return connect.NewResponse(out), nil
}

// Invitations past the paid seats ask billing (members plus pending invitations plus the new
// one) and are refused naming the limit, creating nothing; billing unreachable refuses too
// (Unavailable) rather than letting a tenant past what it paid for.
func TestInvitePastPaidSeats(t *testing.T) {
	t.Parallel()
	fb := &fakeBilling{paid: 2}
	mux := http.NewServeMux()
	mux.Handle(billingv1connect.NewBillingInternalServiceHandler(fb))
	srv := newH2CServer(t, mux)
	s := newStack(t, func(c *app.Config) { c.BillingURL = srv.URL })
	o := s.signUp("acme")
	ctx := context.Background()
	invite := func(email string) error {
		_, err := o.as(s).Members.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: email, Role: tenancyv1.Role_ROLE_MEMBER}))
		return err
	}
	pending := func() int {
		res, err := o.as(s).Members.ListInvitations(ctx, connect.NewRequest(&tenancyv1.ListInvitationsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Msg.GetInvitations())
	}

	if err := invite("one@example.com"); err != nil {
		t.Fatalf("within the paid seats: %v", err)
	}
	err := invite("two@example.com")
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), `limit "seats"`) {
		t.Fatalf("past the paid seats: %v; want ResourceExhausted naming the limit", err)
	}
	if n := pending(); n != 1 {
		t.Fatalf("%d pending invitations after the refusal, want 1", n)
	}
	fb.mu.Lock()
	seen := fb.seen
	fb.mu.Unlock()
	if len(seen) != 2 || seen[0].GetTenantId() != o.tenant.GetId() || seen[0].GetMembersAfter() != 2 || seen[1].GetMembersAfter() != 3 {
		t.Fatalf("CheckSeat calls %v; want the tenant with 2 then 3 members after", seen)
	}

	srv.Close()
	if err := invite("three@example.com"); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("billing down: %v; want Unavailable", err)
	}
	if n := pending(); n != 1 {
		t.Fatalf("%d pending invitations with billing down, want 1", n)
	}
}
