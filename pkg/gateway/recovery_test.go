package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// recoveryCfg is the recovery scenario scaled down 25 times: probes
// every 200 ms (5 s), healthy_threshold 2, and an open period of 30 s that
// the scenario must never wait for.
const recoveryCfg = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {interval_seconds: 0.2, timeout_seconds: 0.2, unhealthy_threshold: 3, healthy_threshold: 2}
      circuit_breaker: {consecutive_failures: 2, open_seconds: 30}
    - id: anthropic-fallback
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
  failover:
    model_mapping:
      gpt-4o-mini: claude-sonnet-4-20250514
    retry: {max_attempts: 1, timeout_seconds: 5}
`

// answered is one response the traffic loop saw.
type answered struct {
	at       time.Time // when the request was sent
	provider string
	status   int
}

// TestRecoveryOnProbeEvidence checks "recovery on evidence" (issue 17):
// the primary goes down long enough for its circuit to open and its probes
// to fail, then comes back; healthy_threshold passing probes must bring
// traffic back to it long before open_seconds (30 s) elapse, with sparse
// traffic (no request to sacrifice as a trial) and under load. Without
// probe evidence the circuit would keep the primary out for the full 30 s.
//
// The scenario is the (60 s outage, probes every 5 s, a request
// every 4 s; back within 2 probe intervals) scaled down 25 times. The test
// asserts only a generous bound (a third of open_seconds) and logs the
// measured time to recovery in probe intervals.
func TestRecoveryOnProbeEvidence(t *testing.T) {
	const (
		probeInterval = 200 * time.Millisecond
		outage        = 12 * probeInterval // 60 s / 5 s
		bound         = 10 * time.Second   // open_seconds / 3
	)
	tests := []struct {
		name    string
		clients int
		gap     time.Duration // between one client's requests
	}{
		{"sparse traffic", 1, 160 * time.Millisecond}, // 4 s / 25
		{"under load", 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSimPair(t)
			gw, srv := simGateway(t, fmt.Appendf(nil, recoveryCfg, p.primarySrv.URL(), p.fallbackSrv.URL()))
			probes := startProbeRun(gw.rt.Load().probes)
			t.Cleanup(probes.stop) // before the gateway closes (cleanups run last first)
			primary := gw.rt.Load().targets[0].Health

			var (
				mu   sync.Mutex
				seen []answered
				wg   sync.WaitGroup
			)
			stop := make(chan struct{})
			for range tt.clients {
				wg.Go(func() {
					for range 20000 { // bounds a broken test; stop ends it
						select {
						case <-stop:
							return
						default:
						}
						at := time.Now()
						a := answered{at: at}
						resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
							strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`))
						if err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							_ = resp.Body.Close()
							a.status, a.provider = resp.StatusCode, resp.Header.Get("X-Keeptrusts-Provider")
						}
						mu.Lock()
						seen = append(seen, a)
						mu.Unlock()
						if tt.gap > 0 {
							select {
							case <-stop:
								return
							case <-time.After(tt.gap):
							}
						}
					}
				})
			}
			defer func() { close(stop); wg.Wait() }()

			down := time.Now()
			p.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
			waitUntil(t, "the primary's circuit to open and its probes to fail", func() bool {
				s := primary.Snapshot()
				return s.Breaker == "open" && !s.ProbeHealthy
			})
			time.Sleep(time.Until(down.Add(outage)))
			if s := primary.Snapshot(); s.Breaker != "open" {
				t.Fatalf("circuit %s at the end of the outage, want open (the 30 s period is not over)", s.Breaker)
			}

			up := time.Now()
			p.primary.SetFault(sim.Fault{Kind: sim.FaultNone})
			var back, lifted time.Time
			deadline := up.Add(bound)
			for back.IsZero() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				if lifted.IsZero() && primary.Snapshot().Breaker != "open" {
					lifted = time.Now()
				}
				mu.Lock()
				for _, a := range seen {
					if a.provider == "openai-primary" && a.at.After(up) {
						back = a.at
						break
					}
				}
				mu.Unlock()
			}
			s := primary.Snapshot()
			if back.IsZero() {
				t.Fatalf("traffic not back on the primary %v after it recovered (open_seconds is 30 s); circuit %s, probes healthy %v",
					bound, s.Breaker, s.ProbeHealthy)
			}
			took := back.Sub(up)
			if lifted.IsZero() {
				lifted = back // the trial closed the circuit between two polls
			}
			t.Logf("%s: outage %v; circuit left open %v after recovery (%.1f probe intervals of %v); traffic back on the primary %v after recovery (%.1f intervals); circuit %s",
				tt.name, outage, lifted.Sub(up).Round(time.Millisecond), float64(lifted.Sub(up))/float64(probeInterval), probeInterval,
				took.Round(time.Millisecond), float64(took)/float64(probeInterval), s.Breaker)

			mu.Lock()
			defer mu.Unlock()
			for _, a := range seen {
				if a.status != 200 {
					t.Fatalf("a request got status %d (0: no answer): the fallback should have served it", a.status)
				}
			}
		})
	}
}
