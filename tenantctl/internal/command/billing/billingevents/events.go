// Package billingevents is `tenantctl billing events`: the webhook ledger, newest first.
package billingevents

import (
	"context"
	"fmt"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	tenant    string
	limit     int
	pageToken string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List Stripe webhook events billing received and what each did",
		Example: `  tenantctl billing events --tenant acme
  tenantctl billing events --limit 0 -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "only events of this tenant (slug or id)")
	cmd.Flags().IntVar(&f.limit, "limit", 50, "show at most this many events (0: all)")
	cmd.Flags().StringVar(&f.pageToken, "page-token", "", "continue from a previous page")
	return cmd
}

const maxPage = 500

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	if f.limit < 0 {
		return invocation.Usage(fmt.Errorf("--limit must be 0 or more"))
	}
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	bc := client.Billing(target)
	all := &billingv1.ListWebhookEventsResponse{}
	all.Events, all.NextPageToken, err = client.Pages(f.limit, maxPage, f.pageToken, func(size int32, token string) ([]*billingv1.WebhookEvent, string, error) {
		resp, err := bc.ListWebhookEvents(ctx, connect.NewRequest(&billingv1.ListWebhookEventsRequest{Tenant: f.tenant, PageSize: size, PageToken: token}))
		if err != nil {
			return nil, "", err
		}
		return resp.Msg.GetEvents(), resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(all)
	}
	rows := make([][]string, 0, len(all.Events))
	for _, e := range all.Events {
		rows = append(rows, []string{output.Time(e.GetReceiveTime()), e.GetId(), e.GetType(), output.Or(e.GetTenantId()), e.GetOutcome(), output.Or(e.GetError())})
	}
	if err := p.Table([]string{"RECEIVED", "EVENT", "TYPE", "TENANT", "OUTCOME", "ERROR"}, rows); err != nil {
		return err
	}
	if all.NextPageToken != "" {
		fmt.Fprintf(inv.Stderr, "more events: --page-token %s\n", all.NextPageToken)
	}
	return nil
}
