package root_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/tenantctl/internal/command/root"
	"connectrpc.com/connect"
	"gopkg.in/yaml.v3"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func componentYAML(name, owner string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\n  description: the %s service\nspec:\n  type: service\n  lifecycle: production\n  owner: %s\n", name, name, owner)
}

// tenantToken signs a tenant up through the gateway and returns an API token of its owner:
// catalog commands act as a tenant user, never as an operator.
func tenantToken(t *testing.T, c *cli, slug string) string {
	t.Helper()
	ctx := context.Background()
	resp, err := tenancyv1connect.NewTenantServiceClient(c.st.HTTPClient, c.st.GatewayURL).SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: slug, Slug: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: "Catalog-Import-Pass-7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	members := tenancyv1connect.NewMemberServiceClient(c.st.HTTPClient, c.st.GatewayURL,
		connect.WithInterceptors(bearer(resp.Msg.GetAccessToken()), tenantHeader(slug)))
	tok, err := members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "tenantctl test"}))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Msg.GetSecret()
}

func testCatalog(t *testing.T, c *cli) {
	token := tenantToken(t, c, "wonka")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: wonka
spec:
  targets: [./teams.yaml, ./services/*.yaml]
`,
		"teams.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: oompas\nspec:\n  type: team\n  children: []\n",
		"services/factory.yaml": componentYAML("factory", "group:oompas") + "---\n" + `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: factory-api
spec:
  type: openapi
  lifecycle: production
  owner: group:oompas
  definition:
    $text: ./factory-openapi.json
`,
		"services/factory-openapi.json": `{"openapi": "3.0.0", "info": {"title": "factory", "version": "1"}, "paths": {}}`,
		"services/tour.yaml":            componentYAML("tour", "group:oompas"),
	})
	withToken := func(args ...string) []string { return append([]string{"--token", token}, args...) }

	t.Run("import", func(t *testing.T) {
		r := c.ok(t, withToken("catalog", "import", "--tenant", "wonka", dir)...)
		if !strings.Contains(r.stdout, "imported 5 entities") || !strings.Contains(r.stdout, "5 created") {
			t.Fatalf("import:\n%s\n%s", r.stdout, r.stderr)
		}
		// Again: nothing changes.
		r = c.ok(t, withToken("catalog", "import", "--tenant", "wonka", dir, "-o", "json")...)
		res := decode[struct {
			Mode      string `json:"mode"`
			Created   int    `json:"created"`
			Unchanged int    `json:"unchanged"`
		}](t, r.stdout)
		if res.Mode != "bundle" || res.Created != 0 || res.Unchanged != 5 {
			t.Fatalf("re-import: %+v", res)
		}
	})

	t.Run("export", func(t *testing.T) {
		r := c.ok(t, withToken("catalog", "export", "--tenant", "wonka")...)
		dec := yaml.NewDecoder(strings.NewReader(r.stdout))
		names := map[string]bool{}
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			md, _ := doc["metadata"].(map[string]any)
			names[fmt.Sprint(md["name"])] = true
			if _, ok := doc["relations"]; ok {
				t.Errorf("export keeps computed relations: %v", doc)
			}
			if _, ok := md["uid"]; ok {
				t.Errorf("export keeps uid: %v", md)
			}
		}
		for _, n := range []string{"oompas", "factory", "factory-api", "tour"} {
			if !names[n] {
				t.Errorf("export lacks %s: %v", n, names)
			}
		}
		if names["wonka"] || !strings.Contains(r.stderr, "left out 1 Location") {
			t.Errorf("the Location was exported (it points at files the export replaces):\n%s", r.stderr)
		}
		// The export imports again as it is, creating nothing.
		file := filepath.Join(t.TempDir(), "export.yaml")
		if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		r = c.ok(t, withToken("catalog", "import", "--tenant", "wonka", file, "-o", "json")...)
		if res := decode[struct{ Created, Updated int }](t, r.stdout); res.Created != 0 {
			t.Fatalf("re-importing the export created %d", res.Created)
		}
		r = c.ok(t, withToken("catalog", "export", "--tenant", "wonka", "--filter", "kind=component", "-o", "json")...)
		if items := decode[[]map[string]any](t, r.stdout); len(items) != 2 {
			t.Fatalf("filtered json export has %d items:\n%s", len(items), r.stdout)
		}
	})

	t.Run("invalid entities are reported and nothing is written", func(t *testing.T) {
		bad := t.TempDir()
		writeFiles(t, bad, map[string]string{
			"catalog-info.yaml": componentYAML("fine-one", "group:oompas") + "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: \"not a valid name!\"\nspec:\n  type: service\n",
		})
		r := c.run(t, "", withToken("catalog", "import", "--tenant", "wonka", bad)...)
		if r.code != root.ExitError || !strings.Contains(r.stderr, "invalid_argument") || !strings.Contains(r.stderr, "metadata.name") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		r = c.ok(t, withToken("catalog", "export", "--tenant", "wonka")...)
		if strings.Contains(r.stdout, "fine-one") {
			t.Fatal("a failed import wrote its valid entity")
		}
	})

	t.Run("big imports go in batches", func(t *testing.T) {
		big := t.TempDir()
		var b strings.Builder
		for i := range 1500 {
			if i > 0 {
				b.WriteString("---\n")
			}
			b.WriteString(componentYAML(fmt.Sprintf("svc-%04d", i), "group:oompas"))
		}
		writeFiles(t, big, map[string]string{"many.yaml": b.String()})
		r := c.ok(t, withToken("catalog", "import", "--tenant", "wonka", big, "-o", "json")...)
		res := decode[struct {
			Mode    string
			Created int
		}](t, r.stdout)
		if res.Mode != "batches" || res.Created != 1500 {
			t.Fatalf("batched import: %+v\n%s", res, r.stderr)
		}
		if n := strings.Count(r.stderr, "importing "); n != 2 {
			t.Errorf("%d progress lines for 2 batches:\n%s", n, r.stderr)
		}
		r = c.ok(t, withToken("catalog", "export", "--tenant", "wonka", "-o", "json")...)
		if items := decode[[]map[string]any](t, r.stdout); len(items) != 1504 { // 1,500 + 4 from the first import; the Location is left out
			t.Fatalf("export after batches: %d entities", len(items))
		}
	})

	t.Run("credentials", func(t *testing.T) {
		r := c.run(t, "", "catalog", "export", "--tenant", "wonka")
		if r.code != root.ExitError || !strings.Contains(r.stderr, "no tenant token") {
			t.Fatalf("without a tenant token: exit %d %s", r.code, r.stderr)
		}
		// An operator is not a tenant user.
		r = c.run(t, "", "--token", c.op, "catalog", "export", "--tenant", "wonka")
		if r.code != root.ExitError || !(strings.Contains(r.stderr, "permission_denied") || strings.Contains(r.stderr, "unauthenticated")) {
			t.Fatalf("operator token at the catalog: exit %d %s", r.code, r.stderr)
		}
		// wonka's token is no key to another tenant's catalog.
		r = c.run(t, "", withToken("catalog", "export", "--tenant", "acme")...)
		if r.code != root.ExitError || !strings.Contains(r.stderr, "permission_denied") {
			t.Fatalf("wonka token at acme: exit %d %s", r.code, r.stderr)
		}
		if r := c.run(t, "", withToken("catalog", "import", dir)...); r.code != root.ExitUsage {
			t.Fatalf("import without --tenant: exit %d", r.code)
		}
	})
}
