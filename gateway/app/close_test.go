package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// Close returns, whatever state Redis is in: gatewayd calls it on SIGTERM, and a Close that
// waits on Redis keeps the process alive until it is killed. Every case waits for Close in a
// goroutine and fails if it has not returned after 10 s, instead of hanging the test run.
func TestCloseReturns(t *testing.T) {
	s := newStack(t)

	// A server that accepts connections and never answers: a Redis that hangs, or a network
	// path that drops everything after the handshake.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	}()

	tests := []struct {
		name     string
		redisURL string
		// cancelFirst cancels Start's context before Close, as gatewayd does on SIGTERM;
		// otherwise Close has to stop the work itself.
		cancelFirst bool
		subscribed  bool // wait until the tenant listener is subscribed
	}{
		{"subscribed, context canceled first", s.redis.URL, true, true},
		{"subscribed, Close alone", s.redis.URL, false, true},
		{"redis never answers", "redis://" + silent.Addr().String(), true, false},
		{"redis unreachable", "redis://" + closedAddr(t), true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("%sclose%d:", s.redis.Prefix, i)
			gw, err := app.New(context.Background(), app.Config{
				TenancyURL:  s.upstream.URL,
				RedisURL:    tt.redisURL,
				RedisPrefix: prefix,
				InternalKey: s.internalKey,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			gw.Start(ctx)
			srv := startH2C(t, gw.Handler())
			// A request, so the usage writer has an event to write at Close.
			req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
			call{tenant: "acme", token: s.userToken(ownerAcme, "acme1", authn.RoleOwner)}.apply(req.Header())
			if _, err := tenancyv1connect.NewTenantServiceClient(h2cClient(""), srv.URL).GetTenant(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if tt.subscribed {
				channel := prefix + "atrium:tenant-changed"
				eventually(t, "tenant listener subscribed", func() bool {
					n, err := s.redis.Client.PubSubNumSub(context.Background(), channel).Result()
					return err == nil && n[channel] > 0
				})
			}
			srv.Close()
			if tt.cancelFirst {
				cancel()
			}
			closed := make(chan struct{})
			go func() {
				gw.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close has not returned after 10 s")
			}
			if tt.subscribed {
				// Close still wrote the queued usage event before releasing Redis.
				n, err := s.redis.Client.XLen(context.Background(), prefix+"atrium:usage").Result()
				if err != nil || n == 0 {
					t.Errorf("usage events in the stream after Close: %d, %v", n, err)
				}
			}
		})
	}
}
