package faults

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/internal/proctest"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// The timeouts scaled down to keep the suite fast, their ratios
// kept: the first content and a stall are given a fifth of what a silent
// non-streaming attempt is given, and the whole request twice that
// (request_timeout_seconds' default, timeout × (1 + max_attempts)).
// max_retry_after_seconds stays the 5: the short Retry-After below
// (2 s) is waited out, the long one (30 s) is not.
const (
	firstToken     = 2 * time.Second // failover.first_token_timeout_seconds
	streamIdle     = 2 * time.Second // failover.stream_idle_timeout_seconds
	attemptTimeout = 5 * time.Second // failover.retry.timeout_seconds
	requestTimeout = 2 * attemptTimeout
	shortRetry     = 2  // a Retry-After the gateway waits out (≤ max_retry_after_seconds)
	longRetry      = 30 // one it does not
	// slack is added to every upper bound: the machine is shared and
	// loaded; the bounds say "well before the next timeout", not "fast".
	slack = 1500 * time.Millisecond
)

// faultsConfig is the configuration (same_target.max_retries 1,
// max_retry_after_seconds 5, stream idle and first-token timeouts,
// midstream on, context-length failover) over the two simulators, each
// fault model mapped to its own fallback model so that the fallback's
// counters are per fault too. The breakers' threshold is out of reach: the
// faults run in parallel against one primary, and a circuit opened by one
// would skip the primary for the others. TestPrimaryFlaps tests the
// breaker.
func faultsConfig(models []string) func(p, f, store string) string {
	return func(p, f, store string) string {
		var mapping strings.Builder
		for _, m := range models {
			fmt.Fprintf(&mapping, "      %s: %s\n", m, fallbackModel(m))
		}
		return fmt.Sprintf(`version: '1'
providers:
  targets:
    - id: %s
      provider: openai
      base_url: %s
      secret_key_ref: {env: OPENAI_API_KEY}
      circuit_breaker: {consecutive_failures: 100000}
    - id: %s
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      circuit_breaker: {consecutive_failures: 100000}
  failover:
    enabled: true
    strategy: priority
    first_token_timeout_seconds: %g
    stream_idle_timeout_seconds: %g
    midstream:
      enabled: true
    on_context_length_exceeded: failover
    model_mapping:
%s    retry:
      max_attempts: 1
      timeout_seconds: %g
      same_target:
        max_retries: 1
        max_retry_after_seconds: 5
server:
  port: 0
events:
  path: %s
telemetry:
  prometheus:
    enabled: true
`, primaryID, p, fallbackID, f, firstToken.Seconds(), streamIdle.Seconds(), mapping.String(), attemptTimeout.Seconds(), store)
	}
}

// fallbackModel is the model the fallback is asked for when the client
// asked for m.
func fallbackModel(m string) string { return "fb-" + m }

// capital is the prompt of the cases that continue a stream on the
// fallback: both simulator kinds answer it with the same text, so the
// stitched answer must be it byte for byte.
const capital = "What is the capital of France?"

// by says who must have answered.
type by int

const (
	nobody by = iota
	primary
	fallback
)

// faultCase is one fault, streaming or not.
type faultCase struct {
	name   string
	stream bool
	prompt string // default: one naming the case, so the text says who answered
	// primaryFault and fallbackFault are set on the case's model (and the
	// fallback's model for it) before the request.
	primaryFault, fallbackFault *sim.Fault

	// What the client must receive.
	status int // default 200
	by     by
	// partial is the text a refused continuation leaves the client with.
	partial string
	// errCode is the error code the client must get (body or in-band
	// event); errHas/errNot are substrings its message must (not) hold.
	errCode, errHas, errNot string

	// The attempts the simulators must have seen for the case's model.
	primaryAttempts, fallbackAttempts, fallbackPrefills int64

	// Bounds of the time the client waited: at least min, at most max.
	min, max time.Duration

	// The event: its attempts (attemptsOf), failover reason ("" = none),
	// error code, and the mid-stream seam when one is expected.
	attempts  []string
	reason    string
	eventErr  string
	midstream *events.Midstream

	// then, when set, runs after the checks (e.g. a second request).
	then func(t *testing.T, s *stack, c faultCase)
}

func (c faultCase) model() string {
	m := "f-" + c.name
	if c.stream {
		m += "-stream"
	}
	return m
}

func (c faultCase) fullName() string {
	if c.stream {
		return c.name + "/stream"
	}
	return c.name + "/json"
}

// both returns c for a JSON answer and for a stream, fitted by each.
func both(c faultCase, json, stream func(*faultCase)) []faultCase {
	j, s := c, c
	s.stream = true
	if json != nil {
		json(&j)
	}
	if stream != nil {
		stream(&s)
	}
	return []faultCase{j, s}
}

// faultCases is the table: the sixteen faults of issue 17 (the flapping
// primary is TestPrimaryFlaps; fail-over accounting is checked on every
// case and in TestFaults' tally), streaming and not where both apply.
func faultCases() []faultCase {
	var cs []faultCase
	add := func(c ...faultCase) { cs = append(cs, c...) }

	// 1. 429 with a short Retry-After: waited out, answered by the primary.
	add(both(faultCase{name: "429-retry-after",
		primaryFault: &sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: shortRetry, Count: 1},
		by:           primary, primaryAttempts: 2,
		min: shortRetry * time.Second, max: shortRetry*time.Second + slack,
		attempts: []string{"p rate_limited 429", "p ok r1"},
	}, nil, nil)...)
	// 1b. A Retry-After beyond max_retry_after_seconds: fail over at once,
	// and the primary cools down for this model only.
	add(both(faultCase{name: "429-long-retry-after",
		primaryFault: &sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: longRetry},
		by:           fallback, primaryAttempts: 1, fallbackAttempts: 1,
		max:      slack,
		attempts: []string{"p rate_limited 429", "f ok"}, reason: "rate_limited",
		then: checkModelCooldown,
	}, nil, nil)...)
	// 2. 429 without Retry-After: retried after the jittered backoff.
	add(both(faultCase{name: "429-no-retry-after",
		primaryFault: &sim.Fault{Kind: sim.FaultError, Status: 429, Count: 1},
		by:           primary, primaryAttempts: 2, max: slack,
		attempts: []string{"p rate_limited 429", "p ok r1"},
	}, nil, nil)...)
	// 3. 500 once.
	add(both(faultCase{name: "500-once",
		primaryFault: &sim.Fault{Kind: sim.FaultError, Status: 500, Count: 1},
		by:           primary, primaryAttempts: 2, max: slack,
		attempts: []string{"p upstream_error 500", "p ok r1"},
	}, nil, nil)...)
	// 4. 503 persistent: one retry, then the fallback.
	add(both(faultCase{name: "503-persistent",
		primaryFault: &sim.Fault{Kind: sim.FaultError, Status: 503},
		by:           fallback, primaryAttempts: 2, fallbackAttempts: 1, max: slack,
		attempts: []string{"p upstream_error 503", "p upstream_error 503 r1", "f ok"}, reason: "upstream_error",
	}, nil, nil)...)
	// 5. Reset before headers: persistent, and once.
	add(both(faultCase{name: "reset",
		primaryFault: &sim.Fault{Kind: sim.FaultReset},
		by:           fallback, primaryAttempts: 2, fallbackAttempts: 1, max: slack,
		attempts: []string{"p connection_error", "p connection_error r1", "f ok"}, reason: "connection_error",
	}, nil, nil)...)
	add(both(faultCase{name: "reset-once",
		primaryFault: &sim.Fault{Kind: sim.FaultReset, Count: 1},
		by:           primary, primaryAttempts: 2, max: slack,
		attempts: []string{"p connection_error", "p ok r1"},
	}, nil, nil)...)
	// 6. No response at all: a silent target is not asked again.
	add(both(faultCase{name: "hang",
		primaryFault: &sim.Fault{Kind: sim.FaultHang},
		by:           fallback, primaryAttempts: 1, fallbackAttempts: 1,
		attempts: []string{"p upstream_timeout", "f ok"}, reason: "upstream_timeout",
	}, func(c *faultCase) {
		c.min, c.max = attemptTimeout, attemptTimeout+slack
	}, func(c *faultCase) {
		c.min, c.max = firstToken, firstToken+slack
	})...)
	// 7. Slow first token: a stream whose first content comes after
	// first_token_timeout fails over then, whether its headers (and role
	// chunk) came at once or not; a JSON answer within the attempt
	// timeout is waited for.
	add(faultCase{name: "slow-first-content", stream: true,
		primaryFault: &sim.Fault{Kind: sim.FaultSlowFirstContent, Delay: 2 * firstToken},
		by:           fallback, primaryAttempts: 1, fallbackAttempts: 1,
		min: firstToken, max: firstToken + slack,
		attempts: []string{"p upstream_timeout", "f ok"}, reason: "upstream_timeout",
	}, faultCase{name: "slow-first-token", stream: true,
		primaryFault: &sim.Fault{Kind: sim.FaultSlowFirstToken, Delay: 2 * firstToken},
		by:           fallback, primaryAttempts: 1, fallbackAttempts: 1,
		min: firstToken, max: firstToken + slack,
		attempts: []string{"p upstream_timeout", "f ok"}, reason: "upstream_timeout",
	}, faultCase{name: "slow-first-token",
		primaryFault: &sim.Fault{Kind: sim.FaultSlowFirstToken, Delay: time.Second},
		by:           primary, primaryAttempts: 1,
		min: time.Second, max: time.Second + slack,
		attempts: []string{"p ok"},
	})
	// 8. Stream cut mid-answer: continued on the fallback (prefill), one
	// answer byte for byte; a cut JSON body is retried, then fails over.
	add(both(faultCase{name: "cut", prompt: capital,
		primaryFault: &sim.Fault{Kind: sim.FaultCut, AfterChunks: 3},
		by:           fallback, max: slack, reason: "connection_error",
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts = 2, 1
		c.attempts = []string{"p connection_error 200", "p connection_error 200 r1", "f ok"}
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts, c.fallbackPrefills = 1, 1, 1
		c.attempts = []string{"p connection_error", "f ok"}
		c.midstream = &events.Midstream{From: primaryID, To: fallbackID, Chars: len("The capital "), Interruption: "stream_cut", Outcome: "ok"}
	})...)
	// 9. Stream stall: detected after stream_idle_timeout, continued; a
	// JSON body that stalls is a silent upstream (attempt timeout).
	add(both(faultCase{name: "stall", prompt: capital,
		primaryFault: &sim.Fault{Kind: sim.FaultStall, AfterChunks: 3},
		by:           fallback, reason: "upstream_timeout",
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts = 1, 1
		c.min, c.max = attemptTimeout, attemptTimeout+slack
		c.attempts = []string{"p upstream_timeout 200", "f ok"}
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts, c.fallbackPrefills = 1, 1, 1
		c.min, c.max = streamIdle, streamIdle+slack
		c.attempts = []string{"p upstream_timeout", "f ok"}
		c.midstream = &events.Midstream{From: primaryID, To: fallbackID, Chars: len("The capital "), Interruption: "stall", Outcome: "ok"}
	})...)
	// 10. Malformed chunk: after content, the stream is broken there and
	// continued; before content it is retried, then fails over; a
	// malformed JSON body likewise.
	add(both(faultCase{name: "malformed", prompt: capital,
		primaryFault: &sim.Fault{Kind: sim.FaultMalformed, AfterChunks: 3},
		by:           fallback, max: slack, reason: "upstream_error",
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts = 2, 1
		c.attempts = []string{"p upstream_error 200", "p upstream_error 200 r1", "f ok"}
	}, func(c *faultCase) {
		c.primaryAttempts, c.fallbackAttempts, c.fallbackPrefills = 1, 1, 1
		c.attempts = []string{"p upstream_error", "f ok"}
		c.midstream = &events.Midstream{From: primaryID, To: fallbackID, Chars: len("The capital "), Interruption: "malformed", Outcome: "ok"}
	})...)
	add(faultCase{name: "malformed-first", stream: true, prompt: capital,
		primaryFault: &sim.Fault{Kind: sim.FaultMalformed, AfterChunks: 1},
		by:           fallback, primaryAttempts: 2, fallbackAttempts: 1, max: slack,
		attempts: []string{"p upstream_error 200", "p upstream_error 200 r1", "f ok"}, reason: "upstream_error",
	})
	// 11. A stream without [DONE] that finished is complete.
	add(both(faultCase{name: "no-done",
		primaryFault: &sim.Fault{Kind: sim.FaultNoDone},
		by:           primary, primaryAttempts: 1, max: slack,
		attempts: []string{"p ok"},
	}, nil, nil)...)
	// 12. Context length exceeded: on to the larger-context fallback.
	add(both(faultCase{name: "context-length",
		primaryFault: &sim.Fault{Kind: sim.FaultContextLength},
		by:           fallback, primaryAttempts: 1, fallbackAttempts: 1, max: slack,
		attempts: []string{"p context_length 400", "f ok"}, reason: "context_length",
	}, nil, nil)...)
	// 13. Content filter: the 400 goes back as is, never fails over.
	add(both(faultCase{name: "content-policy",
		primaryFault: &sim.Fault{Kind: sim.FaultContentPolicy},
		status:       http.StatusBadRequest, errCode: "content_policy_violation",
		primaryAttempts: 1, max: slack,
		attempts: []string{"p client_error 400"}, eventErr: "invalid_request_error",
	}, nil, nil)...)
	add(faultCase{name: "content-filter-azure",
		primaryFault: &sim.Fault{Kind: sim.FaultContentPolicy, Code: "content_filter"},
		status:       http.StatusBadRequest, errCode: "content_filter",
		primaryAttempts: 1, max: slack,
		attempts: []string{"p client_error 400"}, eventErr: "invalid_request_error",
	})
	// 14. A fallback that refuses prefill: the stream ends with an in-band
	// error naming the original cut; a JSON answer never needs prefill.
	add(both(faultCase{name: "refuse-prefill", prompt: capital,
		primaryFault:  &sim.Fault{Kind: sim.FaultCut, AfterChunks: 3},
		fallbackFault: &sim.Fault{Kind: sim.FaultRefusePrefill},
		max:           slack, reason: "connection_error",
	}, func(c *faultCase) {
		c.by, c.primaryAttempts, c.fallbackAttempts = fallback, 2, 1
		c.attempts = []string{"p connection_error 200", "p connection_error 200 r1", "f ok"}
	}, func(c *faultCase) {
		c.by, c.primaryAttempts, c.fallbackAttempts, c.fallbackPrefills = nobody, 1, 1, 1
		c.partial = "The capital "
		c.errCode, c.errHas, c.errNot = "stream_interrupted", primaryID, "prefill"
		c.eventErr = "stream_interrupted"
		c.attempts = []string{"p connection_error", "f client_error 400"}
		c.midstream = &events.Midstream{From: primaryID, To: fallbackID, Chars: len("The capital "), Interruption: "stream_cut", Outcome: "refused"}
	})...)
	return cs
}

// checkModelCooldown sends the case's request again: the primary's
// Retry-After cooldown benches only that model, so the primary is skipped
// without a call and the fallback answers at once, while every other case
// keeps the primary (the models run concurrently on it).
func checkModelCooldown(t *testing.T, s *stack, c faultCase) {
	r := s.chat(t, c.model(), c.promptText(), c.stream)
	checkNoTruncatedSuccess(t, r, c.promptText())
	if r.status != http.StatusOK || r.text != answer(sim.KindAnthropic, c.promptText()) {
		t.Fatalf("during the cooldown: %d %q", r.status, r.text)
	}
	if got := s.primary.modelStats(t, c.model()).Attempts; got != 1 {
		t.Errorf("during the cooldown the primary saw %d attempts of %s in all, want 1", got, c.model())
	}
	if got := attemptsOf(s.event(t, r)); !slices.Equal(got, []string{"p rate_limited skipped", "f ok"}) {
		t.Errorf("cooldown event attempts %q", got)
	}
}

func (c faultCase) promptText() string {
	if c.prompt != "" {
		return c.prompt
	}
	return "Tell me about fault " + c.fullName() + "."
}

// TestFaults runs every fault of the table in parallel against one stack,
// then checks that the accounting adds up across all of them.
func TestFaults(t *testing.T) {
	needKT(t)
	t.Parallel()
	cases := faultCases()
	var models []string
	for _, c := range cases {
		models = append(models, c.model())
	}
	s := startStack(t, faultsConfig(models))
	var pf, ff []sim.Fault
	for _, c := range cases {
		if c.primaryFault != nil {
			f := *c.primaryFault
			f.Model = c.model()
			pf = append(pf, f)
		}
		if c.fallbackFault != nil {
			f := *c.fallbackFault
			f.Model = fallbackModel(c.model())
			ff = append(ff, f)
		}
	}
	proctest.Admin(t, http.MethodPut, s.primary.admin+"/faults", pf)
	proctest.Admin(t, http.MethodPut, s.fallback.admin+"/faults", ff)

	t.Run("fault", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.fullName(), func(t *testing.T) {
				t.Parallel()
				runCase(t, s, c)
			})
		}
	})
	t.Run("accounting", func(t *testing.T) { checkAccounting(t, s) })
}

// runCase sends the case's request and checks the answer, the simulators'
// counters, the time and the event.
func runCase(t *testing.T, s *stack, c faultCase) {
	prompt := c.promptText()
	r := s.chat(t, c.model(), prompt, c.stream)
	t.Logf("%s: %d in %s", c.fullName(), r.status, r.elapsed.Round(time.Millisecond))
	checkNoTruncatedSuccess(t, r, prompt)

	// What the client received.
	wantStatus := c.status
	if wantStatus == 0 {
		wantStatus = http.StatusOK
	}
	if r.status != wantStatus {
		t.Errorf("status %d, want %d\n%s", r.status, wantStatus, r.body)
	}
	switch c.by {
	case primary, fallback:
		kind := map[by]sim.Kind{primary: sim.KindOpenAI, fallback: sim.KindAnthropic}[c.by]
		if want := answer(kind, prompt); r.text != want {
			t.Errorf("answer %q, want %s's %q\n%s", r.text, kind, want, r.body)
		}
		if c.stream && !r.done {
			t.Errorf("stream without [DONE]\n%s", r.body)
		}
		if r.errCode != "" {
			t.Errorf("error %q in a complete answer", r.errCode)
		}
	case nobody:
		if r.text != c.partial {
			t.Errorf("text %q, want %q\n%s", r.text, c.partial, r.body)
		}
	}
	if c.stream && r.status == http.StatusOK && (len(r.ids) != 1 || len(r.models) != 1) {
		t.Errorf("one answer must carry one id and one model: ids %v, models %v", r.ids, r.models)
	}
	if r.errCode != c.errCode {
		t.Errorf("error code %q (%q), want %q", r.errCode, r.errMsg, c.errCode)
	}
	if c.errHas != "" && !strings.Contains(r.errMsg, c.errHas) {
		t.Errorf("error message %q does not name %q", r.errMsg, c.errHas)
	}
	if c.errNot != "" && strings.Contains(strings.ToLower(r.errMsg), c.errNot) {
		t.Errorf("error message %q names %q", r.errMsg, c.errNot)
	}

	// Timing, as the client measured it.
	if r.elapsed < c.min {
		t.Errorf("answered after %s, want at least %s", r.elapsed, c.min)
	}
	if c.max > 0 && r.elapsed > c.max {
		t.Errorf("answered after %s, want at most %s", r.elapsed, c.max)
	}

	// The event.
	e := s.event(t, r)
	if e.Status != wantStatus {
		t.Errorf("event status %d, want %d", e.Status, wantStatus)
	}
	if got := attemptsOf(e); !slices.Equal(got, c.attempts) {
		t.Errorf("event attempts %q, want %q", got, c.attempts)
	}
	wantProvider := map[by]string{primary: primaryID, fallback: fallbackID}[c.by]
	if c.by != nobody && e.Provider != wantProvider {
		t.Errorf("event provider %q, want %q", e.Provider, wantProvider)
	}
	if e.Failover.Triggered != (c.reason != "") || string(e.Failover.Reason) != c.reason {
		t.Errorf("event failover %+v, want reason %q", e.Failover, c.reason)
	}
	if e.Error != c.eventErr {
		t.Errorf("event error %q, want %q", e.Error, c.eventErr)
	}
	switch {
	case c.midstream == nil && e.Midstream != nil:
		t.Errorf("event midstream %+v, want none", *e.Midstream)
	case c.midstream != nil && (e.Midstream == nil || *e.Midstream != *c.midstream):
		t.Errorf("event midstream %+v, want %+v", e.Midstream, *c.midstream)
	}

	// The attempts each simulator saw, and the event's account of them.
	ps, fs := s.primary.modelStats(t, c.model()), s.fallback.modelStats(t, fallbackModel(c.model()))
	if ps.Attempts != c.primaryAttempts || fs.Attempts != c.fallbackAttempts || fs.Prefills != c.fallbackPrefills {
		t.Errorf("simulators saw primary %d, fallback %d (%d prefilled), want %d, %d (%d)",
			ps.Attempts, fs.Attempts, fs.Prefills, c.primaryAttempts, c.fallbackAttempts, c.fallbackPrefills)
	}
	calls := map[string]int64{}
	for _, a := range e.Attempts {
		if !a.Skipped {
			calls[a.Target]++
		}
	}
	if calls[primaryID] != ps.Attempts || calls[fallbackID] != fs.Attempts {
		t.Errorf("event counts %v calls, the simulators saw primary %d, fallback %d", calls, ps.Attempts, fs.Attempts)
	}
	if c.then != nil && !t.Failed() {
		c.then(t, s, c)
	}
}

// checkAccounting checks fail-over accounting over the whole run: every
// chat request a simulator saw is an attempt of exactly one event, and the
// gateway's failover and retry counters agree with the events.
func checkAccounting(t *testing.T, s *stack) {
	evs := s.events(t)
	calls := map[string]int64{}
	var failovers, retries int
	for _, e := range evs {
		for _, a := range e.Attempts {
			if !a.Skipped {
				calls[a.Target]++
			}
			if a.Retry > 0 {
				retries++
			}
		}
		if e.Failover.Triggered {
			failovers++
		}
	}
	if p := s.primary.stats(t).ChatRequests; calls[primaryID] != p {
		t.Errorf("events hold %d primary attempts, the primary saw %d chat requests", calls[primaryID], p)
	}
	if f := s.fallback.stats(t).ChatRequests; calls[fallbackID] != f {
		t.Errorf("events hold %d fallback attempts, the fallback saw %d chat requests", calls[fallbackID], f)
	}
	m := scrape(t, s)
	if got := m["keeptrusts_retries_total"]; got != float64(retries) {
		t.Errorf("keeptrusts_retries_total %v, events hold %d retries", got, retries)
	}
	if got := m["keeptrusts_failovers_total"]; got != float64(failovers) {
		t.Errorf("keeptrusts_failovers_total %v, %d events failed over", got, failovers)
	}
	t.Logf("%d events: %d failed over, %d retries; primary %d and fallback %d upstream calls",
		len(evs), failovers, retries, calls[primaryID], calls[fallbackID])
}
