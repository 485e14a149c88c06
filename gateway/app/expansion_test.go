package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// bomb is about 255 KB of gzip that expands to 256 MiB: 256 gzip members of 1 MiB of zeros
// each. Go's gzip reader, in the gateway and in every Connect handler alike, reads the
// members as one stream; made this way it costs milliseconds instead of compressing 256 MiB.
var bomb = sync.OnceValue(func() []byte {
	var member bytes.Buffer
	zw := gzip.NewWriter(&member)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), 256)
})

// bombCompressor is a client "gzip" that sends the bomb whatever the message: it lets the
// real Connect clients deliver a bomb in each protocol's framing.
type bombCompressor struct{ w io.Writer }

func (b *bombCompressor) Write(p []byte) (int, error) { return len(p), nil }
func (b *bombCompressor) Close() error                { _, err := b.w.Write(bomb()); return err }
func (b *bombCompressor) Reset(w io.Writer)           { b.w = w }

func bombing() []connect.ClientOption {
	return []connect.ClientOption{
		connect.WithAcceptCompression("gzip",
			func() connect.Decompressor { return &gzip.Reader{} },
			func() connect.Compressor { return &bombCompressor{} }),
		connect.WithSendCompression("gzip"),
	}
}

func TestDecompressionBomb(t *testing.T) {
	s := newStack(t)
	owner := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	if n := len(bomb()); n < 250<<10 || n > 270<<10 {
		t.Fatalf("bomb is %d bytes", n)
	}
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(proto.name+" unary", func(t *testing.T) {
			client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL, append(bombing(), proto.opts...)...)
			before := s.upstreamRequests.Load()
			_, err := client.SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{OrgName: "x"}))
			wantBomb(t, err)
			if n := s.upstreamRequests.Load() - before; n != 0 {
				t.Errorf("%d requests reached the upstream", n)
			}

			// A normal compressed request still goes through.
			gz := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL, append(proto.opts, connect.WithSendGzip())...)
			req := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: strings.Repeat("compressible ", 1000)})
			call{tenant: "acme", token: owner}.apply(req.Header())
			_, err = gz.UpdateTenant(context.Background(), req)
			wantCode(t, err, 0)
		})
		// Connect streaming: Connect-Content-Encoding and an enveloped, compressed message.
		t.Run(proto.name+" server stream", func(t *testing.T) {
			client := tenancyv1connect.NewOperatorServiceClient(h2cClient(""), s.server.URL, append(bombing(), proto.opts...)...)
			before := s.upstreamRequests.Load()
			req := connect.NewRequest(&tenancyv1.MigrateTenantsRequest{})
			call{token: opGood}.apply(req.Header())
			stream, err := client.MigrateTenants(context.Background(), req)
			if err == nil {
				for stream.Receive() {
					t.Error("a message arrived")
				}
				err = stream.Err()
			}
			wantBomb(t, err)
			if n := s.upstreamRequests.Load() - before; n != 0 {
				t.Errorf("%d requests reached the upstream", n)
			}

			gz := tenancyv1connect.NewOperatorServiceClient(h2cClient(""), s.server.URL, append(proto.opts, connect.WithSendGzip())...)
			req = connect.NewRequest(&tenancyv1.MigrateTenantsRequest{Tenants: []string{strings.Repeat("a", 2000)}})
			call{token: opGood}.apply(req.Header())
			stream, err = gz.MigrateTenants(context.Background(), req)
			wantCode(t, err, 0)
			got := 0
			for err == nil && stream.Receive() {
				got++
			}
			if err == nil {
				wantCode(t, stream.Err(), 0)
			}
			if got != 3 {
				t.Errorf("%d messages, want 3", got)
			}
		})
	}

	t.Run("connect get", func(t *testing.T) {
		// The message of a GET call is in the query: bounded by the header limit, not the body's.
		q := url.Values{"connect": {"v1"}, "encoding": {"proto"}, "base64": {"1"}, "compression": {"gzip"},
			"message": {base64.RawURLEncoding.EncodeToString(bomb())}}
		req, _ := http.NewRequest(http.MethodGet, s.server.URL+tenancyv1connect.TenantServiceGetTenantProcedure+"?"+q.Encode(), nil)
		call{tenant: "acme", token: owner}.apply(req.Header)
		before := s.upstreamRequests.Load()
		res, err := h2cClient("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "decompresses to more than") {
			t.Errorf("status %d, %s", res.StatusCode, body)
		}
		if n := s.upstreamRequests.Load() - before; n != 0 {
			t.Errorf("%d requests reached the upstream", n)
		}
	})

	t.Run("unknown encodings are refused", func(t *testing.T) {
		for _, h := range []struct{ contentType, header string }{
			{"application/proto", "Content-Encoding"},
			{"application/connect+proto", "Connect-Content-Encoding"},
			{"application/grpc", "Grpc-Encoding"},
			{"application/grpc-web+proto", "Grpc-Encoding"},
		} {
			before := s.upstreamRequests.Load()
			req, _ := http.NewRequest(http.MethodPost, s.server.URL+tenancyv1connect.TenantServiceSignUpProcedure, bytes.NewReader([]byte("\x00\x00\x00\x00\x00")))
			req.Header.Set("Content-Type", h.contentType)
			req.Header.Set(h.header, "br")
			res, err := h2cClient("").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if !strings.Contains(string(body)+res.Header.Get("Grpc-Message")+res.Trailer.Get("Grpc-Message"), "unsupported compression") {
				t.Errorf("%s with %s: br: status %d, %q, headers %v", h.contentType, h.header, res.StatusCode, body, res.Header)
			}
			if n := s.upstreamRequests.Load() - before; n != 0 {
				t.Errorf("%s: %d requests reached the upstream", h.contentType, n)
			}
		}
	})
}

func wantBomb(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, connect.CodeResourceExhausted)
	if err != nil && !strings.Contains(err.Error(), "decompresses to more than the limit of 1048576 bytes") {
		t.Errorf("message = %q", err)
	}
}
