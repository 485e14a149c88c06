// Package root assembles tenantctl's command tree and runs it: parse, dispatch, and turn the
// outcome into readable errors and an exit status.
package root

import (
	"context"
	"errors"
	"fmt"

	"atrium.dev/tenantctl/internal/command/audit"
	"atrium.dev/tenantctl/internal/command/billing"
	"atrium.dev/tenantctl/internal/command/catalog"
	"atrium.dev/tenantctl/internal/command/contexts"
	"atrium.dev/tenantctl/internal/command/insights"
	"atrium.dev/tenantctl/internal/command/limits"
	"atrium.dev/tenantctl/internal/command/migrate"
	"atrium.dev/tenantctl/internal/command/operators"
	"atrium.dev/tenantctl/internal/command/plans"
	"atrium.dev/tenantctl/internal/command/plugins"
	"atrium.dev/tenantctl/internal/command/shards"
	"atrium.dev/tenantctl/internal/command/tenants"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// NewCommand returns the root command bound to inv.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	cmd := invocation.Group(&cobra.Command{
		Use:   "tenantctl",
		Short: "Run the Atrium fleet: tenants, migrations, shards, audit, catalogs",
		Long: `tenantctl talks to the Atrium gateway with operator credentials, which are separate
from tenant users. It finds the gateway and token in flags (--url, --token), the environment
(ATRIUM_URL, ATRIUM_OPERATOR_TOKEN) or a context of the config file, in that order.
After make up, the context "local" is ready: try tenantctl tenants list.`,
		Example: `  tenantctl tenants list
  tenantctl tenants create acme --admin-email admin@acme.example
  tenantctl migrate --all
  tenantctl --context prod audit --tenant acme -o json`,
		SilenceErrors: true,
		SilenceUsage:  true,
	})
	cmd.SetIn(inv.Stdin)
	cmd.SetOut(inv.Stdout)
	cmd.SetErr(inv.Stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return invocation.Usage(err) })
	cmd.CompletionOptions.HiddenDefaultCmd = true
	inv.BindGlobalFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		tenants.NewCommand(inv),
		migrate.NewCommand(inv),
		shards.NewCommand(inv),
		audit.NewCommand(inv),
		billing.NewCommand(inv),
		contexts.NewCommand(inv),
		catalog.NewCommand(inv),
		insights.NewCommand(inv),
		plugins.NewCommand(inv),
		plans.NewCommand(inv),
		limits.NewCommand(inv),
		operators.NewCommand(inv),
	)
	return cmd
}

// Run executes tenantctl with args and returns the exit status. Errors are printed to
// inv.Stderr: Connect errors with their code and field violations.
func Run(ctx context.Context, inv *invocation.Invocation, args []string) int {
	cmd := NewCommand(inv)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprint(inv.Stderr, output.FormatError(err))
	var usage invocation.UsageError
	if errors.As(err, &usage) || isCobraUsage(err) {
		fmt.Fprintf(inv.Stderr, "run '%s --help' for usage\n", commandPath(cmd, args))
		return ExitUsage
	}
	return ExitError
}

// isCobraUsage catches the errors cobra raises itself (unknown command, missing required
// flag) which do not pass through our wrappers.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "required flag", "unknown flag", "unknown shorthand flag"} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}

func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.CommandPath()
	}
	return c.CommandPath()
}
