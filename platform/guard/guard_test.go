package guard_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"connectrpc.com/connect"
)

// tenants is a TenantService whose behaviour each test case picks through the display name.
type tenants struct {
	tenancyv1connect.UnimplementedTenantServiceHandler
}

func (tenants) GetTenant(ctx context.Context, _ *connect.Request[tenancyv1.GetTenantRequest]) (*connect.Response[tenancyv1.GetTenantResponse], error) {
	id, _ := authn.FromContext(ctx)
	// The display name reports the request id the service sees, in the identity and in the
	// context its log lines use.
	rid := id.RequestID
	if telemetry.RequestID(ctx) != rid {
		rid = "identity and context disagree"
	}
	return connect.NewResponse(&tenancyv1.GetTenantResponse{Tenant: &tenancyv1.Tenant{Id: id.TenantID, Slug: id.Service, DisplayName: rid}}), nil
}

func (tenants) UpdateTenant(_ context.Context, req *connect.Request[tenancyv1.UpdateTenantRequest]) (*connect.Response[tenancyv1.UpdateTenantResponse], error) {
	switch req.Msg.GetDisplayName() {
	case "invalid":
		return nil, rpcerr.InvalidField("display_name", "must not be 'invalid'")
	case "panic":
		panic("boom")
	case "internal":
		return nil, errors.New("pq: secret connection detail")
	}
	return connect.NewResponse(&tenancyv1.UpdateTenantResponse{}), nil
}

func TestGuardAndErrors(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	path, handler := tenancyv1connect.NewTenantServiceHandler(tenants{}, connect.WithInterceptors(
		rpcerr.NewInterceptor(log),
		guard.NewAuthInterceptor(authn.NewInternalVerifier(key.Public().(ed25519.PublicKey))),
		guard.NewPolicyInterceptor(),
	))
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	signer := authn.NewInternalSigner(key)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	tokenFor := func(s *authn.InternalSigner, id authn.Identity) string {
		tok, err := s.Sign(id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := authn.Identity{TenantID: "t1", Schema: "t_t1", Shard: "main", UserID: "u1"}
	member, admin := base, base
	member.Role, admin.Role = authn.RoleMember, authn.RoleAdmin
	// Tokens signed before the request id moved to its header carried it inside.
	memberWithRID := member
	memberWithRID.RequestID = "req-in-token"

	tests := []struct {
		name      string
		token     string
		requestID string // X-Request-Id sent
		update    string // "" calls GetTenant
		want      connect.Code
		message   string
		wantRID   string // request id the service sees (GetTenant only)
	}{
		{name: "request id from its header", token: tokenFor(signer, member), requestID: "0123456789abcdef01234567", wantRID: "0123456789abcdef01234567"},
		{name: "header wins over the token", token: tokenFor(signer, memberWithRID), requestID: "req-from-header", wantRID: "req-from-header"},
		{name: "bad header ignored", token: tokenFor(signer, memberWithRID), requestID: "bad id\"}", wantRID: "req-in-token"},
		{name: "bad header, none in token", token: tokenFor(signer, member), requestID: "x", wantRID: ""},
		{name: "no request id", token: tokenFor(signer, member), wantRID: ""},
		{name: "request id without a token", requestID: "req-from-header", want: connect.CodeUnauthenticated},
		{name: "no token", want: connect.CodeUnauthenticated},
		{name: "token of another key", token: tokenFor(authn.NewInternalSigner(otherKey), member), want: connect.CodeUnauthenticated},
		{name: "member read", token: tokenFor(signer, member)},
		{name: "member admin call", token: tokenFor(signer, member), update: "ok", want: connect.CodePermissionDenied},
		{name: "admin call", token: tokenFor(signer, admin), update: "ok"},
		{name: "domain error", token: tokenFor(signer, admin), update: "invalid", want: connect.CodeInvalidArgument, message: "invalid request"},
		{name: "panic masked", token: tokenFor(signer, admin), update: "panic", want: connect.CodeInternal, message: "internal error (id "},
		{name: "internal masked", token: tokenFor(signer, admin), update: "internal", want: connect.CodeInternal, message: "internal error (id "},
	}
	client := tenancyv1connect.NewTenantServiceClient(srv.Client(), srv.URL)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.update == "" {
				req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
				req.Header().Set(authn.InternalTokenHeader, tc.token)
				if tc.requestID != "" {
					req.Header().Set(authn.RequestIDHeader, tc.requestID)
				}
				var resp *connect.Response[tenancyv1.GetTenantResponse]
				resp, err = client.GetTenant(context.Background(), req)
				if err == nil && resp.Msg.GetTenant().GetId() != "t1" {
					t.Fatalf("identity not loaded: %v", resp.Msg)
				}
				if err == nil && resp.Msg.GetTenant().GetDisplayName() != tc.wantRID {
					t.Fatalf("request id = %q, want %q", resp.Msg.GetTenant().GetDisplayName(), tc.wantRID)
				}
			} else {
				req := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: tc.update})
				req.Header().Set(authn.InternalTokenHeader, tc.token)
				_, err = client.UpdateTenant(context.Background(), req)
			}
			if got := connect.CodeOf(err); (err == nil && tc.want != 0) || (err != nil && got != tc.want) {
				t.Fatalf("err = %v, want code %v", err, tc.want)
			}
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want message containing %q", err, tc.message)
			}
			if strings.Contains(errString(err), "secret") || strings.Contains(errString(err), "boom") {
				t.Fatalf("internal detail leaked: %v", err)
			}
		})
	}
	if vs := rpcerr.FieldViolations(updateErr(t, client, tokenFor(signer, admin), "invalid")); len(vs) != 1 || vs[0].Field != "display_name" {
		t.Fatalf("violations = %+v", vs)
	}
	if !strings.Contains(logs.String(), "secret connection detail") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("masked errors not logged in full: %s", logs.String())
	}
}

// A service calling another sends its own identity and the request id it serves, and reuses
// its token across calls.
func TestCallerInterceptor(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	path, handler := tenancyv1connect.NewTenantServiceHandler(tenants{}, connect.WithInterceptors(
		guard.NewAuthInterceptor(authn.NewInternalVerifier(key.Public().(ed25519.PublicKey))),
	))
	var (
		mu     sync.Mutex
		tokens = map[string]bool{}
	)
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens[r.Header.Get(authn.InternalTokenHeader)] = true
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := tenancyv1connect.NewTenantServiceClient(srv.Client(), srv.URL,
		connect.WithInterceptors(guard.NewCallerInterceptor(authn.NewInternalSigner(key), "tenancy")))

	served := authn.WithIdentity(context.Background(), &authn.Identity{UserID: "u1", RequestID: "req-of-the-user"})
	tests := []struct {
		name    string
		ctx     context.Context
		wantRID string
	}{
		{"request id of the identity served", served, "req-of-the-user"},
		{"request id of the context", telemetry.WithRequestID(context.Background(), "req-in-context"), "req-in-context"},
		{"bad request id left out", telemetry.WithRequestID(context.Background(), "bad\nid"), ""},
		{"no request id", context.Background(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.GetTenant(tc.ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Msg.GetTenant(); got.GetSlug() != "tenancy" || got.GetId() != "" || got.GetDisplayName() != tc.wantRID {
				t.Fatalf("callee saw service %q, tenant %q, request id %q; want tenancy, none, %q",
					got.GetSlug(), got.GetId(), got.GetDisplayName(), tc.wantRID)
			}
		})
	}
	if len(tokens) != 1 {
		t.Fatalf("%d different tokens for %d calls, want one reused", len(tokens), len(tests))
	}
}

func updateErr(t *testing.T, c tenancyv1connect.TenantServiceClient, token, name string) error {
	req := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: name})
	req.Header().Set(authn.InternalTokenHeader, token)
	_, err := c.UpdateTenant(context.Background(), req)
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
