// Package locations groups `tenantctl catalog locations`: the Locations a tenant's catalog
// keeps in sync with Git and URLs.
package locations

import (
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationadd"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationdelete"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationget"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationlist"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationrefresh"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl catalog locations`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:   "locations",
		Short: "Register, inspect, refresh and remove the Git and URL sources of a catalog",
		Example: `  tenantctl catalog locations add --tenant demo https://github.com/acme/payments
  tenantctl catalog locations list --tenant demo`,
	})
	cmd.AddCommand(locationadd.NewCommand(inv), locationlist.NewCommand(inv), locationget.NewCommand(inv),
		locationdelete.NewCommand(inv), locationrefresh.NewCommand(inv))
	return cmd
}
