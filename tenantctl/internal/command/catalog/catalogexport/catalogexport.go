// Package catalogexport is `tenantctl catalog export`.
package catalogexport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

type flags struct {
	tenant  string
	filters []string
	raw     bool
}

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "export --tenant SLUG",
		Short: "Export a tenant's catalog as multi-document YAML (or a JSON array)",
		Long: `Write every entity of a tenant's catalog to stdout, page by page. By default the fields
the catalog computes (relations, metadata.uid, etag, generation, the managed-by-location
annotations) and the Location entities (which point at the files the export replaces) are
left out, so the output can be imported again as it is; --raw keeps everything.`,
		Example: `  tenantctl catalog export --tenant demo > demo.yaml
  tenantctl catalog export --tenant demo --filter kind=component -o json | jq length`,
		Args: invocation.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), inv, f) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug to export (required)")
	cmd.Flags().StringArrayVar(&f.filters, "filter", nil, "Backstage filter set, e.g. kind=component,spec.lifecycle=production (repeatable: ORed)")
	cmd.Flags().BoolVar(&f.raw, "raw", false, "keep computed fields and Location entities")
	return cmd
}

const pageSize = 500

func run(ctx context.Context, inv *invocation.Invocation, f *flags) error {
	p, err := inv.Printer(output.YAML, output.JSON)
	if err != nil {
		return err
	}
	if f.tenant == "" {
		return invocation.Usage(errors.New("--tenant is required"))
	}
	target, err := inv.TenantTarget(f.tenant)
	if err != nil {
		return err
	}
	cat := client.Catalog(target)
	w := bufio.NewWriter(inv.Stdout)
	defer w.Flush()
	prog := inv.Progress("exporting")
	defer prog.Done()

	req := &catalogv1.ListEntitiesRequest{Filter: f.filters, PageSize: pageSize}
	n, locations := 0, 0
	var total int64
	for {
		resp, err := cat.ListEntities(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		if req.PageToken == "" {
			total = resp.Msg.GetTotalItems()
		}
		for _, e := range resp.Msg.GetEntities() {
			m := e.AsMap()
			if !f.raw {
				if kind, _ := m["kind"].(string); strings.EqualFold(kind, "Location") {
					locations++
					continue
				}
				strip(m)
			}
			if err := write(w, p.Format, m, n); err != nil {
				return err
			}
			n++
		}
		prog.Step(n+locations, int(total), "entities")
		next := resp.Msg.GetNextPageToken()
		if next == "" || len(resp.Msg.GetEntities()) == 0 {
			break
		}
		req.PageToken, req.SkipTotal = next, true
	}
	if locations > 0 {
		prog.Println(fmt.Sprintf("left out %d Location entities (--raw keeps them)", locations))
	}
	if p.Format == output.JSON {
		if n == 0 {
			fmt.Fprint(w, "[")
		}
		fmt.Fprintln(w, "\n]")
	}
	return nil
}

func write(w *bufio.Writer, format output.Format, m map[string]any, i int) error {
	if format == output.JSON {
		b, err := json.MarshalIndent(m, "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n  "
		if i == 0 {
			sep = "[\n  "
		}
		_, err = fmt.Fprint(w, sep+string(b))
		return err
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	if i > 0 {
		fmt.Fprintln(w, "---")
	}
	_, err = w.Write(b)
	return err
}

// strip removes what the catalog computes, so the export re-imports cleanly.
func strip(m map[string]any) {
	delete(m, "relations")
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "uid")
		delete(md, "etag")
		delete(md, "generation")
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, "backstage.io/managed-by-location")
			delete(ann, "backstage.io/managed-by-origin-location")
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
}
