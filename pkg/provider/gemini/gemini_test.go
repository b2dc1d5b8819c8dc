package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testAdapter pins the clock and the generated ids.
func testAdapter(t testing.TB) *adapter {
	t.Helper()
	a := New().(*adapter)
	a.now = func() time.Time { return time.Unix(1700000000, 0) }
	n := 0
	a.newID = func() string { n++; return "call_gen" + strconv.Itoa(n) }
	return a
}

// cases lists the names of dir's files ending in suffix.
func cases(t testing.TB, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), suffix); ok && !e.IsDir() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no %s files in %s", suffix, dir)
	}
	return names
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with the file, or rewrites it with -update. JSON is
// compared indented, for readable diffs.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if json.Valid(got) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatal(err)
		}
		got = append(buf.Bytes(), '\n')
	}
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to rewrite):\n got: %s\nwant: %s", path, got, want)
	}
}

func TestChatRequestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "requests")
	for _, name := range cases(t, dir, ".openai.json") {
		t.Run(name, func(t *testing.T) {
			a := testAdapter(t)
			body := readFile(t, filepath.Join(dir, name+".openai.json"))
			req, err := a.ChatRequest(context.Background(), &provider.Endpoint{APIKey: "AIzaTEST"}, &provider.Request{Body: body, Model: "gemini-2.5-flash"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, name+".gemini.json"), out)
		})
	}
}

func TestChatRequestURLAndHeaders(t *testing.T) {
	body := []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
	tests := []struct {
		name     string
		a        provider.Adapter
		ep       provider.Endpoint
		r        provider.Request
		wantURL  string
		wantKey  string
		wantAuth string
	}{
		{"gemini default", New(), provider.Endpoint{APIKey: "k1"}, provider.Request{Body: body, Model: "gemini-2.5-flash"},
			DefaultBaseURL + "/models/gemini-2.5-flash:generateContent", "k1", ""},
		{"gemini stream with base_url", New(), provider.Endpoint{BaseURL: "http://127.0.0.1:1/v1beta/", APIKey: "k1"}, provider.Request{Body: body, Model: "m", Stream: true},
			"http://127.0.0.1:1/v1beta/models/m:streamGenerateContent?alt=sse", "k1", ""},
		{"client key wins, bearer dropped", New(), provider.Endpoint{APIKey: "k1"}, provider.Request{Body: body, Model: "m", APIKey: "k2", Header: http.Header{"Authorization": {"Bearer leak"}}},
			DefaultBaseURL + "/models/m:generateContent", "k2", ""},
		{"vertex regional", mustVertex(t, &provider.TargetSpec{Project: "p", Location: "europe-west4", APIKey: "vk"}), provider.Endpoint{APIKey: "vk"}, provider.Request{Body: body, Model: "gemini-2.5-pro"},
			"https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent", "vk", ""},
		{"vertex global", mustVertex(t, &provider.TargetSpec{Project: "p", Location: "global", APIKey: "vk"}), provider.Endpoint{APIKey: "vk"}, provider.Request{Body: body, Model: "m", Stream: true},
			"https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/m:streamGenerateContent?alt=sse", "vk", ""},
		{"vertex host override", mustVertex(t, &provider.TargetSpec{BaseURL: "http://127.0.0.1:9", Project: "p", Location: "us-central1", APIKey: "vk"}), provider.Endpoint{APIKey: "vk"}, provider.Request{Body: body, Model: "m"},
			"http://127.0.0.1:9/v1/projects/p/locations/us-central1/publishers/google/models/m:generateContent", "vk", ""},
		{"vertex full base_url", mustVertex(t, &provider.TargetSpec{BaseURL: "http://127.0.0.1:9/custom/", APIKey: "vk"}), provider.Endpoint{APIKey: "vk"}, provider.Request{Body: body, Model: "m"},
			"http://127.0.0.1:9/custom/models/m:generateContent", "vk", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := tt.a.ChatRequest(context.Background(), &tt.ep, &tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.String(); got != tt.wantURL {
				t.Errorf("url %s, want %s", got, tt.wantURL)
			}
			if got := req.Header.Get("X-Goog-Api-Key"); got != tt.wantKey {
				t.Errorf("x-goog-api-key %q, want %q", got, tt.wantKey)
			}
			if got := req.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("authorization %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func mustVertex(t *testing.T, spec *provider.TargetSpec) provider.Adapter {
	t.Helper()
	a, err := NewVertex(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestChatRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"no messages", `{"messages":[]}`, "messages"},
		{"not json", `{`, ""},
		{"bad role", `{"messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{"only system", `{"messages":[{"role":"system","content":"x"}]}`, "messages"},
		{"unknown tool id", `{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}`, "messages[1].tool_call_id"},
		{"bad arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"bad part", `{"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "messages[0].content[0].type"},
		{"bad image url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f1"}}]}]}`, "messages[0].content[0].file.file_data"},
		{"temperature", `{"messages":[{"role":"user","content":"x"}],"temperature":3}`, "temperature"},
		{"n too big", `{"messages":[{"role":"user","content":"x"}],"n":9}`, "n"},
		{"too many stops", `{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e","f"]}`, "stop"},
		{"tool type", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web"}]}`, "tools[0].type"},
		{"tool choice", `{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"bad ref", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"$ref":"http://x"}}}}}]}`, "tools[0].function.parameters"},
		{"recursive ref", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"$ref":"#/$defs/a","$defs":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/a"}}}}}}}}`, "response_format.json_schema.schema"},
		{"response format", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, "response_format.type"},
		{"max tokens", `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New().ChatRequest(context.Background(), &provider.Endpoint{}, &provider.Request{Body: []byte(tt.body), Model: "m"})
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err %v, want a RequestError", err)
			}
			if re.Param != tt.param {
				t.Errorf("param %q, want %q (%s)", re.Param, tt.param, re.Message)
			}
		})
	}
}

func TestChatResponseGolden(t *testing.T) {
	dir := filepath.Join("testdata", "responses")
	for _, name := range cases(t, dir, ".gemini.json") {
		t.Run(name, func(t *testing.T) {
			a := testAdapter(t)
			res, err := a.ChatResponse(readFile(t, filepath.Join(dir, name+".gemini.json")), &provider.Request{Model: "gemini-2.5-flash"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, name+".openai.json"), res.Body)
		})
	}
}

func TestChatResponseFacts(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		model   string
		usage   provider.Usage
		reasons []string
	}{
		{"text", "text", "gemini-2.5-flash-001", provider.Usage{InputTokens: 12, OutputTokens: 18, CacheReadTokens: 4}, []string{"stop"}},
		{"tool call", "tool_call", "gemini-2.5-flash", provider.Usage{InputTokens: 30, OutputTokens: 5}, []string{"tool_calls"}},
		{"prompt blocked is an answer", "blocked", "gemini-2.0-flash", provider.Usage{InputTokens: 9}, []string{"content_filter"}},
		{"two candidates", "two_candidates", "asked", provider.Usage{InputTokens: 3, OutputTokens: 2}, []string{"length", "content_filter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := testAdapter(t).ChatResponse(readFile(t, filepath.Join("testdata", "responses", tt.file+".gemini.json")), &provider.Request{Model: "asked"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Model != tt.model || res.Usage != tt.usage || strings.Join(res.FinishReasons, ",") != strings.Join(tt.reasons, ",") {
				t.Errorf("model %q usage %+v reasons %v; want %q %+v %v", res.Model, res.Usage, res.FinishReasons, tt.model, tt.usage, tt.reasons)
			}
		})
	}
	if _, err := New().ChatResponse([]byte(`{"candidates":[]}`), nil); err == nil {
		t.Error("an answer without candidates or block reason was accepted")
	}
}

// runStream feeds an SSE body through a stream translator.
func runStream(t testing.TB, s provider.Stream, body []byte) ([]byte, error) {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body))
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		if out, err = s.Event(out, ev); err != nil {
			return out, err
		}
	}
	return s.Finish(out)
}

func TestStreamGolden(t *testing.T) {
	dir := filepath.Join("testdata", "streams")
	tests := []struct {
		name         string
		includeUsage bool
		wantErr      bool
		done         bool
		content      bool
		reasons      string
	}{
		{"text", true, false, true, true, "stop"},
		{"tools", false, false, true, true, "tool_calls"},
		{"blocked", false, false, true, false, "content_filter"},
		{"cut", false, true, false, true, ""},
		{"error", false, true, false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"gemini-2.5-flash","messages":[]}`
			if tt.includeUsage {
				body = `{"model":"gemini-2.5-flash","messages":[],"stream_options":{"include_usage":true}}`
			}
			s := testAdapter(t).NewStream(&provider.Request{Body: []byte(body), Model: "gemini-2.5-flash", Stream: true})
			out, err := runStream(t, s, readFile(t, filepath.Join(dir, tt.name+".gemini.sse")))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if s.Done() != tt.done || s.Content() != tt.content || strings.Join(s.FinishReasons(), ",") != tt.reasons {
				t.Errorf("done %v content %v reasons %v; want %v %v %s", s.Done(), s.Content(), s.FinishReasons(), tt.done, tt.content, tt.reasons)
			}
			golden(t, filepath.Join(dir, tt.name+".openai.sse"), out)
		})
	}
}

func TestStreamMalformed(t *testing.T) {
	s := testAdapter(t).NewStream(&provider.Request{Body: []byte(`{}`), Model: "m"})
	_, err := s.Event(nil, sse.Event{Data: []byte(`{"candidates":[`)})
	if !errors.Is(err, provider.ErrMalformedEvent) {
		t.Fatalf("err %v, want ErrMalformedEvent", err)
	}
}

func TestStreamTwoCandidates(t *testing.T) {
	s := testAdapter(t).NewStream(&provider.Request{Body: []byte(`{"n":2}`), Model: "m"})
	out, err := s.Event(nil, sse.Event{Data: []byte(`{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP","index":0}]}`)})
	if err != nil || s.Done() || bytes.Contains(out, frameDone) {
		t.Fatalf("done after one of two candidates: %v %s", err, out)
	}
	out, err = s.Event(out, sse.Event{Data: []byte(`{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS","index":1}]}`)})
	if err != nil || !s.Done() || !bytes.HasSuffix(out, frameDone) {
		t.Fatalf("not done after both candidates: %v %s", err, out)
	}
	if got := strings.Join(s.FinishReasons(), ","); got != "stop,length" {
		t.Errorf("reasons %s", got)
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"rate limit", 429, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			`{"error":{"message":"Resource has been exhausted (e.g. check quota).","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{"bad key redacted", 400, `{"error":{"code":400,"message":"API key AIzaSyA-very_secret1 not valid.","status":"INVALID_ARGUMENT"}}`,
			`{"error":{"message":"API key AIza*** not valid.","type":"invalid_request_error","param":null,"code":null}}`},
		{"context length", 400, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`,
			`{"error":{"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`},
		{"unauthenticated", 401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			`{"error":{"message":"Request had invalid authentication credentials.","type":"authentication_error","param":null,"code":"invalid_api_key"}}`},
		{"html never echoed", 502, `<html>bad gateway</html>`,
			`{"error":{"message":"gemini upstream answered HTTP 502 Bad Gateway","type":"server_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(New().ErrorBody(tt.status, []byte(tt.body))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestProbeRequest(t *testing.T) {
	req, err := New().ProbeRequest(context.Background(), &provider.Endpoint{BaseURL: "http://127.0.0.1:1/v1beta", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodGet || req.URL.String() != "http://127.0.0.1:1/v1beta/models?pageSize=1" || req.Header.Get("X-Goog-Api-Key") != "k" {
		t.Errorf("gemini probe %s %s key %q", req.Method, req.URL, req.Header.Get("X-Goog-Api-Key"))
	}
	v := mustVertex(t, &provider.TargetSpec{Project: "p", Location: "us-central1", APIKey: "k"})
	req, err = v.ProbeRequest(context.Background(), &provider.Endpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/models/"+vertexProbeModel+":countTokens") {
		t.Errorf("vertex probe %s %s", req.Method, req.URL)
	}
}

func TestValidateVertex(t *testing.T) {
	tests := []struct {
		name string
		spec provider.TargetSpec
		want string
	}{
		{"ok", provider.TargetSpec{Project: "p", Location: "us-central1"}, ""},
		{"both missing", provider.TargetSpec{}, "project,location"},
		{"base_url alone", provider.TargetSpec{BaseURL: "http://127.0.0.1:1"}, ""},
		{"location with a host", provider.TargetSpec{Project: "p", Location: "evil.com/x"}, "location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range VertexKind.Validate(&tt.spec) {
				got = append(got, p.Field)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("problems %v, want %s", got, tt.want)
			}
		})
	}
}
