package root_test

import (
	"bytes"
	"strings"
	"testing"

	"atrium.dev/tenantctl/internal/command/root"
	"atrium.dev/tenantctl/internal/invocation"
	"github.com/spf13/cobra"
)

// Every command documents itself with an example, and --help works without a server.
func TestEveryCommandHasHelpWithExample(t *testing.T) {
	inv := &invocation.Invocation{Getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if strings.TrimSpace(c.Example) == "" {
				t.Error("no example")
			}
			if c.Short == "" {
				t.Error("no short description")
			}
			if c.Flag("output") == nil {
				t.Error("no -o flag")
			}
			var out bytes.Buffer
			help := &invocation.Invocation{Stdout: &out, Stderr: &out, Getenv: inv.Getenv, Stdin: strings.NewReader("")}
			args := append(strings.Fields(c.CommandPath())[1:], "--help")
			if code := root.Run(t.Context(), help, args); code != 0 || !strings.Contains(out.String(), "Examples:") {
				t.Errorf("--help: exit %d\n%s", code, out.String())
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root.NewCommand(inv))
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"tenants", "bogus"}, {"tenants", "get"}, {"tenants", "list", "--nope"}, {"shards", "add", "only-name"}} {
		var out bytes.Buffer
		inv := &invocation.Invocation{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Stdin: strings.NewReader("")}
		if code := root.Run(t.Context(), inv, args); code != root.ExitUsage || !strings.Contains(out.String(), "--help") {
			t.Errorf("%v: exit %d, want %d with a pointer to --help\n%s", args, code, root.ExitUsage, out.String())
		}
	}
}
