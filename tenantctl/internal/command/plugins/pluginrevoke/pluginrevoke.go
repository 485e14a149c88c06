// Package pluginrevoke is `tenantctl plugins revoke`.
package pluginrevoke

import (
	"context"
	"fmt"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/snapshotview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct{ tenant, plugin, reason string }

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "revoke --tenant TENANT --plugin PLUGIN",
		Short: "Remove a tenant's grant of a plugin; uninstalls it (data kept) unless the plan includes it (audited)",
		Example: `  tenantctl plugins revoke --tenant acme --plugin insights --reason "trial declined"
  tenantctl plugins revoke --tenant acme --plugin insights -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	cmd.Flags().StringVar(&f.plugin, "plugin", "", "the plugin id")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, kept in the audit log")
	_ = cmd.MarkFlagRequired("tenant")
	_ = cmd.MarkFlagRequired("plugin")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Entitlements(target).RevokeGrant(ctx, connect.NewRequest(&entv1.RevokeGrantRequest{Tenant: f.tenant, Plugin: f.plugin, Reason: f.reason}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	fmt.Fprintf(inv.Stdout, "revoked the grant of %s\n", f.plugin)
	return snapshotview.Print(p, resp.Msg.GetSnapshot(), resp.Msg.GetUninstalledPlugins())
}
