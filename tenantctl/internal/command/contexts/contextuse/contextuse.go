// Package contextuse is `tenantctl context use`.
package contextuse

import (
	"fmt"

	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
)

type flags struct{}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	return &cobra.Command{
		Use:     "use NAME",
		Short:   "Make a context the current one",
		Example: `  tenantctl context use local`,
		Args:    invocation.ExactArgs(1),
		RunE:    func(_ *cobra.Command, args []string) error { return run(inv, f, args[0]) },
	}
}

func run(inv *invocation.Invocation, _ *flags, name string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	cfg, path, err := inv.LoadConfig()
	if err != nil {
		return err
	}
	if _, ok := cfg.Lookup(name); !ok {
		return fmt.Errorf("no context %q in %s", name, path)
	}
	cfg.CurrentContext = name
	if err := cfg.Save(path); err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.JSON(map[string]string{"path": path, "currentContext": name})
	}
	_, err = fmt.Fprintf(inv.Stdout, "current context: %s\n", name)
	return err
}
