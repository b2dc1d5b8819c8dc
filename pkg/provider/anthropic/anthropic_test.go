package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func testEndpoint() *provider.Endpoint {
	return &provider.Endpoint{BaseURL: "https://api.anthropic.test", APIKey: "sk-ant-endpoint"}
}

// upstreamBody runs ChatRequest and returns the body it would send.
func upstreamBody(t *testing.T, ep *provider.Endpoint, r *provider.Request) ([]byte, error) {
	t.Helper()
	req, err := newTestAdapter().ChatRequest(context.Background(), ep, r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, nil
}

func requestFor(t *testing.T, body []byte) *provider.Request {
	t.Helper()
	var flags struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(body, &flags) // error cases may be invalid JSON
	return &provider.Request{Body: body, Model: testModel, Stream: flags.Stream}
}

func TestChatRequestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "requests")
	for _, name := range cases(t, dir, ".openai.json") {
		t.Run(name, func(t *testing.T) {
			body := readFile(t, filepath.Join(dir, name+".openai.json"))
			got, err := upstreamBody(t, testEndpoint(), requestFor(t, body))
			if err != nil {
				t.Fatalf("ChatRequest: %v", err)
			}
			checkGoldenJSON(t, got, filepath.Join(dir, name+".anthropic.json"))
			checkAnthropicInvariants(t, got)
		})
	}
}

// checkAnthropicInvariants asserts what Anthropic requires of every body,
// whatever the case: a model and max_tokens, roles alternating, no empty
// message, no empty text block, tool results only in user messages.
func checkAnthropicInvariants(t *testing.T, body []byte) {
	t.Helper()
	var req anRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("upstream body: %v", err)
	}
	if req.Model != testModel {
		t.Errorf("model = %q, want the mapped %q", req.Model, testModel)
	}
	if req.MaxTokens < 1 {
		t.Errorf("max_tokens = %d", req.MaxTokens)
	}
	for i, m := range req.Messages {
		if i > 0 && req.Messages[i-1].Role == m.Role {
			t.Errorf("messages[%d] repeats role %q", i, m.Role)
		}
		if len(m.Content) == 0 {
			t.Errorf("messages[%d] is empty", i)
		}
		for j, b := range m.Content {
			if b.Type == "text" && b.Text == "" {
				t.Errorf("messages[%d].content[%d] is an empty text block", i, j)
			}
			if b.Type == "tool_result" && m.Role != "user" {
				t.Errorf("messages[%d].content[%d]: tool_result in a %s message", i, j, m.Role)
			}
		}
	}
	for i, b := range req.System {
		if b.Type != "text" || b.Text == "" {
			t.Errorf("system[%d] = %+v", i, b)
		}
	}
}

// TestGoldenPairs catches a golden left behind when its input was renamed.
func TestGoldenPairs(t *testing.T) {
	pairs := []struct{ dir, in, out string }{
		{filepath.Join("testdata", "requests"), ".openai.json", ".anthropic.json"},
		{filepath.Join("testdata", "responses"), ".anthropic.json", ".openai.json"},
		{filepath.Join("testdata", "streams"), ".anthropic.sse", ".openai.sse"},
	}
	for _, p := range pairs {
		t.Run(filepath.Base(p.dir), func(t *testing.T) {
			for _, name := range cases(t, p.dir, p.out) {
				if _, err := os.Stat(filepath.Join(p.dir, name+p.in)); err != nil {
					t.Errorf("golden %s%s has no input: %v", name, p.out, err)
				}
			}
		})
	}
}

func TestChatRequestErrors(t *testing.T) {
	// Every file under testdata/requests/errors must be listed here with the
	// param its RequestError names.
	want := map[string]string{
		"assistant_audio":                "messages[1].audio",
		"audio_output":                   "audio",
		"audio_part":                     "messages[0].content[1]",
		"bad_tool_args":                  "messages[1].tool_calls[0].function.arguments",
		"content_number":                 "messages[0].content",
		"empty_messages":                 "messages",
		"file_id":                        "messages[0].content[0].file.file_id",
		"frequency_penalty":              "frequency_penalty",
		"function_role":                  "messages[1].role",
		"functions":                      "functions",
		"image_ftp":                      "messages[0].content[0].image_url.url",
		"image_media_type":               "messages[0].content[0].image_url.url",
		"image_not_base64":               "messages[0].content[0].image_url.url",
		"logit_bias":                     "logit_bias",
		"logprobs":                       "logprobs",
		"max_completion_tokens_negative": "max_completion_tokens",
		"max_tokens_zero":                "max_tokens",
		"messages_not_array":             "messages",
		"missing_messages":               "messages",
		"modalities_audio":               "modalities",
		"n_2":                            "n",
		"not_json":                       "",
		"only_system":                    "messages",
		"presence_penalty":               "presence_penalty",
		"reasoning_effort":               "reasoning_effort",
		"response_format_schema_missing": "response_format.json_schema.schema",
		"response_format_unknown":        "response_format.type",
		"stop_number":                    "stop",
		"system_image":                   "messages[0].content[1].type",
		"temperature_high":               "temperature",
		"temperature_negative":           "temperature",
		"tool_args_array":                "messages[1].tool_calls[1].function.arguments",
		"tool_call_type":                 "messages[1].tool_calls[0].type",
		"tool_choice_allowed_tools":      "tool_choice.type",
		"tool_choice_required_no_tools":  "tool_choice",
		"tool_choice_unknown":            "tool_choice",
		"tool_missing_call_id":           "messages[2].tool_call_id",
		"tool_missing_name":              "tools[0].function.name",
		"tool_type_custom":               "tools[0].type",
		"top_logprobs":                   "top_logprobs",
		"top_p_high":                     "top_p",
		"unknown_role":                   "messages[1].role",
		"web_search_options":             "web_search_options",
	}
	dir := filepath.Join("testdata", "requests", "errors")
	names := cases(t, dir, ".openai.json")
	seen := map[string]bool{}
	for _, name := range names {
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			param, ok := want[name]
			if !ok {
				t.Fatalf("no expected param listed for %s", name)
			}
			body := readFile(t, filepath.Join(dir, name+".openai.json"))
			_, err := upstreamBody(t, testEndpoint(), requestFor(t, body))
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *provider.RequestError", err, err)
			}
			if re.Param != param {
				t.Errorf("param = %q, want %q (message %q)", re.Param, param, re.Message)
			}
			if re.Message == "" {
				t.Error("empty message")
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected case %s has no file", name)
		}
	}
}

func TestChatRequestHTTP(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`)
	tests := []struct {
		name        string
		ep          provider.Endpoint
		r           provider.Request
		wantURL     string
		wantHeaders map[string]string // "" means absent
	}{
		{
			name:    "endpoint key and defaults",
			ep:      provider.Endpoint{BaseURL: "https://api.anthropic.com", APIKey: "sk-ant-ep"},
			r:       provider.Request{Body: body, Model: testModel},
			wantURL: "https://api.anthropic.com/v1/messages",
			wantHeaders: map[string]string{
				"X-Api-Key": "sk-ant-ep", "Anthropic-Version": "2023-06-01",
				"Content-Type": "application/json", "Accept": "",
			},
		},
		{
			name:    "request key wins, version and static headers",
			ep:      provider.Endpoint{BaseURL: "http://127.0.0.1:9/proxy/", APIKey: "sk-ant-ep", Version: "2024-01-01", Header: http.Header{"X-Team": {"a"}, "X-Both": {"ep"}}},
			r:       provider.Request{Body: body, Model: testModel, APIKey: "sk-ant-client", Header: http.Header{"Anthropic-Beta": {"prompt-caching-2024-07-31"}, "X-Both": {"client"}}},
			wantURL: "http://127.0.0.1:9/proxy/v1/messages",
			wantHeaders: map[string]string{
				"X-Api-Key": "sk-ant-client", "Anthropic-Version": "2024-01-01", "X-Team": "a",
				"X-Both": "client", "Anthropic-Beta": "prompt-caching-2024-07-31",
			},
		},
		{
			name: "headers cannot replace key, version or content type",
			ep:   provider.Endpoint{BaseURL: "https://api.anthropic.com", APIKey: "sk-ant-ep", Header: http.Header{"Content-Type": {"text/plain"}}},
			r: provider.Request{Body: body, Model: testModel, Header: http.Header{
				"X-Api-Key": {"sk-ant-evil"}, "Authorization": {"Bearer sk-gateway"}, "Anthropic-Version": {"1999-01-01"},
			}},
			wantURL: "https://api.anthropic.com/v1/messages",
			wantHeaders: map[string]string{
				"X-Api-Key": "sk-ant-ep", "Authorization": "", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json",
			},
		},
		{
			name:        "no key, empty base URL, streaming",
			ep:          provider.Endpoint{},
			r:           provider.Request{Body: body, Model: testModel, Stream: true},
			wantURL:     "https://api.anthropic.com/v1/messages",
			wantHeaders: map[string]string{"X-Api-Key": "", "Accept": "text/event-stream"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), markerKey{}, "marker")
			req, err := New().ChatRequest(ctx, &tt.ep, &tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodPost || req.URL.String() != tt.wantURL {
				t.Errorf("%s %s, want POST %s", req.Method, req.URL, tt.wantURL)
			}
			if req.Context() != ctx {
				t.Error("request does not carry the caller's context")
			}
			for k, v := range tt.wantHeaders {
				if got := req.Header.Values(k); v == "" && len(got) != 0 || v != "" && (len(got) != 1 || got[0] != v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if req.GetBody == nil || req.ContentLength <= 0 {
				t.Error("body is not replayable or has no length")
			}
			// The caller's header maps must not be aliased or modified.
			if tt.r.Header != nil && tt.r.Header.Get("X-Api-Key") == "sk-ant-evil" {
				req.Header["X-Api-Key"][0] = "changed"
				if tt.r.Header.Get("X-Api-Key") != "sk-ant-evil" {
					t.Error("client header map aliased")
				}
			}
			b, _ := io.ReadAll(req.Body)
			var out anRequest
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.Stream != tt.r.Stream {
				t.Errorf("stream = %v, want %v", out.Stream, tt.r.Stream)
			}
		})
	}
}

func TestChatRequestMaxTokensAndModel(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		model     string
		defMax    int
		wantModel string
		wantMax   int64
		wantParam string
	}{
		{name: "endpoint default", body: `{"messages":[{"role":"user","content":"Hi"}]}`, model: "m", defMax: 1024, wantModel: "m", wantMax: 1024},
		{name: "fallback", body: `{"messages":[{"role":"user","content":"Hi"}]}`, model: "m", wantModel: "m", wantMax: 4096},
		{name: "client wins over endpoint", body: `{"max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`, model: "m", defMax: 1024, wantModel: "m", wantMax: 10},
		{name: "body model when none mapped", body: `{"model":"claude-3-5-haiku-latest","messages":[{"role":"user","content":"Hi"}]}`, wantModel: "claude-3-5-haiku-latest", wantMax: 4096},
		{name: "no model at all", body: `{"messages":[{"role":"user","content":"Hi"}]}`, wantParam: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := testEndpoint()
			ep.DefaultMaxTokens = tt.defMax
			b, err := upstreamBody(t, ep, &provider.Request{Body: []byte(tt.body), Model: tt.model})
			if tt.wantParam != "" {
				var re *provider.RequestError
				if !errors.As(err, &re) || re.Param != tt.wantParam {
					t.Fatalf("err = %v, want RequestError on %q", err, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out anRequest
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.Model != tt.wantModel || out.MaxTokens != tt.wantMax {
				t.Errorf("model %q max_tokens %d, want %q %d", out.Model, out.MaxTokens, tt.wantModel, tt.wantMax)
			}
		})
	}
}

func TestProbeRequest(t *testing.T) {
	ep := &provider.Endpoint{BaseURL: "https://api.anthropic.test/", APIKey: "sk-ant-probe", Header: http.Header{"X-Team": {"a"}}}
	req, err := New().ProbeRequest(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodGet || req.URL.String() != "https://api.anthropic.test/v1/models?limit=1" {
		t.Errorf("%s %s", req.Method, req.URL)
	}
	for k, v := range map[string]string{"X-Api-Key": "sk-ant-probe", "Anthropic-Version": "2023-06-01", "X-Team": "a"} {
		if got := req.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if req.Body != nil && req.Body != http.NoBody {
		t.Error("probe has a body")
	}
	if _, err := New().ProbeRequest(context.Background(), &provider.Endpoint{BaseURL: "http://bad host"}); err == nil {
		t.Error("invalid base URL accepted")
	}
}

func TestKind(t *testing.T) {
	if k := New().Kind(); k != "anthropic" {
		t.Errorf("Kind = %q", k)
	}
}

func TestErrorBody(t *testing.T) {
	anErr := func(typ, msg string) []byte {
		return []byte(`{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`)
	}
	type want struct {
		typ, code, message string
	}
	tests := []struct {
		name   string
		status int
		body   []byte
		want   want
	}{
		{"400 invalid request", 400, anErr("invalid_request_error", "max_tokens: Field required"), want{"invalid_request_error", "", "max_tokens: Field required"}},
		{"401 authentication", 401, anErr("authentication_error", "invalid x-api-key"), want{"authentication_error", "invalid_api_key", "invalid x-api-key"}},
		{"403 permission", 403, anErr("permission_error", "Your API key does not have permission to use the specified resource."), want{"permission_error", "", "Your API key does not have permission to use the specified resource."}},
		{"404 not found", 404, anErr("not_found_error", "model: claude-x"), want{"not_found_error", "", "model: claude-x"}},
		{"413 too large", 413, anErr("request_too_large", "Request exceeds the maximum allowed number of bytes."), want{"invalid_request_error", "request_too_large", "Request exceeds the maximum allowed number of bytes."}},
		{"429 rate limit", 429, anErr("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), want{"rate_limit_error", "rate_limit_exceeded", "Number of request tokens has exceeded your per-minute rate limit"}},
		{"500 api error", 500, anErr("api_error", "Internal server error"), want{"server_error", "", "Internal server error"}},
		{"529 overloaded", 529, anErr("overloaded_error", "Overloaded"), want{"server_error", "overloaded", "Overloaded"}},
		{"unknown type falls back to status", 503, anErr("brand_new_error", "Something new"), want{"service_unavailable", "", "Something new"}},
		{"key in message is redacted", 401, anErr("authentication_error", "invalid x-api-key sk-ant-api03-AbC_123-xyz given"), want{"authentication_error", "invalid_api_key", "invalid x-api-key sk-ant-*** given"}},
		{"html from a proxy", 502, []byte("<html><body>Bad Gateway sk-ant-secret</body></html>"), want{"server_error", "", "anthropic upstream answered HTTP 502 Bad Gateway"}},
		{"empty body", 529, nil, want{"server_error", "", "anthropic upstream answered HTTP 529"}},
		{"json without message", 429, []byte(`{"type":"error","error":{}}`), want{"rate_limit_error", "", "anthropic upstream answered HTTP 429 Too Many Requests"}},
		{"json of another shape", 400, []byte(`[1,2,3]`), want{"invalid_request_error", "", "anthropic upstream answered HTTP 400 Bad Request"}},
		{"truncated json", 500, []byte(`{"type":"error","error":{"type":"api_error","mess`), want{"server_error", "", "anthropic upstream answered HTTP 500 Internal Server Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := New().ErrorBody(tt.status, tt.body)
			var got struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("not JSON: %v: %s", err, out)
			}
			code := ""
			if got.Error.Code != nil {
				code = *got.Error.Code
			}
			if got.Error.Type != tt.want.typ || code != tt.want.code || got.Error.Message != tt.want.message {
				t.Errorf("got %s", out)
			}
			if strings.Contains(string(out), "secret") || strings.Contains(string(out), "AbC_123") {
				t.Errorf("key leaked: %s", out)
			}
		})
	}
}

func TestChatResponseGolden(t *testing.T) {
	dir := filepath.Join("testdata", "responses")
	for _, name := range cases(t, dir, ".anthropic.json") {
		t.Run(name, func(t *testing.T) {
			body := readFile(t, filepath.Join(dir, name+".anthropic.json"))
			res, err := newTestAdapter().ChatResponse(body, &provider.Request{Model: testModel})
			if err != nil {
				t.Fatal(err)
			}
			checkGoldenJSON(t, res.Body, filepath.Join(dir, name+".openai.json"), "created")
		})
	}
}

func TestChatResponseFacts(t *testing.T) {
	dir := filepath.Join("testdata", "responses")
	tests := []struct {
		name   string
		usage  provider.Usage
		finish string
	}{
		{"text", provider.Usage{InputTokens: 25, OutputTokens: 12}, "stop"},
		{"tool_use", provider.Usage{InputTokens: 384, OutputTokens: 67}, "tool_calls"},
		{"max_tokens", provider.Usage{InputTokens: 10, OutputTokens: 5}, "length"},
		{"refusal", provider.Usage{InputTokens: 10, OutputTokens: 8}, "content_filter"},
		{"pause_turn", provider.Usage{InputTokens: 10, OutputTokens: 3}, "stop"},
		{"stop_sequence", provider.Usage{InputTokens: 10, OutputTokens: 8}, "stop"},
		{"cache_usage", provider.Usage{InputTokens: 2112, OutputTokens: 4, CacheReadTokens: 2000, CacheCreationTokens: 100}, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := readFile(t, filepath.Join(dir, tt.name+".anthropic.json"))
			res, err := New().ChatResponse(body, &provider.Request{Model: testModel})
			if err != nil {
				t.Fatal(err)
			}
			if res.Model != "claude-sonnet-4-20250514" || res.Usage != tt.usage || len(res.FinishReasons) != 1 || res.FinishReasons[0] != tt.finish {
				t.Errorf("model %q usage %+v finish %v", res.Model, res.Usage, res.FinishReasons)
			}
			var out oaResponse
			if err := json.Unmarshal(res.Body, &out); err != nil {
				t.Fatal(err)
			}
			if out.Created <= 0 || out.Object != "chat.completion" {
				t.Errorf("created %d object %q", out.Created, out.Object)
			}
			if out.Usage.TotalTokens != tt.usage.InputTokens+tt.usage.OutputTokens {
				t.Errorf("total_tokens = %d", out.Usage.TotalTokens)
			}
		})
	}
}

func TestChatResponseInvalid(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", `<html>`},
		{"error object with 200", `{"type":"error","error":{"type":"api_error","message":"x"}}`},
		{"wrong content type", `{"type":"message","content":"text"}`},
		{"truncated", `{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{"x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New().ChatResponse([]byte(tt.body), &provider.Request{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// markerKey marks a context to check the request carries it.
type markerKey struct{}
