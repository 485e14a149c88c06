package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func setup(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	if cfg.ServiceName == "" {
		cfg.ServiceName = "test"
	}
	if cfg.LogWriter == nil {
		cfg.LogWriter = io.Discard
	}
	tel, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// logLines decodes every line in buf as a JSON object.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLogCarriesIDs(t *testing.T) {
	var buf bytes.Buffer
	tel := setup(t, Config{ServiceName: "tenancy", LogWriter: &buf})

	ctx, span := tel.Tracer("test").Start(context.Background(), "op")
	ctx = WithRequestID(ctx, "req-123")
	if got := RequestID(ctx); got != "req-123" {
		t.Fatalf("RequestID = %q", got)
	}
	tel.Logger().InfoContext(ctx, "in span", "k", "v")
	tel.Logger().WithGroup("db").With("table", "tenants").InfoContext(ctx, "grouped", "rows", 2)
	tel.Logger().Info("no context")
	tel.Logger().DebugContext(ctx, "below level")
	span.End()

	sc := span.SpanContext()
	if !sc.IsValid() {
		t.Fatal("span without exporter has no valid span context")
	}
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3 (debug filtered): %s", len(lines), buf.String())
	}
	for i, line := range lines[:2] {
		if line["trace_id"] != sc.TraceID().String() || line["span_id"] != sc.SpanID().String() {
			t.Errorf("line %d: trace_id/span_id = %v/%v, want %s/%s", i, line["trace_id"], line["span_id"], sc.TraceID(), sc.SpanID())
		}
		if line["request_id"] != "req-123" {
			t.Errorf("line %d: request_id = %v", i, line["request_id"])
		}
		if line["service"] != "tenancy" {
			t.Errorf("line %d: service = %v", i, line["service"])
		}
		if line["level"] != "INFO" {
			t.Errorf("line %d: level = %v", i, line["level"])
		}
	}
	if lines[0]["msg"] != "in span" || lines[0]["k"] != "v" {
		t.Errorf("first line = %v", lines[0])
	}
	db, ok := lines[1]["db"].(map[string]any)
	if !ok || db["table"] != "tenants" || db["rows"] != float64(2) {
		t.Errorf("grouped line lost its group: %v", lines[1])
	}
	if _, ok := db["trace_id"]; ok {
		t.Error("trace_id went into the group instead of the top level")
	}
	for _, key := range []string{"trace_id", "span_id", "request_id"} {
		if _, ok := lines[2][key]; ok {
			t.Errorf("line without context has %s", key)
		}
	}
}

func TestLogHandlerLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(NewLogHandler(&buf, slog.LevelWarn))
	logger.Info("dropped")
	logger.Warn("kept")
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["msg"] != "kept" {
		t.Errorf("lines = %v, want only the warning", lines)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestMetricsServesCounter(t *testing.T) {
	tel := setup(t, Config{})
	counter, err := tel.Meter("atrium.dev/test").Int64Counter("atrium_test_hits")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3)

	body := scrape(t, tel.MetricsHandler())
	if !strings.Contains(body, "atrium_test_hits_total{") {
		t.Fatalf("/metrics lacks the counter:\n%s", body)
	}
	var value string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "atrium_test_hits_total{") {
			value = line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	if value != "3" {
		t.Errorf("counter value = %q, want 3", value)
	}
	if !strings.Contains(body, `service_name="test"`) {
		t.Error("/metrics lacks the service's target_info")
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Error("/metrics lacks the Go runtime collector")
	}
}

func TestSeveralSetups(t *testing.T) {
	a := setup(t, Config{ServiceName: "a"})
	b := setup(t, Config{ServiceName: "b"})

	counter, err := a.Meter("atrium.dev/test").Int64Counter("only_in_a")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 1)
	if body := scrape(t, a.MetricsHandler()); !strings.Contains(body, "only_in_a_total") {
		t.Error("a's /metrics lacks a's counter")
	}
	if body := scrape(t, b.MetricsHandler()); strings.Contains(body, "only_in_a") {
		t.Error("b's /metrics shows a's counter: registries are shared")
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// b keeps working after a is gone.
	_, span := b.Tracer("test").Start(context.Background(), "op")
	if !span.SpanContext().IsValid() {
		t.Error("b's span is not valid after a's shutdown")
	}
	span.End()
}

func TestSetupRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no service", Config{}, "ServiceName"},
		{"bad level", Config{ServiceName: "x", LogLevel: "loud"}, `log level "loud"`},
		{"endpoint without scheme", Config{ServiceName: "x", OTLPEndpoint: "collector:4318"}, "OTLP endpoint"},
		{"endpoint with other scheme", Config{ServiceName: "x", OTLPEndpoint: "grpc://collector:4317"}, "OTLP endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := Setup(context.Background(), tt.cfg)
			if err == nil {
				_ = tel.Shutdown(context.Background())
				t.Fatal("Setup succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"", slog.LevelInfo},
		{"debug", slog.LevelDebug},
		{"INFO", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Error("ParseLevel(verbose) succeeded")
	}
}

func TestOTLPExport(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	tel, err := Setup(context.Background(), Config{ServiceName: "x", OTLPEndpoint: collector.URL, LogWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer("test").Start(context.Background(), "exported")
	span.End()
	// Shutdown flushes the batch, so the collector has it when this returns.
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces" {
		t.Errorf("collector got %v, want POST /v1/traces", paths)
	}
}

func TestHTTPMiddlewareTrust(t *testing.T) {
	tel := setup(t, Config{})
	remote, err := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	if err != nil {
		t.Fatal(err)
	}
	traceparent := "00-" + remote.String() + "-b7ad6b7169203331-01"

	tests := []struct {
		name string
		wrap func(http.Handler, string) http.Handler
		cont bool
	}{
		{"internal", tel.HTTPMiddleware, true},
		{"public", tel.PublicHTTPMiddleware, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen trace.SpanContext
			h := tt.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = trace.SpanContextFromContext(r.Context())
			}), "test")
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			req.Header.Set("traceparent", traceparent)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !seen.IsValid() {
				t.Fatal("handler saw no span")
			}
			if got := seen.TraceID() == remote; got != tt.cont {
				t.Errorf("continued caller's trace = %v, want %v", got, tt.cont)
			}
		})
	}
}

func TestConnectInterceptorPropagates(t *testing.T) {
	tel := setup(t, Config{})
	const procedure = "/atrium.test.v1.TestService/Echo"
	var serverTrace trace.TraceID
	mux := http.NewServeMux()
	mux.Handle(procedure, connect.NewUnaryHandler(procedure,
		func(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
			serverTrace = trace.SpanContextFromContext(ctx).TraceID()
			return connect.NewResponse(req.Msg), nil
		},
		connect.WithInterceptors(tel.ConnectInterceptor()),
	))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](
		srv.Client(), srv.URL+procedure, connect.WithInterceptors(tel.ConnectInterceptor()))
	ctx, span := tel.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	if _, err := client.CallUnary(ctx, connect.NewRequest(wrapperspb.String("hi"))); err != nil {
		t.Fatal(err)
	}
	if serverTrace != span.SpanContext().TraceID() {
		t.Errorf("server trace %s, want caller's %s", serverTrace, span.SpanContext().TraceID())
	}
	if body := scrape(t, tel.MetricsHandler()); !strings.Contains(body, "rpc_server_") {
		t.Error("/metrics lacks otelconnect's server metrics")
	}
}
