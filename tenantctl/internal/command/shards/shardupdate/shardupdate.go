// Package shardupdate is `tenantctl shards update`.
package shardupdate

import (
	"context"
	"errors"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/shards/shardadd"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	maxTenants int32
	accepts    bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "update NAME [--max-tenants N] [--accepts-tenants=true|false]",
		Short: "Set a shard's tenant capacity, or whether it takes new tenants",
		Long: `Placement (sign-up, tenants create, tenants move without --to) puts a tenant only on a
shard that accepts tenants and holds fewer live tenants than its capacity; a shard asked for
by name is refused when full. --max-tenants 0 removes the limit.`,
		Example: `  tenantctl shards update main --max-tenants 5000
  tenantctl shards update eu-1 --accepts-tenants=false`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &tenancyv1.UpdateShardRequest{Name: args[0]}
			if cmd.Flags().Changed("max-tenants") {
				req.MaxTenants = &f.maxTenants
			}
			if cmd.Flags().Changed("accepts-tenants") {
				req.AcceptsTenants = &f.accepts
			}
			return run(cmd.Context(), inv, req)
		},
	}
	cmd.Flags().Int32Var(&f.maxTenants, "max-tenants", 0, "most live tenants placement puts on the shard (0: no limit)")
	cmd.Flags().BoolVar(&f.accepts, "accepts-tenants", true, "whether new tenants may be placed on the shard")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, req *tenancyv1.UpdateShardRequest) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if req.MaxTenants == nil && req.AcceptsTenants == nil {
		return invocation.Usage(errors.New("nothing to change: pass --max-tenants or --accepts-tenants"))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).UpdateShard(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	return shardadd.Print(p, resp.Msg.GetShard())
}
