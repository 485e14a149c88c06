// Package billing groups the commands on tenants' Stripe billing.
package billing

import (
	"atrium.dev/tenantctl/internal/command/billing/billingevents"
	"atrium.dev/tenantctl/internal/command/billing/billingshow"
	"atrium.dev/tenantctl/internal/command/billing/billingsync"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl billing`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:   "billing",
		Short: "Show a tenant's billing, re-read it from Stripe, list the webhook ledger",
		Example: `  tenantctl billing show --tenant acme
  tenantctl billing sync --all
  tenantctl billing events --tenant acme -o json`,
	})
	cmd.AddCommand(billingshow.NewCommand(inv), billingsync.NewCommand(inv), billingevents.NewCommand(inv))
	return cmd
}
