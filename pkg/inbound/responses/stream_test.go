package responses

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// streamReq is the Responses request the stream goldens answer.
const streamReq = `{"model":"gpt-4o","input":"Count.","stream":true,"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]}`

// runStream feeds an upstream SSE body through the bridge's stream as the
// router does and returns what the client gets, and the errors.
func runStream(t testing.TB, b *bridge, reqBody string, upstream []byte) (out []byte, s provider.Stream, evErr, finErr error) {
	t.Helper()
	s = b.NewStream(&provider.Request{Body: []byte(reqBody), Model: testModel, Stream: true})
	rd := sse.NewReader(bytes.NewReader(upstream))
	for i := 0; i < 10000; i++ {
		ev, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("upstream fixture: %v", err)
			}
			out, finErr = s.Finish(out)
			return out, s, nil, finErr
		}
		n := len(out)
		out, err = s.Event(out, ev)
		if err != nil {
			if errors.Is(err, provider.ErrMalformedEvent) {
				out = out[:n]
			}
			return out, s, err, nil
		}
	}
	t.Fatal("fixture too long")
	return
}

// TestStreamGolden translates testdata/streams/NAME.sse (an OpenAI chunk
// stream) into the Responses events of NAME.golden.
func TestStreamGolden(t *testing.T) {
	dir := filepath.Join("testdata", "streams")
	for _, name := range cases(t, dir, ".sse") {
		t.Run(name, func(t *testing.T) {
			out, s, evErr, finErr := runStream(t, newTestBridge(nil), streamReq, readFile(t, filepath.Join(dir, name+".sse")))
			if evErr != nil || finErr != nil {
				t.Fatalf("errors %v, %v", evErr, finErr)
			}
			if !s.Done() || !s.Content() {
				t.Errorf("done %v content %v, want both", s.Done(), s.Content())
			}
			checkEventSequence(t, out)
			checkGolden(t, filepath.Join(dir, name+".golden"), out)
		})
	}
}

// checkEventSequence checks every frame is `event: NAME` with data whose
// type is NAME and sequence numbers count up from 0.
func checkEventSequence(t *testing.T, out []byte) []string {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(out))
	var names []string
	for seq := int64(0); ; seq++ {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		d := gjson.ParseBytes(ev.Data)
		if !gjson.ValidBytes(ev.Data) || d.Get("type").String() != string(ev.Name) {
			t.Fatalf("frame %d: event %q data %s", seq, ev.Name, ev.Data)
		}
		if got := d.Get("sequence_number").Int(); got != seq {
			t.Fatalf("frame %d (%s): sequence_number %d", seq, ev.Name, got)
		}
		names = append(names, string(ev.Name))
	}
	return names
}

// TestStreamSequence pins the event order for text then two tool calls.
func TestStreamSequence(t *testing.T) {
	out, _, _, _ := runStream(t, newTestBridge(nil), streamReq, readFile(t, filepath.Join("testdata", "streams", "function_call.sse")))
	got := checkEventSequence(t, out)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

// TestStreamEnds covers the ways a stream ends besides [DONE].
func TestStreamEnds(t *testing.T) {
	const role = `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	const text = `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}` + "\n\n"
	tests := []struct {
		name      string
		upstream  string
		evErr     bool // Event returned an error
		malformed bool
		finErr    bool
		done      bool
		content   bool
		last      string // the last event's name
	}{
		{name: "cut before a finish", upstream: role + text, finErr: true, content: true, last: "response.output_text.delta"},
		{name: "cut before anything", upstream: role, finErr: true, last: "response.in_progress"},
		{name: "upstream error event", upstream: role + text + `data: {"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}` + "\n\n", evErr: true, content: true, last: "response.failed"},
		{name: "malformed chunk", upstream: role + text + "data: {not json\n\n", evErr: true, malformed: true, content: true, last: "response.output_text.delta"},
		{name: "finish without done", upstream: role + text + `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n", done: true, content: true, last: "response.completed"},
		{name: "empty answer", upstream: role + `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n", done: true, last: "response.completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, s, evErr, finErr := runStream(t, newTestBridge(nil), streamReq, []byte(tt.upstream))
			if (evErr != nil) != tt.evErr || (finErr != nil) != tt.finErr {
				t.Fatalf("event error %v, finish error %v", evErr, finErr)
			}
			if got := errors.Is(evErr, provider.ErrMalformedEvent); got != tt.malformed {
				t.Errorf("malformed %v, want %v", got, tt.malformed)
			}
			if s.Done() != tt.done || s.Content() != tt.content {
				t.Errorf("done %v content %v", s.Done(), s.Content())
			}
			names := checkEventSequence(t, out)
			if len(names) == 0 || names[len(names)-1] != tt.last {
				t.Errorf("events %v, want the last %s", names, tt.last)
			}
			if tt.evErr && !tt.malformed {
				if !bytes.Contains(out, []byte(`event: error`)) || !strings.Contains(string(out), `"message":"overloaded"`) {
					t.Errorf("no error event with the upstream's message:\n%s", out)
				}
			}
		})
	}
}
