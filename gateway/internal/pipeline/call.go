package pipeline

import (
	"context"
	"net/url"
	"time"

	"atrium.dev/gateway/internal/credential"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"go.opentelemetry.io/otel/trace"
)

// call is the state of one request as it goes through the steps.
type call struct {
	start     time.Time
	rest      bool
	method    string
	requestID string
	span      trace.Span // nil without a tracer
	// procedure names the call in usage events: the procedure path, "METHOD /prefix/kind"
	// for REST, "unknown" for paths that route nowhere.
	procedure string
	limitKey  string // body limit key: procedure or REST prefix
	rule      access.Rule
	upstream  *url.URL

	tenant   *tenancyv1.Tenant
	cred     *credential.Credential
	identity authn.Identity

	body *countingBody
	resp *responseRecorder
	// code is set when the gateway answered with an error itself.
	code string
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}
