package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"atrium.dev/gateway/internal/pipeline"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// authService rotates one refresh token at a time, as tenancy does: only the newest is good.
type authService struct {
	tenancyv1connect.UnimplementedAuthServiceHandler
	mu        sync.Mutex
	n         int
	current   string
	seen      []string // refresh tokens presented to Refresh and Logout
	loggedOut bool
}

func (a *authService) next() string {
	a.n++
	a.current = fmt.Sprintf("atr_rt_session%03d", a.n)
	return a.current
}

func (a *authService) Login(context.Context, *connect.Request[tenancyv1.LoginRequest]) (*connect.Response[tenancyv1.LoginResponse], error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return connect.NewResponse(&tenancyv1.LoginResponse{AccessToken: "access", RefreshToken: a.next(),
		User: &tenancyv1.User{Email: "ann@example.com"}, Role: tenancyv1.Role_ROLE_OWNER}), nil
}

func (a *authService) Refresh(_ context.Context, req *connect.Request[tenancyv1.RefreshRequest]) (*connect.Response[tenancyv1.RefreshResponse], error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, req.Msg.GetRefreshToken())
	if req.Msg.GetRefreshToken() != a.current || a.current == "" {
		return nil, rpcerr.Unauthenticated("refresh token is invalid, expired or revoked")
	}
	return connect.NewResponse(&tenancyv1.RefreshResponse{AccessToken: "access", RefreshToken: a.next(),
		User: &tenancyv1.User{Email: "ann@example.com"}, Role: tenancyv1.Role_ROLE_OWNER}), nil
}

func (a *authService) Logout(_ context.Context, req *connect.Request[tenancyv1.LogoutRequest]) (*connect.Response[tenancyv1.LogoutResponse], error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, req.Msg.GetRefreshToken())
	if req.Msg.GetRefreshToken() == a.current {
		a.current, a.loggedOut = "", true
	}
	return connect.NewResponse(&tenancyv1.LogoutResponse{}), nil
}

func (a *authService) lastSeen() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return ""
	}
	return a.seen[len(a.seen)-1]
}

// sessionPost sends a Connect JSON unary call the way the web app does.
func (s *stack) sessionPost(t *testing.T, procedure, body string, hdr map[string]string, cookies ...*http.Cookie) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.server.URL+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := http1Client(s.tenantHost("acme")).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res, m
}

func sessionCookieOf(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == pipeline.SessionCookieName("acme1") {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", res.Header.Values("Set-Cookie"))
	return nil
}

var cookieMode = map[string]string{pipeline.SessionHeader: pipeline.SessionHeaderValue}

func TestSessionCookie(t *testing.T) {
	s := newStack(t)

	// Login: the refresh token goes into an httpOnly, SameSite=Strict, host-only cookie on
	// the AuthService's path, and out of the message the page's script reads.
	res, body := s.sessionPost(t, tenancyv1connect.AuthServiceLoginProcedure, `{"email":"ann@example.com","password":"pw"}`, cookieMode)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %v", res.StatusCode, body)
	}
	if _, ok := body["refreshToken"]; ok {
		t.Fatalf("login body still carries the refresh token: %v", body)
	}
	if body["accessToken"] != "access" {
		t.Fatalf("login body lost the access token: %v", body)
	}
	ck := sessionCookieOf(t, res)
	raw := res.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/atrium.tenancy.v1.AuthService/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("cookie %q must be host-only", raw)
	}
	if ck.Value != "atr_rt_session001" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("cookie %q, cache-control %q", ck.Value, res.Header.Get("Cache-Control"))
	}

	// Refresh from a new tab: empty message, the cookie brings the token; rotated again.
	res, body = s.sessionPost(t, tenancyv1connect.AuthServiceRefreshProcedure, `{}`, cookieMode, ck)
	if res.StatusCode != http.StatusOK || s.auth.lastSeen() != "atr_rt_session001" {
		t.Fatalf("refresh: %d %v, tenancy saw %q", res.StatusCode, body, s.auth.lastSeen())
	}
	if _, ok := body["refreshToken"]; ok || body["user"] == nil {
		t.Fatalf("refresh body: %v", body)
	}
	ck2 := sessionCookieOf(t, res)
	if ck2.Value != "atr_rt_session002" {
		t.Fatalf("rotated cookie %q", ck2.Value)
	}

	// CSRF: another site's request (the browser says so), or a form post (a safelisted
	// content type needing no preflight), never reaches tenancy with the cookie.
	before := len(s.auth.seen)
	cross := map[string]string{pipeline.SessionHeader: pipeline.SessionHeaderValue, "Sec-Fetch-Site": "cross-site"}
	res, _ = s.sessionPost(t, tenancyv1connect.AuthServiceRefreshProcedure, `{}`, cross, ck2)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site refresh: %d, want 403", res.StatusCode)
	}
	form, _ := http.NewRequest(http.MethodPost, s.server.URL+tenancyv1connect.AuthServiceRefreshProcedure, strings.NewReader("a=b"))
	form.Header.Set("Content-Type", "text/plain")
	form.Header.Set(pipeline.SessionHeader, pipeline.SessionHeaderValue)
	form.AddCookie(ck2)
	fres, err := http1Client(s.tenantHost("acme")).Do(form)
	if err != nil {
		t.Fatal(err)
	}
	fres.Body.Close()
	if fres.StatusCode == http.StatusOK {
		t.Errorf("text/plain refresh succeeded")
	}
	// Without the header the cookie is ignored: the message's (empty) token is what counts.
	res, _ = s.sessionPost(t, tenancyv1connect.AuthServiceRefreshProcedure, `{}`, nil, ck2)
	if res.StatusCode == http.StatusOK {
		t.Errorf("refresh without the session header used the cookie")
	}
	for _, seen := range s.auth.seen[before:] {
		if seen == ck2.Value {
			t.Fatalf("a refused request reached tenancy with the cookie's token")
		}
	}

	// No cookie at all (a tab that never signed in): Unauthenticated, tenancy not asked.
	res, _ = s.sessionPost(t, tenancyv1connect.AuthServiceRefreshProcedure, `{}`, cookieMode)
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh without cookie: %d", res.StatusCode)
	}

	// A refused token (here the already-rotated first one) clears the cookie.
	res, _ = s.sessionPost(t, tenancyv1connect.AuthServiceRefreshProcedure, `{}`, cookieMode, ck)
	if res.StatusCode != http.StatusUnauthorized || sessionCookieOf(t, res).MaxAge >= 0 {
		t.Errorf("stale refresh: %d, cookie %v", res.StatusCode, res.Header.Values("Set-Cookie"))
	}

	// Logout revokes the cookie's token and clears the cookie.
	res, _ = s.sessionPost(t, tenancyv1connect.AuthServiceLogoutProcedure, `{}`, cookieMode, ck2)
	if res.StatusCode != http.StatusOK || !s.auth.loggedOut || sessionCookieOf(t, res).MaxAge >= 0 {
		t.Fatalf("logout: %d, logged out %v, cookie %v", res.StatusCode, s.auth.loggedOut, res.Header.Values("Set-Cookie"))
	}
}

// The binary Connect encoding works the same, and clients that do not ask for the cookie
// (tenantctl, scripts) keep getting the refresh token in the message.
func TestSessionCookieProtoAndOptIn(t *testing.T) {
	s := newStack(t)
	c := tenancyv1connect.NewAuthServiceClient(h2cClient(s.tenantHost("acme")), s.server.URL)
	res, err := c.Login(context.Background(), connect.NewRequest(&tenancyv1.LoginRequest{Email: "a@b.c", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetRefreshToken() == "" || res.Header().Get("Set-Cookie") != "" {
		t.Fatalf("plain login: token %q, set-cookie %q", res.Msg.GetRefreshToken(), res.Header().Get("Set-Cookie"))
	}
	req := connect.NewRequest(&tenancyv1.RefreshRequest{})
	req.Header().Set(pipeline.SessionHeader, pipeline.SessionHeaderValue)
	req.Header().Set("Cookie", pipeline.SessionCookieName("acme1")+"="+res.Msg.GetRefreshToken())
	rres, err := c.Refresh(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rres.Msg.GetRefreshToken() != "" || rres.Msg.GetAccessToken() == "" || !strings.Contains(rres.Header().Get("Set-Cookie"), "atr_rt_session002") {
		t.Fatalf("proto refresh: %v, set-cookie %q", rres.Msg, rres.Header().Get("Set-Cookie"))
	}
}
