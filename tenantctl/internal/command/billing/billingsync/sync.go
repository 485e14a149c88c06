// Package billingsync is `tenantctl billing sync`.
package billingsync

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

type flags struct {
	tenant string
	all    bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Re-read subscriptions from Stripe and repair the stored state (audited)",
		Long: "sync does what billing's reconciler does periodically: for one tenant or every tenant with a\n" +
			"Stripe customer, read the subscription from Stripe, apply it, and deliver the plan and\n" +
			"suspension to entitlements and tenancy. It repairs missed webhooks; it is safe to re-run.",
		Example: `  tenantctl billing sync --tenant acme
  tenantctl billing sync --all -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	cmd.Flags().BoolVar(&f.all, "all", false, "every tenant with a Stripe customer")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	if (f.tenant == "") == !f.all {
		return invocation.Usage(fmt.Errorf("give --tenant or --all"))
	}
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Billing(target).SyncBilling(ctx, connect.NewRequest(&billingv1.SyncBillingRequest{Tenant: f.tenant, All: f.all}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	rows := make([][]string, 0, len(resp.Msg.GetResults()))
	failed := 0
	for _, r := range resp.Msg.GetResults() {
		if r.GetError() != "" {
			failed++
		}
		rows = append(rows, []string{r.GetTenantId(), fmt.Sprint(r.GetChanged()), output.Or(strings.Join(r.GetRepairs(), "; ")), output.Or(r.GetError())})
	}
	if err := p.Table([]string{"TENANT", "CHANGED", "REPAIRS", "ERROR"}, rows); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tenants failed to sync", failed, len(rows))
	}
	return nil
}
