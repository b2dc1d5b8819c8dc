// Package e2e replays the multi-provider failover tutorial with real
// processes: it builds kt, runs two `kt sim` providers and `kt gateway run`
// on 127.0.0.1, and follows the tutorial's steps with plain HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/keeptrusts/gateway/internal/proctest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	ktBin    string
	stateDir string // default XDG_STATE_HOME of kt processes (keeps the user's own state dir out of tests)
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kt-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ktBin = filepath.Join(dir, "kt")
	stateDir = filepath.Join(dir, "state")
	build := exec.Command("go", "build", "-o", ktBin, "../cmd/kt")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kt:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a started kt process whose combined output is captured.
type proc = proctest.Proc

// start runs kt with args; the state dir defaults to the test binary's own.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, "kt "+strings.Join(args, " "), append([]string{"XDG_STATE_HOME=" + stateDir}, env...), ktBin, args...)
}

// startSim starts `kt sim` and waits until it is listening: a gateway
// started next probes its targets once at startup, and a simulator still
// starting would be marked unhealthy (the first requests then get 503).
func startSim(t *testing.T, kind string, port int, key string) *proc {
	t.Helper()
	p := start(t, nil, "sim", "--kind", kind, "--port", fmt.Sprint(port), "--admin-port", fmt.Sprint(freePort(t)), "--expect-key", key)
	waitOutput(t, p, "provider ready")
	return p
}

// waitOutput waits until p has printed line, and fails at once if p exits
// first.
func waitOutput(t *testing.T, p *proc, line string) {
	t.Helper()
	waitFor(t, line, 15*time.Second, func() bool {
		select {
		case <-p.Done():
			t.Fatalf("%s exited before printing %q:\n%s", p.Name, line, p.Output())
		default:
		}
		return strings.Contains(p.Output(), line)
	})
}

// stop stops p gracefully and fails the test if SIGTERM was not enough.
func stop(t *testing.T, p *proc) {
	t.Helper()
	if !p.Stop() {
		t.Errorf("%s did not stop on SIGTERM; output:\n%s", p.Name, p.Output())
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int { return proctest.FreePort(t) }

func httpJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// tutorialConfig is the tutorial's file with base_url added (the tutorial
// says to point base_url at your providers) and short probe intervals so the
// steps that wait for health checks take seconds.
const tutorialConfig = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: http://127.0.0.1:%d/v1
      secret_key_ref:
        env: OPENAI_API_KEY
      health_check:
        interval_seconds: 0.2
        timeout_seconds: 0.2
    - id: anthropic-fallback
      provider: anthropic
      base_url: http://127.0.0.1:%d
      secret_key_ref:
        env: ANTHROPIC_API_KEY
      health_check:
        interval_seconds: 0.2
        timeout_seconds: 0.2
  failover:
    enabled: true
    strategy: priority
    model_mapping:
      gpt-4o-mini: claude-sonnet-4-20250514
      gpt-4o: claude-sonnet-4-20250514
    retry:
      max_attempts: 1
      timeout_seconds: 30
policies:
  - name: content-filter
    type: content_filter
    action: flag
    config:
      categories:
        - hate
        - violence
`

const (
	openAIKey    = "sk-your-openai-key"
	anthropicKey = "sk-ant-your-anthropic-key"
	step4Body    = `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is the capital of France?"}]}`
)

type answer struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Metadata struct {
		Provider string `json:"provider"`
		Failover struct {
			Triggered        bool   `json:"triggered"`
			OriginalProvider string `json:"original_provider"`
			Reason           string `json:"reason"`
		} `json:"failover"`
	} `json:"keeptrusts_metadata"`
}

type healthView struct {
	Status    string `json:"status"`
	Providers map[string]struct {
		Status              string `json:"status"`
		ConsecutiveFailures int    `json:"consecutive_failures"`
		LastCheck           string `json:"last_check"`
	} `json:"providers"`
}

func TestTutorial(t *testing.T) {
	dir := t.TempDir()
	// The tutorial's event store is its own: other tests' gateways write to
	// the shared default.
	state := "XDG_STATE_HOME=" + filepath.Join(dir, "state")
	oaPort, anPort, gwPort := freePort(t), freePort(t), freePort(t)
	// Step 1 happens in the environment; the simulated providers check the keys.
	startSim(t, "openai", oaPort, openAIKey)
	startSim(t, "anthropic", anPort, anthropicKey)

	// Step 2: the configuration file.
	cfgPath := filepath.Join(dir, "policy-config.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, tutorialConfig, oaPort, anPort), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{"OPENAI_API_KEY=" + openAIKey, "ANTHROPIC_API_KEY=" + anthropicKey, state}

	// Step 3: lint, then start the gateway.
	lint := exec.Command(ktBin, "policy", "lint", "--file", cfgPath)
	lint.Env = append(append(os.Environ(), "XDG_STATE_HOME="+stateDir), keys...)
	out, err := lint.CombinedOutput()
	if err != nil {
		t.Fatalf("lint failed: %v\n%s", err, out)
	}
	for _, want := range []string{"openai-primary", "priority=1", "anthropic-fallback", "priority=2", "health_check=enabled"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("lint summary lacks %q:\n%s", want, out)
		}
	}
	gwURL := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	gw := startGateway(t, keys, cfgPath, "--port", fmt.Sprint(gwPort))
	wantLines := []string{
		"INFO keeptrusts::gateway Loaded 2 provider(s), 1 policy(ies)",
		"INFO keeptrusts::gateway Provider openai-primary: priority=1, health_check=enabled",
		"INFO keeptrusts::gateway Provider anthropic-fallback: priority=2, health_check=enabled",
		"INFO keeptrusts::gateway Failover: strategy=priority, model_mappings=2",
		"INFO keeptrusts::gateway Gateway ready",
	}
	var got []string
	for _, l := range strings.Split(gw.Output(), "\n") {
		if strings.HasPrefix(l, "INFO keeptrusts::gateway ") {
			got = append(got, l)
		}
	}
	if len(got) < len(wantLines) {
		t.Fatalf("start-up output:\n%s", gw.Output())
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(got[i], w) {
			t.Fatalf("start-up line %d = %q, want %q", i+1, got[i], w)
		}
	}

	// Step 4: normal conditions.
	var a answer
	if code := httpJSON(t, http.MethodPost, gwURL+"/v1/chat/completions", step4Body, &a); code != 200 {
		t.Fatalf("step 4: status %d", code)
	}
	if a.Model != "gpt-4o-mini" || a.Metadata.Provider != "openai-primary" || !strings.Contains(a.Choices[0].Message.Content, "Paris") {
		t.Fatalf("step 4: %+v", a)
	}
	stop(t, gw)

	// Step 5: an invalid primary key, restarted without --port (the port
	// comes from the environment here so the test cannot collide with a
	// gateway already on 41002).
	badKeys := []string{"OPENAI_API_KEY=sk-invalid-key-for-testing", "ANTHROPIC_API_KEY=" + anthropicKey, fmt.Sprintf("KT_SERVER__PORT=%d", gwPort), state}
	gw = startGateway(t, badKeys, cfgPath)
	a = answer{}
	if code := httpJSON(t, http.MethodPost, gwURL+"/v1/chat/completions", step4Body, &a); code != 200 {
		t.Fatalf("step 5: status %d", code)
	}
	if a.Model != "claude-sonnet-4-20250514" || a.Metadata.Provider != "anthropic-fallback" || !a.Metadata.Failover.Triggered || a.Metadata.Failover.OriginalProvider != "openai-primary" {
		t.Fatalf("step 5: %+v", a)
	}
	if !strings.Contains(a.Choices[0].Message.Content, "Paris") {
		t.Fatalf("step 5 answer: %+v", a)
	}

	// Step 6: the primary is marked unhealthy after unhealthy_threshold (3) probes.
	var h healthView
	waitFor(t, "openai-primary unhealthy", 10*time.Second, func() bool {
		h = healthView{}
		httpJSON(t, http.MethodGet, gwURL+"/health", "", &h)
		return h.Providers["openai-primary"].Status == "unhealthy"
	})
	p, f := h.Providers["openai-primary"], h.Providers["anthropic-fallback"]
	if p.ConsecutiveFailures < 3 || f.Status != "healthy" || f.ConsecutiveFailures != 0 {
		t.Fatalf("step 6: %+v", h)
	}
	for _, lc := range []string{p.LastCheck, f.LastCheck} {
		if ts, err := time.Parse(time.RFC3339, lc); err != nil || ts.Location() != time.UTC || !strings.HasSuffix(lc, "Z") {
			t.Fatalf("last_check %q is not RFC3339 UTC", lc)
		}
	}
	// While unhealthy the primary is skipped without an attempt.
	a = answer{}
	httpJSON(t, http.MethodPost, gwURL+"/v1/chat/completions", step4Body, &a)
	if a.Metadata.Provider != "anthropic-fallback" || a.Metadata.Failover.Reason != "provider_unhealthy" {
		t.Fatalf("unhealthy primary not skipped: %+v", a.Metadata)
	}
	stop(t, gw)

	// Step 7: the valid key again; healthy after healthy_threshold probes,
	// traffic back on the primary.
	gw = startGateway(t, append(keys, fmt.Sprintf("KT_SERVER__PORT=%d", gwPort)), cfgPath)
	waitFor(t, "both providers healthy", 10*time.Second, func() bool {
		h = healthView{}
		code := httpJSON(t, http.MethodGet, gwURL+"/health", "", &h)
		return code == 200 && h.Providers["openai-primary"].Status == "healthy" && h.Providers["anthropic-fallback"].Status == "healthy"
	})
	a = answer{}
	httpJSON(t, http.MethodPost, gwURL+"/v1/chat/completions", step4Body, &a)
	if a.Model != "gpt-4o-mini" || a.Metadata.Provider != "openai-primary" || a.Metadata.Failover.Triggered {
		t.Fatalf("step 7: %+v", a)
	}

	// Step 8: the failover event of step 5 survived two restarts. Events
	// are written in batches off the request path: wait for the last one.
	type event struct {
		ID        string  `json:"id"`
		Provider  string  `json:"provider"`
		LatencyMS float64 `json:"latency_ms"`
		Failover  struct {
			Triggered        bool   `json:"triggered"`
			OriginalProvider string `json:"original_provider"`
			Reason           string `json:"reason"`
		} `json:"failover"`
	}
	var evs []event
	waitFor(t, "the 4 events of steps 4-7", 5*time.Second, func() bool {
		tail := exec.Command(ktBin, "events", "tail", "--last", "5", "--format", "json", "--gateway", gwURL)
		tail.Env = append(os.Environ(), state)
		out, err = tail.Output()
		if err != nil {
			t.Fatalf("kt events tail: %v\n%s", err, out)
		}
		evs = nil
		if err := json.Unmarshal(out, &evs); err != nil {
			t.Fatalf("events tail --format json is not one JSON array: %v\n%s", err, out)
		}
		return len(evs) == 4
	})
	fo := evs[1] // step 5's request
	if !strings.HasPrefix(fo.ID, "evt_") || fo.Provider != "anthropic-fallback" || !fo.Failover.Triggered ||
		fo.Failover.OriginalProvider != "openai-primary" || fo.Failover.Reason != "auth_error" || fo.LatencyMS <= 0 {
		t.Fatalf("step 8: failover event %+v\n%s", fo, out)
	}

	// With the gateway down, tail reads the local store and says so.
	stop(t, gw)
	tail := exec.Command(ktBin, "events", "tail", "--last", "5", "--format", "json", "--gateway", gwURL)
	tail.Env = append(os.Environ(), state)
	var stderr bytes.Buffer
	tail.Stderr = &stderr
	out, err = tail.Output()
	if err != nil || !strings.Contains(stderr.String(), "reading the local event store") {
		t.Fatalf("offline tail: %v\n%s\n%s", err, out, stderr.String())
	}
	if err := json.Unmarshal(out, &evs); err != nil || len(evs) != 4 {
		t.Fatalf("offline tail: %v %d events", err, len(evs))
	}
}

func startGateway(t *testing.T, env []string, cfgPath string, extra ...string) *proc {
	t.Helper()
	gw := start(t, env, append([]string{"gateway", "run", "--policy-config", cfgPath}, extra...)...)
	waitOutput(t, gw, "Gateway ready")
	return gw
}

// TestDemoStep4 runs `kt gateway run --demo` (what make run does) and checks
// the tutorial's step-4 answer, then a failover after the demo's primary is
// taken down through the simulator's admin API.
func TestDemoStep4(t *testing.T) {
	port := freePort(t)
	// The simulators on ports the system picks: a demo already running
	// (make run) holds the default ones.
	gw := start(t, nil, "gateway", "run", "--demo", "--port", fmt.Sprint(port), "--demo-sim-ports", "0,0,0,0")
	waitFor(t, "demo ready", 15*time.Second, func() bool { return strings.Contains(gw.Output(), "Gateway ready") })
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port)
	var a answer
	if code := httpJSON(t, http.MethodPost, url, step4Body, &a); code != 200 || a.Model != "gpt-4o-mini" || a.Metadata.Provider != "openai-primary" {
		t.Fatalf("demo step 4: %d %+v\n%s", code, a, gw.Output())
	}
	adminURL := ""
	sc := bufio.NewScanner(strings.NewReader(gw.Output()))
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "openai-primary"); ok && strings.Contains(after, "fault injection: ") {
			_, adminURL, _ = strings.Cut(after, "fault injection: ")
			adminURL = strings.TrimSuffix(strings.TrimSpace(adminURL), ")")
			break
		}
	}
	if adminURL == "" {
		t.Fatalf("demo banner has no fault injection URL:\n%s", gw.Output())
	}
	if code := httpJSON(t, http.MethodPut, adminURL, `{"kind":"down"}`, nil); code/100 != 2 {
		t.Fatalf("fault injection: %d", code)
	}
	a = answer{}
	if code := httpJSON(t, http.MethodPost, url, step4Body, &a); code != 200 || a.Model != "claude-sonnet-4-20250514" || a.Metadata.Provider != "anthropic-fallback" {
		t.Fatalf("demo failover: %d %+v", code, a)
	}
}
