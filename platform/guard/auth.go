// Package guard holds the Connect interceptors every service mounts, one concern per file:
// auth.go verifies the internal token and loads the identity, policy.go enforces the method's
// access option against it, caller.go signs a service's own outgoing calls.
package guard

import (
	"context"
	"net/http"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"connectrpc.com/connect"
)

// AuthInterceptor believes only a valid internal token: no token, no identity, no call.
type AuthInterceptor struct{ verifier *authn.InternalVerifier }

// NewAuthInterceptor verifies internal tokens with verifier.
func NewAuthInterceptor(verifier *authn.InternalVerifier) *AuthInterceptor {
	return &AuthInterceptor{verifier: verifier}
}

// Authenticate returns the identity of a request with headers h: the one its internal token
// carries, with the request id from authn.RequestIDHeader (when valid; tokens are reused
// across requests, so they do not carry it). Plain HTTP handlers use it the way
// AuthInterceptor does for Connect handlers.
func Authenticate(verifier *authn.InternalVerifier, h http.Header) (*authn.Identity, error) {
	token := h.Get(authn.InternalTokenHeader)
	if token == "" {
		return nil, rpcerr.Unauthenticated("missing internal token")
	}
	id, err := verifier.Verify(token)
	if err != nil {
		return nil, rpcerr.Unauthenticated("invalid internal token").WithCause(err)
	}
	if rid := h.Get(authn.RequestIDHeader); authn.ValidRequestID(rid) {
		id.RequestID = rid
	}
	return id, nil
}

// WithIdentity returns ctx carrying id, and its request id for log lines.
func WithIdentity(ctx context.Context, id *authn.Identity) context.Context {
	if id.RequestID != "" {
		ctx = telemetry.WithRequestID(ctx, id.RequestID)
	}
	return authn.WithIdentity(ctx, id)
}

func (a *AuthInterceptor) authenticate(ctx context.Context, h http.Header) (context.Context, error) {
	id, err := Authenticate(a.verifier, h)
	if err != nil {
		return ctx, err
	}
	return WithIdentity(ctx, id), nil
}

func (a *AuthInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a *AuthInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a *AuthInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
