package guard

import (
	"context"
	"net/http"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"connectrpc.com/connect"
)

// CallerInterceptor is the client side: a service calling another service's INTERNAL methods
// attaches an internal token naming itself as the caller, and the request id it serves in
// authn.RequestIDHeader. The token is the same for every call for authn.InternalTokenReuse.
type CallerInterceptor struct {
	tokens  *authn.InternalTokenCache
	service string
}

// NewCallerInterceptor signs calls as service.
func NewCallerInterceptor(signer *authn.InternalSigner, service string) *CallerInterceptor {
	return &CallerInterceptor{tokens: authn.NewInternalTokenCache(signer, 1), service: service}
}

// set puts the token and the request id of ctx (the identity's being served, else the one in
// the context) on h.
func (c *CallerInterceptor) set(ctx context.Context, h http.Header) error {
	tok, err := c.tokens.Token(authn.Identity{Service: c.service})
	if err != nil {
		return rpcerr.Unavailable("cannot sign internal call").WithCause(err)
	}
	h.Set(authn.InternalTokenHeader, tok)
	rid := telemetry.RequestID(ctx)
	if caller, ok := authn.FromContext(ctx); ok && caller.RequestID != "" {
		rid = caller.RequestID
	}
	if authn.ValidRequestID(rid) {
		h.Set(authn.RequestIDHeader, rid)
	} else {
		h.Del(authn.RequestIDHeader)
	}
	return nil
}

func (c *CallerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := c.set(ctx, req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (c *CallerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		// A signing failure leaves the token out: the callee answers Unauthenticated.
		_ = c.set(ctx, conn.RequestHeader())
		return conn
	}
}

func (c *CallerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Header is a convenience for plain HTTP calls between services (not Connect).
func (c *CallerInterceptor) Header(ctx context.Context) (http.Header, error) {
	h := http.Header{}
	if err := c.set(ctx, h); err != nil {
		return nil, err
	}
	return h, nil
}
