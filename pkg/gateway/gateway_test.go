package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	primaryKey  = "sk-canary-primary-5f0c1e"
	fallbackKey = "sk-canary-fallback-9a7d2b"
)

// recorder is an OpenAI-shaped upstream that records what it received.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
	bodies  []string
	handler func(w http.ResponseWriter, r *http.Request, model string)
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request, model string)) *recorder {
	t.Helper()
	rec := &recorder{handler: h}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.headers = append(rec.headers, r.Header.Clone())
		rec.bodies = append(rec.bodies, string(b))
		rec.mu.Unlock()
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"object":"list","data":[]}`)
			return
		}
		var in struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(b, &in)
		r.Body = io.NopCloser(bytes.NewReader(b)) // the handler may read it too
		rec.handler(w, r, in.Model)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) last() (http.Header, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.headers) - 1; i >= 0; i-- {
		if r.bodies[i] != "" {
			return r.headers[i], r.bodies[i]
		}
	}
	return nil, ""
}

func okAnswer(w http.ResponseWriter, _ *http.Request, model string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}`, model)
}

func failWith(code int) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"invalid_request_error","param":null,"code":null}}`, code)
	}
}

const cfgTemplate = `version: '1'
server:
  max_request_body_bytes: 4096
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: PRIMARY_KEY}
      health_check: {enabled: false}
    - id: openai-fallback
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: FALLBACK_KEY}
      health_check: {enabled: false}
  failover:
    model_mapping:
      gpt-4o-mini: gpt-4o
    retry: {max_attempts: 1, timeout_seconds: 5}
`

type harness struct {
	gw       *Gateway
	srv      *httptest.Server
	primary  *recorder
	fallback *recorder
	logs     *bytes.Buffer
}

func newHarness(t *testing.T, primary, fallback func(http.ResponseWriter, *http.Request, string)) *harness {
	t.Helper()
	return newHarnessWith(t, primary, fallback, harnessOptions{})
}

// harnessOptions extend the harness's configuration.
type harnessOptions struct {
	// extra YAML appended to cfgTemplate (top-level sections such as auth).
	extra string
	// environ is added to the harness's environment.
	environ []string
	// eventsPath, when set, is the event store (to share it across gateways).
	eventsPath string
	// opts are passed to New.
	opts []Option
	// mutate edits the loaded configuration before New.
	mutate func(*config.File)
}

func newHarnessWith(t *testing.T, primary, fallback func(http.ResponseWriter, *http.Request, string), o harnessOptions) *harness {
	t.Helper()
	h := &harness{primary: newRecorder(t, primary), fallback: newRecorder(t, fallback), logs: &bytes.Buffer{}}
	environ := append([]string{"PRIMARY_KEY=" + primaryKey, "FALLBACK_KEY=" + fallbackKey}, o.environ...)
	cfg, problems, err := config.Load(config.LoadOptions{
		Data:    append(fmt.Appendf(nil, cfgTemplate, h.primary.URL, h.fallback.URL), o.extra...),
		Environ: environ,
	})
	if err != nil || problems.Err() != nil {
		t.Fatalf("config: %v %v", err, problems)
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	cfg.Events.Path = o.eventsPath
	if cfg.Events.Path == "" {
		cfg.Events.Path = filepath.Join(t.TempDir(), "events.db")
	}
	h.start(t, cfg, environ, o.opts...)
	return h
}

// start builds the harness's gateway from cfg, logging into h.logs, and
// serves it on a test server; both are closed when the test ends.
func (h *harness) start(t *testing.T, cfg *config.File, environ []string, opts ...Option) {
	t.Helper()
	logger := slog.New(logging.NewTextHandler(&syncWriter{w: h.logs}, slog.LevelDebug))
	var err error
	if h.gw, err = New(cfg, environ, logger, opts...); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.gw.Handler())
	t.Cleanup(func() {
		h.srv.Close()
		if err := h.gw.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (h *harness) post(t *testing.T, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const tutorialReq = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`

type answerJSON struct {
	Model    string `json:"model"`
	Choices  []any  `json:"choices"`
	Metadata struct {
		Provider  string `json:"provider"`
		RequestID string `json:"request_id"`
		Failover  struct {
			Triggered        bool   `json:"triggered"`
			OriginalProvider string `json:"original_provider"`
			Reason           string `json:"reason"`
		} `json:"failover"`
		Attempts []struct {
			Target  string `json:"target"`
			Outcome string `json:"outcome"`
		} `json:"attempts"`
	} `json:"keeptrusts_metadata"`
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decode(t *testing.T, b []byte) answerJSON {
	t.Helper()
	var a answerJSON
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, b)
	}
	return a
}

func TestChatNonStream(t *testing.T) {
	tests := []struct {
		name                    string
		primary                 func(http.ResponseWriter, *http.Request, string)
		wantStatus              int
		wantModel, wantProvider string
		wantReason              string
	}{
		{"primary answers", okAnswer, 200, "gpt-4o-mini", "openai-primary", ""},
		{"auth error fails over with mapping", failWith(401), 200, "gpt-4o", "openai-fallback", "auth_error"},
		{"5xx fails over", failWith(502), 200, "gpt-4o", "openai-fallback", "upstream_error"},
		{"client error returned as is", failWith(400), 400, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.primary, okAnswer)
			resp, b := h.post(t, tutorialReq)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			a := decode(t, b)
			if tc.wantStatus != 200 {
				if a.Error == nil || a.Error.Message != "scripted 400" {
					t.Fatalf("client error not returned as is: %s", b)
				}
				if len(h.fallback.bodies) != 0 {
					t.Fatal("a client error failed over")
				}
				return
			}
			if a.Model != tc.wantModel || a.Metadata.Provider != tc.wantProvider || a.Metadata.Failover.Reason != tc.wantReason {
				t.Fatalf("got model %q provider %q failover %+v", a.Model, a.Metadata.Provider, a.Metadata.Failover)
			}
			if a.Metadata.Failover.Triggered != (tc.wantReason != "") {
				t.Fatalf("triggered = %v", a.Metadata.Failover.Triggered)
			}
			if resp.Header.Get("X-Keeptrusts-Provider") != tc.wantProvider || resp.Header.Get("X-Request-Id") != a.Metadata.RequestID {
				t.Fatalf("headers %v", resp.Header)
			}
		})
	}
}

func TestAllTargetsFail503(t *testing.T) {
	h := newHarness(t, failWith(500), failWith(401))
	resp, b := h.post(t, tutorialReq)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	a := decode(t, b)
	if a.Error == nil || a.Error.Code == nil || *a.Error.Code != "all_providers_failed" ||
		!strings.Contains(a.Error.Message, "openai-primary upstream_error") || !strings.Contains(a.Error.Message, "openai-fallback auth_error") {
		t.Fatalf("503 body does not explain: %s", b)
	}
	if len(a.Metadata.Attempts) != 2 {
		t.Fatalf("attempts %+v", a.Metadata.Attempts)
	}
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, okAnswer, okAnswer)
	tests := []struct {
		name, body string
		status     int
		param      string
	}{
		{"empty", ``, 400, ""},
		{"not json", `{"model":`, 400, ""},
		{"array", `[1,2]`, 400, ""},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"model not string", `{"model":1,"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"header injection in model", `{"model":"gpt\r\nX-Evil: 1","messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"no messages", `{"model":"gpt-4o-mini"}`, 400, "messages"},
		{"empty messages", `{"model":"gpt-4o-mini","messages":[]}`, 400, "messages"},
		{"stream not bool", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, 400, "stream"},
		{"too large", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := h.post(t, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			a := decode(t, b)
			if a.Error == nil || a.Error.Type != "invalid_request_error" || a.Error.Message == "" {
				t.Fatalf("not an OpenAI error: %s", b)
			}
			if tc.param != "" && (a.Error.Param == nil || *a.Error.Param != tc.param) {
				t.Fatalf("param = %v, want %s", a.Error.Param, tc.param)
			}
		})
	}
	if n := len(h.primary.bodies); n != 0 {
		t.Fatalf("%d bad requests reached the upstream", n)
	}
}

func TestHeadersAndKeys(t *testing.T) {
	h := newHarness(t, failWith(401), okAnswer)
	resp, _ := h.post(t, tutorialReq, "Authorization", "Bearer client-token", "X-Custom", "secret", "Openai-Beta", "assistants=v2", "Cookie", "a=b")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ph, _ := h.primary.last()
	fh, body := h.fallback.last()
	if got := ph.Get("Authorization"); got != "Bearer "+primaryKey {
		t.Fatalf("primary key not injected: %q", got)
	}
	if got := fh.Get("Authorization"); got != "Bearer "+fallbackKey {
		t.Fatalf("fallback key not injected: %q", got)
	}
	for _, hd := range []string{"X-Custom", "Cookie"} {
		if fh.Get(hd) != "" {
			t.Fatalf("%s forwarded upstream", hd)
		}
	}
	if fh.Get("Openai-Beta") != "assistants=v2" {
		t.Fatal("allow-listed header not forwarded")
	}
	if !strings.Contains(body, `"model":"gpt-4o"`) {
		t.Fatalf("fallback did not get the mapped model: %s", body)
	}
	logs := h.logs.String()
	for _, k := range []string{primaryKey, fallbackKey, "client-token"} {
		if strings.Contains(logs, k) {
			t.Fatalf("a key leaked into the logs: %s", logs)
		}
	}
}

func streamAnswer(gate chan struct{}) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, model string) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		chunk := func(content string) {
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", model, content)
			_ = rc.Flush()
		}
		chunk("The capital ")
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		chunk("is Paris.")
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", model)
	}
}

// TestStreamRelaysChunkByChunk asserts the first chunk reaches the client
// while the upstream is still holding back the rest.
func TestStreamRelaysChunkByChunk(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, streamAnswer(gate), okAnswer)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Keeptrusts-Provider") != "openai-primary" || resp.Header.Get("X-Keeptrusts-Failover") != "false" {
		t.Fatalf("headers %v", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "The capital ") {
		t.Fatalf("first chunk not relayed before the upstream continued: %q %v", line, err)
	}
	close(gate)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "is Paris.") || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("rest of stream: %q", rest)
	}
}

func TestStreamFailoverHeaders(t *testing.T) {
	h := newHarness(t, failWith(503), streamAnswer(nil))
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := map[string]string{"X-Keeptrusts-Provider": "openai-fallback", "X-Keeptrusts-Model": "gpt-4o", "X-Keeptrusts-Failover": "true",
		"X-Keeptrusts-Original-Provider": "openai-primary", "X-Keeptrusts-Failover-Reason": "upstream_error", "X-Keeptrusts-Attempts": "2"}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Fatalf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
		t.Fatalf("stream %q", b)
	}
}

func TestStreamClientCancelPropagates(t *testing.T) {
	upstreamDone := make(chan struct{})
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, model string) {
		defer close(upstreamDone)
		streamAnswer(make(chan struct{}))(w, r, model) // never released: only the client's cancel ends it
	}, okAnswer)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-upstreamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client went away")
	}
	if st := h.gw.rt.Load().targets[0].Health.BreakerState(); st != "closed" {
		t.Fatalf("breaker %s", st)
	}
}

func TestEndpoints(t *testing.T) {
	h := newHarness(t, okAnswer, okAnswer)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := get("/health")
	var hb struct {
		Status    string                    `json:"status"`
		Providers map[string]map[string]any `json:"providers"`
	}
	if err := json.Unmarshal(b, &hb); err != nil || code != 200 || hb.Status != "healthy" || len(hb.Providers) != 2 {
		t.Fatalf("/health %d %s", code, b)
	}
	p := hb.Providers["openai-primary"]
	if p["status"] != "healthy" || p["consecutive_failures"] != float64(0) {
		t.Fatalf("provider entry %v", p)
	}
	if _, ok := p["circuit"]; ok {
		t.Fatal("non-verbose /health shows verbose fields")
	}
	_, b = get("/health?verbose=1")
	if !strings.Contains(string(b), `"circuit":{"state":"closed"`) {
		t.Fatalf("verbose health: %s", b)
	}
	code, b = get("/v1/models")
	if code != 200 || !strings.Contains(string(b), `"id":"gpt-4o-mini"`) || !strings.Contains(string(b), `"object":"list"`) {
		t.Fatalf("/v1/models %d %s", code, b)
	}
	if code, _ = get("/livez"); code != 200 {
		t.Fatalf("/livez %d", code)
	}
	if code, _ = get("/readyz"); code != 503 {
		t.Fatalf("/readyz before Serve = %d, want 503", code)
	}
	code, b = get("/v1/nope")
	if code != 404 || !strings.Contains(string(b), `"type":"invalid_request_error"`) {
		t.Fatalf("unknown route %d %s", code, b)
	}
}

// TestServeDrainsOnShutdown starts Serve, holds a stream open, cancels the
// serve context and checks the stream still completes.
func TestServeDrainsOnShutdown(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, streamAnswer(gate), okAnswer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.gw.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM
	time.AfterFunc(50*time.Millisecond, func() { close(gate) })
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("in-flight stream cut by shutdown: %q", rest)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Loaded 2 provider(s), 0 policy(ies)", "Provider openai-primary: priority=1, health_check=disabled", "Failover: strategy=priority, model_mappings=1", "Gateway ready"} {
		if !strings.Contains(h.logs.String(), "INFO keeptrusts::gateway "+want) {
			t.Fatalf("start-up log lacks %q:\n%s", want, h.logs.String())
		}
	}
}
