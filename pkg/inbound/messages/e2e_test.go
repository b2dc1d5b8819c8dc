package messages

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// scripted is an OpenAI upstream answering every request with one scripted
// answer, recording what it got.
func scripted(t *testing.T, status int, contentType, answer string, got *[]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-openai" {
			http.Error(w, `{"error":{"message":"wrong path or key","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		*got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// roundTrip sends an Anthropic request through the bridge over the real
// openai adapter to srv and returns the status and the client-facing body.
func roundTrip(t *testing.T, srv *httptest.Server, body string, stream bool) (int, []byte, provider.Stream) {
	t.Helper()
	b := Bridge(openai.New("openai"))
	ep := &provider.Endpoint{BaseURL: srv.URL + "/v1", APIKey: "sk-openai"}
	ep.Prepare()
	r := &provider.Request{Body: []byte(body), Model: "gpt-4o-mini", BodyModel: "claude-sonnet-4-20250514", Stream: stream,
		Header: http.Header{"Anthropic-Version": {"2023-06-01"}}}
	req, err := b.ChatRequest(context.Background(), ep, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b.ErrorBody(resp.StatusCode, raw), nil
	}
	if !stream {
		raw, _ := io.ReadAll(resp.Body)
		res, err := b.ChatResponse(raw, r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, res.Body, nil
	}
	s := b.NewStream(r)
	rd := sse.NewReader(resp.Body)
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if out, err = s.Finish(out); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, out, s
		}
		if err != nil {
			t.Fatal(err)
		}
		if out, err = s.Event(out, ev); err != nil {
			t.Fatal(err)
		}
	}
}

const toolRequest = `{"model":"claude-sonnet-4-20250514","max_tokens":200,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"messages":[{"role":"user","content":"Weather in Paris?"}]}`

func TestEndToEndToolUse(t *testing.T) {
	var got []byte
	answer := `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`
	srv := scripted(t, 200, "application/json", answer, &got)
	status, out, _ := roundTrip(t, srv, toolRequest, false)
	if status != 200 {
		t.Fatalf("status %d: %s", status, out)
	}
	if m := gjson.GetBytes(got, "model").String(); m != "gpt-4o-mini" {
		t.Errorf("upstream asked for %q", m)
	}
	if gjson.GetBytes(got, "tools.0.function.name").String() != "get_weather" || gjson.GetBytes(got, "max_completion_tokens").Int() != 200 {
		t.Errorf("upstream request %s", got)
	}
	checks := map[string]string{
		"type": "message", "stop_reason": "tool_use", "content.0.type": "tool_use", "content.0.id": "call_1",
		"content.0.input.city": "Paris", "usage.input_tokens": "30", "usage.output_tokens": "9",
	}
	for path, want := range checks {
		if g := gjson.GetBytes(out, path).String(); g != want {
			t.Errorf("%s = %q, want %q\n%s", path, g, want, out)
		}
	}

	// The client runs the tool and sends its result back.
	follow := `{"model":"claude-sonnet-4-20250514","max_tokens":200,"messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":` +
		gjson.GetBytes(out, "content").Raw + `},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C"}]}]}`
	answer2 := `{"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"It is 18C."},"finish_reason":"stop"}]}`
	srv2 := scripted(t, 200, "application/json", answer2, &got)
	_, out, _ = roundTrip(t, srv2, follow, false)
	if gjson.GetBytes(got, "messages.1.tool_calls.0.id").String() != "call_1" || gjson.GetBytes(got, "messages.2.tool_call_id").String() != "call_1" || gjson.GetBytes(got, "messages.2.role").String() != "tool" {
		t.Errorf("tool round trip not carried: %s", got)
	}
	if gjson.GetBytes(out, "content.0.text").String() != "It is 18C." || gjson.GetBytes(out, "stop_reason").String() != "end_turn" {
		t.Errorf("answer %s", out)
	}
}

func TestEndToEndStream(t *testing.T) {
	var got []byte
	sseBody := readFile(t, "testdata/streams/tool_input_deltas.openai.sse")
	srv := scripted(t, 200, "text/event-stream", string(sseBody), &got)
	status, out, s := roundTrip(t, srv, strings.Replace(toolRequest, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), true)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if !gjson.GetBytes(got, "stream_options.include_usage").Bool() {
		t.Errorf("usage not asked for: %s", got)
	}
	checkFrames(t, out)
	want := readFile(t, "testdata/streams/tool_input_deltas.anthropic.sse")
	if !bytes.Equal(out, want) {
		t.Errorf("stream through a real socket differs from the golden:\n%s", out)
	}
	if !s.Done() || s.Usage().InputTokens != 40 || s.Model() != "gpt-4o" {
		t.Errorf("done %v usage %+v model %q", s.Done(), s.Usage(), s.Model())
	}
}

func TestEndToEndError(t *testing.T) {
	var got []byte
	srv := scripted(t, 429, "application/json", `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, &got)
	status, out, _ := roundTrip(t, srv, toolRequest, false)
	if status != 429 || gjson.GetBytes(out, "error.type").String() != "rate_limit_error" || gjson.GetBytes(out, "error.message").String() != "Rate limit reached" {
		t.Errorf("status %d body %s", status, out)
	}
}
