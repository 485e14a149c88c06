// Package planlist is `tenantctl plans list`.
package planlist

import (
	"context"
	"strconv"
	"strings"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/snapshotview"
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
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the plans: the plugins each includes and its limits",
		Example: `  tenantctl plans list
  tenantctl plans list -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
}

func run(ctx context.Context, inv *invocation.Invocation, _ *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Entitlements(target).ListPlans(ctx, connect.NewRequest(&entv1.ListPlansRequest{}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(&entv1.ListPlansResponse{Plans: resp.Msg.GetPlans()})
	}
	rows := make([][]string, 0, len(resp.Msg.GetPlans()))
	for _, pl := range resp.Msg.GetPlans() {
		rows = append(rows, []string{pl.GetId(), strconv.Itoa(int(pl.GetRank())), strings.Join(pl.GetIncludedPlugins(), ", "), snapshotview.Limits(pl.GetLimits())})
	}
	return p.Table([]string{"PLAN", "RANK", "PLUGINS", "LIMITS"}, rows)
}
