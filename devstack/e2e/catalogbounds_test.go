package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// testCatalogBounds is issue 6's findings 4 and 5 through the gateway: a bundle naming its
// 1 MB file ten times ($text), a Location of 45,000 targets, a filter set of 50 keys of 95
// segments, and NUL bytes on Connect and REST. Each is InvalidArgument (400 on REST) naming
// the field, and nothing is stored.
func testCatalogBounds(t *testing.T, e *env, tn signedUp, slug string) {
	ctx := context.Background()
	cat := e.catalog(tn.access, slug)
	count := func() int64 {
		res, err := cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetTotalItems()
	}
	before := count()
	var placeholders strings.Builder
	for i := range 10 {
		fmt.Fprintf(&placeholders, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: big-%d, description: x}\nspec: {type: service, lifecycle: production, owner: team-a, doc: {$text: big.txt}}\n", i)
	}
	targets := strings.TrimSuffix(strings.Repeat("'*[!a]*[!b]*[!c]*x', ", 45000), ", ")
	deep := strings.TrimSuffix(strings.Repeat("k"+strings.Repeat(".a", 94)+",", 50), ",")
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"placeholders expanding past the bundle", func() error {
			_, err := cat.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Strict: true, Files: map[string]string{
				"catalog-info.yaml": placeholders.String(), "big.txt": strings.Repeat("x", 1<<20)}}))
			return err
		}, `files["catalog-info.yaml"].documents[`},
		{"45,000 glob targets", func() error {
			_, err := cat.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: map[string]string{
				"catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: globs}\nspec:\n  targets: [" + targets + "]\n"}}))
			return err
		}, `files["catalog-info.yaml"].documents[0].spec.targets[2000]`},
		{"50 keys of 95 segments", func() error {
			_, err := cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{deep}}))
			return err
		}, "filter[0]"},
		{"NUL in a filter", func() error {
			_, err := cat.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"kind=component", "spec.type=a\x00"}}))
			return err
		}, "filter[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantCode(t, err, connect.CodeInvalidArgument)
			for _, v := range rpcerr.FieldViolations(err) {
				if strings.HasPrefix(v.Field, tt.field) {
					return
				}
			}
			t.Fatalf("violations %v, want %s", rpcerr.FieldViolations(err), tt.field)
		})
	}
	t.Run("REST: NUL and a forged cursor", func(t *testing.T) {
		for _, path := range []string{"/entities?filter=kind=a%00", "/entities/by-query?cursor=eyJzIjp7fSwiayI6eyJ1IjoiYVx1MDAwMCJ9fQ"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.st.GatewayURL+"/api/catalog"+path, nil)
			req.Header.Set("Authorization", "Bearer "+tn.access)
			req.Header.Set("Atrium-Tenant", slug)
			resp, err := e.st.HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "InputError") {
				t.Errorf("GET %s = %d %s, want 400 InputError", path, resp.StatusCode, body)
			}
		}
	})
	if after := count(); after != before {
		t.Fatalf("entities %d -> %d after refused requests", before, after)
	}
}
