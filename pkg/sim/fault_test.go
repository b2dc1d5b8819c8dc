package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/sse"
)

var kinds = []Kind{KindOpenAI, KindAnthropic}

// validChat is a request every kind accepts; stream selects streaming.
func validChat(k Kind, stream bool) string {
	var b string
	if k == KindAnthropic {
		b = `{"model":"claude-sonnet-4-20250514","max_tokens":100,"messages":[{"role":"user","content":"What is the capital of France?"}]}`
	} else {
		b = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`
	}
	if stream {
		b = withFields(b, `"stream":true`)
	}
	return b
}

// sendChat posts a valid chat request and returns the response or error.
func (h *harness) sendChat(ctx context.Context, stream bool) (*http.Response, error) {
	h.t.Helper()
	k := h.sim.Kind()
	return h.do(ctx, http.MethodPost, chatPath(k), validChat(k, stream), authHeaders(k, testKey))
}

func (h *harness) sendProbe(ctx context.Context) (*http.Response, error) {
	h.t.Helper()
	return h.do(ctx, http.MethodGet, "/v1/models", "", authHeaders(h.sim.Kind(), testKey))
}

// statusOf returns the status of a completed exchange, failing on a
// transport error.
func (h *harness) statusOf(resp *http.Response, err error) int {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// readEvents reads SSE events until the body ends or fails.
func readEvents(r io.Reader) ([]sse.Event, error) {
	rd := sse.NewReader(r)
	var evs []sse.Event
	for {
		ev, err := rd.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, sse.Event{Name: append([]byte(nil), ev.Name...), Data: append([]byte(nil), ev.Data...)})
	}
}

// isResetOrEOF reports the client-side view of a TCP reset.
func isResetOrEOF(err error) bool {
	return err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF"))
}

func TestFaultDown(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			ctx := context.Background()
			if got := h.statusOf(h.sendChat(ctx, false)); got != 200 {
				t.Fatalf("before down: %d", got)
			}
			h.sim.SetFault(Fault{Kind: FaultDown})
			// The outage closed the pooled keep-alive connection; a client
			// that picks it before noticing gets EOF (also a connection
			// error). New connections are what must be refused.
			h.client.CloseIdleConnections()
			for name, send := range map[string]func(context.Context) (*http.Response, error){"chat": func(ctx context.Context) (*http.Response, error) { return h.sendChat(ctx, false) }, "probe": h.sendProbe} {
				resp, err := send(ctx)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s while down: status %d, want connection refused", name, resp.StatusCode)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("%s while down: %v, want connection refused", name, err)
				}
			}
			h.sim.SetFault(Fault{Kind: FaultNone})
			if got := h.statusOf(h.sendChat(ctx, false)); got != 200 {
				t.Errorf("after up: %d", got)
			}
		})
	}
	t.Run("down at start", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindOpenAI, Fault: Fault{Kind: FaultDown}})
		if _, err := h.sendProbe(context.Background()); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("probe: %v, want connection refused", err)
		}
		h.sim.SetFault(Fault{Kind: FaultSlowFirstToken, Delay: time.Millisecond})
		if got := h.statusOf(h.sendChat(context.Background(), false)); got != 200 {
			t.Errorf("after another fault: %d", got)
		}
	})
}

func TestFaultReset(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultReset}})
			ctx := context.Background()
			for name, send := range map[string]func() (*http.Response, error){
				"chat":   func() (*http.Response, error) { return h.sendChat(ctx, false) },
				"stream": func() (*http.Response, error) { return h.sendChat(ctx, true) },
				"probe":  func() (*http.Response, error) { return h.sendProbe(ctx) },
			} {
				resp, err := send()
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s: got status %d, want a reset", name, resp.StatusCode)
				}
				if !isResetOrEOF(err) {
					t.Errorf("%s: %v, want reset or EOF", name, err)
				}
			}
			waitFor(t, "resets counted", func() bool { return h.sim.Stats().Resets >= 3 })
		})
	}
}

// blocked sends a request that must not complete, waits until the simulator
// holds it, cancels the client and checks that the handler returns.
func blocked(t *testing.T, h *harness, fault FaultKind, send func(context.Context) (*http.Response, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		resp, err := send(ctx)
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered with " + resp.Status)
		}
		errc <- err
	}()
	waitFor(t, "request held", func() bool {
		st := h.sim.Stats()
		return st.InFlight == 1 && st.FaultsApplied[fault] >= 1
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v, want context canceled", err)
	}
	waitFor(t, "handler returned", func() bool { return h.sim.Stats().InFlight == 0 })
}

func TestFaultHang(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultHang}})
			blocked(t, h, FaultHang, func(ctx context.Context) (*http.Response, error) { return h.sendChat(ctx, true) })
			blocked(t, h, FaultHang, h.sendProbe)
			if st := h.sim.Stats(); st.Aborted != 2 || len(st.ByStatus) != 0 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

func TestFaultSlowFirstToken(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			// Long delay: not even the headers arrive before the client gives up.
			h.sim.SetFault(Fault{Kind: FaultSlowFirstToken, Delay: time.Hour})
			blocked(t, h, FaultSlowFirstToken, func(ctx context.Context) (*http.Response, error) { return h.sendChat(ctx, true) })
			blocked(t, h, FaultSlowFirstToken, func(ctx context.Context) (*http.Response, error) { return h.sendChat(ctx, false) })
			// Probes are not slowed.
			if got := h.statusOf(h.sendProbe(context.Background())); got != 200 {
				t.Errorf("probe: %d", got)
			}
			// Short delay: a complete, normal answer.
			h.sim.SetFault(Fault{Kind: FaultSlowFirstToken, Delay: time.Millisecond})
			resp, err := h.sendChat(context.Background(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			evs, err := readEvents(resp.Body)
			if !errors.Is(err, io.EOF) || len(evs) < 5 {
				t.Errorf("stream after short delay: %d events, %v", len(evs), err)
			}
		})
	}
}

func TestFaultSlowStream(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			h.sim.SetFault(Fault{Kind: FaultSlowStream, Delay: time.Hour, Count: 1})
			// Non-streaming requests are not affected and do not use the count.
			if got := h.statusOf(h.sendChat(context.Background(), false)); got != 200 {
				t.Fatalf("non-stream: %d", got)
			}
			if f := h.sim.Fault(); f.Kind != FaultSlowStream || f.Count != 1 {
				t.Fatalf("fault after non-stream request: %+v", f)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := h.sendChat(ctx, true)
			if err != nil {
				t.Fatalf("headers should arrive at once: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			cancel()
			b, err := io.ReadAll(resp.Body)
			if err == nil || len(b) != 0 {
				t.Errorf("body read %q, %v; want nothing before the delay", b, err)
			}
			waitFor(t, "handler returned", func() bool { return h.sim.Stats().InFlight == 0 })
			if f := h.sim.Fault(); f.Kind != FaultNone {
				t.Errorf("count 1 did not clear the fault: %+v", f)
			}
		})
	}
	t.Run("short delay completes", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindAnthropic, ChunkDelay: time.Millisecond, Fault: Fault{Kind: FaultSlowStream, Delay: time.Millisecond}})
		_, _, body := h.chat(validChat(KindAnthropic, true))
		if a := parseAnthropicStream(t, "claude-sonnet-4-20250514", body); a.text != "The capital of France is Paris." {
			t.Errorf("answer %+v", a)
		}
	})
}

func TestFaultError(t *testing.T) {
	type ecase struct {
		status   int
		wantType map[Kind]string
	}
	both := func(oa, an string) map[Kind]string { return map[Kind]string{KindOpenAI: oa, KindAnthropic: an} }
	cases := []ecase{
		{500, both("server_error", "api_error")},
		{502, both("server_error", "api_error")},
		{503, both("server_error", "api_error")},
		{529, both("server_error", "overloaded_error")},
		{400, both("invalid_request_error", "invalid_request_error")},
		{401, both("invalid_request_error", "authentication_error")},
		{403, both("invalid_request_error", "permission_error")},
		{404, both("invalid_request_error", "not_found_error")},
		{413, both("invalid_request_error", "request_too_large")},
		{422, both("invalid_request_error", "invalid_request_error")},
		{429, both("requests", "rate_limit_error")},
		{0, both("server_error", "api_error")}, // default 500
	}
	for _, k := range kinds {
		h := newHarness(t, Options{Kind: k})
		for _, tc := range cases {
			t.Run(string(k)+"/"+http.StatusText(tc.status), func(t *testing.T) {
				h := h.in(t)
				h.sim.SetFault(Fault{Kind: FaultError, Status: tc.status})
				want := tc.status
				if want == 0 {
					want = 500
				}
				status, _, body := h.chat(validChat(k, false))
				if status != want {
					t.Fatalf("chat status %d, want %d", status, want)
				}
				if e := decodeError(t, k, body); e.Error.Type != tc.wantType[k] {
					t.Errorf("error type %q, want %q: %s", e.Error.Type, tc.wantType[k], body)
				}
				if status, _, _ := h.call(http.MethodGet, "/v1/models", "", authHeaders(k, testKey)); status != want {
					t.Errorf("probe status %d, want %d", status, want)
				}
			})
		}
		t.Run(string(k)+"/overloaded message and retry-after", func(t *testing.T) {
			h := h.in(t)
			h.sim.SetFault(Fault{Kind: FaultError, Status: 503, RetryAfterSeconds: 3})
			status, hdr, body := h.chat(validChat(k, false))
			if status != 503 || hdr.Get("Retry-After") != "3" {
				t.Errorf("status %d retry-after %q", status, hdr.Get("Retry-After"))
			}
			if k == KindOpenAI && !strings.Contains(string(body), "The engine is currently overloaded") {
				t.Errorf("503 body: %s", body)
			}
		})
	}
}

func TestFaultRateLimit(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultRateLimit, RetryAfterSeconds: 7}})
			status, hdr, body := h.chat(validChat(k, true))
			if status != 429 || hdr.Get("Retry-After") != "7" {
				t.Fatalf("status %d, Retry-After %q", status, hdr.Get("Retry-After"))
			}
			limitHeader := map[Kind]string{KindOpenAI: "x-ratelimit-remaining-requests", KindAnthropic: "anthropic-ratelimit-requests-remaining"}[k]
			if hdr.Get(limitHeader) != "0" {
				t.Errorf("%s = %q, want 0", limitHeader, hdr.Get(limitHeader))
			}
			e := decodeError(t, k, body)
			switch k {
			case KindOpenAI:
				if e.Error.Type != "requests" || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" {
					t.Errorf("body %s", body)
				}
			case KindAnthropic:
				if e.Error.Type != "rate_limit_error" {
					t.Errorf("body %s", body)
				}
			}
			// Probes are not rate limited.
			if got := h.statusOf(h.sendProbe(context.Background())); got != 200 {
				t.Errorf("probe %d", got)
			}
			h.sim.SetFault(Fault{Kind: FaultRateLimit})
			if _, hdr, _ := h.chat(validChat(k, false)); hdr.Get("Retry-After") != "1" {
				t.Errorf("default Retry-After %q, want 1", hdr.Get("Retry-After"))
			}
		})
	}
}

func TestFaultResetMidStream(t *testing.T) {
	for _, k := range kinds {
		for _, n := range []int{0, 1, 3} {
			t.Run(string(k)+"/after_"+string(rune('0'+n)), func(t *testing.T) {
				h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultResetMidStream, AfterChunks: n}})
				resp, err := h.sendChat(context.Background(), true)
				if err != nil {
					t.Fatalf("headers: %v", err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				evs, err := readEvents(resp.Body)
				if len(evs) != n {
					t.Errorf("got %d events before the reset, want %d", len(evs), n)
				}
				if errors.Is(err, io.EOF) || !isResetOrEOF(err) {
					t.Errorf("stream end: %v, want a reset", err)
				}
			})
		}
		t.Run(string(k)+"/non-stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultResetMidStream}})
			resp, err := h.sendChat(context.Background(), false)
			if err != nil {
				t.Fatalf("headers: %v", err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || err == nil || int64(len(b)) >= resp.ContentLength {
				t.Errorf("status %d, read %d of %d bytes, err %v", resp.StatusCode, len(b), resp.ContentLength, err)
			}
		})
	}
}

func TestFaultStreamError(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultStreamError, AfterChunks: 1}})
			resp, err := h.sendChat(context.Background(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			evs, err := readEvents(resp.Body)
			if !errors.Is(err, io.EOF) || len(evs) != 2 {
				t.Fatalf("%d events, end %v; want 2 and a clean end", len(evs), err)
			}
			last := evs[1]
			var e errorShape
			decodeStrictT(t, last.Data, &e)
			switch k {
			case KindAnthropic:
				if string(evs[0].Name) != "message_start" || string(last.Name) != "error" || e.Type != "error" || e.Error.Type != "overloaded_error" {
					t.Errorf("events %s / %s: %s", evs[0].Name, last.Name, last.Data)
				}
			case KindOpenAI:
				if e.Error.Type != "server_error" || e.Error.Message == "" {
					t.Errorf("error frame: %s", last.Data)
				}
			}
			// Non-streaming requests are not affected.
			if status, _, _ := h.chat(validChat(k, false)); status != 200 {
				t.Errorf("non-stream: %d", status)
			}
		})
	}
}

func TestFaultWrongKey(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			// No expected key: only the fault makes the key wrong.
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultWrongKey}})
			if status, _, body := h.chat(validChat(k, false)); status != 401 {
				t.Errorf("chat: %d %s", status, body)
			}
			if got := h.statusOf(h.sendProbe(context.Background())); got != 401 {
				t.Errorf("probe: %d", got)
			}
		})
	}
}

func TestFaultCount(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			h.sim.SetFault(Fault{Kind: FaultError, Status: 503, Count: 2})
			// A probe sees the fault but does not use it up.
			if got := h.statusOf(h.sendProbe(context.Background())); got != 503 {
				t.Errorf("probe: %d", got)
			}
			if f := h.sim.Fault(); f.Count != 2 {
				t.Errorf("count after probe = %d, want 2", f.Count)
			}
			for i, want := range []int{503, 503, 200, 200} {
				if status, _, _ := h.chat(validChat(k, false)); status != want {
					t.Errorf("request %d: %d, want %d", i, status, want)
				}
			}
			if f := h.sim.Fault(); f.Kind != FaultNone {
				t.Errorf("fault after count: %+v", f)
			}
			st := h.sim.Stats()
			if st.FaultsApplied[FaultError] != 3 || st.ByStatus[503] != 3 || st.ByStatus[200] != 2 || st.ChatRequests != 4 || st.ProbeRequests != 1 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

func TestCloseEndsHang(t *testing.T) {
	s := New(Options{Kind: KindOpenAI, Fault: Fault{Kind: FaultHang}})
	srv, err := Start(context.Background(), "127.0.0.1:0", "", s)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Post(srv.URL()+"/v1/chat/completions", "application/json", strings.NewReader(validChat(KindOpenAI, false)))
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered with " + resp.Status)
		}
		errc <- err
	}()
	waitFor(t, "request held", func() bool { return s.Stats().InFlight == 1 })
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("hanging request survived Close")
	}
	if n := s.Stats().InFlight; n != 0 {
		t.Errorf("in flight after Close: %d", n)
	}
	if srv.AdminURL() != "" {
		t.Errorf("admin URL without admin listener: %q", srv.AdminURL())
	}
}

func TestStartContextCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, "127.0.0.1:0", "127.0.0.1:0", New(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	waitFor(t, "listener closed", func() bool {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + "/v1/models")
		if err == nil {
			resp.Body.Close()
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerAlone checks the bare Handler, which has no listener to close:
// down acts as a reset there.
func TestHandlerAlone(t *testing.T) {
	s := New(Options{Kind: KindAnthropic, Fault: Fault{Kind: FaultDown}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/models", nil)
	req.Header = authHeaders(KindAnthropic, testKey)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("down on a bare handler answered %d", resp.StatusCode)
	} else if !isResetOrEOF(err) {
		t.Errorf("down on a bare handler: %v", err)
	}
	s.SetFault(Fault{})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
