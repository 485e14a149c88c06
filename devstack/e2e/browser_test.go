//go:build browser

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	catalogapp "atrium.dev/services/catalog/app"
)

// browserRepo is the repository the Locations pages register: a component, a Location
// naming two more files, one of them with an entity missing its lifecycle (reported, not
// imported).
var browserRepo = map[string]string{
	"catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: git-svc-a, description: From Git}
spec: {type: service, lifecycle: production, owner: team-x}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: git-more}
spec:
  targets: [./services/bad.yaml, ./services/c.yaml]
`,
	"services/bad.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: git-svc-b}\nspec: {type: service, owner: team-x}\n",
	"services/c.yaml":   "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: git-svc-c}\nspec: {type: website, lifecycle: production, owner: team-x}\n",
}

// TestBrowser runs the portal's Playwright test (frontend/e2e/portal.e2e.mjs) in Debian's
// Chromium against a stack serving the built web app. `make test-browser` (part of
// `make test`) builds the app, installs Chromium when missing and runs it with the build tag
// "browser": it needs frontend/dist, node_modules and a browser, so plain `go test` does not
// compile it (rather than skipping it).
func TestBrowser(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "frontend", "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("no built web app at %s: run make frontend-build", dist)
	}
	// Billing runs against the local Stripe-JSON server (billing_test.go), so the Billing page
	// shows the plan and the upgrade; nothing here reaches Stripe.
	stripe := serveH2C(t, &stripeSubs{subs: map[string]map[string]any{}})
	// A real Git repository on loopback (git http-backend, sources_test.go) for the
	// Locations pages, allowed by the catalog's outbound policy as an operator would allow
	// an internal Git host.
	repo := newBareRepo(t, "org/portal")
	repo.push(t, browserRepo)
	e := start(t, func(o *stack.Options) {
		o.StaticDir = dist
		o.StripeURL = stripe
		o.Catalog = func(c *catalogapp.Config) {
			c.Outbound.AllowHosts = []string{strings.TrimPrefix(repo.srv.URL, "http://")}
			c.Outbound.Timeout = 10 * time.Second
		}
	})
	shots := os.Getenv("ATRIUM_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, ".ci", "artifacts", "screenshots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/portal.e2e.mjs")
	cmd.Dir = filepath.Join(root, "frontend")
	cmd.Env = append(os.Environ(), "ATRIUM_URL="+e.st.GatewayURL, "ATRIUM_SCREENSHOTS="+shots, "ATRIUM_GIT_REPO="+repo.srv.URL+"/org/portal")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser test failed after %s: %v (screenshots in %s)", time.Since(start).Round(time.Second), err, shots)
	}
	t.Logf("browser test passed in %s; screenshots in %s", time.Since(start).Round(time.Second), shots)

}
