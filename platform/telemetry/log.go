package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id; log lines written with
// it get a "request_id" field. The gateway assigns the id, authn restores it
// from the internal token in services.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewLogHandler returns a slog JSON handler writing to w at level and above.
// Records logged with a context get top-level "trace_id" and "span_id" from
// the context's span and "request_id" from WithRequestID, when present, so
// a log line can be found from a trace and the other way round.
func NewLogHandler(w io.Writer, level slog.Level) slog.Handler {
	base := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return &logHandler{base: base, inner: base}
}

// logHandler adds the context's ids to each record. They must stay top level
// even on a logger that has opened a group (logger.WithGroup("db")), which
// slog's handlers cannot do after the fact; so the handler keeps the
// WithAttrs/WithGroup steps and, only for records that need it, replays
// them on top of the ids.
type logHandler struct {
	base    slog.Handler // JSON handler with nothing applied
	inner   slog.Handler // base with steps applied
	steps   []func(slog.Handler) slog.Handler
	grouped bool // a WithGroup is among steps
}

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	ids := contextAttrs(ctx)
	if len(ids) == 0 {
		return h.inner.Handle(ctx, r)
	}
	if !h.grouped {
		r.AddAttrs(ids...)
		return h.inner.Handle(ctx, r)
	}
	target := h.base.WithAttrs(ids)
	for _, step := range h.steps {
		target = step(target)
	}
	return target.Handle(ctx, r)
}

func contextAttrs(ctx context.Context) []slog.Attr {
	var attrs []slog.Attr
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs,
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()))
	}
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	return attrs
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) }, false)
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) }, true)
}

func (h *logHandler) with(step func(slog.Handler) slog.Handler, group bool) *logHandler {
	return &logHandler{
		base:    h.base,
		inner:   step(h.inner),
		steps:   append(h.steps[:len(h.steps):len(h.steps)], step),
		grouped: h.grouped || group,
	}
}
