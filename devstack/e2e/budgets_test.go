//go:build browser

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
)

// TestPortalBudgets measures the portal's budgets (docs/BENCHMARKS.md, "Portal"):
// Lighthouse performance and accessibility on the catalog and an entity page, and the
// catalog's interactive time, at ATRIUM_BUDGET_ENTITIES (10,000) entities of the catalog's
// synthetic generator (services/catalog/cmd/synthcatalog). frontend/e2e/budgets.mjs does the
// measuring and fails on a missed budget; with ATRIUM_BENCH_LOCK (make portal-budgets
// BENCH_LOCK=<file>) it holds that lock while measuring only, not while this starts the stack
// and imports the catalog. `make portal-budgets` runs it; it is not part of `make test` (the
// figures are for the benchmarks page and need a quiet machine).
func TestPortalBudgets(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "frontend", "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("no built web app at %s: run make frontend-build", dist)
	}
	n := 10000
	if v := os.Getenv("ATRIUM_BUDGET_ENTITIES"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("ATRIUM_BUDGET_ENTITIES: %v", err)
		}
	}
	synth := t.TempDir()
	gen := exec.Command("go", "run", "./services/catalog/cmd/synthcatalog", "-n", strconv.Itoa(n), "-out", synth)
	gen.Dir = root
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("synthcatalog: %v\n%s", err, out)
	}
	e := start(t, func(o *stack.Options) { o.StaticDir = dist })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/budgets.mjs")
	cmd.Dir = filepath.Join(root, "frontend")
	reports := os.Getenv("ATRIUM_LIGHTHOUSE_REPORTS")
	if reports == "" {
		reports = filepath.Join(root, ".ci", "artifacts", "lighthouse")
	}
	cmd.Env = append(os.Environ(), "ATRIUM_URL="+e.st.GatewayURL, "ATRIUM_SYNTH_DIR="+synth, "ATRIUM_LIGHTHOUSE_REPORTS="+reports)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("portal budgets: %v (Lighthouse reports in %s)", err, reports)
	}
}
