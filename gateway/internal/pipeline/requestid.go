package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"atrium.dev/platform/telemetry"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// begin starts a call: it takes the client's request id if it is sane (so a client can find
// its request in our logs) or makes one, echoes it, and wraps the body and the response to
// count bytes and see the outcome.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, rest bool) (*call, http.ResponseWriter, *http.Request) {
	c := &call{start: time.Now(), rest: rest, requestID: r.Header.Get(RequestIDHeader)}
	if !saneRequestID(c.requestID) {
		c.requestID = newRequestID()
	}
	w.Header().Set(RequestIDHeader, c.requestID)
	c.resp = &responseRecorder{ResponseWriter: w}
	c.body = &countingBody{ReadCloser: r.Body}
	ctx := telemetry.WithRequestID(withCall(r.Context(), c), c.requestID)
	r = r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = c.body
	}
	return c, c.resp, r
}

func saneRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, ch := range []byte(id) {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
