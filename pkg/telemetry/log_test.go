package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogText(w io.Writer) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
}

// memLogExporter keeps exported log records.
type memLogExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (e *memLogExporter) Export(_ context.Context, rs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rs {
		e.records = append(e.records, r.Clone())
	}
	return nil
}
func (e *memLogExporter) Shutdown(context.Context) error   { return nil }
func (e *memLogExporter) ForceFlush(context.Context) error { return nil }

func (e *memLogExporter) all() []sdklog.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sdklog.Record(nil), e.records...)
}

func TestLogHandlerTraceIDs(t *testing.T) {
	h := newHarness(t, nil, nil)
	var buf bytes.Buffer
	logger := slog.New(h.tel.LogHandler(slogText(&buf)))
	ctx, span := h.tel.Tracer().Start(context.Background(), "request")
	defer span.End()

	logger.InfoContext(ctx, "inside a span")
	logger.InfoContext(context.Background(), "outside any span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	sc := span.SpanContext()
	if !strings.Contains(lines[0], "trace_id="+sc.TraceID().String()) || !strings.Contains(lines[0], "span_id="+sc.SpanID().String()) {
		t.Errorf("no trace ids on %q", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("trace id without a span: %q", lines[1])
	}
	if h.tel.LogHandler(slogText(&buf)).(*logHandler).bridge != nil {
		t.Error("log bridge without log export")
	}
}

func TestLogExport(t *testing.T) {
	exp := &memLogExporter{}
	h := newHarness(t, nil, func(c *Config) { c.LogProcessors = []sdklog.Processor{sdklog.NewSimpleProcessor(exp)} })
	var buf bytes.Buffer
	logger := slog.New(h.tel.LogHandler(slogText(&buf))).With("component", "router")
	ctx, span := h.tel.Tracer().Start(context.Background(), "request")
	logger.WithGroup("attempt").WarnContext(ctx, "attempt failed", "target", "openai-primary")
	logger.DebugContext(ctx, "below the console's level")
	span.End()

	recs := exp.all()
	if len(recs) != 1 {
		t.Fatalf("%d records exported, want 1 (debug is below the wrapped handler's level)", len(recs))
	}
	r := recs[0]
	if r.Body().AsString() != "attempt failed" || r.Severity() != log.SeverityWarn {
		t.Errorf("record body %q severity %v", r.Body().AsString(), r.Severity())
	}
	if r.TraceID() != span.SpanContext().TraceID() || r.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("record trace %s span %s, want %s %s", r.TraceID(), r.SpanID(), span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
	got := map[string]string{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		got[string(kv.Key)] = kv.Value.String()
		return true
	})
	if got["component"] != "router" || !strings.Contains(got["attempt"], "openai-primary") {
		t.Errorf("record attributes %v", got)
	}
	if _, dup := got[LogTraceID]; dup {
		t.Error("trace_id duplicated as an attribute: the record carries it natively")
	}
	if !strings.Contains(buf.String(), "attempt failed") || !strings.Contains(buf.String(), "trace_id=") {
		t.Errorf("console lost the record: %q", buf.String())
	}
}

func TestErrorHandler(t *testing.T) {
	var buf bytes.Buffer
	ErrorHandler(slog.New(slogText(&buf))).Handle(errors.New("traces export: connection refused"))
	if !strings.Contains(buf.String(), "telemetry export failed") || !strings.Contains(buf.String(), "connection refused") {
		t.Errorf("logged %q", buf.String())
	}
}

func TestTraceID(t *testing.T) {
	h := newHarness(t, nil, nil)
	if got := TraceID(context.Background()); got != "" {
		t.Errorf("TraceID without a span = %q", got)
	}
	ctx, span := h.tel.Tracer().Start(context.Background(), "request")
	defer span.End()
	if got := TraceID(ctx); got != span.SpanContext().TraceID().String() || len(got) != 32 {
		t.Errorf("TraceID = %q, want %s", got, span.SpanContext().TraceID())
	}
}
