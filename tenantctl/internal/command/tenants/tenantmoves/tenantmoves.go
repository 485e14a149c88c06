// Package tenantmoves is `tenantctl tenants moves`.
package tenantmoves

import (
	"context"
	"fmt"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	return &cobra.Command{
		Use:   "moves [TENANT]",
		Short: "List tenant moves (running, finished and aborted) with their progress",
		Long: `List the recorded moves between shards, newest first (at most 100), of every tenant or
of one (an id or slug). PROGRESS is the rows copied of the rows to copy; STEP is where the
move is, or where a stopped move resumes when ` + "`tenantctl tenants move`" + ` runs again.`,
		Example: `  tenantctl tenants moves
  tenantctl tenants moves acme -o json | jq -r '.moves[] | .step'`,
		Args: invocation.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant := ""
			if len(args) == 1 {
				tenant = args[0]
			}
			return run(cmd.Context(), inv, tenant)
		},
	}
}

// Header is the table's header.
var Header = []string{"MOVE", "TENANT", "FROM", "TO", "STEP", "PROGRESS", "PAUSE", "UPDATED", "ERROR"}

func run(ctx context.Context, inv *invocation.Invocation, tenant string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).ListTenantMoves(ctx, connect.NewRequest(&tenancyv1.ListTenantMovesRequest{Tenant: tenant}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	rows := make([][]string, 0, len(resp.Msg.GetMoves()))
	for _, m := range resp.Msg.GetMoves() {
		rows = append(rows, Row(m))
	}
	return p.Table(Header, rows)
}

// Row is one move as a table row.
func Row(m *tenancyv1.TenantMove) []string {
	pause := ""
	if m.GetPauseMillis() > 0 {
		pause = fmt.Sprintf("%d ms", m.GetPauseMillis())
	}
	updated := ""
	if m.GetUpdateTime() != nil {
		updated = m.GetUpdateTime().AsTime().Local().Format(time.RFC3339)
	}
	return []string{m.GetId(), m.GetTenantId(), m.GetFromShard(), m.GetToShard(), m.GetStep(),
		Progress(m.GetRowsCopied(), m.GetRowsTotal()), pause, updated, m.GetError()}
}

// Progress is "copied/total rows (p%)", or "" before the total is known.
func Progress(copied, total int64) string {
	if total <= 0 {
		if copied > 0 {
			return fmt.Sprintf("%d rows", copied)
		}
		return ""
	}
	return fmt.Sprintf("%d/%d rows (%d%%)", copied, total, copied*100/total)
}
