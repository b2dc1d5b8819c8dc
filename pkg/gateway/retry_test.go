package gateway

import (
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
)

// TestSameTargetRetryEvent: with failover.retry.same_target.max_retries 1
// a single 500 is answered by the primary on its retry, and the event lists
// both attempts, the second marked as the retry.
func TestSameTargetRetryEvent(t *testing.T) {
	var calls atomic.Int64
	h := newHarnessWith(t, func(w http.ResponseWriter, r *http.Request, m string) {
		if calls.Add(1) == 1 {
			failWith(500)(w, r, m)
			return
		}
		okAnswer(w, r, m)
	}, okAnswer, harnessOptions{mutate: func(c *config.File) {
		c.Providers.Failover.Retry.SameTarget = config.SameTargetRetry{MaxRetries: 1, BackoffMS: 1, MaxRetryAfterSeconds: 5}
	}})
	resp, b := h.post(t, tutorialReq)
	a := decode(t, b)
	if resp.StatusCode != 200 || a.Metadata.Provider != "openai-primary" || a.Metadata.Failover.Triggered {
		t.Fatalf("status %d answer %s", resp.StatusCode, b)
	}
	var evs []events.Event
	waitUntil(t, "1 event", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 1 })
	got := evs[0].Attempts
	want := []events.Attempt{
		{Target: "openai-primary", Model: "gpt-4o-mini", Outcome: "upstream_error", Status: 500},
		{Target: "openai-primary", Model: "gpt-4o-mini", Outcome: "ok", Retry: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("event attempts %+v, want %+v", got, want)
	}
	for i := range want {
		got[i].DurationMS = 0
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event attempt %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if evs[0].Failover.Triggered || evs[0].Provider != "openai-primary" {
		t.Fatalf("event %+v", evs[0])
	}
	if !strings.Contains(h.logs.String(), " retry target=openai-primary retry=1 reason=upstream_error") {
		t.Fatalf("retry not logged:\n%s", h.logs)
	}
}

const tooLong = `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`

// TestContextLengthThroughGateway: on_context_length_exceeded reaches the
// router from the configuration, and the answer and the event say what
// happened.
func TestContextLengthThroughGateway(t *testing.T) {
	for _, mode := range []string{config.OnContextLengthReturn, config.OnContextLengthFailover} {
		t.Run(mode, func(t *testing.T) {
			h := newHarnessWith(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_, _ = w.Write([]byte(tooLong))
			}, okAnswer, harnessOptions{mutate: func(c *config.File) { c.Providers.Failover.OnContextLengthExceeded = mode }})
			resp, b := h.post(t, tutorialReq)
			a := decode(t, b)
			var evs []events.Event
			waitUntil(t, "1 event", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 1 })
			e := evs[0]
			if mode == config.OnContextLengthReturn {
				if resp.StatusCode != 400 || a.Error == nil || a.Error.Code == nil || *a.Error.Code != "context_length_exceeded" {
					t.Fatalf("status %d answer %s", resp.StatusCode, b)
				}
				h.fallback.mu.Lock()
				fallbackCalls := len(h.fallback.bodies)
				h.fallback.mu.Unlock()
				if fallbackCalls != 0 || e.Status != 400 || len(e.Attempts) != 1 || e.Attempts[0].Outcome != "context_length" {
					t.Fatalf("fallback calls %d, event %+v", fallbackCalls, e)
				}
				return
			}
			if resp.StatusCode != 200 || a.Metadata.Provider != "openai-fallback" || a.Metadata.Failover.Reason != "context_length" || a.Model != "gpt-4o" {
				t.Fatalf("status %d answer %s", resp.StatusCode, b)
			}
			if e.Status != 200 || !e.Failover.Triggered || e.Failover.Reason != "context_length" || len(e.Attempts) != 2 || e.Attempts[0].Outcome != "context_length" {
				t.Fatalf("event %+v", e)
			}
		})
	}
}
