package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"atrium.dev/platform/serve"
)

// The server speaks h2c to the h2c client, and Run returns once its context ends.
func TestRunServesH2CAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := serve.NewServer(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, srv, slog.New(slog.DiscardHandler)) }()

	var proto string
	for i := 0; i < 100; i++ { // wait for the listener
		resp, err := serve.H2CClient().Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			proto = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if proto != "HTTP/2.0" {
		t.Fatalf("protocol = %q, want HTTP/2.0", proto)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A stream's write deadline moves on with every write: a Connect server stream may send for
// longer than WriteTimeout, while a unary response keeps the server's deadline.
func TestStreamWriteDeadlineRolls(t *testing.T) {
	var sawUnwrap bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sawUnwrap = w.(interface{ Unwrap() http.ResponseWriter })
		_, _ = io.WriteString(w, "ok")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
	srv := serve.NewServer("", h)
	for _, tt := range []struct {
		ct     string
		rolled bool
	}{
		{"application/connect+proto", true},
		{"application/grpc+proto", true},
		{"application/grpc-web+proto", true},
		{"application/proto", false},
		{"application/json", false},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		req.Header.Set("Content-Type", tt.ct)
		srv.Handler.ServeHTTP(rec, req)
		if sawUnwrap != tt.rolled || rec.Body.String() != "ok" || !rec.Flushed {
			t.Errorf("%s: rolling deadline %v (want %v), body %q, flushed %v", tt.ct, sawUnwrap, tt.rolled, rec.Body.String(), rec.Flushed)
		}
	}
}
