package router

import (
	"io"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// FuzzMidstreamFrames feeds arbitrary client-facing bytes to the
// continuation's observe and rewrite: they must not panic, and every JSON
// chunk rewrite emits (error frames aside) carries the first chunk's id.
func FuzzMidstreamFrames(f *testing.F) {
	f.Add([]byte(`data: {"id":"a","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi "}}]}`+"\n\n"),
		[]byte(`data: {"id":"b","model":"x","choices":[{"index":0,"delta":{"role":"assistant","content":" there"}}],"usage":{"prompt_tokens":1}}`+"\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{}]}}]}\r\n\r\n"), []byte(": ping\n\ndata: {\"error\":{}}\n\n"))
	f.Add([]byte("data: {\"id\":\"\\u00e9\"}\n"), []byte("data: not json\n\n"))
	f.Fuzz(func(t *testing.T, first, next []byte) {
		m := &midstream{usage: provider.Usage{InputTokens: 3}}
		m.observe(first)
		if !utf8.Valid(m.text) && utf8.Valid(first) {
			t.Skip() // escaped invalid code points decode to replacement runes
		}
		m.skipWS = []byte(" ")
		out := m.rewrite(next)
		rd := sse.NewReader(bytesReader(out))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			if len(ev.Data) == 0 || sse.IsDone(ev.Data) {
				continue
			}
			if !gjson.ValidBytes(ev.Data) {
				continue // not JSON: passed on as the upstream sent it, as without a seam
			}
			if m.id != "" && !gjson.GetBytes(ev.Data, "error").Exists() && gjson.GetBytes(ev.Data, "id").Raw != m.id {
				t.Fatalf("rewritten chunk %q lost id %s", ev.Data, m.id)
			}
		}
	})
}

func bytesReader(b []byte) *bytesR { return &bytesR{b: b} }

type bytesR struct{ b []byte }

func (r *bytesR) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
