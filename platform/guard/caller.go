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
// attaches an internal token naming itself as the caller (and the request id it serves).
type CallerInterceptor struct {
	signer  *authn.InternalSigner
	service string
}

// NewCallerInterceptor signs calls as service.
func NewCallerInterceptor(signer *authn.InternalSigner, service string) *CallerInterceptor {
	return &CallerInterceptor{signer: signer, service: service}
}

func (c *CallerInterceptor) token(ctx context.Context) (string, error) {
	id := authn.Identity{Service: c.service, RequestID: telemetry.RequestID(ctx)}
	if caller, ok := authn.FromContext(ctx); ok {
		id.RequestID = caller.RequestID
	}
	tok, err := c.signer.Sign(id)
	if err != nil {
		return "", rpcerr.Unavailable("cannot sign internal call").WithCause(err)
	}
	return tok, nil
}

func (c *CallerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, err
		}
		req.Header().Set(authn.InternalTokenHeader, tok)
		return next(ctx, req)
	}
}

func (c *CallerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if tok, err := c.token(ctx); err == nil {
			conn.RequestHeader().Set(authn.InternalTokenHeader, tok)
		}
		return conn
	}
}

func (c *CallerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Header is a convenience for plain HTTP calls between services (not Connect).
func (c *CallerInterceptor) Header(ctx context.Context) (http.Header, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(authn.InternalTokenHeader, tok)
	return h, nil
}
