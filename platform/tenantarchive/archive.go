// Package tenantarchive is the format of a tenant archive, the file `tenantctl tenants
// export` writes and `tenants import` restores: a gzip-compressed tar holding manifest.json
// and one JSONL file per service, each line one record {"table": ..., "row": {...}}. The
// manifest names the format and its version, the source tenant, and for every part its
// record count, size and SHA-256, so a reader refuses a truncated, altered or foreign file
// before anything is restored. Each service owns the meaning of its records; this package
// only carries them (and the row codec services use, rows.go).
package tenantarchive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Format and Version identify the archive; a reader refuses any other format and any
// version it does not know.
const (
	Format       = "atrium.tenant-archive"
	Version      = 1
	ManifestFile = "manifest.json"
)

// Source is the tenant an archive was taken from.
type Source struct {
	TenantID    string `json:"tenant_id"`
	Slug        string `json:"slug"`
	DisplayName string `json:"display_name"`
	Schema      string `json:"schema"`
}

// Part is one service's file.
type Part struct {
	Service string `json:"service"`
	File    string `json:"file"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

// Manifest is manifest.json.
type Manifest struct {
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Source    Source    `json:"source"`
	Parts     []Part    `json:"parts"`
}

// Record is one line of a part.
type Record struct {
	Table string          `json:"table"`
	Row   json.RawMessage `json:"row"`
}

// Error is a problem with an archive's content (not an I/O failure of the machine reading
// it): corrupt, foreign, of an unknown version, or failing its checksums.
type Error struct{ Msg string }

func (e *Error) Error() string { return "tenant archive: " + e.Msg }

func bad(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// IsArchiveError reports whether err is about the archive's content.
func IsArchiveError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

var serviceRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Builder collects parts in temporary files, then writes the archive.
type Builder struct {
	dir   string
	parts []*PartWriter
}

// NewBuilder returns a builder; Close removes its files.
func NewBuilder() (*Builder, error) {
	dir, err := os.MkdirTemp("", "atrium-archive-*")
	if err != nil {
		return nil, err
	}
	return &Builder{dir: dir}, nil
}

// Close removes the builder's temporary files.
func (b *Builder) Close() error { return os.RemoveAll(b.dir) }

// PartWriter takes one service's records.
type PartWriter struct {
	part Part
	f    *os.File
	w    *bufio.Writer
	h    io.Writer
	hash interface{ Sum([]byte) []byte }
}

// Part starts service's part.
func (b *Builder) Part(service string) (*PartWriter, error) {
	if !serviceRE.MatchString(service) {
		return nil, fmt.Errorf("tenantarchive: bad service name %q", service)
	}
	f, err := os.Create(filepath.Join(b.dir, service+".jsonl"))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	p := &PartWriter{part: Part{Service: service, File: service + ".jsonl"}, f: f, hash: h}
	p.w = bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	b.parts = append(b.parts, p)
	return p, nil
}

// Add appends one record, a JSON object on one line.
func (p *PartWriter) Add(record string) error {
	if !json.Valid([]byte(record)) {
		return fmt.Errorf("tenantarchive: %s: a record is not JSON", p.part.Service)
	}
	for i := 0; i < len(record); i++ {
		if record[i] == '\n' {
			return fmt.Errorf("tenantarchive: %s: a record spans lines", p.part.Service)
		}
	}
	n, err := p.w.WriteString(record)
	if err == nil {
		err = p.w.WriteByte('\n')
	}
	p.part.Bytes += int64(n) + 1
	p.part.Records++
	return err
}

// Records is how many records were added.
func (p *PartWriter) Records() int64 { return p.part.Records }

func (p *PartWriter) finish() error {
	if err := p.w.Flush(); err != nil {
		return err
	}
	p.part.SHA256 = hex.EncodeToString(p.hash.Sum(nil))
	_, err := p.f.Seek(0, io.SeekStart)
	return err
}

// WriteTo writes the archive (manifest first, then the parts in the order they were
// started) and returns its manifest.
func (b *Builder) WriteTo(w io.Writer, src Source, now time.Time) (Manifest, error) {
	m := Manifest{Format: Format, Version: Version, CreatedAt: now.UTC(), Source: src}
	for _, p := range b.parts {
		if err := p.finish(); err != nil {
			return m, err
		}
		m.Parts = append(m.Parts, p.part)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	hdr := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: m.CreatedAt, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	if err := hdr(ManifestFile, int64(len(mj))); err != nil {
		return m, err
	}
	if _, err := tw.Write(mj); err != nil {
		return m, err
	}
	for _, p := range b.parts {
		if err := hdr(p.part.File, p.part.Bytes); err != nil {
			return m, err
		}
		if _, err := io.Copy(tw, p.f); err != nil {
			return m, err
		}
		_ = p.f.Close()
	}
	if err := tw.Close(); err != nil {
		return m, err
	}
	return m, gz.Close()
}

// ManifestJSON is m as manifest.json holds it.
func ManifestJSON(m Manifest) string {
	b, _ := json.MarshalIndent(m, "", "  ")
	return string(b)
}

// Archive is a read and verified archive, its parts extracted to temporary files.
type Archive struct {
	Manifest Manifest
	dir      string
	files    map[string]string // service -> path
}

// Close removes the extracted files.
func (a *Archive) Close() error { return os.RemoveAll(a.dir) }

// Read reads an archive of at most maxBytes (uncompressed), checks its format, version,
// files and checksums, and extracts its parts. Any problem with the content is an *Error.
func Read(r io.Reader, maxBytes int64) (*Archive, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, bad("not a gzip file (%v)", err)
	}
	dir, err := os.MkdirTemp("", "atrium-import-*")
	if err != nil {
		return nil, err
	}
	a := &Archive{dir: dir, files: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
		}
	}()
	tr := tar.NewReader(gz)
	var manifest []byte
	sums := map[string]string{} // file -> sha256
	sizes := map[string]int64{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad("not a tar archive or truncated (%v)", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, bad("unexpected entry %q", h.Name)
		}
		total += h.Size
		if h.Size < 0 || total > maxBytes {
			return nil, bad("larger than the limit of %d bytes", maxBytes)
		}
		if h.Name == ManifestFile {
			if manifest != nil {
				return nil, bad("two manifests")
			}
			if manifest, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return nil, bad("manifest truncated (%v)", err)
			}
			continue
		}
		name := filepath.Base(h.Name)
		if name != h.Name || len(name) < 7 || !serviceRE.MatchString(name[:len(name)-6]) || name[len(name)-6:] != ".jsonl" {
			return nil, bad("unexpected file %q", h.Name)
		}
		if _, dup := sums[name]; dup {
			return nil, bad("file %q twice", name)
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		hs := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, hs), tr)
		_ = f.Close()
		if err != nil {
			return nil, bad("%s truncated (%v)", name, err)
		}
		sums[name], sizes[name] = hex.EncodeToString(hs.Sum(nil)), n
	}
	// A gzip stream with garbage after the tar's end is not this format either.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, bad("corrupt (%v)", err)
	}
	if manifest == nil {
		return nil, bad("no %s", ManifestFile)
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, bad("manifest is not JSON (%v)", err)
	}
	if m.Format != Format {
		return nil, bad("format %q, want %q", m.Format, Format)
	}
	if m.Version != Version {
		return nil, bad("version %d; this server reads version %d", m.Version, Version)
	}
	seen := map[string]bool{}
	for _, p := range m.Parts {
		if !serviceRE.MatchString(p.Service) || p.File != p.Service+".jsonl" || seen[p.Service] {
			return nil, bad("manifest: bad part %q", p.Service)
		}
		seen[p.Service] = true
		sum, ok := sums[p.File]
		if !ok {
			return nil, bad("%s is missing", p.File)
		}
		if sizes[p.File] != p.Bytes {
			return nil, bad("%s: %d bytes, the manifest says %d", p.File, sizes[p.File], p.Bytes)
		}
		if sum != p.SHA256 {
			return nil, bad("%s: checksum mismatch (sha256 %s, the manifest says %s)", p.File, sum, p.SHA256)
		}
		a.files[p.Service] = filepath.Join(dir, p.File)
	}
	if len(sums) != len(m.Parts) {
		return nil, bad("files the manifest does not list")
	}
	a.Manifest = m
	ok = true
	return a, nil
}

// Has reports whether the archive holds service's part.
func (a *Archive) Has(service string) bool { _, ok := a.files[service]; return ok }

// Records calls fn with each record line of service's part, in order (none if the archive
// has no such part). A line that is not a record is an *Error.
func (a *Archive) Records(service string, fn func(line string) error) error {
	path, ok := a.files[service]
	if !ok {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Table == "" {
			return bad("%s line %d is not a record", service, n)
		}
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return bad("%s: %v", service, err)
	}
	return nil
}
