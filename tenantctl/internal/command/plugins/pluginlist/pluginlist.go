// Package pluginlist is `tenantctl plugins list`.
package pluginlist

import (
	"context"
	"strings"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct{ tenant string }

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "list [--tenant TENANT]",
		Aliases: []string{"ls"},
		Short:   "List the plugin registry, or one tenant's state of every plugin and what unlocks it",
		Long: `Without --tenant: every plugin of the registry with its tier, category, the cheapest plan
that includes it and its dependencies. With --tenant: the tenant's state of each (installed,
available, locked), why a locked one is locked and what unlocks it, and when a grant ends.`,
		Example: `  tenantctl plugins list
  tenantctl plugins list --tenant acme -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (slug or id)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	ent := client.Entitlements(target)
	if f.tenant == "" {
		resp, err := ent.ListPlans(ctx, connect.NewRequest(&entv1.ListPlansRequest{}))
		if err != nil {
			return err
		}
		if p.Format == output.JSON {
			return p.Proto(&entv1.ListPlansResponse{Plugins: resp.Msg.GetPlugins()})
		}
		rows := make([][]string, 0, len(resp.Msg.GetPlugins()))
		for _, pl := range resp.Msg.GetPlugins() {
			rows = append(rows, []string{pl.GetId(), Tier(pl.GetTier()), pl.GetCategory(), output.Or(pl.GetRequiredPlan()),
				output.Or(strings.Join(pl.GetDependencies(), ", ")), pl.GetName()})
		}
		return p.Table([]string{"PLUGIN", "TIER", "CATEGORY", "PLAN", "NEEDS", "NAME"}, rows)
	}
	resp, err := ent.ListTenantEntitlements(ctx, connect.NewRequest(&entv1.ListTenantEntitlementsRequest{Tenant: f.tenant}))
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.Proto(&entv1.ListTenantEntitlementsResponse{Plugins: resp.Msg.GetPlugins(), Entitlements: resp.Msg.GetEntitlements()})
	}
	rows := make([][]string, 0, len(resp.Msg.GetPlugins()))
	for _, tp := range resp.Msg.GetPlugins() {
		rows = append(rows, []string{tp.GetPlugin().GetId(), State(tp.GetState()), Tier(tp.GetPlugin().GetTier()),
			output.Or(tp.GetUnavailable().GetMessage()), output.Or(Unlock(tp.GetUnavailable().GetUnlock())), output.Time(tp.GetGrantExpireTime())})
	}
	return p.Table([]string{"PLUGIN", "STATE", "TIER", "WHY", "UNLOCK", "GRANT ENDS"}, rows)
}

// State is a plugin state's word: installed, available, locked.
func State(s entv1.PluginState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PLUGIN_STATE_"))
}

// Tier is a tier's word: free, premium.
func Tier(t entv1.PluginTier) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "PLUGIN_TIER_"))
}

// Unlock says in a few words what makes a plugin usable.
func Unlock(u *entv1.Unlock) string {
	if u == nil {
		return ""
	}
	var parts []string
	switch u.GetAction() {
	case "upgrade_plan":
		parts = append(parts, "plan "+u.GetPlan())
	case "install_dependencies":
		parts = append(parts, "install "+strings.Join(u.GetPlugins(), ", "))
	case "":
	default:
		parts = append(parts, strings.ReplaceAll(u.GetAction(), "_", " "))
	}
	if u.GetTrialAvailable() {
		parts = append(parts, "or a trial grant")
	}
	return strings.Join(parts, " ")
}
