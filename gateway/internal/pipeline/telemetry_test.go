package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"atrium.dev/gateway/internal/route"
	"atrium.dev/gateway/internal/usage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Every request the pipeline answers gets one server span, a new trace linked (never
// continued) to the client's, named by a bounded procedure name, and one duration measurement
// by procedure and code.
func TestRequestTelemetry(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	routes, err := route.New(route.AtriumServices(), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := usage.New(usage.Config{Meter: noop.NewMeterProvider().Meter("test"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := url.Parse("http://127.0.0.1:1")
	g := New(Config{
		Routes: routes, REST: map[string]*url.URL{"/api/catalog/": upstream}, Usage: rec,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Tracer: tp.Tracer("test"), Meter: mp.Meter("test"),
	})

	const clientTrace = "0af7651916cd43dd8448eb211c80319c"
	tests := []struct {
		name, method, path string
		traceparent        string
		rest               bool
		wantName, wantCode string
		wantStatus         int
	}{
		{"unknown procedure, client trace", http.MethodPost, "/atrium.nope.v1.Nope/Get", "00-" + clientTrace + "-b7ad6b7169203331-01", false, "unknown", "not_found", 404},
		{"REST named by method and prefix", http.MethodGet, "/api/catalog/entities/by-name/component/default/x", "", true, "GET /api/catalog/", "unauthenticated", 401},
		{"made-up method", "FROB", "/api/catalog/entities", "", true, "OTHER /api/catalog/", "unauthenticated", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans.Reset()
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.traceparent != "" {
				r.Header.Set("Traceparent", tt.traceparent)
			}
			if !tt.rest {
				r.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			if tt.rest {
				g.ServeREST(w, r)
			} else {
				g.ServeRPC(w, r)
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans, want 1", len(ended))
			}
			s := ended[0]
			if s.Name() != tt.wantName {
				t.Errorf("span name %q, want %q", s.Name(), tt.wantName)
			}
			if s.Parent().IsValid() || s.SpanContext().TraceID().String() == clientTrace {
				t.Errorf("span continues the client's trace: parent %v, trace %v", s.Parent(), s.SpanContext().TraceID())
			}
			links := s.Links()
			if tt.traceparent != "" && (len(links) != 1 || links[0].SpanContext.TraceID().String() != clientTrace) {
				t.Errorf("links %v, want the client's span", links)
			}
			if tt.traceparent == "" && len(links) != 0 {
				t.Errorf("links %v, want none", links)
			}
			attrs := attribute.NewSet(s.Attributes()...)
			if v, _ := attrs.Value("rpc.connect_rpc.error_code"); v.AsString() != tt.wantCode {
				t.Errorf("code attribute %q, want %q", v.AsString(), tt.wantCode)
			}
			if v, _ := attrs.Value("atrium.request_id"); v.AsString() != w.Header().Get(RequestIDHeader) {
				t.Errorf("request id attribute %q, response says %q", v.AsString(), w.Header().Get(RequestIDHeader))
			}
			if s.Status().Code == codes.Error {
				t.Errorf("a %d is not a server error: %v", w.Code, s.Status())
			}
		})
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "atrium.gateway.request.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				proc, _ := dp.Attributes.Value("procedure")
				code, _ := dp.Attributes.Value("code")
				got[proc.AsString()+" "+code.AsString()] += dp.Count
			}
		}
	}
	for _, tt := range tests {
		if got[tt.wantName+" "+tt.wantCode] != 1 {
			t.Errorf("duration measurements %v: want one for %q %q", got, tt.wantName, tt.wantCode)
		}
	}
}
