package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
)

// healthView is GET /health as a client reads it.
type healthView struct {
	code      int
	Status    string `json:"status"`
	Providers map[string]struct {
		Status              string            `json:"status"`
		Reason              string            `json:"reason"`
		ConsecutiveFailures int64             `json:"consecutive_failures"`
		LastCheck           *string           `json:"last_check"`
		Cooldowns           map[string]string `json:"cooldowns"`
	} `json:"providers"`
}

func getHealth(t *testing.T, url string) healthView {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := healthView{code: resp.StatusCode}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("/health: %v: %s", err, b)
	}
	return h
}

// rateLimitModel answers 429 with Retry-After for one model and normally
// for the others, as providers rate-limit per model.
func rateLimitModel(limited string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, model string) {
		if model == limited {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
			return
		}
		okAnswer(w, r, model)
	}
}

// TestHealthAgreesWithRouting checks that /health says what routing does
// with each provider right after requests failed over: real request
// failures count in consecutive_failures, an open circuit makes the
// provider unhealthy with its reason even while its probes are healthy, a
// Retry-After cooldown benches only its model, and the top-level status is
// counted from the providers' (issue 25 point 6). Probes are enabled but not
// started, as in the first seconds after an outage began.
func TestHealthAgreesWithRouting(t *testing.T) {
	type provider struct {
		status, reason string
		failures       int64
		cooldowns      []string
	}
	tests := []struct {
		name              string
		primary, fallback func(http.ResponseWriter, *http.Request, string)
		breakerFailures   int
		requests          []string // models
		status            string
		code              int
		primaryWant       provider
		fallbackWant      provider
	}{
		{
			name: "request failures count before the circuit opens", primary: failWith(500), fallback: okAnswer,
			breakerFailures: 5, requests: []string{"gpt-4o-mini", "gpt-4o-mini"},
			status: "healthy", code: 200,
			primaryWant: provider{status: "healthy", failures: 2}, fallbackWant: provider{status: "healthy"},
		},
		{
			name: "an open circuit makes the provider unhealthy", primary: failWith(503), fallback: okAnswer,
			breakerFailures: 3, requests: []string{"gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini"},
			status: "degraded", code: 200,
			primaryWant: provider{status: "unhealthy", reason: "circuit_open", failures: 3}, fallbackWant: provider{status: "healthy"},
		},
		{
			name: "a cooldown benches its model only", primary: rateLimitModel("gpt-4o-mini"), fallback: okAnswer,
			breakerFailures: 5, requests: []string{"gpt-4o-mini", "gpt-4o"},
			status: "healthy", code: 200,
			primaryWant: provider{status: "healthy", cooldowns: []string{"gpt-4o-mini"}}, fallbackWant: provider{status: "healthy"},
		},
		{
			name: "every circuit open", primary: failWith(500), fallback: failWith(502),
			breakerFailures: 1, requests: []string{"gpt-4o-mini"},
			status: "unhealthy", code: 503,
			primaryWant:  provider{status: "unhealthy", reason: "circuit_open", failures: 1},
			fallbackWant: provider{status: "unhealthy", reason: "circuit_open", failures: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, tt.primary, tt.fallback, harnessOptions{mutate: func(f *config.File) {
				for i := range f.Providers.Targets {
					tg := &f.Providers.Targets[i]
					tg.HealthCheck.Enabled = nil // on, as in the tutorial (not started here)
					tg.CircuitBreaker.ConsecutiveFailures = tt.breakerFailures
				}
			}})
			for _, m := range tt.requests {
				resp, b := h.post(t, `{"model":"`+m+`","messages":[{"role":"user","content":"hi"}]}`)
				if resp.StatusCode != 200 && resp.StatusCode != 503 {
					t.Fatalf("request %s: %d %s", m, resp.StatusCode, b)
				}
			}
			got := getHealth(t, h.srv.URL)
			if got.Status != tt.status || got.code != tt.code {
				t.Errorf("top level = %s (HTTP %d), want %s (%d)", got.Status, got.code, tt.status, tt.code)
			}
			healthy := 0
			for id, want := range map[string]provider{"openai-primary": tt.primaryWant, "openai-fallback": tt.fallbackWant} {
				p := got.Providers[id]
				var cds []string
				for m, until := range p.Cooldowns {
					if _, err := time.Parse(time.RFC3339, until); err != nil || !strings.HasSuffix(until, "Z") {
						t.Errorf("%s cooldown of %s until %q: not RFC3339 UTC", id, m, until)
					}
					cds = append(cds, m)
				}
				if p.Status != want.status || p.Reason != want.reason || p.ConsecutiveFailures != want.failures || fmt.Sprint(cds) != fmt.Sprint(want.cooldowns) {
					t.Errorf("%s = %+v, want %+v", id, p, want)
				}
				if p.Status == "healthy" {
					healthy++
				}
			}
			// The top level is the providers' verdict, never a third opinion.
			agree := map[int]string{0: "unhealthy", 1: "degraded", 2: "healthy"}[healthy]
			if got.Status != agree {
				t.Errorf("top level %s disagrees with %d healthy providers", got.Status, healthy)
			}
		})
	}
}
