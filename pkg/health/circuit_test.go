package health

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// fakeClock is a settable clock shared by a target and its test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 4, 23, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// step is one thing that happens to a target in a scripted test.
type step struct {
	do string // "fail", "ok" (an admitted request), "pass", "probefail", "stale" (a pass that started before now-1s), "wait"
	d  time.Duration
	// want is the circuit state after the step, "" to skip the check.
	want string
}

func fail() step            { return step{do: "fail"} }
func ok() step              { return step{do: "ok"} }
func pass(want string) step { return step{do: "pass", want: want} }
func wait(d time.Duration, want string) step {
	return step{do: "wait", d: d, want: want}
}

// run applies steps to tg on clock, checking the state after each.
func run(t *testing.T, tg *Target, clock *fakeClock, steps []step) {
	t.Helper()
	for i, s := range steps {
		switch s.do {
		case "fail", "ok":
			done, reason := tg.Admit(clock.Now(), "gpt-4o")
			if reason != classify.None {
				t.Fatalf("step %d (%s): Admit refused with %q, circuit %s", i, s.do, reason, tg.BreakerState())
			}
			if s.do == "fail" {
				done(fail500())
			} else {
				done(classify.Success)
			}
		case "pass":
			tg.RecordProbe(clock.Now(), 0, nil)
		case "probefail":
			tg.RecordProbe(clock.Now(), 0, errors.New("probe: status 503"))
		case "stale":
			tg.RecordProbe(clock.Now(), 2*time.Second, nil)
		case "wait":
			clock.Advance(s.d)
		}
		if s.want == "" {
			continue
		}
		if got := tg.BreakerState(); got != s.want {
			t.Fatalf("step %d (%s %v): circuit %s, want %s", i, s.do, s.d, got, s.want)
		}
		open := s.want == "open"
		if avail := tg.Available(clock.Now()); avail == open {
			t.Fatalf("step %d: Available = %v with the circuit %s", i, avail, s.want)
		}
		if open {
			if _, reason := tg.Admit(clock.Now(), "gpt-4o"); reason != classify.CircuitOpen {
				t.Fatalf("step %d: Admit while open = %q, want circuit_open", i, reason)
			}
		}
	}
}

// TestCircuitOpenPeriod walks the breaker's state machine on a fake clock:
// open_seconds as the default open period, probes ending it early, the
// doubling after a failed trial and its reset on close.
func TestCircuitOpenPeriod(t *testing.T) {
	const open = 30 * time.Second
	tests := []struct {
		name    string
		probes  bool
		maxOpen time.Duration
		steps   []step
	}{
		{
			name: "without probes the open period runs out",
			steps: []step{
				fail(), {want: "open"},
				wait(open-time.Second, "open"),
				wait(time.Second, "half-open"),
				ok(), {want: "closed"},
			},
		},
		{
			name:   "healthy_threshold passing probes end the open period at once",
			probes: true,
			steps: []step{
				fail(), {want: "open"},
				wait(time.Second, "open"),
				pass("open"),
				pass("half-open"),
				ok(), {want: "closed"},
			},
		},
		{
			name:   "a failing probe restarts the count",
			probes: true,
			steps: []step{
				fail(), {want: "open"},
				pass("open"),
				{do: "probefail", want: "open"},
				pass("open"),
				pass("half-open"),
			},
		},
		{
			name:   "a probe that started before the circuit opened is no evidence",
			probes: true,
			steps: []step{
				fail(), {want: "open"},
				wait(time.Second, "open"),
				{do: "stale", want: "open"},
				pass("open"),
				pass("half-open"),
			},
		},
		{
			name:   "probes that passed before the circuit opened do not count",
			probes: true,
			steps: []step{
				pass("closed"), pass("closed"), pass("closed"),
				fail(), {want: "open"},
				pass("open"),
				pass("half-open"),
			},
		},
		{
			name:    "a failed trial doubles the open period up to the cap, a close resets it",
			maxOpen: 100 * time.Second,
			steps: []step{
				fail(), wait(open, "half-open"),
				fail(), {want: "open"},
				wait(2*open-time.Second, "open"),
				wait(time.Second, "half-open"),
				fail(), wait(100*time.Second-time.Second, "open"), // 120 s capped at 100 s
				wait(time.Second, "half-open"),
				fail(), wait(100*time.Second-time.Second, "open"), // stays at the cap
				wait(time.Second, "half-open"),
				ok(), {want: "closed"},
				fail(), wait(open-time.Second, "open"),
				wait(time.Second, "half-open"),
			},
		},
		{
			name:    "a cap below open_seconds never grows the period",
			maxOpen: 10 * time.Second,
			steps: []step{
				fail(), wait(open, "half-open"),
				fail(), wait(open-time.Second, "open"),
				wait(time.Second, "half-open"),
			},
		},
		{
			name:    "after a probe-led trial fails only the timer ends the open period, until the circuit closes",
			probes:  true,
			maxOpen: 300 * time.Second,
			steps: []step{
				fail(), pass("open"), pass("half-open"),
				fail(), {want: "open"},
				pass("open"), pass("open"), pass("open"),
				wait(2*open-time.Second, "open"),
				wait(time.Second, "half-open"),
				fail(), {want: "open"},
				pass("open"), pass("open"),
				wait(4*open, "half-open"),
				ok(), {want: "closed"},
				fail(), pass("open"), pass("half-open"),
			},
		},
		{
			name:    "a trial that fails after the timer ended the period leaves probes trusted",
			probes:  true,
			maxOpen: 300 * time.Second,
			steps: []step{
				fail(), wait(open, "half-open"),
				fail(), {want: "open"},
				pass("open"), pass("half-open"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			tg := NewTarget(Options{
				ID:      "primary",
				Breaker: BreakerSettings{Enabled: true, ConsecutiveFailures: 1, OpenTimeout: open, MaxOpenTimeout: tt.maxOpen, HalfOpenRequests: 1},
				Probe:   ProbeSettings{Enabled: tt.probes, UnhealthyThreshold: 3, HealthyThreshold: 2},
				Now:     clock.Now,
			})
			run(t, tg, clock, tt.steps)
		})
	}
}

// TestCircuitTransitionsReported checks OnBreakerChange and the log lines
// follow the state machine, with why each transition happened.
func TestCircuitTransitionsReported(t *testing.T) {
	clock := newFakeClock()
	logger, logs := newLogger()
	rec := &recorder[transition]{}
	tg := NewTarget(Options{
		ID:              "primary",
		Breaker:         BreakerSettings{Enabled: true, ConsecutiveFailures: 1, OpenTimeout: 30 * time.Second, MaxOpenTimeout: time.Minute, HalfOpenRequests: 1},
		Probe:           ProbeSettings{Enabled: true, UnhealthyThreshold: 3, HealthyThreshold: 2},
		Now:             clock.Now,
		Logger:          logger,
		OnBreakerChange: func(id string, from, to gobreaker.State) { rec.add(transition{id, from, to}) },
	})
	run(t, tg, clock, []step{
		fail(), pass("open"), pass("half-open"), // evidence
		fail(), wait(time.Minute, "half-open"), // trial failed; timer
		ok(), {want: "closed"},
	})
	C, H, O := gobreaker.StateClosed, gobreaker.StateHalfOpen, gobreaker.StateOpen
	want := []transition{{"primary", C, O}, {"primary", O, H}, {"primary", H, O}, {"primary", O, H}, {"primary", H, C}}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("OnBreakerChange calls = %v, want %v", got, want)
	}
	for _, why := range []string{whyTrip, whyEvidence, whyTrial, whyTimer, whyClosed} {
		if !strings.Contains(logs.String(), fmt.Sprintf("why=%q\n", why)) && !strings.Contains(logs.String(), "why="+why+"\n") {
			t.Errorf("no log line with why=%s:\n%s", why, logs)
		}
	}
	if s := tg.Snapshot(); s.OpenPeriod != 30*time.Second {
		t.Errorf("OpenPeriod after a close = %v, want 30s", s.OpenPeriod)
	}
}

// TestCircuitSnapshotWhileOpen checks what /health reads from an open circuit.
func TestCircuitSnapshotWhileOpen(t *testing.T) {
	clock := newFakeClock()
	tg := NewTarget(Options{
		ID:      "primary",
		Breaker: BreakerSettings{Enabled: true, ConsecutiveFailures: 1, OpenTimeout: 30 * time.Second, MaxOpenTimeout: time.Minute, HalfOpenRequests: 1},
		Probe:   ProbeSettings{Enabled: true, UnhealthyThreshold: 3, HealthyThreshold: 2},
		Now:     clock.Now,
	})
	opened := clock.Now()
	run(t, tg, clock, []step{fail()})
	s := tg.Snapshot()
	if s.Healthy || s.Reason != classify.CircuitOpen || !s.ProbeHealthy || s.Breaker != "open" ||
		!s.OpenUntil.Equal(opened.Add(30*time.Second)) || s.OpenPeriod != 30*time.Second || s.ConsecutiveFailures != 1 {
		t.Fatalf("snapshot while open = %+v", s)
	}
	run(t, tg, clock, []step{wait(30*time.Second, "half-open"), fail()})
	s = tg.Snapshot()
	if s.Reason != classify.CircuitOpen || !s.OpenUntil.Equal(clock.Now().Add(time.Minute)) || s.OpenPeriod != time.Minute || s.ConsecutiveFailures != 2 {
		t.Fatalf("snapshot after a failed trial = %+v", s)
	}
}

// TestCircuitRace hammers one target from many goroutines with failures,
// successes and probes while the clock moves, under -race: transitions must
// be reported in a valid order (each starting where the last ended), and
// every admitted request must be reported without deadlock.
func TestCircuitRace(t *testing.T) {
	clock := newFakeClock()
	rec := &recorder[transition]{}
	tg := NewTarget(Options{
		ID:              "p",
		Breaker:         BreakerSettings{Enabled: true, ConsecutiveFailures: 2, OpenTimeout: 10 * time.Millisecond, MaxOpenTimeout: 40 * time.Millisecond, HalfOpenRequests: 2},
		Probe:           ProbeSettings{Enabled: true, UnhealthyThreshold: 1000, HealthyThreshold: 2},
		Now:             clock.Now,
		OnBreakerChange: func(id string, from, to gobreaker.State) { rec.add(transition{id, from, to}) },
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				if done, reason := tg.Admit(clock.Now(), "m"); reason == classify.None {
					if (i+g)%3 == 0 {
						done(classify.Success)
					} else {
						done(fail500())
					}
				}
				_ = tg.Snapshot()
			}
		})
	}
	wg.Go(func() {
		for i := range 300 {
			var err error
			if i%5 == 0 {
				err = errors.New("down")
			}
			tg.RecordProbe(clock.Now(), 0, err)
			clock.Advance(time.Millisecond)
		}
	})
	wg.Wait()
	got := rec.all()
	if len(got) == 0 {
		t.Fatal("no transitions at all")
	}
	prev := gobreaker.StateClosed
	for i, tr := range got {
		valid := tr.from == prev && (tr.from == gobreaker.StateClosed && tr.to == gobreaker.StateOpen ||
			tr.from == gobreaker.StateOpen && tr.to == gobreaker.StateHalfOpen ||
			tr.from == gobreaker.StateHalfOpen && (tr.to == gobreaker.StateOpen || tr.to == gobreaker.StateClosed))
		if !valid {
			t.Fatalf("transition %d %v after %v: invalid sequence %v", i, tr, prev, got)
		}
		prev = tr.to
	}
}

// TestCooldownPerModel checks that a Retry-After cooldown benches the model
// it was given for, not the target: the other models are still admitted.
func TestCooldownPerModel(t *testing.T) {
	tests := []struct {
		name    string
		outcome classify.Outcome
	}{
		{"429 with Retry-After", classify.Outcome{Reason: classify.RateLimited, Status: 429, RetryAfter: 20 * time.Second, Retryable: true, CountsAgainst: true}},
		{"503 with Retry-After", classify.Outcome{Reason: classify.UpstreamError, Status: 503, RetryAfter: 20 * time.Second, Retryable: true, CountsAgainst: true}},
	}
	for _, breaker := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/breaker=%v", tt.name, breaker), func(t *testing.T) {
				t.Parallel()
				clock := newFakeClock()
				tg := NewTarget(Options{ID: "t", Now: clock.Now,
					Breaker: BreakerSettings{Enabled: breaker, ConsecutiveFailures: 5, OpenTimeout: time.Hour}})
				done, _ := tg.Admit(clock.Now(), "gpt-4o")
				done(tt.outcome)
				if _, reason := tg.Admit(clock.Now(), "gpt-4o"); reason != classify.RateLimited {
					t.Fatalf("Admit gpt-4o during its cooldown = %q, want rate_limited", reason)
				}
				done, reason := tg.Admit(clock.Now(), "gpt-4o-mini")
				if reason != classify.None {
					t.Fatalf("Admit gpt-4o-mini during gpt-4o's cooldown = %q, want admitted", reason)
				}
				done(classify.Success)
				if !tg.Available(clock.Now()) {
					t.Error("a model's cooldown made the target unavailable")
				}
				s := tg.Snapshot()
				if !s.Healthy || s.Reason != classify.None || !s.Cooldowns["gpt-4o"].Equal(clock.Now().Add(20*time.Second)) ||
					!slices.Equal(s.CooldownModels(), []string{"gpt-4o"}) {
					t.Fatalf("snapshot = %+v", s)
				}
				clock.Advance(20*time.Second - time.Nanosecond)
				if _, reason := tg.Admit(clock.Now(), "gpt-4o"); reason != classify.RateLimited {
					t.Fatalf("Admit gpt-4o just before the end = %q, want rate_limited", reason)
				}
				clock.Advance(time.Nanosecond)
				done, reason = tg.Admit(clock.Now(), "gpt-4o")
				if reason != classify.None {
					t.Fatalf("Admit gpt-4o after its cooldown = %q, want admitted", reason)
				}
				done(classify.Success)
				if s := tg.Snapshot(); len(s.Cooldowns) != 0 {
					t.Errorf("cooldowns after the end = %v", s.Cooldowns)
				}
			})
		}
	}
}

// TestConsecutiveFailuresCountsRequests checks the /health count: provider
// failures in a row, of probes and real requests alike; client errors and
// cancellations are not the provider's, a pass or success resets it.
func TestConsecutiveFailuresCountsRequests(t *testing.T) {
	type ev struct {
		probe bool
		o     classify.Outcome
		err   error
	}
	req := func(o classify.Outcome) ev { return ev{o: o} }
	probe := func(err error) ev { return ev{probe: true, err: err} }
	down := errors.New("down")
	tests := []struct {
		name   string
		events []ev
		want   int64
	}{
		{"requests failing", []ev{req(fail500()), req(fail500()), req(classify.Status(401, nil))}, 3},
		{"requests and probes add up", []ev{req(fail500()), probe(down), req(classify.Error(t.Context(), errors.New("refused")))}, 3},
		{"client errors and cancellations are not counted", []ev{req(fail500()), req(excl400()), req(canceled()), req(fail500())}, 2},
		{"a successful request resets", []ev{req(fail500()), probe(down), req(classify.Success), req(fail500())}, 1},
		{"a passing probe resets", []ev{req(fail500()), req(fail500()), probe(nil)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := NewTarget(Options{ID: "t",
				Breaker: BreakerSettings{Enabled: true, ConsecutiveFailures: 100, OpenTimeout: time.Hour},
				Probe:   ProbeSettings{Enabled: true, UnhealthyThreshold: 100, HealthyThreshold: 1}})
			for _, e := range tt.events {
				if e.probe {
					tg.RecordProbe(time.Now(), 0, e.err)
					continue
				}
				attempt(t, tg, e.o)
			}
			if got := tg.Snapshot().ConsecutiveFailures; got != tt.want {
				t.Errorf("ConsecutiveFailures = %d, want %d", got, tt.want)
			}
		})
	}
}
