package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// seq answers the nth call with hs[n], and every call after the last with
// the last.
func seq(hs ...func(http.ResponseWriter, *http.Request, string)) func(http.ResponseWriter, *http.Request, string) {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request, model string) {
		i := int(n.Add(1) - 1)
		hs[min(i, len(hs)-1)](w, r, model)
	}
}

// errorJSON answers code with body.
func errorJSON(code int, body string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// brokenStream answers 200 with event-stream headers, then resets the
// connection before any event.
func brokenStream(w http.ResponseWriter, r *http.Request, model string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	_ = http.NewResponseController(w).Flush()
	reset(w, r, model)
}

func retrySettings(maxRetries int) Settings {
	s := settings(1)
	s.SameTarget = SameTargetRetry{MaxRetries: maxRetries, Backoff: time.Millisecond, MaxRetryAfter: 5 * time.Second}
	return s
}

// pair builds a router over a scripted primary and fallback.
func pair(t *testing.T, s Settings, obs Observer, primary, fallback func(http.ResponseWriter, *http.Request, string), o targetOpts) (*Router, *upstream, *upstream, *Target) {
	t.Helper()
	p := newUpstream(t, primary)
	fb := newUpstream(t, fallback)
	pt := newTarget(t, "primary", 1, p.URL, o)
	return New([]*Target{pt, newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, s, obs), p, fb, pt
}

type wantAttempt struct {
	target  string
	outcome classify.Reason
	retry   int
}

func checkAttempts(t *testing.T, got []Attempt, want []wantAttempt) {
	t.Helper()
	var g []wantAttempt
	for i, a := range got {
		if a.N != i+1 {
			t.Errorf("attempt %d has N %d", i, a.N)
		}
		g = append(g, wantAttempt{a.Target, a.Outcome.Reason, a.Retry.N})
	}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("attempts %v, want %v", g, want)
	}
}

func TestSameTargetRetry(t *testing.T) {
	tests := []struct {
		name        string
		stream      bool
		maxRetries  int
		primary     func(http.ResponseWriter, *http.Request, string)
		wantTarget  string
		wantStatus  int
		wantPCalls  int64
		wantFBCalls int64
		wantReason  classify.Reason // failover reason
		want        []wantAttempt
	}{
		{name: "500 then OK: primary answers on retry", maxRetries: 1, primary: seq(status(500), answer),
			wantTarget: "primary", wantStatus: 200, wantPCalls: 2,
			want: []wantAttempt{{"primary", classify.UpstreamError, 0}, {"primary", "", 1}}},
		{name: "500 then OK, stream", stream: true, maxRetries: 1, primary: seq(status(500), streamChunks(2, false)),
			wantTarget: "primary", wantStatus: 200, wantPCalls: 2,
			want: []wantAttempt{{"primary", classify.UpstreamError, 0}, {"primary", "", 1}}},
		{name: "default 0 retries fails over at once", maxRetries: 0, primary: seq(status(500), answer),
			wantTarget: "fallback", wantStatus: 200, wantPCalls: 1, wantFBCalls: 1, wantReason: classify.UpstreamError,
			want: []wantAttempt{{"primary", classify.UpstreamError, 0}, {"fallback", "", 0}}},
		{name: "reset before any byte is retried", maxRetries: 1, primary: seq(reset, answer),
			wantTarget: "primary", wantStatus: 200, wantPCalls: 2,
			want: []wantAttempt{{"primary", classify.ConnectionError, 0}, {"primary", "", 1}}},
		{name: "stream broken before its first event is retried", stream: true, maxRetries: 1, primary: seq(brokenStream, streamChunks(1, false)),
			wantTarget: "primary", wantStatus: 200, wantPCalls: 2,
			want: []wantAttempt{{"primary", classify.ConnectionError, 0}, {"primary", "", 1}}},
		{name: "429 without Retry-After is retried after backoff", maxRetries: 1, primary: seq(status(429), answer),
			wantTarget: "primary", wantStatus: 200, wantPCalls: 2,
			want: []wantAttempt{{"primary", classify.RateLimited, 0}, {"primary", "", 1}}},
		{name: "retries are bounded, then failover", maxRetries: 2, primary: status(502),
			wantTarget: "fallback", wantStatus: 200, wantPCalls: 3, wantFBCalls: 1, wantReason: classify.UpstreamError,
			want: []wantAttempt{{"primary", classify.UpstreamError, 0}, {"primary", classify.UpstreamError, 1}, {"primary", classify.UpstreamError, 2}, {"fallback", "", 0}}},
		{name: "400 is not retried", maxRetries: 2, primary: status(400),
			wantTarget: "primary", wantStatus: 400, wantPCalls: 1,
			want: []wantAttempt{{"primary", classify.ClientError, 0}}},
		{name: "401 is not retried, fails over", maxRetries: 2, primary: status(401),
			wantTarget: "fallback", wantStatus: 200, wantPCalls: 1, wantFBCalls: 1, wantReason: classify.AuthError,
			want: []wantAttempt{{"primary", classify.AuthError, 0}, {"fallback", "", 0}}},
		{name: "content-policy 400 returned as is, never retried", maxRetries: 2,
			primary:    errorJSON(400, `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}`),
			wantTarget: "primary", wantStatus: 400, wantPCalls: 1,
			want: []wantAttempt{{"primary", classify.ClientError, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := retrySettings(tc.maxRetries)
			s.ContextLengthFailover = true // content policy must not move either way
			fbh := answer
			if tc.stream {
				fbh = streamChunks(1, false)
			}
			r, p, fb, _ := pair(t, s, nil, tc.primary, fbh, targetOpts{})
			res, err := r.Do(context.Background(), chatReq(tc.stream))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stream != nil {
				if _, err := drain(t, res.Stream); err != nil {
					t.Fatal(err)
				}
			}
			if res.Target.ID != tc.wantTarget || res.Status != tc.wantStatus {
				t.Fatalf("answered by %s with %d; want %s %d", res.Target.ID, res.Status, tc.wantTarget, tc.wantStatus)
			}
			if p.calls.Load() != tc.wantPCalls || fb.calls.Load() != tc.wantFBCalls {
				t.Fatalf("calls primary %d fallback %d; want %d %d", p.calls.Load(), fb.calls.Load(), tc.wantPCalls, tc.wantFBCalls)
			}
			if res.Failover.Reason != tc.wantReason || res.Failover.Triggered != (tc.wantReason != "") {
				t.Fatalf("failover %+v, want reason %q", res.Failover, tc.wantReason)
			}
			checkAttempts(t, res.Attempts, tc.want)
			for _, a := range res.Attempts[1:] {
				if a.Retry.N > 0 && a.Retry.Reason != res.Attempts[0].Outcome.Reason {
					t.Fatalf("retry %+v does not name the failure it repeats", a.Retry)
				}
			}
			if tc.wantStatus == 400 && !strings.Contains(string(res.Body), "error") {
				t.Fatalf("client error body %q", res.Body)
			}
		})
	}
}

// TestRetryAfterWaitedOut: a short Retry-After is waited out and the primary
// answers on its retry, no sooner than the upstream asked.
func TestRetryAfterWaitedOut(t *testing.T) {
	r, p, fb, _ := pair(t, retrySettings(1), nil, seq(status(429, "Retry-After", "1"), answer), answer, targetOpts{})
	start := time.Now()
	res, err := r.Do(context.Background(), chatReq(false))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Target.ID != "primary" || p.calls.Load() != 2 || fb.calls.Load() != 0 {
		t.Fatalf("answered by %s; calls primary %d fallback %d", res.Target.ID, p.calls.Load(), fb.calls.Load())
	}
	if took < time.Second {
		t.Fatalf("retried after %v, before the upstream's Retry-After of 1s", took)
	}
	if took > 10*time.Second {
		t.Fatalf("took %v", took)
	}
	if w := res.Attempts[1].Retry.Wait; w != time.Second {
		t.Fatalf("retry wait recorded as %v", w)
	}
	checkAttempts(t, res.Attempts, []wantAttempt{{"primary", classify.RateLimited, 0}, {"primary", "", 1}})
}

// TestRetryAfterTooLong: a Retry-After above max_retry_after fails over at
// once and cools the primary down, as without retries.
func TestRetryAfterTooLong(t *testing.T) {
	for _, code := range []int{429, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			r, p, fb, _ := pair(t, retrySettings(3), nil, status(code, "Retry-After", "30"), answer, targetOpts{})
			start := time.Now()
			res, err := r.Do(context.Background(), chatReq(false))
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 4*time.Second {
				t.Fatalf("failover took %v: the router waited", took)
			}
			if res.Target.ID != "fallback" || p.calls.Load() != 1 || fb.calls.Load() != 1 {
				t.Fatalf("answered by %s; calls primary %d fallback %d", res.Target.ID, p.calls.Load(), fb.calls.Load())
			}
			// The cooldown holds: the next request skips the primary.
			res, err = r.Do(context.Background(), chatReq(false))
			if err != nil || res.Target.ID != "fallback" || !res.Attempts[0].Skipped || p.calls.Load() != 1 {
				t.Fatalf("after: %v %+v, primary calls %d", err, res, p.calls.Load())
			}
		})
	}
}

// TestSilentUpstreamNotRetried: a target that did not answer within the
// attempt timeout is not asked again in the same request.
func TestSilentUpstreamNotRetried(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			s := retrySettings(3)
			s.AttemptTimeout = 100 * time.Millisecond
			fbh := answer
			if stream {
				fbh = streamChunks(1, false)
			}
			r, p, _, _ := pair(t, s, nil, hang, fbh, targetOpts{})
			res, err := r.Do(context.Background(), chatReq(stream))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stream != nil {
				_, _ = drain(t, res.Stream)
			}
			if p.calls.Load() != 1 || res.Target.ID != "fallback" || res.Failover.Reason != classify.UpstreamTimeout {
				t.Fatalf("primary calls %d, answered by %s, failover %+v", p.calls.Load(), res.Target.ID, res.Failover)
			}
		})
	}
}

// TestStreamCutAfterContentNotRetried: once content reached the client the
// stream is committed; nothing is retried.
func TestStreamCutAfterContentNotRetried(t *testing.T) {
	r, p, fb, _ := pair(t, retrySettings(3), nil, streamChunks(2, true), streamChunks(1, false), targetOpts{})
	res, err := r.Do(context.Background(), chatReq(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, res.Stream); err == nil {
		t.Fatal("a cut stream ended cleanly")
	}
	if p.calls.Load() != 1 || fb.calls.Load() != 0 {
		t.Fatalf("calls primary %d fallback %d", p.calls.Load(), fb.calls.Load())
	}
}

// TestRetryCountsAgainstBreaker: each retried failure is an attempt the
// breaker sees; when the first failure opens the circuit, no retry is made
// and the request fails over for that failure.
func TestRetryCountsAgainstBreaker(t *testing.T) {
	r, p, _, pt := pair(t, retrySettings(3), nil, status(500), answer, targetOpts{breakerFailures: 1})
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 1 || pt.Health.BreakerState() != "open" {
		t.Fatalf("primary calls %d, breaker %s", p.calls.Load(), pt.Health.BreakerState())
	}
	if res.Failover.Reason != classify.UpstreamError {
		t.Fatalf("failover %+v", res.Failover)
	}
	checkAttempts(t, res.Attempts, []wantAttempt{{"primary", classify.UpstreamError, 0}, {"fallback", "", 0}})

	r, p, _, pt = pair(t, retrySettings(3), nil, status(500), answer, targetOpts{breakerFailures: 3})
	if _, err := r.Do(context.Background(), chatReq(false)); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 3 || pt.Health.BreakerState() != "open" {
		t.Fatalf("primary calls %d, breaker %s; want 3 failures counted", p.calls.Load(), pt.Health.BreakerState())
	}
}

// TestRetryNoWaitOnOpenCircuit: a failure that opens the circuit fails
// over at once, without first waiting out its Retry-After for a retry that
// the open circuit would skip.
func TestRetryNoWaitOnOpenCircuit(t *testing.T) {
	r, p, fb, pt := pair(t, retrySettings(1), nil, status(503, "Retry-After", "2"), answer, targetOpts{breakerFailures: 1})
	start := time.Now()
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= time.Second {
		t.Fatalf("took %v: waited for a retry the open circuit skips", took)
	}
	if res.Target.ID != "fallback" || p.calls.Load() != 1 || fb.calls.Load() != 1 || pt.Health.BreakerState() != "open" {
		t.Fatalf("answered by %s; calls primary %d fallback %d; breaker %s", res.Target.ID, p.calls.Load(), fb.calls.Load(), pt.Health.BreakerState())
	}
}

// TestRetryRespectsRequestDeadline: a wait that would reach the request's
// deadline fails over instead.
func TestRetryRespectsRequestDeadline(t *testing.T) {
	// Bounds wide enough for a loaded machine: the point is that the
	// Retry-After wait (5 s) that would pass the deadline (3 s) is not
	// slept, not how fast the fallback answers.
	s := retrySettings(1)
	s.RequestTimeout = 3 * time.Second
	r, p, fb, _ := pair(t, s, nil, seq(status(429, "Retry-After", "5"), answer), answer, targetOpts{})
	start := time.Now()
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 3*time.Second {
		t.Fatalf("took %v: waited past the request deadline", took)
	}
	if res.Target.ID != "fallback" || p.calls.Load() != 1 || fb.calls.Load() != 1 {
		t.Fatalf("answered by %s; calls primary %d fallback %d", res.Target.ID, p.calls.Load(), fb.calls.Load())
	}

	// Backoff too: a base far beyond the deadline can only fit when the
	// jitter draws a tiny wait, so most draws fail over; every run must
	// finish before the deadline either way.
	s = retrySettings(1)
	s.RequestTimeout = 3 * time.Second
	s.SameTarget.Backoff = time.Hour
	r, _, _, _ = pair(t, s, nil, status(500), answer, targetOpts{})
	start = time.Now()
	if _, err := r.Do(context.Background(), chatReq(false)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 3*time.Second {
		t.Fatalf("backoff took %v, past the request deadline", took)
	}
}

// TestRetryWaitEndsOnClientCancel: a client that hangs up during a wait
// ends the request at once.
func TestRetryWaitEndsOnClientCancel(t *testing.T) {
	served := make(chan struct{}, 1)
	r, p, fb, _ := pair(t, retrySettings(1), nil, func(w http.ResponseWriter, r *http.Request, m string) {
		status(429, "Retry-After", "4")(w, r, m)
		served <- struct{}{}
	}, answer, targetOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-served
		time.Sleep(50 * time.Millisecond) // into the wait
		cancel()
	}()
	start := time.Now()
	_, err := r.Do(ctx, chatReq(false))
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("cancel during the wait took %v to end the request", took)
	}
	if p.calls.Load() != 1 || fb.calls.Load() != 0 {
		t.Fatalf("calls primary %d fallback %d", p.calls.Load(), fb.calls.Load())
	}
}

const (
	openaiTooLong    = `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`
	anthropicTooLong = `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210456 tokens > 200000 maximum"}}`
)

func TestContextLength(t *testing.T) {
	tests := []struct {
		name        string
		failover    bool
		primary     string
		fallback    func(http.ResponseWriter, *http.Request, string)
		wantTarget  string
		wantStatus  int
		wantFBCalls int64
		wantReason  classify.Reason
		want        []wantAttempt
	}{
		{name: "return (default) answers the 400", primary: openaiTooLong, fallback: answer,
			wantTarget: "primary", wantStatus: 400,
			want: []wantAttempt{{"primary", classify.ContextLength, 0}}},
		{name: "failover moves to the fallback", failover: true, primary: openaiTooLong, fallback: answer,
			wantTarget: "fallback", wantStatus: 200, wantFBCalls: 1, wantReason: classify.ContextLength,
			want: []wantAttempt{{"primary", classify.ContextLength, 0}, {"fallback", "", 0}}},
		{name: "failover on Anthropic's prompt is too long", failover: true, primary: anthropicTooLong, fallback: answer,
			wantTarget: "fallback", wantStatus: 200, wantFBCalls: 1, wantReason: classify.ContextLength,
			want: []wantAttempt{{"primary", classify.ContextLength, 0}, {"fallback", "", 0}}},
		{name: "fallback too small as well: its 400 is the answer", failover: true, primary: openaiTooLong, fallback: errorJSON(400, anthropicTooLong),
			wantTarget: "fallback", wantStatus: 400, wantFBCalls: 1, wantReason: classify.ContextLength,
			want: []wantAttempt{{"primary", classify.ContextLength, 0}, {"fallback", classify.ContextLength, 0}}},
		{name: "fallback fails: the 400 beats a 503", failover: true, primary: openaiTooLong, fallback: status(401),
			wantTarget: "primary", wantStatus: 400, wantFBCalls: 1, wantReason: classify.ContextLength,
			want: []wantAttempt{{"primary", classify.ContextLength, 0}, {"fallback", classify.AuthError, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := retrySettings(2) // never retried on the same target either way
			s.ContextLengthFailover = tc.failover
			r, p, fb, pt := pair(t, s, nil, errorJSON(400, tc.primary), tc.fallback, targetOpts{breakerFailures: 1})
			res, err := r.Do(context.Background(), chatReq(false))
			if err != nil {
				t.Fatal(err)
			}
			if res.Target.ID != tc.wantTarget || res.Status != tc.wantStatus {
				t.Fatalf("answered by %s with %d; want %s %d", res.Target.ID, res.Status, tc.wantTarget, tc.wantStatus)
			}
			if p.calls.Load() != 1 || fb.calls.Load() != tc.wantFBCalls {
				t.Fatalf("calls primary %d fallback %d", p.calls.Load(), fb.calls.Load())
			}
			if res.Failover.Reason != tc.wantReason {
				t.Fatalf("failover %+v", res.Failover)
			}
			checkAttempts(t, res.Attempts, tc.want)
			if res.Status == 400 && !strings.Contains(string(res.Body), "context") && !strings.Contains(string(res.Body), "too long") {
				t.Fatalf("400 body %s does not explain the context window", res.Body)
			}
			if pt.Health.BreakerState() != "closed" || pt.Health.Snapshot().BreakerCounts.TotalFailures != 0 {
				t.Fatalf("context length counted against the primary: %s %+v", pt.Health.BreakerState(), pt.Health.Snapshot().BreakerCounts)
			}
		})
	}
}

// TestObserverSeesEveryRetry: each retry is an attempt the observer starts
// and ends, marked as a retry.
func TestObserverSeesEveryRetry(t *testing.T) {
	obs := &recObserver{}
	r, _, _, _ := pair(t, retrySettings(2), obs, seq(status(500), reset, answer), answer, targetOpts{})
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"start 1 primary", "end 1 primary upstream_error ctx=1",
		"start 2 primary", "end 2 primary connection_error ctx=2",
		"start 3 primary", "end 3 primary  ctx=3",
	}
	if strings.Join(obs.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("observer calls:\n%s\nwant:\n%s", strings.Join(obs.calls, "\n"), strings.Join(want, "\n"))
	}
	wantRetries := []Retry{{}, {N: 1, Reason: classify.UpstreamError}, {N: 2, Reason: classify.ConnectionError}}
	for i, a := range obs.ends {
		got := a.Retry
		got.Wait = 0
		if got != wantRetries[i] || a.Retry.Wait < 0 || a.Retry.Wait > 2*time.Millisecond {
			t.Fatalf("attempt %d retry %+v, want %+v (wait within the 1ms base, doubled)", i+1, a.Retry, wantRetries[i])
		}
	}
	if len(res.Attempts) != 3 || res.Failover.Triggered {
		t.Fatalf("attempts %+v failover %+v", res.Attempts, res.Failover)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		base time.Duration
		n    int
		max  time.Duration
	}{
		{0, 1, 0},
		{100 * time.Millisecond, 0, 0},
		{100 * time.Millisecond, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 2, 200 * time.Millisecond},
		{100 * time.Millisecond, 4, 800 * time.Millisecond},
		{time.Millisecond, 100, time.Millisecond << maxBackoffShift},
		{time.Duration(1) << 62, 5, math.MaxInt64},
		{3 << 60, 2, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%d", tc.base, tc.n), func(t *testing.T) {
			var seenHigh bool
			for range 200 {
				d := backoff(tc.base, tc.n)
				if d < 0 || d > tc.max {
					t.Fatalf("backoff %v outside [0, %v]", d, tc.max)
				}
				seenHigh = seenHigh || d > tc.max/2
			}
			if tc.max > 0 && !seenHigh {
				t.Fatalf("200 draws never above half of %v: not full jitter", tc.max)
			}
		})
	}
}
