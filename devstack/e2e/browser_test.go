//go:build browser

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
)

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
	e := start(t, func(o *stack.Options) { o.StaticDir = dist; o.StripeURL = stripe })
	shots := os.Getenv("ATRIUM_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, ".ci", "artifacts", "screenshots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/portal.e2e.mjs")
	cmd.Dir = filepath.Join(root, "frontend")
	cmd.Env = append(os.Environ(), "ATRIUM_URL="+e.st.GatewayURL, "ATRIUM_SCREENSHOTS="+shots)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser test failed after %s: %v (screenshots in %s)", time.Since(start).Round(time.Second), err, shots)
	}
	t.Logf("browser test passed in %s; screenshots in %s", time.Since(start).Round(time.Second), shots)

}
