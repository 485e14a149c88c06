// Package limits groups the commands on a tenant's limits.
package limits

import (
	"atrium.dev/tenantctl/internal/command/limits/limitset"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl limits`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "limits",
		Aliases: []string{"limit"},
		Short:   "Override one of a tenant's plan limits (seats, entities, request rate, events, retention)",
		Example: `  tenantctl limits set --tenant acme --name seats --value 50
  tenantctl limits set --tenant acme --name catalog_entities --clear`,
	})
	cmd.AddCommand(limitset.NewCommand(inv))
	return cmd
}
