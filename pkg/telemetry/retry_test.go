package telemetry

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/router"
)

// TestRetriesMetricAndSpans: every same-target retry is an attempt span
// marked as a retry and one keeptrusts.retries point by target and reason.
func TestRetriesMetricAndSpans(t *testing.T) {
	var calls atomic.Int64
	primary := newUpstream(t, func(w http.ResponseWriter, r *http.Request, model string) {
		switch calls.Add(1) {
		case 1:
			status(500)(w, r, model)
		case 2:
			status(429)(w, r, model)
		default:
			answer(w, r, model)
		}
	})
	fallback := newUpstream(t, answer)
	h := newHarness(t, nil, nil)
	s := settings()
	s.SameTarget = router.SameTargetRetry{MaxRetries: 2, Backoff: time.Millisecond, MaxRetryAfter: time.Second}
	rt := router.New([]*router.Target{
		newTarget(t, h.tel, "openai-primary", "openai", 1, primary.URL, 0),
		newTarget(t, h.tel, "anthropic-fallback", "openai", 2, fallback.URL, 0),
	}, s, h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()
	if resp, body := post(t, srv, chatBody); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}

	spans := h.waitSpans(t, "POST /v1/chat/completions")
	attempts := byName(spans, "chat gpt-4o-mini")
	if len(attempts) != 3 {
		t.Fatalf("%d attempt spans, want 3: %v", len(attempts), spanNames(spans))
	}
	noAttrs(t, "first try", attempts[0].Attributes(), "keeptrusts.retry", "keeptrusts.retry.reason", "keeptrusts.retry.wait")
	wantAttrs(t, "first retry", attempts[1].Attributes(), map[string]any{"keeptrusts.retry": int64(1), "keeptrusts.retry.reason": "upstream_error", "keeptrusts.attempt": int64(2), "error.type": "rate_limited"})
	wantAttrs(t, "second retry", attempts[2].Attributes(), map[string]any{"keeptrusts.retry": int64(2), "keeptrusts.retry.reason": "rate_limited", "keeptrusts.attempt": int64(3)})
	if len(byName(spans, SpanFailover)) != 0 {
		t.Errorf("a retry on the same target recorded a failover span")
	}

	ms := h.collect(t)
	wantPoints(t, ms, MetricRetries, "{retry}", map[string]float64{
		"reason=upstream_error,target=openai-primary": 1,
		"reason=rate_limited,target=openai-primary":   1,
	})
	wantPoints(t, ms, MetricAttempts, "{attempt}", map[string]float64{
		"outcome=upstream_error,skipped=false,target=openai-primary": 1,
		"outcome=rate_limited,skipped=false,target=openai-primary":   1,
		"outcome=ok,skipped=false,target=openai-primary":             1,
	})
}
