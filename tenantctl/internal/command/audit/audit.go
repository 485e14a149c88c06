// Package audit is `tenantctl audit`: the fleet's audit log, newest first.
package audit

import (
	"context"
	"fmt"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
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
		Use:   "audit",
		Short: "Show the audit log: who did what, when, to which tenant",
		Example: `  tenantctl audit
  tenantctl audit --tenant acme --limit 200
  tenantctl audit --page-token <token from the previous page>`,
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
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.limit < 0 {
		return invocation.Usage(fmt.Errorf("--limit must be 0 or more"))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	ops := client.Operator(target)
	all := &tenancyv1.ListAuditEventsResponse{}
	all.Events, all.NextPageToken, err = client.Pages(f.limit, maxPage, f.pageToken, func(size int32, token string) ([]*tenancyv1.AuditEvent, string, error) {
		resp, err := ops.ListAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListAuditEventsRequest{Tenant: f.tenant, PageSize: size, PageToken: token}))
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
		rows = append(rows, []string{output.Time(e.GetTime()), e.GetActor(), e.GetAction(), output.Or(e.GetTenantId()), output.Or(e.GetTarget()), output.Or(e.GetRequestId())})
	}
	if err := p.Table([]string{"TIME", "ACTOR", "ACTION", "TENANT", "TARGET", "REQUEST"}, rows); err != nil {
		return err
	}
	if all.NextPageToken != "" {
		fmt.Fprintf(inv.Stderr, "more events: --page-token %s\n", all.NextPageToken)
	}
	return nil
}
