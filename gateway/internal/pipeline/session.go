package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Browser sessions (the web app): the refresh token lives in an httpOnly cookie the gateway
// sets and clears, so no script on the page can read it, and the page keeps only the
// 15-minute access token in memory. A new tab, a reload or a deep link calls Refresh with
// an empty token and the cookie brings the session back.
//
// The cookie is used only when the client asks with SessionHeader. Why that is CSRF-safe:
//   - SameSite=Strict: a cross-site request never carries the cookie;
//   - the custom header and a Connect unary content type (application/json or
//     application/proto) are not CORS-safelisted, so another origin cannot send them without
//     a preflight, which the gateway never answers with CORS permission;
//   - Sec-Fetch-Site, when the browser sends it, must say same-origin.
//
// The cookie is host-only (no Domain attribute), so on an org's own host (acme.localhost) it
// belongs to that host alone; its name carries the tenant id, so on a shared host (the
// Atrium-Tenant header picks the org) two orgs' sessions do not overwrite each other. Its
// Path is the AuthService's, so it is not sent with any other request.
const (
	SessionHeader      = "Atrium-Session"
	SessionHeaderValue = "cookie"
	sessionCookiePath  = "/" + tenancyv1connect.AuthServiceName + "/"
	// SessionCookieTTL matches tenancy's refresh-token life; every refresh renews both.
	SessionCookieTTL = 30 * 24 * time.Hour
	// A login or refresh response carries user details and tokens; far below this.
	sessionBodyMax = 64 << 10
)

// SessionCookieName is the cookie holding the refresh token of tenant tenantID.
func SessionCookieName(tenantID string) string { return "atrium_rt_" + tenantID }

type sessionProc int

const (
	sessionLogin sessionProc = iota + 1
	sessionRefresh
	sessionLogout
)

var sessionProcs = map[string]sessionProc{
	tenancyv1connect.AuthServiceLoginProcedure:   sessionLogin,
	tenancyv1connect.AuthServiceRefreshProcedure: sessionRefresh,
	tenancyv1connect.AuthServiceLogoutProcedure:  sessionLogout,
}

// wantsSession says whether r is a cookie-session call of the AuthService.
func wantsSession(r *http.Request, procedure string) (sessionProc, bool) {
	p, ok := sessionProcs[procedure]
	return p, ok && r.Header.Get(SessionHeader) == SessionHeaderValue
}

// sessionCodec encodes and decodes one Connect unary message in the request's format.
type sessionCodec struct{ json bool }

func sessionCodecOf(r *http.Request) (sessionCodec, error) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "application/json":
		return sessionCodec{json: true}, nil
	case "application/proto":
		return sessionCodec{}, nil
	}
	return sessionCodec{}, connect.NewError(connect.CodeInvalidArgument, errors.New("cookie sessions need a Connect unary request (application/json or application/proto)"))
}

func (c sessionCodec) unmarshal(b []byte, m proto.Message) error {
	if c.json {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
	}
	return proto.Unmarshal(b, m)
}

func (c sessionCodec) marshal(m proto.Message) ([]byte, error) {
	if c.json {
		return protojson.Marshal(m)
	}
	return proto.Marshal(m)
}

// sameSite refuses a request the browser marks as cross-site or from another site's page.
// Clients that are not browsers send no Sec-Fetch-Site and are not affected.
func sameSite(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return rpcerr.PermissionDenied("cookie sessions are same-origin only")
}

// serveSession forwards a cookie-session Login, Refresh or Logout: the cookie's token goes
// into the request when the message has none, the response's token goes into the cookie
// and out of the message.
func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request, c *call, p sessionProc) {
	codec, err := sessionCodecOf(r)
	if err == nil {
		err = sameSite(r)
	}
	if err == nil && c.tenant == nil {
		// The cookie's name is the tenant's; without one there is no cookie to use.
		err = connect.NewError(connect.CodeInvalidArgument, errors.New("cookie sessions need the organization (its host or the Atrium-Tenant header)"))
	}
	if err != nil {
		g.fail(w, r, c, err)
		return
	}
	name := SessionCookieName(c.tenant.GetId())
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")

	if p == sessionRefresh || p == sessionLogout {
		if err := injectCookieToken(r, codec, name, p); err != nil {
			g.fail(w, r, c, err)
			return
		}
	}
	// Decompressed bodies only: the response is rewritten below. The transport asks for gzip
	// itself and undoes it.
	r.Header.Del("Accept-Encoding")
	buf := &bufferedResponse{header: http.Header{}}
	g.forward(buf, r, c)

	out := buf.body.Bytes()
	ok := buf.status == http.StatusOK
	switch {
	case p == sessionLogout:
		// Logged out whatever tenancy said: the page forgets the session too.
		http.SetCookie(w, sessionCookie(name, "", secure, -1))
	case ok:
		token, body, err := takeRefreshToken(codec, p, out)
		if err != nil {
			g.fail(w, r, c, fmt.Errorf("cannot read the session response: %w", err))
			return
		}
		out = body
		http.SetCookie(w, sessionCookie(name, token, secure, int(SessionCookieTTL/time.Second)))
	case p == sessionRefresh && buf.status == http.StatusUnauthorized:
		// The token was refused (expired, revoked, reused): the cookie is worthless now.
		http.SetCookie(w, sessionCookie(name, "", secure, -1))
	}
	h := w.Header()
	for k, v := range buf.header {
		if k == "Content-Length" {
			continue
		}
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	// The answer names a session: never stored by a cache.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(buf.status)
	_, _ = w.Write(out)
}

// injectCookieToken puts the cookie's refresh token into a Refresh or Logout request whose
// message carries none. A request with neither is a Refresh from a tab that was never signed
// in: Unauthenticated, as tenancy would answer an unknown token.
func injectCookieToken(r *http.Request, codec sessionCodec, name string, p sessionProc) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return connect.NewError(connect.CodeInvalidArgument, errors.New("cannot read the request"))
	}
	var msg interface {
		proto.Message
		GetRefreshToken() string
	}
	var set func(string)
	if p == sessionRefresh {
		m := &tenancyv1.RefreshRequest{}
		msg, set = m, func(t string) { m.RefreshToken = t }
	} else {
		m := &tenancyv1.LogoutRequest{}
		msg, set = m, func(t string) { m.RefreshToken = t }
	}
	if len(raw) > 0 {
		if err := codec.unmarshal(raw, msg); err != nil {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("cannot decode the request"))
		}
	}
	if msg.GetRefreshToken() == "" {
		ck, err := r.Cookie(name)
		if err != nil || ck.Value == "" {
			if p == sessionLogout {
				// Nothing to revoke; tenancy still answers, and the cookie is cleared.
				set("none")
			} else {
				return rpcerr.Unauthenticated("no session")
			}
		} else {
			set(ck.Value)
		}
	}
	body, err := codec.marshal(msg)
	if err != nil {
		return fmt.Errorf("cannot encode the request: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// takeRefreshToken removes the refresh token from a Login or Refresh response and returns it
// with the re-encoded message.
func takeRefreshToken(codec sessionCodec, p sessionProc, body []byte) (string, []byte, error) {
	var token string
	var msg proto.Message
	switch p {
	case sessionLogin:
		m := &tenancyv1.LoginResponse{}
		if err := codec.unmarshal(body, m); err != nil {
			return "", nil, err
		}
		token, m.RefreshToken, msg = m.RefreshToken, "", m
	default:
		m := &tenancyv1.RefreshResponse{}
		if err := codec.unmarshal(body, m); err != nil {
			return "", nil, err
		}
		token, m.RefreshToken, msg = m.RefreshToken, "", m
	}
	if token == "" {
		return "", nil, errors.New("no refresh token in the response")
	}
	out, err := codec.marshal(msg)
	return token, out, err
}

func sessionCookie(name, value string, secure bool, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: sessionCookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}

// bufferedResponse holds an upstream's unary answer so it can be rewritten.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len()+len(p) > sessionBodyMax {
		return 0, errors.New("session response too large")
	}
	return b.body.Write(p)
}

// Flush is a no-op: the whole answer is written at once after the rewrite.
func (b *bufferedResponse) Flush() {}
