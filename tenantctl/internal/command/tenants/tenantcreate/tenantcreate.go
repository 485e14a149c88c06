// Package tenantcreate is `tenantctl tenants create`.
package tenantcreate

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	displayName   string
	adminEmail    string
	adminPassword string
	shard         string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create a tenant, its schema and its first owner",
		Long: `Create a tenant with its Postgres schema and role, provisioned by every tenant-plane
service, and its first owner. Without --admin-password a strong password is generated and
printed once.`,
		Example: `  tenantctl tenants create acme --display-name "Acme Inc" --admin-email admin@acme.example
  tenantctl tenants create globex --admin-email ops@globex.example --shard eu-1 -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), inv, f, args[0])
		},
	}
	cmd.Flags().StringVar(&f.displayName, "display-name", "", "the organisation's name (default: the slug)")
	cmd.Flags().StringVar(&f.adminEmail, "admin-email", "", "email of the first owner (required)")
	cmd.Flags().StringVar(&f.adminPassword, "admin-password", "", "password of the first owner (default: generated and printed)")
	cmd.Flags().StringVar(&f.shard, "shard", "", "shard to place the tenant on (default: the one with the fewest tenants)")
	return cmd
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, slug string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	password, generated := f.adminPassword, false
	if password == "" {
		password, generated = newPassword(slug, f.adminEmail), true
	}
	name := f.displayName
	if name == "" {
		name = slug
	}
	resp, err := client.Operator(target).CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
		Slug:          slug,
		DisplayName:   name,
		AdminEmail:    f.adminEmail,
		AdminPassword: password,
		Shard:         f.shard,
	}))
	if err != nil {
		return err
	}
	t := resp.Msg.GetTenant()
	if p.Format == output.JSON {
		out := struct {
			Tenant        json.RawMessage `json:"tenant"`
			AdminEmail    string          `json:"adminEmail"`
			AdminPassword string          `json:"adminPassword,omitempty"`
		}{Tenant: output.RawProto(t), AdminEmail: f.adminEmail}
		if generated {
			out.AdminPassword = password
		}
		return p.JSON(out)
	}
	if err := tenantview.Print(p, t); err != nil {
		return err
	}
	fmt.Fprintf(inv.Stdout, "admin:    %s\n", f.adminEmail)
	if generated {
		fmt.Fprintf(inv.Stdout, "password: %s (generated; shown once)\n", password)
	}
	return nil
}

// newPassword returns 20 random base32 characters (100 bits) with a lower-case letter, a
// digit and a symbol added, so any "mixed characters" strength rule is met. Tenancy refuses
// passwords containing the slug or the email's local part; a random one rarely does, and is
// drawn again when it does.
func newPassword(slug, email string) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	for {
		pw := rand.Text()[:20] + "-k7"
		low := strings.ToLower(pw)
		if (len(slug) < 3 || !strings.Contains(low, strings.ToLower(slug))) && (len(local) < 3 || !strings.Contains(low, local)) {
			return pw
		}
	}
}
