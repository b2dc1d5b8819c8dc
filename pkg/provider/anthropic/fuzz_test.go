package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// addFiles adds every file in dir ending in suffix to the seed corpus.
func addFiles(f *testing.F, dir, suffix string) {
	f.Helper()
	for _, name := range cases(f, dir, suffix) {
		f.Add(readFile(f, filepath.Join(dir, name+suffix)))
	}
}

func FuzzChatRequest(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "requests"), ".openai.json")
	addFiles(f, filepath.Join("testdata", "requests", "errors"), ".openai.json")
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"messages":null}`, `{"messages":[null]}`, `{"messages":[{}]}`,
		`{"messages":[{"role":"user","content":[null]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64"}}]}]}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"  "}}]}]}`,
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`,
		`{"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function"}}`,
		`{"messages":[{"role":"user","content":"x"}],"stop":[null]}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":1e400}`,
		`{"messages":[{"role":"user","content":"\ud800 <&>"}]}`,
		"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
	} {
		f.Add([]byte(s))
	}
	ep := testEndpoint()
	a := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := a.ChatRequest(context.Background(), ep, &provider.Request{Body: body, Model: testModel})
		if err != nil {
			// Whatever the body, a failure is the client's: a RequestError.
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err %v (%T) is not a *provider.RequestError", err, err)
			}
			return
		}
		out, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("upstream body is not JSON: %s", out)
		}
	})
}

func FuzzStream(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "streams"), ".anthropic.sse")
	for _, s := range []string{
		"", "\n\n", ": comment\n\n", "data: [DONE]\n\n", "event: message_stop\n\n",
		"event: content_block_start\ndata: {\"index\":99999999999,\"content_block\":{\"type\":\"tool_use\"}}\n\n",
		"event: content_block_delta\ndata: {\"index\":-1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n",
		"event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":\"\xff\"}}\n\n",
		"event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":\"\\ud800\"}}\n\n",
		"event: message_start\ndata: {\"message\":{\"id\":\"\\u0000\\\"\",\"model\":\"\xfe\"}}\n\n",
		"event: error\ndata: {\"error\":{\"type\":\"x\",\"message\":\"sk-ant-abc\"}}\n\n",
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newTestAdapter().NewStream(streamRequest(true))
		rd := sse.NewReader(bytes.NewReader(in))
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			before := len(out)
			out, err = s.Event(out, ev)
			checkFuzzFrames(t, out[before:])
			if err != nil {
				break
			}
		}
		before := len(out)
		out, _ = s.Finish(out)
		checkFuzzFrames(t, out[before:])
	})
}

// checkFuzzFrames asserts that out is whole frames whose data is JSON or
// [DONE] and valid UTF-8.
func checkFuzzFrames(t *testing.T, out []byte) {
	t.Helper()
	if len(out) == 0 {
		return
	}
	if !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("partial frame: %q", out)
	}
	for _, f := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(f, "data: ")
		if !ok || strings.ContainsAny(data, "\r\n") {
			t.Fatalf("not one data line: %q", f)
		}
		if data == "[DONE]" {
			continue
		}
		if !json.Valid([]byte(data)) || !utf8.ValidString(data) {
			t.Fatalf("frame data is not valid UTF-8 JSON: %q", data)
		}
	}
}

// FuzzFastTextDelta checks the text-delta fast path against encoding/json:
// whatever it accepts must decode to the same text delta.
func FuzzFastTextDelta(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		`{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":"a\"b\\c\/\n\u00e9\ud83d\ude00"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\x"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\u12"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"x":1}`,
		`{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}`,
		"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\t\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, ok := fastTextDelta(data)
		if !ok {
			return
		}
		var ev anEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("fast path accepted invalid JSON %q: %v", data, err)
		}
		if ev.Type != "content_block_delta" || ev.Delta == nil || ev.Delta.Type != "text_delta" || !bytes.Equal(ev.Delta.Text, raw) {
			t.Fatalf("fast path disagrees on %q: raw %q, decoded %+v", data, raw, ev.Delta)
		}
		if !utf8.Valid(raw) {
			t.Fatalf("fast path passed invalid UTF-8 %q", raw)
		}
	})
}
