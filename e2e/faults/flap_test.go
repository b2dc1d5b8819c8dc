package faults

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/internal/proctest"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// The flapping primary scaled down: probes every second instead of
// five, an outage of six probe intervals instead of twelve, and sparse
// traffic at the ratio (one request every 4/5 of a probe interval).
const (
	probeInterval = time.Second
	outage        = 6 * probeInterval
	sparseGap     = 4 * probeInterval / 5
	// loadWorkers send requests back to back (a short pause each): bounded
	// load that the machine's other tests can live with.
	loadWorkers = 4
	loadPause   = 50 * time.Millisecond
	// probeJitter is the probes' ±10% interval jitter (README).
	probeJitter = probeInterval / 10
)

// flapConfig is the configuration with probes every second,
// healthy_threshold 2 and a circuit whose open period (60 s) is far longer
// than the test: only probe evidence can bring the primary back in time.
func flapConfig(p, f, store string) string {
	return fmt.Sprintf(`version: '1'
providers:
  targets:
    - id: %s
      provider: openai
      base_url: %s
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check:
        interval_seconds: %g
        timeout_seconds: 0.5
        unhealthy_threshold: 2
        healthy_threshold: 2
      circuit_breaker:
        consecutive_failures: 3
        open_seconds: 60
    - id: %s
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
  failover:
    first_token_timeout_seconds: %g
    stream_idle_timeout_seconds: %g
    midstream:
      enabled: true
    on_context_length_exceeded: failover
    model_mapping:
      gpt-4o-mini: claude-sonnet-4-20250514
    retry:
      max_attempts: 1
      timeout_seconds: %g
      same_target:
        max_retries: 1
        max_retry_after_seconds: 5
server:
  port: 0
events:
  path: %s
`, primaryID, p, probeInterval.Seconds(), fallbackID, f, firstToken.Seconds(), streamIdle.Seconds(), attemptTimeout.Seconds(), store)
}

// TestPrimaryFlaps takes the primary down (its listener closed: connection
// refused, probes included) and brings it back, with sparse traffic and
// under load. Every request must be answered in full; after the recovery
// traffic must be back on the primary within two probe intervals (plus the
// probes' jitter and, for sparse traffic, the wait for the next request)
// and stay there, although the circuit's own timer would keep it open for
// a minute.
func TestPrimaryFlaps(t *testing.T) {
	needKT(t)
	t.Parallel()
	for _, tc := range []struct {
		name    string
		workers int
		pause   time.Duration
	}{
		{"sparse", 1, sparseGap},
		{"load", loadWorkers, loadPause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runFlap(t, tc.workers, tc.pause)
		})
	}
}

func runFlap(t *testing.T, workers int, pause time.Duration) {
	s := startStack(t, flapConfig)
	prompt := "Flapping primary, " + t.Name() + "."

	// Bounded traffic: each worker sends until stop is closed.
	var (
		mu      sync.Mutex
		replies []reply
		errs    []error
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := s.send("gpt-4o-mini", prompt, false)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					replies = append(replies, r)
				}
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	time.Sleep(2 * probeInterval)
	down := time.Now()
	proctest.Admin(t, http.MethodPut, s.primary.admin+"/fault", sim.Fault{Kind: sim.FaultDown})
	time.Sleep(outage)
	proctest.Admin(t, http.MethodDelete, s.primary.admin+"/fault", nil)
	up := time.Now()
	time.Sleep(2*probeInterval + 2*probeJitter + sparseGap + 3*time.Second)
	close(stop)
	wg.Wait()

	for _, err := range errs {
		t.Error(err)
	}
	// Every request was answered in full, by one target or the other.
	var onFallback int
	back := time.Time{} // when the first request sent after the recovery came back from the primary
	for _, r := range replies {
		checkNoTruncatedSuccess(t, r, prompt)
		if r.status != http.StatusOK {
			t.Errorf("request at %s: %d %s", r.start.Sub(down).Round(time.Millisecond), r.status, r.body)
			continue
		}
		kind := map[string]sim.Kind{primaryID: sim.KindOpenAI, fallbackID: sim.KindAnthropic}[r.provider]
		if r.text != answer(kind, prompt) {
			t.Errorf("answer %q from %q", r.text, r.provider)
		}
		switch {
		case r.provider == fallbackID:
			onFallback++
			if r.start.Before(down) {
				t.Errorf("request before the outage answered by the fallback")
			}
		case r.start.After(up) && (back.IsZero() || r.start.Add(r.elapsed).Before(back)):
			back = r.start.Add(r.elapsed)
		}
	}
	if onFallback == 0 {
		t.Errorf("no request was failed over during the outage")
	}
	if back.IsZero() {
		t.Fatalf("traffic never came back to the primary after its recovery")
	}
	// Sparse traffic may wait one gap more for its next request to show it.
	bound := 2*probeInterval + 2*probeJitter + time.Second
	if pause > loadPause {
		bound += pause
	}
	took := back.Sub(up)
	t.Logf("%d requests, %d failed over; back on the primary %s after its recovery (bound %s)", len(replies), onFallback, took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("traffic back on the primary %s after its recovery, want within %s", took, bound)
	}
	// And it stays there: no request sent after that goes to the fallback.
	for _, r := range replies {
		if r.start.After(back) && r.provider != primaryID {
			t.Errorf("request at +%s after the return answered by %q", r.start.Sub(back).Round(time.Millisecond), r.provider)
		}
	}

	// The events agree: every request has one, and those answered by the
	// fallback say why the primary was left.
	evs := s.events(t)
	for deadline := time.Now().Add(5 * time.Second); len(evs) < len(replies) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // the writer flushes every 200 ms
		evs = s.events(t)
	}
	if len(evs) != len(replies) {
		t.Errorf("%d events for %d requests", len(evs), len(replies))
	}
	reasons := map[string]int{}
	for _, e := range evs {
		if e.Provider == fallbackID {
			reasons[string(e.Failover.Reason)]++
			if !e.Failover.Triggered || e.Failover.OriginalProvider != primaryID {
				t.Errorf("event %s answered by the fallback without a failover from the primary: %+v", e.ID, e.Failover)
			}
		}
	}
	for r := range reasons {
		switch r {
		case "connection_error", "circuit_open", "provider_unhealthy":
		default:
			t.Errorf("failover reason %q during an outage of refused connections", r)
		}
	}
	t.Logf("failover reasons: %v", reasons)
}
