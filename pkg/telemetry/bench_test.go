package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
)

// discardExporter accepts spans and drops them: the cost of exporting is
// the collector's, the benchmark measures the gateway's.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchTelemetry returns telemetry switched off (as with nothing
// configured), metrics only (aggregated for a reader, as with the
// Prometheus endpoint and no traces), unsampled (spans exported but none
// sampled: what tracing costs the requests a low sample ratio leaves out)
// or fully on: every span sampled into a batch processor, metrics
// aggregated for a reader.
func benchTelemetry(b *testing.B, mode string) *Telemetry {
	b.Helper()
	cfg := Config{ServiceName: "bench", Targets: map[string]string{"primary": "https://api.openai.com/v1"}}
	switch mode {
	case "unsampled":
		cfg.Sampler = sdktrace.ParentBased(sdktrace.NeverSample())
	case "on":
		cfg.Sampler = sdktrace.AlwaysSample()
	}
	if cfg.Sampler != nil {
		cfg.SpanProcessors = []sdktrace.SpanProcessor{sdktrace.NewBatchSpanProcessor(discardExporter{}, sdktrace.WithMaxQueueSize(maxSpanQueue))}
	}
	if mode == "metrics" || mode == "on" {
		cfg.MetricReaders = []sdkmetric.Reader{sdkmetric.NewManualReader()}
	}
	return benchSetup(b, cfg)
}

// benchOTLP returns telemetry as an operator turns it on: spans exported
// over OTLP/HTTP (protobuf) to a local sink that reads and drops them, so
// that encoding and sending are measured; metrics aggregated for a reader.
func benchOTLP(b *testing.B) *Telemetry {
	b.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	cfg := Config{
		ServiceName:   "bench",
		Targets:       map[string]string{"primary": "https://api.openai.com/v1"},
		Traces:        Export{Exporters: []string{ExporterOTLP}, Protocol: ProtocolHTTP, Endpoint: sink.URL + "/v1/traces"},
		MetricReaders: []sdkmetric.Reader{sdkmetric.NewManualReader()},
	}
	return benchSetup(b, cfg)
}

func benchSetup(b *testing.B, cfg Config) *Telemetry {
	b.Helper()
	tel, err := Setup(context.Background(), cfg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// reportCPU reports the process's CPU time per operation as cpu-ns/op
// when b ends: everything the request cost, the exporter's goroutines
// and the loopback upstream included.
func reportCPU(b *testing.B) {
	b.Helper()
	start, ok := processCPU()
	if !ok {
		return
	}
	b.Cleanup(func() {
		if end, ok := processCPU(); ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

// benchModes are the telemetry set-ups the request benchmarks compare.
var benchModes = []string{"off", "metrics", "unsampled", "on", "otlp"}

func benchMode(b *testing.B, mode string) *Telemetry {
	b.Helper()
	if mode == "otlp" {
		return benchOTLP(b)
	}
	return benchTelemetry(b, mode)
}

func BenchmarkObserverAttempt(b *testing.B) {
	for _, mode := range []string{"off", "metrics", "on"} {
		b.Run(mode, func(b *testing.B) {
			tel := benchTelemetry(b, mode)
			obs := tel.Observer()
			ctx, span := tel.Tracer().Start(context.Background(), "POST /v1/chat/completions")
			defer span.End()
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				a := router.Attempt{N: 1, Target: "primary", Kind: "openai", Model: "gpt-4o-mini", Start: start}
				actx := obs.StartAttempt(ctx, &a)
				a.Duration, a.Outcome = 800*time.Millisecond, classify.Success
				a.ResponseModel, a.FinishReasons = "gpt-4o-mini", []string{"stop"}
				a.Usage = provider.Usage{InputTokens: 12, OutputTokens: 40}
				obs.EndAttempt(actx, &a)
			}
		})
	}
}

func BenchmarkObserverFailover(b *testing.B) {
	for _, mode := range []string{"off", "metrics", "on"} {
		b.Run(mode, func(b *testing.B) {
			tel := benchTelemetry(b, mode)
			obs := tel.Observer()
			ctx, span := tel.Tracer().Start(context.Background(), "POST /v1/chat/completions")
			defer span.End()
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				a := router.Attempt{N: 1, Target: "primary", Kind: "openai", Model: "gpt-4o-mini", Start: start}
				actx := obs.StartAttempt(ctx, &a)
				a.Duration, a.Outcome = 30*time.Millisecond, classify.Outcome{Reason: classify.UpstreamError, Status: 503}
				obs.EndAttempt(actx, &a)
				obs.Failover(ctx, router.FailoverStep{From: "primary", To: "fallback", Reason: classify.UpstreamError, FromModel: "gpt-4o-mini", ToModel: "claude-sonnet-4-20250514"})
				a2 := router.Attempt{N: 2, Target: "fallback", Kind: "anthropic", Model: "claude-sonnet-4-20250514", Start: start}
				actx = obs.StartAttempt(ctx, &a2)
				a2.Duration, a2.Outcome = 900*time.Millisecond, classify.Success
				obs.EndAttempt(actx, &a2)
			}
		})
	}
}

// BenchmarkGateway measures a whole request through Middleware, the router,
// the observer and Transport to a loopback upstream: the throughput cost of
// telemetry as a client sees it.
func BenchmarkGateway(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(strings.ReplaceAll(okBody, "%s", "gpt-4o-mini")))
	}))
	defer up.Close()
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			tel := benchMode(b, mode)
			target := newTarget(b, tel, "primary", "openai", 1, up.URL, 0)
			h := gateway(tel, router.New([]*router.Target{target}, settings(), tel.Observer()))
			b.ReportAllocs()
			reportCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body.String())
						return
					}
				}
			})
		})
	}
}

// benchWriter is a reusable ResponseWriter, so that the benchmark measures
// the middleware rather than httptest's recorder.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *benchWriter) Flush() {}

// benchBody is a request body that can be read again.
type benchBody struct{ strings.Reader }

func (*benchBody) Close() error { return nil }

// BenchmarkMiddleware measures Middleware alone around a handler that reads
// the body and answers at once: the per-request cost of the server span,
// the response's trace headers and the HTTP server metrics.
func BenchmarkMiddleware(b *testing.B) {
	answer := []byte(strings.ReplaceAll(okBody, "%s", "gpt-4o-mini"))
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			tel := benchMode(b, mode)
			mux := http.NewServeMux()
			mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(answer)
			})
			h := tel.Middleware(mux)
			body := &benchBody{}
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "bench/1.0")
			w := &benchWriter{h: make(http.Header, 4)}
			b.ReportAllocs()
			reportCPU(b)
			for b.Loop() {
				body.Reset(chatBody)
				clear(w.h)
				w.code, w.n = 0, 0
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}
