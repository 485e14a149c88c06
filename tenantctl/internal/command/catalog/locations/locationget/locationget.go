// Package locationget is `tenantctl catalog locations get`.
package locationget

import (
	"context"
	"errors"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	tenant string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "get --tenant SLUG ID",
		Short:   "Show a Location: last refresh, problems per entity, and the entities it yields",
		Example: `  tenantctl catalog locations get --tenant demo 0190c4c2-...`,
		Args:    invocation.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug (required)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, id string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.tenant == "" {
		return invocation.Usage(errors.New("--tenant is required"))
	}
	t, err := inv.TenantTarget(f.tenant)
	if err != nil {
		return err
	}
	resp, err := client.Locations(t).GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: id}))
	if err != nil {
		return err
	}
	return locationview.Print(p, resp.Msg.GetLocation(), resp.Msg.GetEntityRefs())
}
