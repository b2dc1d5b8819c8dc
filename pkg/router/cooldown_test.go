package router

import (
	"context"
	"net/http"
	"testing"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// TestCooldownPerModel checks that a 429 with Retry-After benches the target
// for the upstream model it was given for only (issue 17: providers
// rate-limit per model): another model keeps going to the primary, and the
// limited one skips it without a request until the cooldown ends.
func TestCooldownPerModel(t *testing.T) {
	p := newUpstream(t, func(w http.ResponseWriter, r *http.Request, model string) {
		if model == "gpt-4o-mini" {
			status(429, "Retry-After", "30")(w, r, model)
			return
		}
		answer(w, r, model)
	})
	fb := newUpstream(t, answer)
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
	steps := []struct {
		model        string
		wantProvider string
		wantReason   classify.Reason
		wantSkipped  bool  // the primary was skipped without a request
		primaryCalls int64 // total after the step
	}{
		{"gpt-4o-mini", "fallback", classify.RateLimited, false, 1},
		{"gpt-4o", "primary", classify.None, false, 2},
		{"gpt-4o-mini", "fallback", classify.RateLimited, true, 2},
		{"gpt-4o", "primary", classify.None, false, 3},
	}
	for i, s := range steps {
		req := chatReq(false)
		req.Model = s.model
		req.Body = []byte(`{"model":"` + s.model + `","messages":[{"role":"user","content":"hi"}]}`)
		res, err := r.Do(context.Background(), req)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.model, err)
		}
		if res.Target.ID != s.wantProvider || res.Failover.Reason != s.wantReason || res.Attempts[0].Skipped != s.wantSkipped {
			t.Fatalf("step %d (%s): answered by %s, failover %+v, first attempt skipped %v; want %s %q skipped %v",
				i, s.model, res.Target.ID, res.Failover, res.Attempts[0].Skipped, s.wantProvider, s.wantReason, s.wantSkipped)
		}
		if got := p.calls.Load(); got != s.primaryCalls {
			t.Fatalf("step %d (%s): primary saw %d requests, want %d", i, s.model, got, s.primaryCalls)
		}
	}
}
