package app_test

import (
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

type backstageError struct {
	Error struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
	Response struct {
		StatusCode int `json:"statusCode"`
	} `json:"response"`
}

func TestREST(t *testing.T) {
	s := newStack(t)
	member := s.userToken(memberAcme, "acme1", authn.RoleMember)
	admin := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	suspended := s.userToken("u-susp", "susp1", authn.RoleOwner)
	tests := []struct {
		name    string
		method  string
		path    string
		call    call
		status  int
		errName string
	}{
		{"member reads", "GET", "/api/catalog/entities?filter=kind=component", call{host: "acme", token: member}, 200, ""},
		{"member queries by refs", "POST", "/api/catalog/entities/by-refs", call{tenant: "acme", token: member}, 200, ""},
		{"member writes", "POST", "/api/catalog/locations", call{tenant: "acme", token: member}, 200, ""},
		{"member deletes", "DELETE", "/api/catalog/entities/by-uid/123", call{tenant: "acme", token: member}, 403, "NotAllowedError"},
		{"admin deletes", "DELETE", "/api/catalog/entities/by-uid/123", call{tenant: "acme", token: admin}, 200, ""},
		{"no token", "GET", "/api/catalog/entities", call{tenant: "acme"}, 401, "AuthenticationError"},
		{"forged token", "GET", "/api/catalog/entities", call{tenant: "acme", token: "eyJhbGciOiJub25lIn0.e30."}, 401, "AuthenticationError"},
		{"other tenant", "GET", "/api/catalog/entities", call{tenant: "globex", token: member}, 403, "NotAllowedError"},
		{"unknown tenant", "GET", "/api/catalog/entities", call{tenant: "nosuch", token: member}, 404, "NotFoundError"},
		{"suspended reads", "GET", "/api/catalog/entities", call{tenant: "suspended", token: suspended}, 200, ""},
		{"suspended queries", "POST", "/api/catalog/entities/by-query", call{tenant: "suspended", token: suspended}, 200, ""},
		{"suspended writes", "POST", "/api/catalog/locations", call{tenant: "suspended", token: suspended}, 409, "ConflictError"},
		{"unknown api", "GET", "/api/nope/things", call{tenant: "acme", token: member}, 404, "NotFoundError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := ""
			if tt.call.host != "" {
				host = s.tenantHost(tt.call.host)
			}
			req, _ := http.NewRequest(tt.method, s.server.URL+tt.path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			tt.call.apply(req.Header)
			before := s.restHits.Load()
			res, err := http1Client(host).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, body)
			}
			reached := s.restHits.Load() != before
			if tt.errName == "" {
				if !reached {
					t.Error("did not reach the upstream")
				}
				var e echo
				if err := json.Unmarshal(body, &e); err != nil || e.Identity.TenantID == "" || e.Identity.UserID == "" || e.Authorization != "" {
					t.Errorf("upstream saw %s (%v)", body, err)
				}
				return
			}
			if reached {
				t.Error("refused request reached the upstream")
			}
			var e backstageError
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Name != tt.errName || e.Error.Message == "" || e.Response.StatusCode != tt.status {
				t.Errorf("body %s, want %s", body, tt.errName)
			}
		})
	}
}

func TestHealthReadyJWKS(t *testing.T) {
	s := newStack(t)
	get := func(url string) (int, []byte) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := get(s.server.URL + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, b := get(s.server.URL + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s", code, b)
	}
	code, b := get(s.server.URL + "/.well-known/jwks.json")
	keys, err := authn.ParseJWKS(b)
	if code != 200 || err != nil || len(keys) != 1 || !keys[0].Equal(s.tokenKey.Public().(ed25519.PublicKey)) {
		t.Errorf("/.well-known/jwks.json = %d %s (%v)", code, b, err)
	}

	// A gateway whose tenancy is gone is alive but not ready, and has no keys to serve.
	down, err := app.New(context.Background(), app.Config{TenancyURL: "http://" + closedAddr(t), InternalKey: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	srv := startH2C(t, down.Handler())
	if code, _ := get(srv.URL + "/healthz"); code != 200 {
		t.Errorf("down: /healthz = %d", code)
	}
	if code, _ := get(srv.URL + "/readyz"); code != 503 {
		t.Errorf("down: /readyz = %d, want 503", code)
	}
	if code, _ := get(srv.URL + "/.well-known/jwks.json"); code != 503 {
		t.Errorf("down: jwks = %d, want 503", code)
	}
}

func TestStaticFiles(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "assets"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>app"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "assets", "app-123.js"), []byte("console.log(1)"), 0o644))
	s := newStack(t, func(c *app.Config) { c.StaticDir = dir })

	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "<!doctype html>app"},
		{"GET", "/catalog/default/component/x", 200, "<!doctype html>app"},
		{"GET", "/assets/app-123.js", 200, "console.log(1)"},
		{"GET", "/assets/missing.js", 404, ""},
		{"GET", "/../../etc/passwd", 200, "<!doctype html>app"},
		{"POST", "/catalog", 404, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.server.URL+tt.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status || (tt.body != "" && string(b) != tt.body) {
			t.Errorf("%s %s = %d %q", tt.method, tt.path, res.StatusCode, b)
		}
	}

	// Text goes out gzip'd to a client that asks for it, and as it is to one that does not.
	for _, tt := range []struct {
		path, accept, encoding, ctype, body string
	}{
		{"/assets/app-123.js", "gzip, deflate, br", "gzip", "text/javascript; charset=utf-8", "console.log(1)"},
		{"/catalog/x", "gzip", "gzip", "text/html; charset=utf-8", "<!doctype html>app"},
		{"/assets/app-123.js", "identity", "", "text/javascript; charset=utf-8", "console.log(1)"},
		{"/assets/app-123.js", "gzip;q=0", "", "text/javascript; charset=utf-8", "console.log(1)"},
	} {
		req, _ := http.NewRequest("GET", s.server.URL+tt.path, nil)
		req.Header.Set("Accept-Encoding", tt.accept) // set by hand: the client does not decode
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rd io.Reader = res.Body
		if tt.encoding == "gzip" {
			if rd, err = gzip.NewReader(res.Body); err != nil {
				t.Fatalf("%s (%s): not gzip: %v", tt.path, tt.accept, err)
			}
		}
		b, _ := io.ReadAll(rd)
		res.Body.Close()
		if res.Header.Get("Content-Encoding") != tt.encoding || res.Header.Get("Content-Type") != tt.ctype || string(b) != tt.body {
			t.Errorf("%s with Accept-Encoding %q: encoding %q, type %q, body %q", tt.path, tt.accept, res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"), b)
		}
	}
}

// Tenancy publishes a changed tenant; every gateway forgets it at once.
func TestTenantInvalidation(t *testing.T) {
	s := newStack(t, func(c *app.Config) { c.TenantCacheTTL = 1 << 62 })
	owner := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	e, err := s.getTenant(call{tenant: "acme", token: owner})
	if err != nil || e.Identity.TenantReadOnly {
		t.Fatalf("before: %+v, %v", e, err)
	}
	s.dir.put(&tenancyv1.Tenant{Id: "acme1", Slug: "acme", Status: tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED, Shard: "main", Schema: "t_acme1"})
	// Still cached: the gateway has not been told.
	if e, _ := s.getTenant(call{tenant: "acme", token: owner}); e.Identity.TenantReadOnly {
		t.Fatal("cache not used")
	}
	ch := s.redis.Prefix + "atrium:tenant-changed"
	eventually(t, "suspension seen after invalidation", func() bool {
		// Published until seen: the gateway may not have subscribed yet.
		s.redis.Client.Publish(context.Background(), ch, `{"tenant_id":"acme1","slug":"acme","status":"suspended"}`)
		e, err := s.getTenant(call{tenant: "acme", token: owner})
		return err == nil && e.Identity.TenantReadOnly
	})
	_, err = s.updateTenant(call{tenant: "acme", token: owner})
	wantCode(t, err, connect.CodeFailedPrecondition)
}

func TestNewRejectsBadConfig(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name string
		cfg  app.Config
		want string
	}{
		{"no tenancy url", app.Config{InternalKey: key}, "TenancyURL is required"},
		{"bad tenancy url", app.Config{TenancyURL: "localhost:8081", InternalKey: key}, "TenancyURL"},
		{"no key", app.Config{TenancyURL: "http://127.0.0.1:8081"}, "InternalKey"},
		{"unknown upstream", app.Config{TenancyURL: "http://x", InternalKey: key, Upstreams: map[string]string{"atrium.nope.v1.S": "http://x"}}, "not a routable service"},
		{"internal upstream", app.Config{TenancyURL: "http://x", InternalKey: key, Upstreams: map[string]string{"atrium.tenancy.v1.DirectoryService": "http://x"}}, "not a routable service"},
		{"bad rest prefix", app.Config{TenancyURL: "http://x", InternalKey: key, RESTUpstreams: map[string]string{"/api/catalog": "http://x"}}, "REST prefix"},
		{"bad rest url", app.Config{TenancyURL: "http://x", InternalKey: key, RESTUpstreams: map[string]string{"/api/catalog/": "x"}}, "REST upstream"},
		{"bad redis url", app.Config{TenancyURL: "http://x", InternalKey: key, RedisURL: "mysql://x"}, "RedisURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := app.New(context.Background(), tt.cfg)
			if err == nil {
				a.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %q does not mention %q", err, tt.want)
			}
		})
	}
}
