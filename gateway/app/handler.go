package app

import (
	"context"
	"net/http"
	"time"

	"atrium.dev/gateway/internal/pipeline"
	"connectrpc.com/connect"
)

// routes: RPCs and REST calls go through the pipeline, which traces and measures them itself;
// everything else through telemetry's HTTP middleware, when there is telemetry.
func (a *App) routes() http.Handler {
	traced := func(h http.Handler) http.Handler { return h }
	if a.cfg.Telemetry != nil {
		traced = func(h http.Handler) http.Handler { return a.cfg.Telemetry.PublicHTTPMiddleware(h, "gateway") }
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", traced(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})))
	mux.Handle("GET /readyz", traced(http.HandlerFunc(a.ready)))
	mux.Handle("GET /.well-known/jwks.json", traced(http.HandlerFunc(a.jwks)))
	for prefix := range a.cfg.RESTUpstreams {
		mux.HandleFunc(prefix, a.pipeline.ServeREST)
	}
	for path, base := range a.webhooks {
		mux.Handle("POST "+path, traced(a.webhookHandler(base)))
	}
	if _, ok := a.cfg.RESTUpstreams["/api/catalog/"]; ok {
		mux.HandleFunc(pipeline.GitWebhookPrefix, a.pipeline.ServeGitWebhook)
	}
	notFound := traced(http.NotFoundHandler())
	var static http.Handler
	if a.static != nil {
		static = traced(a.static)
	}
	errs := connect.NewErrorWriter()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case pipeline.IsProcedurePath(r.URL.Path):
			a.pipeline.ServeRPC(w, r)
		case len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/":
			// An API that does not exist, not a page of the web app.
			a.pipeline.ServeREST(w, r)
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && static != nil:
			static.ServeHTTP(w, r)
		case r.Method == http.MethodPost && errs.IsSupported(r):
			a.pipeline.ServeRPC(w, r)
		default:
			notFound.ServeHTTP(w, r)
		}
	})
	return mux
}

// ready: tenancy answers and the signing keys are loaded. Redis is not required: the gateway
// serves without it.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.keys.Refresh(ctx); err != nil {
		a.log.WarnContext(ctx, "not ready: tenancy unreachable", "err", err)
		http.Error(w, "tenancy unreachable", http.StatusServiceUnavailable)
		return
	}
	if !a.keys.Loaded() {
		http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

func (a *App) jwks(w http.ResponseWriter, r *http.Request) {
	data, ok := a.keys.JWKS()
	if !ok {
		http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(data)
}
