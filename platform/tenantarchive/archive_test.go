package tenantarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"
)

func build(t *testing.T) []byte {
	t.Helper()
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.Part("catalog")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{`{"table":"a","row":{"x":1}}`, `{"table":"b","row":{}}`} {
		if err := p.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add("{\"table\":\"a\",\n\"row\":{}}"); err == nil {
		t.Fatal("a record over two lines was taken")
	}
	var out bytes.Buffer
	if _, err := b.WriteTo(&out, Source{TenantID: "1abc", Slug: "acme", Schema: "t_1abc"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// tarOf writes files (name, content pairs) as a tar.gz.
func tarOf(files ...string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for i := 0; i+1 < len(files); i += 2 {
		_ = tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(files[i+1]))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	a, err := Read(bytes.NewReader(build(t)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Manifest.Source.Slug != "acme" || len(a.Manifest.Parts) != 1 || a.Manifest.Parts[0].Records != 2 {
		t.Fatalf("manifest %+v", a.Manifest)
	}
	var got []string
	if err := a.Records("catalog", func(l string) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !a.Has("catalog") || a.Has("insights") {
		t.Fatalf("records %q", got)
	}
}

func TestReadRefuses(t *testing.T) {
	good := build(t)
	manifest := func(version int, sum string) string {
		return `{"format":"atrium.tenant-archive","version":` + string(rune('0'+version)) +
			`,"parts":[{"service":"catalog","file":"catalog.jsonl","records":1,"bytes":3,"sha256":"` + sum + `"}]}`
	}
	const sumOfAbc = "1e9b4cbd1ee15b4ecf6ea5ec7bdd5a2bd3ea1d8aea0a3e5d71c7a7a36bc1ac7b" // not abc\n's: mismatch
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("plain text"), "not a gzip file"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"no manifest", tarOf("catalog.jsonl", "{}\n"), "no manifest.json"},
		{"foreign format", tarOf(ManifestFile, `{"format":"other","version":1}`), `format "other"`},
		{"newer version", tarOf(ManifestFile, manifest(2, "")), "version 2; this server reads version 1"},
		{"checksum", tarOf(ManifestFile, manifest(1, sumOfAbc), "catalog.jsonl", "ab\n"), "checksum mismatch"},
		{"missing part", tarOf(ManifestFile, manifest(1, sumOfAbc)), "catalog.jsonl is missing"},
		{"path", tarOf(ManifestFile, manifest(1, sumOfAbc), "../catalog.jsonl", "ab\n"), "unexpected file"},
		{"too large", good, "larger than the limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			limit := int64(1 << 20)
			if tt.name == "too large" {
				limit = 10
			}
			a, err := Read(bytes.NewReader(tt.data), limit)
			if err == nil {
				a.Close()
				t.Fatal("accepted")
			}
			if !IsArchiveError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want an archive error with %q", err, tt.want)
			}
		})
	}
}
