package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/router"
)

// parityMux answers the routes the parity cases use.
func parityMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%d}`, len(b))
	})
	mux.HandleFunc("POST /v1/fail", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"down"}`)
	})
	mux.HandleFunc("POST /v1/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("PUT /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, r.PathValue("id"))
	})
	return mux
}

// TestLeanServerMatchesOtelhttp holds the lean server path to otelhttp's
// output: the same request through each must give the same span (scope,
// name, kind, status, attributes, parent) and feed the same http.server.*
// data points.
func TestLeanServerMatchesOtelhttp(t *testing.T) {
	remote := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name, method, target, body string
		chunked                    bool
		hdr                        map[string]string
		serverName                 string
		wantStatus                 int
	}{
		{name: "chat", method: http.MethodPost, target: "/v1/chat/completions", body: chatBody,
			hdr: map[string]string{"User-Agent": "sdk/1.0"}, wantStatus: 200},
		{name: "client context and forwarded address", method: http.MethodPost, target: "/v1/chat/completions", body: chatBody,
			hdr: map[string]string{"Traceparent": remote, "Tracestate": "vendor=x", "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}, wantStatus: 200},
		{name: "server error", method: http.MethodPost, target: "/v1/fail", body: "{}", wantStatus: 503},
		{name: "nothing written", method: http.MethodPost, target: "/v1/empty", wantStatus: 200},
		{name: "chunked body", method: http.MethodPost, target: "/v1/chat/completions", body: chatBody, chunked: true, wantStatus: 200},
		{name: "no route", method: http.MethodPost, target: "/nowhere/42", body: "x", wantStatus: 404},
		{name: "host port and path values", method: http.MethodPut, target: "http://gw.example:8443/items/7", wantStatus: 201},
		{name: "server name with port", method: http.MethodPost, target: "/v1/chat/completions", serverName: "gw.internal:9000", wantStatus: 200},
		{name: "lower-case method", method: "post", target: "/v1/chat/completions", body: chatBody, wantStatus: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) {
				if tc.serverName != "" {
					c.ServiceName = tc.serverName
				}
			})
			mux := parityMux()
			newReq := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				for k, v := range tc.hdr {
					r.Header.Set(k, v)
				}
				if tc.chunked {
					r.ContentLength = -1
					r.TransferEncoding = []string{"chunked"}
				}
				return r
			}
			serve := func(h http.Handler) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, newReq())
				if rec.Code != tc.wantStatus {
					t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
				}
				return rec
			}
			leanRec := serve(h.tel.serverSpans(mux))
			fullRec := serve(h.tel.otelhttpHandler(mux))

			spans := h.spans.Ended()
			if len(spans) != 2 {
				t.Fatalf("spans %v, want one per path", spanNames(spans))
			}
			lean, full := spans[0], spans[1]
			if lean.Name() != full.Name() || lean.SpanKind() != full.SpanKind() || lean.Status() != full.Status() {
				t.Errorf("lean %q %v %+v, otelhttp %q %v %+v", lean.Name(), lean.SpanKind(), lean.Status(), full.Name(), full.SpanKind(), full.Status())
			}
			if lean.InstrumentationScope() != full.InstrumentationScope() {
				t.Errorf("scope %+v, otelhttp %+v", lean.InstrumentationScope(), full.InstrumentationScope())
			}
			if la, fa := attrs(lean.Attributes()), attrs(full.Attributes()); !reflect.DeepEqual(la, fa) {
				t.Errorf("attributes differ\nlean     %v\notelhttp %v", la, fa)
			}
			if lean.Parent().TraceID() != full.Parent().TraceID() || lean.Parent().SpanID() != full.Parent().SpanID() {
				t.Errorf("parent %v, otelhttp %v", lean.Parent(), full.Parent())
			}
			if tc.hdr["Traceparent"] != "" && lean.SpanContext().TraceID() != full.SpanContext().TraceID() {
				t.Error("the client's trace was not continued")
			}
			for _, c := range []struct {
				rec  *httptest.ResponseRecorder
				span sdktrace.ReadOnlySpan
			}{{leanRec, lean}, {fullRec, full}} {
				tid, sid := parseTraceparent(t, c.rec.Header().Get("Traceparent"))
				if tid != c.span.SpanContext().TraceID() || sid != c.span.SpanContext().SpanID() {
					t.Errorf("traceparent %s does not name the span", c.rec.Header().Get("Traceparent"))
				}
				if c.rec.Header().Get(HeaderTraceID) != tid.String() {
					t.Errorf("%s = %q", HeaderTraceID, c.rec.Header().Get(HeaderTraceID))
				}
				if c.rec.Header().Get("Tracestate") != tc.hdr["Tracestate"] {
					t.Errorf("tracestate %q, want %q", c.rec.Header().Get("Tracestate"), tc.hdr["Tracestate"])
				}
			}

			// Both paths feed one stream per metric, so every data point
			// counts two requests: one from each.
			var rm metricdata.ResourceMetrics
			if err := h.reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if !strings.HasPrefix(m.Name, "http.server.") {
						continue
					}
					seen++
					if sm.Scope.Name != otelhttp.ScopeName {
						t.Errorf("%s in scope %q", m.Name, sm.Scope.Name)
					}
					for k, p := range points(t, m) {
						if p.count != 2 {
							t.Errorf("%s{%s} counts %d requests, want 2 (the paths' sets differ)", m.Name, k, p.count)
						}
					}
				}
			}
			if seen != 3 {
				t.Errorf("%d http.server.* metrics, want 3", seen)
			}
		})
	}
}

// TestMiddlewarePaths checks which requests take which path: POSTs the
// lean one, the rest otelhttp, polls none; both in otelhttp's scope.
func TestMiddlewarePaths(t *testing.T) {
	h := newHarness(t, nil, nil)
	handler := h.tel.Middleware(parityMux())
	for _, tc := range []struct {
		method, path string
		traced       bool
	}{
		{http.MethodPost, "/v1/chat/completions", true},
		{http.MethodPut, "/items/1", true},
		{http.MethodGet, "/livez", false},
		{http.MethodPost, "/livez", true},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			h.spans.Reset()
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(chatBody)))
			spans := h.spans.Ended()
			if got := len(spans) == 1; got != tc.traced {
				t.Fatalf("spans %v, want traced=%v", spanNames(spans), tc.traced)
			}
			if tc.traced && spans[0].InstrumentationScope().Name != otelhttp.ScopeName {
				t.Errorf("scope %q", spans[0].InstrumentationScope().Name)
			}
			if got := rec.Header().Get(HeaderTraceID) != ""; got != tc.traced {
				t.Errorf("trace id header present=%v, want %v", got, tc.traced)
			}
		})
	}
}

// TestLeanServerWriter checks that a handler behind the lean path can
// stream: Flush directly and through http.ResponseController (which needs
// Unwrap to reach the connection's deadlines), and io.Copy into the writer.
func TestLeanServerWriter(t *testing.T) {
	h := newHarness(t, nil, nil)
	mux := http.NewServeMux()
	errs := make(chan error, 1)
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		err := rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if err == nil {
			_, _ = io.WriteString(w, "data: 1\n\n")
			err = rc.Flush()
		}
		if err == nil {
			w.(http.Flusher).Flush()
			_, err = io.Copy(w, strings.NewReader("data: 2\n\n"))
		}
		errs <- err
	})
	srv := httptest.NewServer(h.tel.Middleware(mux))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/stream", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err := <-errs; err != nil {
		t.Fatalf("handler: %v", err)
	}
	if string(body) != "data: 1\n\ndata: 2\n\n" {
		t.Errorf("body %q", body)
	}
	s := one(t, h.waitSpans(t, "POST /stream"), "POST /stream")
	wantAttrs(t, "stream span", s.Attributes(), map[string]any{"http.response.status_code": 200, "http.response.body.size": len(body), "http.route": "/stream"})
}

// TestSetTraceHeaders checks the hand-written traceparent against the
// propagator's.
func TestSetTraceHeaders(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=x,other=y")
	if err != nil {
		t.Fatal(err)
	}
	base := trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	}
	for _, tc := range []struct {
		name  string
		flags trace.TraceFlags
		state trace.TraceState
	}{
		{"sampled", trace.FlagsSampled, trace.TraceState{}},
		{"not sampled", 0, trace.TraceState{}},
		{"random flag and an unknown one", trace.FlagsSampled | trace.FlagsRandom | 0x80, trace.TraceState{}},
		{"trace state", trace.FlagsSampled, ts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.TraceFlags, cfg.TraceState = tc.flags, tc.state
			sc := trace.NewSpanContext(cfg)
			got, want := http.Header{}, http.Header{}
			setTraceHeaders(got, sc)
			propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.HeaderCarrier(want))
			want.Set(HeaderTraceID, sc.TraceID().String())
			if !reflect.DeepEqual(got, want) {
				t.Errorf("headers %v, want %v", got, want)
			}
		})
	}
}

// TestCachesAreHit checks that a repeated request finds every label
// combination in the caches instead of building it again.
func TestCachesAreHit(t *testing.T) {
	up := newUpstream(t, answer)
	h := newHarness(t, map[string]string{"primary": up.URL + "/v1"}, nil)
	srv := httptest.NewServer(gateway(h.tel, routerFor(t, h.tel, "primary", up.URL)))
	defer srv.Close()
	sizes := func() []int {
		c := h.tel.caches
		return []int{len(c.ops.m), len(c.attempts.m), len(c.starts.m), len(c.finish.m), len(c.server.m), len(c.requests.m)}
	}
	record := func() {
		post(t, srv, chatBody)
		h.tel.RecordRequest(context.Background(), Request{Provider: "primary", RequestedModel: "gpt-4o-mini", Model: "gpt-4o-mini", Status: 200})
	}
	record()
	first := sizes()
	for i, n := range first {
		if n != 1 {
			t.Errorf("cache %d holds %d entries after one request, want 1", i, n)
		}
	}
	record()
	if again := sizes(); !reflect.DeepEqual(again, first) {
		t.Errorf("cache sizes %v after the same request again, want %v", again, first)
	}

	// The lean server path's span names and metric sets.
	lean := h.tel.serverSpans(parityMux())
	for range 3 {
		lean.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody)))
	}
	if len(lean.names.m) != 1 || len(lean.sets.m) != 1 {
		t.Errorf("lean path caches hold %d names and %d sets after one route thrice, want 1 and 1", len(lean.names.m), len(lean.sets.m))
	}
}

// TestAttributeBuffersAreNotShared checks that the pooled attribute
// buffers of the lean path and of EndAttempt are copied by the SDK: spans
// recorded one after another keep their own values.
func TestAttributeBuffersAreNotShared(t *testing.T) {
	h := newHarness(t, nil, nil)
	handler := h.tel.Middleware(parityMux())
	for _, ua := range []string{"first/1", "second/2"} {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		r.Header.Set("User-Agent", ua)
		handler.ServeHTTP(httptest.NewRecorder(), r)
	}
	spans := h.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("spans %v", spanNames(spans))
	}
	for i, want := range []string{"first/1", "second/2"} {
		if got := attrs(spans[i].Attributes())["user_agent.original"]; got != want {
			t.Errorf("span %d user agent %v, want %s", i, got, want)
		}
	}
	// Likewise for attempts with different response models.
	obs := h.tel.Observer()
	for _, m := range []string{"model-a", "model-b"} {
		a := routerAttempt(m)
		obs.EndAttempt(obs.StartAttempt(context.Background(), a), a)
	}
	for _, m := range []string{"model-a", "model-b"} {
		s := one(t, h.spans.Ended(), "chat "+m)
		if got := attrs(s.Attributes())["gen_ai.response.model"]; got != m {
			t.Errorf("span chat %s: response model %v", m, got)
		}
	}
}

// routerFor routes to one OpenAI target at url.
func routerFor(t *testing.T, tel *Telemetry, id, url string) *router.Router {
	t.Helper()
	return router.New([]*router.Target{newTarget(t, tel, id, "openai", 1, url, 0)}, settings(), tel.Observer())
}

// routerAttempt is a finished successful attempt answered by model.
func routerAttempt(model string) *router.Attempt {
	return &router.Attempt{N: 1, Target: "t", Kind: "openai", Model: model, Start: time.Now(), Duration: time.Millisecond,
		Outcome: classify.Success, ResponseModel: model, FinishReasons: []string{"stop"}}
}

// TestLeanServerPanic checks that a handler's panic still ends the span
// and goes on up to the server.
func TestLeanServerPanic(t *testing.T) {
	h := newHarness(t, nil, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	handler := h.tel.Middleware(mux)
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/abort", strings.NewReader("{}")))
	}()
	spans := h.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("ended spans %v, want the request's", spanNames(spans))
	}
	// It still has the request's attributes (set as it ends).
	got := attrs(spans[0].Attributes())
	if got["http.request.method"] != "POST" || got["url.path"] != "/abort" {
		t.Errorf("span attributes %v, want the request's method and path", got)
	}
}

// TestHeaderCarrier checks that headerCarrier extracts and injects as
// propagation.HeaderCarrier does.
func TestHeaderCarrier(t *testing.T) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	for _, tc := range []struct {
		name string
		hdr  http.Header
	}{
		{"nothing", http.Header{}},
		{"trace context", http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "Tracestate": {"vendor=x"}}},
		{"baggage in two headers", http.Header{"Baggage": {"a=1", "b=2"}}},
		{"malformed traceparent", http.Header{"Traceparent": {"00-zz-00f067aa0ba902b7-01"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := prop.Extract(context.Background(), propagation.HeaderCarrier(tc.hdr))
			got := prop.Extract(context.Background(), headerCarrier(tc.hdr))
			if !trace.SpanContextFromContext(got).Equal(trace.SpanContextFromContext(want)) {
				t.Errorf("span context %v, want %v", trace.SpanContextFromContext(got), trace.SpanContextFromContext(want))
			}
			if g, w := members(baggage.FromContext(got)), members(baggage.FromContext(want)); !reflect.DeepEqual(g, w) {
				t.Errorf("baggage %v, want %v", g, w)
			}
			gotHdr, wantHdr := http.Header{"Other": {"v"}}, http.Header{"Other": {"v"}}
			prop.Inject(want, propagation.HeaderCarrier(wantHdr))
			prop.Inject(got, headerCarrier(gotHdr))
			// Baggage members come out in map order: compare them as sets.
			for _, h := range []http.Header{gotHdr, wantHdr} {
				if v := h.Get("Baggage"); v != "" {
					b, err := baggage.Parse(v)
					if err != nil {
						t.Fatal(err)
					}
					h.Set("Baggage", fmt.Sprint(members(b)))
				}
			}
			if !reflect.DeepEqual(gotHdr, wantHdr) {
				t.Errorf("injected %v, want %v", gotHdr, wantHdr)
			}
			keys := headerCarrier(gotHdr).Keys()
			if len(keys) != len(gotHdr) {
				t.Errorf("keys %v of %v", keys, gotHdr)
			}
		})
	}
	if got := headerCarrier(http.Header{"X-Custom": {"v"}}).Get("x-custom"); got != "v" {
		t.Errorf("other keys are not canonicalized: %q", got)
	}
}

// members is a baggage's members as a map.
func members(b baggage.Baggage) map[string]string {
	m := map[string]string{}
	for _, mb := range b.Members() {
		m[mb.Key()] = mb.Value()
	}
	return m
}

// TestLeanServerConcurrent runs requests through the lean path at once:
// the pooled per-request state must never be shared (run with -race).
func TestLeanServerConcurrent(t *testing.T) {
	h := newHarness(t, nil, nil)
	handler := h.tel.Middleware(parityMux())
	const workers, each = 8, 25
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(strings.Repeat("x", w*each+i)))
				r.Header.Set("User-Agent", fmt.Sprintf("ua-%d-%d", w, i))
				handler.ServeHTTP(httptest.NewRecorder(), r)
			}
		}()
	}
	for range workers {
		<-done
	}
	spans := h.spans.Ended()
	if len(spans) != workers*each {
		t.Fatalf("%d spans, want %d", len(spans), workers*each)
	}
	seen := map[string]bool{}
	for _, s := range spans {
		a := attrs(s.Attributes())
		ua, _ := a["user_agent.original"].(string)
		var w, i int
		if _, err := fmt.Sscanf(ua, "ua-%d-%d", &w, &i); err != nil || seen[ua] {
			t.Fatalf("user agent %q missing or seen twice", ua)
		}
		seen[ua] = true
		// The body size comes from the same request as the user agent.
		if n := w*each + i; n > 0 && a["http.request.body.size"] != int64(n) {
			t.Errorf("%s: body size %v, want %d", ua, a["http.request.body.size"], n)
		}
	}
}
