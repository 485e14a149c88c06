// Package tenantget is `tenantctl tenants get`.
package tenantget

import (
	"context"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct{}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	return &cobra.Command{
		Use:   "get TENANT",
		Short: "Show one tenant, by slug or id",
		Example: `  tenantctl tenants get acme
  tenantctl tenants get acme -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
}

func run(ctx context.Context, inv *invocation.Invocation, _ *flags, tenant string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).LookupTenant(ctx, connect.NewRequest(&tenancyv1.LookupTenantRequest{Tenant: tenant}))
	if err != nil {
		return err
	}
	return tenantview.Print(p, resp.Msg.GetTenant())
}
