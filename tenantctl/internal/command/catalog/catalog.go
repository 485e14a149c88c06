// Package catalog groups the commands that move a tenant's catalog in and out.
package catalog

import (
	"atrium.dev/tenantctl/internal/command/catalog/catalogexport"
	"atrium.dev/tenantctl/internal/command/catalog/catalogimport"
	"atrium.dev/tenantctl/internal/command/catalog/locations"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl catalog`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:   "catalog",
		Short: "Import and export a tenant's software catalog (Backstage YAML)",
		Long: `Catalog commands act inside a tenant, so they need a tenant user's credential, not an
operator token: --token atr_pat_..., ATRIUM_TENANT_TOKEN, or the context's tenant_token
(make up stores one for the demo tenant).`,
		Example: `  tenantctl catalog import --tenant demo examples/catalog
  tenantctl catalog export --tenant demo > demo-catalog.yaml`,
	})
	cmd.AddCommand(catalogimport.NewCommand(inv), catalogexport.NewCommand(inv), locations.NewCommand(inv))
	return cmd
}
