// Package locationadd is `tenantctl catalog locations add`.
package locationadd

import (
	"context"
	"errors"
	"fmt"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/catalog/locations/locationview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	tenant string
	dryRun bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "add --tenant SLUG URL",
		Short: "Register a Location: a repository, a folder, a catalog-info.yaml or a glob of them",
		Long: `Register a URL the catalog keeps in sync: a Git repository (its catalog-info.yaml), a
folder (.../tree/<branch>/<dir>), one file (.../blob/<branch>/<path>), a glob
(.../blob/<branch>/**/catalog-info.yaml) or a plain HTTPS YAML file. The catalog reads it at
once, then on its refresh schedule and on push webhooks. --dry-run shows what would be
imported and writes nothing.`,
		Example: `  tenantctl catalog locations add --tenant demo https://github.com/acme/payments
  tenantctl catalog locations add --tenant demo --dry-run https://github.com/acme/mono/blob/main/**/catalog-info.yaml`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug (required)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "fetch and validate only; show the entities that would be imported")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, target string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if f.tenant == "" {
		return invocation.Usage(errors.New("--tenant is required"))
	}
	t, err := inv.TenantTarget(f.tenant)
	if err != nil {
		return err
	}
	resp, err := client.Locations(t).CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Type: "url", Target: target, DryRun: f.dryRun}))
	if err != nil {
		return err
	}
	m := resp.Msg
	if p.Format == output.JSON {
		return p.Proto(m)
	}
	if f.dryRun {
		rows := make([][]string, 0, len(m.GetEntities()))
		for _, e := range m.GetEntities() {
			meta := e.GetFields()["metadata"].GetStructValue().GetFields()
			rows = append(rows, []string{e.GetFields()["kind"].GetStringValue(), meta["namespace"].GetStringValue(), meta["name"].GetStringValue()})
		}
		if err := p.Table([]string{"KIND", "NAMESPACE", "NAME"}, rows); err != nil {
			return err
		}
		for _, pr := range m.GetProblems() {
			fmt.Fprintf(inv.Stdout, "problem: %s %s: %s\n", pr.GetFile(), pr.GetField(), pr.GetMessage())
		}
		if m.GetExists() {
			fmt.Fprintln(inv.Stdout, "note: this target is already registered")
		}
		return nil
	}
	return locationview.Print(p, m.GetLocation(), nil)
}
