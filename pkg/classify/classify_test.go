package classify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code int
		h    http.Header
		want Outcome
	}{
		{"200", 200, nil, Success},
		{"201", 201, nil, Success},
		{"204 with retry-after ignored", 204, header("Retry-After", "5"), Success},
		{"400", 400, nil, Outcome{Reason: ClientError, Status: 400}},
		{"401", 401, nil, Outcome{Reason: AuthError, Status: 401, Retryable: true, CountsAgainst: true}},
		{"403", 403, nil, Outcome{Reason: AuthError, Status: 403, Retryable: true, CountsAgainst: true}},
		{"404", 404, nil, Outcome{Reason: ClientError, Status: 404}},
		{"408", 408, nil, Outcome{Reason: UpstreamTimeout, Status: 408, Retryable: true, CountsAgainst: true}},
		{"409", 409, nil, Outcome{Reason: ClientError, Status: 409}},
		{"413", 413, nil, Outcome{Reason: ClientError, Status: 413}},
		{"422", 422, nil, Outcome{Reason: ClientError, Status: 422}},
		{"429 no header", 429, nil, Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after absent", 429, header("X-Other", "1"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after seconds", 429, header("Retry-After", "7"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 7 * time.Second, Retryable: true, CountsAgainst: true}},
		{"429 retry-after fractional", 429, header("Retry-After", "1.5"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond, Retryable: true, CountsAgainst: true}},
		{"429 retry-after zero", 429, header("Retry-After", "0"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after negative", 429, header("Retry-After", "-3"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after garbage", 429, header("Retry-After", "soon"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after Inf", 429, header("Retry-After", "Inf"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after NaN", 429, header("Retry-After", "NaN"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after out of float range", 429, header("Retry-After", "1e400"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"429 retry-after beyond Duration is capped", 429, header("Retry-After", "1e30"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: math.MaxInt64, Retryable: true, CountsAgainst: true}},
		{"429 retry-after past date", 429, header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"), Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		// Azure OpenAI sends the wait in milliseconds too (retry-after-ms,
		// x-ms-retry-after-ms): the finer one wins over Retry-After.
		{"429 azure retry-after-ms", 429, header("Retry-After", "2", "retry-after-ms", "1500"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond, Retryable: true, CountsAgainst: true}},
		{"429 azure x-ms-retry-after-ms alone", 429, header("x-ms-retry-after-ms", "250"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 250 * time.Millisecond, Retryable: true, CountsAgainst: true}},
		{"429 retry-after-ms garbage falls back to Retry-After", 429, header("Retry-After", "3", "retry-after-ms", "soon"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 3 * time.Second, Retryable: true, CountsAgainst: true}},
		{"429 retry-after-ms zero falls back to Retry-After", 429, header("Retry-After", "3", "retry-after-ms", "0"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: 3 * time.Second, Retryable: true, CountsAgainst: true}},
		{"429 retry-after-ms beyond Duration is capped", 429, header("retry-after-ms", "1e300"), Outcome{Reason: RateLimited, Status: 429, RetryAfter: math.MaxInt64, Retryable: true, CountsAgainst: true}},
		{"503 azure retry-after-ms", 503, header("retry-after-ms", "4000"), Outcome{Reason: UpstreamError, Status: 503, RetryAfter: 4 * time.Second, Retryable: true, CountsAgainst: true}},
		{"500", 500, nil, Outcome{Reason: UpstreamError, Status: 500, Retryable: true, CountsAgainst: true}},
		{"502", 502, nil, Outcome{Reason: UpstreamError, Status: 502, Retryable: true, CountsAgainst: true}},
		{"503", 503, nil, Outcome{Reason: UpstreamError, Status: 503, Retryable: true, CountsAgainst: true}},
		{"503 retry-after seconds", 503, header("Retry-After", "30"), Outcome{Reason: UpstreamError, Status: 503, RetryAfter: 30 * time.Second, Retryable: true, CountsAgainst: true}},
		{"504", 504, nil, Outcome{Reason: UpstreamTimeout, Status: 504, Retryable: true, CountsAgainst: true}},
		{"529 overloaded", 529, nil, Outcome{Reason: UpstreamError, Status: 529, Retryable: true, CountsAgainst: true}},
		{"302 unexpected", 302, nil, Outcome{Reason: ClientError, Status: 302}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Status(tt.code, tt.h)
			if got != tt.want {
				t.Errorf("Status(%d) = %+v, want %+v", tt.code, got, tt.want)
			}
			if got.OK() != (tt.want.Reason == None) {
				t.Errorf("OK() = %v for reason %q", got.OK(), got.Reason)
			}
		})
	}
}

// TestStatusRetryAfterDate covers the HTTP-date form, whose value depends on
// the clock: the date has second precision, so the hint is within a second
// of the delta it was built from.
func TestStatusRetryAfterDate(t *testing.T) {
	t.Parallel()
	for _, code := range []int{429, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			const delta = 90 * time.Second
			h := header("Retry-After", time.Now().Add(delta).UTC().Format(http.TimeFormat))
			got := Status(code, h)
			if got.RetryAfter <= delta-2*time.Second || got.RetryAfter > delta {
				t.Errorf("RetryAfter = %v, want about %v", got.RetryAfter, delta)
			}
			if !got.Retryable || !got.CountsAgainst {
				t.Errorf("outcome = %+v, want retryable and counting", got)
			}
		})
	}
}

func TestSkipped(t *testing.T) {
	t.Parallel()
	for _, r := range []Reason{CircuitOpen, ProviderUnhealthy, RateLimited} {
		t.Run(string(r), func(t *testing.T) {
			t.Parallel()
			got := Skipped(r)
			want := Outcome{Reason: r, Retryable: true}
			if got != want {
				t.Errorf("Skipped(%q) = %+v, want %+v", r, got, want)
			}
		})
	}
}

// timeoutErr is a net.Error that says it timed out, as a dialer or a
// deadline-bound read reports.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestError(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	live := context.Background()

	timeout := Outcome{Reason: UpstreamTimeout, Retryable: true, CountsAgainst: true}
	conn := Outcome{Reason: ConnectionError, Retryable: true, CountsAgainst: true}
	urlErr := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1/v1/chat/completions", Err: err}
	}

	tests := []struct {
		name string
		ctx  context.Context
		err  func(t *testing.T) error
		want Outcome
	}{
		{"nil error", live, func(*testing.T) error { return nil }, Success},
		{"nil error with cancelled client", cancelled, func(*testing.T) error { return nil }, Success},
		{"client cancelled", cancelled, func(*testing.T) error { return urlErr(context.Canceled) }, Outcome{Reason: Canceled}},
		{"client cancelled masks a connection error", cancelled, func(*testing.T) error { return urlErr(syscall.ECONNRESET) }, Outcome{Reason: Canceled}},
		{"client deadline exceeded", expired, func(*testing.T) error { return urlErr(context.DeadlineExceeded) }, Outcome{Reason: UpstreamTimeout, CountsAgainst: true}},
		{"attempt deadline exceeded", live, func(*testing.T) error { return urlErr(context.DeadlineExceeded) }, timeout},
		{"attempt deadline exceeded as cause", live, func(*testing.T) error {
			return fmt.Errorf("read body: %w", context.DeadlineExceeded)
		}, timeout},
		{"attempt cancelled by the gateway", live, func(*testing.T) error { return urlErr(context.Canceled) }, timeout},
		{"net.OpError timeout", live, func(*testing.T) error {
			return &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}
		}, timeout},
		{"os deadline exceeded", live, func(*testing.T) error {
			return &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}, timeout},
		{"client timeout against a hanging server", live, hangingServerErr, timeout},
		{"connection refused", live, refusedErr, conn},
		{"connection reset", live, resetErr, conn},
		{"broken pipe", live, func(*testing.T) error {
			return &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
		}, conn},
		{"unexpected EOF", live, func(*testing.T) error { return fmt.Errorf("read chunk: %w", io.ErrUnexpectedEOF) }, conn},
		{"EOF", live, func(*testing.T) error { return urlErr(io.EOF) }, conn},
		{"DNS not found", live, func(*testing.T) error {
			return urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}})
		}, conn},
		{"DNS timeout", live, func(*testing.T) error {
			return &net.DNSError{Err: "i/o timeout", Name: "api.example", IsTimeout: true}
		}, timeout},
		{"TLS failure", live, func(*testing.T) error { return urlErr(errors.New("tls: failed to verify certificate")) }, conn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.err(t)
			got := Error(tt.ctx, err)
			if got != tt.want {
				t.Errorf("Error(%v) = %+v, want %+v", err, got, tt.want)
			}
		})
	}
}

// hangingServerErr returns the error of a client whose Timeout passes while
// the server holds the request.
func hangingServerErr(t *testing.T) error {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	resp, err := client.Get(srv.URL)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("request to a hanging server succeeded")
	}
	return err
}

// refusedErr dials a port that was just closed.
func refusedErr(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err == nil {
		_ = c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial error = %v, want ECONNREFUSED", err)
	}
	return err
}

// resetErr reads from a connection the server aborts with SO_LINGER 0, which
// sends a RST instead of a FIN.
func resetErr(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		// Wait for the request so the reset arrives while the client reads.
		_, _ = c.Read(make([]byte, 1))
		if err := c.(*net.TCPConn).SetLinger(0); err != nil {
			served <- err
			return
		}
		served <- c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if serr := <-served; serr != nil {
		t.Fatal(serr)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read error = %v, want ECONNRESET", err)
	}
	return err
}

func BenchmarkStatus(b *testing.B) {
	cases := []struct {
		name string
		code int
		h    http.Header
	}{
		{"200", 200, nil},
		{"429 retry-after", 429, header("Retry-After", "7")},
		{"503", 503, header("Content-Type", "application/json")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Status(c.code, c.h)
			}
		})
	}
}

func BenchmarkError(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		err  error
	}{
		{"refused", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}},
		{"timeout", &url.Error{Op: "Post", URL: "http://x", Err: context.DeadlineExceeded}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Error(ctx, c.err)
			}
		})
	}
}
