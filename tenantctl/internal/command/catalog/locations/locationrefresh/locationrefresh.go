// Package locationrefresh is `tenantctl catalog locations refresh`.
package locationrefresh

import (
	"context"
	"errors"
	"fmt"

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
		Use:     "refresh --tenant SLUG ID",
		Short:   "Fetch a Location now and show what changed",
		Example: `  tenantctl catalog locations refresh --tenant demo 0190c4c2-... -o json`,
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
	resp, err := client.Locations(t).RefreshLocation(ctx, connect.NewRequest(&catalogv1.RefreshLocationRequest{Id: id}))
	if err != nil {
		return err
	}
	m := resp.Msg
	if p.Format == output.JSON {
		return p.Proto(m)
	}
	fmt.Fprintf(inv.Stdout, "created %d, updated %d, unchanged %d, orphaned %d\n", m.GetCreated(), m.GetUpdated(), m.GetUnchanged(), len(m.GetOrphaned()))
	return locationview.Print(p, m.GetLocation(), nil)
}
