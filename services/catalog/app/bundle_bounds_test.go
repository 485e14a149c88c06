package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/service"
	"connectrpc.com/connect"
)

// TestImportBundleBounds is finding 4 of issue 6 through the Connect API: a 1 MB request
// named ten times by $text placeholders (stored as 11 MB before), a hundred 1 MB
// placeholders, and Locations making the glob matcher work for tens of seconds. Each is
// refused with the file or target named, and nothing of the bundle is stored.
func TestImportBundleBounds(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	mb := strings.Repeat("x", 1<<20)
	ok := "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n---\n"
	placeholders := func(n int, file string) string {
		var b strings.Builder
		b.WriteString(ok)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c%d, description: {$text: %s}}\nspec: {type: service, lifecycle: production, owner: team-a}\n", i, file)
		}
		return b.String()
	}
	var patterns []string
	glob := map[string]string{}
	for i := 0; i < 1500; i++ {
		patterns = append(patterns, fmt.Sprintf("'*[^a]*[^b]*[^c]*x%d'", i))
	}
	glob["catalog-info.yaml"] = ok + "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: globs}\nspec:\n  targets: [" + strings.Join(patterns, ", ") + "]\n"
	for i := 0; i < 1900; i++ {
		glob[fmt.Sprintf("f%04d-abcdefghijklmnopqrstuvwxyz.yaml", i)] = "a: 1\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		field string
		text  string
	}{
		{"1 MB named ten times", map[string]string{"catalog-info.yaml": placeholders(10, "big.txt"), "big.txt": mb},
			`files["catalog-info.yaml"].documents[2].$text`, "bytes in all"},
		{"a hundred placeholders of 1 MB", func() map[string]string {
			files := map[string]string{"catalog-info.yaml": placeholders(100, "big.txt")}
			for i := 0; i < 6; i++ {
				files[fmt.Sprintf("pad%d", i)] = mb // a bundle near the 8 MiB limit
			}
			files["big.txt"] = mb
			return files
		}(), `files["catalog-info.yaml"].documents[8].$text`, "bytes in all"},
		{"glob work", glob, `files["catalog-info.yaml"].documents[1].spec.targets[`, "matching work"},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", tt.name, strict), func(t *testing.T) {
				_, err := c.ImportBundle(context.Background(), connect.NewRequest(&catalogv1.ImportBundleRequest{Files: tt.files, Strict: strict}))
				if code(err) != connect.CodeInvalidArgument {
					t.Fatalf("want InvalidArgument, got %v", err)
				}
				found := false
				for _, v := range rpcerr.FieldViolations(err) {
					found = found || (strings.HasPrefix(v.Field, tt.field) && strings.Contains(v.Description, tt.text))
				}
				if !found {
					t.Fatalf("violations %v, want %s... containing %q", rpcerr.FieldViolations(err), tt.field, tt.text)
				}
				if n := total(t, c); n != 0 {
					t.Fatalf("%d entities stored", n)
				}
			})
		}
	}
}

// TestImportBundleCancelled: when the caller is gone the import stops with its context's
// error and stores nothing.
func TestImportBundleCancelled(t *testing.T) {
	env := catalogtest.New(t)
	tn := env.Tenant(t, "acme")
	cat := service.NewCatalog(env.Store, 0)
	files := map[string]string{"catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\nspec: {targets: ['./*/catalog-info.yaml']}\n"}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("d%d/catalog-info.yaml", i)] = fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g%d}\nspec: {type: team, children: []}\n", i)
	}
	for _, want := range []error{context.Canceled, context.DeadlineExceeded} {
		ctx, cancel := context.WithCancel(tn.Ctx())
		if want == context.DeadlineExceeded {
			ctx, cancel = context.WithTimeout(tn.Ctx(), 0)
		}
		cancel()
		_, err := cat.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files}))
		if !errors.Is(err, want) {
			t.Fatalf("want %v, got %v", want, err)
		}
	}
	res, err := cat.ImportBundle(tn.Ctx(), connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files, DryRun: true}))
	if err != nil || len(res.Msg.GetResults()) != 1001 {
		t.Fatalf("the same bundle with a live context: %v", err)
	}
	n, err := env.Store.Count(tn.Ctx(), nil, "")
	if err != nil || n != 0 {
		t.Fatalf("stored %d (%v)", n, err)
	}
}
