// Package serve runs HTTP the one way every Atrium process does: HTTP/1.1 for browsers and
// curl, HTTP/2 cleartext (h2c) between the gateway and the services, Prometheus /metrics
// beside the application, and a graceful shutdown when the process is told to stop.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"atrium.dev/platform/telemetry"
)

// ShutdownTimeout bounds how long in-flight requests get to finish.
const ShutdownTimeout = 15 * time.Second

// Server timeouts (issue 6: servers had no idle timeout).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	WriteTimeout      = 10 * time.Minute
	IdleTimeout       = 2 * time.Minute
)

// NewServer returns a server for h on addr speaking HTTP/1.1 and h2c.
func NewServer(addr string, h http.Handler) *http.Server {
	srv := &http.Server{
		Addr:    addr,
		Handler: streamDeadlines(h),
		// Every phase is bounded so a slow or idle client cannot hold a connection forever.
		// Write is generous, and for a stream it bounds each message, not the whole stream:
		// server streams (MigrateTenants over 10,000 tenants, MoveTenant of a large tenant) send
		// for longer than any fixed bound.
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return srv
}

// streamDeadlines gives streaming RPCs (Connect streams, gRPC, gRPC-Web) a write deadline
// that moves on with every write, WriteTimeout after it: a MoveTenant stream was cut after
// 10 minutes while the move was still sending progress. Unary calls keep the server's.
func streamDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/connect+") || strings.HasPrefix(ct, "application/grpc") {
			w = &rollingDeadline{ResponseWriter: w, rc: http.NewResponseController(w)}
		}
		h.ServeHTTP(w, r)
	})
}

type rollingDeadline struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (d *rollingDeadline) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return d.ResponseWriter.Write(p)
}

func (d *rollingDeadline) Flush() { _ = d.rc.Flush() }

// Unwrap lets http.ResponseController reach the server's writer.
func (d *rollingDeadline) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// H2CClient returns a client that speaks only HTTP/2 cleartext, as service-to-service calls
// (and the gateway's forwarding) do.
func H2CClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
}

// WithMetrics mounts tel's /metrics beside app, which is traced with tel's middleware.
func WithMetrics(tel *telemetry.Telemetry, app http.Handler, operation string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.Handle("/", tel.HTTPMiddleware(app, operation))
	return mux
}

// Run serves until ctx ends (SIGINT/SIGTERM in a main), then shuts down gracefully. It
// returns the listener's error if serving fails before that.
func Run(ctx context.Context, srv *http.Server, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", srv.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
