package rpcerr

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"connectrpc.com/connect"
)

// Interceptor maps handler errors with ToConnect and turns panics into masked internal errors,
// so no panic and no internal detail reaches a caller.
type Interceptor struct{ log *slog.Logger }

// NewInterceptor logs masked errors to log (slog.Default when nil).
func NewInterceptor(log *slog.Logger) *Interceptor {
	if log == nil {
		log = slog.Default()
	}
	return &Interceptor{log: log}
}

func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (resp connect.AnyResponse, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = nil, ToConnect(ctx, i.log, fmt.Errorf("panic in %s: %v\n%s", req.Spec().Procedure, r, debug.Stack()))
			}
		}()
		resp, err = next(ctx, req)
		if err != nil {
			return nil, ToConnect(ctx, i.log, err)
		}
		return resp, nil
	}
}

func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = ToConnect(ctx, i.log, fmt.Errorf("panic in %s: %v\n%s", conn.Spec().Procedure, r, debug.Stack()))
			}
		}()
		if err = next(ctx, conn); err != nil {
			return ToConnect(ctx, i.log, err)
		}
		return nil
	}
}
