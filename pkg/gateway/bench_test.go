package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/config"
)

// roundTripFunc is an in-memory upstream: no sockets, so a benchmark
// measures the gateway's own work.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}`

func benchStreamBody() string {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	b.WriteString("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	return b.String()
}

// benchAnthropicAnswer and benchAnthropicStream are the same answer as
// benchAnswer and benchStreamBody in Anthropic's Messages format.
const benchAnthropicAnswer = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"The capital of France is Paris."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"output_tokens":8}}`

func benchAnthropicStream() string {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":14,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := range 20 {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w%d \"}}\n\n", i)
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":20}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.String()
}

// benchGateway builds a gateway whose single OpenAI target answers from memory.
func benchGateway(b *testing.B, events bool, policies string) http.Handler {
	b.Helper()
	return benchGatewayKind(b, "openai", events, policies)
}

// benchGatewayKind is benchGateway with a target of the given provider
// kind (openai or anthropic), answering in that provider's format.
func benchGatewayKind(b *testing.B, kind string, events bool, policies string) http.Handler {
	b.Helper()
	return benchGatewayTargets(b, kind, false, events, policies)
}

// benchGatewayTargets builds the gateway of benchGatewayKind, with a dead
// OpenAI primary before the target when deadPrimary is set: its transport
// refuses every request, so its breaker opens (for an hour) after the
// first few and later requests skip it, as on a gateway whose primary is
// down.
func benchGatewayTargets(b *testing.B, kind string, deadPrimary, events bool, policies string) http.Handler {
	b.Helper()
	yaml := "version: '1'\nproviders:\n  targets:\n"
	if deadPrimary {
		yaml += "    - id: dead\n      provider: openai\n      base_url: http://dead.invalid/v1\n      secret_key_ref: {env: K}\n      health_check: {enabled: false}\n      circuit_breaker: {open_seconds: 3600}\n"
	}
	yaml += "    - id: primary\n      provider: " + kind + "\n      base_url: http://upstream.invalid/v1\n      secret_key_ref: {env: K}\n      health_check: {enabled: false}\n"
	if deadPrimary {
		yaml += "  failover: {enabled: true}\n"
	}
	yaml += policies
	cfg, problems, err := config.Load(config.LoadOptions{Data: []byte(yaml), Environ: []string{"K=x"}})
	if err != nil || problems.Err() != nil {
		b.Fatal(err, problems)
	}
	cfg.Events.Path = filepath.Join(b.TempDir(), "events.db")
	if !events {
		f := false
		cfg.Events.Enabled = &f
	}
	gw, err := New(cfg, []string{"K=x"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Close(context.Background()) })
	answer, stream := benchAnswer, benchStreamBody()
	if kind == "anthropic" {
		answer, stream = benchAnthropicAnswer, benchAnthropicStream()
	}
	targets := gw.rt.Load().targets
	if deadPrimary {
		targets[0].Client.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		})
	}
	targets[len(targets)-1].Client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		body, ct := answer, "application/json"
		if r.Header.Get("Accept") == "text/event-stream" {
			body, ct = stream, "text/event-stream"
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	})
	return gw.Handler()
}

func benchChat(b *testing.B, h http.Handler, body string, hdr ...string) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChat is the gateway's CPU per request without the network:
// decode, route, attempt, metadata, events.
func BenchmarkChat(b *testing.B) {
	for _, tc := range []struct {
		name     string
		events   bool
		policies string
		stream   bool
	}{
		{"plain", false, "", false},
		{"events", true, "", false},
		{"events+content_filter", true, "policies:\n  - {name: cf, type: content_filter, action: flag, config: {categories: [hate, violence]}}\n", false},
		{"stream", false, "", true},
		// A gateway key and a team with a request limit and a budget too
		// large to bind: the cost of auth and limits per request.
		{"auth+limits", false, "auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + auth.HashKey(checkoutKey) + "}\n" +
			"teams:\n  - {id: t, rate_limit: {requests_per_minute: 1e12, tokens_per_minute: 1e15}, budget: {daily_usd: 1e12}}\n", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := tutorialReq
			if tc.stream {
				body = strings.Replace(tutorialReq, `{"model"`, `{"stream":true,"model"`, 1)
			}
			benchChat(b, benchGateway(b, tc.events, tc.policies), body, "Authorization", "Bearer "+checkoutKey)
		})
	}
}

// BenchmarkChatFailoverPath is a request whose primary is down with its
// breaker open: the skip (attempt record, failover step, metadata and the
// event's failover fields) on top of the answered attempt; "plain" is the
// same request with no dead primary.
func BenchmarkChatFailoverPath(b *testing.B) {
	for _, dead := range []bool{false, true} {
		name := "plain"
		if dead {
			name = "skip-open-primary"
		}
		b.Run(name, func(b *testing.B) {
			h := benchGatewayTargets(b, "openai", dead, true, "")
			var rec *httptest.ResponseRecorder
			for range 10 { // open the dead primary's breaker
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(tutorialReq)))
			}
			// Measure the skip, not a connection error and a failover.
			if dead && !strings.Contains(rec.Body.String(), `"circuit_open"`) {
				b.Fatalf("the dead primary's breaker is not open after the warm-up: %d %s", rec.Code, rec.Body)
			}
			benchChat(b, h, tutorialReq)
		})
	}
}

// BenchmarkChatProvider compares a request through an Anthropic target
// (translated both ways) with the same request through an OpenAI target
// (passed through), streaming and not.
func BenchmarkChatProvider(b *testing.B) {
	for _, stream := range []bool{false, true} {
		for _, kind := range []string{"openai", "anthropic"} {
			name := kind
			if stream {
				name += "/stream"
			}
			b.Run(name, func(b *testing.B) {
				body := tutorialReq
				if stream {
					body = strings.Replace(tutorialReq, `{"model"`, `{"stream":true,"model"`, 1)
				}
				benchChat(b, benchGatewayKind(b, kind, false, ""), body)
			})
		}
	}
}

func BenchmarkParseChat(b *testing.B) {
	body := []byte(strings.Replace(tutorialReq, "What is the capital of France?", strings.Repeat("lorem ipsum ", 160), 1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendMetadata(b *testing.B) {
	m := &metadata{Provider: "openai-primary", RequestID: "req_01jz0000000000000000000000",
		Failover: failoverJSON{Triggered: true, OriginalProvider: "openai-primary", Reason: "auth_error"},
		Attempts: []attemptJSON{{Target: "openai-primary", Model: "gpt-4o-mini", Outcome: "auth_error", Status: 401, DurationMS: 1.5},
			{Target: "anthropic-fallback", Model: "claude-sonnet-4-20250514", Outcome: "ok", DurationMS: 120.25}}}
	// An answer as the router reads it: with the spare capacity of its
	// read buffer, which appendMetadata writes into.
	body := make([]byte, 0, len(benchAnswer)+bytes.MinRead)
	b.ReportAllocs()
	for b.Loop() {
		body = append(body[:0], benchAnswer...)
		out := appendMetadata(body, m)
		if !bytes.HasSuffix(out, []byte("}}")) {
			b.Fatal(string(out))
		}
	}
}

// TestAppendMetadataIsJSON checks the hand-written metadata against
// encoding/json's reading of it.
func TestAppendMetadataIsJSON(t *testing.T) {
	m := &metadata{Provider: "p", RequestID: "r\"<&>\n\x01",
		Failover: failoverJSON{Triggered: true, OriginalProvider: "a", Reason: "auth_error"},
		Attempts: []attemptJSON{{Target: "a", Model: "m\\x", Outcome: "auth_error", Status: 401, Skipped: true, DurationMS: 1.25}},
		Policies: []policyJSON{{Name: "cf", Outcome: "flagged", Categories: []string{"hate", "violence"}}}}
	for _, body := range []string{`{"a":1}`, `{}`, "{ }\n", `{"x":{"y":[1,2]}}`} {
		out := appendMetadata([]byte(body), m)
		var got struct {
			Meta struct {
				Provider  string
				RequestID string `json:"request_id"`
				Failover  failoverJSON
				Attempts  []attemptJSON
				Policies  []policyJSON
			} `json:"keeptrusts_metadata"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got.Meta.RequestID != m.RequestID || got.Meta.Failover != m.Failover || got.Meta.Attempts[0] != m.Attempts[0] ||
			got.Meta.Policies[0].Categories[1] != "violence" || got.Meta.Provider != "p" {
			t.Fatalf("round trip: %+v", got.Meta)
		}
	}
}

// TestAppendMetadataInPlace: an answer read with spare capacity gets its
// metadata without a copy, and the result is the same as from a tight one.
func TestAppendMetadataInPlace(t *testing.T) {
	m := &metadata{Provider: "p", RequestID: "r", Attempts: []attemptJSON{{Target: "p", Model: "m", Outcome: "ok", DurationMS: 1}}}
	want := string(appendMetadata([]byte(benchAnswer), m))
	buf := make([]byte, 0, len(benchAnswer)+bytes.MinRead)
	var got []byte
	if n := testing.AllocsPerRun(10, func() {
		buf = append(buf[:0], benchAnswer...)
		got = appendMetadata(buf, m)
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
	if string(got) != want {
		t.Errorf("in place:\n%s\nwant\n%s", got, want)
	}
}
