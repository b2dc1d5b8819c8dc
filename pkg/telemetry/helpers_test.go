package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/router"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const okBody = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"%s","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`

// upstream is a scripted OpenAI-shaped server that remembers the
// traceparent of every request it received.
type upstream struct {
	*httptest.Server
	mu           sync.Mutex
	traceparents []string
}

func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, model string)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.traceparents = append(u.traceparents, r.Header.Get("Traceparent"))
		u.mu.Unlock()
		h(w, r, between(string(b), `"model":"`, `"`))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.traceparents...)
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func answer(w http.ResponseWriter, _ *http.Request, model string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, okBody, model)
}

func status(code int) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"x","param":null,"code":null}}`, code)
	}
}

// streamAnswer sends three content chunks, a finish chunk and a usage chunk.
func streamAnswer(w http.ResponseWriter, _ *http.Request, model string) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := range 3 {
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", model, i)
		_ = rc.Flush()
	}
	fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", model)
	fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,\"total_tokens\":16}}\n\ndata: [DONE]\n\n", model)
}

// harness is a Telemetry recording into memory.
type harness struct {
	tel    *Telemetry
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

// newHarness sets up telemetry with an in-memory span recorder and a manual
// metric reader; edit adjusts the configuration first.
func newHarness(t *testing.T, targets map[string]string, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	cfg := Config{
		ServiceName:    "keeptrusts-gateway-test",
		Targets:        targets,
		Sampler:        sdktrace.AlwaysSample(),
		SpanProcessors: []sdktrace.SpanProcessor{h.spans},
		MetricReaders:  []sdkmetric.Reader{h.reader},
	}
	if edit != nil {
		edit(&cfg)
	}
	tel, err := Setup(context.Background(), cfg, "v-test")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	h.tel = tel
	return h
}

// collect reads every metric once.
func (h *harness) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// waitSpans polls until a span named name has ended, and returns all ended spans.
func (h *harness) waitSpans(t *testing.T, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := h.spans.Ended()
		for _, s := range spans {
			if s.Name() == name {
				return spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q ended; got %v", name, spanNames(spans))
		}
		time.Sleep(time.Millisecond)
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// newTarget builds a router target of kind speaking OpenAI at url, whose
// client propagates trace context through tel.
func newTarget(t testing.TB, tel *Telemetry, id, kind string, prio int, url string, breakerFailures int) *router.Target {
	t.Helper()
	if breakerFailures == 0 {
		breakerFailures = 100
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &router.Target{
		ID:       id,
		Priority: prio,
		Adapter:  openai.New(kind),
		Endpoint: &provider.Endpoint{BaseURL: url + "/v1", APIKey: "sk-" + id},
		Client:   &http.Client{Transport: tel.Transport(tr)},
		Health: health.NewTarget(health.Options{ID: id,
			Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: breakerFailures, OpenTimeout: time.Minute, HalfOpenRequests: 1},
		}),
	}
}

var mapping = map[string]string{"gpt-4o-mini": "claude-sonnet-4-20250514"}

func settings() router.Settings {
	return router.Settings{Failover: true, MaxAttempts: 1, ModelMapping: mapping, AttemptTimeout: 5 * time.Second, RequestTimeout: 30 * time.Second}
}

// gateway is a minimal gateway: the chat route over rt, wrapped in tel's Middleware.
func gateway(tel *Telemetry, rt *router.Router) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stream := strings.Contains(string(body), `"stream":true`)
		res, err := rt.Do(r.Context(), &router.Request{Body: body, Model: between(string(body), `"model":"`, `"`), Stream: stream})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if res.Stream != nil {
			defer res.Stream.Close()
			w.Header().Set("Content-Type", "text/event-stream")
			for {
				b, err := res.Stream.Next()
				if err != nil {
					return
				}
				_, _ = w.Write(b)
			}
		}
		w.WriteHeader(res.Status)
		_, _ = w.Write(res.Body)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "item") })
	return tel.Middleware(mux)
}

// post sends a chat request to srv and returns the response with its body read.
func post(t *testing.T, srv *httptest.Server, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`
const streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}]}`

// attrs turns span attributes into a map of their emitted values.
func attrs(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// wantAttrs checks that got holds every attribute in want with that value.
func wantAttrs(t *testing.T, what string, got []attribute.KeyValue, want map[string]any) {
	t.Helper()
	m := attrs(got)
	for k, v := range want {
		g, ok := m[k]
		if !ok {
			t.Errorf("%s: attribute %s missing (have %v)", what, k, m)
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v, want %v", what, k, g, v)
		}
	}
}

// noAttrs checks that none of keys is present.
func noAttrs(t *testing.T, what string, got []attribute.KeyValue, keys ...string) {
	t.Helper()
	m := attrs(got)
	for _, k := range keys {
		if v, ok := m[k]; ok {
			t.Errorf("%s: unexpected attribute %s = %v", what, k, v)
		}
	}
}

// byName returns the ended spans named name, in start order.
func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func ctxHasSpan(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := byName(spans, name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %v", len(got), name, spanNames(spans))
	}
	return got[0]
}
