package health

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// fail500 is a provider failure.
func fail500() classify.Outcome { return classify.Status(500, nil) }

// excl400 is a client error: excluded from the breaker's counts.
func excl400() classify.Outcome { return classify.Status(400, nil) }

// canceled is a client going away: excluded too.
func canceled() classify.Outcome { return classify.Outcome{Reason: classify.Canceled} }

// attempt admits one request at now and reports o; it fails the test when the
// target refuses.
func attempt(t *testing.T, tg *Target, o classify.Outcome) {
	t.Helper()
	done, reason := tg.Admit(time.Now(), "gpt-4o")
	if reason != classify.None {
		t.Fatalf("Admit refused with %q, breaker %s", reason, tg.BreakerState())
	}
	done(o)
}

func newBreakerTarget(t *testing.T, b BreakerSettings) (*Target, *recorder[transition], *logBuffer) {
	t.Helper()
	b.Enabled = true
	logger, logs := newLogger()
	rec := &recorder[transition]{}
	tg := NewTarget(Options{
		ID:      "primary",
		Breaker: b,
		Logger:  logger,
		OnBreakerChange: func(id string, from, to gobreaker.State) {
			rec.add(transition{id, from, to})
		},
	})
	return tg, rec, logs
}

func TestBreakerClosedOpenHalfOpenClosed(t *testing.T) {
	t.Parallel()
	tg, rec, logs := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1})
	if got := tg.BreakerState(); got != "closed" {
		t.Fatalf("initial state = %s, want closed", got)
	}
	attempt(t, tg, fail500())
	attempt(t, tg, fail500())
	if got := tg.BreakerState(); got != "closed" {
		t.Fatalf("state after 2 failures = %s, want closed", got)
	}
	attempt(t, tg, fail500())
	if got := tg.BreakerState(); got != "open" {
		t.Fatalf("state after 3 failures = %s, want open", got)
	}
	if got := tg.BreakerStateValue(); got != 2 {
		t.Errorf("BreakerStateValue open = %d, want 2", got)
	}
	if done, reason := tg.Admit(time.Now(), "gpt-4o"); reason != classify.CircuitOpen || done != nil {
		t.Fatalf("Admit while open = %q (done nil: %v), want circuit_open", reason, done == nil)
	}
	if tg.Available(time.Now()) {
		t.Error("Available while open")
	}
	if !strings.Contains(logs.String(), `msg="circuit open"`) {
		t.Errorf("no log line for the open circuit:\n%s", logs)
	}

	eventually(t, "half-open", func() bool { return tg.BreakerState() == "half-open" })
	if got := tg.BreakerStateValue(); got != 1 {
		t.Errorf("BreakerStateValue half-open = %d, want 1", got)
	}
	if !tg.Available(time.Now()) {
		t.Error("not Available while half-open")
	}
	if !tg.Available(time.Now()) {
		t.Error("Available consumed the half-open trial")
	}
	done, reason := tg.Admit(time.Now(), "gpt-4o")
	if reason != classify.None {
		t.Fatalf("trial Admit = %q, want admitted", reason)
	}
	if _, reason := tg.Admit(time.Now(), "gpt-4o"); reason != classify.CircuitOpen {
		t.Errorf("second Admit during the trial = %q, want circuit_open", reason)
	}
	done(classify.Success)
	if got := tg.BreakerState(); got != "closed" {
		t.Fatalf("state after a successful trial = %s, want closed", got)
	}
	if got := tg.BreakerStateValue(); got != 0 {
		t.Errorf("BreakerStateValue closed = %d, want 0", got)
	}

	want := []transition{
		{"primary", gobreaker.StateClosed, gobreaker.StateOpen},
		{"primary", gobreaker.StateOpen, gobreaker.StateHalfOpen},
		{"primary", gobreaker.StateHalfOpen, gobreaker.StateClosed},
	}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("OnBreakerChange calls = %v, want %v", got, want)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	tg, rec, _ := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 2})
	attempt(t, tg, classify.Status(502, nil))
	eventually(t, "half-open", func() bool { return tg.BreakerState() == "half-open" })
	attempt(t, tg, classify.Success)
	if got := tg.BreakerState(); got != "half-open" {
		t.Fatalf("state after 1 of 2 trial successes = %s, want half-open", got)
	}
	attempt(t, tg, classify.Error(t.Context(), errors.New("connection refused")))
	if got := tg.BreakerState(); got != "open" {
		t.Fatalf("state after a failed trial = %s, want open", got)
	}
	want := []transition{
		{"primary", gobreaker.StateClosed, gobreaker.StateOpen},
		{"primary", gobreaker.StateOpen, gobreaker.StateHalfOpen},
		{"primary", gobreaker.StateHalfOpen, gobreaker.StateOpen},
	}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("OnBreakerChange calls = %v, want %v", got, want)
	}
}

// TestBreakerExcludedTrialFreesSlot checks that a half-open trial ending in a
// client error or cancellation does not use up the trial: otherwise the
// circuit would stay half-open and refuse everything.
func TestBreakerExcludedTrialFreesSlot(t *testing.T) {
	t.Parallel()
	for _, o := range []classify.Outcome{excl400(), canceled()} {
		t.Run(string(o.Reason), func(t *testing.T) {
			t.Parallel()
			tg, _, _ := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1})
			attempt(t, tg, fail500())
			eventually(t, "half-open", func() bool { return tg.BreakerState() == "half-open" })
			attempt(t, tg, o)
			if got := tg.BreakerState(); got != "half-open" {
				t.Fatalf("state after an excluded trial = %s, want half-open", got)
			}
			attempt(t, tg, classify.Success)
			if got := tg.BreakerState(); got != "closed" {
				t.Fatalf("state after a successful trial = %s, want closed", got)
			}
		})
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	t.Parallel()
	S, F, X := classify.Success, fail500(), excl400()
	tests := []struct {
		name     string
		b        BreakerSettings
		outcomes []classify.Outcome
		// tripAt is the index of the outcome that opens the circuit, -1 for never.
		tripAt int
	}{
		{"MinRequests guards small samples", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4}, []classify.Outcome{F, F, F, F}, 3},
		{"ratio reached", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4}, []classify.Outcome{S, F, S, F}, 3},
		{"ratio not reached", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4}, []classify.Outcome{S, S, F, S, F, S, F}, -1},
		{"excluded outcomes do not dilute the ratio", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4}, []classify.Outcome{X, X, X, X, X, X, S, F, S, F}, 9},
		{"excluded outcomes do not reach MinRequests", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.25, MinRequests: 4}, []classify.Outcome{X, X, X, F, X, F, F}, -1},
		{"ratio off", BreakerSettings{ConsecutiveFailures: 100}, []classify.Outcome{F, S, F, S, F, S, F}, -1},
		{"consecutive failures still trip", BreakerSettings{ConsecutiveFailures: 3, FailureRatio: 0.9, MinRequests: 100}, []classify.Outcome{S, F, F, F}, 3},
		{"zero ConsecutiveFailures means one", BreakerSettings{}, []classify.Outcome{S, S, F}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.b.OpenTimeout = time.Hour
			tg, _, _ := newBreakerTarget(t, tt.b)
			for i, o := range tt.outcomes {
				attempt(t, tg, o)
				open := tg.BreakerState() == "open"
				if open != (i >= tt.tripAt && tt.tripAt >= 0) {
					t.Fatalf("after outcome %d (%q) open = %v, want trip at %d; counts %+v", i, o.Reason, open, tt.tripAt, tg.Snapshot().BreakerCounts)
				}
				if open {
					return
				}
			}
		})
	}
}

func TestBreakerExcludedOutcomes(t *testing.T) {
	t.Parallel()
	tg, rec, _ := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	attempt(t, tg, fail500())
	for _, o := range []classify.Outcome{excl400(), classify.Status(404, nil), classify.Status(422, nil), canceled()} {
		attempt(t, tg, o)
	}
	attempt(t, tg, fail500())
	got := tg.Snapshot().BreakerCounts
	want := gobreaker.Counts{Requests: 6, TotalExclusions: 4, TotalFailures: 2, ConsecutiveFailures: 2}
	if got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if s := tg.BreakerState(); s != "closed" {
		t.Errorf("state = %s, want closed", s)
	}
	attempt(t, tg, fail500())
	if s := tg.BreakerState(); s != "open" {
		t.Errorf("state after the third provider failure = %s, want open", s)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("OnBreakerChange called %d times, want 1", n)
	}
}

func TestBreakerSuccessCounts(t *testing.T) {
	t.Parallel()
	tg, _, _ := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	attempt(t, tg, fail500())
	attempt(t, tg, fail500())
	attempt(t, tg, classify.Success)
	attempt(t, tg, fail500())
	attempt(t, tg, fail500())
	got := tg.Snapshot().BreakerCounts
	want := gobreaker.Counts{Requests: 5, TotalSuccesses: 1, TotalFailures: 4, ConsecutiveFailures: 2}
	if got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if s := tg.BreakerState(); s != "closed" {
		t.Errorf("a success did not reset the consecutive failures: state %s", s)
	}
}

func TestAdmitRetryAfterCooldown(t *testing.T) {
	t.Parallel()
	for _, breaker := range []bool{true, false} {
		t.Run(fmt.Sprintf("breaker=%v", breaker), func(t *testing.T) {
			t.Parallel()
			tg := NewTarget(Options{ID: "t", Breaker: BreakerSettings{Enabled: breaker, ConsecutiveFailures: 5, OpenTimeout: time.Hour}})
			rl := classify.Outcome{Reason: classify.RateLimited, Status: 429, RetryAfter: 40 * time.Millisecond, Retryable: true, CountsAgainst: true}
			start := time.Now()
			attempt(t, tg, rl)
			if done, reason := tg.Admit(time.Now(), "gpt-4o"); reason != classify.RateLimited || done != nil {
				t.Fatalf("Admit during cooldown = %q, want rate_limited", reason)
			}
			s := tg.Snapshot()
			if until := s.Cooldowns["gpt-4o"]; until.IsZero() || until.Before(start.Add(rl.RetryAfter)) || until.Location() != time.UTC {
				t.Errorf("Cooldowns = %v, want gpt-4o until UTC at least %v", s.Cooldowns, start.Add(rl.RetryAfter))
			}
			if !s.Healthy {
				t.Error("a model's cooldown made the whole target unhealthy")
			}
			// Admit judges by the time it is given.
			if _, reason := tg.Admit(time.Now().Add(time.Second), "gpt-4o"); reason != classify.None {
				t.Errorf("Admit after the cooldown's end = %q, want admitted", reason)
			}
			eventually(t, "the cooldown to pass", func() bool { return len(tg.Snapshot().Cooldowns) == 0 })
			attempt(t, tg, classify.Success)
		})
	}
}

func TestAdmitProviderUnhealthy(t *testing.T) {
	t.Parallel()
	tg := NewTarget(Options{
		ID:      "t",
		Breaker: BreakerSettings{Enabled: true, ConsecutiveFailures: 1, OpenTimeout: time.Hour},
		Probe:   ProbeSettings{Enabled: true, UnhealthyThreshold: 1, HealthyThreshold: 1},
	})
	tg.RecordProbe(time.Now(), time.Millisecond, errors.New("probe: status 401"))
	if done, reason := tg.Admit(time.Now(), "gpt-4o"); reason != classify.ProviderUnhealthy || done != nil {
		t.Fatalf("Admit while unhealthy = %q, want provider_unhealthy", reason)
	}
	if tg.Available(time.Now()) {
		t.Error("Available while unhealthy")
	}
	if s := tg.BreakerState(); s != "closed" {
		t.Errorf("a refused Admit reached the breaker: %s", s)
	}
	tg.RecordProbe(time.Now(), time.Millisecond, nil)
	attempt(t, tg, classify.Success)
}

func TestProbeDisabledHealthyFollowsBreaker(t *testing.T) {
	t.Parallel()
	tg, _, _ := newBreakerTarget(t, BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: 50 * time.Millisecond})
	if s := tg.Snapshot(); !s.Healthy || s.ProbeEnabled || s.Breaker != "closed" {
		t.Fatalf("initial snapshot = %+v, want healthy, probe disabled, closed", s)
	}
	attempt(t, tg, fail500())
	attempt(t, tg, fail500())
	if s := tg.Snapshot(); s.Healthy || s.Breaker != "open" {
		t.Errorf("snapshot with an open circuit = %+v, want unhealthy", s)
	}
	eventually(t, "half-open", func() bool { return tg.BreakerState() == "half-open" })
	if s := tg.Snapshot(); !s.Healthy || s.Breaker != "half-open" {
		t.Errorf("snapshot while half-open = %+v, want healthy", s)
	}
}

func TestBreakerDisabled(t *testing.T) {
	t.Parallel()
	tg := NewTarget(Options{ID: "t"})
	for range 20 {
		attempt(t, tg, fail500())
	}
	s := tg.Snapshot()
	if !s.Healthy || s.Breaker != "disabled" || s.BreakerCounts != (gobreaker.Counts{}) {
		t.Errorf("snapshot = %+v, want healthy with the breaker disabled", s)
	}
	if got := tg.BreakerStateValue(); got != -1 {
		t.Errorf("BreakerStateValue = %d, want -1", got)
	}
	if got := tg.ID(); got != "t" {
		t.Errorf("ID = %q, want t", got)
	}
}

func TestRecordProbeThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		unhealthy, healthy   int
		results              string // F fail, S success
		want                 string // health after each result: h or u
		wantFlips            []bool
		wantFails, wantSuccs int64
	}{
		{"below the unhealthy threshold", 3, 2, "FF", "hh", nil, 2, 0},
		{"unhealthy at the threshold", 3, 2, "FFF", "hhu", []bool{false}, 3, 0},
		{"a success resets the failures", 3, 2, "FFSFF", "hhhhh", nil, 2, 0},
		{"more failures flip once", 3, 2, "FFFFFF", "hhuuuu", []bool{false}, 6, 0},
		{"healthy again after the healthy threshold", 3, 2, "FFFSS", "hhuuh", []bool{false, true}, 0, 2},
		{"a failure resets the successes", 3, 2, "FFFSFSS", "hhuuuuh", []bool{false, true}, 0, 2},
		{"successes while healthy flip nothing", 3, 2, "SSSS", "hhhh", nil, 0, 4},
		{"thresholds of one flip every time", 1, 1, "FSFS", "uhuh", []bool{false, true, false, true}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, logs := newLogger()
			flips := &recorder[bool]{}
			tg := NewTarget(Options{
				ID:     "p",
				Probe:  ProbeSettings{Enabled: true, UnhealthyThreshold: tt.unhealthy, HealthyThreshold: tt.healthy},
				Logger: logger,
				OnHealthChange: func(id string, healthy bool) {
					if id != "p" {
						t.Errorf("OnHealthChange id = %q, want p", id)
					}
					flips.add(healthy)
				},
			})
			var got strings.Builder
			for i, r := range tt.results {
				var err error
				if r == 'F' {
					err = fmt.Errorf("probe: status %d", 500+i)
				}
				tg.RecordProbe(time.Now(), time.Millisecond, err)
				if tg.Snapshot().Healthy {
					got.WriteByte('h')
				} else {
					got.WriteByte('u')
				}
			}
			if got.String() != tt.want {
				t.Errorf("health after each probe = %s, want %s", got.String(), tt.want)
			}
			if f := flips.all(); !slices.Equal(f, tt.wantFlips) {
				t.Errorf("OnHealthChange calls = %v, want %v", f, tt.wantFlips)
			}
			var ups, downs int
			for _, h := range tt.wantFlips {
				if h {
					ups++
				} else {
					downs++
				}
			}
			if n := logs.count("provider unhealthy"); n != downs {
				t.Errorf("%d 'provider unhealthy' log lines, want %d:\n%s", n, downs, logs)
			}
			if n := logs.count("provider healthy"); n != ups {
				t.Errorf("%d 'provider healthy' log lines, want %d:\n%s", n, ups, logs)
			}
			s := tg.Snapshot()
			if s.ConsecutiveFailures != tt.wantFails || s.ConsecutiveSuccesses != tt.wantSuccs {
				t.Errorf("consecutive failures/successes = %d/%d, want %d/%d", s.ConsecutiveFailures, s.ConsecutiveSuccesses, tt.wantFails, tt.wantSuccs)
			}
		})
	}
}

func TestSnapshotProbeFields(t *testing.T) {
	t.Parallel()
	tg := NewTarget(Options{ID: "p", Probe: ProbeSettings{Enabled: true, UnhealthyThreshold: 2, HealthyThreshold: 1}})
	s := tg.Snapshot()
	if !s.Healthy || !s.ProbeEnabled || !s.LastCheck.IsZero() || s.LastError != "" || s.Breaker != "disabled" {
		t.Fatalf("initial snapshot = %+v", s)
	}

	at := time.Date(2025, 3, 1, 12, 30, 0, 123, time.FixedZone("CET", 3600))
	tg.RecordProbe(at, 42*time.Millisecond, errors.New("probe: status 503"))
	s = tg.Snapshot()
	if !s.LastCheck.Equal(at) || s.LastCheck.Location() != time.UTC {
		t.Errorf("LastCheck = %v, want %v in UTC", s.LastCheck, at.UTC())
	}
	if s.LastProbeDuration != 42*time.Millisecond {
		t.Errorf("LastProbeDuration = %v, want 42ms", s.LastProbeDuration)
	}
	if s.LastError != "probe: status 503" {
		t.Errorf("LastError = %q", s.LastError)
	}
	if s.ConsecutiveFailures != 1 || !s.Healthy {
		t.Errorf("after one failure: %+v", s)
	}

	later := at.Add(time.Minute)
	tg.RecordProbe(later, 7*time.Millisecond, nil)
	s = tg.Snapshot()
	if s.LastError != "" {
		t.Errorf("LastError after a pass = %q, want empty", s.LastError)
	}
	if !s.LastCheck.Equal(later) || s.LastProbeDuration != 7*time.Millisecond || s.ConsecutiveFailures != 0 || s.ConsecutiveSuccesses != 1 {
		t.Errorf("after a pass: %+v", s)
	}
}
