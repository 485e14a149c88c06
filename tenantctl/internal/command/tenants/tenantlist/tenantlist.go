// Package tenantlist is `tenantctl tenants list`.
package tenantlist

import (
	"context"
	"fmt"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	statuses  []string
	limit     int
	pageToken string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tenants",
		Long: `List tenants, every status but deleted unless --status says otherwise. Pages are
fetched until --limit tenants are shown (0: all); with -o json the next page token is
included when more remain.`,
		Example: `  tenantctl tenants list
  tenantctl tenants list --status suspended --status deleting
  tenantctl tenants list --limit 100 -o json | jq -r '.tenants[].slug'`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringSliceVar(&f.statuses, "status", nil, "only tenants with this status (repeatable): provisioning, active, suspended, deleting, deleted, failed")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "show at most this many tenants (0: all)")
	cmd.Flags().StringVar(&f.pageToken, "page-token", "", "continue from a previous listing's next page token")
	return cmd
}

// maxPage is the API's page-size ceiling.
const maxPage = 500

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.limit < 0 {
		return invocation.Usage(fmt.Errorf("--limit must be 0 or more"))
	}
	req := &tenancyv1.ListTenantsRequest{PageToken: f.pageToken}
	for _, s := range f.statuses {
		st, err := tenantview.ParseStatus(s)
		if err != nil {
			return invocation.Usage(err)
		}
		req.Statuses = append(req.Statuses, st)
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	ops := client.Operator(target)
	all := &tenancyv1.ListTenantsResponse{}
	all.Tenants, all.NextPageToken, err = client.Pages(f.limit, maxPage, f.pageToken, func(size int32, token string) ([]*tenancyv1.Tenant, string, error) {
		req.PageSize, req.PageToken = size, token
		resp, err := ops.ListTenants(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, "", err
		}
		all.TotalSize = resp.Msg.GetTotalSize()
		return resp.Msg.GetTenants(), resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(all)
	}
	rows := make([][]string, 0, len(all.Tenants))
	for _, t := range all.Tenants {
		rows = append(rows, tenantview.Row(t))
	}
	if err := p.Table(tenantview.Header, rows); err != nil {
		return err
	}
	if all.NextPageToken != "" {
		fmt.Fprintf(inv.Stderr, "showing %d of %d; more with --page-token %s\n", len(all.Tenants), all.TotalSize, all.NextPageToken)
	}
	return nil
}
