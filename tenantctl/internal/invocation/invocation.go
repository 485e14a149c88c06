// Package invocation is what every command shares for one run of tenantctl: its streams,
// environment, the global flags, and from them the config file, the target and the printer.
// Tests build one with their own buffers and environment and run the real command tree.
package invocation

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"atrium.dev/tenantctl/internal/cliconfig"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// Environment variables tenantctl reads.
const (
	EnvURL           = "ATRIUM_URL"
	EnvOperatorToken = "ATRIUM_OPERATOR_TOKEN"
	EnvTenantToken   = "ATRIUM_TENANT_TOKEN"
)

// DefaultURL is the gateway `make up` starts.
const DefaultURL = "http://localhost:8080"

// Invocation is one run's shared state.
type Invocation struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Interactive is true when stdin and stderr are terminals: confirmation prompts.
	Interactive bool
	// ProgressBar is true when stderr is a terminal: progress redraws one line.
	ProgressBar bool
	// HTTPClient overrides the default HTTP client (tests).
	HTTPClient *http.Client

	Global GlobalFlags
}

// GlobalFlags are accepted by every command.
type GlobalFlags struct {
	URL     string
	Token   string
	Context string
	Output  string
}

// Std returns an invocation on the process's own streams and environment.
func Std() *Invocation {
	return &Invocation{
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Getenv:      os.Getenv,
		Interactive: term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stderr.Fd())),
		ProgressBar: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// BindGlobalFlags registers the global flags on the root command.
func (inv *Invocation) BindGlobalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&inv.Global.URL, "url", "", "gateway URL (env "+EnvURL+"; default: the context's, else "+DefaultURL+")")
	fs.StringVar(&inv.Global.Token, "token", "", "credential: an operator token for fleet commands, a tenant API token for catalog commands (env "+EnvOperatorToken+" / "+EnvTenantToken+")")
	fs.StringVar(&inv.Global.Context, "context", "", "config context to use (default: current-context)")
	fs.StringVarP(&inv.Global.Output, "output", "o", "", "output format: table or json (catalog export: yaml or json)")
}

// ConfigPath is where the config file is.
func (inv *Invocation) ConfigPath() (string, error) { return cliconfig.Path(inv.Getenv) }

// LoadConfig reads the config file (empty when there is none).
func (inv *Invocation) LoadConfig() (*cliconfig.Config, string, error) {
	path, err := inv.ConfigPath()
	if err != nil {
		return nil, "", err
	}
	cfg, err := cliconfig.Load(path)
	return cfg, path, err
}

// selected returns the context named by --context, else the current one (zero if none).
func (inv *Invocation) selected() (cliconfig.Context, error) {
	cfg, path, err := inv.LoadConfig()
	if err != nil {
		return cliconfig.Context{}, err
	}
	if inv.Global.Context != "" {
		c, ok := cfg.Lookup(inv.Global.Context)
		if !ok {
			return cliconfig.Context{}, fmt.Errorf("no context %q in %s (tenantctl context list)", inv.Global.Context, path)
		}
		return c, nil
	}
	c, _ := cfg.Current()
	return c, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// OperatorTarget is the gateway and operator credential: flags, then environment, then the
// context.
func (inv *Invocation) OperatorTarget() (client.Target, error) {
	c, err := inv.selected()
	if err != nil {
		return client.Target{}, err
	}
	t := client.Target{HTTPClient: inv.HTTPClient}
	t.URL = first(inv.Global.URL, inv.Getenv(EnvURL), c.URL, DefaultURL)
	t.Token = first(inv.Global.Token, inv.Getenv(EnvOperatorToken), c.OperatorToken)
	if t.Token == "" {
		return client.Target{}, errors.New("no operator token: pass --token, set " + EnvOperatorToken + ", or add operator_token to a context (make up writes one for the local stack)")
	}
	return t, nil
}

// TenantTarget is the gateway and a tenant user's credential for acting inside tenant slug.
// Operators cannot act as tenant users, so this never falls back to the operator token.
func (inv *Invocation) TenantTarget(slug string) (client.Target, error) {
	c, err := inv.selected()
	if err != nil {
		return client.Target{}, err
	}
	t := client.Target{HTTPClient: inv.HTTPClient}
	t.URL = first(inv.Global.URL, inv.Getenv(EnvURL), c.URL, DefaultURL)
	t.Tenant = slug
	t.Token = first(inv.Global.Token, inv.Getenv(EnvTenantToken))
	if t.Token == "" {
		if c.TenantToken != "" && c.Tenant != "" && c.Tenant != slug {
			return client.Target{}, fmt.Errorf("context %q holds a token for tenant %q, not %q: pass --token with an API token of %s (create one in the portal or with MemberService.CreateApiToken)", c.Name, c.Tenant, slug, slug)
		}
		t.Token = c.TenantToken
	}
	if t.Token == "" {
		return client.Target{}, fmt.Errorf("no tenant token for %q: pass --token atr_pat_... (an API token of a user of %s), set %s, or add tenant_token to the context (tenantctl context set NAME --tenant %s --tenant-token ...)", slug, slug, EnvTenantToken, slug)
	}
	return t, nil
}

// Printer returns a printer on stdout for the -o format, checked against what the command
// supports (the first is the default).
func (inv *Invocation) Printer(allowed ...output.Format) (*output.Printer, error) {
	f, err := output.ParseFormat(inv.Global.Output, allowed...)
	if err != nil {
		return nil, Usage(err)
	}
	return &output.Printer{W: inv.Stdout, Format: f}, nil
}

// Progress reports long work on stderr.
func (inv *Invocation) Progress(what string) *output.Progress {
	return output.NewProgress(inv.Stderr, inv.ProgressBar, what)
}

// UsageError is a mistake in how the command was called (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{Err: err} }

// ExactArgs is cobra.ExactArgs reporting a usage error.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return Usage(err)
		}
		return nil
	}
}

// NoArgs is cobra.NoArgs reporting a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return Usage(err)
	}
	return nil
}

// RangeArgs is cobra.RangeArgs reporting a usage error.
func RangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(lo, hi)(cmd, args); err != nil {
			return Usage(err)
		}
		return nil
	}
}

// MinimumArgs is cobra.MinimumNArgs reporting a usage error.
func MinimumArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return Usage(err)
		}
		return nil
	}
}

// Group makes cmd a command that only holds subcommands: alone it prints its help, and an
// unknown subcommand is a usage error (cobra would print the help and succeed).
func Group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return Usage(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
		}
		return cmd.Help()
	}
	return cmd
}
