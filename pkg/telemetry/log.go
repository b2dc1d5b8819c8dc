package telemetry

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys added to records logged inside a span.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps the gateway's slog handler: a record logged with a
// context that holds a valid span gets trace_id and span_id attributes, so
// that a log line leads to its trace. When log export is on, every record
// the wrapped handler accepts is also sent through the OTel slog bridge to
// the logger provider (which takes the trace context from the record's
// context itself). The wrapped handler's level decides for both.
func (t *Telemetry) LogHandler(h slog.Handler) slog.Handler {
	lh := &logHandler{h: h}
	if t != nil && t.lp != nil {
		lh.bridge = otelslog.NewHandler(scope, otelslog.WithLoggerProvider(t.lp), otelslog.WithVersion(t.version))
	}
	return lh
}

// logHandler is the handler LogHandler returns.
type logHandler struct {
	h      slog.Handler
	bridge slog.Handler // nil unless logs are exported
}

// Enabled implements slog.Handler.
func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	var berr error
	if l.bridge != nil {
		berr = l.bridge.Handle(ctx, r)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		// The record may be shared with other handlers: add to a copy.
		r = r.Clone()
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return errors.Join(l.h.Handle(ctx, r), berr)
}

// WithAttrs implements slog.Handler.
func (l *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &logHandler{h: l.h.WithAttrs(as)}
	if l.bridge != nil {
		n.bridge = l.bridge.WithAttrs(as)
	}
	return n
}

// WithGroup implements slog.Handler.
func (l *logHandler) WithGroup(name string) slog.Handler {
	n := &logHandler{h: l.h.WithGroup(name)}
	if l.bridge != nil {
		n.bridge = l.bridge.WithGroup(name)
	}
	return n
}
