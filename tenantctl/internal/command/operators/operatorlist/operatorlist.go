// Package operatorlist is `tenantctl operators list`.
package operatorlist

import (
	"context"
	"time"

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
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List operator credentials, revoked and expired ones included (never their secrets)",
		Example: `  tenantctl operators list
  tenantctl operators list -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
}

func run(ctx context.Context, inv *invocation.Invocation, _ *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).ListOperators(ctx, connect.NewRequest(&tenancyv1.ListOperatorsRequest{}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	now := time.Now()
	rows := make([][]string, 0, len(resp.Msg.GetCredentials()))
	for _, c := range resp.Msg.GetCredentials() {
		rows = append(rows, []string{c.GetId(), c.GetName(), c.GetOperator(), State(c, now),
			output.Time(c.GetCreateTime()), Expiry(c)})
	}
	return p.Table([]string{"ID", "NAME", "OPERATOR", "STATE", "CREATED", "EXPIRES"}, rows)
}

// State is a credential's state at now: active, expired or revoked.
func State(c *tenancyv1.OperatorCredential, now time.Time) string {
	switch {
	case c.GetRevokeTime() != nil:
		return "revoked"
	case c.GetExpireTime() != nil && !c.GetExpireTime().AsTime().After(now):
		return "expired"
	}
	return "active"
}

// Expiry is when the credential expires; "never" for the local one of make up.
func Expiry(c *tenancyv1.OperatorCredential) string {
	if c.GetExpireTime() == nil {
		return "never"
	}
	return output.Time(c.GetExpireTime())
}
