package pipeline

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// instruments are the request path's own telemetry: one server span and one duration
// measurement per request, named by what the pipeline knows anyway (procedure, outcome). The
// gateway used otelhttp's middleware for this; on a cheap call that cost 30 to 50 µs of CPU
// per request (generic attributes worked out from every request, three histograms), about a
// third of what the whole gateway added.
type instruments struct {
	tracer   trace.Tracer // nil: no spans
	duration metric.Float64Histogram
	// attrs caches one attribute set per (procedure, code), so a measurement builds none.
	// Both are bounded: procedures come from the route table (else "unknown"), REST calls are
	// named by method and prefix only.
	attrs sync.Map
}

type metricKey struct{ procedure, code string }

func newInstruments(tracer trace.Tracer, meter metric.Meter) *instruments {
	in := &instruments{tracer: tracer}
	if meter != nil {
		// An instrument error only comes from an invalid name or unit; these are constants.
		in.duration, _ = meter.Float64Histogram("atrium.gateway.request.duration",
			metric.WithDescription("Requests through the gateway, by procedure and outcome code."),
			metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
	}
	return in
}

// start begins the request's span. The gateway faces the internet: a client's trace context is
// linked, never continued, so outsiders cannot choose our trace ids or sampling.
func (in *instruments) start(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	if in == nil || in.tracer == nil {
		return ctx, nil
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer)}
	if r.Header.Get("Traceparent") != "" {
		remote := propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	return in.tracer.Start(ctx, "gateway", opts...)
}

// end finishes the span and records the duration d.
func (in *instruments) end(c *call, status int, code string, d time.Duration) {
	if in == nil {
		return
	}
	proc := c.metricProcedure()
	if c.span != nil {
		c.span.SetName(proc)
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", c.method),
			attribute.Int("http.response.status_code", status),
			attribute.String("rpc.connect_rpc.error_code", code),
			attribute.String("atrium.request_id", c.requestID),
		}
		if c.identity.TenantID != "" {
			attrs = append(attrs, attribute.String("atrium.tenant_id", c.identity.TenantID))
		}
		c.span.SetAttributes(attrs...)
		if status >= 500 {
			c.span.SetStatus(codes.Error, code)
		}
		c.span.End()
	}
	if in.duration == nil {
		return
	}
	key := metricKey{proc, code}
	opt, ok := in.attrs.Load(key)
	if !ok {
		opt, _ = in.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("procedure", proc), attribute.String("code", code))))
	}
	in.duration.Record(context.Background(), d.Seconds(), opt.(metric.RecordOption))
}

// standardMethods are the methods that name themselves in telemetry; any other is "OTHER", so a
// client cannot make up attribute values.
var standardMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// metricProcedure names the call in span names and metrics: the procedure, or for REST the
// method and prefix (the path below the prefix carries ids and names).
func (c *call) metricProcedure() string {
	if !c.rest || c.limitKey == "" {
		return c.procedure
	}
	if !standardMethods[c.method] {
		return "OTHER " + c.limitKey
	}
	return c.method + " " + c.limitKey
}
