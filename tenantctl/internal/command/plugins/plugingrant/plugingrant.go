// Package plugingrant is `tenantctl plugins grant`.
package plugingrant

import (
	"context"
	"fmt"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/snapshotview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"atrium.dev/tenantctl/internal/until"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type flags struct {
	tenant, plugin, until, reason string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "grant --tenant TENANT --plugin PLUGIN [--until WHEN]",
		Short: "Entitle a tenant to a plugin beyond its plan: a trial until a time, or an add-on (audited)",
		Long: `A grant entitles the tenant to the plugin; the tenant's admin then installs it (the Plugins
page). --until ends the grant: a duration from now (14d, 36h) or a time (2026-12-31,
2026-12-31T18:00:00Z); without it the grant does not end. When it ends the plugin is
uninstalled unless the plan includes it; its data and configuration are kept. Granting a
plugin again replaces the grant. The change is in the entitlements audit log with --reason.`,
		Example: `  tenantctl plugins grant --tenant acme --plugin insights --until 14d --reason "trial"
  tenantctl plugins grant --tenant acme --plugin scorecards -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	cmd.Flags().StringVar(&f.plugin, "plugin", "", "the plugin id (see tenantctl plugins list)")
	cmd.Flags().StringVar(&f.until, "until", "", "when the grant ends: a duration (14d, 36h) or a date/time; empty: never")
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
	endTime, err := until.Parse(f.until, time.Now())
	if err != nil {
		return invocation.Usage(fmt.Errorf("--until: %w", err))
	}
	req := &entv1.GrantPluginRequest{Tenant: f.tenant, Plugin: f.plugin, Reason: f.reason}
	if endTime != nil {
		req.ExpireTime = timestamppb.New(*endTime)
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Entitlements(target).GrantPlugin(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	g := resp.Msg.GetGrant()
	ends := "never"
	if g.GetExpireTime() != nil {
		ends = output.Time(g.GetExpireTime())
	}
	fmt.Fprintf(inv.Stdout, "granted %s to %s until %s\n", g.GetPlugin(), g.GetTenantId(), ends)
	return snapshotview.Print(p, resp.Msg.GetSnapshot(), nil)
}
