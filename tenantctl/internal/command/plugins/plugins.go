// Package plugins groups the commands on the plugin registry and tenants' plugin grants.
package plugins

import (
	"atrium.dev/tenantctl/internal/command/plugins/plugingrant"
	"atrium.dev/tenantctl/internal/command/plugins/pluginlist"
	"atrium.dev/tenantctl/internal/command/plugins/pluginrevoke"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl plugins`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "plugins",
		Aliases: []string{"plugin"},
		Short:   "List plugins and a tenant's state of each; grant and revoke plugins beyond the plan",
		Example: `  tenantctl plugins list
  tenantctl plugins list --tenant acme
  tenantctl plugins grant --tenant acme --plugin insights --until 14d --reason "trial"
  tenantctl plugins revoke --tenant acme --plugin insights`,
	})
	cmd.AddCommand(pluginlist.NewCommand(inv), plugingrant.NewCommand(inv), pluginrevoke.NewCommand(inv))
	return cmd
}
