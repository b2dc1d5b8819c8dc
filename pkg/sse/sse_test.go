package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// event is a copy of an Event that outlives the next call to Next.
type event struct {
	Name, Data, Raw string
}

// chunkReader returns at most one of sizes (cycling) bytes per Read, so that
// events and lines straddle reads at every possible position.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(c.sizes[c.i%len(c.sizes)], len(p), len(c.data))
	c.i++
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readAll reads events until an error and returns them with that error.
func readAll(t testing.TB, r io.Reader) ([]event, error) {
	t.Helper()
	rd := NewReader(r)
	var out []event
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, event{Name: string(ev.Name), Data: string(ev.Data), Raw: string(ev.Raw)})
		if len(out) > 1<<20 {
			t.Fatal("reader does not make progress")
		}
	}
}

func TestReaderNext(t *testing.T) {
	t.Parallel()
	// Every input is fed through these read patterns.
	splits := []struct {
		name  string
		sizes []int
	}{
		{"1", []int{1}},
		{"2", []int{2}},
		{"3", []int{3}},
		{"7", []int{7}},
		{"1..13", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{"4095", []int{4095}},
		{"4096", []int{4096}},
		{"4097", []int{4097}},
		{"whole", []int{1 << 30}},
	}
	long5k := strings.Repeat("x", 5000)
	long70k := strings.Repeat("y", 70<<10)
	tests := []struct {
		name    string
		in      string
		want    []event
		wantErr error
	}{
		{
			name:    "empty stream",
			in:      "",
			wantErr: io.EOF,
		},
		{
			name:    "only blank lines",
			in:      "\n\r\n\n",
			wantErr: io.EOF,
		},
		{
			name:    "single data line",
			in:      "data: hello\n\n",
			want:    []event{{Data: "hello", Raw: "data: hello\n\n"}},
			wantErr: io.EOF,
		},
		{
			name:    "multi-line data joined with newlines",
			in:      "data: a\ndata: b\ndata:c\n\n",
			want:    []event{{Data: "a\nb\nc", Raw: "data: a\ndata: b\ndata:c\n\n"}},
			wantErr: io.EOF,
		},
		{
			name:    "only one leading space is removed",
			in:      "data:  two spaces\n\n",
			want:    []event{{Data: " two spaces", Raw: "data:  two spaces\n\n"}},
			wantErr: io.EOF,
		},
		{
			name:    "empty data lines",
			in:      "data\n\ndata:\ndata:\n\n",
			want:    []event{{Raw: "data\n\n"}, {Data: "\n", Raw: "data:\ndata:\n\n"}},
			wantErr: io.EOF,
		},
		{
			name: "event names belong to one event",
			in:   "event: message_start\ndata: {\"a\":1}\n\ndata: {}\n\nevent: ping\nevent: pong\n\n",
			want: []event{
				{Name: "message_start", Data: `{"a":1}`, Raw: "event: message_start\ndata: {\"a\":1}\n\n"},
				{Data: "{}", Raw: "data: {}\n\n"},
				{Name: "pong", Raw: "event: ping\nevent: pong\n\n"},
			},
			wantErr: io.EOF,
		},
		{
			name: "comment-only events",
			in:   ": keep-alive\n\n:\n\n: OPENROUTER PROCESSING\n\n",
			want: []event{
				{Raw: ": keep-alive\n\n"},
				{Raw: ":\n\n"},
				{Raw: ": OPENROUTER PROCESSING\n\n"},
			},
			wantErr: io.EOF,
		},
		{
			name:    "comments, ids, retry and unknown fields are not data",
			in:      ": c\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n",
			want:    []event{{Data: "x", Raw: ": c\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n"}},
			wantErr: io.EOF,
		},
		{
			name:    "colon in the value",
			in:      "data: {\"a\":\"b:c\"}\n\n",
			want:    []event{{Data: `{"a":"b:c"}`, Raw: "data: {\"a\":\"b:c\"}\n\n"}},
			wantErr: io.EOF,
		},
		{
			name: "CRLF line endings",
			in:   "event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n",
			want: []event{
				{Name: "e", Data: "a\nb", Raw: "event: e\r\ndata: a\r\ndata: b\r\n\r\n"},
				{Data: "[DONE]", Raw: "data: [DONE]\r\n\r\n"},
			},
			wantErr: io.EOF,
		},
		{
			name: "blank lines before and between events stay in Raw",
			in:   "\n\ndata: a\n\n\n\r\ndata: b\n\n\n",
			want: []event{
				{Data: "a", Raw: "\n\ndata: a\n\n"},
				{Data: "b", Raw: "\n\r\ndata: b\n\n"},
			},
			wantErr: io.EOF,
		},
		{
			name:    "line longer than the buffer",
			in:      "data: " + long5k + "\n\n",
			want:    []event{{Data: long5k, Raw: "data: " + long5k + "\n\n"}},
			wantErr: io.EOF,
		},
		{
			name: "line longer than 64 KiB between short events",
			in:   "data: a\n\nevent: big\ndata: " + long70k + "\ndata: " + long5k + "\n\ndata: b\n\n",
			want: []event{
				{Data: "a", Raw: "data: a\n\n"},
				{Name: "big", Data: long70k + "\n" + long5k, Raw: "event: big\ndata: " + long70k + "\ndata: " + long5k + "\n\n"},
				{Data: "b", Raw: "data: b\n\n"},
			},
			wantErr: io.EOF,
		},
		{
			name:    "EOF after a data line",
			in:      "data: a\n\ndata: b\n",
			want:    []event{{Data: "a", Raw: "data: a\n\n"}},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "EOF inside a line",
			in:      "data: a\n\ndata: b",
			want:    []event{{Data: "a", Raw: "data: a\n\n"}},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "EOF inside a long line",
			in:      "data: " + long70k,
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "EOF after a comment",
			in:      ": ping\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "EOF after CR without LF",
			in:      "data: a\r",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name: "OpenAI stream",
			in: "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n" +
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n" +
				"data: [DONE]\n\n",
			want: []event{
				{Data: `{"choices":[{"delta":{"content":"Hi"}}]}`, Raw: "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"},
				{Data: `{"choices":[],"usage":{"prompt_tokens":3}}`, Raw: "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n"},
				{Data: "[DONE]", Raw: "data: [DONE]\n\n"},
			},
			wantErr: io.EOF,
		},
	}
	for _, tt := range tests {
		for _, sp := range splits {
			t.Run(tt.name+"/split "+sp.name, func(t *testing.T) {
				t.Parallel()
				got, err := readAll(t, &chunkReader{data: []byte(tt.in), sizes: sp.sizes})
				if err != tt.wantErr {
					t.Errorf("final error = %v, want %v", err, tt.wantErr)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events, want %d:\n%s", len(got), len(tt.want), describe(got))
				}
				var raw strings.Builder
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d:\n got %s\nwant %s", i, describe(got[i:i+1]), describe(tt.want[i:i+1]))
					}
					raw.WriteString(got[i].Raw)
				}
				if !strings.HasPrefix(tt.in, raw.String()) {
					t.Errorf("concatenated Raw is not a prefix of the input")
				}
			})
		}
	}
}

// describe renders events shortly enough for a failure message.
func describe(evs []event) string {
	short := func(s string) string {
		if len(s) > 60 {
			return fmt.Sprintf("%q...(%d bytes)", s[:60], len(s))
		}
		return fmt.Sprintf("%q", s)
	}
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "{Name:%s Data:%s Raw:%s}\n", short(e.Name), short(e.Data), short(e.Raw))
	}
	return b.String()
}

func TestReaderPropagatesReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"between events", "data: a\n\n", 1},
		{"inside an event", "data: a\n\ndata: b\n", 1},
		{"inside a long line", "data: " + strings.Repeat("z", 9000), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := io.MultiReader(strings.NewReader(tt.in), iotest.ErrReader(boom))
			got, err := readAll(t, r)
			if !errors.Is(err, boom) {
				t.Errorf("error = %v, want %v", err, boom)
			}
			if len(got) != tt.want {
				t.Errorf("got %d events, want %d", len(got), tt.want)
			}
		})
	}
}

func TestReaderReset(t *testing.T) {
	t.Parallel()
	rd := NewReader(strings.NewReader("data: first\n\ndata: unread\n\n"))
	ev, err := rd.Next()
	if err != nil || string(ev.Data) != "first" {
		t.Fatalf("Next = %q, %v; want first", ev.Data, err)
	}
	if rd.Buffered() == 0 {
		t.Fatal("expected the second event to be buffered before Reset")
	}
	in := "event: e\ndata: second\n\ndata: third\n\n"
	rd.Reset(strings.NewReader(in))
	if rd.Buffered() != 0 {
		t.Errorf("Buffered after Reset = %d, want 0", rd.Buffered())
	}
	var got []event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, event{Name: string(ev.Name), Data: string(ev.Data), Raw: string(ev.Raw)})
	}
	want := []event{
		{Name: "e", Data: "second", Raw: "event: e\ndata: second\n\n"},
		{Data: "third", Raw: "data: third\n\n"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Reset got %v, want %v", got, want)
	}
}

func TestReaderBuffered(t *testing.T) {
	t.Parallel()
	first, second := "data: a\n\n", "event: b\ndata: b\n\n"
	rd := NewReader(strings.NewReader(first + second))
	if n := rd.Buffered(); n != 0 {
		t.Errorf("Buffered before reading = %d, want 0", n)
	}
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if n := rd.Buffered(); n != len(second) {
		t.Errorf("Buffered after the first event = %d, want %d", n, len(second))
	}
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if n := rd.Buffered(); n != 0 {
		t.Errorf("Buffered after the last event = %d, want 0", n)
	}
}

// TestReaderDoesNotWaitForMore checks that an event is returned as soon as it
// is complete, while the source has nothing more to give: a relay must not
// hold a token back until the next one arrives.
func TestReaderDoesNotWaitForMore(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		_, err := pw.Write([]byte("data: first\n\n"))
		written <- err
	}()
	rd := NewReader(pr)
	got := make(chan string, 1)
	go func() {
		ev, err := rd.Next()
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(ev.Data)
	}()
	select {
	case s := <-got:
		if s != "first" {
			t.Errorf("Next = %q, want first", s)
		}
	case <-time.After(10 * time.Second):
		// Unblock the reader so that the goroutine ends before failing.
		_ = pw.Close()
		<-got
		t.Fatal("Next waited for more input after a complete event")
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("Next after close = %v, want io.EOF", err)
	}
}

func TestIsDone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"[DONE]", true},
		{" [DONE]", false},
		{"[DONE] ", false},
		{"[done]", false},
		{"", false},
		{`{"done":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := IsDone([]byte(tt.in)); got != tt.want {
				t.Errorf("IsDone(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	seeds := []string{
		"",
		"data: hello\n\n",
		"event: e\r\ndata: a\r\ndata: b\r\n\r\n",
		": ping\n\n\n\ndata: [DONE]\n\n",
		"data: a\n\ndata: b",
		"\n\r\n\r\r\n",
		"data:" + strings.Repeat("q", 5000) + "\n\n",
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		"data\n\nid\n:\n\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		want, wantErr := readAll(t, bytes.NewReader(in))
		got, err := readAll(t, &chunkReader{data: in, sizes: []int{int(split)%17 + 1, 1, int(split) + 1}})
		if err != wantErr {
			t.Fatalf("split reads end with %v, whole reads with %v", err, wantErr)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("split reads give different events:\n%s\nvs\n%s", describe(got), describe(want))
		}
		var raw []byte
		for _, ev := range want {
			if !bytes.HasSuffix([]byte(ev.Raw), []byte("\n")) {
				t.Fatalf("Raw %q does not end with a line break", ev.Raw)
			}
			raw = append(raw, ev.Raw...)
		}
		if !bytes.HasPrefix(in, raw) {
			t.Fatalf("concatenated Raw %q is not a prefix of the input %q", raw, in)
		}
		rest := in[len(raw):]
		switch wantErr {
		case io.EOF:
			// Only blank lines may follow the last event.
			if len(bytes.Trim(rest, "\r\n")) != 0 || len(rest) > 0 && rest[len(rest)-1] != '\n' {
				t.Fatalf("io.EOF with undelivered input %q", rest)
			}
		case io.ErrUnexpectedEOF:
			if len(rest) == 0 {
				t.Fatal("io.ErrUnexpectedEOF with no undelivered input")
			}
		default:
			t.Fatalf("unexpected error %v", wantErr)
		}
	})
}

// openAIChunk is a typical ~200-byte chat.completion.chunk event.
const openAIChunk = `data: {"id":"chatcmpl-9xYz0123456789AbCdEf","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}` + "\n\n"

func BenchmarkNext(b *testing.B) {
	in := []byte(strings.Repeat(openAIChunk, 1000))
	src := bytes.NewReader(in)
	rd := NewReader(src)
	b.SetBytes(int64(len(openAIChunk)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := rd.Next()
		if err == io.EOF {
			src.Reset(in)
			rd.Reset(src)
			ev, err = rd.Next()
		}
		if err != nil || len(ev.Data) == 0 {
			b.Fatalf("Next = %q, %v", ev.Data, err)
		}
	}
}
