package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/router"
)

// hostPort splits an httptest URL into server.address and server.port.
func hostPort(t *testing.T, url string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// parseTraceparent returns the trace and span id of a W3C traceparent.
func parseTraceparent(t *testing.T, tp string) (trace.TraceID, trace.SpanID) {
	t.Helper()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" {
		t.Fatalf("malformed traceparent %q", tp)
	}
	tid, err := trace.TraceIDFromHex(parts[1])
	if err != nil {
		t.Fatalf("traceparent %q: %v", tp, err)
	}
	sid, err := trace.SpanIDFromHex(parts[2])
	if err != nil {
		t.Fatalf("traceparent %q: %v", tp, err)
	}
	return tid, sid
}

func TestSpanTreeNormalRequest(t *testing.T) {
	var h *harness
	up := newUpstream(t, answer)
	h = newHarness(t, map[string]string{"openai-primary": up.URL + "/v1"}, nil)
	rt := router.New([]*router.Target{newTarget(t, h.tel, "openai-primary", "openai", 1, up.URL, 0)}, settings(), h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()

	resp, body := post(t, srv, chatBody)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Paris") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	spans := h.waitSpans(t, "POST /v1/chat/completions")
	server := one(t, spans, "POST /v1/chat/completions")
	attempt := one(t, spans, "chat gpt-4o-mini")
	if len(spans) != 2 {
		t.Fatalf("spans %v, want the server span and one attempt", spanNames(spans))
	}

	if server.SpanKind() != trace.SpanKindServer || server.Parent().IsValid() {
		t.Errorf("server span kind %v parent %v", server.SpanKind(), server.Parent())
	}
	wantAttrs(t, "server span", server.Attributes(), map[string]any{"http.route": "/v1/chat/completions", "http.response.status_code": 200})
	if attempt.SpanKind() != trace.SpanKindClient || attempt.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("attempt kind %v parent %v, want CLIENT under %v", attempt.SpanKind(), attempt.Parent().SpanID(), server.SpanContext().SpanID())
	}
	host, port := hostPort(t, up.URL)
	wantAttrs(t, "attempt", attempt.Attributes(), map[string]any{
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-4o-mini",
		"gen_ai.response.model":          "gpt-4o-mini",
		"gen_ai.usage.input_tokens":      7,
		"gen_ai.usage.output_tokens":     3,
		"gen_ai.response.finish_reasons": []string{"stop"},
		"server.address":                 host,
		"server.port":                    port,
		"keeptrusts.target.id":           "openai-primary",
		"keeptrusts.target.kind":         "openai",
		"keeptrusts.attempt":             1,
	})
	noAttrs(t, "attempt", attempt.Attributes(), "error.type", "keeptrusts.failure.reason")
	if attempt.Status().Code == codes.Error {
		t.Errorf("attempt status %v", attempt.Status())
	}

	// The response names the server span; the upstream saw the attempt span.
	tid, sid := parseTraceparent(t, resp.Header.Get("Traceparent"))
	if tid != server.SpanContext().TraceID() || sid != server.SpanContext().SpanID() {
		t.Errorf("response traceparent %s, want server span %s/%s", resp.Header.Get("Traceparent"), server.SpanContext().TraceID(), server.SpanContext().SpanID())
	}
	if got := resp.Header.Get(HeaderTraceID); got != server.SpanContext().TraceID().String() {
		t.Errorf("%s = %q, want %s", HeaderTraceID, got, server.SpanContext().TraceID())
	}
	seen := up.seen()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	utid, usid := parseTraceparent(t, seen[0])
	if utid != attempt.SpanContext().TraceID() || usid != attempt.SpanContext().SpanID() {
		t.Errorf("upstream traceparent %s, want the attempt span %s", seen[0], attempt.SpanContext().SpanID())
	}
}

func TestSpanTreeFailover(t *testing.T) {
	primary := newUpstream(t, status(500))
	fallback := newUpstream(t, answer)
	h := newHarness(t, map[string]string{"openai-primary": primary.URL + "/v1", "compat-fallback": fallback.URL + "/v1"}, nil)
	rt := router.New([]*router.Target{
		newTarget(t, h.tel, "openai-primary", "openai", 1, primary.URL, 0),
		newTarget(t, h.tel, "compat-fallback", "openai_compatible", 2, fallback.URL, 0),
	}, settings(), h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()

	// A caller's trace continues through the gateway.
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, body := post(t, srv, chatBody, "Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	spans := h.waitSpans(t, "POST /v1/chat/completions")
	server := one(t, spans, "POST /v1/chat/completions")
	first := one(t, spans, "chat gpt-4o-mini")
	failover := one(t, spans, SpanFailover)
	second := one(t, spans, "chat claude-sonnet-4-20250514")
	if len(spans) != 4 {
		t.Errorf("spans %v, want server, 2 attempts and a failover", spanNames(spans))
	}
	if got := server.SpanContext().TraceID().String(); got != callerTrace {
		t.Errorf("trace id %s, want the caller's %s", got, callerTrace)
	}
	for _, s := range []sdktrace.ReadOnlySpan{first, failover, second} {
		if s.Parent().SpanID() != server.SpanContext().SpanID() || s.SpanContext().TraceID() != server.SpanContext().TraceID() {
			t.Errorf("%s is not a child of the request span", s.Name())
		}
	}
	if !(!first.EndTime().After(failover.StartTime()) && !failover.EndTime().After(second.StartTime())) {
		t.Errorf("order: attempt 1 %v-%v, failover %v, attempt 2 %v", first.StartTime(), first.EndTime(), failover.StartTime(), second.StartTime())
	}

	wantAttrs(t, "attempt 1", first.Attributes(), map[string]any{
		"keeptrusts.attempt":        1,
		"keeptrusts.target.id":      "openai-primary",
		"error.type":                "upstream_error",
		"keeptrusts.failure.reason": "upstream_error",
		"http.response.status_code": 500,
		"gen_ai.request.model":      "gpt-4o-mini",
	})
	if first.Status().Code != codes.Error || first.Status().Description != "upstream_error" {
		t.Errorf("attempt 1 status %+v, want Error upstream_error", first.Status())
	}
	wantAttrs(t, "failover", failover.Attributes(), map[string]any{
		"keeptrusts.failover.from":         "openai-primary",
		"keeptrusts.failover.to":           "compat-fallback",
		"keeptrusts.failover.reason":       "upstream_error",
		"keeptrusts.failover.from_model":   "gpt-4o-mini",
		"keeptrusts.failover.to_model":     "claude-sonnet-4-20250514",
		"keeptrusts.model_mapping.applied": true,
	})
	if failover.SpanKind() != trace.SpanKindInternal {
		t.Errorf("failover kind %v", failover.SpanKind())
	}
	wantAttrs(t, "attempt 2", second.Attributes(), map[string]any{
		"keeptrusts.attempt":     2,
		"keeptrusts.target.id":   "compat-fallback",
		"keeptrusts.target.kind": "openai_compatible",
		"gen_ai.provider.name":   "openai",
		"gen_ai.request.model":   "claude-sonnet-4-20250514",
		"gen_ai.response.model":  "claude-sonnet-4-20250514",
	})
	noAttrs(t, "attempt 2", second.Attributes(), "error.type", "keeptrusts.failure.reason")
	if second.Status().Code == codes.Error {
		t.Errorf("attempt 2 status %+v", second.Status())
	}
}

func TestSpanSkippedTarget(t *testing.T) {
	primary := newUpstream(t, status(503))
	fallback := newUpstream(t, answer)
	h := newHarness(t, nil, nil)
	rt := router.New([]*router.Target{
		newTarget(t, h.tel, "openai-primary", "openai", 1, primary.URL, 1),
		newTarget(t, h.tel, "anthropic-fallback", "openai", 2, fallback.URL, 0),
	}, settings(), h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()

	post(t, srv, chatBody) // trips the primary's breaker (1 failure)
	h.waitSpans(t, "POST /v1/chat/completions")
	h.spans.Reset()
	if resp, body := post(t, srv, chatBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	spans := h.waitSpans(t, "POST /v1/chat/completions")
	server := one(t, spans, "POST /v1/chat/completions")
	skip := one(t, spans, "skip openai-primary")
	one(t, spans, SpanFailover)
	attempt := one(t, spans, "chat claude-sonnet-4-20250514")
	if len(byName(spans, "chat gpt-4o-mini")) != 0 {
		t.Error("a skipped target got an attempt span")
	}
	if skip.SpanKind() != trace.SpanKindInternal || skip.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("skip span kind %v parent %v", skip.SpanKind(), skip.Parent())
	}
	if !skip.StartTime().Equal(skip.EndTime()) {
		t.Errorf("skip span lasts %v, want 0", skip.EndTime().Sub(skip.StartTime()))
	}
	wantAttrs(t, "skip", skip.Attributes(), map[string]any{
		"keeptrusts.skipped":        true,
		"keeptrusts.target.id":      "openai-primary",
		"keeptrusts.attempt":        1,
		"keeptrusts.failure.reason": "circuit_open",
	})
	wantAttrs(t, "attempt", attempt.Attributes(), map[string]any{"keeptrusts.attempt": 2})
	if n := len(primary.seen()); n != 1 {
		t.Errorf("primary saw %d requests, want 1 (the second was skipped)", n)
	}
}

func TestSpanStream(t *testing.T) {
	up := newUpstream(t, streamAnswer)
	h := newHarness(t, nil, nil)
	rt := router.New([]*router.Target{newTarget(t, h.tel, "openai-primary", "openai", 1, up.URL, 0)}, settings(), h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()

	resp, body := post(t, srv, streamBody)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "[DONE]") {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	spans := h.waitSpans(t, "POST /v1/chat/completions")
	server := one(t, spans, "POST /v1/chat/completions")
	attempt := one(t, spans, "chat gpt-4o-mini")
	if attempt.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Error("stream attempt is not a child of the request span")
	}
	wantAttrs(t, "stream attempt", attempt.Attributes(), map[string]any{
		"gen_ai.request.stream":          true,
		"gen_ai.usage.input_tokens":      11,
		"gen_ai.usage.output_tokens":     5,
		"gen_ai.response.finish_reasons": []string{"stop"},
		"gen_ai.response.model":          "gpt-4o-mini",
	})
	events := attempt.Events()
	if len(events) != 1 || events[0].Name != EventFirstToken {
		t.Fatalf("events %+v, want one %s", events, EventFirstToken)
	}
	ev := events[0]
	if ev.Time.Before(attempt.StartTime()) || ev.Time.After(attempt.EndTime()) {
		t.Errorf("first token at %v outside the attempt %v-%v", ev.Time, attempt.StartTime(), attempt.EndTime())
	}
	ttft := attrs(ev.Attributes)["gen_ai.response.time_to_first_chunk"]
	if f, ok := ttft.(float64); !ok || f <= 0 || time.Duration(f*float64(time.Second)) > attempt.EndTime().Sub(attempt.StartTime()) {
		t.Errorf("time_to_first_chunk = %v", ttft)
	}
	// The span covers the whole stream and the event sits at its first byte.
	want := attempt.StartTime().Add(time.Duration(ttft.(float64) * float64(time.Second)))
	if d := ev.Time.Sub(want); d > time.Microsecond || d < -time.Microsecond {
		t.Errorf("event at %v, want start+ttft %v", ev.Time, want)
	}
}

func TestSpanTimesFromAttempt(t *testing.T) {
	h := newHarness(t, nil, nil)
	obs := h.tel.Observer()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &router.Attempt{N: 1, Target: "t1", Kind: "anthropic", Model: "claude-sonnet-4-20250514", Start: start}
	ctx := obs.StartAttempt(context.Background(), a)
	a.Duration = 1500 * time.Millisecond
	obs.EndAttempt(ctx, a)
	s := one(t, h.spans.Ended(), "chat claude-sonnet-4-20250514")
	if !s.StartTime().Equal(start) || !s.EndTime().Equal(start.Add(1500*time.Millisecond)) {
		t.Errorf("span %v-%v, want %v-%v", s.StartTime(), s.EndTime(), start, start.Add(1500*time.Millisecond))
	}
	wantAttrs(t, "anthropic attempt", s.Attributes(), map[string]any{"gen_ai.provider.name": "anthropic", "keeptrusts.target.kind": "anthropic"})
	noAttrs(t, "unknown target", s.Attributes(), "server.address", "server.port")
}

// seenSampler samples everything and notes how many attributes it was
// shown for each span name.
type seenSampler struct {
	mu   sync.Mutex
	seen map[string]int
}

func (s *seenSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[p.Name] = len(p.Attributes)
	return sdktrace.AlwaysSample().ShouldSample(p)
}

func (*seenSampler) Description() string { return "seen" }

// TestAttributesSetAtEnd checks what Config.Sampler documents: the request
// and attempt spans start without attributes (the sampler sees none) and
// end with all of them, the start's included.
func TestAttributesSetAtEnd(t *testing.T) {
	smp := &seenSampler{seen: map[string]int{}}
	h := newHarness(t, nil, func(c *Config) { c.Sampler = smp })
	handler := h.tel.Middleware(parityMux())
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody)))
	obs := h.tel.Observer()
	a := routerAttempt("model-a")
	a.Stream = true
	obs.EndAttempt(obs.StartAttempt(context.Background(), a), a)

	for _, tc := range []struct {
		span, startName string
		want            map[string]any
	}{
		{"POST /v1/chat/completions", "POST", map[string]any{
			"http.request.method": "POST", "url.path": "/v1/chat/completions", "http.route": "/v1/chat/completions",
			"http.response.status_code": int64(200)}},
		{"chat model-a", "chat model-a", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.request.model": "model-a", "keeptrusts.target.id": "t",
			"keeptrusts.attempt": int64(1), "gen_ai.request.stream": true, "gen_ai.response.model": "model-a"}},
	} {
		t.Run(tc.span, func(t *testing.T) {
			smp.mu.Lock()
			n, ok := smp.seen[tc.startName]
			smp.mu.Unlock()
			if !ok || n != 0 {
				t.Errorf("sampler saw %d attributes for %q (asked: %t), want 0", n, tc.startName, ok)
			}
			wantAttrs(t, tc.span, one(t, h.spans.Ended(), tc.span).Attributes(), tc.want)
		})
	}
}

func TestEndAttemptNeverEndsTheRequestSpan(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, req := h.tel.Tracer().Start(context.Background(), "request")
	// An EndAttempt without StartAttempt (as a buggy caller might) must not
	// end the request's span.
	h.tel.Observer().EndAttempt(ctx, &router.Attempt{N: 1, Target: "t", Kind: "openai", Model: "m", Start: time.Now()})
	if len(h.spans.Ended()) != 0 {
		t.Fatalf("ended %v", spanNames(h.spans.Ended()))
	}
	req.End()
}

func TestMiddlewareNaming(t *testing.T) {
	h := newHarness(t, nil, nil)
	srv := httptest.NewServer(gateway(h.tel, router.New(nil, settings(), h.tel.Observer())))
	defer srv.Close()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}

	resp := get("/items/12345")
	spans := h.waitSpans(t, "GET /items/{id}")
	s := one(t, spans, "GET /items/{id}")
	wantAttrs(t, "items", s.Attributes(), map[string]any{"http.route": "/items/{id}"})
	if resp.Header.Get(HeaderTraceID) != s.SpanContext().TraceID().String() {
		t.Errorf("trace id header %q", resp.Header.Get(HeaderTraceID))
	}
	h.spans.Reset()

	get("/no/such/path/42")
	spans = h.waitSpans(t, "GET")
	for _, s := range spans {
		if strings.Contains(s.Name(), "/no/such") {
			t.Errorf("raw path in span name %q", s.Name())
		}
	}
	h.spans.Reset()

	resp = get("/livez")
	get("/items/1") // a traced request after it, to wait on
	spans = h.waitSpans(t, "GET /items/{id}")
	if len(spans) != 1 || resp.Header.Get(HeaderTraceID) != "" || resp.Header.Get("Traceparent") != "" {
		t.Errorf("/livez was traced: spans %v, headers %v", spanNames(spans), resp.Header)
	}
}

func TestTransport(t *testing.T) {
	h := newHarness(t, nil, nil)
	var got http.Header
	rt := h.tel.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.Header
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	t.Run("injects the context's span without a span of its own", func(t *testing.T) {
		ctx, span := h.tel.Tracer().Start(context.Background(), "attempt", trace.WithSpanKind(trace.SpanKindClient))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://upstream.invalid/v1/chat/completions", nil)
		req.Header.Set("Authorization", "Bearer x")
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		span.End()
		tid, sid := parseTraceparent(t, got.Get("Traceparent"))
		if tid != span.SpanContext().TraceID() || sid != span.SpanContext().SpanID() {
			t.Errorf("traceparent %s, want span %s", got.Get("Traceparent"), span.SpanContext().SpanID())
		}
		if got.Get("Authorization") != "Bearer x" {
			t.Error("other headers lost")
		}
		if req.Header.Get("Traceparent") != "" {
			t.Error("the caller's request was modified")
		}
		if n := len(h.spans.Ended()); n != 1 {
			t.Errorf("%d spans, want only the caller's", n)
		}
	})
	t.Run("no span, no header", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://upstream.invalid/", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got.Get("Traceparent") != "" {
			t.Errorf("traceparent %q without a span", got.Get("Traceparent"))
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSetTargetsReplacesServerAttributes: after a reload moves a target,
// its next attempt span names the new server (cached span options are
// dropped).
func TestSetTargetsReplacesServerAttributes(t *testing.T) {
	h := newHarness(t, map[string]string{"a": "http://one.example:8001/v1"}, nil)
	o := h.tel.Observer()
	attempt := func() {
		a := &router.Attempt{N: 1, Target: "a", Kind: "openai", Model: "gpt-4o-mini", Start: time.Now()}
		ctx := o.StartAttempt(context.Background(), a)
		o.EndAttempt(ctx, a)
	}
	attempt()
	h.tel.SetTargets(map[string]string{"a": "http://two.example:8002/v1", "b": "https://api.anthropic.com"})
	attempt()
	spans := byName(h.spans.Ended(), "chat gpt-4o-mini")
	if len(spans) != 2 {
		t.Fatalf("%d attempt spans: %v", len(spans), spanNames(h.spans.Ended()))
	}
	wantAttrs(t, "before", spans[0].Attributes(), map[string]any{"server.address": "one.example", "server.port": 8001})
	wantAttrs(t, "after", spans[1].Attributes(), map[string]any{"server.address": "two.example", "server.port": 8002})
}
