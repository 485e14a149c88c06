// Package plans groups the commands on plans: what each includes, and a tenant's plan.
package plans

import (
	"atrium.dev/tenantctl/internal/command/plans/planlist"
	"atrium.dev/tenantctl/internal/command/plans/planset"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl plans`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "plans",
		Aliases: []string{"plan"},
		Short:   "List the plans with their plugins and limits; set a tenant's plan",
		Example: `  tenantctl plans list
  tenantctl plans set --tenant acme --plan team --reason "signed the order form"`,
	})
	cmd.AddCommand(planlist.NewCommand(inv), planset.NewCommand(inv))
	return cmd
}
