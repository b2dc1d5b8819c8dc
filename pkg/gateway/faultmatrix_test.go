package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// simPair is an OpenAI-shaped primary and an Anthropic-shaped fallback, both
// real kt sim servers on 127.0.0.1.
type simPair struct {
	primary, fallback       *sim.Sim
	primarySrv, fallbackSrv *sim.Server
}

const (
	simOpenAIKey    = "sk-canary-openai-77f1"
	simAnthropicKey = "sk-ant-canary-anthropic-2c9e"
)

func newSimPair(t *testing.T) *simPair {
	t.Helper()
	p := &simPair{
		primary:  sim.New(sim.Options{Kind: sim.KindOpenAI, ExpectKey: simOpenAIKey}),
		fallback: sim.New(sim.Options{Kind: sim.KindAnthropic, ExpectKey: simAnthropicKey}),
	}
	var err error
	if p.primarySrv, err = sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", p.primary); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.primarySrv.Close() })
	if p.fallbackSrv, err = sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", p.fallback); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.fallbackSrv.Close() })
	return p
}

const simCfg = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: %t, interval_seconds: 0.05, timeout_seconds: 0.05, unhealthy_threshold: 1, healthy_threshold: 1}
      circuit_breaker: {consecutive_failures: %d, open_seconds: 0.2}
    - id: anthropic-fallback
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
  failover:
    model_mapping:
      gpt-4o-mini: claude-sonnet-4-20250514
    retry: {max_attempts: 1, timeout_seconds: %g}
    first_token_timeout_seconds: %g
    request_timeout_seconds: 60
`

func (p *simPair) gateway(t *testing.T, probes bool, breakerFailures int, timeout, firstToken float64) (*Gateway, *httptest.Server) {
	t.Helper()
	return simGateway(t, fmt.Appendf(nil, simCfg, p.primarySrv.URL(), probes, breakerFailures, p.fallbackSrv.URL(), timeout, firstToken))
}

// simGateway starts a gateway on the configuration data (whose targets read
// the simulators' keys), its events in the test's own store, and an HTTP
// server for it; both are closed when the test ends.
func simGateway(t *testing.T, data []byte, opts ...Option) (*Gateway, *httptest.Server) {
	t.Helper()
	env := []string{"OPENAI_API_KEY=" + simOpenAIKey, "ANTHROPIC_API_KEY=" + simAnthropicKey}
	cfg, problems, err := config.Load(config.LoadOptions{Data: data, Environ: env})
	if err != nil || problems.Err() != nil {
		t.Fatalf("config: %v %v", err, problems)
	}
	cfg.Events.Path = filepath.Join(t.TempDir(), "events.db")
	gw, err := New(cfg, env, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := gw.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return gw, srv
}

type outcome struct {
	status                  int
	provider, model, reason string
	body                    string
}

func chat(t *testing.T, url string, stream bool) outcome {
	t.Helper()
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]`
	if stream {
		body += `,"stream":true`
	}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body+"}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, body: string(b)}
	if resp.StatusCode == 200 {
		o.provider, o.model, o.reason = resp.Header.Get("X-Keeptrusts-Provider"), resp.Header.Get("X-Keeptrusts-Model"), resp.Header.Get("X-Keeptrusts-Failover-Reason")
	}
	return o
}

// TestFaultMatrix runs every fault of the primary, streaming and not, and
// checks the status, who answered, the failover reason and how many upstream
// attempts each provider saw.
func TestFaultMatrix(t *testing.T) {
	p := newSimPair(t)
	tests := []struct {
		name   string
		fault  sim.Fault
		stream []bool // modes this row applies to
		// expectations
		status           int
		provider, reason string
		primaryCalls     int64
		fallbackCalls    int64
		streamBroken     bool // stream committed on the primary, then broke
	}{
		{name: "healthy", fault: sim.Fault{Kind: sim.FaultNone}, stream: both, status: 200, provider: "openai-primary", primaryCalls: 1},
		{name: "down", fault: sim.Fault{Kind: sim.FaultDown}, stream: both, status: 200, provider: "anthropic-fallback", reason: "connection_error", fallbackCalls: 1},
		{name: "reset", fault: sim.Fault{Kind: sim.FaultReset}, stream: both, status: 200, provider: "anthropic-fallback", reason: "connection_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "hang", fault: sim.Fault{Kind: sim.FaultHang}, stream: both, status: 200, provider: "anthropic-fallback", reason: "upstream_timeout", primaryCalls: 1, fallbackCalls: 1},
		{name: "slow first token", fault: sim.Fault{Kind: sim.FaultSlowFirstToken, Delay: 5 * time.Second}, stream: both, status: 200, provider: "anthropic-fallback", reason: "upstream_timeout", primaryCalls: 1, fallbackCalls: 1},
		{name: "500", fault: sim.Fault{Kind: sim.FaultError, Status: 500}, stream: both, status: 200, provider: "anthropic-fallback", reason: "upstream_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "503", fault: sim.Fault{Kind: sim.FaultError, Status: 503}, stream: both, status: 200, provider: "anthropic-fallback", reason: "upstream_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "429 with Retry-After", fault: sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: 1}, stream: both, status: 200, provider: "anthropic-fallback", reason: "rate_limited", primaryCalls: 1, fallbackCalls: 1},
		{name: "401 wrong key", fault: sim.Fault{Kind: sim.FaultWrongKey}, stream: both, status: 200, provider: "anthropic-fallback", reason: "auth_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "403", fault: sim.Fault{Kind: sim.FaultError, Status: 403}, stream: both, status: 200, provider: "anthropic-fallback", reason: "auth_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "400 client error", fault: sim.Fault{Kind: sim.FaultError, Status: 400}, stream: both, status: 400, primaryCalls: 1},
		{name: "422 client error", fault: sim.Fault{Kind: sim.FaultError, Status: 422}, stream: both, status: 422, primaryCalls: 1},
		{name: "reset before first byte", fault: sim.Fault{Kind: sim.FaultResetMidStream, AfterChunks: 0}, stream: both, status: 200, provider: "anthropic-fallback", reason: "connection_error", primaryCalls: 1, fallbackCalls: 1},
		{name: "reset after first byte", fault: sim.Fault{Kind: sim.FaultResetMidStream, AfterChunks: 2}, stream: []bool{true}, status: 200, provider: "openai-primary", primaryCalls: 1, streamBroken: true},
		{name: "error event before first byte", fault: sim.Fault{Kind: sim.FaultStreamError, AfterChunks: 0}, stream: []bool{true}, status: 200, provider: "anthropic-fallback", reason: "upstream_error", primaryCalls: 1, fallbackCalls: 1},
	}
	for _, tc := range tests {
		for _, stream := range tc.stream {
			t.Run(fmt.Sprintf("%s/stream=%t", tc.name, stream), func(t *testing.T) {
				p.settle(t)
				p.primary.SetFault(tc.fault)
				p.primary.ResetStats()
				p.fallback.ResetStats()
				defer p.primary.SetFault(sim.Fault{Kind: sim.FaultNone})
				// Timeouts leave room for a loaded CI machine under -race.
				_, srv := p.gateway(t, false, 100, 1.5, 0.75)
				o := chat(t, srv.URL, stream)
				if o.status != tc.status || o.provider != tc.provider || o.reason != tc.reason {
					t.Fatalf("got status %d provider %q reason %q; want %d %q %q\n%s", o.status, o.provider, o.reason, tc.status, tc.provider, tc.reason, o.body)
				}
				if tc.provider == "anthropic-fallback" && o.model != "claude-sonnet-4-20250514" {
					t.Fatalf("model %q on the fallback", o.model)
				}
				// The simulator counts a request when its handler returns, which
				// for a reset or a hang can be after the gateway moved on.
				p.settle(t)
				if got := p.primary.Stats().ChatRequests; got != tc.primaryCalls {
					t.Fatalf("primary saw %d chat requests, want %d", got, tc.primaryCalls)
				}
				if got := p.fallback.Stats().ChatRequests; got != tc.fallbackCalls {
					t.Fatalf("fallback saw %d chat requests, want %d", got, tc.fallbackCalls)
				}
				switch {
				case stream && o.status == 200 && !tc.streamBroken:
					if !strings.HasSuffix(o.body, "data: [DONE]\n\n") || !strings.Contains(o.body, "Paris") {
						t.Fatalf("stream incomplete: %q", o.body)
					}
				case tc.streamBroken:
					if strings.Contains(o.body, "[DONE]") || !strings.Contains(o.body, `"code":"stream_interrupted"`) {
						t.Fatalf("a broken stream must end with an error event, not [DONE]: %q", o.body)
					}
				case o.status == 200:
					if !strings.Contains(o.body, "Paris") || !strings.Contains(o.body, `"keeptrusts_metadata"`) {
						t.Fatalf("answer: %s", o.body)
					}
				default:
					if !strings.Contains(o.body, `"error"`) {
						t.Fatalf("client error body: %s", o.body)
					}
				}
			})
		}
	}
}

var both = []bool{false, true}

// settle waits until neither simulator has a request in flight.
func (p *simPair) settle(t *testing.T) {
	t.Helper()
	waitUntil(t, "simulators idle", func() bool { return p.primary.Stats().InFlight == 0 && p.fallback.Stats().InFlight == 0 })
}

// TestProbesMarkUnhealthyAndRecover checks active health end to end against
// the simulator: a wrong key turns the primary unhealthy after the threshold,
// requests then skip it without an attempt, and a fixed key brings traffic back.
func TestProbesMarkUnhealthyAndRecover(t *testing.T) {
	p := newSimPair(t)
	gw, srv := p.gateway(t, true, 100, 5, 0)
	probes := startProbeRun(gw.rt.Load().probes)
	defer probes.stop()

	p.primary.SetFault(sim.Fault{Kind: sim.FaultWrongKey})
	waitUntil(t, "primary unhealthy", func() bool { return !gw.rt.Load().targets[0].Health.Snapshot().Healthy })
	p.primary.ResetStats()
	o := chat(t, srv.URL, false)
	if o.provider != "anthropic-fallback" || o.reason != "provider_unhealthy" || p.primary.Stats().ChatRequests != 0 {
		t.Fatalf("unhealthy primary not skipped: %+v, %d primary calls", o, p.primary.Stats().ChatRequests)
	}
	p.primary.SetFault(sim.Fault{Kind: sim.FaultNone})
	waitUntil(t, "primary healthy", func() bool { return gw.rt.Load().targets[0].Health.Snapshot().Healthy })
	if o := chat(t, srv.URL, false); o.provider != "openai-primary" || o.reason != "" {
		t.Fatalf("traffic not back on the primary: %+v", o)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentFlappingPrimary sends 200 concurrent requests while the
// primary flips between up and down: every request succeeds (the fallback
// is up) and none makes more than 1 + max_attempts upstream attempts.
func TestConcurrentFlappingPrimary(t *testing.T) {
	p := newSimPair(t)
	// Generous timeouts: 200 requests under -race on two cores are slow,
	// and only the primary's faults are under test.
	_, srv := p.gateway(t, false, 3, 30, 0)
	stop := make(chan struct{})
	var flips sync.WaitGroup
	flips.Add(1)
	go func() {
		defer flips.Done()
		faults := []sim.Fault{{Kind: sim.FaultError, Status: 503}, {Kind: sim.FaultNone}, {Kind: sim.FaultReset}, {Kind: sim.FaultNone}, {Kind: sim.FaultDown}, {Kind: sim.FaultNone}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				p.primary.SetFault(sim.Fault{Kind: sim.FaultNone})
				return
			case <-time.After(5 * time.Millisecond):
			}
			p.primary.SetFault(faults[i%len(faults)])
		}
	}()
	var wg sync.WaitGroup
	var failed, tooMany atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	for i := range 200 {
		wg.Add(1)
		go func(stream bool) {
			defer wg.Done()
			body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]`
			if stream {
				body += `,"stream":true`
			}
			resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body+"}"))
			if err != nil {
				failed.Add(1)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(bufio.NewReader(resp.Body))
			if resp.StatusCode != 200 || !strings.Contains(string(b), "Paris") {
				failed.Add(1)
				t.Logf("status %d: %.300s", resp.StatusCode, b)
			}
			if n := resp.Header.Get("X-Keeptrusts-Attempts"); resp.StatusCode == 200 && n != "1" && n != "2" {
				tooMany.Add(1)
			}
		}(i%2 == 0)
	}
	wg.Wait()
	close(stop)
	flips.Wait()
	if failed.Load() != 0 || tooMany.Load() != 0 {
		t.Fatalf("%d of 200 requests failed, %d exceeded 1+max_attempts attempts", failed.Load(), tooMany.Load())
	}
}
