package health

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// circuit is a target's breaker: gobreaker counts outcomes, trips, runs the
// half-open trials and closes; circuit owns the length of the open period,
// which gobreaker fixes at construction and cannot end early. gobreaker's
// own Timeout is a nanosecond, so its open state lasts no time at all; what
// keeps requests away is circuit's gate in front of Allow, which lifts when
// the period (open_seconds, doubled after each failed trial up to
// max_open_seconds) is over or when healthy_threshold probes passed since
// the circuit opened. The breaker is never called from its own callbacks:
// OnStateChange only records the transition here.
//
//	closed --failures trip--> open --period over, or probes pass--> half-open
//	half-open --trials succeed--> closed (period back to open_seconds)
//	half-open --a trial fails--> open (period doubled, capped)
type circuit struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
	// base is open_seconds; maxPeriod caps the doubling (never below base).
	base, maxPeriod time.Duration
	// threshold is how many passing probes end an open period early; 0 when
	// the target is not probed (its open period always runs out).
	threshold int
	now       func() time.Time
	// notify reports a transition as routing sees it, with why it happened.
	notify func(from, to gobreaker.State, why string)

	// state is the circuit as routing sees it (a gobreaker.State).
	state atomic.Int32
	// openUntil is the end of the current open period, unix nanoseconds.
	openUntil atomic.Int64

	// mu serialises transitions, so that notifications arrive in order, and
	// guards the fields below. Lock order: gobreaker's lock, then mu; never
	// call the breaker while holding mu.
	mu     sync.Mutex
	period time.Duration // length of the current (or next) open period
	// openedAt is when the current open period began (unix nanoseconds):
	// only probes started after it are evidence.
	openedAt int64
	passes   int
	// byProbes marks a half-open state entered on probe evidence;
	// distrust is set when such a trial failed, and keeps probes from
	// cutting open periods short until the circuit closes again, so a
	// target whose probes pass while its model fails is not churned.
	byProbes, distrust bool
}

// errReleased gives back a half-open trial slot that was taken by a request
// that must not go through after all; the breaker ignores it.
var errReleased = errors.New("trial slot released")

// Why a transition happened (log and callback detail).
const (
	whyTrip     = "failures"
	whyTrial    = "trial failed"
	whyClosed   = "trial succeeded"
	whyTimer    = "open period over"
	whyEvidence = "probes passed"
)

func newCircuit(o Options, now func() time.Time, notify func(from, to gobreaker.State, why string)) *circuit {
	b := o.Breaker
	c := &circuit{base: b.OpenTimeout, maxPeriod: b.MaxOpenTimeout, now: now, notify: notify}
	if c.base <= 0 {
		c.base = 60 * time.Second // gobreaker's own default
	}
	c.maxPeriod = max(c.maxPeriod, c.base)
	c.period = c.base
	if o.Probe.Enabled {
		c.threshold = max(o.Probe.HealthyThreshold, 1)
	}
	st := breakerSettings(o)
	st.Timeout = time.Nanosecond
	st.OnStateChange = func(_ string, from, to gobreaker.State) { c.onBreakerState(from, to) }
	c.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return c
}

// onBreakerState records a gobreaker transition. It runs under the
// breaker's lock and must not call the breaker.
func (c *circuit) onBreakerState(from, to gobreaker.State) {
	switch to {
	case gobreaker.StateOpen:
		c.mu.Lock()
		defer c.mu.Unlock()
		why := whyTrip
		if from == gobreaker.StateHalfOpen {
			why = whyTrial
			c.period = min(c.period*2, c.maxPeriod)
			if c.byProbes {
				c.distrust = true
			}
		}
		now := c.now()
		c.openedAt, c.passes, c.byProbes = now.UnixNano(), 0, false
		c.openUntil.Store(now.Add(c.period).UnixNano())
		c.set(gobreaker.StateOpen, why)
	case gobreaker.StateClosed:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.period, c.byProbes, c.distrust = c.base, false, false
		c.set(gobreaker.StateClosed, whyClosed)
	default:
		// gobreaker leaves its open state at once (Timeout is a nanosecond);
		// the gate in allow decides when routing sees half-open.
	}
}

// set changes the routed state and reports it; c.mu is held.
func (c *circuit) set(to gobreaker.State, why string) {
	from := gobreaker.State(c.state.Swap(int32(to)))
	if from != to {
		c.notify(from, to, why)
	}
}

// isOpen reports whether the circuit keeps requests away at now, ending
// the open period first when its time is up.
func (c *circuit) isOpen(now time.Time) bool {
	if gobreaker.State(c.state.Load()) != gobreaker.StateOpen {
		return false
	}
	if now.UnixNano() < c.openUntil.Load() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gobreaker.State(c.state.Load()) != gobreaker.StateOpen {
		return false
	}
	if now.UnixNano() < c.openUntil.Load() {
		return true // a new open period began meanwhile
	}
	c.set(gobreaker.StateHalfOpen, whyTimer)
	return false
}

// allow admits a request through the breaker, or reports false.
func (c *circuit) allow(now time.Time) (func(error), bool) {
	if c.isOpen(now) {
		return nil, false
	}
	done, err := c.cb.Allow()
	if err != nil {
		return nil, false // half-open with its trials already out
	}
	if gobreaker.State(c.state.Load()) == gobreaker.StateOpen {
		// The circuit tripped between isOpen and Allow, and Allow (the
		// breaker's open state lasting no time) took a half-open trial
		// slot: give it back, the open period has just begun.
		done(errReleased)
		return nil, false
	}
	return done, true
}

// probePassed counts a passing probe that started at start; enough of them
// in a row, all started after the circuit opened, end the open period.
func (c *circuit) probePassed(start time.Time) {
	if c.threshold == 0 || gobreaker.State(c.state.Load()) != gobreaker.StateOpen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gobreaker.State(c.state.Load()) != gobreaker.StateOpen || c.distrust || start.UnixNano() < c.openedAt {
		return
	}
	c.passes++
	if c.passes >= c.threshold {
		c.byProbes = true
		c.set(gobreaker.StateHalfOpen, whyEvidence)
	}
}

// probeFailed restarts the count of passing probes.
func (c *circuit) probeFailed() {
	if gobreaker.State(c.state.Load()) != gobreaker.StateOpen {
		return
	}
	c.mu.Lock()
	c.passes = 0
	c.mu.Unlock()
}

// stateAt is the circuit's state as routing sees it at now.
func (c *circuit) stateAt(now time.Time) gobreaker.State {
	c.isOpen(now)
	return gobreaker.State(c.state.Load())
}

// openPeriod returns the length of the current (or next) open period.
func (c *circuit) openPeriod() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.period
}
