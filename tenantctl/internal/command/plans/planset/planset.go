// Package planset is `tenantctl plans set`.
package planset

import (
	"context"
	"fmt"
	"strings"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/snapshotview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"atrium.dev/tenantctl/internal/until"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type flags struct{ tenant, plan, trialUntil, reason string }

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "set --tenant TENANT --plan PLAN [--trial-until WHEN]",
		Short: "Change a tenant's plan; a downgrade uninstalls what it no longer includes, data kept (audited)",
		Long: `Billing sets plans from Stripe subscriptions; this is the operator's hand on the same switch
(a contract outside Stripe, a correction). A downgrade uninstalls the plugins the new plan no
longer includes and names them; their data and configuration are kept for a reinstall.
Limits lower than current usage refuse new growth and delete nothing. --trial-until makes
the plan a trial that falls back to free then (a duration such as 14d, or a time).`,
		Example: `  tenantctl plans set --tenant acme --plan team --reason "order form 2026-114"
  tenantctl plans set --tenant acme --plan enterprise --trial-until 30d -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	cmd.Flags().StringVar(&f.plan, "plan", "", "the plan id: free, team, enterprise (see tenantctl plans list)")
	cmd.Flags().StringVar(&f.trialUntil, "trial-until", "", "make it a trial ending then: a duration (14d) or a date/time")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, kept in the audit log")
	_ = cmd.MarkFlagRequired("tenant")
	_ = cmd.MarkFlagRequired("plan")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	ends, err := until.Parse(f.trialUntil, time.Now())
	if err != nil {
		return invocation.Usage(fmt.Errorf("--trial-until: %w", err))
	}
	req := &entv1.EntitlementsOperatorServiceSetPlanRequest{Tenant: f.tenant, Plan: f.plan, Reason: f.reason}
	if ends != nil {
		req.TrialEndsAt = timestamppb.New(*ends)
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	resp, err := client.Entitlements(target).SetPlan(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(resp.Msg)
	}
	if u := resp.Msg.GetUninstalledPlugins(); len(u) > 0 {
		fmt.Fprintf(inv.Stderr, "uninstalled (data kept): %s\n", strings.Join(u, ", "))
	}
	return snapshotview.Print(p, resp.Msg.GetSnapshot(), resp.Msg.GetUninstalledPlugins())
}
