package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

func addFiles(f *testing.F, dir, suffix string) {
	f.Helper()
	for _, name := range cases(f, dir, suffix) {
		f.Add(readFile(f, filepath.Join(dir, name+suffix)))
	}
}

func FuzzChatRequest(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "requests"), ".openai.json")
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"messages":[null]}`, `{"messages":[{}]}`,
		`{"messages":[{"role":"user","content":[null]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]}`,
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"#/$defs/a"}}}]}`,
		`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":["null"]}}}}`,
		`{"messages":[{"role":"user","content":"x"}],"stop":[null,""]}`,
		"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe <&>\"}]}",
	} {
		f.Add([]byte(s))
	}
	a := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := a.ChatRequest(context.Background(), &provider.Endpoint{APIKey: "k"}, &provider.Request{Body: body, Model: "gemini-2.5-flash"})
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
			t.Fatalf("request body is not JSON: %s", out)
		}
	})
}

func FuzzChatResponse(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "responses"), ".gemini.json")
	for _, s := range []string{`{}`, `null`, `{"candidates":[null]}`, `{"candidates":[{"content":{"parts":[{"functionCall":{}}]}}]}`} {
		f.Add([]byte(s))
	}
	a := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := a.ChatResponse(body, &provider.Request{Model: "m"})
		if err != nil {
			return
		}
		if !json.Valid(res.Body) {
			t.Fatalf("answer is not JSON: %s", res.Body)
		}
		if len(res.FinishReasons) == 0 {
			t.Fatal("an answer without finish reasons")
		}
	})
}

func FuzzStream(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "streams"), ".gemini.sse")
	f.Add([]byte("data: {\"candidates\":[{\"index\":-1,\"finishReason\":\"STOP\"}]}\n\n"))
	a := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		s := a.NewStream(&provider.Request{Body: []byte(`{"stream_options":{"include_usage":true}}`), Model: "m"})
		rd := sse.NewReader(bytes.NewReader(body))
		for range 1000 {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			out, err := s.Event(nil, ev)
			if err != nil {
				return
			}
			for _, fr := range bytes.Split(out, []byte("\n\n")) {
				data, ok := bytes.CutPrefix(fr, []byte("data: "))
				if ok && !bytes.Equal(data, []byte("[DONE]")) && !json.Valid(data) {
					t.Fatalf("frame is not JSON: %q", fr)
				}
			}
		}
		_, _ = s.Finish(nil)
	})
}
