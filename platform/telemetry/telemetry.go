// Package telemetry sets up a process's traces, metrics and logs: an
// OpenTelemetry tracer provider (exporting over OTLP/HTTP when an endpoint is
// configured), a meter provider read by Prometheus at /metrics, the W3C trace
// context and baggage propagators, and a slog JSON logger whose lines carry
// trace, span and request ids.
//
// Each Setup returns its own providers and Prometheus registry, so several
// services can run in one process (devstack does) without sharing or
// double-registering anything. Process-wide state (the otel global tracer
// provider, meter provider, propagator and error handler, and slog's default
// logger) is set by the first Setup in the process only; code that needs a
// particular service's telemetry takes it from that service's *Telemetry,
// never from the globals.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config says how to set up telemetry for one service.
type Config struct {
	// ServiceName names the service in spans, metrics (target_info) and
	// log lines ("service"). Required.
	ServiceName string
	// OTLPEndpoint is the OTLP/HTTP base URL of a collector, as in
	// OTEL_EXPORTER_OTLP_ENDPOINT ("http://collector:4318"); traces go to
	// <endpoint>/v1/traces. Empty: spans are created but not exported.
	OTLPEndpoint string
	// LogLevel is debug, info, warn or error (any case, "" is info).
	LogLevel string
	// LogWriter receives the JSON log lines; nil is os.Stderr.
	LogWriter io.Writer
}

// Telemetry holds one service's providers. Create it with Setup and call
// Shutdown before the process exits so buffered spans are exported.
type Telemetry struct {
	tracerProvider *sdktrace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
	registry       *prometheus.Registry
	propagator     propagation.TextMapPropagator
	logger         *slog.Logger
	interceptor    *otelconnect.Interceptor

	shutdownOnce sync.Once
	shutdownErr  error
}

// globalsSet records whether a Setup has installed the process-wide otel
// providers and slog default. Later Setups leave them alone: replacing them
// would silently move other services' instrumentation that already
// captured the globals.
var (
	globalsMu  sync.Mutex
	globalsSet bool
)

// Setup creates the telemetry of one service. See the package comment for
// which process-wide state the first call sets.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("telemetry: ServiceName is required")
	}
	level, err := ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	w := cfg.LogWriter
	if w == nil {
		w = os.Stderr
	}
	handler := NewLogHandler(w, level)

	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES; ServiceName below wins over OTEL_SERVICE_NAME
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	traceOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	}
	if cfg.OTLPEndpoint != "" {
		exporter, err := newOTLPExporter(ctx, cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(exporter))
	}
	// Without an exporter the provider still samples and records, so spans
	// have real trace ids for logs and for propagation to other services.
	tp := sdktrace.NewTracerProvider(traceOpts...)

	registry := prometheus.NewRegistry()
	if err := registerProcessCollectors(registry); err != nil {
		_ = tp.Shutdown(ctx)
		return nil, err
	}
	promExporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter))

	propagator := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	interceptor, err := otelconnect.NewInterceptor(
		otelconnect.WithTracerProvider(tp),
		otelconnect.WithMeterProvider(mp),
		otelconnect.WithPropagator(propagator),
		// Services sit behind the gateway, which starts the trace for a
		// public request; their spans continue it rather than linking to it.
		otelconnect.WithTrustRemote(),
	)
	if err != nil {
		_ = tp.Shutdown(ctx)
		_ = mp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: connect interceptor: %w", err)
	}

	t := &Telemetry{
		tracerProvider: tp,
		meterProvider:  mp,
		registry:       registry,
		propagator:     propagator,
		logger:         slog.New(handler).With("service", cfg.ServiceName),
		interceptor:    interceptor,
	}
	t.setGlobals(handler)
	return t, nil
}

func (t *Telemetry) setGlobals(handler slog.Handler) {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	if globalsSet {
		return
	}
	globalsSet = true
	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.meterProvider)
	otel.SetTextMapPropagator(t.propagator)
	// The default logger has no "service" attribute: in a process running
	// several services it is shared by all of them.
	defaultLogger := slog.New(handler)
	slog.SetDefault(defaultLogger)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		// Export failures (collector down) land here; they must not stop
		// the service, only be visible.
		defaultLogger.Warn("opentelemetry error", "error", err)
	}))
}

// newOTLPExporter follows OTEL_EXPORTER_OTLP_ENDPOINT's meaning: endpoint is
// a base URL and the traces path is appended to it.
func newOTLPExporter(ctx context.Context, endpoint string) (*otlptrace.Exporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q: want http(s)://host:port", endpoint)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(u.Host),
		otlptracehttp.WithURLPath(path.Join("/", u.Path, "v1/traces")),
	}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exporter, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return exporter, nil
}

func registerProcessCollectors(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("telemetry: register collector: %w", err)
		}
	}
	return nil
}

// ParseLevel parses a log level name: debug, info, warn or error, in any
// case, optionally with an offset ("info+2"); "" is info.
func ParseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("telemetry: log level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// Close flushes and stops the providers within a few seconds; for a main's defer.
func (t *Telemetry) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.Shutdown(ctx)
}

// Shutdown flushes and stops the providers. It is safe to call more than
// once; later calls return the first result. If this Telemetry set the otel
// globals, they keep pointing at the stopped providers, which then drop
// spans and measurements (the process is exiting anyway).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		t.shutdownErr = errors.Join(t.tracerProvider.Shutdown(ctx), t.meterProvider.Shutdown(ctx))
	})
	return t.shutdownErr
}

// MetricsHandler serves this service's metrics in the Prometheus exposition
// format, for /metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{
		Registry:      t.registry, // its own promhttp_* metrics
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Logger returns the service's logger: JSON, with "service" set, and trace,
// span and request ids taken from the context of *Context calls.
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// Meter returns a meter of this service's meter provider, exported at
// MetricsHandler.
func (t *Telemetry) Meter(name string) metric.Meter { return t.meterProvider.Meter(name) }

// Tracer returns a tracer of this service's tracer provider.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.tracerProvider.Tracer(name) }

// ConnectInterceptor traces and measures Connect RPCs with this service's
// providers, for handlers and clients alike. On handlers it continues the
// caller's trace (services trust the gateway in front of them).
func (t *Telemetry) ConnectInterceptor() connect.Interceptor { return t.interceptor }

// HTTPMiddleware traces and measures plain HTTP requests to h, naming spans
// operation. It continues the caller's trace; use it for internal listeners.
func (t *Telemetry) HTTPMiddleware(h http.Handler, operation string) http.Handler {
	return otelhttp.NewHandler(h, operation, t.httpOptions()...)
}

// PublicHTTPMiddleware is HTTPMiddleware for listeners facing the internet
// (the gateway): every request starts a new trace, linked to any trace
// context the caller sent, so outsiders cannot choose our trace ids or
// sampling.
func (t *Telemetry) PublicHTTPMiddleware(h http.Handler, operation string) http.Handler {
	opts := append(t.httpOptions(), otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
	return otelhttp.NewHandler(h, operation, opts...)
}

// HTTPTransport wraps base (nil: http.DefaultTransport) so outgoing requests
// get client spans and carry this service's trace context, replacing any
// the request already had.
func (t *Telemetry) HTTPTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base, t.httpOptions()...)
}

func (t *Telemetry) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(t.tracerProvider),
		otelhttp.WithMeterProvider(t.meterProvider),
		otelhttp.WithPropagators(t.propagator),
	}
}
