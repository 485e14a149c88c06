// Package contextlist is `tenantctl context list`.
package contextlist

import (
	"atrium.dev/tenantctl/internal/cliconfig"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
)

type flags struct{}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List contexts (secrets masked); * marks the current one",
		Example: `  tenantctl context list
  tenantctl context list -o json`,
		Args: invocation.NoArgs,
		RunE: func(*cobra.Command, []string) error { return run(inv, f) },
	}
}

// Mask shows enough of a secret to tell it apart and nothing more.
func Mask(secret string) string {
	if secret == "" {
		return "-"
	}
	if len(secret) <= 12 {
		return "****"
	}
	return secret[:11] + "…"
}

func run(inv *invocation.Invocation, _ *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	cfg, path, err := inv.LoadConfig()
	if err != nil {
		return err
	}
	masked := make([]cliconfig.Context, 0, len(cfg.Contexts))
	for _, c := range cfg.Contexts {
		c.OperatorToken, c.TenantToken = Mask(c.OperatorToken), Mask(c.TenantToken)
		masked = append(masked, c)
	}
	if p.Format == output.JSON {
		return p.JSON(struct {
			Path           string              `json:"path"`
			CurrentContext string              `json:"currentContext"`
			Contexts       []cliconfig.Context `json:"contexts"`
		}{path, cfg.CurrentContext, masked})
	}
	rows := make([][]string, 0, len(masked))
	for _, c := range masked {
		cur := ""
		if c.Name == cfg.CurrentContext {
			cur = "*"
		}
		rows = append(rows, []string{cur, c.Name, c.URL, c.OperatorToken, output.Or(c.Tenant), c.TenantToken})
	}
	return p.Table([]string{"CURRENT", "NAME", "URL", "OPERATOR TOKEN", "TENANT", "TENANT TOKEN"}, rows)
}
