package drill

import (
	"fmt"
	"time"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// Scenario names a scripted outage.
type Scenario string

// The scenarios. Every one runs normal traffic for the first 20% of the
// drill, the fault for the next 40%, and recovered traffic for the rest.
const (
	// PrimaryDown closes the primary's listener (connection refused).
	PrimaryDown Scenario = "primary-down"
	// PrimarySlow delays the primary's first token beyond the attempt timeout.
	PrimarySlow Scenario = "primary-slow"
	// Primary429 rate-limits the primary with a Retry-After header.
	Primary429 Scenario = "primary-429"
	// Flapping takes the primary down and up again every few seconds.
	Flapping Scenario = "flapping"
	// AllDown takes every target down: the gateway can only answer 503.
	AllDown Scenario = "all-down"
)

// Scenarios lists every scenario, for help texts and validation.
func Scenarios() []Scenario {
	return []Scenario{PrimaryDown, PrimarySlow, Primary429, Flapping, AllDown}
}

// ParseScenario checks a scenario name given by a user.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios() {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want one of %v)", s, Scenarios())
}

// OneTargetHealthy reports whether at least one target stays healthy
// throughout, so that every request must succeed.
func (s Scenario) OneTargetHealthy() bool { return s != AllDown }

// step is one fault change at an offset from the start of the drill.
type step struct {
	at     time.Duration
	target int // index in priority order; -1 means every target
	fault  sim.Fault
}

// timeline is a scenario's schedule for a drill of duration d.
type timeline struct {
	faultStart, faultEnd time.Duration
	steps                []step
}

// flapPeriod is how long each half of a flap lasts: a few seconds in a long
// drill, shorter in a short one so that it still flaps several times.
func flapPeriod(d time.Duration) time.Duration {
	return min(max(d/10, 250*time.Millisecond), 5*time.Second)
}

// plan builds the timeline. slow is the delay of primary-slow, longer than
// the gateway's attempt timeout.
func (s Scenario) plan(d, slow time.Duration, targets int) timeline {
	tl := timeline{faultStart: d / 5, faultEnd: d * 3 / 5}
	none := sim.Fault{Kind: sim.FaultNone}
	add := func(at time.Duration, target int, f sim.Fault) {
		tl.steps = append(tl.steps, step{at: at, target: target, fault: f})
	}
	switch s {
	case PrimaryDown:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultDown})
	case PrimarySlow:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultSlowFirstToken, Delay: slow})
	case Primary429:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: 1})
	case Flapping:
		p := flapPeriod(d)
		down := true
		for at := tl.faultStart; at < tl.faultEnd; at += p {
			if down {
				add(at, 0, sim.Fault{Kind: sim.FaultDown})
			} else {
				add(at, 0, none)
			}
			down = !down
		}
	case AllDown:
		for i := range targets {
			add(tl.faultStart, i, sim.Fault{Kind: sim.FaultDown})
		}
	}
	if s == AllDown {
		for i := range targets {
			add(tl.faultEnd, i, none)
		}
	} else {
		add(tl.faultEnd, 0, none)
	}
	return tl
}
