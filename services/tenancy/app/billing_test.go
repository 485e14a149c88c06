package app_test

import (
	"context"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"connectrpc.com/connect"
)

// Billing's two internal calls: the seat count, and a billing hold that suspends like an
// operator does but never lifts an operator's suspension.
func TestBillingDirectory(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	o := s.signUp("acme")
	dir := s.asService().Directory
	tid := o.tenant.GetId()

	count := func() int64 {
		t.Helper()
		res, err := dir.CountMembers(ctx, connect.NewRequest(&tenancyv1.CountMembersRequest{TenantId: tid}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetCount()
	}
	if n := count(); n != 1 {
		t.Fatalf("members = %d, want the owner only", n)
	}
	s.addMember(o, "bob@acme.test", tenancyv1.Role_ROLE_MEMBER)
	if n := count(); n != 2 {
		t.Fatalf("members = %d, want 2", n)
	}

	hold := func(on bool) tenancyv1.TenantStatus {
		t.Helper()
		res, err := dir.SetBillingHold(ctx, connect.NewRequest(&tenancyv1.SetBillingHoldRequest{TenantId: tid, Hold: on, Reason: "past due"}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetTenant().GetStatus()
	}
	for _, tc := range []struct {
		name string
		hold bool
		want tenancyv1.TenantStatus
	}{
		{"suspend", true, tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED},
		{"suspend again is a no-op", true, tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED},
		{"resume", false, tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE},
		{"resume again is a no-op", false, tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE},
	} {
		if got := hold(tc.hold); got != tc.want {
			t.Fatalf("%s: status %v, want %v", tc.name, got, tc.want)
		}
	}

	// An operator's suspension is not billing's to lift.
	op := s.asOperator().Operator
	if _, err := op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: tid, Reason: "abuse"})); err != nil {
		t.Fatal(err)
	}
	if got := hold(false); got != tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED {
		t.Fatalf("billing resume lifted an operator suspension: %v", got)
	}

	// Users never reach these, whatever the gateway does.
	_, err := o.as(s).Directory.SetBillingHold(ctx, connect.NewRequest(&tenancyv1.SetBillingHoldRequest{TenantId: tid}))
	wantCode(t, err, connect.CodePermissionDenied)
}
