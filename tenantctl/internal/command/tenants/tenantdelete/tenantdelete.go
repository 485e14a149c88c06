// Package tenantdelete is `tenantctl tenants delete`.
package tenantdelete

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	now bool
	yes bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "delete TENANT",
		Short: "Delete a tenant: soft (dropped after the grace period) or --now",
		Long: `Delete a tenant. By default the tenant becomes inaccessible at once (status deleting)
and its schema and role are dropped after the grace period; --now drops them immediately and
cannot be undone. On a terminal you are asked to type the tenant to confirm; elsewhere --yes
is required.`,
		Example: `  tenantctl tenants delete acme
  tenantctl tenants delete acme --now --yes`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().BoolVar(&f.now, "now", false, "drop the schema and role now instead of after the grace period")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
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
	if !f.yes {
		if err := confirm(inv, f, tenant); err != nil {
			return err
		}
	}
	resp, err := client.Operator(target).DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: tenant, Now: f.now}))
	if err != nil {
		return err
	}
	return tenantview.Print(p, resp.Msg.GetTenant())
}

func confirm(inv *invocation.Invocation, f *flags, tenant string) error {
	if !inv.Interactive {
		return invocation.Usage(errors.New("refusing to delete without confirmation: pass --yes"))
	}
	what := "soft-delete (dropped after the grace period)"
	if f.now {
		what = "DROP NOW, with all its data"
	}
	fmt.Fprintf(inv.Stderr, "%s tenant %s? Type its name to confirm: ", what, tenant)
	line, _ := bufio.NewReader(inv.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != tenant {
		return errors.New("not confirmed; nothing deleted")
	}
	return nil
}
