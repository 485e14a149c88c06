// Package insights is `tenantctl insights`: the usage pipeline's lag and replays.
package insights

import (
	"context"
	"fmt"
	"strconv"
	"time"

	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewCommand returns `tenantctl insights`.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:   "insights",
		Short: "Watch and repair the usage pipeline (stream lag, replays)",
		Example: `  tenantctl insights lag
  tenantctl insights replay --tenant acme --from 2026-12-01T00:00:00Z`,
	})
	cmd.AddCommand(lagCommand(inv), replayCommand(inv))
	return cmd
}

func operatorClient(inv *invocation.Invocation) (insightsv1connect.InsightsOperatorServiceClient, error) {
	target, err := inv.OperatorTarget()
	if err != nil {
		return nil, err
	}
	return client.InsightsOperator(target), nil
}

func lagCommand(inv *invocation.Invocation) *cobra.Command {
	return &cobra.Command{
		Use:   "lag",
		Short: "Show the usage stream's unread, pending and trimmed-unread entries",
		Example: `  tenantctl insights lag
  tenantctl insights lag -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := inv.Printer(output.Table, output.JSON)
			if err != nil {
				return err
			}
			c, err := operatorClient(inv)
			if err != nil {
				return err
			}
			resp, err := c.GetLag(cmd.Context(), connect.NewRequest(&insightsv1.GetLagRequest{}))
			if err != nil {
				return err
			}
			if p.Format == output.JSON {
				return p.Proto(resp.Msg)
			}
			m := resp.Msg
			i := func(v int64) string { return strconv.FormatInt(v, 10) }
			return p.Fields([][2]string{
				{"stream", m.GetStream()}, {"group", m.GetGroup()}, {"length", i(m.GetLength())},
				{"lag", i(m.GetLag())}, {"pending", i(m.GetPending())}, {"trimmed unread", i(m.GetTrimmedUnread())},
				{"consumers", i(m.GetConsumers())}, {"oldest pending", (time.Duration(m.GetOldestPendingMs()) * time.Millisecond).String()},
			})
		},
	}
}

func replayCommand(inv *invocation.Invocation) *cobra.Command {
	var tenant, from string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-ingest a tenant's events still on the stream (already counted ones count nothing)",
		Example: `  tenantctl insights replay --tenant acme --from 2026-12-01T00:00:00Z
  tenantctl insights replay --tenant acme --from 2h`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return invocation.Usage(fmt.Errorf("--tenant is required"))
			}
			t, err := parseFrom(from, time.Now())
			if err != nil {
				return invocation.Usage(err)
			}
			p, err := inv.Printer(output.Table, output.JSON)
			if err != nil {
				return err
			}
			c, err := operatorClient(inv)
			if err != nil {
				return err
			}
			resp, err := c.Replay(context.WithoutCancel(cmd.Context()), connect.NewRequest(&insightsv1.ReplayRequest{Tenant: tenant, FromTime: timestamppb.New(t)}))
			if err != nil {
				return err
			}
			if p.Format == output.JSON {
				return p.Proto(resp.Msg)
			}
			return p.Fields([][2]string{{"read", strconv.FormatInt(resp.Msg.GetRead(), 10)}, {"new", strconv.FormatInt(resp.Msg.GetInserted(), 10)}})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant slug or id (required)")
	cmd.Flags().StringVar(&from, "from", "24h", "RFC 3339 time, or a duration back from now (\"2h\")")
	return cmd
}

// parseFrom reads --from: an RFC 3339 time or a duration before now.
func parseFrom(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--from: want an RFC 3339 time or a duration, got %q", s)
	}
	return t, nil
}
