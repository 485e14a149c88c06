// Package tenantexport is `tenantctl tenants export`.
package tenantexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

type flags struct {
	file string
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "export TENANT [-f FILE]",
		Short: "Write every service's data of a tenant to one archive file",
		Long: `Write a tenant archive: a .tar.gz holding manifest.json (format version, source tenant,
and per service its record count, size and SHA-256) and one JSONL file per service:
tenancy (the tenant's name and its members, without password hashes), catalog (entities,
Locations, custom kinds, the refresh setting, credentials still sealed, the audit log),
entitlements (plan, installed plugins with their configs, grants, limit overrides) and
insights (the rollups the reports read). ` + "`tenantctl tenants import`" + ` restores it into a new
tenant. The file is written to FILE.partial and renamed when complete; without -f it is
TENANT.atrium.tar.gz.

With an operator credential any tenant can be exported. With a tenant API token
(--token atr_pat_..., or ATRIUM_TENANT_TOKEN when no operator token is set) the export is the
tenant admin's own, as in the portal's organization settings: only that tenant, only admins.
Each service's part is read from one snapshot; suspend the tenant first for an archive
consistent across services.`,
		Example: `  tenantctl tenants export acme
  tenantctl tenants export acme -f /backups/acme.tar.gz -o json
  tenantctl tenants export acme --token atr_pat_...   # as an admin of acme`,
		Args: invocation.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args[0]) },
	}
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "archive to write (default TENANT.atrium.tar.gz)")
	return cmd
}

// Summary is what the command prints.
type Summary struct {
	File     string          `json:"file"`
	Bytes    int64           `json:"bytes"`
	Records  int64           `json:"records"`
	Manifest json.RawMessage `json:"manifest"`
}

// asTenant reports whether the credential at hand is a tenant user's rather than an
// operator's: an API token passed with --token, or only a tenant token in the environment.
func asTenant(inv *invocation.Invocation) bool {
	if t := inv.Global.Token; t != "" {
		return !strings.HasPrefix(t, "atr_op_")
	}
	return inv.Getenv(invocation.EnvOperatorToken) == "" && inv.Getenv(invocation.EnvTenantToken) != ""
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, tenant string) error {
	p, err := inv.Printer(output.Table, output.JSON)
	if err != nil {
		return err
	}
	file := f.file
	if file == "" {
		file = tenant + ".atrium.tar.gz"
	}
	if file == "-" {
		return invocation.Usage(errors.New("-f -: the archive is binary; give a file name"))
	}
	type piece = *tenancyv1.TenantArchivePiece
	var recv func() (piece, bool)
	var streamErr func() error
	var closeStream func() error
	if asTenant(inv) {
		target, err := inv.TenantTarget(tenant)
		if err != nil {
			return err
		}
		s, err := client.Tenant(target).ExportTenant(ctx, connect.NewRequest(&tenancyv1.ExportTenantRequest{}))
		if err != nil {
			return err
		}
		recv = func() (piece, bool) {
			if !s.Receive() {
				return nil, false
			}
			return s.Msg().GetPiece(), true
		}
		streamErr, closeStream = s.Err, s.Close
	} else {
		target, err := inv.OperatorTarget()
		if err != nil {
			return err
		}
		s, err := client.Operator(target).ExportTenantArchive(ctx, connect.NewRequest(&tenancyv1.ExportTenantArchiveRequest{Tenant: tenant}))
		if err != nil {
			return err
		}
		recv = func() (piece, bool) {
			if !s.Receive() {
				return nil, false
			}
			return s.Msg().GetPiece(), true
		}
		streamErr, closeStream = s.Err, s.Close
	}
	defer func() { _ = closeStream() }()

	partial := file + ".partial"
	out, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = out.Close()
			_ = os.Remove(partial)
		}
	}()
	prog := inv.Progress("exporting " + tenant)
	sum := Summary{File: file}
	for {
		pc, more := recv()
		if !more {
			break
		}
		if c := pc.GetChunk(); len(c) > 0 {
			if _, err := out.Write(c); err != nil {
				return err
			}
			sum.Bytes += int64(len(c))
			prog.Count(sum.Bytes, "bytes", "writing "+file)
			continue
		}
		if m := pc.GetManifest(); m != "" {
			sum.Manifest, sum.Records = json.RawMessage(m), pc.GetRecords()
			continue
		}
		prog.Count(pc.GetRecords(), "records", pc.GetService())
	}
	prog.Done()
	if err := streamErr(); err != nil {
		return err
	}
	if sum.Manifest == nil {
		return errors.New("the export ended before the archive was complete; nothing was written")
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(partial, file); err != nil {
		return err
	}
	ok = true
	if p.Format == output.JSON {
		return p.JSON(sum)
	}
	var m struct {
		Parts []struct {
			Service string `json:"service"`
			Records int64  `json:"records"`
		} `json:"parts"`
	}
	_ = json.Unmarshal(sum.Manifest, &m)
	kv := [][2]string{{"file", file}, {"bytes", fmt.Sprint(sum.Bytes)}}
	for _, pt := range m.Parts {
		kv = append(kv, [2]string{pt.Service, fmt.Sprintf("%d records", pt.Records)})
	}
	return p.Fields(kv)
}
