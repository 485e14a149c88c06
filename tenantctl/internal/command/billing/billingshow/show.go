// Package billingshow is `tenantctl billing show`.
package billingshow

import (
	"context"
	"fmt"
	"strings"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct{ tenant string }

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show a tenant's plan, subscription state, seats and payment state",
		Example: `  tenantctl billing show --tenant acme
  tenantctl billing show --tenant acme -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id; required)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	if f.tenant == "" {
		return invocation.Usage(fmt.Errorf("--tenant is required"))
	}
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Billing(target).GetTenantBilling(ctx, connect.NewRequest(&billingv1.GetTenantBillingRequest{Tenant: f.tenant}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	b := resp.Msg.GetBilling()
	state := strings.ToLower(strings.TrimPrefix(b.GetState().String(), "BILLING_STATE_"))
	kv := [][2]string{
		{"TENANT", resp.Msg.GetTenantId()},
		{"PLAN", b.GetPlan()},
		{"STATE", state},
		{"STRIPE STATUS", output.Or(b.GetStripeStatus())},
		{"SEATS", fmt.Sprintf("%d used / %d paid", b.GetSeatsUsed(), b.GetSeatsPaid())},
		{"PAYMENT", b.GetPaymentState()},
		{"PERIOD END", output.Time(b.GetCurrentPeriodEnd())},
		{"CUSTOMER", output.Or(resp.Msg.GetStripeCustomerId())},
		{"SUBSCRIPTION", output.Or(resp.Msg.GetStripeSubscriptionId())},
	}
	if b.GetGraceEndTime() != nil {
		kv = append(kv, [2]string{"GRACE ENDS", fmt.Sprintf("%s (%d days left)", output.Time(b.GetGraceEndTime()), b.GetGraceDaysLeft())})
	}
	return p.Fields(kv)
}
