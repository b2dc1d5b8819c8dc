package messages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/sse"
)

const testModel = "gpt-4o-mini"

func testEndpoint() *provider.Endpoint {
	return &provider.Endpoint{BaseURL: "http://127.0.0.1:1/v1", APIKey: "sk-target"}
}

// buildRequest runs the bridge's ChatRequest over inner and returns the
// request and the chat body it sends.
func buildRequest(t *testing.T, b provider.Adapter, r *provider.Request) (*http.Request, []byte) {
	t.Helper()
	req, err := b.ChatRequest(context.Background(), testEndpoint(), r)
	if err != nil {
		t.Fatalf("ChatRequest: %v", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return req, body
}

func TestGoldenRequests(t *testing.T) {
	dir := filepath.Join("testdata", "requests")
	for _, name := range cases(t, dir, ".anthropic.json") {
		t.Run(name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, name+".anthropic.json"))
			b := Bridge(openai.New("openai_compatible"))
			r := &provider.Request{Body: in, Model: testModel, BodyModel: gjson.GetBytes(in, "model").String(), Stream: gjson.GetBytes(in, "stream").Bool()}
			req, body := buildRequest(t, b, r)
			if r.Inner == nil || !bytes.Equal(r.Inner.Body, body) {
				t.Fatalf("r.Inner does not hold the chat request sent")
			}
			if got := req.URL.Path; got != "/v1/chat/completions" {
				t.Errorf("path %q", got)
			}
			checkGoldenJSON(t, filepath.Join(dir, name+".openai.json"), body)
		})
	}
}

func TestGoldenResponses(t *testing.T) {
	dir := filepath.Join("testdata", "responses")
	for _, name := range cases(t, dir, ".openai.json") {
		t.Run(name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, name+".openai.json"))
			b := Bridge(openai.New("openai"))
			r := &provider.Request{Model: testModel}
			r.Inner = &provider.Request{Model: testModel}
			res, err := b.ChatResponse(in, r)
			if err != nil {
				t.Fatalf("ChatResponse: %v", err)
			}
			if res.Model != gjson.GetBytes(in, "model").String() {
				t.Errorf("model %q", res.Model)
			}
			if want := gjson.GetBytes(in, "usage.prompt_tokens").Int(); res.Usage.InputTokens != want {
				t.Errorf("usage.InputTokens %d, want %d", res.Usage.InputTokens, want)
			}
			checkGoldenJSON(t, filepath.Join(dir, name+".anthropic.json"), res.Body)
		})
	}
}

// runStream feeds every event of an SSE text through a bridge stream and
// returns what it wrote and the first error.
func runStream(t testing.TB, s provider.Stream, in []byte) ([]byte, error) {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(in))
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return s.Finish(out)
		}
		if err != nil {
			t.Fatalf("reading the input: %v", err)
		}
		next, err := s.Event(out, ev)
		if err != nil {
			if errors.Is(err, provider.ErrMalformedEvent) {
				return out, err
			}
			return next, err
		}
		out = next
	}
}

func TestGoldenStreams(t *testing.T) {
	dir := filepath.Join("testdata", "streams")
	wantErr := map[string]bool{"error_event": true}
	for _, name := range cases(t, dir, ".openai.sse") {
		t.Run(name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, name+".openai.sse"))
			b := Bridge(openai.New("openai"))
			r := &provider.Request{Model: testModel, Stream: true}
			r.Inner = &provider.Request{Model: testModel, Stream: true}
			s := b.NewStream(r)
			out, err := runStream(t, s, in)
			if (err != nil) != wantErr[name] {
				t.Fatalf("err = %v, want error %v", err, wantErr[name])
			}
			if s.Done() == wantErr[name] {
				t.Errorf("Done() = %v", s.Done())
			}
			checkFrames(t, out)
			checkGoldenBytes(t, filepath.Join(dir, name+".anthropic.sse"), out)
		})
	}
}

// checkFrames checks that out is a sequence of "event: NAME\ndata: JSON\n\n"
// frames whose data's type is NAME (comments aside).
func checkFrames(t testing.TB, out []byte) {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(out))
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("frames: %v\n%s", err, out)
		}
		if len(ev.Data) == 0 {
			continue
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("frame data is not JSON: %s", ev.Data)
		}
		if typ := gjson.GetBytes(ev.Data, "type").String(); typ != string(ev.Name) {
			t.Fatalf("event %q carries type %q", ev.Name, typ)
		}
	}
}

func TestRequestTranslation(t *testing.T) {
	tests := []struct {
		name  string
		kind  string
		body  string
		check map[string]string // gjson path → raw JSON wanted ("" = absent)
	}{
		{"openai kind uses max_completion_tokens", "openai", `{"model":"x","max_tokens":7,"messages":[]}`,
			map[string]string{"max_completion_tokens": "7", "max_tokens": ""}},
		{"compatible kind uses max_tokens", "openai_compatible", `{"model":"x","max_tokens":7,"messages":[]}`,
			map[string]string{"max_tokens": "7", "max_completion_tokens": ""}},
		{"model is the mapped one", "openai", `{"model":"claude-x","max_tokens":1,"messages":[]}`,
			map[string]string{"model": `"` + testModel + `"`}},
		{"temperature 0 kept", "openai", `{"model":"x","max_tokens":1,"temperature":0,"messages":[]}`,
			map[string]string{"temperature": "0"}},
		{"tool_choice auto", "openai", `{"model":"x","max_tokens":1,"tools":[{"name":"f"}],"tool_choice":{"type":"auto"},"messages":[]}`,
			map[string]string{"tool_choice": `"auto"`, "parallel_tool_calls": "", "tools.0.function.parameters": `{"type":"object","properties":{}}`}},
		{"tool_choice none", "openai", `{"model":"x","max_tokens":1,"tools":[{"name":"f"}],"tool_choice":{"type":"none"},"messages":[]}`,
			map[string]string{"tool_choice": `"none"`}},
		{"tool_choice without tools is left out", "openai", `{"model":"x","max_tokens":1,"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[]}`,
			map[string]string{"tool_choice": "", "parallel_tool_calls": ""}},
		{"top_k and thinking not sent", "openai", `{"model":"x","max_tokens":1,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[]}`,
			map[string]string{"top_k": "", "thinking": ""}},
		{"assistant thinking only is left out", "openai", `{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"x"}]}]}`,
			map[string]string{"messages.#": "1"}},
		{"stream asks for usage", "openai", `{"model":"x","max_tokens":1,"stream":true,"messages":[]}`,
			map[string]string{"stream": "true", "stream_options": `{"include_usage":true}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Bridge(openai.New(tt.kind))
			r := &provider.Request{Body: []byte(tt.body), Model: testModel, Stream: gjson.Get(tt.body, "stream").Bool()}
			_, body := buildRequest(t, b, r)
			for path, want := range tt.check {
				got := gjson.GetBytes(body, path)
				if want == "" {
					if got.Exists() {
						t.Errorf("%s = %s, want absent", path, got.Raw)
					}
					continue
				}
				if got.Raw != want {
					t.Errorf("%s = %s, want %s\nbody %s", path, got.Raw, want, body)
				}
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"not an object", `[]`, ""},
		{"bad role", `{"messages":[{"role":"system","content":"x"}]}`, "messages[0].role"},
		{"document block", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"document","source":{"type":"text","data":"x"}}]}]}`, "messages[2].content[0].type"},
		{"server tool use block", `{"messages":[{"role":"assistant","content":[{"type":"text","text":"x"},{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]}`, "messages[0].content[1].type"},
		{"server tool", `{"messages":[],"tools":[{"name":"f"},{"type":"web_search_20250305","name":"web_search"}]}`, "tools[1].type"},
		{"nameless tool", `{"messages":[],"tools":[{"input_schema":{}}]}`, "tools[0].name"},
		{"file image source", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages[0].content[0].source.type"},
		{"image in tool result with bad source", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"image","source":{"type":"file"}}]}]}]}`, "messages[0].content[0].content[0].source.type"},
		{"bad tool_choice", `{"messages":[],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type"},
		{"tool_choice tool without name", `{"messages":[],"tool_choice":{"type":"tool"}}`, "tool_choice.name"},
		{"content of the wrong type", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"system block not text", `{"messages":[],"system":[{"type":"image"}]}`, "system[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Bridge(openai.New("openai"))
			_, err := b.ChatRequest(context.Background(), testEndpoint(), &provider.Request{Body: []byte(tt.body), Model: testModel})
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *provider.RequestError", err)
			}
			if re.Param != tt.param {
				t.Errorf("Param = %q, want %q (%v)", re.Param, tt.param, re)
			}
		})
	}
}

func TestBridgeHeaders(t *testing.T) {
	b := Bridge(openai.New("openai"))
	h := http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"tools-2024"}, "X-Request-Id": {"r1"}}
	req, _ := buildRequest(t, b, &provider.Request{Body: []byte(`{"max_tokens":1,"messages":[]}`), Model: testModel, Header: h})
	if req.Header.Get("Anthropic-Version") != "" || req.Header.Get("Anthropic-Beta") != "" {
		t.Errorf("anthropic headers sent to a chat target: %v", req.Header)
	}
	if req.Header.Get("X-Request-Id") != "r1" {
		t.Errorf("other forwarded headers lost: %v", req.Header)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer sk-target" {
		t.Errorf("Authorization %q", got)
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		wantType string
		wantMsg  string
	}{
		{400, `{"error":{"message":"bad field","type":"invalid_request_error"}}`, "invalid_request_error", "bad field"},
		{401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}`, "authentication_error", "Incorrect API key"},
		{403, `{}`, "permission_error", ""},
		{404, `not json`, "not_found_error", ""},
		{413, ``, "request_too_large", ""},
		{429, `{"error":{"message":"slow down","type":"rate_limit_error"}}`, "rate_limit_error", "slow down"},
		{500, `{"error":"boom"}`, "api_error", "boom"},
		{502, `<html>`, "api_error", ""},
		{503, `{}`, "overloaded_error", ""},
		{529, `{}`, "overloaded_error", ""},
	}
	b := Bridge(openai.New("openai"))
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			out := b.ErrorBody(tt.status, []byte(tt.body))
			if gjson.GetBytes(out, "type").String() != "error" {
				t.Fatalf("not an Anthropic error: %s", out)
			}
			if got := gjson.GetBytes(out, "error.type").String(); got != tt.wantType {
				t.Errorf("type %q, want %q", got, tt.wantType)
			}
			msg := gjson.GetBytes(out, "error.message").String()
			if msg == "" || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestStreamMalformedEvent(t *testing.T) {
	b := Bridge(openai.New("openai"))
	s := b.NewStream(&provider.Request{Model: testModel, Stream: true, Inner: &provider.Request{Model: testModel, Stream: true}})
	dst := []byte("kept")
	out, err := s.Event(dst, sse.Event{Data: []byte(`{"choices":[`), Raw: []byte("data: {\"choices\":[\n\n")})
	if !errors.Is(err, provider.ErrMalformedEvent) {
		t.Fatalf("err = %v, want ErrMalformedEvent", err)
	}
	if string(out) != "kept" {
		t.Errorf("appended %q for a malformed event", out[4:])
	}
}

func TestStreamCutIsAnError(t *testing.T) {
	b := Bridge(openai.New("openai"))
	s := b.NewStream(&provider.Request{Model: testModel, Stream: true, Inner: &provider.Request{Model: testModel, Stream: true}})
	in := "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
	out, err := runStream(t, s, []byte(in))
	if err == nil {
		t.Fatal("a stream cut before its finish_reason finished cleanly")
	}
	if !s.Content() || s.Done() {
		t.Errorf("Content %v Done %v", s.Content(), s.Done())
	}
	if bytes.Contains(out, []byte("message_stop")) {
		t.Errorf("message_stop sent for a cut stream:\n%s", out)
	}
}

func TestStreamContentHeldUntilDelta(t *testing.T) {
	b := Bridge(openai.New("openai"))
	s := b.NewStream(&provider.Request{Model: testModel, Stream: true, Inner: &provider.Request{Model: testModel, Stream: true}})
	role := "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
	out, err := runStreamNoFinish(t, s, role)
	if err != nil {
		t.Fatal(err)
	}
	if s.Content() {
		t.Error("Content() after a role-only chunk")
	}
	if !bytes.HasPrefix(out, []byte("event: message_start\n")) {
		t.Errorf("first frame is not message_start:\n%s", out)
	}
}

func runStreamNoFinish(t *testing.T, s provider.Stream, in string) ([]byte, error) {
	t.Helper()
	rd := sse.NewReader(strings.NewReader(in))
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if out, err = s.Event(out, ev); err != nil {
			return out, err
		}
	}
}

func TestParams(t *testing.T) {
	b := Bridge(openai.New("openai")).(provider.ParamAdapter)
	tests := []struct {
		name   string
		value  string
		want   provider.ParamSupport
		active bool
	}{
		{"top_k", `5`, provider.ParamDropped, true},
		{"thinking", `{"type":"enabled","budget_tokens":2000}`, provider.ParamDropped, true},
		{"thinking", `{"type":"disabled"}`, provider.ParamDropped, false},
		{"mcp_servers", `[{"type":"url","url":"https://x"}]`, provider.ParamRefused, true},
		{"mcp_servers", `[]`, provider.ParamRefused, false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			p, ok := b.Params().Lookup(tt.name)
			if !ok {
				t.Fatalf("%s not in the table", tt.name)
			}
			if p.Support != tt.want {
				t.Errorf("support %v, want %v", p.Support, tt.want)
			}
			active := p.Active == nil || p.Active(gjson.Parse(tt.value))
			if active != tt.active {
				t.Errorf("active %v, want %v", active, tt.active)
			}
		})
	}
	if b.Params().Kind != "openai" {
		t.Errorf("table kind %q", b.Params().Kind)
	}
}

func TestBridgeNilInner(t *testing.T) {
	if Bridge(nil) != nil {
		t.Error("Bridge(nil) serves the API")
	}
}

// TestTokenLimitField: the Messages max_tokens reaches each OpenAI-format
// kind under the name its adapter asks for (provider.TokenLimiter), built
// as the gateway builds it, from the kind table.
func TestTokenLimitField(t *testing.T) {
	tests := []struct {
		kind, want, absent string
	}{
		{"openai", "max_completion_tokens", "max_tokens"},
		{"azure_openai", "max_completion_tokens", "max_tokens"},
		{"openai_compatible", "max_tokens", "max_completion_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			k, ok := kinds.Lookup(tt.kind)
			if !ok {
				t.Fatalf("no kind %q", tt.kind)
			}
			inner, err := k.New(&provider.TargetSpec{ID: "t", APIKey: "sk-test", Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			r := &provider.Request{Body: []byte(`{"model":"x","max_tokens":7,"messages":[]}`), Model: testModel}
			_, body := buildRequest(t, Bridge(inner), r)
			if got := gjson.GetBytes(body, tt.want); got.Raw != "7" {
				t.Errorf("%s = %q, want 7\nbody %s", tt.want, got.Raw, body)
			}
			if gjson.GetBytes(body, tt.absent).Exists() {
				t.Errorf("%s sent as well: %s", tt.absent, body)
			}
		})
	}
}
