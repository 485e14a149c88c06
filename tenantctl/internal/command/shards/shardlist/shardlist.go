// Package shardlist is `tenantctl shards list`.
package shardlist

import (
	"context"
	"strconv"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
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
		Short:   "List shards with their tenant counts",
		Example: `  tenantctl shards list
  tenantctl shards list -o json`,
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
	resp, err := client.Operator(target).ListShards(ctx, connect.NewRequest(&tenancyv1.ListShardsRequest{}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	rows := make([][]string, 0, len(resp.Msg.GetShards()))
	for _, s := range resp.Msg.GetShards() {
		capacity := "-"
		if s.GetMaxTenants() > 0 {
			capacity = strconv.Itoa(int(s.GetMaxTenants()))
		}
		rows = append(rows, []string{s.GetName(), strconv.Itoa(int(s.GetTenantCount())), capacity, strconv.FormatBool(s.GetAcceptsTenants()), s.GetDsn(), output.Time(s.GetCreateTime())})
	}
	return p.Table([]string{"NAME", "TENANTS", "MAX", "ACCEPTS", "DSN", "CREATED"}, rows)
}
