// Package catalogimport is `tenantctl catalog import`.
package catalogimport

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/tenantctl/internal/bundle"
	"atrium.dev/tenantctl/internal/client"
	"atrium.dev/tenantctl/internal/invocation"
	"atrium.dev/tenantctl/internal/output"
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

type flags struct {
	tenant string
	dryRun bool
}

// Limits of one catalog call (the API's: 1,000 entities, 4 MiB), with room for the envelope.
const (
	maxDocs  = 1000
	maxBytes = 3 << 20
)

// NewCommand returns the command.
func NewCommand(inv *invocation.Invocation) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "import --tenant SLUG PATH...",
		Short: "Import Backstage catalog files (files or directories of *.yaml/*.yml)",
		Long: `Import catalog-info.yaml style files into a tenant's catalog. Directories are searched
for *.yaml and *.yml files; Location entities are followed to the files they name, and
$text/$json/$yaml substitutions are sent along. A bundle within the API's limits (1,000
entities, 4 MiB) is imported in one all-or-nothing ImportBundle call; a bigger one is applied
in batches of up to 1,000 entities with progress (each batch all-or-nothing).`,
		Example: `  tenantctl catalog import --tenant demo examples/catalog
  tenantctl catalog import --tenant acme --token atr_pat_... catalog-info.yaml services/
  tenantctl catalog import --tenant acme --dry-run ./catalog -o json`,
		Args: invocation.MinimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), inv, f, args) },
	}
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "tenant slug to import into (required)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "validate only; write nothing")
	return cmd
}

// Result is what -o json prints.
type Result struct {
	Mode      string                     `json:"mode"` // "bundle" or "batches"
	Files     int                        `json:"files"`
	Entities  int                        `json:"entities"`
	Created   int                        `json:"created"`
	Updated   int                        `json:"updated"`
	Unchanged int                        `json:"unchanged"`
	Skipped   []*catalogv1.SkippedTarget `json:"-"`
	DryRun    bool                       `json:"dryRun"`
}

func run(ctx context.Context, inv *invocation.Invocation, f *flags, paths []string) error {
	p, err := inv.Printer(output.Table, output.JSON)
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
	b, err := bundle.Load(paths)
	if err != nil {
		return err
	}
	cat := client.Catalog(target)
	res := Result{Files: len(b.Files), Entities: b.EntityCount(), DryRun: f.dryRun}
	if res.Entities <= maxDocs && b.Size() <= maxBytes {
		err = importBundle(ctx, inv, cat, b, f, &res)
	} else {
		err = applyBatches(ctx, inv, cat, b, f, &res)
	}
	if err != nil {
		return err
	}
	if p.Format == output.JSON {
		return p.JSON(struct {
			Result
			Skipped []skipped `json:"skipped"`
		}{res, skippedList(res.Skipped)})
	}
	verb := "imported"
	if f.dryRun {
		verb = "validated (dry run, nothing written)"
	}
	fmt.Fprintf(inv.Stdout, "%s %d entities from %d files into %s: %d created, %d updated, %d unchanged\n",
		verb, res.Created+res.Updated+res.Unchanged, res.Files, f.tenant, res.Created, res.Updated, res.Unchanged)
	if len(res.Skipped) > 0 {
		fmt.Fprintf(inv.Stdout, "%d targets skipped:\n", len(res.Skipped))
		rows := make([][]string, 0, len(res.Skipped))
		for _, s := range res.Skipped {
			rows = append(rows, []string{s.GetLocation(), s.GetTarget(), s.GetReason()})
		}
		return p.Table([]string{"LOCATION", "TARGET", "REASON"}, rows)
	}
	return nil
}

type skipped struct {
	Location string `json:"location"`
	Target   string `json:"target"`
	Reason   string `json:"reason"`
}

func skippedList(in []*catalogv1.SkippedTarget) []skipped {
	out := make([]skipped, 0, len(in))
	for _, s := range in {
		out = append(out, skipped{s.GetLocation(), s.GetTarget(), s.GetReason()})
	}
	return out
}

func count(res *Result, results []*catalogv1.ApplyResult) {
	for _, r := range results {
		switch r.GetAction() {
		case catalogv1.ApplyAction_APPLY_ACTION_CREATED:
			res.Created++
		case catalogv1.ApplyAction_APPLY_ACTION_UPDATED:
			res.Updated++
		default:
			res.Unchanged++
		}
	}
}

func importBundle(ctx context.Context, inv *invocation.Invocation, cat catalogv1connect.CatalogServiceClient, b *bundle.Bundle, f *flags, res *Result) error {
	res.Mode = "bundle"
	prog := inv.Progress("importing")
	prog.Step(0, 1, fmt.Sprintf("%d files, %d entities", len(b.Files), res.Entities))
	resp, err := cat.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{
		Files:  b.FileMap(),
		Roots:  b.Roots(),
		DryRun: f.dryRun,
		// This command promises all or nothing (the catalog's default is entity by entity).
		Strict: true,
	}))
	if err != nil {
		prog.Done()
		return err
	}
	prog.Step(1, 1, "done")
	prog.Done()
	count(res, resp.Msg.GetResults())
	res.Skipped = resp.Msg.GetSkipped()
	return nil
}

func applyBatches(ctx context.Context, inv *invocation.Invocation, cat catalogv1connect.CatalogServiceClient, b *bundle.Bundle, f *flags, res *Result) error {
	res.Mode = "batches"
	docs, err := b.Documents()
	if err != nil {
		return err
	}
	batches := bundle.Batches(docs, maxDocs, maxBytes)
	prog := inv.Progress("importing")
	done := 0
	for i, batch := range batches {
		req := &catalogv1.ApplyEntitiesRequest{DryRun: f.dryRun}
		for _, d := range batch {
			req.YamlDocuments = append(req.YamlDocuments, d.YAML)
		}
		resp, err := cat.ApplyEntities(ctx, connect.NewRequest(req))
		if err != nil {
			prog.Done()
			if done > 0 && !f.dryRun {
				fmt.Fprintf(inv.Stderr, "batches 1 to %d (%d entities) were applied; batch %d of %d was not. Re-running is safe: unchanged entities are not rewritten.\n", i, done, i+1, len(batches))
			}
			return withSources(err, batch)
		}
		count(res, resp.Msg.GetResults())
		done += len(batch)
		prog.Step(done, len(docs), fmt.Sprintf("entities (batch %d/%d)", i+1, len(batches)))
	}
	prog.Done()
	return nil
}

var docIndex = regexp.MustCompile(`^documents\[(\d+)\]`)

// withSources renames "documents[i]" in field violations to the file and document it came
// from, since batch positions mean nothing to the person who wrote the files.
func withSources(err error, batch []bundle.Document) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := connect.NewError(ce.Code(), errors.New(ce.Message()))
	for _, d := range ce.Details() {
		msg, derr := d.Value()
		br, ok := msg.(*errdetails.BadRequest)
		if derr != nil || !ok {
			out.AddDetail(d)
			continue
		}
		for _, fv := range br.GetFieldViolations() {
			if m := docIndex.FindStringSubmatch(fv.GetField()); m != nil {
				if i, _ := strconv.Atoi(m[1]); i < len(batch) {
					fv.Field = batch[i].Source + fv.GetField()[len(m[0]):]
				}
			}
		}
		if nd, err := connect.NewErrorDetail(br); err == nil {
			out.AddDetail(nd)
		}
	}
	return out
}
