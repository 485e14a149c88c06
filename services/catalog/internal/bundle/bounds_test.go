package bundle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/bundle"
)

// withPlaceholders is a component whose spec holds n $text placeholders of file.
func withPlaceholders(name string, n int, file string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: %s}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  docs:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "    - {$text: %s}\n", file)
	}
	return b.String()
}

func wantInvalid(t *testing.T, err error, field, text string) {
	t.Helper()
	var de *rpcerr.Error
	if !errors.As(err, &de) || de.Kind != rpcerr.KindInvalid {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	for _, v := range de.Violations {
		if v.Field == field && strings.Contains(v.Description, text) {
			return
		}
	}
	t.Fatalf("violations %v, want %s containing %q", de.Violations, field, text)
}

// TestBounds reproduces ImportBundle's amplification: placeholders expanded without a
// bound (a 1 MB request stored 11 MB), and Locations whose targets make the glob matcher
// do unbounded work. Each case must be refused, in strict and lenient mode alike, with the
// file or target named.
func TestBounds(t *testing.T) {
	mb := strings.Repeat("x", 1<<20)
	manyTargets := make([]string, 5000)
	for i := range manyTargets {
		manyTargets[i] = fmt.Sprintf("f%d.yaml", i)
	}
	// Distinct patterns: the matches of a repeated one are remembered.
	var patterns []string
	for i := 0; i < 1500; i++ {
		patterns = append(patterns, fmt.Sprintf("'*[^a]*[^b]*[^c]*x%d'", i))
	}
	globFiles := map[string]string{"catalog-info.yaml": location(patterns...)}
	for i := 0; i < 1999; i++ {
		globFiles[fmt.Sprintf("f%04d-abcdefghijklmnopqrstuvwxyz.yaml", i)] = "a: 1\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		field string
		text  string
	}{
		// 1 MB sent, 10 placeholders of it in one entity: 10 MB expanded.
		{"expansion beyond what was sent", map[string]string{
			"catalog-info.yaml": withPlaceholders("big", 10, "big.txt"),
			"big.txt":           mb,
		}, `files["catalog-info.yaml"].documents[0].$text`, "bytes"},
		// The same over ten entities: each fits, the bundle does not.
		{"expansion over many entities", map[string]string{
			"catalog-info.yaml": strings.Join(func() []string {
				var docs []string
				for i := 0; i < 11; i++ {
					docs = append(docs, withPlaceholders(fmt.Sprintf("c%d", i), 1, "half.txt"))
				}
				return docs
			}(), "---\n"),
			"half.txt": mb[:600<<10],
		}, `files["catalog-info.yaml"].documents[1].$text`, "bytes"},
		{"one entity over its share", map[string]string{
			"catalog-info.yaml": withPlaceholders("big", 1, "big.txt"),
			"big.txt":           mb + mb,
			"pad.txt":           mb + mb,
		}, `files["catalog-info.yaml"].documents[0].$text`, "per entity"},
		{"too many placeholders", map[string]string{
			"catalog-info.yaml": withPlaceholders("many", 6000, "s.txt"),
			"s.txt":             "x",
		}, `files["catalog-info.yaml"].documents[0].$text`, "placeholders"},
		{"too many targets", map[string]string{"catalog-info.yaml": location(manyTargets...)},
			`files["catalog-info.yaml"].documents[0].spec.targets[2000]`, "targets"},
		{"pattern too long", map[string]string{"catalog-info.yaml": location("'" + strings.Repeat("*a", 200) + "'")},
			`files["catalog-info.yaml"].documents[0].spec.targets[0]`, "characters"},
		{"too many wildcards", map[string]string{"catalog-info.yaml": location("'" + strings.Repeat("*?", 20) + "'")},
			`files["catalog-info.yaml"].documents[0].spec.targets[0]`, "wildcards"},
		// The finding: many complex patterns over 2,000 files.
		{"glob work", globFiles, "", "matching work"},
	}
	for _, tt := range tests {
		for _, lenient := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/lenient=%v", tt.name, lenient), func(t *testing.T) {
				res, err := bundle.ResolveWith(context.Background(), tt.files, nil, bundle.DefaultLimits, bundle.Options{Lenient: lenient})
				if err == nil {
					t.Fatalf("resolved %d docs, want an error", len(res.Docs))
				}
				if tt.field == "" {
					var de *rpcerr.Error
					if !errors.As(err, &de) || de.Kind != rpcerr.KindInvalid || len(de.Violations) == 0 ||
						!strings.Contains(de.Violations[0].Field, "spec.targets[") || !strings.Contains(de.Violations[0].Description, tt.text) {
						t.Fatalf("want InvalidArgument naming a target with %q, got %v", tt.text, err)
					}
					return
				}
				wantInvalid(t, err, tt.field, tt.text)
			})
		}
	}
}

// TestBoundsAllowOrdinaryBundles keeps the bounds out of the way of real repositories: a
// shared OpenAPI file read by a few APIs, and a glob per team over a big monorepo.
func TestBoundsAllowOrdinaryBundles(t *testing.T) {
	files := map[string]string{"catalog-info.yaml": location("'./services/*/catalog-info.yaml'", "'./teams/*.yaml'")}
	for i := 0; i < 1500; i++ {
		files[fmt.Sprintf("services/svc-%d/catalog-info.yaml", i)] = fmt.Sprintf(component, fmt.Sprintf("svc-%d", i))
	}
	for i := 0; i < 400; i++ {
		files[fmt.Sprintf("teams/team-%d.yaml", i)] = fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-%d}\nspec: {type: team, children: []}\n", i)
	}
	files["apis/catalog-info.yaml"] = withPlaceholders("apis", 3, "../openapi.yaml")
	files["openapi.yaml"] = strings.Repeat("openapi: 3.0.0\n", 10000)
	res, err := bundle.ResolveWith(context.Background(), files, []string{"catalog-info.yaml", "apis/catalog-info.yaml"}, bundle.DefaultLimits, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Docs) != 1+1500+400+1 {
		t.Fatalf("%d docs", len(res.Docs))
	}
}

// TestCancelled stops resolving when the caller is gone.
func TestCancelled(t *testing.T) {
	files := map[string]string{"catalog-info.yaml": location("'./*/catalog-info.yaml'")}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("d%d/catalog-info.yaml", i)] = fmt.Sprintf(component, fmt.Sprintf("c%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bundle.ResolveWith(ctx, files, nil, bundle.DefaultLimits, bundle.Options{Lenient: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := bundle.ResolveWith(ctx, files, nil, bundle.DefaultLimits, bundle.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
}
