package router

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/sim"
)

func anthropicTarget(t *testing.T, id, url string) *Target {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &Target{
		ID: id, Priority: 2, Adapter: anthropic.New(),
		Endpoint: &provider.Endpoint{BaseURL: url, APIKey: "sk-ant", DefaultMaxTokens: 64, Version: "2023-06-01"},
		Client:   &http.Client{Transport: tr},
		Health:   health.NewTarget(health.Options{ID: id, Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: 100, OpenTimeout: time.Minute, HalfOpenRequests: 1}}),
	}
}

func TestPlanParams(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	ant := anthropicTarget(t, "claude", "http://127.0.0.1:1")
	oai := newTarget(t, "gpt", 1, "http://127.0.0.1:1", targetOpts{})
	tests := []struct {
		name        string
		target      *Target
		body        string
		stream      bool
		first       bool
		mode        string
		noFanOut    bool
		wantDropped []string
		wantRefuse  string // param
		wantSkip    string // param
		wantFanOut  int
		wantAbsent  []string // fields no longer in the body
		wantValues  map[string]string
	}{
		{name: "openai takes everything", target: oai, body: `{"frequency_penalty":1,"n":3,"audio":{}}`, first: true},
		{name: "first choice refuses a droppable field", target: ant, body: `{"frequency_penalty":0.5}`, first: true, wantRefuse: "frequency_penalty"},
		{name: "a harmless value is not a problem", target: ant, body: `{"frequency_penalty":0,"logprobs":false,"logit_bias":{}}`, first: true},
		{name: "failover drops and lists", target: ant, body: `{"frequency_penalty":0.5,"logprobs":true,"seed":7,"top_p":0.5}`,
			wantDropped: []string{"frequency_penalty", "logprobs", "seed"}, wantAbsent: []string{"frequency_penalty", "logprobs"}, wantValues: map[string]string{"seed": "7", "top_p": "0.5"}},
		{name: "always drops on the first choice", target: ant, body: `{"presence_penalty":1}`, first: true, mode: DropAlways,
			wantDropped: []string{"presence_penalty"}, wantAbsent: []string{"presence_penalty"}},
		{name: "never refuses on failover", target: ant, body: `{"presence_penalty":1}`, mode: DropNever, wantRefuse: "presence_penalty"},
		{name: "temperature above 1 is scaled on failover", target: ant, body: `{"temperature":1.8}`, wantValues: map[string]string{"temperature": "0.9"}},
		{name: "temperature in range is kept on failover", target: ant, body: `{"temperature":0.7}`, wantValues: map[string]string{"temperature": "0.7"}},
		{name: "temperature is left to the adapter on a first choice", target: ant, body: `{"temperature":1.8}`, first: true, wantValues: map[string]string{"temperature": "1.8"}},
		{name: "audio skips the target", target: ant, body: `{"modalities":["text","audio"],"audio":{"voice":"alloy"}}`, first: true, wantSkip: "modalities"},
		{name: "n fans out", target: ant, body: `{"n":2}`, wantFanOut: 2, wantAbsent: []string{"n"}},
		{name: "n = 1 is nothing", target: ant, body: `{"n":1}`, wantValues: map[string]string{"n": "1"}},
		{name: "n on a stream skips", target: ant, body: `{"n":2}`, stream: true, wantSkip: "n"},
		{name: "n with fan_out_n off skips", target: ant, body: `{"n":2}`, noFanOut: true, wantSkip: "n"},
		{name: "n too large skips", target: ant, body: `{"n":100}`, wantSkip: "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New([]*Target{tt.target}, Settings{DropParams: tt.mode, NoFanOut: tt.noFanOut}, nil)
			body := `{"model":"m",` + msgs + `,` + strings.TrimPrefix(tt.body, "{")
			req := &Request{Body: []byte(body), Model: "m", Stream: tt.stream}
			plan := r.planParams(tt.target, req, tt.first)
			param := func(re *provider.RequestError) string {
				if re == nil {
					return ""
				}
				return re.Param
			}
			if got := param(plan.refuse); got != tt.wantRefuse {
				t.Fatalf("refuse %q, want %q", got, tt.wantRefuse)
			}
			if got := param(plan.skip); got != tt.wantSkip {
				t.Fatalf("skip %q, want %q", got, tt.wantSkip)
			}
			if tt.wantRefuse != "" && !strings.Contains(plan.refuse.Message, "anthropic") {
				t.Fatalf("refusal does not name the kind: %s", plan.refuse.Message)
			}
			if !slices.Equal(plan.dropped, tt.wantDropped) || plan.fanOut != tt.wantFanOut {
				t.Fatalf("dropped %v fan-out %d, want %v %d", plan.dropped, plan.fanOut, tt.wantDropped, tt.wantFanOut)
			}
			sent := plan.request(req).Body
			if !gjson.ValidBytes(sent) || gjson.GetBytes(sent, "messages.0.content").Str != "hi" {
				t.Fatalf("body %s", sent)
			}
			for _, f := range tt.wantAbsent {
				if gjson.GetBytes(sent, f).Exists() {
					t.Errorf("%s still in %s", f, sent)
				}
			}
			for f, v := range tt.wantValues {
				if got := gjson.GetBytes(sent, f).Raw; got != v {
					t.Errorf("%s = %s, want %s", f, got, v)
				}
			}
			if string(req.Body) != body {
				t.Errorf("the client's body was changed: %s", req.Body)
			}
		})
	}
}

// TestFailoverDropsAndFansOut runs Do with an OpenAI primary that fails and
// an Anthropic simulator behind it: the dropped fields reach the observer
// (the attempt span), temperature is scaled, and n = 2 makes two calls.
func TestFailoverDropsAndFansOut(t *testing.T) {
	s := sim.New(sim.Options{Kind: sim.KindAnthropic})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := newUpstream(t, status(503))
	obs := &lockedObserver{}
	r := New([]*Target{newTarget(t, "gpt", 1, p.URL, targetOpts{}), anthropicTarget(t, "claude", srv.URL())}, settings(1), obs)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"frequency_penalty":0.5,"logprobs":true,"temperature":1.8,"n":2}`
	res, err := r.Do(context.Background(), &Request{Body: []byte(body), Model: "gpt-4o-mini"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if res.Status != 200 || res.Target.ID != "claude" || len(gjson.GetBytes(res.Body, "choices").Array()) != 2 {
		t.Fatalf("status %d from %s: %s", res.Status, res.Target.ID, res.Body)
	}
	var calls []Attempt
	for _, a := range obs.ends {
		if a.Target == "claude" {
			calls = append(calls, a)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d fallback attempts observed, want 2 (one per choice)", len(calls))
	}
	for _, a := range calls {
		if !a.Outcome.OK() || !slices.Equal(a.DroppedParams, []string{"frequency_penalty", "logprobs"}) {
			t.Fatalf("attempt %+v, want ok with frequency_penalty and logprobs dropped", a)
		}
		if !slices.Equal(a.MappedParams, []string{"temperature=1.8->0.9"}) {
			t.Fatalf("attempt mapped %v, want temperature=1.8->0.9", a.MappedParams)
		}
	}
	if len(res.Attempts) != 3 || res.Attempts[0].Outcome.Reason != classify.UpstreamError {
		t.Fatalf("attempts %+v", res.Attempts)
	}
	if st := s.Stats(); st.ChatRequests != 2 {
		t.Fatalf("simulator saw %d calls", st.ChatRequests)
	}
}

// lockedObserver keeps ended attempts; fan-out ends attempts concurrently,
// as concurrent requests do.
type lockedObserver struct {
	mu   sync.Mutex
	ends []Attempt
}

func (o *lockedObserver) StartAttempt(ctx context.Context, _ *Attempt) context.Context { return ctx }
func (o *lockedObserver) Failover(context.Context, FailoverStep)                       {}
func (o *lockedObserver) EndAttempt(_ context.Context, a *Attempt) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends = append(o.ends, *a)
}

// TestErrorNamesUnsupportedField: when targets failed and the rest were
// skipped for a field, the error says which field and why, per target.
func TestErrorNamesUnsupportedField(t *testing.T) {
	p := newUpstream(t, status(503))
	r := New([]*Target{newTarget(t, "gpt", 1, p.URL, targetOpts{}), anthropicTarget(t, "claude", "http://127.0.0.1:1")}, settings(1), nil)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"n":2}`
	_, err := r.Do(context.Background(), &Request{Body: []byte(body), Model: "gpt-4o-mini", Stream: true})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Do: %v, want *Error", err)
	}
	want := "no provider could serve the request: gpt upstream_error (HTTP 503); claude unsupported_request (skipped): field n: n > 1 cannot be streamed from anthropic targets (Anthropic returns one choice per call)"
	if got := e.Error(); got != want {
		t.Fatalf("error\n%s\nwant\n%s", got, want)
	}
	if u := e.Attempts[1].Unsupported; u == nil || u.Param != "n" {
		t.Fatalf("skip %+v", e.Attempts[1])
	}
}
