package bench

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer serves h on loopback and counts the requests it saw.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func sse(frames ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, f := range frames {
			_, _ = io.WriteString(w, f)
			w.(http.Flusher).Flush()
		}
	}
}

func TestLoad(t *testing.T) {
	const n = 12
	tests := []struct {
		name      string
		h         http.HandlerFunc
		stream    bool
		closed    bool // the server is gone: every request is a transport error
		wantOK    int
		wantErrIn string
	}{
		{name: "json with marker", h: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, completionJSON) }, wantOK: n},
		{name: "non-200", h: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"down"}}`)
		}, wantErrIn: "status 503"},
		{name: "200 without the marker", h: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"object":"list"}`) }, wantErrIn: "body without"},
		{name: "stream with [DONE]", stream: true, h: sse("data: {\"a\":1}\n\n", ": keep-alive\n\n", "data: {\"a\":2}\n\n", "data: [DONE]\n\n"), wantOK: n},
		{name: "stream without [DONE]", stream: true, h: sse("data: {\"a\":1}\n\n", "data: {\"a\":2}\n\n"), wantErrIn: "without data: [DONE]"},
		{name: "stream cut mid-line", stream: true, h: sse("data: {\"a\":1}\n\n", "data: [DO"), wantErrIn: "without data: [DONE]"},
		{name: "stream of an error status", stream: true, h: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}, wantErrIn: "status 429"},
		{name: "connection refused", closed: true, wantErrIn: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			if h == nil {
				h = func(http.ResponseWriter, *http.Request) {}
			}
			srv, seen := countingServer(t, h)
			if tt.closed {
				srv.Close()
			}
			var starts, ends atomic.Int64
			res, err := Load(context.Background(), LoadConfig{
				URL: srv.URL + chatPath, Body: []byte(chatBody), Stream: tt.stream, Marker: []byte(`"chat.completion"`),
				Concurrency: 3, MaxRequests: n,
				// No warm-up and a window that outlasts the cap: every
				// request is in the window, so the counts are exact.
				Duration:      time.Minute,
				OnWindowStart: func() { starts.Add(1) },
				OnWindowEnd:   func() { ends.Add(1) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != n {
				t.Errorf("Sent = %d, want the cap %d", res.Sent, n)
			}
			if !tt.closed && seen.Load() != n {
				t.Errorf("server saw %d requests, want %d", seen.Load(), n)
			}
			if got := len(res.Latency); got != tt.wantOK {
				t.Errorf("successes = %d, want %d (first error %q)", got, tt.wantOK, res.FirstError)
			}
			if res.Errors != n-tt.wantOK {
				t.Errorf("Errors = %d, want %d", res.Errors, n-tt.wantOK)
			}
			if tt.wantErrIn != "" && !strings.Contains(res.FirstError, tt.wantErrIn) {
				t.Errorf("FirstError = %q, want it to contain %q", res.FirstError, tt.wantErrIn)
			}
			if tt.stream && len(res.TTFB) != len(res.Latency) {
				t.Errorf("%d TTFB samples for %d streams", len(res.TTFB), len(res.Latency))
			}
			if !tt.stream && len(res.TTFB) != 0 {
				t.Errorf("%d TTFB samples for a non-streaming point", len(res.TTFB))
			}
			for i := 1; i < len(res.Latency); i++ {
				if res.Latency[i] < res.Latency[i-1] {
					t.Fatal("latencies are not sorted")
				}
			}
			if starts.Load() != 1 || ends.Load() != 1 {
				t.Errorf("window hooks ran %d/%d times, want once each", starts.Load(), ends.Load())
			}
		})
	}
}

// TestLoadWarmup checks that warm-up requests are not samples: with a cap
// reached during a long warm-up, nothing is left for the window.
func TestLoadWarmup(t *testing.T) {
	srv, seen := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, completionJSON) })
	res, err := Load(context.Background(), LoadConfig{
		URL: srv.URL, Body: []byte(chatBody), Concurrency: 2, MaxRequests: 5,
		Warmup: time.Minute, Duration: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 5 || len(res.Latency) != 0 || res.Errors != 0 {
		t.Errorf("server saw %d, samples %d, errors %d; want 5 warm-up requests and no samples", seen.Load(), len(res.Latency), res.Errors)
	}
}

func TestLoadCancel(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, completionJSON) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Load(ctx, LoadConfig{URL: srv.URL, Body: []byte(chatBody), Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Errorf("a cancelled point counted %d errors against the target (%s)", res.Errors, res.FirstError)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  LoadConfig
		want string
	}{
		{"remote host", LoadConfig{URL: "http://example.com/v1/chat/completions", Duration: time.Second}, "non-loopback"},
		{"remote ip", LoadConfig{URL: "http://10.0.0.1:80/", Duration: time.Second}, "non-loopback"},
		{"no duration", LoadConfig{URL: "http://127.0.0.1:1/"}, "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080/x": true, "http://127.1.2.3/": true, "http://localhost:1/": true, "http://[::1]:80/": true,
		"http://192.168.1.1/": false, "http://example.com/": false, "http://0.0.0.0:80/": false, "://bad": false,
	} {
		if err := checkLoopback(u); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

func TestReadStream(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		bufSize  int
		wantErr  string
		wantTTFB bool
	}{
		{name: "openai shape", in: "data: {}\n\ndata: [DONE]\n\n", wantTTFB: true},
		{name: "no space, CRLF", in: "data:{}\r\n\r\ndata:[DONE]\r\n\r\n", wantTTFB: true},
		{name: "[DONE] at EOF without newline", in: "data: {}\n\ndata: [DONE]", wantTTFB: true},
		{name: "events and comments before data", in: ": hi\nevent: x\ndata: {}\n\ndata: [DONE]\n", wantTTFB: true},
		{name: "no [DONE]", in: "data: {}\n\n", wantErr: "without data: [DONE]"},
		{name: "[DONE] inside a payload", in: "data: {\"t\":\"data: [DONE]\"}\n\n", wantErr: "without"},
		{name: "[DONE] not at line start", in: "x data: [DONE]\n", wantErr: "without"},
		{name: "[DONE] in the tail of a long line", bufSize: 16, in: "data: " + strings.Repeat("x", 40) + "\ndata: [DONE]" + strings.Repeat(" ", 20) + "z\n", wantErr: "without"},
		{name: "long lines then [DONE]", bufSize: 16, in: "data: " + strings.Repeat("x", 40) + "\ndata: [DONE]\n", wantTTFB: true},
		{name: "empty", in: "", wantErr: "without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.bufSize
			if size == 0 {
				size = 4096
			}
			ttfb, err := readStream(bufio.NewReaderSize(nil, size), strings.NewReader(tt.in), func() time.Duration { return time.Millisecond })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantTTFB != (ttfb > 0) {
				t.Errorf("ttfb = %v, want set: %v", ttfb, tt.wantTTFB)
			}
		})
	}
}

func FuzzReadStream(f *testing.F) {
	f.Add("data: {}\n\ndata: [DONE]\n\n")
	f.Add("data:[DONE]")
	f.Add(": c\r\ndata: x\r\n\r\n")
	f.Add("data: [DONE] x\n")
	f.Fuzz(func(t *testing.T, in string) {
		// Oracle: a line that is "data:" then [DONE] between spaces.
		want := false
		for line := range strings.SplitSeq(in, "\n") {
			if rest, ok := strings.CutPrefix(line, "data:"); ok && strings.TrimSpace(rest) == "[DONE]" {
				want = true
			}
		}
		// The buffer holds any line of the input, as 64 KiB holds any
		// real provider's line.
		size := max(len(in)+1, 16)
		_, err := readStream(bufio.NewReaderSize(nil, size), strings.NewReader(in), func() time.Duration { return 1 })
		if (err == nil) != want {
			t.Errorf("readStream(%q) err = %v, oracle says [DONE] present: %v", in, err, want)
		}
	})
}
