package root_test

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
)

// headerInterceptor sets fixed headers on every unary call.
type headerInterceptor http.Header

func (h headerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		for k, v := range h {
			req.Header()[k] = v
		}
		return next(ctx, req)
	}
}

func (h headerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (h headerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func bearer(token string) connect.Interceptor {
	return headerInterceptor{"Authorization": {"Bearer " + token}}
}

func tenantHeader(slug string) connect.Interceptor {
	return headerInterceptor{"Atrium-Tenant": {slug}}
}
