package bundle_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/bundle"
)

const component = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
spec: {type: service, lifecycle: production, owner: team-a}
`

func location(targets ...string) string {
	return "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: loc-" + fmt.Sprint(len(targets)) + "}\nspec:\n  targets: [" + strings.Join(targets, ", ") + "]\n"
}

func resolve(t *testing.T, files map[string]string, roots ...string) bundle.Result {
	t.Helper()
	res, err := bundle.Resolve(files, roots, bundle.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func annotations(t *testing.T, res bundle.Result, name string) map[string]any {
	t.Helper()
	for _, d := range res.Docs {
		if d.Entity.Name() == name {
			return d.Entity.Metadata()["annotations"].(map[string]any)
		}
	}
	t.Fatalf("no entity %s", name)
	return nil
}

func TestFollowsLocations(t *testing.T) {
	files := map[string]string{
		"catalog-info.yaml":                     location("./services/*/catalog-info.yaml", "teams/teams.yaml", "https://example.com/remote.yaml"),
		"services/a/catalog-info.yaml":          fmt.Sprintf(component, "svc-a"),
		"services/b/catalog-info.yaml":          fmt.Sprintf(component, "svc-b") + "---\n" + location("../../docs/../shared/more.yaml"),
		"teams/teams.yaml":                      "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a, annotations: {backstage.io/managed-by-location: 'url:lies'}}\nspec: {type: team, children: []}\n",
		"shared/more.yaml":                      fmt.Sprintf(component, "more") + "---\n" + location("../catalog-info.yaml"),
		"unreferenced/catalog-info.yaml.backup": "not yaml: [",
	}
	res := resolve(t, files)
	var got []string
	for _, d := range res.Docs {
		got = append(got, fmt.Sprintf("%d %s %s", d.Index, d.Entity.Kind(), d.Entity.Name()))
	}
	want := []string{"0 Location loc-3", "1 Component svc-a", "2 Component svc-b", "3 Location loc-1", "4 Component more", "5 Location loc-1", "6 Group team-a"}
	if !slices.Equal(got, want) {
		t.Fatalf("docs = %v\nwant %v", got, want)
	}
	if want := []string{"catalog-info.yaml", "services/a/catalog-info.yaml", "services/b/catalog-info.yaml", "shared/more.yaml", "teams/teams.yaml"}; !slices.Equal(res.FilesRead, want) {
		t.Fatalf("files read = %v", res.FilesRead)
	}
	if res.Docs[4].Path != `files["shared/more.yaml"].documents[0]` {
		t.Fatalf("path = %s", res.Docs[4].Path)
	}
	ann := annotations(t, res, "more")
	if ann[bundle.AnnotationLocation] != "file:shared/more.yaml" || ann[bundle.AnnotationOriginLocation] != "file:catalog-info.yaml" {
		t.Fatalf("annotations = %v", ann)
	}
	// The file's own location annotation is replaced, as Backstage does.
	if ann := annotations(t, res, "team-a"); ann[bundle.AnnotationLocation] != "file:teams/teams.yaml" {
		t.Fatalf("team annotations = %v", ann)
	}
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Location+" -> "+s.Target+": "+s.Reason)
	}
	wantSkipped := []string{
		"shared/more.yaml -> ../catalog-info.yaml: cycle: catalog-info.yaml is already being read",
		"catalog-info.yaml -> https://example.com/remote.yaml: remote targets are recorded, not fetched",
	}
	if !slices.Equal(skipped, wantSkipped) {
		t.Fatalf("skipped = %q", skipped)
	}
}

func TestSubstitutions(t *testing.T) {
	files := map[string]string{
		"catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: pets, description: {$text: ./docs/summary.txt}}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {$text: ./openapi.yaml}
  extra: {$json: ./extra.json}
  more: {$yaml: ./docs/more.yaml}
`,
		"openapi.yaml":     "openapi: 3.0.0\n",
		"docs/summary.txt": "Pets, all of them.",
		"extra.json":       `{"n": 2, "list": [true, "x"]}`,
		"docs/more.yaml":   "a: [1, b]\n",
	}
	res := resolve(t, files)
	e := res.Docs[0].Entity
	spec := e.Spec()
	if spec["definition"] != "openapi: 3.0.0\n" || e.Description() != "Pets, all of them." {
		t.Fatalf("text placeholders: %v / %q", spec["definition"], e.Description())
	}
	if x := spec["extra"].(map[string]any); x["n"] != float64(2) || x["list"].([]any)[1] != "x" {
		t.Fatalf("json placeholder: %v", spec["extra"])
	}
	if m := spec["more"].(map[string]any); m["a"].([]any)[0] != float64(1) {
		t.Fatalf("yaml placeholder: %v", spec["more"])
	}
	if !slices.Contains(res.FilesRead, "openapi.yaml") || !slices.Contains(res.FilesRead, "docs/more.yaml") {
		t.Fatalf("files read = %v", res.FilesRead)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		roots []string
		field string
		text  string
	}{
		{"target escapes the root", map[string]string{"a/catalog-info.yaml": location("../../x.yaml")}, nil,
			`files["a/catalog-info.yaml"].documents[0].spec.targets[0]`, "leaves the bundle root"},
		{"absolute target", map[string]string{"catalog-info.yaml": location("/etc/passwd")}, nil,
			`files["catalog-info.yaml"].documents[0].spec.targets[0]`, "absolute"},
		{"missing target", map[string]string{"catalog-info.yaml": location("nope.yaml")}, nil,
			`files["catalog-info.yaml"].documents[0].spec.targets[0]`, "no file nope.yaml"},
		{"other scheme", map[string]string{"catalog-info.yaml": location("s3://bucket/x")}, nil,
			`files["catalog-info.yaml"].documents[0].spec.targets[0]`, "only relative"},
		{"placeholder escapes", map[string]string{"catalog-info.yaml": strings.Replace(fmt.Sprintf(component, "x"), "owner: team-a", "owner: team-a, definition: {$text: ../secret}", 1)}, nil,
			`files["catalog-info.yaml"].documents[0].$text`, "leaves the bundle root"},
		{"remote placeholder", map[string]string{"catalog-info.yaml": strings.Replace(fmt.Sprintf(component, "x"), "owner: team-a", "owner: team-a, d: {$text: 'https://x/y'}", 1)}, nil,
			`files["catalog-info.yaml"].documents[0].$text`, "remote"},
		{"bad json placeholder", map[string]string{"catalog-info.yaml": strings.Replace(fmt.Sprintf(component, "x"), "owner: team-a", "owner: team-a, d: {$json: x.json}", 1), "x.json": "{nope"}, nil,
			`files["catalog-info.yaml"].documents[0].$json`, "not valid JSON"},
		{"path outside", map[string]string{"../x.yaml": "a: 1"}, nil, `files["../x.yaml"]`, "leaves the bundle root"},
		{"absolute path", map[string]string{"/x.yaml": "a: 1"}, nil, `files["/x.yaml"]`, "relative"},
		{"no root file", map[string]string{"x.yaml": "a: 1"}, nil, "roots", "no roots given"},
		{"missing root", map[string]string{"x.yaml": "a: 1"}, []string{"y.yaml"}, "roots[0]", "no such file"},
		{"bad yaml", map[string]string{"catalog-info.yaml": "a: [1"}, nil, `files["catalog-info.yaml"].documents[0]`, "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bundle.Resolve(tt.files, tt.roots, bundle.DefaultLimits)
			var de *rpcerr.Error
			if !errors.As(err, &de) || de.Kind != rpcerr.KindInvalid {
				t.Fatalf("want InvalidArgument, got %v", err)
			}
			for _, v := range de.Violations {
				if v.Field == tt.field && strings.Contains(v.Description, tt.text) {
					return
				}
			}
			t.Fatalf("violations %v, want %s containing %q", de.Violations, tt.field, tt.text)
		})
	}
}

func TestLimits(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 11; i++ {
		files[fmt.Sprintf("f%d/catalog-info.yaml", i)] = fmt.Sprintf(component, fmt.Sprintf("c%d", i))
	}
	if _, err := bundle.Resolve(files, nil, bundle.Limits{MaxFiles: 10, MaxBytes: 1 << 20, MaxEntities: 100}); err == nil || !strings.Contains(err.Error(), "at most 10 files") {
		t.Fatalf("file limit: %v", err)
	}
	if _, err := bundle.Resolve(files, nil, bundle.Limits{MaxFiles: 100, MaxBytes: 500, MaxEntities: 100}); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("size limit: %v", err)
	}
	if _, err := bundle.Resolve(files, nil, bundle.Limits{MaxFiles: 100, MaxBytes: 1 << 20, MaxEntities: 5}); err == nil || !strings.Contains(err.Error(), "more than 5 entities") {
		t.Fatalf("entity limit: %v", err)
	}
	res, err := bundle.Resolve(files, []string{"f3/catalog-info.yaml", "./f1/catalog-info.yaml"}, bundle.Limits{MaxFiles: 100, MaxBytes: 1 << 20, MaxEntities: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.FilesRead, []string{"f3/catalog-info.yaml", "f1/catalog-info.yaml"}) {
		t.Fatalf("explicit roots read %v", res.FilesRead)
	}
}
