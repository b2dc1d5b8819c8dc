package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// frontCfg is the simulator pair (openai primary, anthropic fallback)
// with auth on, so that keys and error shapes can be checked per API.
const frontCfg = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
    - id: anthropic-fallback
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
  failover:
    retry: {max_attempts: 1, timeout_seconds: 5}
auth:
  enabled: true
  keys:
    - {name: app, team: t, hash: %s}
routes:
  - model: claude-*
    targets: [{target: anthropic-fallback}, {target: openai-primary, model: gpt-4o-mini}]
  - model: gpt-*
    targets: [{target: openai-primary}, {target: anthropic-fallback, model: claude-sonnet-4-20250514}]
  - model: text-embedding-*
    targets: [{target: openai-primary}, {target: anthropic-fallback}]
`

func frontGateway(t *testing.T) (*simPair, string) {
	t.Helper()
	p := newSimPair(t)
	_, srv := simGateway(t, fmt.Appendf(nil, frontCfg, p.primarySrv.URL(), p.fallbackSrv.URL(), auth.HashKey(frontKey)))
	return p, srv.URL
}

const frontKey = "kt-front-key-1"

type frontAnswer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, body string, hdr ...string) frontAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
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
	return frontAnswer{resp.StatusCode, resp.Header, string(b)}
}

// TestFrontDoorErrorsInTheAPIsShape: every refusal the gateway makes
// itself (a bad body, a missing or wrong key, an unknown model) is in the
// wire format of the endpoint asked, with the status the API uses.
func TestFrontDoorErrorsInTheAPIsShape(t *testing.T) {
	_, url := frontGateway(t)
	const key = frontKey
	tests := []struct {
		name      string
		path      string
		body      string
		hdr       []string
		status    int
		anthropic bool   // Anthropic's shape, else OpenAI's
		typ       string // error type
		mentions  string
	}{
		{"messages without max_tokens", "/v1/messages", `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}]}`, []string{"x-api-key", key}, 400, true, "invalid_request_error", "max_tokens"},
		{"messages without a key", "/v1/messages", `{"model":"claude-sonnet-4-20250514","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, nil, 401, true, "authentication_error", "gateway key"},
		{"messages with a wrong x-api-key", "/v1/messages", `{"model":"claude-sonnet-4-20250514","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, []string{"x-api-key", "kt-wrong"}, 401, true, "authentication_error", "Invalid gateway key"},
		{"messages for an unrouted model", "/v1/messages", `{"model":"llama-3","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, []string{"x-api-key", key}, 404, true, "not_found_error", "llama-3"},
		{"count_tokens without messages", "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-20250514"}`, []string{"x-api-key", key}, 400, true, "invalid_request_error", "messages"},
		{"embeddings without input", "/v1/embeddings", `{"model":"text-embedding-3-small"}`, []string{"Authorization", "Bearer " + key}, 400, false, "invalid_request_error", "input"},
		{"embeddings cannot stream", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","stream":true}`, []string{"Authorization", "Bearer " + key}, 400, false, "invalid_request_error", "stream"},
		{"completions without prompt", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct"}`, []string{"Authorization", "Bearer " + key}, 400, false, "invalid_request_error", "prompt"},
		{"responses with a bad previous id", "/v1/responses", `{"model":"gpt-4o-mini","input":"hi","previous_response_id":7}`, []string{"Authorization", "Bearer " + key}, 400, false, "invalid_request_error", "previous_response_id"},
		{"responses without a key", "/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`, nil, 401, false, "invalid_request_error", "gateway key"},
		{"a response nobody answered", "/v1/responses/resp_unknown", "", []string{"Authorization", "Bearer " + key}, 404, false, "invalid_request_error", "resp_unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.body == "" {
				method = http.MethodGet
			}
			got := send(t, method, url+tt.path, tt.body, tt.hdr...)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			b := gjson.Parse(got.body)
			typ, msg := b.Get("error.type").Str, b.Get("error.message").Str
			if tt.anthropic != (b.Get("type").Str == "error") {
				t.Fatalf("shape: anthropic=%v, body %s", tt.anthropic, got.body)
			}
			if typ != tt.typ || !strings.Contains(msg, tt.mentions) {
				t.Fatalf("error type %q message %q, want %q mentioning %q", typ, msg, tt.typ, tt.mentions)
			}
			if strings.Contains(got.body, "kt-wrong") {
				t.Fatal("the presented key is echoed")
			}
		})
	}
}

// TestCountTokensEstimateWithoutAnthropic: with no target that counts
// tokens on the route, count_tokens is answered with an estimate marked
// as such.
func TestCountTokensEstimateWithoutAnthropic(t *testing.T) {
	p := newSimPair(t)
	cfg := fmt.Sprintf(`version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
`, p.primarySrv.URL())
	_, srv := simGateway(t, []byte(cfg))
	short := send(t, "POST", srv.URL+"/v1/messages/count_tokens", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there"}]}`)
	long := send(t, "POST", srv.URL+"/v1/messages/count_tokens", `{"model":"gpt-4o-mini","system":"You are terse.","messages":[{"role":"user","content":"`+strings.Repeat("word ", 400)+`"}]}`)
	for _, a := range []frontAnswer{short, long} {
		if a.status != 200 || a.header.Get("X-Keeptrusts-Token-Count") != "estimated" || gjson.Get(a.body, "keeptrusts_metadata.token_count").Str != "estimated" {
			t.Fatalf("status %d header %q body %s, want an estimate marked as such", a.status, a.header.Get("X-Keeptrusts-Token-Count"), a.body)
		}
	}
	s, l := gjson.Get(short.body, "input_tokens").Int(), gjson.Get(long.body, "input_tokens").Int()
	if s < 3 || s > 20 || l < 400 || l > 700 {
		t.Fatalf("estimates %d (2 words) and %d (400 words + system): not in the expected ranges", s, l)
	}
}

// TestMessagesFailsOverAcrossKinds: /v1/messages is answered in
// Anthropic's format by the anthropic target (passed through) and, with it
// down, by the openai target through the bridge, streaming and not; the
// event names the endpoint.
func TestMessagesFailsOverAcrossKinds(t *testing.T) {
	p, url := frontGateway(t)
	const body = `{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"What is the capital of France?"}]%s}`
	for _, down := range []bool{false, true} {
		if down {
			p.fallback.SetFault(sim.Fault{Kind: sim.FaultDown})
		}
		want := "anthropic-fallback"
		if down {
			want = "openai-primary"
		}
		t.Run(fmt.Sprintf("anthropic down=%v", down), func(t *testing.T) {
			got := send(t, "POST", url+"/v1/messages", fmt.Sprintf(body, ""), "x-api-key", frontKey, "anthropic-version", "2023-06-01")
			b := gjson.Parse(got.body)
			if got.status != 200 || b.Get("type").Str != "message" || b.Get("content.0.type").Str != "text" || b.Get("content.0.text").Str == "" {
				t.Fatalf("status %d body %s", got.status, got.body)
			}
			if p := b.Get("keeptrusts_metadata.provider").Str; p != want {
				t.Fatalf("answered by %s, want %s", p, want)
			}
			if r := b.Get("stop_reason").Str; r != "end_turn" {
				t.Errorf("stop_reason %q", r)
			}
			if b.Get("usage.input_tokens").Int() == 0 || b.Get("usage.output_tokens").Int() == 0 {
				t.Errorf("usage missing: %s", b.Get("usage").Raw)
			}

			st := send(t, "POST", url+"/v1/messages", fmt.Sprintf(body, `,"stream":true`), "x-api-key", frontKey)
			if st.status != 200 || st.header.Get(hdrProvider) != want {
				t.Fatalf("stream: status %d provider %q: %s", st.status, st.header.Get(hdrProvider), st.body)
			}
			var names []string
			for _, line := range strings.Split(st.body, "\n") {
				if n, ok := strings.CutPrefix(line, "event: "); ok && n != "ping" && (len(names) == 0 || names[len(names)-1] != n) {
					names = append(names, n)
				}
			}
			wantSeq := "message_start content_block_start content_block_delta content_block_stop message_delta message_stop"
			if strings.Join(names, " ") != wantSeq {
				t.Fatalf("events %v, want %s", names, wantSeq)
			}
		})
	}
}

// threeSims is the simulator pair plus a second OpenAI simulator: another
// deployment of the same models (a vLLM or Azure copy).
type threeSims struct {
	*simPair
	second *sim.Sim
	url    string // the gateway's
}

const threeCfg = `version: '1'
providers:
  targets:
    - id: openai-a
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 100}
    - id: openai-b
      provider: openai_compatible
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
    - id: anthropic
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
  failover:
    retry: {max_attempts: 2, timeout_seconds: 5}
routes:
  - model: text-embedding-3-small
    targets: [{target: openai-a}, {target: anthropic}, {target: openai-b}]
  - model: gpt-3.5-turbo-instruct
    targets: [{target: openai-a}, {target: anthropic}, {target: openai-b}]
  - model: gpt-*
    targets: [{target: openai-a}, {target: anthropic, model: claude-sonnet-4-20250514}]
  # A catch-all whose fallback names a model: lint cannot tell it serves
  # embeddings, the router still keeps them on one model.
  - model: "*"
    targets: [{target: openai-a}, {target: openai-b, model: gpt-4o-mini}]
`

func newThreeSims(t *testing.T) *threeSims {
	t.Helper()
	p := newSimPair(t)
	second := sim.New(sim.Options{Kind: sim.KindOpenAI, ExpectKey: simOpenAIKey})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, gw := simGateway(t, fmt.Appendf(nil, threeCfg, p.primarySrv.URL(), srv.URL(), p.fallbackSrv.URL()))
	return &threeSims{simPair: p, second: second, url: gw.URL}
}

// TestEmbeddingsAndCompletionsFailover: embeddings and legacy completions
// fail over between the OpenAI deployments, skip the Anthropic target
// (which serves neither) and never move embeddings to another model.
func TestEmbeddingsAndCompletionsFailover(t *testing.T) {
	s := newThreeSims(t)
	tests := []struct {
		name, path, body string
		aDown            bool
		status           int
		provider         string
	}{
		{"embeddings on the primary", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b","c"]}`, false, 200, "openai-a"},
		{"embeddings fail over to the same model", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b","c"]}`, true, 200, "openai-b"},
		{"embeddings never move to another model", "/v1/embeddings", `{"model":"text-embedding-3-large","input":"a"}`, true, 503, ""},
		{"the catch-all answers embeddings on the primary", "/v1/embeddings", `{"model":"text-embedding-3-large","input":"a"}`, false, 200, "openai-a"},
		{"completions on the primary", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}`, false, 200, "openai-a"},
		{"completions fail over", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}`, true, 200, "openai-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.aDown {
				s.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
				defer s.primary.SetFault(sim.Fault{})
			}
			got := send(t, "POST", s.url+tt.path, tt.body)
			b := gjson.Parse(got.body)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			if tt.status != 200 {
				if !strings.Contains(b.Get("error.message").Str, "not comparable") {
					t.Fatalf("the 503 does not say why: %s", got.body)
				}
				return
			}
			if p := b.Get("keeptrusts_metadata.provider").Str; p != tt.provider {
				t.Fatalf("answered by %s, want %s: %s", p, tt.provider, got.body)
			}
			for _, a := range b.Get("keeptrusts_metadata.attempts").Array() {
				if a.Get("target").Str == "anthropic" && a.Get("outcome").Str != "unsupported_request" {
					t.Errorf("the anthropic target was %s, want skipped as unsupported_request", a.Get("outcome").Str)
				}
			}
		})
	}
	t.Run("embeddings vectors", func(t *testing.T) {
		got := send(t, "POST", s.url+"/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":8}`)
		data := gjson.Get(got.body, "data").Array()
		if got.status != 200 || len(data) != 2 || data[0].Get("embedding").Type != gjson.String {
			t.Fatalf("status %d: %s", got.status, got.body)
		}
	})
}

// TestResponsesStayWithTheirState: a Responses API answer from a target
// with the API is remembered; a follow-up naming it (and GET / DELETE of
// it) goes to that target only, and gets a 503 explaining why when that
// target is down, even though another provider is up. A stateless request
// fails over to Anthropic through the bridge.
func TestResponsesStayWithTheirState(t *testing.T) {
	s := newThreeSims(t)
	first := send(t, "POST", s.url+"/v1/responses", `{"model":"gpt-4o-mini","input":"What is the capital of France?","store":true}`)
	id := gjson.Get(first.body, "id").Str
	if first.status != 200 || id == "" || gjson.Get(first.body, "keeptrusts_metadata.provider").Str != "openai-a" {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	follow := `{"model":"gpt-4o-mini","input":"And of Italy?","previous_response_id":"` + id + `"}`
	got := send(t, "POST", s.url+"/v1/responses", follow)
	if got.status != 200 || gjson.Get(got.body, "keeptrusts_metadata.provider").Str != "openai-a" {
		t.Fatalf("follow-up: %d %s", got.status, got.body)
	}
	if g := send(t, "GET", s.url+"/v1/responses/"+id, ""); g.status != 200 || gjson.Get(g.body, "id").Str != id {
		t.Fatalf("GET: %d %s", g.status, g.body)
	}

	s.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
	got = send(t, "POST", s.url+"/v1/responses", follow)
	msg := gjson.Get(got.body, "error.message").Str
	if got.status != 503 || !strings.Contains(msg, "openai-a") || !strings.Contains(msg, "cannot fail over") {
		t.Fatalf("follow-up with its target down: %d %s", got.status, got.body)
	}
	for _, a := range gjson.Get(got.body, "keeptrusts_metadata.attempts").Array() {
		if a.Get("target").Str != "openai-a" {
			t.Fatalf("a pinned follow-up went to %s", a.Get("target").Str)
		}
	}
	if g := send(t, "GET", s.url+"/v1/responses/"+id, ""); g.status != 503 {
		t.Fatalf("GET with its target down: %d %s", g.status, g.body)
	}

	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"gpt-4o-mini","input":"Hi","stream":%t}`, stream)
		got = send(t, "POST", s.url+"/v1/responses", body)
		prov := gjson.Get(got.body, "keeptrusts_metadata.provider").Str
		if stream {
			prov = got.header.Get(hdrProvider)
		}
		if got.status != 200 || prov != "anthropic" {
			t.Fatalf("stateless (stream %v) with openai-a down: %d by %q: %s", stream, got.status, prov, got.body)
		}
		if stream && !strings.Contains(got.body, "event: response.completed") {
			t.Fatalf("bridged stream without response.completed: %s", got.body)
		}
	}
	s.primary.SetFault(sim.Fault{})
	if d := send(t, "DELETE", s.url+"/v1/responses/"+id, ""); d.status != 200 || !gjson.Get(d.body, "deleted").Bool() {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
}
