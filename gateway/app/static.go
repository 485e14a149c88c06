package app

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// newStatic serves the built web app from dir, or returns nil when dir is empty or has no
// index.html. Paths without a file extension that match no file get index.html, so the app's
// client-side routes load; a missing asset ("/assets/x.js") stays a 404. Text files go out
// gzip-compressed to clients that accept it (the app's main script is 418 KB raw, 125 KB
// compressed), each compressed once and kept while its modification time stays the same.
func newStatic(dir string, log *slog.Logger) http.Handler {
	if dir == "" {
		return nil
	}
	fsys := os.DirFS(dir)
	if _, err := fs.Stat(fsys, "index.html"); err != nil {
		log.Info("web app not served: no index.html", "dir", dir)
		return nil
	}
	files := http.FileServerFS(fsys)
	gz := &gzipped{fsys: fsys, files: map[string]gzFile{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		var info fs.FileInfo
		err := fs.ErrNotExist
		if name != "" {
			info, err = fs.Stat(fsys, name)
		}
		switch {
		case err == nil && !info.IsDir():
			if strings.HasPrefix(name, "assets/") {
				// Vite puts a content hash in every asset name.
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			if !gz.serve(w, r, name, info) {
				files.ServeHTTP(w, r)
			}
		case path.Ext(name) != "":
			http.NotFound(w, r)
		default:
			w.Header().Set("Cache-Control", "no-cache")
			if info, err := fs.Stat(fsys, "index.html"); err != nil || !gz.serve(w, r, "index.html", info) {
				http.ServeFileFS(w, r, fsys, "index.html")
			}
		}
	})
}

// compressible lists the extensions worth compressing (images and fonts are compressed
// already).
var compressible = map[string]bool{".js": true, ".mjs": true, ".css": true, ".html": true, ".svg": true, ".json": true, ".map": true, ".txt": true}

// gzipped keeps the compressed copies of the app's text files.
type gzipped struct {
	fsys  fs.FS
	mu    sync.Mutex
	files map[string]gzFile
}

type gzFile struct {
	mod  time.Time
	body []byte
}

// serve writes the compressed copy of name when the client accepts gzip and the file is
// text; false means the caller serves the file as it is.
func (g *gzipped) serve(w http.ResponseWriter, r *http.Request, name string, info fs.FileInfo) bool {
	ext := path.Ext(name)
	if !compressible[ext] || !acceptsGzip(r) || r.Header.Get("Range") != "" {
		return false
	}
	body, ok := g.get(name, info.ModTime())
	if !ok {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Encoding", "gzip")
	if ct := mime.TypeByExtension(ext); ct != "" {
		h.Set("Content-Type", ct)
	}
	http.ServeContent(w, r, name, info.ModTime(), bytes.NewReader(body))
	return true
}

func (g *gzipped) get(name string, mod time.Time) ([]byte, bool) {
	g.mu.Lock()
	f, ok := g.files[name]
	g.mu.Unlock()
	if ok && f.mod.Equal(mod) {
		return f.body, true
	}
	raw, err := fs.ReadFile(g.fsys, name)
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(raw)
	if zw.Close() != nil {
		return nil, false
	}
	g.mu.Lock()
	g.files[name] = gzFile{mod: mod, body: buf.Bytes()}
	g.mu.Unlock()
	return buf.Bytes(), true
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
