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
	"testing"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// tenants is a TenantService whose behaviour each test case picks through the display name.
type tenants struct {
	tenancyv1connect.UnimplementedTenantServiceHandler
}

func (tenants) GetTenant(ctx context.Context, _ *connect.Request[tenancyv1.GetTenantRequest]) (*connect.Response[tenancyv1.GetTenantResponse], error) {
	id, _ := authn.FromContext(ctx)
	return connect.NewResponse(&tenancyv1.GetTenantResponse{Tenant: &tenancyv1.Tenant{Id: id.TenantID}}), nil
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

	tests := []struct {
		name    string
		token   string
		update  string // "" calls GetTenant
		want    connect.Code
		message string
	}{
		{"no token", "", "", connect.CodeUnauthenticated, ""},
		{"token of another key", tokenFor(authn.NewInternalSigner(otherKey), member), "", connect.CodeUnauthenticated, ""},
		{"member read", tokenFor(signer, member), "", 0, ""},
		{"member admin call", tokenFor(signer, member), "ok", connect.CodePermissionDenied, ""},
		{"admin call", tokenFor(signer, admin), "ok", 0, ""},
		{"domain error", tokenFor(signer, admin), "invalid", connect.CodeInvalidArgument, "invalid request"},
		{"panic masked", tokenFor(signer, admin), "panic", connect.CodeInternal, "internal error (id "},
		{"internal masked", tokenFor(signer, admin), "internal", connect.CodeInternal, "internal error (id "},
	}
	client := tenancyv1connect.NewTenantServiceClient(srv.Client(), srv.URL)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.update == "" {
				req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
				req.Header().Set(authn.InternalTokenHeader, tc.token)
				var resp *connect.Response[tenancyv1.GetTenantResponse]
				resp, err = client.GetTenant(context.Background(), req)
				if err == nil && resp.Msg.GetTenant().GetId() != "t1" {
					t.Fatalf("identity not loaded: %v", resp.Msg)
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
