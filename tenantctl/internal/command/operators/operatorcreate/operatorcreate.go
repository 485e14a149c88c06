// Package operatorcreate is `tenantctl operators create`.
package operatorcreate

import (
	"context"
	"fmt"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/operators/operatorlist"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	operator string
	ttlDays  int
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "create NAME [--operator OPERATOR] [--ttl-days DAYS]",
		Short: "Issue a named, expiring operator credential; its secret is shown once (audited)",
		Long: `The credential acts as OPERATOR (default: NAME) in the audit log and expires after
--ttl-days (1 to 365, default 30). The secret is printed once and stored only as a hash: keep
it (ATRIUM_OPERATOR_TOKEN, or a context's token), or revoke the credential and create another.`,
		Example: `  tenantctl operators create alice-laptop --operator alice
  tenantctl operators create nightly-migrations --ttl-days 365 -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.operator, "operator", "", "the operator it acts as (default: NAME)")
	cmd.Flags().IntVar(&f.ttlDays, "ttl-days", 30, "days until it expires, 1 to 365")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, name string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.ttlDays < 1 || f.ttlDays > 365 {
		return invocation.Usage(fmt.Errorf("--ttl-days must be 1 to 365"))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).CreateOperator(ctx, connect.NewRequest(&tenancyv1.CreateOperatorRequest{
		Name: name, Operator: f.operator, TtlDays: int32(f.ttlDays),
	}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	c := resp.Msg.GetCredential()
	if err := p.Fields([][2]string{
		{"id", c.GetId()}, {"name", c.GetName()}, {"operator", c.GetOperator()},
		{"expires", operatorlist.Expiry(c)}, {"secret", resp.Msg.GetSecret()},
	}); err != nil {
		return err
	}
	fmt.Fprintln(inv.Stderr, "The secret is shown only now: store it (ATRIUM_OPERATOR_TOKEN or a context's token).")
	return nil
}
