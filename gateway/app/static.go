package app

import (
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
)

// newStatic serves the built web app from dir, or returns nil when dir is empty or has no
// index.html. Paths without a file extension that match no file get index.html, so the app's
// client-side routes load; a missing asset ("/assets/x.js") stays a 404.
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
			files.ServeHTTP(w, r)
		case path.Ext(name) != "":
			http.NotFound(w, r)
		default:
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, fsys, "index.html")
		}
	})
}
