// Package shards groups the commands on the Postgres clusters tenants live on.
package shards

import (
	"atrium.dev/tenantctl/internal/command/shards/shardadd"
	"atrium.dev/tenantctl/internal/command/shards/sharddrain"
	"atrium.dev/tenantctl/internal/command/shards/shardlist"
	"atrium.dev/tenantctl/internal/command/shards/shardupdate"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// NewCommand returns `tenantctl shards`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:     "shards",
		Aliases: []string{"shard"},
		Short:   "List, add, limit and drain the Postgres shards tenants are placed on",
		Example: `  tenantctl shards list
  tenantctl shards add eu-2 "postgres://atrium@pg-eu-2:5432/atrium" --max-tenants 5000
  tenantctl shards drain eu-1`,
	})
	cmd.AddCommand(shardlist.NewCommand(inv), shardadd.NewCommand(inv), shardupdate.NewCommand(inv), sharddrain.NewCommand(inv))
	return cmd
}
