package openai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// readBody returns the request body, failing the test on error.
func readBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	if req.Body == nil {
		return nil
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKind(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"openai", "openai_compatible"} {
		if got := New(k).Kind(); got != k {
			t.Errorf("New(%q).Kind() = %q", k, got)
		}
	}
}

func TestChatRequest(t *testing.T) {
	t.Parallel()
	const odd = "{ \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 <b>&amp;</b> \u2028\"}],\n  \"model\" : \"gpt-4o-mini\", \"temperature\":0.20, \"stream\":true}"
	const plain = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`
	ep := &provider.Endpoint{
		BaseURL: "https://api.example.com/v1",
		APIKey:  "sk-endpoint",
		Header:  http.Header{"Openai-Organization": {"org-1"}, "X-Route": {"eu"}},
	}
	tests := []struct {
		name       string
		ep         *provider.Endpoint
		r          *provider.Request
		wantBody   string
		wantAuth   string
		wantAccept string
		wantHeader http.Header
	}{
		{
			name:     "same model: body untouched byte for byte",
			ep:       ep,
			r:        &provider.Request{Body: []byte(odd), Model: "gpt-4o-mini", Stream: true},
			wantBody: odd,
			wantAuth: "Bearer sk-endpoint", wantAccept: "text/event-stream",
			wantHeader: http.Header{"Openai-Organization": {"org-1"}, "X-Route": {"eu"}},
		},
		{
			name:     "mapped model: only the model changes",
			ep:       ep,
			r:        &provider.Request{Body: []byte(odd), Model: "llama3.1:8b", Stream: true},
			wantBody: strings.Replace(odd, `"gpt-4o-mini"`, `"llama3.1:8b"`, 1),
			wantAuth: "Bearer sk-endpoint", wantAccept: "text/event-stream",
		},
		{
			name:     "same model, named by the router: body untouched",
			ep:       ep,
			r:        &provider.Request{Body: []byte(odd), Model: "gpt-4o-mini", BodyModel: "gpt-4o-mini", Stream: true},
			wantBody: odd,
			wantAuth: "Bearer sk-endpoint", wantAccept: "text/event-stream",
		},
		{
			name:     "mapped model, named by the router: only the model changes",
			ep:       ep,
			r:        &provider.Request{Body: []byte(odd), Model: "llama3.1:8b", BodyModel: "gpt-4o-mini", Stream: true},
			wantBody: strings.Replace(odd, `"gpt-4o-mini"`, `"llama3.1:8b"`, 1),
			wantAuth: "Bearer sk-endpoint", wantAccept: "text/event-stream",
		},
		{
			name:     "mapped model needing escapes",
			ep:       ep,
			r:        &provider.Request{Body: []byte(plain), Model: `we"ird\model`},
			wantBody: strings.Replace(plain, `"gpt-4o"`, `"we\"ird\\model"`, 1),
			wantAuth: "Bearer sk-endpoint",
		},
		{
			name:     "request key overrides the endpoint's",
			ep:       ep,
			r:        &provider.Request{Body: []byte(plain), Model: "gpt-4o", APIKey: "sk-client"},
			wantBody: plain,
			wantAuth: "Bearer sk-client",
		},
		{
			name:     "no key: no Authorization",
			ep:       &provider.Endpoint{BaseURL: "http://127.0.0.1:11434/v1"},
			r:        &provider.Request{Body: []byte(plain), Model: "gpt-4o"},
			wantBody: plain,
		},
		{
			name:     "client headers forwarded, winning over static ones",
			ep:       &provider.Endpoint{BaseURL: "http://h/v1", APIKey: "k", Header: http.Header{"Openai-Beta": {"static"}, "X-Static": {"s"}}},
			r:        &provider.Request{Body: []byte(plain), Model: "gpt-4o", Header: http.Header{"Openai-Beta": {"assistants=v2"}}},
			wantBody: plain,
			wantAuth: "Bearer k",
			wantHeader: http.Header{
				"Openai-Beta": {"assistants=v2"},
				"X-Static":    {"s"},
			},
		},
		{
			name:     "client cannot set Content-Type or override the key",
			ep:       &provider.Endpoint{BaseURL: "http://h/v1", APIKey: "k"},
			r:        &provider.Request{Body: []byte(plain), Model: "gpt-4o", Header: http.Header{"Content-Type": {"text/plain"}, "Authorization": {"Bearer stolen"}}},
			wantBody: plain,
			wantAuth: "Bearer k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			orig := slices.Clone(tt.r.Body)
			ctx := context.WithValue(t.Context(), ctxKey{}, "marker")
			req, err := New("openai").ChatRequest(ctx, tt.ep, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodPost {
				t.Errorf("method = %s, want POST", req.Method)
			}
			if got, want := req.URL.String(), tt.ep.BaseURL+"/chat/completions"; got != want {
				t.Errorf("URL = %s, want %s", got, want)
			}
			if req.Context().Value(ctxKey{}) != "marker" {
				t.Error("request does not carry the given context")
			}
			body := readBody(t, req)
			if string(body) != tt.wantBody {
				t.Errorf("body =\n%s\nwant\n%s", body, tt.wantBody)
			}
			if req.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("ContentLength = %d, want %d", req.ContentLength, len(tt.wantBody))
			}
			if !gjson.ValidBytes(body) || gjson.GetBytes(body, "model").String() != tt.r.Model {
				t.Errorf("body model = %q, want %q", gjson.GetBytes(body, "model").String(), tt.r.Model)
			}
			if !bytes.Equal(tt.r.Body, orig) {
				t.Error("the client's body was modified")
			}
			if got := req.Header.Values("Authorization"); tt.wantAuth == "" && len(got) != 0 || tt.wantAuth != "" && !slices.Equal(got, []string{tt.wantAuth}) {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := req.Header.Values("Content-Type"); !slices.Equal(got, []string{"application/json"}) {
				t.Errorf("Content-Type = %q", got)
			}
			if got := req.Header.Get("Accept"); got != tt.wantAccept {
				t.Errorf("Accept = %q, want %q", got, tt.wantAccept)
			}
			for k, v := range tt.wantHeader {
				if got := req.Header.Values(k); !slices.Equal(got, v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

type ctxKey struct{}

func TestChatRequestAddedModel(t *testing.T) {
	t.Parallel()
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	req, err := New("openai").ChatRequest(t.Context(), &provider.Endpoint{BaseURL: "http://h"}, &provider.Request{Body: []byte(body), Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	got := readBody(t, req)
	if !gjson.ValidBytes(got) || gjson.GetBytes(got, "model").String() != "m" || gjson.GetBytes(got, "messages.0.content").String() != "hi" {
		t.Errorf("body = %s", got)
	}
}

func TestChatRequestBadBaseURL(t *testing.T) {
	t.Parallel()
	_, err := New("openai").ChatRequest(t.Context(), &provider.Endpoint{BaseURL: "://nope"}, &provider.Request{Body: []byte(`{"model":"m"}`), Model: "m"})
	if err == nil {
		t.Error("a bad base URL built a request")
	}
}

// TestChatRequestHeaderIsolation checks that adding a header value on one
// upstream request cannot write into the endpoint's shared header slices.
func TestChatRequestHeaderIsolation(t *testing.T) {
	t.Parallel()
	shared := make([]string, 1, 4)
	shared[0] = "a"
	client := make([]string, 1, 4)
	client[0] = "c"
	ep := &provider.Endpoint{BaseURL: "http://h", Header: http.Header{"X-Static": shared}}
	req, err := New("openai").ChatRequest(t.Context(), ep, &provider.Request{Body: []byte(`{"model":"m"}`), Model: "m", Header: http.Header{"Openai-Beta": client}})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Static", "b")
	req.Header.Add("Openai-Beta", "d")
	if got := shared[:2]; got[1] != "" {
		t.Errorf("endpoint header backing array written: %q", got)
	}
	if got := client[:2]; got[1] != "" {
		t.Errorf("client header backing array written: %q", got)
	}
	if got := req.Header.Values("X-Static"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("request header = %q", got)
	}
}

// TestChatRequestOnTheWire sends a built request to a local server and checks
// what arrives.
func TestChatRequestOnTheWire(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, auth, accept, ctype string
		body                      []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Content-Type"), b}
	}))
	defer srv.Close()
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, err := New("openai").ChatRequest(t.Context(), &provider.Endpoint{BaseURL: srv.URL + "/v1", APIKey: "sk-x"}, &provider.Request{Body: []byte(body), Model: "gpt-4o", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	s := <-got
	if s.path != "/v1/chat/completions" || s.auth != "Bearer sk-x" || s.accept != "text/event-stream" || s.ctype != "application/json" || string(s.body) != body {
		t.Errorf("upstream saw %+v", s)
	}
}

func TestChatResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    provider.Response
		wantErr bool
	}{
		{
			name: "full answer",
			body: `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"},
{"index":1,"message":{"role":"assistant","content":"Hello th"},"finish_reason":"length"}],
"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":4}}}`,
			want: provider.Response{Model: "gpt-4o-mini-2024-07-18", Usage: provider.Usage{InputTokens: 12, OutputTokens: 7, CacheReadTokens: 4}, FinishReasons: []string{"stop", "length"}},
		},
		{
			name: "spaced JSON from a compatible server",
			body: `{"object": "chat.completion", "model": "llama3", "choices": [{"index": 0, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}`,
			want: provider.Response{Model: "llama3", Usage: provider.Usage{InputTokens: 3, OutputTokens: 2}, FinishReasons: []string{"tool_calls"}},
		},
		{
			name: "no usage, no object",
			body: `{"model":"m","choices":[{"finish_reason":"stop"}]}`,
			want: provider.Response{Model: "m", FinishReasons: []string{"stop"}},
		},
		{
			name: "null usage and null finish reason",
			body: `{"object":"chat.completion","model":"m","choices":[{"finish_reason":null}],"usage":null}`,
			want: provider.Response{Model: "m"},
		},
		{
			name: "no choices",
			body: `{"object":"chat.completion","model":"m","choices":[]}`,
			want: provider.Response{Model: "m"},
		},
		{name: "empty body", body: ``, wantErr: true},
		{name: "invalid JSON", body: `{"object":"chat.completion",`, wantErr: true},
		{name: "HTML", body: `<html>502 Bad Gateway</html>`, wantErr: true},
		{name: "models list", body: `{"object":"list","data":[{"id":"gpt-4o"}]}`, wantErr: true},
		{name: "error body", body: `{"error":{"message":"nope","type":"server_error"}}`, wantErr: true},
		{name: "array", body: `[{"choices":[]}]`, wantErr: true},
		{name: "string", body: `"chat.completion"`, wantErr: true},
		{name: "choices not an array", body: `{"object":"chat.completion","choices":{"0":{}}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			got, err := New("openai").ChatResponse(body, &provider.Request{Model: "asked"})
			if tt.wantErr {
				if err == nil {
					t.Errorf("ChatResponse = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, body) {
				t.Errorf("Body changed:\n%s", got.Body)
			}
			if got.Model != tt.want.Model || got.Usage != tt.want.Usage || !slices.Equal(got.FinishReasons, tt.want.FinishReasons) {
				t.Errorf("ChatResponse = {Model:%q Usage:%+v FinishReasons:%q}, want {Model:%q Usage:%+v FinishReasons:%q}",
					got.Model, got.Usage, got.FinishReasons, tt.want.Model, tt.want.Usage, tt.want.FinishReasons)
			}
		})
	}
}

// streamResult is what a stream run produced.
type streamResult struct {
	out       []byte
	eventErr  error
	finishErr error
	readErr   error
	s         provider.Stream
}

// runStream feeds in through the SSE reader and the stream translator as the
// router does: it stops at the first event error.
func runStream(t testing.TB, in string) streamResult {
	t.Helper()
	s := New("openai").NewStream(&provider.Request{Model: "asked", Stream: true})
	rd := sse.NewReader(strings.NewReader(in))
	var res streamResult
	res.s = s
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			res.out, res.finishErr = s.Finish(res.out)
			return res
		}
		if err != nil {
			res.readErr = err
			return res
		}
		res.out, err = s.Event(res.out, ev)
		if err != nil {
			res.eventErr = err
			return res
		}
	}
}

const typicalStream = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}

: keep-alive

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"lo \"usage\":{ \"finish_reason\":\"x\""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2}}}

data: [DONE]

`

func TestStream(t *testing.T) {
	t.Parallel()
	spaced := "data: {\"id\": \"c\", \"model\": \"llama3\", \"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hi\"}, \"finish_reason\": null}]}\n\n" +
		"data: {\"id\": \"c\", \"model\": \"llama3\", \"choices\": [{\"index\": 0, \"delta\": {}, \"finish_reason\": \"length\"}]}\n\n" +
		"data: {\"id\": \"c\", \"model\": \"llama3\", \"choices\": [], \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 1}}\n\n" +
		"data: [DONE]\n\n"
	tests := []struct {
		name       string
		in         string
		model      string
		usage      provider.Usage
		reasons    []string
		eventErr   string
		finishErr  error
		wantOutput string // defaults to in: a passthrough
	}{
		{
			name:    "typical stream with a final usage chunk",
			in:      typicalStream,
			model:   "gpt-4o-mini-2024-07-18",
			usage:   provider.Usage{InputTokens: 9, OutputTokens: 3, CacheReadTokens: 2},
			reasons: []string{"stop"},
		},
		{
			name:    "CRLF and blank lines pass through",
			in:      strings.Replace(strings.ReplaceAll(typicalStream, "\n", "\r\n"), "\r\n: keep", "\r\n\r\n\n: keep", 1),
			model:   "gpt-4o-mini-2024-07-18",
			usage:   provider.Usage{InputTokens: 9, OutputTokens: 3, CacheReadTokens: 2},
			reasons: []string{"stop"},
		},
		{
			name:    "spaced JSON from a compatible server",
			in:      spaced,
			model:   "llama3",
			usage:   provider.Usage{InputTokens: 5, OutputTokens: 1},
			reasons: []string{"length"},
		},
		{
			name: "several choices",
			in: `data: {"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":null}]}` + "\n\n" +
				`data: {"model":"m","choices":[{"index":1,"delta":{},"finish_reason":"length"}]}` + "\n\n" +
				`data: {"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			model:   "m",
			reasons: []string{"length", "stop"},
		},
		{
			name:    "model from the first chunk that has one",
			in:      "data: {\"choices\":[]}\n\ndata: {\"model\":\"first\",\"choices\":[]}\n\ndata: {\"model\":\"second\",\"choices\":[]}\n\ndata: [DONE]\n\n",
			model:   "first",
			reasons: nil,
		},
		{
			name:    "an error member set to null is no error",
			in:      "data: {\"model\":\"m\",\"error\":null,\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			model:   "m",
			reasons: []string{"stop"},
		},
		{
			name:      "missing [DONE]",
			in:        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
			model:     "m",
			finishErr: io.ErrUnexpectedEOF,
		},
		{
			name:      "empty stream",
			in:        "",
			finishErr: io.ErrUnexpectedEOF,
		},
		{
			name:     "error frame",
			in:       "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n",
			model:    "m",
			eventErr: "The server had an error",
			// The error frame is relayed; nothing after it.
			wantOutput: "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n",
		},
		{
			name:       "spaced error frame with a string",
			in:         "data: {\"error\": \"model overloaded\"}\n\n",
			eventErr:   "model overloaded",
			wantOutput: "data: {\"error\": \"model overloaded\"}\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runStream(t, tt.in)
			want := tt.in
			if tt.wantOutput != "" {
				want = tt.wantOutput
			}
			if string(res.out) != want {
				t.Errorf("output differs from the input:\n got %q\nwant %q", res.out, want)
			}
			if res.readErr != nil {
				t.Fatalf("read error %v", res.readErr)
			}
			switch {
			case tt.eventErr == "" && res.eventErr != nil:
				t.Errorf("Event error %v", res.eventErr)
			case tt.eventErr != "" && (res.eventErr == nil || !strings.Contains(res.eventErr.Error(), tt.eventErr)):
				t.Errorf("Event error = %v, want one mentioning %q", res.eventErr, tt.eventErr)
			}
			if tt.eventErr == "" {
				if tt.finishErr == nil && res.finishErr != nil || tt.finishErr != nil && !errors.Is(res.finishErr, tt.finishErr) {
					t.Errorf("Finish error = %v, want %v", res.finishErr, tt.finishErr)
				}
			}
			if got := res.s.Model(); got != tt.model {
				t.Errorf("Model = %q, want %q", got, tt.model)
			}
			if got := res.s.Usage(); got != tt.usage {
				t.Errorf("Usage = %+v, want %+v", got, tt.usage)
			}
			if got := res.s.FinishReasons(); !slices.Equal(got, tt.reasons) {
				t.Errorf("FinishReasons = %q, want %q", got, tt.reasons)
			}
		})
	}
}

func TestStreamAppendsToDst(t *testing.T) {
	t.Parallel()
	s := New("openai").NewStream(&provider.Request{})
	dst := []byte("prefix|")
	out, err := s.Event(dst, sse.Event{Data: []byte(`{"model":"m","choices":[]}`), Raw: []byte("data: {\"model\":\"m\",\"choices\":[]}\n\n")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "prefix|data: {\"model\":\"m\",\"choices\":[]}\n\n"; string(out) != want {
		t.Errorf("Event = %q, want %q", out, want)
	}
	out, err = s.Event(out[:0], sse.Event{Data: []byte("[DONE]"), Raw: []byte("data: [DONE]\n\n")})
	if err != nil || string(out) != "data: [DONE]\n\n" {
		t.Errorf("Event([DONE]) = %q, %v", out, err)
	}
	out, err = s.Finish(out[:0])
	if err != nil || len(out) != 0 {
		t.Errorf("Finish after [DONE] = %q, %v; want nothing, nil", out, err)
	}
}

func TestHasMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data, key, first string
		want             bool
	}{
		{`{"usage":{"a":1}}`, `"usage"`, "{", true},
		{`{"usage" :  {"a":1}}`, `"usage"`, "{", true},
		{"{\"usage\"\n:\t{}}", `"usage"`, "{", true},
		{`{"usage":null}`, `"usage"`, "{", false},
		{`{"content":"\"usage\":{"}`, `"usage"`, "{", false},
		{`{"x":"usage","usage":{}}`, `"usage"`, "{", true},
		{`{"finish_reason":null}`, `"finish_reason"`, `"`, false},
		{`{"finish_reason": "stop"}`, `"finish_reason"`, `"`, true},
		{`{"usage"`, `"usage"`, "{", false},
		{`{"usage":`, `"usage"`, "{", false},
		{``, `"usage"`, "{", false},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			t.Parallel()
			if got := hasMember([]byte(tt.data), tt.key, tt.first); got != tt.want {
				t.Errorf("hasMember(%q, %q) = %v, want %v", tt.data, tt.key, got, tt.want)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	openAIErr := `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	tests := []struct {
		name     string
		status   int
		body     string
		passed   bool   // the body passes as is
		wantType string // else the generated error's type
		wantMsg  string // and a part of its message
	}{
		{"OpenAI error passes as is", 401, openAIErr, true, "", ""},
		{"OpenAI error with odd spacing passes as is", 500, "{ \"error\" : { \"message\" : \"boom\" } }\n", true, "", ""},
		{"non-JSON 502", 502, "<html>Bad Gateway</html>", false, "server_error", "HTTP 502"},
		{"empty 503", 503, "", false, "service_unavailable", "HTTP 503"},
		{"plain 401", 401, "Unauthorized", false, "authentication_error", "HTTP 401"},
		{"plain 403", 403, "Forbidden", false, "permission_error", "HTTP 403"},
		{"plain 404", 404, "not found", false, "not_found_error", "HTTP 404"},
		{"plain 429", 429, "slow down", false, "rate_limit_error", "HTTP 429"},
		{"plain 504", 504, "", false, "timeout_error", "HTTP 504"},
		{"plain 400", 400, "bad", false, "invalid_request_error", "HTTP 400"},
		{"plain 500", 500, "oops", false, "server_error", "HTTP 500"},
		{"JSON without error.message", 500, `{"error":{"code":"x"}}`, false, "server_error", "HTTP 500"},
		{"FastAPI detail", 422, `{"detail":"bad field"}`, false, "invalid_request_error", "HTTP 422"},
		{"string error keeps its text", 404, `{"error":"model 'llama9' not found"}`, false, "not_found_error", "model 'llama9' not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := New("openai").ErrorBody(tt.status, []byte(tt.body))
			if tt.passed {
				if string(got) != tt.body {
					t.Errorf("ErrorBody = %s, want the body as is", got)
				}
				return
			}
			if !gjson.ValidBytes(got) {
				t.Fatalf("generated error is not JSON: %s", got)
			}
			e := gjson.GetBytes(got, "error")
			if typ := e.Get("type").String(); typ != tt.wantType {
				t.Errorf("type = %q, want %q in %s", typ, tt.wantType, got)
			}
			if msg := e.Get("message").String(); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
			if e.Get("param").Type != gjson.Null || e.Get("code").Type != gjson.Null {
				t.Errorf("param and code should be null: %s", got)
			}
			if strings.Contains(string(got), "<html>") {
				t.Errorf("the upstream's HTML leaked: %s", got)
			}
		})
	}
}

func TestProbeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ep       *provider.Endpoint
		wantAuth string
	}{
		{"with key", &provider.Endpoint{BaseURL: "https://api.openai.com/v1", APIKey: "sk-probe", Header: http.Header{"Openai-Organization": {"org-1"}}}, "Bearer sk-probe"},
		{"without key", &provider.Endpoint{BaseURL: "http://127.0.0.1:8000/v1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := New("openai").ProbeRequest(t.Context(), tt.ep)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodGet {
				t.Errorf("method = %s, want GET", req.Method)
			}
			if got, want := req.URL.String(), tt.ep.BaseURL+"/models"; got != want {
				t.Errorf("URL = %s, want %s", got, want)
			}
			if got := req.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			for k, v := range tt.ep.Header {
				if got := req.Header.Values(k); !slices.Equal(got, v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if b := readBody(t, req); len(b) != 0 {
				t.Errorf("probe has a body: %q", b)
			}
		})
	}
	if _, err := New("openai").ProbeRequest(t.Context(), &provider.Endpoint{BaseURL: "://nope"}); err == nil {
		t.Error("a bad base URL built a probe")
	}
}

// TestStreamMalformedChunk: a chunk whose JSON is cut is not passed on (the
// client's SDK could not parse it and its text would silently be missing);
// Event reports provider.ErrMalformedEvent so the router treats the stream
// as broken there.
func TestStreamMalformedChunk(t *testing.T) {
	t.Parallel()
	good := `{"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}`
	for _, data := range []string{good[:40], good[:len(good)-1], `{"model":"m","choices":[{"delta":{"content":"a"}}]}}`, "not json"} {
		s := New("openai").NewStream(&provider.Request{})
		out, err := s.Event([]byte("kept|"), sse.Event{Data: []byte(data), Raw: []byte("data: " + data + "\n\n")})
		if !errors.Is(err, provider.ErrMalformedEvent) {
			t.Errorf("Event(%q) error %v, want ErrMalformedEvent", data, err)
		}
		if string(out) != "kept|" {
			t.Errorf("Event(%q) appended %q, want nothing", data, out)
		}
		if s.Content() || s.Done() {
			t.Errorf("Event(%q) counted as content or end", data)
		}
	}
}
