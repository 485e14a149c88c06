// Package operatorrevoke is `tenantctl operators revoke`.
package operatorrevoke

import (
	"context"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/operators/operatorlist"
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
		Use:   "revoke CREDENTIAL",
		Short: "Revoke an operator credential by id or name; the gateway refuses it within a second (audited)",
		Example: `  tenantctl operators revoke alice-laptop
  tenantctl operators revoke 01J9Z3K8W4 -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
}

func run(ctx context.Context, inv *invocation.Invocation, _ *flags, credential string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Operator(target).RevokeOperator(ctx, connect.NewRequest(&tenancyv1.RevokeOperatorRequest{Credential: credential}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	c := resp.Msg.GetCredential()
	return p.Fields([][2]string{
		{"id", c.GetId()}, {"name", c.GetName()}, {"operator", c.GetOperator()},
		{"state", operatorlist.State(c, time.Now())}, {"revoked", output.Time(c.GetRevokeTime())},
	})
}
