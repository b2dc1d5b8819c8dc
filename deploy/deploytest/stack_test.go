package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/keeptrusts/gateway/internal/proctest"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real-component run (`make e2e`): KT_OBS_BIN is the directory
// scripts/obs-tools.sh installed otelcol-keeptrusts, jaeger, prometheus and
// promtool into.
const obsBinEnv = "KT_OBS_BIN"

// obsBin returns KT_OBS_BIN or skips the test.
func obsBin(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(obsBinEnv)
	if dir == "" {
		t.Skipf("%s not set: the real-component tests run with make e2e", obsBinEnv)
	}
	return dir
}

// TestObservabilityTools runs the real tools' own checks on the repository's
// files: promtool check config / check rules / test rules, and the built
// collector's validate.
func TestObservabilityTools(t *testing.T) {
	bin := obsBin(t)
	rules, _ := filepath.Glob(repoPath("deploy", "prometheus", "rules", "*.yml"))
	tests, _ := filepath.Glob(repoPath("deploy", "prometheus", "tests", "*.test.yml"))
	cmds := [][]string{
		{"promtool", "check", "config", repoPath("deploy", "prometheus", "prometheus.yml")},
		append([]string{"promtool", "check", "rules"}, rules...),
		append([]string{"promtool", "test", "rules"}, tests...),
		// With no OTELCOL_* variables set: the docker compose defaults.
		{"otelcol-keeptrusts", "validate", "--config", repoPath("otel-collector.yaml")},
	}
	for _, c := range cmds {
		t.Run(strings.Join(c[:3], " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, c[0]), c[1:]...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", c, err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// startProc starts a process that is stopped (SIGTERM, then SIGKILL) when
// the test ends; its output is logged if the test failed.
func startProc(t *testing.T, name string, env []string, path string, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, env, path, args...)
}

func freePort(t *testing.T) int { return proctest.FreePort(t) }

// addr is 127.0.0.1:port.
func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// eventually polls cond every 250 ms until it returns nil or the deadline
// passes, then fails with cond's last error.
func eventually(t *testing.T, what string, timeout time.Duration, procs []*proctest.Proc, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range procs {
			select {
			case <-p.Done():
				t.Fatalf("%s exited while waiting for %s", p.Name, what)
			default:
			}
		}
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// doJSON sends a request and decodes a JSON answer into out (if non-nil).
func doJSON(method, u string, body string, header http.Header, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// No keep-alive: nothing outlives the call (goleak checks at the end).
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode/100 != 2 {
		return resp, fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: %w: %s", method, u, err, b)
		}
	}
	return resp, nil
}

// stackConfig is the tutorial's configuration against the two sims, with
// fast health checks so the failover phase shows up in the health gauge.
const stackConfig = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: http://127.0.0.1:%d/v1
      secret_key_ref:
        env: OPENAI_API_KEY
      health_check:
        interval_seconds: 0.5
        timeout_seconds: 0.5
        unhealthy_threshold: 2
    - id: anthropic-fallback
      provider: anthropic
      base_url: http://127.0.0.1:%d
      secret_key_ref:
        env: ANTHROPIC_API_KEY
      health_check:
        interval_seconds: 0.5
        timeout_seconds: 0.5
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
      categories: [hate, violence]
`

// stack is the running components' addresses.
type stack struct {
	gateway, jaegerQuery, prometheus string
	openaiAdmin                      string
	procs                            []*proctest.Proc
}

// startStack builds kt and starts Jaeger, the collector, Prometheus, two
// sims and the gateway, all on 127.0.0.1, and waits until each is ready.
func startStack(t *testing.T, bin string) *stack {
	t.Helper()
	dir := t.TempDir()
	kt := filepath.Join(dir, "kt")
	if out, err := exec.Command("go", "build", "-o", kt, repoPath("cmd", "kt")).CombinedOutput(); err != nil {
		t.Fatalf("build kt: %v\n%s", err, out)
	}
	p := map[string]int{}
	for _, n := range []string{"jOTLPgrpc", "jOTLPhttp", "jQuery", "jQueryGRPC", "jHealth", "jTelemetry",
		"cGRPC", "cHTTP", "cHealth", "cExporter", "cTelemetry", "prom", "oa", "oaAdmin", "an", "anAdmin", "gw"} {
		p[n] = freePort(t)
	}
	s := &stack{
		gateway:     "http://" + addr(p["gw"]),
		jaegerQuery: "http://" + addr(p["jQuery"]),
		prometheus:  "http://" + addr(p["prom"]),
		openaiAdmin: "http://" + addr(p["oaAdmin"]),
	}
	ready := func(name, u string) {
		eventually(t, name+" ready", 60*time.Second, s.procs, func() error {
			_, err := doJSON(http.MethodGet, u, "", nil, nil)
			return err
		})
	}

	// Jaeger with deploy/jaeger/config.yaml, addresses from the environment.
	s.procs = append(s.procs, startProc(t, "jaeger", []string{
		"JAEGER_OTLP_GRPC_ENDPOINT=" + addr(p["jOTLPgrpc"]), "JAEGER_OTLP_HTTP_ENDPOINT=" + addr(p["jOTLPhttp"]),
		"JAEGER_QUERY_HTTP_ENDPOINT=" + addr(p["jQuery"]), "JAEGER_QUERY_GRPC_ENDPOINT=" + addr(p["jQueryGRPC"]),
		"JAEGER_HEALTH_ENDPOINT=" + addr(p["jHealth"]),
		"JAEGER_TELEMETRY_HOST=127.0.0.1", fmt.Sprintf("JAEGER_TELEMETRY_PORT=%d", p["jTelemetry"]),
	}, filepath.Join(bin, "jaeger"), "--config", repoPath("deploy", "jaeger", "config.yaml")))
	ready("jaeger", fmt.Sprintf("http://%s/status", addr(p["jHealth"])))

	// The collector with otel-collector.yaml, the same way.
	s.procs = append(s.procs, startProc(t, "otelcol", []string{
		"OTELCOL_OTLP_GRPC_ENDPOINT=" + addr(p["cGRPC"]), "OTELCOL_OTLP_HTTP_ENDPOINT=" + addr(p["cHTTP"]),
		"OTELCOL_HEALTH_ENDPOINT=" + addr(p["cHealth"]), "OTELCOL_PROMETHEUS_ENDPOINT=" + addr(p["cExporter"]),
		"OTELCOL_TELEMETRY_HOST=127.0.0.1", fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", p["cTelemetry"]),
		"OTELCOL_JAEGER_ENDPOINT=" + addr(p["jOTLPgrpc"]),
	}, filepath.Join(bin, "otelcol-keeptrusts"), "--config", repoPath("otel-collector.yaml")))
	ready("collector", "http://"+addr(p["cHealth"])+"/")

	// Prometheus runs the repository's prometheus.yml and rules/ (symlinked,
	// not copied) with file-SD targets naming the loopback ports.
	promDir := filepath.Join(dir, "prometheus")
	for _, d := range []string{promDir, filepath.Join(promDir, "targets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"prometheus.yml", "rules"} {
		abs, _ := filepath.Abs(repoPath("deploy", "prometheus", l))
		if err := os.Symlink(abs, filepath.Join(promDir, l)); err != nil {
			t.Fatal(err)
		}
	}
	targets := map[string]string{
		"collector-exporter.json": fmt.Sprintf(`[{"targets":[%q],"labels":{"component":"otel-collector"}}]`, addr(p["cExporter"])),
		"collector.json":          fmt.Sprintf(`[{"targets":[%q],"labels":{"component":"otel-collector"}}]`, addr(p["cTelemetry"])),
		"gateway.json":            `[]`,
	}
	for f, c := range targets {
		if err := os.WriteFile(filepath.Join(promDir, "targets", f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.procs = append(s.procs, startProc(t, "prometheus", nil, filepath.Join(bin, "prometheus"),
		"--config.file="+filepath.Join(promDir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr(p["prom"]), "--enable-feature=exemplar-storage"))
	ready("prometheus", s.prometheus+"/-/ready")

	// Two sims and the gateway, exporting to the collector over OTLP/gRPC.
	const oaKey, anKey = "sk-e2e-openai", "sk-ant-e2e-anthropic"
	s.procs = append(s.procs,
		startProc(t, "sim-openai", nil, kt, "sim", "--kind", "openai", "--port", fmt.Sprint(p["oa"]), "--admin-port", fmt.Sprint(p["oaAdmin"]), "--expect-key", oaKey),
		startProc(t, "sim-anthropic", nil, kt, "sim", "--kind", "anthropic", "--port", fmt.Sprint(p["an"]), "--admin-port", fmt.Sprint(p["anAdmin"]), "--expect-key", anKey))
	ready("sim-openai", s.openaiAdmin+"/healthz")
	ready("sim-anthropic", "http://"+addr(p["anAdmin"])+"/healthz")
	cfg := filepath.Join(dir, "policy-config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, stackConfig, p["oa"], p["an"]), 0o600); err != nil {
		t.Fatal(err)
	}
	s.procs = append(s.procs, startProc(t, "gateway", []string{
		"OPENAI_API_KEY=" + oaKey, "ANTHROPIC_API_KEY=" + anKey, "XDG_STATE_HOME=" + filepath.Join(dir, "state"),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr(p["cGRPC"]), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_BSP_SCHEDULE_DELAY=200",
	}, kt, "gateway", "run", "--policy-config", cfg, "--port", fmt.Sprint(p["gw"])))
	ready("gateway", s.gateway+"/readyz")
	return s
}

// chat sends one chat request and returns the answering provider, whether it
// failed over, and the trace id.
func (s *stack) chat(t *testing.T, stream bool) (provider string, failedOver bool, traceID string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%v,"messages":[{"role":"user","content":"What is the capital of France?"}]}`, stream)
	var a struct {
		Metadata struct {
			Provider string `json:"provider"`
			Failover struct {
				Triggered bool `json:"triggered"`
			} `json:"failover"`
		} `json:"keeptrusts_metadata"`
	}
	var out any = &a
	if stream {
		out = nil
	}
	resp, err := doJSON(http.MethodPost, s.gateway+"/v1/chat/completions", body, nil, out)
	if err != nil {
		if stream && resp != nil && resp.StatusCode == 200 {
			err = nil
		} else {
			t.Fatal(err)
		}
	}
	return a.Metadata.Provider, a.Metadata.Failover.Triggered, resp.Header.Get("X-Keeptrusts-Trace-Id")
}

// jaegerTrace is the part of Jaeger's /api/traces answer the test reads.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		OperationName string `json:"operationName"`
		Tags          []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
}

func spanTag(tags []struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}, key string) string {
	for _, tg := range tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

// promQuery runs an instant query and returns its result series.
func (s *stack) promQuery(expr string) ([]map[string]any, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []map[string]any `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	if _, err := doJSON(http.MethodGet, s.prometheus+"/api/v1/query?query="+url.QueryEscape(expr), "", nil, &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	return r.Data.Result, nil
}

// expectedEmpty lists the queries that may return no data after this run,
// with why: everything else must return data.
func expectedEmpty() map[string]string {
	return map[string]string{
		// Dashboard panels, by title.
		"Policy hits":             "no request trips the content filter",
		"Error ratio/B":           "no request fails at the gateway: every failure fails over",
		"SLO and provider alerts": "no alert is pending or firing in a short healthy run",
		"Estimated cost per hour by provider and model": "only when the pricing table knows the sims' models",
		"Requests and spend per hour by team":           "auth is off in the stack run: no request has a team",
		"Requests and spend per hour by team/B":         "auth is off in the stack run: no request has a team",
		"Rate-limit and budget refusals by team":        "auth is off in the stack run: nothing is refused",
	}
}

// TestObservabilityStack is the end-to-end run with the real components.
func TestObservabilityStack(t *testing.T) {
	bin := obsBin(t)
	s := startStack(t, bin)

	// Healthy traffic, streaming and not, answered by the primary.
	for i := range 6 {
		if prov, fo, _ := s.chat(t, i%3 == 2); i%3 != 2 && (prov != "openai-primary" || fo) {
			t.Fatalf("healthy request %d: provider %q failover %v", i, prov, fo)
		}
	}
	// Force failovers: the primary answers 503.
	if _, err := doJSON(http.MethodPut, s.openaiAdmin+"/fault", `{"kind":"error","status":503}`, nil, nil); err != nil {
		t.Fatal(err)
	}
	var failoverTrace string
	failoverTraces := map[string]bool{}
	for i := range 4 {
		prov, fo, trace := s.chat(t, false)
		if prov != "anthropic-fallback" || !fo || len(trace) != 32 {
			t.Fatalf("request %d during the fault: provider %q failover %v trace %q", i, prov, fo, trace)
		}
		failoverTrace = trace
		failoverTraces[trace] = true
	}
	// Then the primary goes down: probes fail and it turns unhealthy.
	if _, err := doJSON(http.MethodPut, s.openaiAdmin+"/fault", `{"kind":"down"}`, nil, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.chat(t, false)
	}

	t.Run("jaeger has the failed-over trace", func(t *testing.T) {
		var tr jaegerTrace
		eventually(t, "trace "+failoverTrace+" in Jaeger", 60*time.Second, s.procs, func() error {
			var r struct {
				Data []jaegerTrace `json:"data"`
			}
			if _, err := doJSON(http.MethodGet, s.jaegerQuery+"/api/traces/"+failoverTrace, "", nil, &r); err != nil {
				return err
			}
			if len(r.Data) != 1 || len(r.Data[0].Spans) < 4 {
				return fmt.Errorf("trace not complete yet: %+v", r.Data)
			}
			tr = r.Data[0]
			return nil
		})
		var attempts, failovers []string
		for _, sp := range tr.Spans {
			switch {
			case strings.HasPrefix(sp.OperationName, "chat "):
				attempts = append(attempts, fmt.Sprintf("%s attempt=%s target=%s error=%s", sp.OperationName,
					spanTag(sp.Tags, "keeptrusts.attempt"), spanTag(sp.Tags, "keeptrusts.target.id"), spanTag(sp.Tags, "error.type")))
			case sp.OperationName == "failover":
				failovers = append(failovers, fmt.Sprintf("%s→%s reason=%s", spanTag(sp.Tags, "keeptrusts.failover.from"),
					spanTag(sp.Tags, "keeptrusts.failover.to"), spanTag(sp.Tags, "keeptrusts.failover.reason")))
			}
		}
		wantAttempts := []string{
			"chat gpt-4o-mini attempt=1 target=openai-primary error=upstream_error",
			"chat claude-sonnet-4-20250514 attempt=2 target=anthropic-fallback error=",
		}
		for _, w := range wantAttempts {
			if !containsString(attempts, w) {
				t.Errorf("attempt spans %q lack %q", attempts, w)
			}
		}
		if len(failovers) != 1 || failovers[0] != "openai-primary→anthropic-fallback reason=upstream_error" {
			t.Errorf("failover spans = %q", failovers)
		}
		t.Logf("trace %s: attempts %q, failover %q", failoverTrace, attempts, failovers)
	})

	t.Run("prometheus has the failover counter and health gauge", func(t *testing.T) {
		eventually(t, "failover counter and unhealthy primary in Prometheus", 90*time.Second, s.procs, func() error {
			fo, err := s.promQuery(`keeptrusts_failovers_total{from="openai-primary",to="anthropic-fallback",reason="upstream_error"} >= 4`)
			if err != nil || len(fo) == 0 {
				return fmt.Errorf("failover counter: %v %v", fo, err)
			}
			h, err := s.promQuery(`keeptrusts_provider_health`)
			if err != nil || len(h) != 2 {
				return fmt.Errorf("health gauge: %v %v", h, err)
			}
			down, err := s.promQuery(`keeptrusts_provider_health{target="openai-primary"} == 0`)
			if err != nil || len(down) != 1 {
				return fmt.Errorf("primary not unhealthy yet: %v %v", down, err)
			}
			t.Logf("failovers %v; health %v", fo, h)
			return nil
		})
	})

	t.Run("exemplars lead from the failover counter to a failed-over trace", func(t *testing.T) {
		eventually(t, "an exemplar of a failed-over trace", 60*time.Second, s.procs, func() error {
			var r struct {
				Data []struct {
					Exemplars []struct {
						Labels map[string]string `json:"labels"`
					} `json:"exemplars"`
				} `json:"data"`
			}
			now := time.Now()
			u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", s.prometheus,
				url.QueryEscape("keeptrusts_failovers_total"), now.Add(-10*time.Minute).Unix(), now.Unix())
			if _, err := doJSON(http.MethodGet, u, "", nil, &r); err != nil {
				return err
			}
			var seen []string
			for _, d := range r.Data {
				for _, e := range d.Exemplars {
					if failoverTraces[e.Labels["trace_id"]] {
						t.Logf("exemplar trace_id %s is a failed-over request", e.Labels["trace_id"])
						return nil
					}
					seen = append(seen, e.Labels["trace_id"])
				}
			}
			return fmt.Errorf("exemplars %v name none of the failed-over traces", seen)
		})
	})

	t.Run("every dashboard and rule query runs", func(t *testing.T) {
		// Every recording rule must have produced its series (groups
		// evaluate every 15 s, and rules reading other rules' output one
		// evaluation later) before the dashboards can read them.
		var records []string
		for _, groups := range ruleFiles(t) {
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					if r.Record != "" {
						records = append(records, r.Record)
					}
				}
			}
		}
		eventually(t, "recording rules evaluated", 120*time.Second, s.procs, func() error {
			for _, rec := range records {
				if r, err := s.promQuery(rec); err != nil || len(r) == 0 {
					return fmt.Errorf("%s: %v %v", rec, r, err)
				}
			}
			return nil
		})
		empty := expectedEmpty()
		type q struct{ key, expr string }
		var qs []q
		for _, d := range dashboardQueries(t) {
			key := d.Panel
			if d.RefID != "A" {
				key += "/" + d.RefID
			}
			qs = append(qs, q{key, d.Expr})
		}
		for file, groups := range ruleFiles(t) {
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					key := file + "/" + r.Record + r.Alert
					if r.Alert != "" {
						// An alert's expression is its firing condition: empty
						// in a run where nothing is wrong for long enough.
						empty[key] = "alert condition"
					}
					qs = append(qs, q{key, r.Expr})
				}
			}
		}
		for _, x := range qs {
			res, err := s.promQuery(x.expr)
			switch {
			case err != nil:
				t.Errorf("%s: %v", x.key, err)
			case len(res) == 0 && empty[x.key] == "":
				t.Errorf("%s: no data for %s", x.key, x.expr)
			default:
				t.Logf("%s: %d series", x.key, len(res))
			}
		}
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
