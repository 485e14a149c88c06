package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

func TestBodyLimit(t *testing.T) {
	s := newStack(t, func(c *app.Config) {
		c.BodyLimit = 1024
		c.BodyLimits = map[string]int64{"/atrium.tenancy.v1.TenantService/UpdateTenant": 4096}
	})
	big := strings.Repeat("x", 2000)
	owner := s.userToken(ownerAcme, "acme1", authn.RoleOwner)

	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"connect json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(proto.name, func(t *testing.T) {
			client := tenancyv1connect.NewTenantServiceClient(h2cClient(""), s.server.URL, proto.opts...)
			_, err := client.SignUp(context.Background(), connect.NewRequest(&tenancyv1.SignUpRequest{OrgName: big}))
			wantCode(t, err, connect.CodeResourceExhausted)
			if err != nil && !strings.Contains(err.Error(), "larger than the limit of 1024 bytes") {
				t.Errorf("message = %q", err)
			}
			// The override lets a bigger body through for its procedure.
			req := connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: big})
			call{tenant: "acme", token: owner}.apply(req.Header())
			_, err = client.UpdateTenant(context.Background(), req)
			wantCode(t, err, 0)
		})
	}

	t.Run("connect unary answers 413", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"orgName": big})
		res, err := http1Client("").Post(s.server.URL+tenancyv1connect.TenantServiceSignUpProcedure, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e struct{ Code, Message string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "resource_exhausted" {
			t.Errorf("status %d, body %+v", res.StatusCode, e)
		}
	})

	t.Run("undeclared length", func(t *testing.T) {
		// A chunked body: the gateway only finds out while forwarding.
		pr, pw := io.Pipe()
		go func() {
			body, _ := json.Marshal(map[string]string{"orgName": big})
			_, _ = pw.Write(body)
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, s.server.URL+tenancyv1connect.TenantServiceSignUpProcedure, pr)
		req.Header.Set("Content-Type", "application/json")
		before := s.tenantHits.Load()
		res, err := http1Client("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e struct{ Code string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "resource_exhausted" {
			t.Errorf("status %d, code %q", res.StatusCode, e.Code)
		}
		if s.tenantHits.Load() != before {
			t.Error("the oversized request reached the handler")
		}
	})
}

func TestRateLimit(t *testing.T) {
	// One request per 1000 s and a burst of 2: the third request in a row is always refused,
	// however slow the machine.
	limit := func(c *app.Config) { c.RateLimit = app.RateLimit{PerSecond: 0.001, Burst: 2} }
	strict := func(c *app.Config) { c.RateLimit.Strict = true }
	closedRedis := func(c *app.Config) { c.RedisURL = "redis://" + closedAddr(t) + "/0" }

	for _, tt := range []struct {
		name string
		opts []stackOption
	}{
		{"redis", []stackOption{limit}},
		{"redis strict", []stackOption{limit, strict}},
		{"redis unreachable: in-process fallback", []stackOption{limit, closedRedis}},
		{"redis unreachable, strict: in-process fallback", []stackOption{limit, strict, closedRedis}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.opts...)
			acme := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
			for i := range 2 {
				if _, err := s.getTenant(call{tenant: "acme", token: acme}); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			// Connect client: ResourceExhausted.
			_, err := s.getTenant(call{tenant: "acme", token: acme})
			wantCode(t, err, connect.CodeResourceExhausted)
			// gRPC client: the same code.
			_, err = s.getTenant(call{tenant: "acme", token: acme, opts: []connect.ClientOption{connect.WithGRPC()}})
			wantCode(t, err, connect.CodeResourceExhausted)

			// Plain HTTP view of a Connect call: 429 with Retry-After.
			req, _ := http.NewRequest(http.MethodPost, s.server.URL+tenancyv1connect.TenantServiceGetTenantProcedure, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			call{tenant: "acme", token: acme}.apply(req.Header)
			res, err := http1Client("").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.StatusCode != http.StatusTooManyRequests || ra < 1 {
				t.Errorf("status %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
			}

			// REST gets 429 too.
			rreq, _ := http.NewRequest(http.MethodGet, s.server.URL+"/api/catalog/entities", nil)
			call{tenant: "acme", token: acme}.apply(rreq.Header)
			rres, err := http1Client("").Do(rreq)
			if err != nil {
				t.Fatal(err)
			}
			rres.Body.Close()
			if rres.StatusCode != http.StatusTooManyRequests || rres.Header.Get("Retry-After") == "" {
				t.Errorf("REST: status %d, Retry-After %q", rres.StatusCode, rres.Header.Get("Retry-After"))
			}

			// Another tenant has its own budget.
			if _, err := s.getTenant(call{tenant: "globex", token: s.userToken(ownerGlobex, "globex1", authn.RoleOwner)}); err != nil {
				t.Errorf("globex limited by acme's traffic: %v", err)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
