package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// ndjsonAdapter is an OpenAI-compatible adapter whose upstream streams one
// JSON chunk per line instead of SSE: it supplies its own event reader.
type ndjsonAdapter struct{ provider.Adapter }

func (ndjsonAdapter) NewEventReader(body io.Reader) provider.EventReader {
	return &lineReader{br: bufio.NewReader(body)}
}

type lineReader struct {
	br  *bufio.Reader
	raw []byte
}

func (r *lineReader) Next() (sse.Event, error) {
	line, err := r.br.ReadBytes('\n')
	if err != nil {
		if len(line) > 0 {
			return sse.Event{}, io.ErrUnexpectedEOF
		}
		return sse.Event{}, err
	}
	// The openai stream relays Raw as it came: give it the SSE frame.
	data := line[:len(line)-1]
	r.raw = append(append(append(r.raw[:0], "data: "...), data...), "\n\n"...)
	return sse.Event{Data: data, Raw: r.raw}, nil
}

func (r *lineReader) Buffered() int { return r.br.Buffered() }

// TestStreamUsesAdapterEventReader: a kind whose stream is not SSE is read
// through the reader its adapter supplies; an SSE reader would see one
// unterminated event and fail the stream.
func TestStreamUsesAdapterEventReader(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, model string) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, d := range []string{`{"role":"assistant","content":""}`, `{"content":"Par"}`, `{"content":"is"}`} {
			fmt.Fprintf(w, "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n", model, d)
		}
		fmt.Fprintf(w, "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n[DONE]\n", model)
	})
	for _, tc := range []struct {
		name string
		ad   provider.Adapter
		ok   bool
	}{
		{name: "own reader", ad: ndjsonAdapter{openai.New("openai_compatible")}, ok: true},
		{name: "sse reader cannot read it", ad: openai.New("openai_compatible"), ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt := newTarget(t, "primary", 1, up.URL, targetOpts{})
			pt.Adapter = tc.ad
			r := New([]*Target{pt}, settings(1), nil)
			res, err := r.Do(context.Background(), chatReq(true))
			if !tc.ok {
				if err == nil {
					t.Fatalf("an SSE reader read a stream that is not SSE: %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Stream == nil {
				t.Fatalf("no stream: status %d %s", res.Status, res.Body)
			}
			out, err := drain(t, res.Stream)
			if err != nil {
				t.Fatalf("stream: %v (%q)", err, out)
			}
			if !strings.Contains(out, `"content":"Par"`) || !strings.Contains(out, `"content":"is"`) || !strings.HasSuffix(out, "data: [DONE]\n\n") {
				t.Fatalf("stream = %q", out)
			}
		})
	}
}
