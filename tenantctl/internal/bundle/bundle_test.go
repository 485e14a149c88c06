package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const component = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: service
  lifecycle: production
  owner: team-a
`

func TestLoad(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"catalog/catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: root
spec:
  targets:
    - ./components/a.yaml
    - ../shared/b.yml
    - https://github.com/acme/x/blob/main/catalog-info.yaml
`,
		"catalog/components/a.yaml": strings.ReplaceAll(component, "%s", "a") + "---\n" + `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: a-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./openapi.json
`,
		"catalog/components/openapi.json": `{"openapi": "3.0.0", "paths": {}}`,
		"catalog/.git/ignored.yaml":       "not: read",
		"catalog/extra.yaml":              strings.ReplaceAll(component, "%s", "extra"),
		"shared/b.yml":                    strings.ReplaceAll(component, "%s", "b"),
		"shared/unrelated.yaml":           "never: read",
	})
	b, err := Load([]string{filepath.Join(root, "catalog")})
	if err != nil {
		t.Fatal(err)
	}
	if b.Root != root {
		t.Errorf("root = %s, want %s", b.Root, root)
	}
	var paths []string
	for _, f := range b.Files {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	want := []string{"catalog/catalog-info.yaml", "catalog/components/a.yaml", "catalog/components/openapi.json", "catalog/extra.yaml", "shared/b.yml"}
	if !slices.Equal(paths, want) {
		t.Errorf("files = %v, want %v", paths, want)
	}
	// a.yaml and b.yml are reached through the Location; only the others start the import.
	if got, want := b.Roots(), []string{"catalog/catalog-info.yaml", "catalog/extra.yaml"}; !slices.Equal(got, want) {
		t.Errorf("roots = %v, want %v", got, want)
	}
	if got := b.EntityCount(); got != 5 { // location, a, a-api, extra, b
		t.Errorf("entities = %d, want 5", got)
	}
	if _, ok := b.FileMap()["catalog/components/openapi.json"]; !ok {
		t.Error("substitution source missing from the file map")
	}

	docs, err := b.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 5 {
		t.Fatalf("documents = %d, want 5", len(docs))
	}
	var api Document
	for _, d := range docs {
		if strings.Contains(d.YAML, "a-api") {
			api = d
		}
	}
	if api.Source != "catalog/components/a.yaml#2" {
		t.Errorf("source = %q", api.Source)
	}
	if strings.Contains(api.YAML, "$text") || !strings.Contains(api.YAML, `"openapi": "3.0.0"`) {
		t.Errorf("substitution not resolved:\n%s", api.YAML)
	}
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"bad.yaml":   "kind: Component\nmetadata: [unclosed\n",
		"empty/x.md": "# no yaml here",
	})
	tests := []struct {
		name, path, want string
	}{
		{"malformed yaml", "bad.yaml", "bad.yaml: document 1"},
		{"no yaml files", "empty", "no .yaml or .yml files"},
		{"missing path", "nope", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]string{filepath.Join(root, tt.path)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestExplicitFileFollowsLocations(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: l\nspec:\n  target: ./svc/*.yaml\n",
		"svc/one.yaml":      strings.ReplaceAll(component, "%s", "one"),
		"svc/two.yaml":      strings.ReplaceAll(component, "%s", "two"),
	})
	b, err := Load([]string{filepath.Join(root, "catalog-info.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files) != 3 || !slices.Equal(b.Roots(), []string{"catalog-info.yaml"}) {
		t.Fatalf("files = %d, roots = %v", len(b.Files), b.Roots())
	}
}

func TestBatches(t *testing.T) {
	docs := make([]Document, 2500)
	for i := range docs {
		docs[i] = Document{YAML: "x"}
	}
	docs[10].YAML = strings.Repeat("y", 100)
	tests := []struct {
		name     string
		docs     []Document
		maxDocs  int
		maxBytes int
		sizes    []int
	}{
		{"by count", docs, 1000, 1 << 20, []int{1000, 1000, 500}},
		{"by bytes", docs[:20], 1000, 50, []int{10, 1, 9}},
		{"empty", nil, 1000, 1 << 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			for _, b := range Batches(tt.docs, tt.maxDocs, tt.maxBytes) {
				sizes = append(sizes, len(b))
			}
			if !slices.Equal(sizes, tt.sizes) {
				t.Fatalf("batch sizes = %v, want %v", sizes, tt.sizes)
			}
		})
	}
}
