// Package tenantsuspend is `tenantctl tenants suspend`.
package tenantsuspend

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

type flags struct{ reason string }

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "suspend TENANT",
		Short:   "Make a tenant read-only: reads pass, writes get FailedPrecondition",
		Example: `  tenantctl tenants suspend acme --reason "invoice overdue"`,
		Args:    invocation.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, kept on the tenant and in the audit log")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, tenant string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: tenant, Reason: f.reason}))
	if err != nil {
		return err
	}
	return tenantview.Print(p, resp.Msg.GetTenant())
}
