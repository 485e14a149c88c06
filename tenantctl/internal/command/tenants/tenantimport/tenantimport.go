// Package tenantimport is `tenantctl tenants import`.
package tenantimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/command/tenants/tenantview"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"github.com/spf13/cobra"
)

type flags struct {
	slug  string
	shard string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "import FILE [--slug NEW]",
		Short: "Restore a tenant archive into a new tenant",
		Long: `Upload an archive written by ` + "`tenantctl tenants export`" + ` and restore it into a new tenant
(the archive's slug unless --slug gives another; a live tenant's slug is refused). The server
checks the whole archive first (format, version, every part's size and SHA-256) and creates
nothing if it is corrupt, foreign or altered. Then it provisions the tenant and each service
restores its part in one transaction; if any part fails, the tenant is rolled back (schema
dropped, status failed, slug free again) and the error says so.

The new tenant has its own ids (tenant, schema, accounts, entity uids, Location ids). Members
come back without passwords: archives never hold password hashes, so every member, the owner
included, is mailed a link to choose a password (as ` + "`tenants create`" + ` without
--admin-password does). API tokens, sessions, pending invitations, billing (the Stripe
customer) and the audit log are not carried over. Credentials of catalog Locations are
resealed for the new tenant when this installation's key opened them; otherwise the result
lists them to set again.`,
		Example: `  tenantctl tenants import acme.atrium.tar.gz --slug acme-restored
  tenantctl tenants import /backups/acme.tar.gz -o json`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.slug, "slug", "", "slug of the new tenant (default: the archive's)")
	cmd.Flags().StringVar(&f.shard, "shard", "", "shard to place the tenant on (default: placement picks)")
	return cmd
}

const chunk = 256 << 10

func run(ctx context.Context, inv *invocation.Invocation, f *flags, file string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return fmt.Errorf("%s is empty", file)
	}
	target, err := inv.OperatorTarget()
	if err != nil {
		return err
	}
	stream := client.Operator(target).ImportTenantArchive(ctx)
	prog := inv.Progress("importing " + file)
	total := int((st.Size() + 1023) / 1024)
	buf := make([]byte, chunk)
	var sent int64
	first := true
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			msg := &tenancyv1.ImportTenantArchiveRequest{Chunk: buf[:n]}
			if first {
				msg.Slug, msg.Shard, first = f.slug, f.shard, false
			}
			if err := stream.Send(msg); err != nil {
				// io.EOF: the server answered early (a refusal); the answer follows.
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			sent += int64(n)
			prog.Step(int((sent+1023)/1024), total, "KiB uploaded")
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	prog.Println(fmt.Sprintf("importing %s: uploaded; restoring", file))
	resp, err := stream.CloseAndReceive()
	prog.Done()
	if err != nil {
		return err
	}
	out := resp.Msg
	if p.Format == output.JSON {
		return p.Proto(out)
	}
	if err := tenantview.Print(p, out.GetTenant()); err != nil {
		return err
	}
	services := make([]string, 0, len(out.GetRecords()))
	for s := range out.GetRecords() {
		services = append(services, s)
	}
	sort.Strings(services)
	kv := [][2]string{{"members mailed", fmt.Sprint(out.GetMembersInvited())}}
	for _, s := range services {
		kv = append(kv, [2]string{s, fmt.Sprintf("%d records", out.GetRecords()[s])})
	}
	if err := p.Fields(kv); err != nil {
		return err
	}
	for _, n := range out.GetNotes() {
		fmt.Fprintln(inv.Stderr, "note: "+n)
	}
	return nil
}
