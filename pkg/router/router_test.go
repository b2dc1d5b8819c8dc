package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const okBody = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"%s","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`

// upstream is a scripted OpenAI-shaped server counting its chat requests.
type upstream struct {
	*httptest.Server
	calls  atomic.Int64
	models chan string
	bodies chan string
}

func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, model string)) *upstream {
	t.Helper()
	u := &upstream{models: make(chan string, 100), bodies: make(chan string, 100)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		model := between(string(b), `"model":"`, `"`)
		u.models <- model
		u.bodies <- string(b)
		h(w, r, model)
	}))
	t.Cleanup(u.Close)
	return u
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func answer(w http.ResponseWriter, _ *http.Request, model string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, okBody, model)
}

func status(code int, hdr ...string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, _ string) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"x","param":null,"code":null}}`, code)
	}
}

func hang(w http.ResponseWriter, r *http.Request, _ string) { <-r.Context().Done() }

func reset(w http.ResponseWriter, _ *http.Request, _ string) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func streamChunks(n int, thenReset bool) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, model string) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range n {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", model, i)
			_ = rc.Flush()
		}
		if thenReset {
			reset(w, r, model)
			return
		}
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", model)
	}
}

type targetOpts struct {
	breakerFailures int
	probe           bool
	weight          int
}

func newTarget(t *testing.T, id string, prio int, url string, o targetOpts) *Target {
	t.Helper()
	bf := o.breakerFailures
	if bf == 0 {
		bf = 100
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &Target{
		ID:       id,
		Priority: prio,
		Weight:   o.weight,
		Adapter:  openai.New("openai"),
		Endpoint: &provider.Endpoint{BaseURL: url + "/v1", APIKey: "sk-" + id},
		Client:   &http.Client{Transport: tr},
		Health: health.NewTarget(health.Options{ID: id,
			Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: bf, OpenTimeout: time.Minute, HalfOpenRequests: 1},
			Probe:   health.ProbeSettings{Enabled: o.probe, Interval: time.Hour, Timeout: time.Second, UnhealthyThreshold: 1, HealthyThreshold: 1},
		}),
	}
}

func chatReq(stream bool) *Request {
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]`
	if stream {
		body += `,"stream":true`
	}
	return &Request{Body: []byte(body + "}"), Model: "gpt-4o-mini", Stream: stream}
}

var mapping = map[string]string{"gpt-4o-mini": "claude-sonnet-4-20250514"}

func settings(maxAttempts int) Settings {
	return Settings{Failover: true, MaxAttempts: maxAttempts, ModelMapping: mapping, AttemptTimeout: 2 * time.Second, RequestTimeout: 30 * time.Second}
}

func TestDoNonStream(t *testing.T) {
	deadAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return "http://" + addr
	}
	tests := []struct {
		name          string
		primary       func(http.ResponseWriter, *http.Request, string)
		primaryURL    string // instead of a server
		maxAttempts   int
		attemptTO     time.Duration
		wantStatus    int
		wantProvider  string
		wantModel     string
		wantReason    classify.Reason
		wantAttempts  int
		wantErr       bool
		wantFallbacks int64 // calls reaching the fallback
	}{
		{name: "primary answers", primary: answer, wantStatus: 200, wantProvider: "primary", wantModel: "gpt-4o-mini", wantAttempts: 1},
		{name: "5xx fails over with mapped model", primary: status(500), wantStatus: 200, wantProvider: "fallback", wantModel: "claude-sonnet-4-20250514", wantReason: classify.UpstreamError, wantAttempts: 2, wantFallbacks: 1},
		{name: "401 is auth_error", primary: status(401), wantStatus: 200, wantProvider: "fallback", wantModel: "claude-sonnet-4-20250514", wantReason: classify.AuthError, wantAttempts: 2, wantFallbacks: 1},
		{name: "403 is auth_error", primary: status(403), wantStatus: 200, wantProvider: "fallback", wantReason: classify.AuthError, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
		{name: "429 is rate_limited", primary: status(429, "Retry-After", "1"), wantStatus: 200, wantProvider: "fallback", wantReason: classify.RateLimited, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
		{name: "400 returned as is", primary: status(400), wantStatus: 400, wantProvider: "primary", wantModel: "gpt-4o-mini", wantAttempts: 1},
		{name: "404 returned as is", primary: status(404), wantStatus: 404, wantProvider: "primary", wantModel: "gpt-4o-mini", wantAttempts: 1},
		{name: "422 returned as is", primary: status(422), wantStatus: 422, wantProvider: "primary", wantModel: "gpt-4o-mini", wantAttempts: 1},
		{name: "refused is connection_error", primaryURL: deadAddr(), wantStatus: 200, wantProvider: "fallback", wantReason: classify.ConnectionError, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
		{name: "reset is connection_error", primary: reset, wantStatus: 200, wantProvider: "fallback", wantReason: classify.ConnectionError, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
		{name: "hang is upstream_timeout", primary: hang, attemptTO: 100 * time.Millisecond, wantStatus: 200, wantProvider: "fallback", wantReason: classify.UpstreamTimeout, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
		{name: "no fallback attempts: 503", primary: status(503), maxAttempts: -1, wantErr: true, wantAttempts: 1},
		{name: "garbage 200 is upstream_error", primary: func(w http.ResponseWriter, _ *http.Request, _ string) { _, _ = w.Write([]byte("<html>")) }, wantStatus: 200, wantProvider: "fallback", wantReason: classify.UpstreamError, wantAttempts: 2, wantFallbacks: 1, wantModel: "claude-sonnet-4-20250514"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.primaryURL
			if tc.primary != nil {
				url = newUpstream(t, tc.primary).URL
			}
			fb := newUpstream(t, answer)
			s := settings(1)
			if tc.maxAttempts < 0 {
				s.MaxAttempts = 0
			}
			if tc.attemptTO > 0 {
				s.AttemptTimeout = tc.attemptTO
			}
			r := New([]*Target{newTarget(t, "fallback", 2, fb.URL, targetOpts{}), newTarget(t, "primary", 1, url, targetOpts{})}, s, nil)
			res, err := r.Do(context.Background(), chatReq(false))
			if tc.wantErr {
				var re *Error
				if !errors.As(err, &re) || re.Status != 503 || len(re.Attempts) != tc.wantAttempts {
					t.Fatalf("want *Error 503 with %d attempts, got %v", tc.wantAttempts, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if res.Status != tc.wantStatus || res.Target.ID != tc.wantProvider || res.Model != tc.wantModel {
				t.Fatalf("got status %d provider %s model %s; want %d %s %s", res.Status, res.Target.ID, res.Model, tc.wantStatus, tc.wantProvider, tc.wantModel)
			}
			if len(res.Attempts) != tc.wantAttempts {
				t.Fatalf("attempts = %d, want %d: %+v", len(res.Attempts), tc.wantAttempts, res.Attempts)
			}
			if res.Failover.Triggered != (tc.wantReason != "") || res.Failover.Reason != tc.wantReason {
				t.Fatalf("failover = %+v, want reason %q", res.Failover, tc.wantReason)
			}
			if tc.wantReason != "" && res.Failover.OriginalProvider != "primary" {
				t.Fatalf("original provider = %q", res.Failover.OriginalProvider)
			}
			if got := fb.calls.Load(); got != tc.wantFallbacks {
				t.Fatalf("fallback calls = %d, want %d", got, tc.wantFallbacks)
			}
			// A success's answer is in a pooled buffer the caller hands
			// back; a client error's body is not pooled. Release is
			// idempotent and clears Body.
			if pooled := res.answer != nil; pooled != (res.Status == 200) || len(res.Body) == 0 {
				t.Fatalf("status %d: pooled answer %v, body %d bytes", res.Status, pooled, len(res.Body))
			}
			res.Release()
			res.Release()
			if res.answer != nil || (res.Status == 200 && res.Body != nil) {
				t.Fatalf("after Release: answer %v, body %q", res.answer != nil, res.Body)
			}
		})
	}
}

func TestClientErrorDoesNotTripBreaker(t *testing.T) {
	p := newUpstream(t, status(400))
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 1})
	r := New([]*Target{pt}, settings(1), nil)
	for range 3 {
		res, err := r.Do(context.Background(), chatReq(false))
		if err != nil || res.Status != 400 {
			t.Fatalf("got %v %v", res, err)
		}
	}
	if st := pt.Health.BreakerState(); st != "closed" {
		t.Fatalf("breaker %s after client errors", st)
	}
	if c := pt.Health.Snapshot().BreakerCounts; c.TotalFailures != 0 || c.TotalSuccesses != 0 {
		t.Fatalf("client errors counted: %+v", c)
	}
}

func TestBreakerOpensAndSkips(t *testing.T) {
	p := newUpstream(t, status(500))
	fb := newUpstream(t, answer)
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 2})
	r := New([]*Target{pt, newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
	for range 2 {
		if _, err := r.Do(context.Background(), chatReq(false)); err != nil {
			t.Fatal(err)
		}
	}
	if st := pt.Health.BreakerState(); st != "open" {
		t.Fatalf("breaker = %s, want open", st)
	}
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 2 {
		t.Fatalf("open circuit still called the primary: %d calls", p.calls.Load())
	}
	if res.Failover.Reason != classify.CircuitOpen || !res.Attempts[0].Skipped || res.Target.ID != "fallback" {
		t.Fatalf("got %+v attempts %+v", res.Failover, res.Attempts)
	}
}

func TestRetryAfterCooldownSkips(t *testing.T) {
	p := newUpstream(t, status(429, "Retry-After", "30"))
	fb := newUpstream(t, answer)
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
	for range 2 {
		if _, err := r.Do(context.Background(), chatReq(false)); err != nil {
			t.Fatal(err)
		}
	}
	if p.calls.Load() != 1 {
		t.Fatalf("primary called %d times during its Retry-After cooldown", p.calls.Load())
	}
}

func TestUnhealthySkipped(t *testing.T) {
	p := newUpstream(t, answer)
	fb := newUpstream(t, answer)
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{probe: true})
	pt.Health.RecordProbe(time.Now(), time.Millisecond, errors.New("probe: status 401"))
	r := New([]*Target{pt, newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 0 || res.Failover.Reason != classify.ProviderUnhealthy || res.Model != "claude-sonnet-4-20250514" {
		t.Fatalf("calls %d failover %+v model %s", p.calls.Load(), res.Failover, res.Model)
	}
	// Recovery: a passing probe (threshold 1) brings traffic back.
	pt.Health.RecordProbe(time.Now(), time.Millisecond, nil)
	res, err = r.Do(context.Background(), chatReq(false))
	if err != nil || res.Target.ID != "primary" || res.Failover.Triggered {
		t.Fatalf("after recovery: %+v %v", res, err)
	}
}

func TestAllFailNamesEveryTarget(t *testing.T) {
	p := newUpstream(t, status(500))
	fb := newUpstream(t, status(401))
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
	_, err := r.Do(context.Background(), chatReq(false))
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := re.Error()
	for _, want := range []string{"primary upstream_error (HTTP 500)", "fallback auth_error (HTTP 401)"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%q does not name %q", msg, want)
		}
	}
}

func TestClientCancelNotCounted(t *testing.T) {
	started := make(chan struct{}, 1)
	p := newUpstream(t, func(w http.ResponseWriter, r *http.Request, m string) { started <- struct{}{}; hang(w, r, m) })
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 1})
	r := New([]*Target{pt}, settings(1), nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := r.Do(ctx, chatReq(false))
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
	if c := pt.Health.Snapshot().BreakerCounts; c.TotalFailures != 0 || pt.Health.BreakerState() != "closed" {
		t.Fatalf("cancellation counted against the provider: %+v", c)
	}
}

func drain(t *testing.T, s *Stream) (string, error) {
	t.Helper()
	defer s.Close()
	var b strings.Builder
	for {
		chunk, err := s.Next()
		b.Write(chunk)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name         string
		primary      func(http.ResponseWriter, *http.Request, string)
		wantProvider string
		wantErr      bool // error after commit
		wantReason   classify.Reason
		wantFBCalls  int64
	}{
		{name: "complete", primary: streamChunks(3, false), wantProvider: "primary"},
		{name: "reset before first byte fails over", primary: reset, wantProvider: "fallback", wantReason: classify.ConnectionError, wantFBCalls: 1},
		{name: "empty 200 body fails over", primary: streamChunks(0, true), wantProvider: "fallback", wantReason: classify.ConnectionError, wantFBCalls: 1},
		{name: "reset after first byte does not fail over", primary: streamChunks(2, true), wantProvider: "primary", wantErr: true},
		{name: "503 fails over", primary: status(503), wantProvider: "fallback", wantReason: classify.UpstreamError, wantFBCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newUpstream(t, tc.primary)
			fb := newUpstream(t, streamChunks(2, false))
			pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 1})
			r := New([]*Target{pt, newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), nil)
			res, err := r.Do(context.Background(), chatReq(true))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stream == nil || res.Target.ID != tc.wantProvider || res.Failover.Reason != tc.wantReason {
				t.Fatalf("provider %s failover %+v", res.Target.ID, res.Failover)
			}
			out, err := drain(t, res.Stream)
			if (err != nil) != tc.wantErr {
				t.Fatalf("stream err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !strings.HasSuffix(out, "data: [DONE]\n\n") {
				t.Fatalf("stream did not end with [DONE]: %q", out)
			}
			if tc.wantErr && pt.Health.BreakerState() != "open" {
				t.Fatalf("a stream broken mid-way must count against the provider; breaker %s", pt.Health.BreakerState())
			}
			if fb.calls.Load() != tc.wantFBCalls {
				t.Fatalf("fallback calls %d, want %d", fb.calls.Load(), tc.wantFBCalls)
			}
		})
	}
}

func TestFirstTokenTimeout(t *testing.T) {
	p := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	fb := newUpstream(t, streamChunks(1, false))
	s := settings(1)
	s.FirstTokenTimeout = 100 * time.Millisecond
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, s, nil)
	res, err := r.Do(context.Background(), chatReq(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, res.Stream); err != nil {
		t.Fatal(err)
	}
	if res.Target.ID != "fallback" || res.Failover.Reason != classify.UpstreamTimeout {
		t.Fatalf("got %s %+v", res.Target.ID, res.Failover)
	}
}

func TestStreamClientCancelNotCounted(t *testing.T) {
	p := newUpstream(t, func(w http.ResponseWriter, r *http.Request, m string) {
		streamChunks(1, false)
		w.Header().Set("Content-Type", "text/event-stream")
		// A content delta commits the stream (a lifecycle frame alone would be held).
		fmt.Fprint(w, "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 1})
	r := New([]*Target{pt}, settings(0), nil)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := r.Do(ctx, chatReq(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Stream.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, _ = drain(t, res.Stream)
	if pt.Health.BreakerState() != "closed" {
		t.Fatalf("client cancel tripped the breaker")
	}
}

// recObserver records observer calls as strings.
type recObserver struct {
	calls []string
	ends  []Attempt
}

type ctxKey struct{}

func (o *recObserver) StartAttempt(ctx context.Context, a *Attempt) context.Context {
	o.calls = append(o.calls, fmt.Sprintf("start %d %s", a.N, a.Target))
	return context.WithValue(ctx, ctxKey{}, a.N)
}

func (o *recObserver) EndAttempt(ctx context.Context, a *Attempt) {
	n, _ := ctx.Value(ctxKey{}).(int)
	o.calls = append(o.calls, fmt.Sprintf("end %d %s %s ctx=%d", a.N, a.Target, a.Outcome.Reason, n))
	o.ends = append(o.ends, *a)
}

func (o *recObserver) Failover(_ context.Context, f FailoverStep) {
	o.calls = append(o.calls, fmt.Sprintf("failover %s->%s %s %s->%s", f.From, f.To, f.Reason, f.FromModel, f.ToModel))
}

func TestObserverRecordsEveryAttempt(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			p := newUpstream(t, status(500))
			un := newUpstream(t, answer)
			h := answer
			if stream {
				h = streamChunks(2, false)
			}
			fb := newUpstream(t, h)
			unhealthy := newTarget(t, "sick", 2, un.URL, targetOpts{probe: true})
			unhealthy.Health.RecordProbe(time.Now(), 0, errors.New("down"))
			obs := &recObserver{}
			s := settings(2)
			r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), unhealthy, newTarget(t, "fallback", 3, fb.URL, targetOpts{})}, s, obs)
			res, err := r.Do(context.Background(), chatReq(stream))
			if err != nil {
				t.Fatal(err)
			}
			if stream {
				if _, err := drain(t, res.Stream); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{
				"start 1 primary",
				"end 1 primary upstream_error ctx=1",
				"failover primary->sick upstream_error gpt-4o-mini->claude-sonnet-4-20250514",
				"end 2 sick provider_unhealthy ctx=0",
				"failover sick->fallback provider_unhealthy claude-sonnet-4-20250514->claude-sonnet-4-20250514",
				"start 3 fallback",
				"end 3 fallback  ctx=3",
			}
			if strings.Join(obs.calls, "\n") != strings.Join(want, "\n") {
				t.Fatalf("observer calls:\n%s\nwant:\n%s", strings.Join(obs.calls, "\n"), strings.Join(want, "\n"))
			}
			last := obs.ends[len(obs.ends)-1]
			if last.Usage.OutputTokens == 0 && !stream {
				t.Fatalf("usage not recorded: %+v", last)
			}
			if stream && (last.FirstByte <= 0 || last.Duration < last.FirstByte || !last.Stream) {
				t.Fatalf("stream timings: %+v", last)
			}
		})
	}
}

func TestRequestDeadlineStopsFailover(t *testing.T) {
	p := newUpstream(t, hang)
	fb := newUpstream(t, answer)
	s := settings(1)
	s.AttemptTimeout = 5 * time.Second
	s.RequestTimeout = 100 * time.Millisecond
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, s, nil)
	_, err := r.Do(context.Background(), chatReq(false))
	var re *Error
	if !errors.As(err, &re) || re.Attempts[0].Outcome.Reason != classify.UpstreamTimeout {
		t.Fatalf("err = %v", err)
	}
	if fb.calls.Load() != 0 {
		t.Fatal("fallback tried after the request deadline passed")
	}
}

// TestWholeAnswerBrokenBodyKeepsStatus: a non-streaming answer whose body
// breaks off after its 200 status line is recorded with that status, so
// that it is not told as a connection refused or reset before any answer.
func TestWholeAnswerBrokenBodyKeepsStatus(t *testing.T) {
	p := newUpstream(t, func(w http.ResponseWriter, r *http.Request, model string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"id":"x","choices":[`)
		_ = http.NewResponseController(w).Flush()
		reset(w, r, model)
	})
	fb := newUpstream(t, answer)
	obs := &recObserver{}
	r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, settings(1), obs)
	res, err := r.Do(context.Background(), chatReq(false))
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if len(obs.ends) != 2 {
		t.Fatalf("%d attempts, want 2", len(obs.ends))
	}
	if out := obs.ends[0].Outcome; out.Reason != classify.ConnectionError || out.Status != http.StatusOK {
		t.Errorf("broken body recorded as %+v, want connection_error with status 200", out)
	}
}
