package pipeline

import (
	"net/http"

	"atrium.dev/platform/rpcerr"
)

// limitBody refuses a body declared larger than the limit at once, and caps the reading of
// one that is not declared; the proxy meets the cap as an *http.MaxBytesError (see
// upstreamError), answered like the early refusal.
func (g *Gateway) limitBody(w http.ResponseWriter, r *http.Request, c *call) error {
	limit := g.bodyLimit(c)
	if limit <= 0 {
		return nil
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	return nil
}

// bodyLimit is the call's body limit (0 or less: none).
func (g *Gateway) bodyLimit(c *call) int64 {
	if l, ok := g.cfg.BodyLimits[c.limitKey]; ok {
		return l
	}
	return g.cfg.BodyLimit
}

func tooLarge(limit int64) error {
	return rpcerr.ResourceExhausted(0, "request body is larger than the limit of %d bytes", limit).
		WithCause(&http.MaxBytesError{Limit: limit})
}
