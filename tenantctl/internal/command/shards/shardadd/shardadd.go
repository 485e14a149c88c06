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

type flags struct{}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	return &cobra.Command{
		Use:   "add NAME DSN",
		Short: "Register a Postgres cluster as a shard new tenants can be placed on",
		Long: `Register a shard. The tenancy service connects to the DSN before accepting it; the
DSN is stored and shown with its password removed.`,
		Example: `  tenantctl shards add eu-2 "postgres://atrium:secret@pg-eu-2:5432/atrium?sslmode=require"`,
		Args:    invocation.ExactArgs(2),
		RunE:    func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0], args[1]) },
	}
}

func run(ctx context.Context, inv *invocation.Invocation, _ *flags, name, dsn string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: name, Dsn: dsn}))
	if err != nil {
		return err
	}
	s := resp.Msg.GetShard()
	if p.Format == output.JSON {
		return p.Proto(s)
	}
	return p.Fields([][2]string{
		{"name", s.GetName()},
		{"dsn", s.GetDsn()},
		{"tenants", strconv.Itoa(int(s.GetTenantCount()))},
		{"accepts", strconv.FormatBool(s.GetAcceptsTenants())},
	})
}
