package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// stepReader returns its data a few bytes at a time, cycling through sizes,
// so that SSE events arrive split at arbitrary points.
type stepReader struct {
	data  []byte
	sizes []int
	n     int
}

func (r *stepReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.sizes[r.n%len(r.sizes)], len(p), len(r.data))
	r.n++
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// splits are the read sizes each stream case is fed with.
func splits() map[string][]int {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]int, 200)
	for i := range random {
		random[i] = 1 + rng.IntN(40)
	}
	return map[string][]int{
		"1": {1}, "2": {2}, "3": {3}, "7": {7}, "64": {64}, "whole": {1 << 20},
		"random": random, "1-then-big": {1, 1, 1, 500},
	}
}

type streamRun struct {
	out       []byte
	eventErr  error
	readErr   error
	finishErr error
	s         provider.Stream
}

// runStream drives a Stream the way the gateway does: read events, translate
// each, stop at the first error, then Finish.
func runStream(t testing.TB, r *provider.Request, src io.Reader) streamRun {
	t.Helper()
	var run streamRun
	run.s = newTestAdapter().NewStream(r)
	rd := sse.NewReader(src)
	for {
		ev, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				run.readErr = err
			}
			break
		}
		run.out, run.eventErr = run.s.Event(run.out, ev)
		if run.eventErr != nil {
			return run
		}
	}
	run.out, run.finishErr = run.s.Finish(run.out)
	return run
}

func streamRequest(includeUsage bool) *provider.Request {
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	if includeUsage {
		body = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`
	}
	return &provider.Request{Body: []byte(body), Model: "gpt-4o-mini", Stream: true}
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string  `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// parsed is what a client would assemble from the frames.
type parsed struct {
	chunks  []chunk
	content string
	args    map[int]string // tool call index → arguments
	names   map[int]string
	finish  []string
	usage   *oaUsage
	errMsg  string
	done    bool
}

// parseFrames checks that out is a sequence of well-formed OpenAI frames and
// assembles them. partial means out is a slice from the middle of a stream,
// so the checks that need its start are skipped.
func parseFrames(t testing.TB, out []byte, partial bool) parsed {
	t.Helper()
	p := parsed{args: map[int]string{}, names: map[int]string{}}
	if len(out) == 0 {
		return p
	}
	if !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("output does not end with a blank line: %q", out)
	}
	frames := strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n")
	for i, f := range frames {
		data, ok := strings.CutPrefix(f, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("frame %d is not a single data line: %q", i, f)
		}
		if p.done || p.errMsg != "" {
			t.Fatalf("frame %d follows [DONE] or an error: %q", i, f)
		}
		if data == "[DONE]" {
			p.done = true
			continue
		}
		if !json.Valid([]byte(data)) {
			t.Fatalf("frame %d is not JSON: %q", i, data)
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("frame %d: %v: %s", i, err, data)
		}
		if c.Error != nil {
			p.errMsg = c.Error.Message
			continue
		}
		if c.Object != "chat.completion.chunk" || c.Created == 0 {
			t.Errorf("frame %d: object %q created %d", i, c.Object, c.Created)
		}
		if len(p.chunks) > 0 && (c.ID != p.chunks[0].ID || c.Created != p.chunks[0].Created || c.Model != p.chunks[0].Model) {
			t.Errorf("frame %d: id/created/model differ from the first chunk", i)
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 || p.usage != nil {
				t.Errorf("frame %d: usage chunk with choices or repeated", i)
			}
			p.usage = c.Usage
		} else if len(c.Choices) != 1 || c.Choices[0].Index != 0 {
			t.Errorf("frame %d: want exactly one choice 0", i)
		}
		for _, ch := range c.Choices {
			if !partial && (ch.Delta.Role != nil) != (len(p.chunks) == 0) {
				t.Errorf("frame %d: role must be in the first chunk only", i)
			}
			if ch.Delta.Content != nil {
				p.content += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.ID != "" {
					if _, dup := p.names[tc.Index]; dup {
						t.Errorf("frame %d: tool call %d started twice", i, tc.Index)
					}
					p.names[tc.Index] = tc.Function.Name
					if tc.Type != "function" {
						t.Errorf("frame %d: tool call type %q", i, tc.Type)
					}
				} else if _, ok := p.names[tc.Index]; !ok && !partial {
					t.Errorf("frame %d: arguments for unstarted tool call %d", i, tc.Index)
				}
				if tc.Function.Arguments != nil {
					p.args[tc.Index] += *tc.Function.Arguments
				}
			}
			if ch.FinishReason != nil {
				p.finish = append(p.finish, *ch.FinishReason)
			}
		}
		p.chunks = append(p.chunks, c)
	}
	return p
}

func TestStreamGolden(t *testing.T) {
	tests := []struct {
		name           string
		includeUsage   bool
		wantEventErr   bool
		wantIncomplete bool
		content        string
		args           map[int]string
		finish         string
		usage          provider.Usage
	}{
		{name: "text", content: "Hello! How can I help you \"today\"?\n", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 15}},
		{name: "text_crlf", content: "Hello! How can I help you \"today\"?\n", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 15}},
		{name: "text_unicode_escapes", content: "Ünïcödé 😀 <b>&</b>tab\there \u2028 and raw ü", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 9}},
		{name: "text_include_usage", includeUsage: true, content: "Cached.", finish: "length", usage: provider.Usage{InputTokens: 2112, OutputTokens: 4, CacheReadTokens: 2000, CacheCreationTokens: 100}},
		{name: "tool_use", includeUsage: true, content: "Okay, let's check.", args: map[int]string{0: `{"city": "San Francisco", "unit": "celsius"}`}, finish: "tool_calls", usage: provider.Usage{InputTokens: 384, OutputTokens: 89}},
		{name: "parallel_tools", content: "Checking both.", args: map[int]string{0: `{"city":"Paris"}`, 1: `{"city":"Rome"}`}, finish: "tool_calls", usage: provider.Usage{InputTokens: 400, OutputTokens: 120}},
		{name: "thinking", content: "42.", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 50}},
		{name: "unknown_events", content: "Hi", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 2}},
		{name: "no_message_delta", includeUsage: true, content: "Hi", finish: "stop", usage: provider.Usage{InputTokens: 25, OutputTokens: 1}},
		{name: "error", wantEventErr: true, content: "Partial", usage: provider.Usage{InputTokens: 25, OutputTokens: 1}},
		{name: "truncated", wantIncomplete: true, content: "This answer will be cut", usage: provider.Usage{InputTokens: 25, OutputTokens: 1}},
		{name: "truncated_mid_event", wantIncomplete: true, content: "Cut", usage: provider.Usage{InputTokens: 25, OutputTokens: 1}},
	}
	dir := filepath.Join("testdata", "streams")
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, tt.name+".anthropic.sse"))
			var ref []byte
			for split, sizes := range splits() {
				run := runStream(t, streamRequest(tt.includeUsage), &stepReader{data: in, sizes: sizes})
				if ref == nil {
					ref = run.out
				} else if !bytes.Equal(run.out, ref) {
					t.Fatalf("split %s: output differs:\n%s\nvs\n%s", split, run.out, ref)
				}
				if (run.eventErr != nil) != tt.wantEventErr {
					t.Errorf("split %s: event error %v", split, run.eventErr)
				}
				if tt.wantIncomplete != (run.finishErr != nil) {
					t.Errorf("split %s: finish error %v", split, run.finishErr)
				}
				if run.finishErr != nil && !errors.Is(run.finishErr, io.ErrUnexpectedEOF) {
					t.Errorf("split %s: finish error %v does not wrap io.ErrUnexpectedEOF", split, run.finishErr)
				}
				if got := run.s.Usage(); got != tt.usage {
					t.Errorf("split %s: Usage = %+v, want %+v", split, got, tt.usage)
				}
				if got := run.s.Model(); got != "claude-sonnet-4-20250514" {
					t.Errorf("split %s: Model = %q", split, got)
				}
				if fr := run.s.FinishReasons(); tt.finish != "" && (len(fr) != 1 || fr[0] != tt.finish) || tt.finish == "" && len(fr) != 0 {
					t.Errorf("split %s: FinishReasons = %v, want %q", split, fr, tt.finish)
				}
			}
			checkGoldenBytes(t, ref, filepath.Join(dir, tt.name+".openai.sse"))

			p := parseFrames(t, ref, false)
			complete := !tt.wantEventErr && !tt.wantIncomplete
			if p.done != complete {
				t.Errorf("[DONE] sent = %v, want %v", p.done, complete)
			}
			if tt.wantEventErr && p.errMsg == "" {
				t.Error("no error frame")
			}
			if p.content != tt.content {
				t.Errorf("content = %q, want %q", p.content, tt.content)
			}
			if len(p.args) != len(tt.args) {
				t.Errorf("tool calls = %v, want %v", p.args, tt.args)
			}
			for i, want := range tt.args {
				if p.args[i] != want || p.names[i] != "get_weather" {
					t.Errorf("tool call %d: %s(%s), want get_weather(%s)", i, p.names[i], p.args[i], want)
				}
				if !json.Valid([]byte(p.args[i])) {
					t.Errorf("tool call %d arguments are not JSON", i)
				}
			}
			if complete && (len(p.finish) != 1 || p.finish[0] != tt.finish) {
				t.Errorf("finish_reason = %v, want %q", p.finish, tt.finish)
			}
			if tt.includeUsage {
				want := openAIUsage(tt.usage)
				if p.usage == nil || *p.usage != want {
					t.Errorf("usage chunk = %+v, want %+v", p.usage, want)
				}
			} else if p.usage != nil {
				t.Error("usage chunk sent without include_usage")
			}
		})
	}
	for _, name := range cases(t, dir, ".anthropic.sse") {
		if !listed[name] {
			t.Errorf("stream case %s is not in the table", name)
		}
	}
}

// TestStreamEmitsPerEvent asserts that every text delta reaches the client in
// the Event call that received it: nothing is held back until the end.
func TestStreamEmitsPerEvent(t *testing.T) {
	in := readFile(t, filepath.Join("testdata", "streams", "tool_use.anthropic.sse"))
	s := newTestAdapter().NewStream(streamRequest(false))
	rd := sse.NewReader(bytes.NewReader(in))
	deltas := 0
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		var data anEvent
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		out, err := s.Event(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		if data.Delta == nil {
			continue
		}
		var piece json.RawMessage
		switch data.Delta.Type {
		case "text_delta":
			piece = data.Delta.Text
		case "input_json_delta":
			piece = data.Delta.PartialJSON
		default:
			continue
		}
		var want string
		if err := json.Unmarshal(piece, &want); err != nil || want == "" {
			continue
		}
		deltas++
		p := parseFrames(t, out, true)
		got := p.content
		if data.Delta.Type == "input_json_delta" {
			got = p.args[0]
		}
		if got != want {
			t.Errorf("event %s %q produced %q", data.Delta.Type, want, out)
		}
	}
	if deltas < 5 {
		t.Fatalf("only %d deltas checked", deltas)
	}
}

func TestStreamAfterEnd(t *testing.T) {
	stop := sse.Event{Name: []byte("message_stop"), Data: []byte(`{"type":"message_stop"}`)}
	late := sse.Event{Name: []byte("content_block_delta"), Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}`)}
	errEv := sse.Event{Name: []byte("error"), Data: []byte(`{"type":"error","error":{"type":"api_error","message":"boom"}}`)}

	t.Run("after message_stop", func(t *testing.T) {
		s := newTestAdapter().NewStream(streamRequest(false))
		out, err := s.Event(nil, stop)
		if err != nil || !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
			t.Fatalf("%q %v", out, err)
		}
		for _, ev := range []sse.Event{late, errEv, stop} {
			if more, err := s.Event(nil, ev); len(more) != 0 || err != nil {
				t.Errorf("event after message_stop produced %q, %v", more, err)
			}
		}
		if more, err := s.Finish(nil); len(more) != 0 || err != nil {
			t.Errorf("Finish after message_stop: %q, %v", more, err)
		}
	})
	t.Run("after error", func(t *testing.T) {
		s := newTestAdapter().NewStream(streamRequest(false))
		out, err := s.Event(nil, errEv)
		if err == nil || !strings.Contains(string(out), `"message":"boom","type":"server_error"`) {
			t.Fatalf("%q %v", out, err)
		}
		if more, err := s.Event(nil, late); len(more) != 0 || err != nil {
			t.Errorf("event after error produced %q, %v", more, err)
		}
		if _, err := s.Finish(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Finish after error: %v", err)
		}
	})
}

func TestStreamMalformed(t *testing.T) {
	tests := []struct {
		name    string
		ev      sse.Event
		wantErr bool
	}{
		{"named event with bad json", sse.Event{Name: []byte("content_block_delta"), Data: []byte(`{"type":`)}, true},
		{"text delta not a string", sse.Event{Name: []byte("content_block_delta"), Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}}`)}, true},
		{"error event without message", sse.Event{Name: []byte("error"), Data: []byte(`{}`)}, true},
		{"unnamed non-json data", sse.Event{Data: []byte(`hello`)}, false},
		{"unnamed event typed in data", sse.Event{Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`)}, false},
		{"unknown event", sse.Event{Name: []byte("future"), Data: []byte(`not json`)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestAdapter().NewStream(streamRequest(false))
			out, err := s.Event(nil, tt.ev)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			p := parseFrames(t, out, false)
			if tt.wantErr && p.errMsg == "" {
				t.Errorf("no error frame: %q", out)
			}
		})
	}
}

func TestFastTextDelta(t *testing.T) {
	const head = `{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":`
	tests := []struct {
		name string
		data string
		want string // raw token; "" means the fast path declines
	}{
		{"plain", head + `"Hello"}}`, `"Hello"`},
		{"escapes", head + `"a\"b\\c\/\n\t\u00e9\ud83d\ude00"}}`, `"a\"b\\c\/\n\t\u00e9\ud83d\ude00"`},
		{"raw utf-8", head + `"héllo 😀"}}`, `"héllo 😀"`},
		{"empty", head + `""}}`, `""`},
		{"bad escape", head + `"\x"}}`, ""},
		{"short unicode escape", head + `"\u12"}}`, ""},
		{"control char", head + "\"a\tb\"}}", ""},
		{"unterminated", head + `"abc}}`, ""},
		{"trailing field", head + `"a"},"x":1}`, ""},
		{"trailing garbage", head + `"a"}}x`, ""},
		{"spaced", `{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}`, ""},
		{"no index digits", `{"type":"content_block_delta","index":,"delta":{"type":"text_delta","text":"a"}}`, ""},
		{"input json delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}`, ""},
		{"invalid utf-8", head + "\"\xff\"}}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, ok := fastTextDelta([]byte(tt.data))
			if ok != (tt.want != "") || string(raw) != tt.want {
				t.Errorf("fastTextDelta = %q, %v; want %q", raw, ok, tt.want)
			}
		})
	}
}
