// Package health owns each target's availability: a sony/gobreaker circuit
// fed by real requests (passive) whose open period ends early on probe
// evidence, an active prober with consecutive-result thresholds, and
// Retry-After cooldowns per upstream model. The router asks Admit before
// every attempt; /health and the health gauge read Snapshot.
package health

import (
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// BreakerSettings configures a target's circuit breaker.
type BreakerSettings struct {
	// Enabled turns the breaker on.
	Enabled bool
	// ConsecutiveFailures trips the circuit after this many failures in a row.
	ConsecutiveFailures int
	// FailureRatio, when > 0, also trips once MinRequests requests completed
	// in the interval with a success or a provider failure, and this share of
	// them failed (excluded outcomes count for neither).
	FailureRatio float64
	// MinRequests guards FailureRatio against tiny samples.
	MinRequests int
	// Interval is the closed-state counting window.
	Interval time.Duration
	// OpenTimeout is how long the circuit stays open before a trial, unless
	// probes end the open period first (60 s when not positive).
	OpenTimeout time.Duration
	// MaxOpenTimeout caps the open period, which doubles after every failed
	// half-open trial and returns to OpenTimeout when the circuit closes;
	// when not above OpenTimeout the period never grows.
	MaxOpenTimeout time.Duration
	// HalfOpenRequests is the number of trial requests while half-open; that
	// many successes close the circuit.
	HalfOpenRequests int
}

// ProbeSettings configures active health checks.
type ProbeSettings struct {
	// Enabled turns probing on; when off the target is judged by its breaker only.
	Enabled bool
	// Interval between probes.
	Interval time.Duration
	// Timeout of one probe; when not positive the interval bounds it instead,
	// so that a hanging upstream cannot stall its prober for good.
	Timeout time.Duration
	// UnhealthyThreshold consecutive failures mark the target unhealthy.
	UnhealthyThreshold int
	// HealthyThreshold consecutive successes mark it healthy again.
	HealthyThreshold int
}

// Target is one upstream's health state. Its methods are safe for concurrent use.
type Target struct {
	id     string
	probe  ProbeSettings
	logger *slog.Logger
	now    func() time.Time
	// cb is nil when the breaker is disabled.
	cb *circuit
	// onChange is called (outside any lock) when the probe state flips.
	onChange func(id string, healthy bool)

	healthy         atomic.Bool
	consecFails     atomic.Int64 // failed probes in a row (the probe's threshold)
	consecSuccesses atomic.Int64 // passing probes in a row
	// failStreak is what /health calls consecutive_failures: provider
	// failures in a row, probes and real requests alike, so that it moves
	// as soon as requests fail over, not one probe interval later.
	failStreak     atomic.Int64
	lastCheck      atomic.Int64 // unix nanoseconds, 0 = never
	lastProbeNanos atomic.Int64 // duration of the last probe
	lastError      atomic.Pointer[string]
	// cooldowns holds Retry-After cooldowns per upstream model (string →
	// int64 unix nanoseconds): providers rate-limit per model, so a 429 on
	// one model must not bench the target for the others.
	cooldowns sync.Map
}

// Options builds a Target.
type Options struct {
	// ID of the target.
	ID string
	// Breaker settings.
	Breaker BreakerSettings
	// Probe settings.
	Probe ProbeSettings
	// Logger receives one line per state change.
	Logger *slog.Logger
	// OnHealthChange is called when the probe state flips (may be nil).
	OnHealthChange func(id string, healthy bool)
	// OnBreakerChange is called on every circuit transition as routing sees
	// it (may be nil), in order. It may run under the breaker's lock and the
	// target's: it must not call back into the target.
	OnBreakerChange func(id string, from, to gobreaker.State)
	// Now is the clock for open periods and cooldowns (time.Now when nil);
	// tests pass a fake one.
	Now func() time.Time
}

// NewTarget returns a target that starts healthy with a closed circuit:
// traffic flows until evidence says otherwise (the first probe runs at once).
func NewTarget(o Options) *Target {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	t := &Target{id: o.ID, probe: o.Probe, logger: logger, now: now, onChange: o.OnHealthChange}
	t.healthy.Store(true)
	if o.Breaker.Enabled {
		t.cb = newCircuit(o, now, func(from, to gobreaker.State, why string) {
			logger.Warn("circuit "+to.String(), "target", o.ID, "from", from.String(), "to", to.String(), "why", why)
			if o.OnBreakerChange != nil {
				o.OnBreakerChange(o.ID, from, to)
			}
		})
	}
	return t
}

// breakerSettings maps the settings onto gobreaker's, except the open
// period and state callback, which the circuit owns.
func breakerSettings(o Options) gobreaker.Settings {
	b := o.Breaker
	consecutive := uint32(max(b.ConsecutiveFailures, 1))
	return gobreaker.Settings{
		Name:        o.ID,
		MaxRequests: uint32(max(b.HalfOpenRequests, 1)),
		Interval:    b.Interval,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= consecutive {
				return true
			}
			// The ratio is over completed, judged requests: c.Requests also
			// holds excluded outcomes and requests still in flight, which
			// would dilute it.
			judged := c.TotalSuccesses + c.TotalFailures
			return b.FailureRatio > 0 && judged >= uint32(max(b.MinRequests, 1)) &&
				float64(c.TotalFailures)/float64(judged) >= b.FailureRatio
		},
		// Only provider failures count; success is reported as a nil error.
		IsSuccessful: func(err error) bool { return err == nil },
		// Client errors and client cancellations say nothing about the
		// provider; a released trial slot was never used.
		IsExcluded: func(err error) bool {
			if errors.Is(err, errReleased) {
				return true
			}
			var oe outcomeError
			return errors.As(err, &oe) && !oe.o.CountsAgainst
		},
	}
}

// outcomeError carries a classified outcome into the breaker's callbacks.
type outcomeError struct{ o classify.Outcome }

func (e outcomeError) Error() string { return string(e.o.Reason) }

// ID returns the target id.
func (t *Target) ID() string { return t.id }

// Done reports the outcome of an admitted attempt. It must be called exactly
// once per admitted attempt; for a stream, when the stream ends.
type Done func(classify.Outcome)

// Admit decides whether an attempt for the upstream model may go to this
// target now. It returns the callback that reports the attempt's outcome,
// or the reason the target is skipped (provider_unhealthy; rate_limited
// during a Retry-After cooldown of that model; circuit_open).
func (t *Target) Admit(now time.Time, model string) (Done, classify.Reason) {
	if t.probe.Enabled && !t.healthy.Load() {
		return nil, classify.ProviderUnhealthy
	}
	if t.coolingDown(model, now) {
		return nil, classify.RateLimited
	}
	if t.cb == nil {
		return func(o classify.Outcome) { t.observe(model, o) }, classify.None
	}
	done, ok := t.cb.allow(now)
	if !ok {
		return nil, classify.CircuitOpen
	}
	return func(o classify.Outcome) {
		t.observe(model, o)
		if o.OK() {
			done(nil)
			return
		}
		done(outcomeError{o})
	}, classify.None
}

// observe applies what a real request taught us beyond the breaker.
func (t *Target) observe(model string, o classify.Outcome) {
	switch {
	case o.OK():
		t.failStreak.Store(0)
	case o.CountsAgainst:
		t.failStreak.Add(1)
	}
	if o.RetryAfter > 0 {
		t.cooldowns.Store(model, t.now().Add(o.RetryAfter).UnixNano())
	}
}

// coolingDown reports a Retry-After cooldown of model at now, forgetting
// cooldowns that are over.
func (t *Target) coolingDown(model string, now time.Time) bool {
	v, ok := t.cooldowns.Load(model)
	if !ok {
		return false
	}
	if now.UnixNano() < v.(int64) {
		return true
	}
	t.cooldowns.CompareAndDelete(model, v)
	return false
}

// verdict is whether routing sends this target requests at now (for any
// model), and the reason when it does not.
func (t *Target) verdict(now time.Time) (bool, classify.Reason) {
	if t.probe.Enabled && !t.healthy.Load() {
		return false, classify.ProviderUnhealthy
	}
	if t.cb != nil && t.cb.isOpen(now) {
		return false, classify.CircuitOpen
	}
	return true, classify.None
}

// Available reports whether Admit would currently let a request through
// (for a model that is not cooling down) without consuming a half-open
// trial slot.
func (t *Target) Available(now time.Time) bool {
	ok, _ := t.verdict(now)
	return ok
}

// BreakerState returns the circuit's state as routing sees it: "closed",
// "half-open", "open", or "disabled".
func (t *Target) BreakerState() string {
	if t.cb == nil {
		return "disabled"
	}
	return t.cb.stateAt(t.now()).String()
}

// BreakerStateValue returns 0 closed, 1 half-open, 2 open, -1 disabled (for metrics).
func (t *Target) BreakerStateValue() int64 {
	if t.cb == nil {
		return -1
	}
	return int64(t.cb.stateAt(t.now()))
}

// Snapshot is a point-in-time view of a target for /health.
type Snapshot struct {
	// Healthy says whether routing sends the target requests now: its
	// probes (when enabled) pass and its circuit is not open. A cooldown of
	// some models leaves it healthy: the others are still served.
	Healthy bool
	// Reason is why it is not healthy (provider_unhealthy, circuit_open),
	// None when it is.
	Reason classify.Reason
	// ProbeHealthy is the active probe's own verdict (true when disabled).
	ProbeHealthy bool
	// ProbeEnabled tells whether active probing runs.
	ProbeEnabled bool
	// ConsecutiveFailures counts provider failures in a row, of probes and
	// real requests alike; a passing probe or a successful request resets it.
	ConsecutiveFailures int64
	// ProbeConsecutiveFailures counts failed probes in a row (the count the
	// unhealthy threshold applies to).
	ProbeConsecutiveFailures int64
	// ConsecutiveSuccesses of the probe.
	ConsecutiveSuccesses int64
	// LastCheck is the time of the last probe, zero if none yet.
	LastCheck time.Time
	// LastProbeDuration is the duration of the last probe.
	LastProbeDuration time.Duration
	// LastError of the last failed probe, "" if the last probe passed.
	LastError string
	// Breaker is the circuit's state name, as routing sees it.
	Breaker string
	// BreakerCounts are the circuit's current counts.
	BreakerCounts gobreaker.Counts
	// OpenUntil is when an open circuit lets a trial through at the latest
	// (probes may end it earlier); zero unless open.
	OpenUntil time.Time
	// OpenPeriod is the length of the current (or next) open period.
	OpenPeriod time.Duration
	// Cooldowns maps each upstream model in a Retry-After cooldown to its
	// end (UTC).
	Cooldowns map[string]time.Time
}

// Snapshot returns the current state.
func (t *Target) Snapshot() Snapshot {
	now := t.now()
	s := Snapshot{
		ProbeHealthy:             t.healthy.Load(),
		ProbeEnabled:             t.probe.Enabled,
		ConsecutiveFailures:      t.failStreak.Load(),
		ProbeConsecutiveFailures: t.consecFails.Load(),
		ConsecutiveSuccesses:     t.consecSuccesses.Load(),
		LastProbeDuration:        time.Duration(t.lastProbeNanos.Load()),
		Breaker:                  t.BreakerState(),
	}
	s.Healthy, s.Reason = t.verdict(now)
	if n := t.lastCheck.Load(); n != 0 {
		s.LastCheck = time.Unix(0, n).UTC()
	}
	if e := t.lastError.Load(); e != nil {
		s.LastError = *e
	}
	if t.cb != nil {
		s.BreakerCounts = t.cb.cb.Counts()
		s.OpenPeriod = t.cb.openPeriod()
		if s.Reason == classify.CircuitOpen {
			s.OpenUntil = time.Unix(0, t.cb.openUntil.Load()).UTC()
		}
	}
	t.cooldowns.Range(func(k, v any) bool {
		if until := v.(int64); until > now.UnixNano() {
			if s.Cooldowns == nil {
				s.Cooldowns = make(map[string]time.Time)
			}
			s.Cooldowns[k.(string)] = time.Unix(0, until).UTC()
		}
		return true
	})
	return s
}

// CooldownModels returns the models of s.Cooldowns, sorted.
func (s Snapshot) CooldownModels() []string {
	return slices.Sorted(maps.Keys(s.Cooldowns))
}

// RecordProbe applies one probe result: err == nil is a pass. State changes
// only when a threshold is reached, and is logged once per change.
func (t *Target) RecordProbe(at time.Time, took time.Duration, err error) {
	t.lastCheck.Store(at.UnixNano())
	t.lastProbeNanos.Store(int64(took))
	if err == nil {
		t.lastError.Store(nil)
		t.consecFails.Store(0)
		t.failStreak.Store(0)
		if t.cb != nil {
			t.cb.probePassed(at.Add(-took))
		}
		n := t.consecSuccesses.Add(1)
		if n >= int64(t.probe.HealthyThreshold) && t.healthy.CompareAndSwap(false, true) {
			t.logger.Info("provider healthy", "target", t.id, "consecutive_successes", n)
			if t.onChange != nil {
				t.onChange(t.id, true)
			}
		}
		return
	}
	msg := err.Error()
	t.lastError.Store(&msg)
	t.consecSuccesses.Store(0)
	t.failStreak.Add(1)
	if t.cb != nil {
		t.cb.probeFailed()
	}
	n := t.consecFails.Add(1)
	if n >= int64(t.probe.UnhealthyThreshold) && t.healthy.CompareAndSwap(true, false) {
		t.logger.Warn("provider unhealthy", "target", t.id, "consecutive_failures", n, "error", msg)
		if t.onChange != nil {
			t.onChange(t.id, false)
		}
	}
}
