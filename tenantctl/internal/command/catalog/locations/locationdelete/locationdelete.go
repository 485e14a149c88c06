// Package locationdelete is `tenantctl catalog locations delete`.
package locationdelete

import (
	"context"
	"errors"
	"fmt"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/tenantctl/internal/client"
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
		Use:   "delete --tenant SLUG ID",
		Short: "Unregister a Location (its entities stay, marked backstage.io/orphan)",
		Long: `Unregister a Location. As in Backstage, the entities it yielded are not deleted: they
are marked with the annotation backstage.io/orphan: "true". Needs an admin.`,
		Example: `  tenantctl catalog locations delete --tenant demo 0190c4c2-...`,
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
	resp, err := client.Locations(t).DeleteLocation(ctx, connect.NewRequest(&catalogv1.DeleteLocationRequest{Id: id}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	fmt.Fprintf(inv.Stdout, "deleted location %s; %d entities marked as orphans\n", id, len(resp.Msg.GetOrphaned()))
	return nil
}
