// Package contexts groups the commands on the config file's named contexts.
package contexts

import (
	"atrium.dev/tenantctl/internal/command/contexts/contextlist"
	"atrium.dev/tenantctl/internal/command/contexts/contextset"
	"atrium.dev/tenantctl/internal/command/contexts/contextuse"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl context`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "context",
		Aliases: []string{"contexts"},
		Short:   "Manage named contexts: a gateway URL and the credentials to use there",
		Long: `Contexts live in the config file: $ATRIUM_CONFIG, else
$XDG_CONFIG_HOME/atrium/tenantctl.yaml, else ~/.config/atrium/tenantctl.yaml.
make up writes a context "local" for the stack it starts.`,
		Example: `  tenantctl context list
  tenantctl context set prod --url https://atrium.example.com --operator-token atr_op_...
  tenantctl context use prod`,
	})
	cmd.AddCommand(contextlist.NewCommand(inv), contextuse.NewCommand(inv), contextset.NewCommand(inv))
	return cmd
}
