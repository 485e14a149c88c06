// Package guard holds the Connect interceptors every service mounts, one concern per file:
// auth.go verifies the internal token and loads the identity, policy.go enforces the method's
// access option against it.
package guard

import (
	"context"

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

func (a *AuthInterceptor) authenticate(ctx context.Context, token string) (context.Context, error) {
	if token == "" {
		return ctx, rpcerr.Unauthenticated("missing internal token")
	}
	id, err := a.verifier.Verify(token)
	if err != nil {
		return ctx, rpcerr.Unauthenticated("invalid internal token").WithCause(err)
	}
	if id.RequestID != "" {
		ctx = telemetry.WithRequestID(ctx, id.RequestID)
	}
	return authn.WithIdentity(ctx, id), nil
}

func (a *AuthInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Header().Get(authn.InternalTokenHeader))
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
		ctx, err := a.authenticate(ctx, conn.RequestHeader().Get(authn.InternalTokenHeader))
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
