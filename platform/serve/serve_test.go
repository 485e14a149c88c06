package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
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
