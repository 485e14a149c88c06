package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/source"
	"connectrpc.com/connect"
)

// gitServer serves bare repositories the test creates with Debian's git http-backend behind
// net/http/cgi, on loopback. token, when set, is required as basic-auth password; delay
// holds every request (a repository that times out).
type gitServer struct {
	root  string
	srv   *httptest.Server
	token string
	delay time.Duration
}

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	g := &gitServer{root: t.TempDir()}
	backend := &cgi.Handler{
		Path: "/usr/lib/git-core/git-http-backend",
		Env:  []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.delay > 0 {
			select {
			case <-time.After(g.delay):
			case <-r.Context().Done():
				return
			}
		}
		if g.token != "" {
			if _, pw, ok := r.BasicAuth(); !ok || pw != g.token {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gitServer) hostPort() string { u, _ := url.Parse(g.srv.URL); return u.Host }

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// push commits files (nil content deletes) to repo name on branch main, creating it.
func (g *gitServer) push(t *testing.T, name string, files map[string]*string) {
	t.Helper()
	bare := filepath.Join(g.root, name)
	if _, err := os.Stat(bare); err != nil {
		if err := os.MkdirAll(bare, 0o755); err != nil {
			t.Fatal(err)
		}
		git(t, bare, "init", "--bare", "-b", "main")
		git(t, bare, "config", "http.receivepack", "true")
	}
	work := t.TempDir()
	git(t, work, "clone", "-q", bare, ".")
	for p, c := range files {
		full := filepath.Join(work, p)
		if c == nil {
			_ = os.Remove(full)
			continue
		}
		_ = os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(*c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "-m", "change", "--allow-empty")
	git(t, work, "push", "-q", "origin", "HEAD:main")
}

func s(v string) *string { return &v }

func secretKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// sourceServer is a catalog whose fetches may reach the given loopback servers only.
func sourceServer(t *testing.T, allow []string, mutate ...func(*app.Config)) *server {
	return newServer(t, append([]func(*app.Config){func(c *app.Config) {
		c.SecretKey = secretKey()
		c.Outbound = source.Policy{AllowHosts: allow, Timeout: 3 * time.Second}
		c.DisableWorker = true
	}}, mutate...)...)
}

func (s *server) locations(id *authn.Identity) catalogv1connect.LocationServiceClient {
	return catalogv1connect.NewLocationServiceClient(s.client, s.url, connect.WithInterceptors(as{s.signer, id}))
}

const repoRoot = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc-a
  description: {$text: ./docs/desc.txt}
spec: {type: service, lifecycle: production, owner: team-x}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: more}
spec:
  targets: [./services/b.yaml, "%s/org/repo/blob/main/services/c.yaml"]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {size: 3}
`

func TestLocationsFromGit(t *testing.T) {
	g := newGitServer(t)
	g.push(t, "org/repo", map[string]*string{
		"catalog-info.yaml": s(strings.ReplaceAll(repoRoot, "%s", g.srv.URL)),
		"docs/desc.txt":     s("Serves A"),
		// status is the catalog's to set: this entity is rejected, its neighbour is not.
		"services/b.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-b}\nspec: {type: service, lifecycle: production, owner: team-x}\nstatus: {}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-b2}\nspec: {type: service, lifecycle: production, owner: team-x}\n"),
		"services/c.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-c}\nspec: {type: website, lifecycle: production, owner: team-x}\n"),
	})
	srv := sourceServer(t, []string{g.hostPort()})
	tn := srv.env.Tenant(t, "acme")
	id := &tn.Identity
	target := g.srv.URL + "/org/repo/blob/main/catalog-info.yaml"

	// Dry run (REST): Backstage fails it as a whole on the first bad entity.
	st, _, v := srv.rest(t, id, "POST", "/api/catalog/locations?dryRun=true", map[string]any{"type": "url", "target": target})
	wantError(t, st, v, 400, "InputError", "POST", "/api/catalog/locations?dryRun=true", "No processor recognized the entity widget:default/w")
	// Dry run (Connect): the preview, with the problems listed.
	lc := srv.locations(id)
	ctx := context.Background()
	dry, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: target, DryRun: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(dry.Msg.GetEntities()); !slices.Equal(got, []string{"generated-" + sha1hex("url:"+target), "svc-a", "more", "svc-b2", "svc-c"}) || len(dry.Msg.GetProblems()) != 2 {
		t.Fatalf("dry run entities %v problems %v", got, dry.Msg.GetProblems())
	}
	if total(t, srv.catalog(id)) != 0 {
		t.Fatal("dry run wrote")
	}

	// Register (REST): 201, Backstage's shape; entities imported one by one.
	st, _, v = srv.rest(t, id, "POST", "/api/catalog/locations", map[string]any{"type": "url", "target": target})
	if st != 201 || field(v, "location", "target") != target || field(v, "location", "entityRef") != "location:default/generated-"+sha1hex("url:"+target) {
		t.Fatalf("create = %d %v", st, v)
	}
	locID := field(v, "location", "id").(string)
	st, _, v = srv.rest(t, id, "POST", "/api/catalog/locations", map[string]any{"type": "url", "target": target})
	wantError(t, st, v, 409, "ConflictError", "POST", "/api/catalog/locations", "Location url:"+target+" already exists")
	st, _, v = srv.rest(t, id, "POST", "/api/catalog/locations", map[string]any{"type": "file", "target": "/etc/passwd"})
	wantError(t, st, v, 400, "InputError", "POST", "/api/catalog/locations", "Registered locations must be of type 'url'")

	st, _, v = srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-a", nil)
	if st != 200 || field(v, "metadata", "description") != "Serves A" ||
		field(v, "metadata", "annotations", "backstage.io/managed-by-location") != "url:"+g.srv.URL+"/org/repo/blob/main/catalog-info.yaml" ||
		field(v, "metadata", "annotations", "backstage.io/managed-by-origin-location") != "url:"+target {
		t.Fatalf("svc-a = %d %v", st, v)
	}
	for _, n := range []string{"svc-b2", "svc-c"} {
		if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/"+n, nil); st != 200 {
			t.Fatalf("%s not imported: %d", n, st)
		}
	}
	if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-b", nil); st != 404 {
		t.Fatalf("svc-b imported despite its status field: %d", st)
	}
	got, err := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
	if err != nil {
		t.Fatal(err)
	}
	loc := got.Msg.GetLocation()
	if loc.GetEntityCount() != 5 || loc.GetRevision() == "" || loc.GetLastError() != "" || len(loc.GetProblems()) != 2 {
		t.Fatalf("location = %v", loc)
	}
	probs := map[string]*catalogv1.ImportProblem{}
	for _, p := range loc.GetProblems() {
		probs[p.GetFile()+"#"+p.GetField()] = p
	}
	if p := probs["catalog-info.yaml#kind"]; p == nil || p.GetDocument() != 2 || !p.GetHasDocument() {
		t.Fatalf("problems = %v", loc.GetProblems())
	}
	if p := probs["services/b.yaml#status"]; p == nil || p.GetDocument() != 0 {
		t.Fatalf("problems = %v", loc.GetProblems())
	}

	// The Locations REST API.
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations", nil)
	if st != 200 || len(v.([]any)) != 1 || field(v.([]any)[0], "data", "id") != locID {
		t.Fatalf("GET /locations = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations/"+locID, nil)
	if st != 200 || field(v, "target") != target || field(v, "type") != "url" {
		t.Fatalf("GET /locations/id = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations/by-entity/component/default/svc-c", nil)
	if st != 200 || field(v, "id") != locID {
		t.Fatalf("by-entity = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations/by-ref/"+url.PathEscape("url:"+target), nil)
	if st != 200 || field(v, "id") != locID {
		t.Fatalf("by-ref = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "POST", "/api/catalog/locations/by-query", map[string]any{"query": map[string]any{"target": map[string]any{"$hasPrefix": g.srv.URL}}, "limit": 5})
	if st != 200 || field(v, "totalItems") != float64(1) || len(field(v, "items").([]any)) != 1 {
		t.Fatalf("locations by-query = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/locations/00000000-0000-0000-0000-000000000000", nil)
	wantError(t, st, v, 404, "NotFoundError", "GET", "/api/catalog/locations/00000000-0000-0000-0000-000000000000", "Found no location with ID 00000000-0000-0000-0000-000000000000")
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-c/ancestry", nil)
	if st != 200 || field(v, "rootEntityRef") != "component:default/svc-c" || len(field(v, "items").([]any)) != 2 {
		t.Fatalf("ancestry = %d %v", st, v)
	}

	// A custom kind makes the Widget importable; its schema is enforced.
	if _, err := srv.locations(&tn.Admin).SetCustomKind(ctx, connect.NewRequest(&catalogv1.SetCustomKindRequest{Kind: &catalogv1.CustomKind{Kind: "Widget",
		JsonSchema: `{"type":"object","required":["spec"],"properties":{"spec":{"type":"object","required":["size"],"properties":{"size":{"type":"integer","maximum":2}}}}}`}})); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.RefreshLocation(ctx, connect.NewRequest(&catalogv1.RefreshLocationRequest{Id: locID})); err != nil {
		t.Fatal(err)
	}
	got, _ = lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
	if ps := got.Msg.GetLocation().GetProblems(); len(ps) != 2 || !strings.Contains(ps[0].GetMessage()+ps[1].GetMessage(), "schema") {
		t.Fatalf("schema problems = %v", ps)
	}
	if _, err := srv.locations(&tn.Admin).SetCustomKind(ctx, connect.NewRequest(&catalogv1.SetCustomKindRequest{Kind: &catalogv1.CustomKind{Kind: "Widget"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.RefreshLocation(ctx, connect.NewRequest(&catalogv1.RefreshLocationRequest{Id: locID})); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/widget/default/w", nil); st != 200 {
		t.Fatalf("custom kind entity = %d", st)
	}

	// A push, then the webhook: svc-c is gone from the repository (an orphan now), svc-d new.
	g.push(t, "org/repo", map[string]*string{"services/c.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-d}\nspec: {type: website, lifecycle: production, owner: team-x}\n")})
	sec, err := srv.locations(&tn.Admin).GetWebhookSecret(ctx, connect.NewRequest(&catalogv1.GetWebhookSecretRequest{Id: locID}))
	if err != nil {
		t.Fatal(err)
	}
	if code := srv.webhook(t, id, locID, "wrong-secret", `{"ref":"refs/heads/main"}`); code != 401 {
		t.Fatalf("badly signed webhook = %d", code)
	}
	if code := srv.webhook(t, id, locID, sec.Msg.GetSecret(), `{"ref":"refs/heads/main"}`); code != 202 {
		t.Fatalf("webhook = %d", code)
	}
	waitFor(t, func() bool {
		st, _, v := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-c", nil)
		return st == 200 && field(v, "metadata", "annotations", "backstage.io/orphan") == "true"
	})
	if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-d", nil); st != 200 {
		t.Fatalf("svc-d after push = %d", st)
	}
	// Nothing new: a webhook checks the ref and writes nothing.
	before, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
	time.Sleep(10 * time.Millisecond)
	if code := srv.webhook(t, id, locID, sec.Msg.GetSecret(), `{}`); code != 202 {
		t.Fatalf("webhook = %d", code)
	}
	waitFor(t, func() bool {
		after, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
		return after.Msg.GetLocation().GetCheckedAt() > before.Msg.GetLocation().GetCheckedAt()
	})
	after, _ := lc.GetLocation(ctx, connect.NewRequest(&catalogv1.GetLocationRequest{Id: locID}))
	if after.Msg.GetLocation().GetRefreshedAt() != before.Msg.GetLocation().GetRefreshedAt() {
		t.Fatal("an unchanged refresh wrote the location")
	}

	// Another tenant sees none of it.
	globex := srv.env.Tenant(t, "globex")
	gl := &globex.Admin
	if st, _, _ := srv.rest(t, gl, "GET", "/api/catalog/locations/"+locID, nil); st != 404 {
		t.Fatalf("globex GET = %d", st)
	}
	if st, _, _ := srv.rest(t, gl, "DELETE", "/api/catalog/locations/"+locID, nil); st != 404 {
		t.Fatalf("globex DELETE = %d", st)
	}
	if code := srv.webhook(t, gl, locID, sec.Msg.GetSecret(), `{}`); code != 401 {
		t.Fatalf("acme's signature for globex's tenant = %d", code)
	}

	// Unregister: the entities stay, as orphans; the Location entity goes.
	st, _, v = srv.rest(t, id, "DELETE", "/api/catalog/locations/"+locID, nil)
	wantError(t, st, v, 403, "NotAllowedError", "DELETE", "/api/catalog/locations/"+locID, "admin")
	if st, _, v := srv.rest(t, &tn.Admin, "DELETE", "/api/catalog/locations/"+locID, nil); st != 204 {
		t.Fatalf("delete = %d %v", st, v)
	}
	st, _, v = srv.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/svc-a", nil)
	if st != 200 || field(v, "metadata", "annotations", "backstage.io/orphan") != "true" {
		t.Fatalf("svc-a after delete = %d %v", st, v)
	}
	if st, _, _ := srv.rest(t, id, "GET", "/api/catalog/entities/by-name/location/default/generated-"+sha1hex("url:"+target), nil); st != 404 {
		t.Fatalf("location entity after delete = %d", st)
	}
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// webhook posts a push as the gateway forwards it: the tenant in the internal token.
func (s *server) webhook(t *testing.T, id *authn.Identity, loc, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/webhooks/git/"+loc, strings.NewReader(body))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	tenantOnly := authn.Identity{TenantID: id.TenantID, TenantSlug: id.TenantSlug, Schema: id.Schema, Shard: id.Shard}
	as{s.signer, &tenantOnly}.header(req.Header)
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

func TestLocationsCredentialsTimeoutsAndSSRF(t *testing.T) {
	private := newGitServer(t)
	private.token = "s3cret"
	private.push(t, "org/private", map[string]*string{"catalog-info.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: hidden}\nspec: {type: team, children: []}\n")})
	slow := newGitServer(t)
	slow.push(t, "org/slow", map[string]*string{"catalog-info.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: slow}\nspec: {type: team, children: []}\n")})
	slow.delay = 5 * time.Second
	blocked := newGitServer(t) // not on the allow list
	blocked.push(t, "org/r", map[string]*string{"catalog-info.yaml": s("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: x}\nspec: {type: team, children: []}\n")})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, blocked.srv.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	hostOf := func(u string) string { p, _ := url.Parse(u); return p.Host }

	srv := sourceServer(t, []string{private.hostPort(), slow.hostPort(), hostOf(redirect.URL)})
	tn := srv.env.Tenant(t, "acme")
	lc := srv.locations(&tn.Admin)
	ctx := context.Background()
	dry := func(target string) error {
		_, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: target, DryRun: true}))
		return err
	}
	tests := []struct {
		name, target, want string
	}{
		{"credentials required", private.srv.URL + "/org/private", "refused the credentials"},
		{"loopback without allowance", blocked.srv.URL + "/org/r", "loopback"},
		{"redirect to a refused address", redirect.URL + "/org/r/blob/main/catalog-info.yaml", "loopback"},
		{"plain file redirected", redirect.URL + "/org/r.yaml", "loopback"},
		{"metadata address", "http://169.254.169.254/latest/meta-data.yaml", "link-local"},
		{"private range", "http://10.1.2.3/org/repo", "private"},
		{"timeout", slow.srv.URL + "/org/slow", "did not answer"},
		{"not a URL", "ftp://example.com/x", "http(s) URL"},
		{"credentials in the URL", "https://user:pw@example.com/org/repo", "credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := dry(tc.target)
			if err == nil || !strings.Contains(fmt.Sprint(err, rpcerr.FieldViolations(err)), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// With a stored token the private repository reads; the token is never returned.
	if _, err := lc.SetCredential(ctx, connect.NewRequest(&catalogv1.SetCredentialRequest{Host: private.hostPort(), Token: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	if err := dry(private.srv.URL + "/org/private"); err != nil {
		t.Fatal(err)
	}
	list, err := lc.ListCredentials(ctx, connect.NewRequest(&catalogv1.ListCredentialsRequest{}))
	if err != nil || len(list.Msg.GetCredentials()) != 1 || strings.Contains(list.Msg.String(), "s3cret") {
		t.Fatalf("credentials = %v %v", list, err)
	}
	// Another tenant's catalog has no credential for the host.
	globex := srv.env.Tenant(t, "globex")
	other := srv.locations(&globex.Admin)
	if _, err := other.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: private.srv.URL + "/org/private", DryRun: true})); err == nil {
		t.Fatal("globex read acme's private repository")
	}
	// A member may not manage credentials.
	if _, err := srv.locations(&tn.Identity).SetCredential(ctx, connect.NewRequest(&catalogv1.SetCredentialRequest{Host: "x", Token: "y"})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("member SetCredential = %v", err)
	}
	// One tenant's slow repository does not hold up another tenant's refresh.
	start := time.Now()
	done := make(chan struct{})
	slowco := srv.env.Tenant(t, "slowco")
	go func() {
		defer close(done)
		_, _ = srv.locations(&slowco.Admin).CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: slow.srv.URL + "/org/slow"}))
	}()
	if _, err := lc.CreateLocation(ctx, connect.NewRequest(&catalogv1.CreateLocationRequest{Target: private.srv.URL + "/org/private"})); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a fast repository took %s beside a slow one", d)
	}
	<-done
}
