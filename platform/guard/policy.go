package guard

import (
	"context"

	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// PolicyInterceptor enforces each method's atrium.options.v1.access option against the
// identity AuthInterceptor loaded. It must run after AuthInterceptor (list it later in
// connect.WithInterceptors). A method without the option is refused.
type PolicyInterceptor struct{}

// NewPolicyInterceptor returns the policy interceptor.
func NewPolicyInterceptor() *PolicyInterceptor { return &PolicyInterceptor{} }

func check(ctx context.Context, procedure string) error {
	rule, ok := access.ForProcedure(procedure)
	if !ok {
		return rpcerr.PermissionDenied("method has no access policy")
	}
	id, _ := authn.FromContext(ctx)
	return access.Check(rule, id)
}

func (PolicyInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := check(ctx, req.Spec().Procedure); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (PolicyInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (PolicyInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := check(ctx, conn.Spec().Procedure); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
