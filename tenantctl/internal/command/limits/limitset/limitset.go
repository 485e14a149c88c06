// Package limitset is `tenantctl limits set`.
package limitset

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/snapshotview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	tenant, name, value, reason string
	clear                       bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "set --tenant TENANT --name LIMIT (--value N | --clear)",
		Short: "Override one of a tenant's plan limits, or clear the override (audited)",
		Long: `Limits: seats, catalog_entities, api_requests_per_minute, usage_events_per_month,
insights_retention_days. --value is a number or "unlimited"; --clear goes back to the plan's
value. A limit below current usage refuses new growth and deletes nothing. The override stays
across plan changes until cleared.`,
		Example: `  tenantctl limits set --tenant acme --name seats --value 50 --reason "pilot"
  tenantctl limits set --tenant acme --name api_requests_per_minute --value unlimited
  tenantctl limits set --tenant acme --name seats --clear -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	cmd.Flags().StringVar(&f.name, "name", "", "the limit's name")
	cmd.Flags().StringVar(&f.value, "value", "", `the tenant's value: a number, or "unlimited"`)
	cmd.Flags().BoolVar(&f.clear, "clear", false, "remove the override: the plan's value applies again")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, kept in the audit log")
	_ = cmd.MarkFlagRequired("tenant")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if (f.value == "") == !f.clear {
		return invocation.Usage(errors.New("give --value or --clear"))
	}
	req := &entv1.SetLimitOverrideRequest{Tenant: f.tenant, Limit: f.name, Clear: f.clear, Reason: f.reason}
	if !f.clear {
		if req.Value, err = ParseValue(f.value); err != nil {
			return invocation.Usage(fmt.Errorf("--value: %w", err))
		}
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Entitlements(target).SetLimitOverride(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	return snapshotview.Print(p, resp.Msg.GetSnapshot(), nil)
}

// ParseValue reads a limit value: a non-negative number, or "unlimited" (-1, as is -1 itself).
func ParseValue(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "unlimited") {
		return -1, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < -1 {
		return 0, fmt.Errorf("%q is neither a number of 0 or more nor \"unlimited\"", s)
	}
	return v, nil
}
