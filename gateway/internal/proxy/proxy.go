// Package proxy forwards a checked request to its upstream over the gateway's HTTP/2 client.
// What the client sent about identity never goes through: the Authorization header and every
// Atrium-* header (Atrium-Internal-Token above all) are dropped, and the internal token the
// gateway signed for this request is the only identity the upstream sees.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"atrium.dev/platform/authn"
)

// Target is where and as whom one request is forwarded.
type Target struct {
	Base          *url.URL
	InternalToken string
}

type targetKey struct{}

// WithTarget returns ctx carrying the request's target; the proxy reads it.
func WithTarget(ctx context.Context, t Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// New returns a reverse proxy over transport. It flushes every write at once, so server
// streams reach the client message by message. onError answers requests the upstream did not.
func New(transport http.RoundTripper, log *slog.Logger, onError func(http.ResponseWriter, *http.Request, error)) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:       rewrite,
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler:  onError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

func rewrite(pr *httputil.ProxyRequest) {
	t, _ := pr.In.Context().Value(targetKey{}).(Target)
	pr.SetURL(t.Base)
	pr.SetXForwarded()
	StripIdentity(pr.Out.Header)
	pr.Out.Header.Set(authn.InternalTokenHeader, t.InternalToken)
}

// StripIdentity removes every header by which a client could claim an identity, and the
// client's trace context: the gateway's transport sends its own, so outsiders cannot pick the
// trace ids services record.
func StripIdentity(h http.Header) {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "atrium-") {
			delete(h, k)
		}
	}
	for _, k := range []string{"Authorization", "Traceparent", "Tracestate", "Baggage"} {
		h.Del(k)
	}
}

// H2CTransport is the gateway's default transport to upstreams: HTTP/2 without TLS, which is
// what every Atrium service listens with.
func H2CTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Upstreams are inside the platform: an HTTP_PROXY meant for the outside must not apply.
	t.Proxy = nil
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	t.MaxIdleConnsPerHost = 100
	return t
}
