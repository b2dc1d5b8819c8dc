package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fastProbe probes every 20ms with small thresholds.
func fastProbe() ProbeSettings {
	return ProbeSettings{Enabled: true, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, UnhealthyThreshold: 2, HealthyThreshold: 2}
}

// startChecker starts a checker whose goroutines are stopped and awaited when
// the test ends.
func startChecker(t *testing.T, probes ...Probe) (*Checker, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := StartChecker(ctx, probes)
	t.Cleanup(func() {
		cancel()
		waitStopped(t, c)
	})
	return c, cancel
}

// waitStopped waits for the checker's goroutines, failing instead of hanging.
func waitStopped(t *testing.T, c *Checker) {
	t.Helper()
	stopped := make(chan struct{})
	go func() { c.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("checker goroutines did not stop after cancel")
	}
}

// waitFirstRound waits for the first round, failing if it never completes.
func waitFirstRound(t *testing.T, c *Checker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.WaitFirstRound(ctx)
	if ctx.Err() != nil {
		t.Fatal("first probe round did not complete")
	}
}

// statusServer answers every request with its current status and counts them.
type statusServer struct {
	*httptest.Server
	status atomic.Int64
	hits   atomic.Int64
}

func newStatusServer(t *testing.T, status int) *statusServer {
	t.Helper()
	s := &statusServer{}
	s.status.Store(int64(status))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.status.Load()))
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func getCheck(client *http.Client, url string) Check {
	return HTTPCheck(client, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	})
}

func TestCheckerFirstProbeAtOnce(t *testing.T) {
	t.Parallel()
	srv := newStatusServer(t, http.StatusOK)
	probe := fastProbe()
	// With an hour between probes, only an immediate first probe can
	// complete the first round.
	probe.Interval = time.Hour
	tg := NewTarget(Options{ID: "p", Probe: probe})
	c, _ := startChecker(t, Probe{Target: tg, Check: getCheck(srv.Client(), srv.URL)})
	waitFirstRound(t, c)
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server saw %d probes, want 1", n)
	}
	s := tg.Snapshot()
	if s.LastCheck.IsZero() || s.ConsecutiveSuccesses != 1 || s.LastError != "" || !s.Healthy {
		t.Errorf("snapshot after the first round = %+v", s)
	}
}

func TestCheckerUnhealthyAndBack(t *testing.T) {
	t.Parallel()
	srv := newStatusServer(t, http.StatusUnauthorized)
	logger, logs := newLogger()
	flips := &recorder[bool]{}
	tg := NewTarget(Options{
		ID:             "openai-primary",
		Probe:          fastProbe(),
		Logger:         logger,
		OnHealthChange: func(_ string, healthy bool) { flips.add(healthy) },
	})
	startChecker(t, Probe{Target: tg, Check: getCheck(srv.Client(), srv.URL)})

	eventually(t, "the target to turn unhealthy", func() bool { return !tg.Snapshot().Healthy })
	s := tg.Snapshot()
	if s.ConsecutiveFailures < 2 {
		t.Errorf("unhealthy after %d failures, want at least the threshold 2", s.ConsecutiveFailures)
	}
	if !strings.Contains(s.LastError, "401") {
		t.Errorf("LastError = %q, want the 401", s.LastError)
	}

	srv.status.Store(http.StatusOK)
	eventually(t, "the target to turn healthy again", func() bool { return tg.Snapshot().Healthy })
	s = tg.Snapshot()
	if s.ConsecutiveSuccesses < 2 || s.ConsecutiveFailures != 0 || s.LastError != "" {
		t.Errorf("snapshot after recovery = %+v", s)
	}
	if got := flips.all(); fmt.Sprint(got) != "[false true]" {
		t.Errorf("OnHealthChange calls = %v, want [false true]", got)
	}
	if logs.count("provider unhealthy") != 1 || logs.count("provider healthy") != 1 {
		t.Errorf("want one log line per flip:\n%s", logs)
	}
}

func TestHTTPCheckStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		pass   bool
	}{
		{200, true},
		{201, true},
		{204, true},
		{299, true},
		{304, false},
		{400, false},
		{401, false},
		{403, false},
		{404, false},
		{429, false},
		{500, false},
		{503, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			srv := newStatusServer(t, tt.status)
			err := getCheck(srv.Client(), srv.URL)(t.Context())
			if (err == nil) != tt.pass {
				t.Errorf("check = %v, want pass %v", err, tt.pass)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("status %d", tt.status)) {
				t.Errorf("error %q does not name the status", err)
			}
		})
	}
}

func TestHTTPCheckErrors(t *testing.T) {
	t.Parallel()
	t.Run("build", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("no endpoint")
		check := HTTPCheck(http.DefaultClient, func(context.Context) (*http.Request, error) { return nil, boom })
		if err := check(t.Context()); !errors.Is(err, boom) {
			t.Errorf("check = %v, want it to wrap %v", err, boom)
		}
	})
	t.Run("transport", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url, client := srv.URL, srv.Client()
		srv.Close()
		if err := getCheck(client, url)(t.Context()); err == nil {
			t.Error("check against a closed server passed")
		}
	})
}

// countingTransport counts the response body bytes its caller reads.
type countingTransport struct {
	next http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestHTTPCheckHugeBody(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			chunk := []byte(strings.Repeat("0123456789abcdef", 2048))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				// Endless: stops only when the client goes away.
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			ct := &countingTransport{next: srv.Client().Transport}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := getCheck(&http.Client{Transport: ct}, srv.URL)(ctx)
			if ctx.Err() != nil {
				t.Fatal("probe of an endless body did not complete")
			}
			if (err == nil) != (status == http.StatusOK) {
				t.Errorf("check = %v for status %d", err, status)
			}
			if n := ct.read.Load(); n <= 0 || n > maxProbeBody {
				t.Errorf("probe read %d body bytes, want 1..%d", n, maxProbeBody)
			}
		})
	}
}

func TestCheckerPanickingCheck(t *testing.T) {
	t.Parallel()
	bad := NewTarget(Options{ID: "bad", Probe: fastProbe()})
	good := NewTarget(Options{ID: "good", Probe: fastProbe()})
	var goodCalls atomic.Int64
	c, _ := startChecker(t,
		Probe{Target: bad, Check: func(context.Context) error { panic("broken check") }},
		Probe{Target: good, Check: func(context.Context) error { goodCalls.Add(1); return nil }},
	)
	waitFirstRound(t, c)
	eventually(t, "several failed probes of the panicking target", func() bool {
		return bad.Snapshot().ConsecutiveFailures >= 3
	})
	s := bad.Snapshot()
	if !strings.Contains(s.LastError, "panicked") || !strings.Contains(s.LastError, "broken check") {
		t.Errorf("LastError = %q, want the panic", s.LastError)
	}
	if s.Healthy {
		t.Error("a target whose check panics is still healthy")
	}
	eventually(t, "the other target to keep probing", func() bool { return goodCalls.Load() >= 3 })
}

func TestCheckerStopsOnCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	blocking := NewTarget(Options{ID: "blocking", Probe: fastProbe()})
	busy := NewTarget(Options{ID: "busy", Probe: fastProbe()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := StartChecker(ctx, []Probe{
		{Target: blocking, Check: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}},
		{Target: busy, Check: func(context.Context) error { return nil }},
	})
	<-started
	cancel()
	waitStopped(t, c)
	if s := blocking.Snapshot(); !s.LastCheck.IsZero() || s.LastError != "" {
		t.Errorf("a probe cut short by shutdown was recorded: %+v", s)
	}
	// WaitFirstRound returns at once after the goroutines ended.
	c.WaitFirstRound(context.Background())
}

func TestCheckerSkipsDisabledProbes(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	tg := NewTarget(Options{ID: "off", Probe: ProbeSettings{Interval: 20 * time.Millisecond}})
	c, cancel := startChecker(t, Probe{Target: tg, Check: func(context.Context) error { calls.Add(1); return nil }})
	waitFirstRound(t, c)
	cancel()
	waitStopped(t, c)
	if n := calls.Load(); n != 0 {
		t.Errorf("disabled probe ran %d times", n)
	}
}

func TestCheckerProbeTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		// blocking checks wait for their context to end.
		blocking bool
		wantErr  string
	}{
		{"timeout ends a hanging probe", 20 * time.Millisecond, true, "deadline exceeded"},
		{"zero timeout does not fail every probe", 0, false, ""},
		{"zero timeout is bounded by the interval", 0, true, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			probe := fastProbe()
			probe.Timeout = tt.timeout
			probe.Interval = 30 * time.Millisecond
			if !tt.blocking {
				probe.Interval = time.Hour
			}
			tg := NewTarget(Options{ID: "p", Probe: probe})
			var hadDeadline atomic.Bool
			c, _ := startChecker(t, Probe{Target: tg, Check: func(ctx context.Context) error {
				_, ok := ctx.Deadline()
				hadDeadline.Store(ok)
				if tt.blocking {
					<-ctx.Done()
				}
				return ctx.Err()
			}})
			waitFirstRound(t, c)
			if !hadDeadline.Load() {
				t.Error("the probe ran without a deadline")
			}
			s := tg.Snapshot()
			if tt.wantErr == "" && s.LastError != "" || !strings.Contains(s.LastError, tt.wantErr) {
				t.Errorf("LastError = %q, want %q", s.LastError, tt.wantErr)
			}
			if s.LastCheck.IsZero() {
				t.Error("the probe was not recorded")
			}
		})
	}
}

func TestWaitFirstRoundHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	tg := NewTarget(Options{ID: "slow", Probe: fastProbe()})
	c, _ := startChecker(t, Probe{Target: tg, Check: func(context.Context) error {
		<-release
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.WaitFirstRound(ctx)
	if !tg.Snapshot().LastCheck.IsZero() {
		t.Error("the first probe completed although it was held")
	}
	close(release)
	waitFirstRound(t, c)
}

func TestJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   time.Duration
		base time.Duration
	}{
		{"20ms", 20 * time.Millisecond, 20 * time.Millisecond},
		{"30s", 30 * time.Second, 30 * time.Second},
		{"1h", time.Hour, time.Hour},
		{"zero falls back to a second", 0, time.Second},
		{"negative falls back to a second", -time.Minute, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lo, hi := tt.base-tt.base/10, tt.base+tt.base/10
			minSeen, maxSeen := hi, lo
			for range 2000 {
				d := jitter(tt.in)
				if d < lo || d > hi {
					t.Fatalf("jitter(%v) = %v, outside [%v, %v]", tt.in, d, lo, hi)
				}
				minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
			}
			// 2000 uniform draws all on one side of the base are not chance.
			if minSeen >= tt.base || maxSeen <= tt.base {
				t.Errorf("jitter(%v) spans only [%v, %v]", tt.in, minSeen, maxSeen)
			}
		})
	}
	if d := jitter(3); d != 3 {
		t.Errorf("jitter(3ns) = %v, want 3ns", d)
	}
}
