// Package tenantmove is `tenantctl tenants move`.
package tenantmove

import (
	"context"
	"fmt"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/tenantctl/internal/client"
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
		Use:   "move TENANT [--to SHARD]",
		Short: "Move a tenant's data to another shard while it stays online",
		Long: `Copy every table of the tenant's schema to another shard with COPY, catch up with the
writes made meanwhile, pause writes (FailedPrecondition, which clients retry) only for the
last catch-up, verify row counts and checksums, switch the directory and drop the source
copy after the grace period. Reads never stop. Every step is recorded: if tenantctl, the
connection or the server dies, run the same command again and the move resumes where it
stopped. Without --to the accepting shard with the most room is picked.`,
		Example: `  tenantctl tenants move acme --to eu-2
  tenantctl tenants move acme --to eu-2 --grace 1h -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.to, "to", "", "target shard (default: the accepting shard with the most room)")
	cmd.Flags().DurationVar(&f.grace, "grace", 0, "how long the source copy is kept after the switch (default: the server's, 10m)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, tenant string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.grace < 0 {
		return invocation.Usage(fmt.Errorf("--grace must not be negative"))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	m, err := Move(ctx, client.Operator(target), tenant, f.to, f.grace, inv.Progress("moving "+tenant))
	if err != nil {
		return err
	}
	return Print(p, m)
}

// Move runs one move to its end, drawing its progress on prog (rows copied of the total,
// then the steps). Shared with `shards drain`.
func Move(ctx context.Context, op tenancyv1connect.OperatorServiceClient, tenant, to string, grace time.Duration, prog *output.Progress) (*tenancyv1.TenantMove, error) {
	stream, err := op.MoveTenant(ctx, connect.NewRequest(&tenancyv1.MoveTenantRequest{
		Tenant: tenant, ToShard: to, GraceSeconds: int32(grace / time.Second),
	}))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var last *tenancyv1.TenantMove
	for stream.Receive() {
		msg := stream.Msg()
		last = msg.GetMove()
		total := max(last.GetRowsTotal(), 1)
		prog.Step(int(last.GetRowsCopied()*1000/total), 1000, fmt.Sprintf("%s: %s", last.GetStep(), msg.GetMessage()))
	}
	prog.Done()
	if err := stream.Err(); err != nil {
		return last, fmt.Errorf("%w (the move is recorded: run the same command again to resume it)", err)
	}
	return last, nil
}

// Print shows a move.
func Print(p *output.Printer, m *tenancyv1.TenantMove) error {
	if p.Format == output.JSON {
		return p.Proto(m)
	}
	drop := ""
	if m.GetDropTime() != nil {
		drop = m.GetDropTime().AsTime().Local().Format(time.RFC3339)
	}
	return p.Fields([][2]string{
		{"move", m.GetId()},
		{"tenant", m.GetTenantId()},
		{"from", m.GetFromShard()},
		{"to", m.GetToShard()},
		{"step", m.GetStep()},
		{"rows", fmt.Sprint(m.GetRowsTotal())},
		{"writes paused", fmt.Sprintf("%d ms", m.GetPauseMillis())},
		{"source dropped after", drop},
	})
}
