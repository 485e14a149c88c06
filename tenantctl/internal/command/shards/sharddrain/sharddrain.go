// Package sharddrain is `tenantctl shards drain`.
package sharddrain

import (
	"context"
	"fmt"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantmove"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	to    string
	grace time.Duration
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "drain SHARD [--to SHARD]",
		Short: "Stop placing tenants on a shard and move its tenants away, one at a time",
		Long: `Mark the shard as not accepting tenants, then move each of its live tenants to another
shard (tenants move), one after another, with progress. Each move is resumable; so is the
drain: run it again to continue with the tenants still there.`,
		Example: `  tenantctl shards drain eu-1
  tenantctl shards drain eu-1 --to eu-2 -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.to, "to", "", "target shard (default: for each tenant, the accepting shard with the most room)")
	cmd.Flags().DurationVar(&f.grace, "grace", 0, "how long each source copy is kept (default: the server's, 10m)")
	return cmd
}

// Result is printed with -o json.
type Result struct {
	Shard string   `json:"shard"`
	Moved []string `json:"moved"`
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, shard string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.to == shard {
		return invocation.Usage(fmt.Errorf("--to must be another shard than %s", shard))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	op := client.Operator(target)
	no := false
	if _, err := op.UpdateShard(ctx, connect.NewRequest(&tenancyv1.UpdateShardRequest{Name: shard, AcceptsTenants: &no})); err != nil {
		return err
	}
	all, _, err := client.Pages(0, 500, "", func(size int32, token string) ([]*tenancyv1.Tenant, string, error) {
		resp, err := op.ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{PageToken: token, PageSize: size,
			Statuses: []tenancyv1.TenantStatus{tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE, tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED}}))
		if err != nil {
			return nil, "", err
		}
		return resp.Msg.GetTenants(), resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	var onShard []*tenancyv1.Tenant
	for _, t := range all {
		if t.GetShard() == shard {
			onShard = append(onShard, t)
		}
	}
	res := Result{Shard: shard, Moved: []string{}}
	for i, t := range onShard {
		prog := inv.Progress(fmt.Sprintf("[%d/%d] %s", i+1, len(onShard), t.GetSlug()))
		m, err := tenantmove.Move(ctx, op, t.GetId(), f.to, f.grace, prog)
		if err != nil {
			return fmt.Errorf("moving %s (%d of %d; the shard no longer accepts tenants; run drain again to continue): %w",
				t.GetSlug(), i+1, len(onShard), err)
		}
		prog.Println(fmt.Sprintf("moved %s to %s (writes paused %d ms)", t.GetSlug(), m.GetToShard(), m.GetPauseMillis()))
		res.Moved = append(res.Moved, t.GetSlug())
	}
	if p.Format == output.JSON {
		return p.JSON(res)
	}
	_, err = fmt.Fprintf(inv.Stdout, "shard %s drained: %d tenants moved; it accepts no new tenants\n", shard, len(res.Moved))
	return err
}
