package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/router"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// anthropicSimTarget is a router target of kind anthropic in front of an
// Anthropic simulator, its client propagating trace context through tel.
func anthropicSimTarget(t *testing.T, tel *Telemetry, id string, prio int) *router.Target {
	t.Helper()
	s := sim.New(sim.Options{Kind: sim.KindAnthropic})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &router.Target{
		ID: id, Priority: prio, Adapter: anthropic.New(),
		Endpoint: &provider.Endpoint{BaseURL: srv.URL(), APIKey: "sk-ant-" + id, DefaultMaxTokens: 64, Version: "2023-06-01"},
		Client:   &http.Client{Transport: tel.Transport(tr)},
		Health: health.NewTarget(health.Options{ID: id,
			Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: 100, OpenTimeout: time.Minute, HalfOpenRequests: 1}}),
	}
}

// TestRouteAndParamsTelemetry: on a route, every attempt and skip span
// carries keeptrusts.route; a failover attempt lists the fields it
// dropped and mapped; a target skipped for a field names it; the server
// duration metric is labelled by route, and a model no route matches adds
// no label value, whatever its name.
func TestRouteAndParamsTelemetry(t *testing.T) {
	primary := newUpstream(t, status(500))
	h := newHarness(t, nil, nil)
	s := settings()
	s.Route = "gpt-*"
	rt := router.New([]*router.Target{
		newTarget(t, h.tel, "openai-primary", "openai", 1, primary.URL, 0),
		anthropicSimTarget(t, h.tel, "anthropic-fallback", 2),
	}, s, h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()

	tests := []struct {
		name, extra string
		wantStatus  int
		// fallback is what the fallback's span must carry; absent lists
		// attributes it must not.
		fallbackSpan string
		fallback     map[string]any
		absent       []string
	}{
		{
			name: "dropped and mapped on failover", extra: `,"frequency_penalty":0.5,"logprobs":true,"temperature":1.8`,
			wantStatus: 200, fallbackSpan: "chat claude-sonnet-4-20250514",
			fallback: map[string]any{"keeptrusts.route": "gpt-*", "keeptrusts.dropped_params": []string{"frequency_penalty", "logprobs"},
				"keeptrusts.mapped_params": []string{"temperature=1.8->0.9"}},
			absent: []string{"keeptrusts.unsupported_param"},
		},
		{
			name: "nothing to drop", extra: `,"temperature":0.5`,
			wantStatus: 200, fallbackSpan: "chat claude-sonnet-4-20250514",
			fallback: map[string]any{"keeptrusts.route": "gpt-*"},
			absent:   []string{"keeptrusts.dropped_params", "keeptrusts.mapped_params"},
		},
		{
			name: "a field the fallback cannot serve skips it", extra: `,"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"}`,
			wantStatus: 503, fallbackSpan: "skip anthropic-fallback",
			fallback: map[string]any{"keeptrusts.route": "gpt-*", "keeptrusts.skipped": true,
				"keeptrusts.failure.reason": "unsupported_request", "keeptrusts.unsupported_param": "modalities"},
			absent: []string{"keeptrusts.dropped_params"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.spans.Reset()
			body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]` + tt.extra + `}`
			if resp, b := post(t, srv, body); resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			spans := h.waitSpans(t, "POST /v1/chat/completions")
			first := one(t, spans, "chat gpt-4o-mini")
			wantAttrs(t, "primary attempt", first.Attributes(), map[string]any{"keeptrusts.route": "gpt-*", "error.type": "upstream_error"})
			noAttrs(t, "primary attempt", first.Attributes(), "keeptrusts.dropped_params", "keeptrusts.mapped_params")
			fb := one(t, spans, tt.fallbackSpan)
			wantAttrs(t, "fallback", fb.Attributes(), tt.fallback)
			noAttrs(t, "fallback", fb.Attributes(), tt.absent...)
		})
	}

	// The gateway passes the route that served a request, and marks one
	// whose model no route matched; every name below is a client's.
	rec := func(r Request) { h.tel.RecordRequest(context.Background(), r) }
	rec(Request{Provider: "anthropic-fallback", RequestedModel: "gpt-4.1", Route: "gpt-*", Model: "claude-sonnet-4-20250514", Status: 200, Duration: time.Second})
	rec(Request{Provider: "anthropic-fallback", RequestedModel: "smart", Route: "smart", Model: "claude-sonnet-4-20250514", Status: 200, Duration: time.Second})
	for _, name := range []string{"gemini-2.0-flash", "made-up-1", "made-up-2"} {
		rec(Request{RequestedModel: name, Unrouted: true, Status: 404, ErrorType: "model_not_found", Duration: time.Millisecond})
	}
	ms := h.collect(t)
	wantPoints(t, ms, MetricServerRequestDuration, "s", map[string]float64{
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4.1,gen_ai.response.model=claude-sonnet-4-20250514,keeptrusts.endpoint=chat,keeptrusts.route=gpt-*": 1,
		"gen_ai.operation.name=chat,gen_ai.request.model=smart,gen_ai.response.model=claude-sonnet-4-20250514,keeptrusts.endpoint=chat,keeptrusts.route=smart":   1,
		"error.type=model_not_found,gen_ai.operation.name=chat,keeptrusts.endpoint=chat":                                                                         3,
	})
}
