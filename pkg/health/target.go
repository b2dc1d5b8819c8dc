// Package health owns each target's availability: a sony/gobreaker circuit
// fed by real requests (passive), an active prober with consecutive-result
// thresholds, and a Retry-After cooldown. The router asks Admit before every
// attempt; /health reads Snapshot.
package health

import (
	"errors"
	"log/slog"
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
	// OpenTimeout is how long the circuit stays open before a trial.
	OpenTimeout time.Duration
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
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]
	// onChange is called (outside any lock) when the probe state flips.
	onChange func(id string, healthy bool)

	healthy         atomic.Bool
	consecFails     atomic.Int64
	consecSuccesses atomic.Int64
	lastCheck       atomic.Int64 // unix nanoseconds, 0 = never
	lastProbeNanos  atomic.Int64 // duration of the last probe
	lastError       atomic.Pointer[string]
	cooldownUntil   atomic.Int64 // unix nanoseconds of a Retry-After cooldown
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
	// OnBreakerChange is called on every circuit transition (may be nil). It
	// runs under the breaker's lock: it must not call back into the breaker.
	OnBreakerChange func(id string, from, to gobreaker.State)
}

// NewTarget returns a target that starts healthy with a closed circuit:
// traffic flows until evidence says otherwise (the first probe runs at once).
func NewTarget(o Options) *Target {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Target{id: o.ID, probe: o.Probe, logger: logger, onChange: o.OnHealthChange}
	t.healthy.Store(true)
	if o.Breaker.Enabled {
		t.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](breakerSettings(o, logger))
	}
	return t
}

func breakerSettings(o Options, logger *slog.Logger) gobreaker.Settings {
	b := o.Breaker
	consecutive := uint32(max(b.ConsecutiveFailures, 1))
	return gobreaker.Settings{
		Name:        o.ID,
		MaxRequests: uint32(max(b.HalfOpenRequests, 1)),
		Interval:    b.Interval,
		Timeout:     b.OpenTimeout,
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
		// Client errors and client cancellations say nothing about the provider.
		IsExcluded: func(err error) bool {
			var oe outcomeError
			return errors.As(err, &oe) && !oe.o.CountsAgainst
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			logger.Warn("circuit "+to.String(), "target", name, "from", from.String(), "to", to.String())
			if o.OnBreakerChange != nil {
				o.OnBreakerChange(name, from, to)
			}
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

// Admit decides whether an attempt may go to this target now. It returns the
// callback that reports the attempt's outcome, or the reason the target is
// skipped (provider_unhealthy, rate_limited during a Retry-After cooldown,
// circuit_open).
func (t *Target) Admit(now time.Time) (Done, classify.Reason) {
	if t.probe.Enabled && !t.healthy.Load() {
		return nil, classify.ProviderUnhealthy
	}
	if until := t.cooldownUntil.Load(); until != 0 && now.UnixNano() < until {
		return nil, classify.RateLimited
	}
	if t.cb == nil {
		return t.passiveOnly, classify.None
	}
	done, err := t.cb.Allow()
	if err != nil {
		return nil, classify.CircuitOpen
	}
	return func(o classify.Outcome) {
		t.observe(o)
		if o.OK() {
			done(nil)
			return
		}
		done(outcomeError{o})
	}, classify.None
}

func (t *Target) passiveOnly(o classify.Outcome) { t.observe(o) }

// observe applies what a real request taught us beyond the breaker.
func (t *Target) observe(o classify.Outcome) {
	if o.RetryAfter > 0 {
		t.cooldownUntil.Store(time.Now().Add(o.RetryAfter).UnixNano())
	}
}

// Available reports whether Admit would currently let a request through
// without consuming a half-open trial slot.
func (t *Target) Available(now time.Time) bool {
	if t.probe.Enabled && !t.healthy.Load() {
		return false
	}
	if until := t.cooldownUntil.Load(); until != 0 && now.UnixNano() < until {
		return false
	}
	return t.cb == nil || t.cb.State() != gobreaker.StateOpen
}

// BreakerState returns the circuit's state as "closed", "half-open", "open",
// or "disabled".
func (t *Target) BreakerState() string {
	if t.cb == nil {
		return "disabled"
	}
	return t.cb.State().String()
}

// BreakerStateValue returns 0 closed, 1 half-open, 2 open, -1 disabled (for metrics).
func (t *Target) BreakerStateValue() int64 {
	if t.cb == nil {
		return -1
	}
	return int64(t.cb.State())
}

// Snapshot is a point-in-time view of a target for /health.
type Snapshot struct {
	// Healthy is the active probe's verdict (true when probing is disabled and
	// the breaker is not open).
	Healthy bool
	// ProbeEnabled tells whether active probing runs.
	ProbeEnabled bool
	// ConsecutiveFailures of the probe.
	ConsecutiveFailures int64
	// ConsecutiveSuccesses of the probe.
	ConsecutiveSuccesses int64
	// LastCheck is the time of the last probe, zero if none yet.
	LastCheck time.Time
	// LastProbeDuration is the duration of the last probe.
	LastProbeDuration time.Duration
	// LastError of the last failed probe, "" if the last probe passed.
	LastError string
	// Breaker is the circuit's state name.
	Breaker string
	// BreakerCounts are the circuit's current counts.
	BreakerCounts gobreaker.Counts
	// CooldownUntil is the end of a Retry-After cooldown, zero if none.
	CooldownUntil time.Time
}

// Snapshot returns the current state.
func (t *Target) Snapshot() Snapshot {
	s := Snapshot{
		Healthy:              t.healthy.Load(),
		ProbeEnabled:         t.probe.Enabled,
		ConsecutiveFailures:  t.consecFails.Load(),
		ConsecutiveSuccesses: t.consecSuccesses.Load(),
		LastProbeDuration:    time.Duration(t.lastProbeNanos.Load()),
		Breaker:              t.BreakerState(),
	}
	if n := t.lastCheck.Load(); n != 0 {
		s.LastCheck = time.Unix(0, n).UTC()
	}
	if e := t.lastError.Load(); e != nil {
		s.LastError = *e
	}
	if t.cb != nil {
		s.BreakerCounts = t.cb.Counts()
		if !t.probe.Enabled {
			s.Healthy = t.cb.State() != gobreaker.StateOpen
		}
	}
	if n := t.cooldownUntil.Load(); n > time.Now().UnixNano() {
		s.CooldownUntil = time.Unix(0, n).UTC()
	}
	return s
}

// RecordProbe applies one probe result: err == nil is a pass. State changes
// only when a threshold is reached, and is logged once per change.
func (t *Target) RecordProbe(at time.Time, took time.Duration, err error) {
	t.lastCheck.Store(at.UnixNano())
	t.lastProbeNanos.Store(int64(took))
	if err == nil {
		t.lastError.Store(nil)
		t.consecFails.Store(0)
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
	n := t.consecFails.Add(1)
	if n >= int64(t.probe.UnhealthyThreshold) && t.healthy.CompareAndSwap(true, false) {
		t.logger.Warn("provider unhealthy", "target", t.id, "consecutive_failures", n, "error", msg)
		if t.onChange != nil {
			t.onChange(t.id, false)
		}
	}
}
