// Package shardadd is `tenantctl shards add`.
package shardadd

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

type flags struct{ maxTenants int32 }

// DefaultMaxTenants is a new shard's capacity unless --max-tenants says otherwise: the
// capacity tenancy gives the shards of its configuration (migration 004_shard_capacity), below
// the fleet sizes at which one Postgres cluster degrades (docs/ARCHITECTURE.md, "Data").
const DefaultMaxTenants = 5000

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "add NAME DSN",
		Short: "Register a Postgres cluster as a shard new tenants can be placed on",
		Long: `Register a shard. The tenancy service connects to the DSN before accepting it; the
DSN is stored and shown with its password removed. The shard takes at most 5,000 live
tenants unless --max-tenants says otherwise (0: no limit); the DSN may size the services'
pools to it (pool_max_conns=N, pool_max_conn_lifetime=30m).`,
		Example: `  tenantctl shards add eu-2 "postgres://atrium:secret@pg-eu-2:5432/atrium?sslmode=require"`,
		Args:    invocation.ExactArgs(2),
		RunE:    func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0], args[1]) },
	}
	cmd.Flags().Int32Var(&f.maxTenants, "max-tenants", DefaultMaxTenants, "most live tenants placement puts on the shard (0: no limit)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, name, dsn string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: name, Dsn: dsn, MaxTenants: f.maxTenants}))
	if err != nil {
		return err
	}
	return Print(p, resp.Msg.GetShard())
}

// Print shows one shard (shared with shards update).
func Print(p *output.Printer, s *tenancyv1.Shard) error {
	if p.Format == output.JSON {
		return p.Proto(s)
	}
	return p.Fields([][2]string{
		{"name", s.GetName()},
		{"dsn", s.GetDsn()},
		{"tenants", strconv.Itoa(int(s.GetTenantCount()))},
		{"accepts", strconv.FormatBool(s.GetAcceptsTenants())},
		{"max tenants", maxTenants(s.GetMaxTenants())},
	})
}

func maxTenants(n int32) string {
	if n == 0 {
		return "no limit"
	}
	return strconv.Itoa(int(n))
}
