// Package tenants groups the commands that manage single tenants.
package tenants

import (
	"atrium.dev/tenantctl/internal/command/tenants/tenantcreate"
	"atrium.dev/tenantctl/internal/command/tenants/tenantdelete"
	"atrium.dev/tenantctl/internal/command/tenants/tenantexport"
	"atrium.dev/tenantctl/internal/command/tenants/tenantget"
	"atrium.dev/tenantctl/internal/command/tenants/tenantimport"
	"atrium.dev/tenantctl/internal/command/tenants/tenantlist"
	"atrium.dev/tenantctl/internal/command/tenants/tenantmove"
	"atrium.dev/tenantctl/internal/command/tenants/tenantmoves"
	"atrium.dev/tenantctl/internal/command/tenants/tenantresume"
	"atrium.dev/tenantctl/internal/command/tenants/tenantsuspend"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl tenants`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "tenants",
		Aliases: []string{"tenant"},
		Short:   "Create, list, inspect, suspend, resume, delete, move, export and import tenants",
		Example: `  tenantctl tenants list
  tenantctl tenants create acme --display-name "Acme Inc" --admin-email admin@acme.example`,
	})
	cmd.AddCommand(
		tenantcreate.NewCommand(inv),
		tenantlist.NewCommand(inv),
		tenantget.NewCommand(inv),
		tenantsuspend.NewCommand(inv),
		tenantresume.NewCommand(inv),
		tenantdelete.NewCommand(inv),
		tenantmove.NewCommand(inv),
		tenantmoves.NewCommand(inv),
		tenantexport.NewCommand(inv),
		tenantimport.NewCommand(inv),
	)
	return cmd
}
