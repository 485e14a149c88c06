// Package proxy forwards a checked request to its upstream over the gateway's HTTP/2 client.
// What the client sent about identity never goes through: the Authorization header and every
// Atrium-* header (Atrium-Internal-Token above all) are dropped, and the internal token the
// gateway signed for the request's identity is the only identity the upstream sees. The
// request id goes beside it in X-Request-Id, always the gateway's.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"atrium.dev/platform/authn"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Target is where and as whom one request is forwarded.
type Target struct {
	Base          *url.URL
	InternalToken string
	RequestID     string
}

type targetKey struct{}

// WithTarget returns ctx carrying the request's target; the proxy reads it.
func WithTarget(ctx context.Context, t Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// New returns a reverse proxy over transport. onError answers requests the upstream did not.
//
// Responses of unknown length (every stream, gRPC and gRPC-Web calls, server-sent events)
// are flushed write by write, so streams reach the client message by message; that is
// ReverseProxy's rule for them whatever FlushInterval says. A response of known length (a
// Connect unary call) is not flushed until it is complete: headers and body then leave in one
// write instead of three.
func New(transport http.RoundTripper, log *slog.Logger, onError func(http.ResponseWriter, *http.Request, error)) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:       rewrite,
		Transport:     transport,
		FlushInterval: 0,
		ErrorHandler:  onError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BufferPool:    buffers{},
	}
}

// bufferPool holds the proxy's copy buffers. Without one the proxy allocates 32 KiB per
// request, which was half of all the gateway's allocations and most of its GC work.
var bufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

type buffers struct{}

func (buffers) Get() []byte { return bufferPool.Get().(*[32 << 10]byte)[:] }

func (buffers) Put(b []byte) {
	if cap(b) == 32<<10 {
		bufferPool.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}

func rewrite(pr *httputil.ProxyRequest) {
	t, _ := pr.In.Context().Value(targetKey{}).(Target)
	pr.SetURL(t.Base)
	pr.SetXForwarded()
	StripIdentity(pr.Out.Header)
	pr.Out.Header.Set(authn.InternalTokenHeader, t.InternalToken)
	// Always the gateway's id: the client's is passed on only when it was valid, and then it
	// is the same.
	pr.Out.Header.Set(authn.RequestIDHeader, t.RequestID)
}

// StripIdentity removes every header by which a client could claim an identity, and the
// client's trace context: the gateway's transport sends its own, so outsiders cannot pick the
// trace ids services record.
func StripIdentity(h http.Header) {
	const prefix = "atrium-"
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			delete(h, k)
		}
	}
	for _, k := range []string{"Authorization", "Traceparent", "Tracestate", "Baggage"} {
		h.Del(k)
	}
}

// TraceTransport sends the trace context of each request's context (the gateway's own
// server span) to the upstream, and nothing else: no client span of its own, no client
// metrics. The gateway's server span already times the whole proxied call and the upstream's
// span the part behind it, so a client span in between cost ~18 µs of CPU per request (the
// otelhttp transport) to record what those two already show. Baggage is not propagated:
// outsiders must not inject it.
func TraceTransport(base http.RoundTripper) http.RoundTripper {
	return traceTransport{base: base}
}

type traceTransport struct{ base http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// r is the proxy's own outgoing request (a clone), so its headers are ours to change.
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	return t.base.RoundTrip(r)
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
