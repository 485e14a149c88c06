// Package locationlist is `tenantctl catalog locations list`.
package locationlist

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
		Use:     "list --tenant SLUG",
		Short:   "List a tenant's Locations with their refresh status",
		Example: `  tenantctl catalog locations list --tenant demo -o json`,
		Args:    invocation.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug (required)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
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
	lc := client.Locations(t)
	var all []*catalogv1.Location
	req := &catalogv1.ListLocationsRequest{PageSize: 500}
	for {
		resp, err := lc.ListLocations(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		all = append(all, resp.Msg.GetLocations()...)
		if resp.Msg.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.Msg.GetNextPageToken()
	}
	if p.Format == output.JSON {
		return p.Proto(&catalogv1.ListLocationsResponse{Locations: all, TotalItems: int64(len(all))})
	}
	rows := make([][]string, len(all))
	for i, l := range all {
		rows[i] = locationview.Row(l)
	}
	return p.Table(locationview.Header, rows)
}
