package messages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/sse"
)

func addFiles(f *testing.F, dir, suffix string) {
	f.Helper()
	for _, name := range cases(f, dir, suffix) {
		f.Add(readFile(f, filepath.Join(dir, name+suffix)))
	}
}

func FuzzRequest(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "requests"), ".anthropic.json")
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"messages":null}`, `{"messages":[null]}`, `{"messages":[{}]}`,
		`{"system":[null],"messages":[{"role":"user","content":[null]}]}`,
		`{"messages":[{"role":"assistant","content":[{"type":"tool_use","input":null}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"image"}]}]}]}`,
		`{"tools":[{"name":"f","input_schema":[]}],"tool_choice":{"type":"tool","name":"f"},"messages":[]}`,
		"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe \\ud800\"}]}",
	} {
		f.Add([]byte(s))
	}
	b := Bridge(openai.New("openai"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := &provider.Request{Body: body, Model: testModel, Stream: bytes.Contains(body, []byte(`"stream":true`))}
		req, err := b.ChatRequest(context.Background(), testEndpoint(), r)
		if err != nil {
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
			t.Fatalf("invalid chat body: %s", out)
		}
	})
}

func FuzzResponse(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "responses"), ".openai.json")
	for _, s := range []string{`{}`, `{"choices":[]}`, `{"choices":[null]}`, `{"choices":[{"message":{"content":[{"type":"text","text":"x"}],"tool_calls":[null]}}]}`} {
		f.Add([]byte(s))
	}
	b := Bridge(openai.New("openai"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := &provider.Request{Model: testModel}
		r.Inner = &provider.Request{Model: testModel}
		res, err := b.ChatResponse(body, r)
		if err != nil {
			return
		}
		if !json.Valid(res.Body) {
			t.Fatalf("invalid message: %s", res.Body)
		}
	})
}

func FuzzStream(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "streams"), ".openai.sse")
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{\"}}]}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n"))
	f.Add([]byte("data: {\"error\":\"x\"}\n\n"))
	b := Bridge(openai.New("openai"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &provider.Request{Model: testModel, Stream: true}
		r.Inner = &provider.Request{Model: testModel, Stream: true}
		s := b.NewStream(r)
		rd := sse.NewReader(bytes.NewReader(in))
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				out, _ = s.Finish(out)
				break
			}
			next, err := s.Event(out, ev)
			if errors.Is(err, provider.ErrMalformedEvent) {
				break
			}
			out = next
			if err != nil {
				break
			}
		}
		checkFrames(t, out)
	})
}
