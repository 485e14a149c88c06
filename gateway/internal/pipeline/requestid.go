package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/telemetry"
)

// RequestIDHeader carries the request id in, out, and on to the upstream.
const RequestIDHeader = authn.RequestIDHeader

// begin starts a call: it takes the client's request id if it is sane (so a client can find
// its request in our logs) or makes one, echoes it, starts the call's span, and wraps the body
// and the response to count bytes and see the outcome.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, rest bool) (*call, http.ResponseWriter, *http.Request) {
	c := &call{start: time.Now(), rest: rest, method: r.Method, requestID: r.Header.Get(RequestIDHeader)}
	if !authn.ValidRequestID(c.requestID) {
		c.requestID = newRequestID()
	}
	w.Header().Set(RequestIDHeader, c.requestID)
	c.resp = &responseRecorder{ResponseWriter: w}
	c.body = &countingBody{ReadCloser: r.Body}
	ctx, span := g.obs.start(r.Context(), r)
	c.span = span
	ctx = telemetry.WithRequestID(withCall(ctx, c), c.requestID)
	r = r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = c.body
	}
	return c, c.resp, r
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
