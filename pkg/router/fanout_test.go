package router

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// TestFanOutBreakerStates runs n > 1 on an Anthropic target whose breaker
// is closed or half-open: half-open admits only its trials, so the trials
// go first and the other calls follow once they succeeded; a failed trial
// costs one call and leaves the circuit open.
func TestFanOutBreakerStates(t *testing.T) {
	tests := []struct {
		name       string
		halfOpen   bool
		trials     int // half_open_requests
		n          int
		fail       bool // the simulator answers 500
		wantStatus int  // 0: every target failed (*Error)
		wantCalls  int64
		wantState  string
	}{
		{name: "closed: every call at once", n: 2, trials: 1, wantStatus: 200, wantCalls: 2, wantState: "closed"},
		{name: "half-open: the trial first, then the rest", halfOpen: true, trials: 1, n: 2, wantStatus: 200, wantCalls: 2, wantState: "closed"},
		{name: "half-open with two trials and n = 3", halfOpen: true, trials: 2, n: 3, wantStatus: 200, wantCalls: 3, wantState: "closed"},
		{name: "half-open: a failed trial makes no other call", halfOpen: true, trials: 1, n: 3, fail: true, wantCalls: 1, wantState: "open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sim.New(sim.Options{Kind: sim.KindAnthropic})
			srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			// The breaker's clock runs an hour behind while the circuit
			// trips: the open period is over at once for Admit (real time).
			var behind atomic.Int64
			behind.Store(int64(time.Hour))
			h := health.NewTarget(health.Options{ID: "claude",
				Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: 1, OpenTimeout: time.Minute, HalfOpenRequests: tt.trials},
				Now:     func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) },
			})
			target := &Target{ID: "claude", Priority: 1, Adapter: anthropic.New(),
				Endpoint: &provider.Endpoint{BaseURL: srv.URL(), APIKey: "sk-ant", DefaultMaxTokens: 64, Version: "2023-06-01"},
				Client:   &http.Client{Transport: tr}, Health: h}
			if tt.halfOpen {
				done, skip := h.Admit(time.Now(), "m")
				if skip != classify.None {
					t.Fatalf("admit: %s", skip)
				}
				done(classify.Outcome{Reason: classify.UpstreamError, Status: 500, Retryable: true, CountsAgainst: true})
				behind.Store(0)
				if st := h.BreakerState(); st != "half-open" {
					t.Fatalf("breaker %s, want half-open", st)
				}
			}
			if tt.fail {
				s.SetFault(sim.Fault{Kind: sim.FaultError, Status: 500})
			}
			obs := &lockedObserver{}
			r := New([]*Target{target}, settings(0), obs)
			body := `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}],"n":` + strconv.Itoa(tt.n) + `}`
			res, err := r.Do(context.Background(), &Request{Body: []byte(body), Model: "claude-sonnet-4-20250514"})
			var rerr *Error
			switch {
			case tt.wantStatus == 0:
				if !errors.As(err, &rerr) {
					t.Fatalf("got %v %v, want an *Error", res, err)
				}
			case err != nil:
				t.Fatalf("Do: %v", err)
			default:
				defer res.Release()
				if res.Status != tt.wantStatus || len(gjson.GetBytes(res.Body, "choices").Array()) != tt.n {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				for _, a := range res.Attempts {
					if !a.Outcome.OK() || a.Skipped {
						t.Fatalf("attempt %+v", a)
					}
				}
			}
			if got := s.Stats().ChatRequests; got != tt.wantCalls {
				t.Fatalf("simulator saw %d calls, want %d", got, tt.wantCalls)
			}
			obs.mu.Lock()
			ended := len(obs.ends)
			obs.mu.Unlock()
			if ended != int(tt.wantCalls) {
				t.Fatalf("%d attempts observed, want %d", ended, tt.wantCalls)
			}
			if st := h.BreakerState(); st != tt.wantState {
				t.Fatalf("breaker %s, want %s", st, tt.wantState)
			}
		})
	}
}
