package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig is one closed-loop load point: Concurrency workers each send a
// request, wait for the whole answer, and send the next, for Warmup (not
// recorded) and then Duration (recorded).
type LoadConfig struct {
	// URL is the endpoint; only loopback hosts are accepted.
	URL string
	// Body is the request body (JSON).
	Body []byte
	// Header is sent with every request; Content-Type defaults to JSON.
	Header http.Header
	// Stream reads the answer as SSE: TTFB at the first "data:" line, success
	// only with "data: [DONE]".
	Stream bool
	// Marker must appear in a non-streaming 200 body for it to count as a
	// success; empty accepts any body.
	Marker []byte
	// Concurrency is the number of workers; default 1.
	Concurrency int
	// Warmup runs before the window and is not recorded. With none, the
	// window opens before the first request: every request counts.
	Warmup time.Duration
	// Duration is the measurement window; required.
	Duration time.Duration
	// MaxRequests caps the requests sent (warm-up included); 0 is no cap.
	MaxRequests int64
	// Timeout bounds one request; default 10s.
	Timeout time.Duration
	// OnWindowStart and OnWindowEnd, if set, run when the window opens and
	// closes (e.g. to sample /proc), on the goroutine that called Load.
	OnWindowStart, OnWindowEnd func()
}

// LoadResult is what one load point measured. Only requests that started
// and ended inside the window are samples; errors count when they started
// inside it.
type LoadResult struct {
	// Latency holds every successful request's time to the end of the
	// answer, sorted.
	Latency []time.Duration
	// TTFB holds every successful stream's time to its first data line,
	// sorted; empty for non-streaming points.
	TTFB []time.Duration
	// Errors counts failed requests: transport errors, non-200 statuses,
	// bodies without the marker, streams without [DONE].
	Errors int
	// FirstError describes the first failure.
	FirstError string
	// Window is how long the measurement window actually lasted.
	Window time.Duration
	// Sent counts every request sent, warm-up included.
	Sent int64
}

// RPS is the successful requests per second in the window.
func (r LoadResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(len(r.Latency)) / r.Window.Seconds()
}

// checkLoopback refuses any URL that does not point at this machine: the
// harness must never load someone else's server.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing non-loopback url %q", raw)
}

// sample is one successful request.
type sample struct{ lat, ttfb time.Duration }

// loadRun is the shared state of one Load call.
type loadRun struct {
	cfg    LoadConfig
	client *http.Client
	base   time.Time

	sent     atomic.Int64
	stop     atomic.Bool
	winStart atomic.Int64 // ns since base; 0 while warming up
	winEnd   atomic.Int64 // ns since base; 0 while the window is open

	mu       sync.Mutex
	errors   int
	firstErr string
}

// Load runs one load point. It returns an error only for a bad config; the
// requests' failures are counted in the result. Cancelling ctx ends the
// point early (the window is then shorter).
func Load(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if err := checkLoopback(cfg.URL); err != nil {
		return LoadResult{}, err
	}
	if cfg.Duration <= 0 {
		return LoadResult{}, errors.New("load duration must be positive")
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never via HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * cfg.Concurrency,
		MaxIdleConnsPerHost: 2 * cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	// A fresh pool per point: no connection state carries over between
	// targets or points.
	defer tr.CloseIdleConnections()
	l := &loadRun{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}, base: time.Now()}

	openWindow := func() int64 {
		if cfg.OnWindowStart != nil {
			cfg.OnWindowStart()
		}
		ws := max(l.now(), 1) // 0 means "warming up"
		l.winStart.Store(ws)
		return ws
	}
	var ws int64
	if cfg.Warmup <= 0 {
		// Open before the first request so that every request counts.
		ws = openWindow()
	}
	per := make([][]sample, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() { per[w] = l.worker(ctx) })
	}
	// Workers stop early only when MaxRequests is reached; the window then
	// closes at once rather than idling to its end.
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-allDone:
		case <-t.C:
		}
	}
	if ws == 0 {
		wait(cfg.Warmup)
		ws = openWindow()
	}
	wait(cfg.Duration)
	we := l.now()
	l.winEnd.Store(we)
	if cfg.OnWindowEnd != nil {
		cfg.OnWindowEnd()
	}
	l.stop.Store(true)
	<-allDone

	sent := l.sent.Load()
	if cfg.MaxRequests > 0 {
		sent = min(sent, cfg.MaxRequests) // each worker's last claim overshoots the cap
	}
	res := LoadResult{Window: time.Duration(we - ws), Sent: sent, Errors: l.errors, FirstError: l.firstErr}
	for _, ss := range per {
		for _, s := range ss {
			res.Latency = append(res.Latency, s.lat)
			if cfg.Stream {
				res.TTFB = append(res.TTFB, s.ttfb)
			}
		}
	}
	slices.Sort(res.Latency)
	slices.Sort(res.TTFB)
	return res, nil
}

func (l *loadRun) now() int64 { return int64(time.Since(l.base)) }

// worker sends requests until the point ends and returns its samples.
func (l *loadRun) worker(ctx context.Context) []sample {
	hdr := l.cfg.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}
	w := &workerState{rd: bufio.NewReaderSize(nil, 64<<10), hdr: hdr}
	var out []sample
	for !l.stop.Load() && ctx.Err() == nil {
		if n := l.sent.Add(1); l.cfg.MaxRequests > 0 && n > l.cfg.MaxRequests {
			break
		}
		start := l.now()
		s, err := l.one(ctx, w, start)
		end := l.now()
		if err != nil && ctx.Err() != nil {
			break // the point was cut short, not the target's fault
		}
		ws := l.winStart.Load()
		inWindow := ws != 0 && start >= ws
		if err != nil {
			if inWindow {
				l.fail(err)
			}
			if errors.Is(err, errTransport) {
				// A refused or reset connection returns at once; without a
				// pause a dead target would spin this worker.
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		if !inWindow {
			continue // warm-up
		}
		if we := l.winEnd.Load(); we != 0 && end > we {
			continue // straddles the end of the window
		}
		out = append(out, s)
	}
	return out
}

// workerState is reused across a worker's requests.
type workerState struct {
	rd  *bufio.Reader
	buf bytes.Buffer
	hdr http.Header
}

var errTransport = errors.New("transport")

// one sends one request and checks its answer.
func (l *loadRun) one(ctx context.Context, w *workerState, start int64) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.URL, bytes.NewReader(l.cfg.Body))
	if err != nil {
		return sample{}, fmt.Errorf("new request: %w", err)
	}
	req.Header = w.hdr
	resp, err := l.client.Do(req)
	if err != nil {
		return sample{}, fmt.Errorf("%w: %w", errTransport, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return sample{}, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if !l.cfg.Stream {
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(resp.Body); err != nil {
			return sample{}, fmt.Errorf("read body: %w", err)
		}
		if len(l.cfg.Marker) > 0 && !bytes.Contains(w.buf.Bytes(), l.cfg.Marker) {
			b := w.buf.Bytes()
			return sample{}, fmt.Errorf("body without %q: %s", l.cfg.Marker, b[:min(len(b), 200)])
		}
		return sample{lat: time.Duration(l.now() - start)}, nil
	}
	ttfb, err := readStream(w.rd, resp.Body, func() time.Duration { return time.Duration(l.now() - start) })
	if err != nil {
		return sample{}, err
	}
	return sample{lat: time.Duration(l.now() - start), ttfb: ttfb}, nil
}

// readStream reads an SSE body to its end. It returns the time of the first
// "data:" line (from since) and fails unless a "data: [DONE]" line came.
func readStream(rd *bufio.Reader, body io.Reader, since func() time.Duration) (time.Duration, error) {
	rd.Reset(body)
	var ttfb time.Duration
	done, events := false, 0
	atLineStart := true
	for {
		line, err := rd.ReadSlice('\n')
		// A line longer than the buffer comes in pieces; only a piece that
		// starts a line can start an event.
		if atLineStart && bytes.HasPrefix(line, []byte("data:")) {
			if ttfb == 0 {
				ttfb = since()
			}
			// Only a whole line can be the [DONE] marker; a piece of a
			// line longer than the buffer is an event.
			if err != bufio.ErrBufferFull && string(bytes.TrimSpace(line[len("data:"):])) == "[DONE]" {
				done = true
			} else {
				events++
			}
		}
		atLineStart = err != bufio.ErrBufferFull
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read stream: %w", err)
		}
	}
	if !done {
		return 0, fmt.Errorf("stream ended without data: [DONE] after %d events", events)
	}
	return ttfb, nil
}

// fail records a failed request.
func (l *loadRun) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors++
	if l.firstErr == "" {
		l.firstErr = err.Error()
	}
}
