// Package operators groups the commands on operator credentials: named, expiring secrets that
// let a person or a job run tenantctl against the fleet.
package operators

import (
	"atrium.dev/tenantctl/internal/command/operators/operatorcreate"
	"atrium.dev/tenantctl/internal/command/operators/operatorlist"
	"atrium.dev/tenantctl/internal/command/operators/operatorrevoke"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl operators`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "operators",
		Aliases: []string{"operator"},
		Short:   "List, create and revoke operator credentials (each change audited)",
		Example: `  tenantctl operators list
  tenantctl operators create alice-laptop --operator alice --ttl-days 30
  tenantctl operators revoke alice-laptop`,
	})
	cmd.AddCommand(operatorlist.NewCommand(inv), operatorcreate.NewCommand(inv), operatorrevoke.NewCommand(inv))
	return cmd
}
