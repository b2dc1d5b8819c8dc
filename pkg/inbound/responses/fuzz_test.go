package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// addFiles seeds f with every file in dir ending in suffix.
func addFiles(f *testing.F, dir, suffix string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == suffix {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzRequest: any body either translates to a valid chat request or is
// a RequestError; it never panics.
func FuzzRequest(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "requests"), ".json")
	f.Add([]byte(`{"input":[{"type":"function_call","call_id":"a","name":"f"},{"type":"function_call_output","call_id":"a","output":[{"type":"input_text","text":"x"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := toChat(body, "m")
		if err != nil {
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid chat JSON %s", out)
		}
	})
}

// FuzzResponse: any chat answer with any request either fails or becomes a
// valid response object.
func FuzzResponse(f *testing.F) {
	for _, tc := range responseCases {
		f.Add([]byte(tc.req), []byte(tc.chat))
	}
	f.Fuzz(func(t *testing.T, req, chat []byte) {
		if !json.Valid(req) {
			return // the gateway only routes valid JSON
		}
		pr, err := newTestBridge(nil).ChatResponse(chat, &provider.Request{Body: req, Model: "m"})
		if err != nil {
			return
		}
		if !json.Valid(pr.Body) {
			t.Fatalf("invalid response JSON %s", pr.Body)
		}
	})
}

// FuzzStream: any upstream stream yields only well-formed events with
// increasing sequence numbers, and Done only after response.completed
// or response.incomplete.
func FuzzStream(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "streams"), ".sse")
	f.Add([]byte("data: {\"error\":{\"message\":\"x\"}}\n\n"))
	f.Fuzz(func(t *testing.T, upstream []byte) {
		s := newTestBridge(nil).NewStream(&provider.Request{Body: []byte(streamReq), Model: "m", Stream: true})
		rd := sse.NewReader(bytes.NewReader(upstream))
		var out []byte
		for i := 0; i < 1000; i++ {
			ev, err := rd.Next()
			if err != nil {
				out, _ = s.Finish(out)
				break
			}
			n := len(out)
			out, err = s.Event(out, ev)
			if errors.Is(err, provider.ErrMalformedEvent) {
				out = out[:n]
				break
			}
			if err != nil {
				break
			}
		}
		crd := sse.NewReader(bytes.NewReader(out))
		last := ""
		for seq := 0; ; seq++ {
			ev, err := crd.Next()
			if err != nil {
				break
			}
			var head struct {
				Type string `json:"type"`
				Seq  int    `json:"sequence_number"`
			}
			if err := json.Unmarshal(ev.Data, &head); err != nil || head.Type != string(ev.Name) || head.Seq != seq {
				t.Fatalf("frame %d: %q %s", seq, ev.Name, ev.Data)
			}
			last = head.Type
		}
		if s.Done() != (last == "response.completed" || last == "response.incomplete") {
			t.Fatalf("done %v after %q", s.Done(), last)
		}
	})
}
