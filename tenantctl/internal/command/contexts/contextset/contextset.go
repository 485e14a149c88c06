// Package contextset is `tenantctl context set`.
package contextset

import (
	"errors"
	"fmt"
	"net/url"

	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
)

type flags struct {
	operatorToken string
	tenant        string
	tenantToken   string
	use           bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Create a context or change the fields given",
		Long: `Create or update a context. Only the fields given change. The URL is the global
--url flag. The first context created becomes the current one; --use switches to it.`,
		Example: `  tenantctl context set prod --url https://atrium.example.com --operator-token atr_op_... --use
  tenantctl context set local --tenant demo --tenant-token atr_pat_...`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(inv, f, args[0], cmd.Flags().Changed("operator-token"), cmd.Flags().Changed("tenant"), cmd.Flags().Changed("tenant-token"))
		},
	}
	cmd.Flags().StringVar(&f.operatorToken, "operator-token", "", "operator token (atr_op_...)")
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug the tenant token belongs to")
	cmd.Flags().StringVar(&f.tenantToken, "tenant-token", "", "API token of a tenant user (atr_pat_...), for catalog commands")
	cmd.Flags().BoolVar(&f.use, "use", false, "make it the current context")
	return cmd
}

func run(inv *invocation.Invocation, f *flags, name string, setOp, setTenant, setTenantToken bool) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	if name == "" {
		return invocation.Usage(errors.New("context name is empty"))
	}
	cfg, path, err := inv.LoadConfig()
	if err != nil {
		return err
	}
	c, existed := cfg.Lookup(name)
	c.Name = name
	if inv.Global.URL != "" {
		u, err := url.Parse(inv.Global.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invocation.Usage(fmt.Errorf("--url %q: want http(s)://host[:port]", inv.Global.URL))
		}
		c.URL = inv.Global.URL
	}
	if c.URL == "" {
		c.URL = invocation.DefaultURL
	}
	if setOp {
		c.OperatorToken = f.operatorToken
	}
	if setTenant {
		c.Tenant = f.tenant
	}
	if setTenantToken {
		c.TenantToken = f.tenantToken
	}
	cfg.Upsert(c)
	if f.use || cfg.CurrentContext == "" {
		cfg.CurrentContext = name
	}
	if err := cfg.Save(path); err != nil {
		return err
	}
	verb := "updated"
	if !existed {
		verb = "created"
	}
	if p.Format == output.JSON {
		return p.JSON(map[string]string{"path": path, "context": name, "result": verb, "url": c.URL, "currentContext": cfg.CurrentContext})
	}
	_, err = fmt.Fprintf(inv.Stdout, "context %s %s in %s\n", name, verb, path)
	return err
}
