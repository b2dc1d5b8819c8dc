package openai

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func FuzzChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`), "gpt-4o")
	f.Add([]byte(`{"model":"gpt-4o","messages":[]}`), "claude-sonnet-4-20250514")
	f.Add([]byte(`{ "model" : "a\u0062", "stream": true }`), "ab")
	f.Add([]byte(`{"messages":[{"content":"\"model\":\"x\""}]}`), "m")
	f.Add([]byte(`{"model":null}`), `we"ird\`)
	f.Add([]byte(`{"model":{"nested":"x"},"n":1}`), "m")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		// Request.Body is always a JSON object, Model a non-empty UTF-8 name
		// (the gateway validates both).
		if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() || model == "" || !utf8.ValidString(model) {
			return
		}
		orig := bytes.Clone(body)
		req, err := New("openai").ChatRequest(t.Context(), &provider.Endpoint{BaseURL: "http://h/v1"}, &provider.Request{Body: body, Model: model})
		if err != nil {
			return
		}
		got := readBody(t, req)
		if !bytes.Equal(body, orig) {
			t.Fatal("the client's body was modified")
		}
		if gjson.GetBytes(orig, "model").String() == model && !bytes.Equal(got, orig) {
			t.Fatalf("body changed although the model is the same:\n%s\n%s", orig, got)
		}
		if !gjson.ValidBytes(got) {
			t.Fatalf("upstream body is not JSON: %s", got)
		}
		if m := gjson.GetBytes(got, "model"); m.Type != gjson.String || m.String() != model {
			t.Fatalf("upstream model = %s, want %q in %s", m.Raw, model, got)
		}
	})
}

func FuzzChatResponse(f *testing.F) {
	f.Add([]byte(`{"object":"chat.completion","model":"m","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"finish_reason":null}],"usage":null}`))
	f.Add([]byte(`{"object":"list","data":[]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"choices":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := New("openai").ChatResponse(body, &provider.Request{})
		if err != nil {
			return
		}
		if !bytes.Equal(res.Body, body) {
			t.Fatal("a chat completion body was changed")
		}
		if !gjson.ValidBytes(body) {
			t.Fatal("invalid JSON accepted")
		}
	})
}

func FuzzStream(f *testing.F) {
	f.Add(typicalStream)
	f.Add("data: {\"error\": {\"message\": \"x\"}}\n\n")
	f.Add("data: {\"model\": \"m\", \"choices\": [{\"finish_reason\": \"stop\"}], \"usage\": {\"prompt_tokens\": 1}}\n\ndata: [DONE]\n\n")
	f.Add(": ping\r\n\r\ndata: [DONE]\r\n\r\n")
	f.Add("data: {\"usage\":{\ndata: \"x\"}\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		res := runStream(t, in)
		// The adapter relays, so whatever it let through is the input's
		// beginning, unchanged, plus the [DONE] it sends itself for a body
		// that ended cleanly after a finish_reason without one.
		out := string(res.out)
		clean := res.eventErr == nil && res.readErr == nil && res.finishErr == nil
		if clean && !res.s.Done() {
			t.Fatal("a stream finished cleanly without being done")
		}
		if clean && len(res.s.FinishReasons()) == 0 && !strings.HasPrefix(in, out) {
			t.Fatalf("a stream without a finish_reason got a [DONE] it did not send:\n%q", out)
		}
		if !strings.HasPrefix(in, out) {
			trimmed, ok := strings.CutSuffix(out, "data: [DONE]\n\n")
			if !ok || !clean || !strings.HasPrefix(in, trimmed) {
				t.Fatalf("output is neither a prefix of the input nor one completed by [DONE]:\n%q\n%q", res.out, in)
			}
		}
		for _, r := range res.s.FinishReasons() {
			if r == "" {
				t.Fatal("an empty finish_reason was recorded")
			}
		}
	})
}

// seedFiles adds the testdata/native inputs whose names start with prefix.
func seedFiles(f *testing.F, prefix string) {
	files, _ := filepath.Glob("testdata/native/" + prefix + "*.sse")
	if len(files) == 0 {
		f.Fatalf("no seeds for %s", prefix)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

func FuzzResponsesStream(f *testing.F) {
	seedFiles(f, "responses_")
	f.Add("data: {\"type\":\"a\\r\\nevent: forged\"}\n\n")
	f.Add("event: x\rdata: y\ndata: {}\n\n")
	f.Add("data: {\"type\":\"response.completed\",\n data: \"response\":{\"status\":\"completed\"}}\n\n")
	f.Add("event:\ndata: 1\n\n: c\n\nevent: response.incomplete\ndata: {}\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		checkRelay(t, provider.APIResponses, in, runNative(t, provider.APIResponses, in))
	})
}

func FuzzCompletionsStream(f *testing.F) {
	seedFiles(f, "completions_")
	f.Add("data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"\"}]}\n\n")
	f.Add("data: {\"choices\":[{\"text\":\"a\"}],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		res := runNative(t, provider.APICompletions, in)
		checkRelay(t, provider.APICompletions, in, res)
		for _, r := range res.s.FinishReasons() {
			if r == "" {
				t.Fatal("an empty finish_reason was recorded")
			}
		}
	})
}
