package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	"atrium.dev/platform/telemetry"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// Every protocol works through the gateway, over h2c and HTTP/1.1, and errors the gateway
// makes itself arrive in each protocol's own form.
func TestProtocols(t *testing.T) {
	s := newStack(t)
	acme := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	tests := []struct {
		name   string
		client func(string) *http.Client
		opts   []connect.ClientOption
	}{
		{"connect proto h2c", h2c, nil},
		{"connect json h2c", h2c, []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect json http1", http1, []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect get h2c", h2c, []connect.ClientOption{connect.WithHTTPGet()}},
		{"grpc h2c", h2c, []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web http1", http1, []connect.ClientOption{connect.WithGRPCWeb()}},
		{"grpc-web json h2c", h2c, []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := tt.client(s.tenantHost("acme"))
			tenants := tenancyv1connect.NewTenantServiceClient(hc, s.server.URL, tt.opts...)
			req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
			req.Header().Set("Authorization", "Bearer "+acme)
			res, err := tenants.GetTenant(context.Background(), req)
			wantCode(t, err, 0)
			if err == nil {
				if id := decodeEcho(t, res.Msg.GetTenant().GetDisplayName()).Identity; id.TenantID != "acme1" || id.UserID != ownerAcme {
					t.Errorf("identity = %+v", id)
				}
			}

			// Gateway-made errors.
			_, err = tenants.GetTenant(context.Background(), connect.NewRequest(&tenancyv1.GetTenantRequest{}))
			wantCode(t, err, connect.CodeUnauthenticated)
			dir := tenancyv1connect.NewDirectoryServiceClient(hc, s.server.URL, tt.opts...)
			_, err = dir.GetSigningKeys(context.Background(), connect.NewRequest(&tenancyv1.GetSigningKeysRequest{}))
			wantCode(t, err, connect.CodeNotFound)

			// A server stream arrives message by message, with its trailers.
			ops := tenancyv1connect.NewOperatorServiceClient(hc, s.server.URL, tt.opts...)
			sreq := connect.NewRequest(&tenancyv1.MigrateTenantsRequest{})
			sreq.Header().Set("Authorization", "Bearer "+opGood)
			stream, err := ops.MigrateTenants(context.Background(), sreq)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for stream.Receive() {
				n++
				if got := stream.Msg().GetDone(); got != int32(n) {
					t.Errorf("message %d has done = %d", n, got)
				}
				if id := decodeEcho(t, stream.Msg().GetError()).Identity; id.OperatorID != operatorID {
					t.Errorf("stream identity = %+v", id)
				}
			}
			if err := stream.Err(); err != nil || n != 3 {
				t.Errorf("stream: %d messages, err %v", n, err)
			}
			_ = stream.Close()
		})
	}
}

func h2c(host string) *http.Client   { return h2cClient(host) }
func http1(host string) *http.Client { return http1Client(host) }

// Stream messages pass the gateway as they come: the first one reaches the client while the
// upstream is still inside the stream.
func TestStreamNotBuffered(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			// The upstream holds the stream 10 s at most: a buffering gateway fails, not hangs.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ops := tenancyv1connect.NewOperatorServiceClient(h2c(""), s.server.URL, tt.opts...)
			req := connect.NewRequest(&tenancyv1.MigrateTenantsRequest{Concurrency: 98})
			req.Header().Set("Authorization", "Bearer "+opGood)
			stream, err := ops.MigrateTenants(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("no message: %v", stream.Err())
			}
			if s.heldStreamEnded.Load() {
				t.Fatal("the first message arrived only after the upstream ended the stream")
			}
		})
	}
}

// The upstream gets the gateway's trace context, never the client's: not its trace id, not its
// baggage.
func TestTraceContext(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "gateway-test", LogWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	s := newStack(t, func(c *app.Config) { c.Telemetry = tel })
	const clientTrace = "0af7651916cd43dd8448eb211c80319c"
	e, err := s.getTenant(call{tenant: "acme", token: s.userToken(ownerAcme, "acme1", authn.RoleOwner), header: map[string]string{
		"Traceparent": "00-" + clientTrace + "-b7ad6b7169203331-01",
		"Baggage":     "user=mallory",
	}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(e.TraceParent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 || parts[1] == clientTrace || parts[1] == strings.Repeat("0", 32) {
		t.Errorf("upstream traceparent = %q, want a trace of the gateway's own", e.TraceParent)
	}
	if e.Baggage != "" {
		t.Errorf("client baggage reached the upstream: %q", e.Baggage)
	}
	// Without the client's trace context the upstream still gets the gateway's.
	e, err = s.getTenant(call{tenant: "acme", token: s.userToken(ownerAcme, "acme1", authn.RoleOwner)})
	if err != nil || len(strings.Split(e.TraceParent, "-")) != 4 {
		t.Errorf("upstream traceparent = %q, err %v", e.TraceParent, err)
	}
}
