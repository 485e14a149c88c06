// Package migrate is `tenantctl migrate`: bring tenant schemas to the latest version of every
// tenant-plane service.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	all         bool
	tenants     []string
	concurrency int
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "migrate (--all | --tenant TENANT...)",
		Short: "Migrate tenant schemas to the latest version, with progress",
		Long: `Ask every tenant-plane service to bring each tenant's tables to its latest version.
Progress streams from the server, one step per tenant. A failing tenant does not stop the
run: the failures are listed at the end and the exit status is 1. Migrations are idempotent,
so fixing the cause and re-running is safe.`,
		Example: `  tenantctl migrate --all
  tenantctl migrate --all --concurrency 16
  tenantctl migrate --tenant acme --tenant globex -o json`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().BoolVar(&f.all, "all", false, "every active or suspended tenant")
	cmd.Flags().StringSliceVar(&f.tenants, "tenant", nil, "a tenant slug or id (repeatable)")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 0, "tenants migrated at once, 1 to 32 (default: the server's, 4)")
	return cmd
}

// Failure is one tenant that did not migrate.
type Failure struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	Error  string `json:"error"`
}

// Summary is the result, printed as JSON with -o json.
type Summary struct {
	Total    int       `json:"total"`
	Migrated int       `json:"migrated"`
	Failed   []Failure `json:"failed"`
	Seconds  float64   `json:"seconds"`
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	switch {
	case f.all == (len(f.tenants) > 0):
		return invocation.Usage(errors.New("pass either --all or one or more --tenant"))
	case f.concurrency < 0 || f.concurrency > 32:
		return invocation.Usage(errors.New("--concurrency must be between 1 and 32"))
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	start := time.Now()
	stream, err := client.Operator(target).MigrateTenants(ctx, connect.NewRequest(&tenancyv1.MigrateTenantsRequest{
		Tenants:     f.tenants,
		Concurrency: int32(f.concurrency),
	}))
	if err != nil {
		return err
	}
	defer stream.Close()

	sum := Summary{Failed: []Failure{}}
	prog := inv.Progress("migrating")
	for stream.Receive() {
		m := stream.Msg()
		sum.Total = int(m.GetTotal())
		name := m.GetTenant().GetSlug()
		if name == "" {
			name = m.GetTenant().GetId()
		}
		if m.GetOk() {
			sum.Migrated++
			prog.Step(int(m.GetDone()), sum.Total, name+" ok")
			continue
		}
		sum.Failed = append(sum.Failed, Failure{Tenant: name, ID: m.GetTenant().GetId(), Error: m.GetError()})
		prog.Println(fmt.Sprintf("FAILED %s: %s", name, m.GetError()))
		prog.Step(int(m.GetDone()), sum.Total, name+" FAILED")
	}
	prog.Done()
	sum.Seconds = time.Since(start).Seconds()
	if err := stream.Err(); err != nil {
		// The server may have migrated more than we heard about; every step is idempotent.
		if sum.Total > 0 {
			fmt.Fprintf(inv.Stderr, "stream broke after %d of %d tenants; migrate is safe to re-run\n", sum.Migrated+len(sum.Failed), sum.Total)
		}
		return err
	}
	if err := printSummary(inv, p, sum); err != nil {
		return err
	}
	if len(sum.Failed) > 0 {
		return fmt.Errorf("%d of %d tenants failed to migrate; fix the cause and re-run (migrate is safe to re-run)", len(sum.Failed), sum.Total)
	}
	return nil
}

func printSummary(inv *invocation.Invocation, p *output.Printer, sum Summary) error {
	if p.Format == output.JSON {
		return p.JSON(sum)
	}
	if sum.Total == 0 {
		_, err := fmt.Fprintln(inv.Stdout, "no tenants to migrate")
		return err
	}
	fmt.Fprintf(inv.Stdout, "migrated %d of %d tenants in %.1fs\n", sum.Migrated, sum.Total, sum.Seconds)
	if len(sum.Failed) == 0 {
		return nil
	}
	fmt.Fprintf(inv.Stdout, "%d failed:\n", len(sum.Failed))
	rows := make([][]string, 0, len(sum.Failed))
	for _, fl := range sum.Failed {
		rows = append(rows, []string{fl.Tenant, fl.ID, fl.Error})
	}
	return p.Table([]string{"TENANT", "ID", "ERROR"}, rows)
}
