package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	catalogapp "atrium.dev/services/catalog/app"
	"connectrpc.com/connect"
)

// bareRepo serves one repository from Debian's git http-backend on loopback and pushes to it.
type bareRepo struct {
	root, name string
	srv        *httptest.Server
}

func newBareRepo(t *testing.T, name string) *bareRepo {
	t.Helper()
	r := &bareRepo{root: t.TempDir(), name: name}
	r.srv = httptest.NewServer(&cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + r.root, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(r.srv.Close)
	bare := filepath.Join(r.root, name)
	_ = os.MkdirAll(bare, 0o755)
	runGit(t, bare, "init", "-q", "--bare", "-b", "main")
	return r
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (r *bareRepo) push(t *testing.T, files map[string]string) {
	t.Helper()
	work := t.TempDir()
	runGit(t, work, "clone", "-q", filepath.Join(r.root, r.name), ".")
	for p, c := range files {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755)
		if err := os.WriteFile(filepath.Join(work, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "e2e")
	runGit(t, work, "push", "-q", "origin", "HEAD:main")
}

func (e *env) locations(token, tenant string) catalogv1connect.LocationServiceClient {
	return catalogv1connect.NewLocationServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

const e2eComponents = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a, description: first}
spec: {type: service, lifecycle: production, owner: team-x}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: website, lifecycle: production, owner: team-x}
`

// TestLocationsThroughGateway registers a Git repository through the gateway's REST API,
// pushes a change, delivers the push webhook to the gateway's public route, and then runs
// Backstage's own catalog client against the same catalog.
func TestLocationsThroughGateway(t *testing.T) {
	repo := newBareRepo(t, "org/app")
	repo.push(t, map[string]string{"catalog-info.yaml": e2eComponents})
	host := strings.TrimPrefix(repo.srv.URL, "http://")
	e := start(t, func(o *stack.Options) {
		o.Catalog = func(c *catalogapp.Config) {
			c.Outbound.AllowHosts = []string{host}
			c.Outbound.Timeout = 5 * time.Second
			c.DisableWorker = true
		}
	})
	acme := signUp(t, e, "acme")
	ctx := context.Background()
	target := repo.srv.URL + "/org/app/blob/main/catalog-info.yaml"

	rest := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(ctx, method, e.st.GatewayURL+"/api/catalog"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+acme.access)
		req.Header.Set("Atrium-Tenant", "acme")
		req.Header.Set("Content-Type", "application/json")
		res, err := e.st.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var v map[string]any
		_ = json.Unmarshal(raw, &v)
		return res.StatusCode, v
	}
	st, v := rest("POST", "/locations", `{"type":"url","target":"`+target+`"}`)
	if st != 201 {
		t.Fatalf("register = %d %v", st, v)
	}
	locID := v["location"].(map[string]any)["id"].(string)
	if st, v := rest("GET", "/entities/by-name/component/default/svc-a", ""); st != 200 || v["metadata"].(map[string]any)["description"] != "first" {
		t.Fatalf("svc-a = %d %v", st, v)
	}

	repo.push(t, map[string]string{"catalog-info.yaml": strings.Replace(e2eComponents, "first", "second", 1)})
	sec, err := e.locations(acme.access, "acme").GetWebhookSecret(ctx, connect.NewRequest(&catalogv1.GetWebhookSecretRequest{Id: locID}))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, secret string) int {
		body := `{"ref":"refs/heads/main"}`
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		req, _ := http.NewRequestWithContext(ctx, "POST", e.st.GatewayURL+path, strings.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("X-GitHub-Event", "push")
		res, err := e.st.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("/webhooks/git/acme/"+locID, "not-the-secret"); code != 401 {
		t.Fatalf("unsigned webhook = %d", code)
	}
	if code := post("/webhooks/git/nosuchtenant/"+locID, sec.Msg.GetSecret()); code != 404 {
		t.Fatalf("webhook for an unknown tenant = %d", code)
	}
	if code := post(sec.Msg.GetPath(), sec.Msg.GetSecret()); code != 202 {
		t.Fatalf("webhook at %s = %d", sec.Msg.GetPath(), code)
	}
	if err := eventually(func() error {
		if _, v := rest("GET", "/entities/by-name/component/default/svc-a", ""); v["metadata"].(map[string]any)["description"] != "second" {
			return errString("not refreshed yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("backstage catalog-client", func(t *testing.T) {
		runCatalogClient(t, e.st.GatewayURL, acme.access, "acme", target)
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// runCatalogClient runs catalogclient/test.mjs (Backstage's @backstage/catalog-client,
// pinned in its package.json), installing it first when needed.
func runCatalogClient(t *testing.T, base, token, tenant, location string) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is needed for the catalog-client test (apt-get install nodejs npm)")
	}
	dir, _ := filepath.Abs("catalogclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@backstage", "catalog-client")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	u, _ := url.Parse(base)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ATRIUM_URL="+u.String(), "ATRIUM_TOKEN="+token, "ATRIUM_TENANT="+tenant, "ATRIUM_LOCATION="+location)
	out, err := cmd.CombinedOutput()
	t.Logf("catalog-client:\n%s", out)
	if err != nil {
		t.Fatalf("catalog-client checks failed: %v", err)
	}
}
